from __future__ import annotations

from django.urls import include, path

from . import views

articles = [
    path("", views.article_list, name="list"),
    path("<int:article_id>/", views.article, name="detail"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("articles/", include((articles, "articles"))),
    path("live/", views.live, name="live"),
    path("login/", views.sign_in, name="login"),
    path("logout/", views.sign_out, name="logout"),
    path("api/articles/", views.api_articles, name="api"),
]

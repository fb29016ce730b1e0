from __future__ import annotations

from django.urls import include, path, re_path

from . import views

blog = [
    path("posts/<slug:slug>/", views.post, name="post"),
    re_path(r"^archive/(?P<year>[0-9]{4})/$", views.archive, name="archive"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("users/<int:uid>/", views.user_page, name="user"),
    path("blog/", include((blog, "blog"))),
    re_path(r"^legacy/(?P<code>\w+)/$", views.legacy),
    path("api/items/", views.items),
    path("go/", views.go),
    path("boom/", views.boom),
    path("health/", views.health),
    path("robots.txt", views.robots),
    path("assets/<str:name>", views.asset),
    path("login/<str:name>/", views.do_login),
    path("logout/", views.do_logout),
    path("me/", views.me),
    path("slow/", views.slow),
    path("together/<str:name>/", views.together),
    path("together-async/<str:name>/", views.together_async),
    path("track/", views.track),
    path("async/<int:n>/", views.async_page),
    path("async-me/", views.async_me),
    path("async-track/", views.async_track),
]

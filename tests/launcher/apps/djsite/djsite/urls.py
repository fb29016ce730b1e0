from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("articles/<int:year>/", views.year_archive, name="year-archive"),
    path("api/status/", views.status),
]

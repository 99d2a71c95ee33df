from django.urls import path

from gridcity.web import views

urlpatterns = [
    path("", views.home, name="home"),
]

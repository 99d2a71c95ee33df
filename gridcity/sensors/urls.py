from django.urls import path

from gridcity.sensors import views

app_name = "sensors"

urlpatterns = [
    path("", views.board, name="board"),
    path("devices/<str:code>/", views.device_page, name="device"),
    path("forecast/", views.forecast, name="forecast"),
]

from django.urls import path

from gridcity.evaluation import views

app_name = "evaluation"

urlpatterns = [
    path("", views.board, name="board"),
    path("drilldown/", views.drill_page, name="drilldown"),
    path("unit/<str:unit_type>/<str:unit>/", views.scorecard, name="scorecard"),
    path("map/", views.area_map, name="map"),
    path("accountability/<str:dept>/", views.accountability, name="accountability"),
    path("appeals/", views.appeals, name="appeals"),
    path("appeals/file/", views.file_appeal, name="file_appeal"),
    path("appeals/<int:pk>/review/", views.review_appeal, name="review_appeal"),
    path("close/", views.close_period, name="close_period"),
    path("bulletin/<str:period>.<str:fmt>", views.bulletin, name="bulletin"),
]

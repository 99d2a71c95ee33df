from django.urls import path

from gridcity.publicity import views

app_name = "publicity"

urlpatterns = [
    path("publicity/", views.board, name="board"),
    path("publicity/new/", views.propose, name="propose"),
    path("publicity/new/cases/", views.candidates, name="candidates"),
    path("publicity/<int:pk>/", views.detail, name="detail"),
    path("publicity/<int:pk>/<str:action>/", views.act, name="act"),
    path("public/exposures/", views.public_list, name="public_list"),
    path("public/exposures/<int:pk>/", views.public_detail, name="public_detail"),
]

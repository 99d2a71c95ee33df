from django.urls import path

from gridcity.people import views

app_name = "people"

urlpatterns = [
    path("patrol/", views.patrol_page, name="patrol"),
    path("patrols/", views.patrol_board, name="patrol_board"),
    path("patrols/map.json", views.patrol_board_map, name="patrol_board_map"),
    path("attendance/", views.attendance, name="attendance"),
    path("team/", views.team, name="team"),
    path("team/<str:username>/", views.manager_page, name="manager"),
    path("pairings/", views.pairing_board, name="pairings"),
    path("pairings/new/", views.pairing_new, name="pairing_new"),
    path("pairings/<int:pk>/", views.pairing_detail, name="pairing"),
    path("pairings/<int:pk>/visit/", views.visit_new, name="visit_new"),
    path("annual/", views.annual_records, name="annual"),
    path("sheets/", views.score_sheets, name="sheets"),
    path("sheets/<int:pk>/", views.score_sheet, name="sheet"),
    path("training/", views.trainings, name="trainings"),
    path("training/<int:pk>/", views.training_detail, name="training"),
    path("activities/", views.activities, name="activities"),
    path("activities/<int:pk>/", views.activity_detail, name="activity"),
    path("communities/", views.communities, name="communities"),
    path("surveys/", views.surveys, name="surveys"),
    path("surveys/<int:pk>/", views.survey_form, name="survey"),
    path("surveys/<int:pk>/results/", views.survey_report, name="survey_results"),
    path("public/", views.public_page, name="public"),
]

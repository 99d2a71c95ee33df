from django.urls import path

from gridcity.web import dashboard, field

urlpatterns = [
    path("field/", field.field_home, name="field_home"),
    path("field/report/", field.field_report, name="field_report"),
    path("field/tasks/<str:number>/", field.field_task, name="field_task"),
    path("public/", field.public_home, name="public_home"),
    path("public/lookup/", field.public_lookup, name="public_lookup"),
    path("map/", field.case_map, name="case_map"),
    path("map/cases.json", field.map_cases_json, name="map_cases"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/figures/", dashboard.dashboard_figures, name="dashboard_figures"),
    path("dashboard/cells.json", dashboard.dashboard_cells, name="dashboard_cells"),
    path("dashboard/cases/", dashboard.dashboard_cases, name="dashboard_cases"),
]

from django.urls import path

from gridcity.campaigns import inspection_views, views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("<int:pk>/", views.board, name="board"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/end/", views.campaign_end, name="end"),
    path("<int:pk>/archive/", views.campaign_archive, name="archive"),
    path("<int:pk>/ledger/", views.ledger, name="ledger"),
    path("<int:pk>/ledger/import/", views.ledger_import, name="ledger_import"),
    path("ledger/", views.ledger, name="ledger_all"),
    path("ledger/bulk/", views.ledger_bulk, name="ledger_bulk"),
    path("ledger/<int:pk>/", views.row_detail, name="row"),
    path("photos/<int:pk>/", views.photo, name="photo"),
    path("inspections/", inspection_views.inspections, name="inspections"),
    path("inspections/plans/new/", inspection_views.plan_create, name="plan_create"),
    path("inspections/plans/<int:pk>/", inspection_views.plan_detail, name="plan"),
    path("inspections/<int:pk>/onsite/", inspection_views.onsite, name="onsite"),
    path("notices/<int:pk>.pdf", inspection_views.notice_document, name="notice_pdf"),
    path(
        "notices/<int:pk>.docx",
        inspection_views.notice_document,
        {"fmt": "docx"},
        name="notice_docx",
    ),
    path("detections/", inspection_views.detections, name="detections"),
]

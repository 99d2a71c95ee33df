from django.urls import path

from gridcity.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("<int:pk>/", views.board, name="board"),
    path("<int:pk>/ledger/", views.ledger, name="ledger"),
    path("<int:pk>/ledger/import/", views.ledger_import, name="ledger_import"),
    path("ledger/", views.ledger, name="ledger_all"),
    path("ledger/bulk/", views.ledger_bulk, name="ledger_bulk"),
    path("ledger/<int:pk>/", views.row_detail, name="row"),
    path("photos/<int:pk>/", views.photo, name="photo"),
    path("inspections/", views.inspections, name="inspections"),
    path("inspections/<int:pk>/onsite/", views.onsite, name="onsite"),
    path("notices/<int:pk>.pdf", views.notice_document, name="notice_pdf"),
]

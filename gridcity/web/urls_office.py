from django.urls import path

from gridcity.web import office

urlpatterns = [
    path("cases/<str:number>/", office.case_detail, name="case_detail"),
    path("cases/<str:number>/action/<str:action>/", office.case_action, name="case_action"),
    path("cases/<str:number>/supervise/", office.case_supervise, name="case_supervise"),
    path(
        "cases/<str:number>/reports/<int:report_id>/unlink/",
        office.report_unlink,
        name="report_unlink",
    ),
    path("centre/supervision/", office.supervision_centre, name="supervision_centre"),
    path("centre/hotline/new/", office.hotline_new, name="hotline_new"),
    path("centre/areas/", office.area_search, name="area_search"),
    path("centre/triage/", office.triage, name="triage"),
    path("centre/command/", office.command_centre, name="command_centre"),
    path("centre/overdue/", office.overdue_board, name="overdue_board"),
    path("centre/supervision-orders/", office.supervision_orders, name="supervision_orders"),
    path(
        "supervision-orders/<int:order_id>/reply/",
        office.supervision_reply,
        name="supervision_reply",
    ),
    path("desk/", office.desk, name="desk"),
]

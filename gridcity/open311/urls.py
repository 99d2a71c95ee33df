"""/open311/v2/… GeoReport v2 (format chosen by the .xml / .json suffix) and /open311/export/…"""

from django.urls import re_path

from gridcity.open311 import export, views

FMT = r"\.(?P<fmt>xml|json)$"
ID = r"(?P<request_id>[^/]{1,100})"

app_name = "open311"
urlpatterns = [
    re_path(r"^v2/discovery" + FMT, views.discovery, name="discovery"),
    re_path(r"^v2/services" + FMT, views.service_list, name="services"),
    re_path(r"^v2/services/(?P<code>[^/]{1,100})" + FMT, views.service_definition, name="service"),
    re_path(r"^v2/requests" + FMT, views.requests_view, name="requests"),
    re_path(r"^v2/requests/" + ID + FMT, views.request_detail, name="request"),
    # The Swagger file spells the single-request path in the singular.
    re_path(r"^v2/request/" + ID + FMT, views.request_detail, name="request-singular"),
    re_path(r"^v2/tokens/(?P<token>[^/]{1,100})" + FMT, views.token_detail, name="token"),
    re_path(r"^v2/servicerequestupdates" + FMT, views.request_updates, name="updates"),
    re_path(r"^export/cases\.(?P<fmt>csv|xlsx|geojson)$", export.export_cases, name="export"),
]

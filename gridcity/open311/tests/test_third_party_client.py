"""A partner's view: the `georeport` client from PyPI (GeoReport v2 wrapper) against a live
server lists services, reads a definition and reads a posted request back in XML and JSON.
`georeport` cannot create requests, so the POST is a plain form post with `requests`, as the
Open311 spec describes it."""

import pytest

georeport = pytest.importorskip("georeport")
requests = pytest.importorskip("requests")

from gridcity.open311.keys import do_create_api_key  # noqa: E402
from gridcity.open311.tests.conftest import GARBAGE, POINT  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_georeport_client_lists_defines_posts_and_reads_back(live_server, city):
    key = do_create_api_key("partner")
    root = f"{live_server.url}/open311/v2"
    js = georeport.GeoReport(root, api_key=key, output_format="json")
    xml = georeport.GeoReport(root, api_key=key, output_format="xml")

    services = js.get_service_list()
    assert any(s["service_code"] == GARBAGE for s in services)
    assert any(s["service_code"] == GARBAGE for s in xml.get_service_list())

    definition = js.get_service_definition(GARBAGE)
    assert definition["attributes"][0]["code"] == "condition"
    xdef = xml.get_service_definition(GARBAGE)
    assert xdef["attributes"]["attribute"]["datatype"] == "singlevaluelist"

    key_value = definition["attributes"][0]["values"][0]["key"]
    r = requests.post(
        f"{root}/requests.json",
        data={
            "api_key": key,
            "service_code": GARBAGE,
            **POINT,
            "description": "垃圾桶满溢，气味很大",
            "attribute[condition]": key_value,
            "email": "partner@example.com",
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    number = r.json()[0]["service_request_id"]
    assert requests.post(f"{root}/requests.json", data={"service_code": GARBAGE}).status_code == 403

    one = js.get_service_request(number)
    assert one["service_request_id"] == number and one["status"] == "open"
    xone = xml.get_service_request(number)
    assert xone["service_request_id"] == number
    assert xone["description"] == "垃圾桶满溢，气味很大"
    listed = js.get_service_requests(service_code=GARBAGE, status="open")
    assert [x["service_request_id"] for x in listed] == [number]
    # xmltodict gives a dict, not a list, for a one-item list: that is the client's way.
    assert xml.get_service_requests(service_request_id=number)["service_request_id"] == number

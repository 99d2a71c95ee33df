import pytest

from gridcity.accounts.actions import do_create_token
from gridcity.testing import MID_LAT, build_city


@pytest.mark.django_db
def test_it_files_and_dispatches_a_grid_managers_report(client):
    city = build_city()
    token = do_create_token(city.people["inspector"])
    lon, lat = 120.163, MID_LAT + 0.001
    r = client.post(
        "/api/cases",
        {"category": "06042", "lon": lon, "lat": lat, "description": "垃圾桶满了"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "dispatched"
    assert body["department"] == "环境卫生科室"
    assert body["cell"] == city.cell(lon, lat).code
    assert "06042" in body["dispatch_explanation"]["reason"]

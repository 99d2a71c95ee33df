import pytest


@pytest.mark.django_db
def test_the_api_docs_load_without_a_cdn(client):
    r = client.get("/api/docs")
    assert r.status_code == 200
    html = r.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    spec = client.get("/api/openapi.json").json()
    assert "/api/cases" in spec["paths"]
    assert "/api/cases/{number}/transitions" in spec["paths"]

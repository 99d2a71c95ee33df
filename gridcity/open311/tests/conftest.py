import json
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import yaml
from django.core.cache import cache

from gridcity.open311.keys import do_create_api_key
from gridcity.testing import MID_LAT, MID_LON, build_city

DATA = Path(__file__).parent / "data"
SPEC = yaml.safe_load((DATA / "georeport_v2-1.yaml").read_text(encoding="utf-8"))
POINT = {"lat": str(MID_LAT + 0.0012), "long": str(MID_LON - 0.003)}
GARBAGE = "matter-06042"  # 垃圾站（箱）满溢 in the demo standards, with a filing condition


def check(instance, definition: str, *, many: bool = False) -> None:
    """Validate against a definition of the GeoReport v2 Swagger file."""
    ref = {"$ref": f"#/definitions/{definition}"}
    schema = {
        "definitions": SPEC["definitions"],
        **({"type": "array", "items": ref} if many else ref),
    }
    jsonschema.Draft4Validator(schema).validate(instance)


def xml_items(content: bytes, root: str, item: str) -> list[ET.Element]:
    assert content.startswith(b"<?xml")
    doc = ET.fromstring(content)
    assert doc.tag == root
    assert all(child.tag == item for child in doc)
    return list(doc)


def xml_fields(el: ET.Element) -> dict[str, str]:
    return {child.tag: (child.text or "") for child in el}


def check_xml(el: ET.Element, definition: str) -> None:
    """Elements named as the schema's properties, required ones present, values typed."""
    props = SPEC["definitions"][definition]["properties"]
    fields = {c.tag: c for c in el}
    assert set(SPEC["definitions"][definition].get("required", [])) <= set(fields)
    for tag, child in fields.items():
        assert tag in props, tag
        text = child.text or ""
        kind = props[tag].get("type")
        if text and kind == "number":
            float(text)
        if text and kind == "boolean":
            assert text in ("true", "false")
        if text and kind == "integer":
            int(text)
        if "enum" in props[tag] and text:
            assert text in props[tag]["enum"]


def sample_json(name: str):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _fresh_cache():
    from gridcity.open311 import catalog
    from gridcity.open311.keys import forget_keys

    # A rolled-back test leaves no rows but may leave keys and services in process memory.
    def forget():
        cache.clear()
        forget_keys()
        catalog.forget()

    forget()
    yield
    forget()


@pytest.fixture
def city(db):
    return build_city()


@pytest.fixture
def api_key(city) -> str:
    return do_create_api_key("hotline-12345")


@pytest.fixture
def post(client, api_key):
    def call(fmt="json", *, key=api_key, **fields):
        data = {"service_code": GARBAGE, **POINT, "description": "垃圾桶满溢", **fields}
        if key is not None:
            data["api_key"] = key
        data = {k: v for k, v in data.items() if v is not None}
        return client.post(f"/open311/v2/requests.{fmt}", data)

    return call

"""GeoReport v2 documents in XML and JSON from the same plain dicts.

JSON leaves out a field that has no value (as Chicago's server does), because the Swagger types
(`string`, `number`) do not allow null; XML writes it as an empty element (as Toronto's does).

XML 1.0 cannot hold most control characters at all, and ElementTree writes them anyway: text is
cleaned on the way out too, so one old description with a bell in it cannot make a whole list
unparseable for every partner."""

from xml.etree import ElementTree as ET

import orjson
from django.http import HttpResponse

from gridcity.lib.text import strip_control

# The element name of one item of a list-valued field, in XML.
LIST_ITEM = {
    "attributes": "attribute",
    "values": "value",
    "notes": "note",
    "endpoints": "endpoint",
    "formats": "format",
}
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return strip_control(str(value))


def _fill(el: ET.Element, value) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, list):
                wrapper = ET.SubElement(el, k)
                for item in v:
                    _fill(ET.SubElement(wrapper, LIST_ITEM.get(k, "item")), item)
            else:
                _fill(ET.SubElement(el, k), v)
    else:
        el.text = _text(value)


def xml_document(root: str, item: str | None, body) -> bytes:
    """`body` is a list of dicts (each one `<item>`) or one dict (the root's children)."""
    el = ET.Element(root)
    if isinstance(body, list):
        for row in body:
            _fill(ET.SubElement(el, item or "item"), row)
    else:
        _fill(el, body)
    return ET.tostring(el, encoding="utf-8", xml_declaration=True)


def _drop_none(value):
    # Recurse only into containers: a page of a thousand requests has twenty thousand values.
    if isinstance(value, dict):
        return {
            k: _drop_none(v) if isinstance(v, dict | list) else v
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_drop_none(v) if isinstance(v, dict | list) else v for v in value]
    return value


def document(fmt: str, root: str, item: str | None, body) -> bytes:
    if fmt == "xml":
        return xml_document(root, item, body)
    # orjson writes UTF-8 as json.dumps(ensure_ascii=False) does, several times faster; a lazy
    # translation that slipped into a body is written as its text.
    return orjson.dumps(_drop_none(body), default=str)


def respond(fmt: str, root: str, item: str | None, body, status: int = 200) -> HttpResponse:
    return HttpResponse(
        document(fmt, root, item, body), status=status, content_type=CONTENT_TYPES[fmt]
    )


def error(fmt: str, status: int, description: str, headers: dict | None = None) -> HttpResponse:
    """Errors are always a list: `[{"code": 400, "description": "..."}]` / `<errors><error>`."""
    response = respond(
        fmt, "errors", "error", [{"code": status, "description": description}], status
    )
    for k, v in (headers or {}).items():
        response[k] = v
    return response

"""`gridcity import-areas` refuses a code or a name longer than the column that would store it,
naming the feature, instead of cutting it or failing in the middle of the import."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from shapely.geometry import box, mapping

from gridcity.grids.models import Area

pytestmark = pytest.mark.django_db


def test_a_long_code_or_name_is_refused_by_feature_and_nothing_is_imported(tmp_path: Path):
    code_limit = Area._meta.get_field("code").max_length
    square = mapping(box(120.16, 30.24, 120.17, 30.25))
    features = [
        {"type": "Feature", "properties": {"code": "330102", "name": "上城区"}, "geometry": square},
        {
            "type": "Feature",
            "properties": {"code": "3" * (code_limit + 1), "name": "太长"},
            "geometry": square,
        },
        {
            "type": "Feature",
            "properties": {"code": "330105", "name": "区" * 101},
            "geometry": square,
        },
    ]
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import-areas",
            str(path),
            "--level=district",
            "--code-field=code",
            "--name-field=name",
            stdout=io.StringIO(),
            stderr=err,
        )
    assert (
        "第2个要素" in err.getvalue()
        and f"[code]：确保该变量包含不超过 {code_limit} 字符 (目前字符数 {code_limit + 1})"
        in err.getvalue()
    )
    assert (
        "第3个要素（330105） [name]：确保该变量包含不超过 100 字符 (目前字符数 101)"
        in err.getvalue()
    )
    assert not Area.objects.exists()

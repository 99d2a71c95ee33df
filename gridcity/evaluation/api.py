"""GET /api/evaluation/indicators and /api/evaluation/drilldown: every figure with the case
numbers behind it."""

from django.utils.translation import gettext
from ninja import Router
from ninja.errors import HttpError

from gridcity.evaluation.access import may_view, may_view_board
from gridcity.evaluation.compute import drilldown, get_ranking
from gridcity.evaluation.indicators import INDICATORS, UNIT_TYPE_LABELS, parse_period

router = Router(tags=["综合评价"])


def _check(unit_type: str, period: str) -> None:
    if unit_type not in UNIT_TYPE_LABELS:
        raise HttpError(
            422, gettext("unit_type 应为 %(value)s 之一") % {"value": "、".join(UNIT_TYPE_LABELS)}
        )
    try:
        parse_period(period)
    except ValueError as exc:
        raise HttpError(422, str(exc)) from exc


def _num(v):
    return None if v is None else str(v) if not isinstance(v, int) else v


@router.get("/evaluation/indicators", summary="指标、得分与排名")
def indicators(request, unit_type: str, period: str, unit: str = ""):
    """All units of a type (or one, `unit` = its id), with every indicator as
    value / numerator / denominator, the score, grade and rank, and a drill-down link."""
    _check(unit_type, period)
    if not unit and not may_view_board(request.user):
        raise HttpError(403, gettext("无权查看排名"))
    if unit and not may_view(request.user, unit_type, unit):
        raise HttpError(403, gettext("无权查看该单位的考评"))
    r = get_ranking(period, unit_type)
    units = [u for u in r.units if not unit or u.unit.key == unit]
    if unit and not units:
        raise HttpError(404, gettext("评价对象不存在"))
    base = "/api/evaluation/drilldown"
    return {
        "period": r.period.key,
        "frozen": r.frozen,
        "scheme": r.scheme,
        "min_cases_to_rank": r.min_cases,
        "volume": r.volume_label,
        "units": [
            {
                "unit": u.unit.key,
                "name": u.unit.name,
                "level": u.unit.level,
                "score": _num(u.score),
                "grade": u.grade,
                "rank": u.rank,
                # False: below the scheme's minimum volume, listed apart with no score or rank.
                "ranked": u.ranked,
                "volume": u.volume,
                "deductions": [
                    {
                        "source": d.source,
                        "label": d.label,
                        "value": _num(d.value),
                        "points": _num(d.points),
                    }
                    for d in u.deductions
                ],
                "indicators": {
                    k: {
                        "name": INDICATORS[k].name,
                        "value": _num(f.value),
                        "numerator": f.numerator,
                        "denominator": f.denominator,
                        "drilldown": f"{base}?indicator={k}&unit_type={unit_type}"
                        f"&unit={u.unit.key}&period={r.period.key}",
                    }
                    for k, f in u.figures.items()
                },
            }
            for u in units
        ],
    }


@router.get("/evaluation/drilldown", summary="指标明细：背后的案件")
def drill(request, indicator: str, unit_type: str, unit: str, period: str, page: int = 1):
    """The cases behind a figure, 500 rows of the numerator and of the denominator per page."""
    _check(unit_type, period)
    if indicator not in INDICATORS:
        raise HttpError(422, gettext("未知的指标"))
    if not may_view(request.user, unit_type, unit):
        raise HttpError(403, gettext("无权查看该单位的考评"))
    if not unit.isdigit():
        raise HttpError(422, gettext("unit 应为评价对象的编号"))
    if page < 1:
        raise HttpError(422, gettext("page 应为不小于 1 的整数"))
    d = drilldown(indicator, unit_type, unit, period, page)

    def rows(rs):
        return [
            {
                "case": r["case_number"],
                "at": r["at"].isoformat(),
                "overdue": r["raw_overdue"],
                "appealed": r["appealed"],
            }
            for r in rs
        ]

    return {
        "indicator": indicator,
        "name": d["indicator"].name,
        "definition": d["indicator"].definition,
        "numerator": rows(d["numerator"]),
        "denominator": rows(d["denominator"]),
        "numerator_total": d["numerator_total"],
        "denominator_total": d["denominator_total"],
        "page": d["page"],
        "pages": d["pages"],
        "cases": sorted({r["case_number"] for r in d["numerator"]}),
    }

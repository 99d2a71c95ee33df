from django.db.models import Prefetch, Q
from ninja import Router, Schema

from gridcity.taxonomy.models import Category, FilingCondition

router = Router(tags=["类别与立结案标准"])


class ConditionOut(Schema):
    id: int
    text: str
    closing_condition: str
    time_limit: str
    handling_unit: str


class CategoryOut(Schema):
    id: int
    key: str
    kind: str
    code: str
    name: str
    major_code: str
    major_name: str
    is_local: bool
    conditions: list[ConditionOut]


def _out(c: Category) -> CategoryOut:
    return CategoryOut(
        id=c.pk,
        key=c.key,
        kind=c.kind,
        code=c.code,
        name=c.name,
        major_code=c.major_code,
        major_name=c.major_name,
        is_local=c.is_local,
        conditions=[
            ConditionOut(
                id=fc.pk,
                text=fc.text,
                closing_condition=fc.closing_condition,
                time_limit=fc.time_limit_text,
                handling_unit=fc.handling_unit,
            )
            for fc in c.conditions.all()
        ],
    )


@router.get(
    "/categories",
    auth=None,
    response=list[CategoryOut],
    summary="问题类别（含立案条件与时限，公开）",
)
def list_categories(
    request, kind: str | None = None, q: str | None = None, with_conditions_only: bool = False
):
    qs = Category.objects.filter(is_active=True).prefetch_related(
        Prefetch("conditions", queryset=FilingCondition.objects.order_by("order", "pk"))
    )
    if kind:
        qs = qs.filter(kind=kind)
    if q:
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(code__startswith=q)
            | Q(major_name__icontains=q)
            | Q(keywords__icontains=q)
        )
    if with_conditions_only:
        qs = qs.filter(conditions__isnull=False).distinct()
    return [_out(c) for c in qs]

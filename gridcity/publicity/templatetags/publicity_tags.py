from django import template

from gridcity.cases.models import Case
from gridcity.publicity.actions import may_propose
from gridcity.publicity.models import Exposure

register = template.Library()


@register.inclusion_tag("publicity/_case_panel.html", takes_context=True)
def case_exposures(context, case: Case) -> dict:
    """The case page's small 曝光台 block: the case's exposures and the link to propose one,
    for the centre's staff only."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not may_propose(user):
        return {"hidden": True}
    exposures = Exposure.objects.filter(case=case).order_by("-proposed_at")
    return {"case": case, "exposures": list(exposures)}

"""The cases app's metrics: open and overdue cases, read at scrape; intakes by channel."""

from collections.abc import Iterable

from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric

from gridcity.cases.models import OPEN, Case, Channel
from gridcity.system.metrics import INTAKES, scrape_collector

for _channel in Channel.values:
    INTAKES.labels(channel=_channel)  # present at 0 before the first report


@scrape_collector
def case_metrics() -> Iterable[Metric]:
    # One query on the status index; the overdue count filters the open rows it already reads.
    counts = Case.objects.filter(status__in=OPEN).aggregate(
        open=Count("pk"), overdue=Count("pk", filter=Q(step_deadline__lt=timezone.now()))
    )
    yield GaugeMetricFamily(
        "gridcity_cases_open", "Cases not closed, voided or merged.", value=counts["open"]
    )
    yield GaugeMetricFamily(
        "gridcity_cases_overdue_open",
        "Open cases whose current step is past its deadline.",
        value=counts["overdue"],
    )

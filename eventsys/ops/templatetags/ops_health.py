from django import template
from django.utils import timezone

from eventsys.ops.charts import DEFAULT_RANGE, RANGES, dashboard_charts
from eventsys.ops.figures import service_figures
from eventsys.ops.health import overall, service_health

register = template.Library()


@register.simple_tag(takes_context=True)
def health_report(context) -> dict:
    """The dashboard's verdicts and charts, for the admin index (staff only, as the admin is);
    `?range=7d` draws the charts over a week."""
    now = timezone.now()
    request = context.get("request")
    range_key = request.GET.get("range", DEFAULT_RANGE) if request else DEFAULT_RANGE
    if range_key not in RANGES:
        range_key = DEFAULT_RANGE
    verdicts = service_health(service_figures(now=now))
    return {
        "overall": overall(verdicts),
        "verdicts": verdicts,
        "charts": dashboard_charts(now=now, range_key=range_key),
        "range": range_key,
        "ranges": RANGES.values(),
    }

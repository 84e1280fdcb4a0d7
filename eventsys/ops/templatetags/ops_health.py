from django import template
from django.utils import timezone

from eventsys.ops.charts import COLOURS, dashboard_charts
from eventsys.ops.figures import service_figures
from eventsys.ops.health import overall, service_health

register = template.Library()


@register.simple_tag
def health_report() -> dict:
    """The dashboard's verdicts, for the admin index (staff only, as the admin is)."""
    now = timezone.now()
    verdicts = service_health(service_figures(now=now))
    return {
        "overall": overall(verdicts),
        "verdicts": verdicts,
        "charts": dashboard_charts(now=now),
        "colours": COLOURS,
    }

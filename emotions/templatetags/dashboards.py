"""Placing charts and writing numbers on the dashboards: `{% load dashboards %}`."""
import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

MISSING = "—"


def _missing(value) -> bool:
    return value is None or value == ""  # "" is what a template gives for a missing attribute


@register.inclusion_tag("emotions/_chart.html")
def chart(figure: dict, chart_id: str, label: str = ""):
    """A figure from emotions.charts (embedded) as a div that static/js/charts.js draws with plotly.js."""
    return {"figure": figure, "chart_id": chart_id, "data_id": f"{chart_id}-data", "label": label or chart_id}


@register.filter
def percent(value, digits: int = 1):
    return MISSING if _missing(value) else f"{value * 100:.{digits}f}%"


@register.filter
def score(value, digits: int = 3):
    return MISSING if _missing(value) else f"{value:.{digits}f}"


@register.filter
def number(value, digits: int = 4):
    """Loss, learning rate: significant digits, whatever the scale."""
    return MISSING if _missing(value) else f"{value:.{digits}g}"


@register.filter
def duration(seconds):
    """12 s, 3 min 20 s, 2 h 05 min."""
    if _missing(seconds):
        return MISSING
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


@register.filter
def parameters(count):
    """1,940,199 -> 1.94 M; 120,000 -> 120 k."""
    if _missing(count):
        return MISSING
    if count >= 1_000_000:
        return f"{count / 1_000_000:.2f} M"
    if count >= 1_000:
        return f"{count / 1_000:.0f} k"
    return str(count)


@register.filter
def thousands(count):
    return MISSING if _missing(count) else f"{count:,}"


@register.filter
def sum_values(values):
    return sum(values) if values is not None else None


_BREAK_POINTS = re.compile(r"(?<=[_\-/])|(?<=[a-z])(?=[A-Z])")


@register.filter
def breakable(text):
    """A long name that may wrap at its joints: after _ - / and inside camel case (seed001_<wbr>resnet18,
    Private<wbr>Test), so a narrow column wraps it rather than widening the table."""
    if _missing(text):
        return MISSING
    return mark_safe("<wbr>".join(escape(part) for part in _BREAK_POINTS.split(str(text))))

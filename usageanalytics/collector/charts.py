"""Server-side SVG charts (pygal) for the dashboard.

Rendered on the server, the charts need no JavaScript and nothing from a CDN: the page works
offline and its figures are plain text in the DOM (each point's value is in a ``<desc
class="value">``), which is also what the dashboard tests read.

Axes get "nice" ticks (1, 2 or 5 times a power of ten) labelled with just enough decimals to
tell them apart, so a chart of small values never reads ``0.0 0.0 0.1``. Values are printed on
the bars only while there is room for them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import pygal
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#334155",
    foreground_strong="#0f172a",
    foreground_subtle="#e2e8f0",
    colors=("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    value_font_size=10,
    value_label_font_size=10,
    title_font_size=14,
    legend_font_size=11,
    tooltip_font_size=11,
    no_data_font_size=15,
)

_COMMON: dict[str, Any] = {
    "style": STYLE,
    "js": [],  # pygal would otherwise load its tooltip script from the internet
    "disable_xml_declaration": True,
    "print_values": True,
    "print_zeroes": False,
    "show_legend": False,
    "width": 640,
    "height": 300,
    "margin": 12,
    "no_data_text": "No data in this period",
}

MAX_PRINTED_BARS = 16  # beyond this many bars, values on them would overlap
MAX_X_LABELS = 14


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)


def _render(chart: Any) -> str:
    """The SVG without pygal's inline configuration script (its tooltips are not used, and a page
    that runs no chart code cannot be made to run a name as code)."""
    return _SCRIPT.sub("", str(chart.render(is_unicode=True)))


def nice_ticks(
    values: Sequence[float | None], *, whole: bool = False, count: int = 5, headroom: float = 1.0
) -> list[float]:
    """Ticks from 0 to just past the largest value, 1, 2 or 5 times a power of ten apart.

    ``whole`` (counts) never steps by less than 1.
    """
    top = max((v for v in values if v is not None), default=0.0)
    if top <= 0:
        return [0.0, 1.0]
    top *= headroom
    rough = top / count
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    if whole:
        step = max(1.0, round(step))
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def tick_formatter(ticks: Sequence[float], unit: str = "") -> Callable[[float], str]:
    """Labels with as many decimals as the step between ticks needs (none for whole steps)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = 0 if step >= 1 else min(3, -math.floor(math.log10(step)))
    return lambda v: f"{v:,.{decimals}f}{unit}"


def axis(ticks: Sequence[float], unit: str = "") -> list[dict[str, Any]]:
    """pygal y labels: each tick with its own text, so values keep their own precision."""
    label = tick_formatter(ticks, unit)
    return [{"value": tick, "label": label(tick)} for tick in ticks]


def value_formatter(whole: bool, unit: str = "") -> Callable[[float], str]:
    """A point's value: counts whole, averages and shares with one decimal."""
    return (lambda v: f"{v:,.0f}{unit}") if whole else (lambda v: f"{v:,.1f}{unit}")


def bucket_labels(buckets: Sequence[str]) -> list[str]:
    """``05-01`` for days; ``14:00`` for hours, with the day at each midnight."""
    labels = []
    for key in buckets:
        if len(key) == 13:
            hour = key[11:13]
            labels.append(f"{key[5:10]} {hour}:00" if hour == "00" else f"{hour}:00")
        else:
            labels.append(key[5:])
    return labels


def over_time(
    title: str,
    buckets: Sequence[str],
    values: Sequence[float | None],
    *,
    line: bool = False,
    unit: str = "",
    whole: bool = True,
) -> str:
    """A value per day or hour: bars for counts, a line for averages (``whole=False``)."""
    ticks = nice_ticks(values, whole=whole)
    kind = pygal.Line if line else pygal.Bar
    options: dict[str, Any] = {}
    if line:
        options.update(include_x_axis=True, margin_right=28, dots_size=2.5)
    labels = bucket_labels(buckets)
    chart = kind(
        **{**_COMMON, "print_values": len(buckets) <= MAX_PRINTED_BARS and not line},
        **options,
        title=title,
        y_labels=axis(ticks, unit),
        range=(ticks[0], ticks[-1]),
        x_label_rotation=-45 if len(buckets) > 8 else 0,
        x_labels_major_every=max(1, math.ceil(len(buckets) / MAX_X_LABELS)),
        show_minor_x_labels=len(buckets) <= MAX_X_LABELS,
        value_formatter=value_formatter(whole, unit),
        allow_interruptions=True,
    )
    chart.x_labels = labels
    chart.add(title, list(values))
    return _render(chart)


def ranking(title: str, pairs: Sequence[tuple[str, float]], *, unit: str = "", whole: bool = True) -> str:
    """Horizontal bars, largest first (top screens, top events, accounts, modules)."""
    values = [value for _, value in pairs]
    ticks = nice_ticks(values, whole=whole, headroom=1.15)  # room for the value after the longest bar
    chart = pygal.HorizontalBar(
        **{**_COMMON, "height": max(160, 70 + 30 * len(pairs))},
        print_values_position="top",  # after the bar's end: a short bar still shows its value
        y_labels=axis(ticks, unit),
        range=(ticks[0], ticks[-1]),
        title=title,
        value_formatter=value_formatter(whole, unit),
    )
    chart.x_labels = [_short(name) for name, _ in reversed(pairs)]
    chart.add(title, [value for _, value in reversed(pairs)])
    return _render(chart)


def page_loads(title: str, pages: Sequence[tuple[str, float, float]]) -> str:
    """Median and p95 load time per page, side by side."""
    values = [v for _, median, p95 in pages for v in (median, p95)]
    ticks = nice_ticks(values, headroom=1.15)
    chart = pygal.HorizontalBar(
        **{**_COMMON, "show_legend": True, "height": max(200, 100 + 44 * len(pages))},
        print_values_position="top",
        title=title,
        y_labels=axis(ticks, " ms"),
        range=(ticks[0], ticks[-1]),
        legend_at_bottom=True,
        value_formatter=lambda v: f"{v:,.0f} ms",
    )
    rows = list(reversed(pages))
    chart.x_labels = [_short(page) for page, _, _ in rows]
    chart.add("median", [median for _, median, _ in rows])
    chart.add("p95", [p95 for _, _, p95 in rows])
    return _render(chart)


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else "…" + label[-(limit - 1) :]

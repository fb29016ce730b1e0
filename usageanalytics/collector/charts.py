"""Server-side SVG charts (pygal) for the dashboard.

Rendered on the server, the charts need no JavaScript and nothing from a CDN: the page works
offline and its figures are plain text in the DOM, which is also what the dashboard test reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pygal
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#334155",
    foreground_strong="#0f172a",
    foreground_subtle="#cbd5e1",
    colors=("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    value_font_size=11,
    value_label_font_size=11,
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
    "no_data_text": "No data yet",
}


def _render(chart: Any) -> str:
    return str(chart.render(is_unicode=True))


def count_ticks(values: Sequence[float | None]) -> list[float]:
    """Whole-number axis ticks from 0 past the largest count (pygal would label 0.2 steps "0")."""
    top = max((v for v in values if v is not None), default=0)
    step = max(1, math.ceil(top / 5))
    return [float(step * i) for i in range(math.ceil(top / step) + 1 if top else 2)]


def over_time(
    title: str,
    days: Sequence[str],
    values: Sequence[float | None],
    *,
    line: bool = False,
    formatter: Callable[[float], str] = lambda v: f"{v:,.0f}",
) -> str:
    """A value per day (bars, or a line for averages); days are labelled ``MM-DD``."""
    kind = pygal.Line if line else pygal.Bar
    options: dict[str, Any] = {}
    if not line:
        options["y_labels"] = count_ticks(values)
    else:
        options.update(include_x_axis=True, margin_right=28)
        if not any(values):
            options["range"] = (0, 1)
    chart = kind(
        **_COMMON,
        **options,
        title=title,
        x_label_rotation=-45 if len(days) > 10 else 0,
        x_labels_major_every=max(1, math.ceil(len(days) / 15)),
        show_minor_x_labels=len(days) <= 15,
        value_formatter=formatter,
        allow_interruptions=True,
    )
    chart.x_labels = [day[5:] for day in days]
    chart.add(title, list(values))
    return _render(chart)


def ranking(title: str, pairs: Sequence[tuple[str, float]], *, unit: str = "") -> str:
    """Horizontal bars, largest first (top screens, top events, accounts)."""
    chart = pygal.HorizontalBar(
        **{**_COMMON, "height": max(160, 60 + 28 * len(pairs))},
        y_labels=count_ticks([value for _, value in pairs]),
        title=title,
        value_formatter=lambda v: f"{v:,.0f}{unit}",
    )
    chart.x_labels = [_short(name) for name, _ in reversed(pairs)]
    chart.add(title, [value for _, value in reversed(pairs)])
    return _render(chart)


def page_loads(title: str, pages: Sequence[tuple[str, float, float]]) -> str:
    """Median and p95 load time per page, side by side."""
    chart = pygal.HorizontalBar(
        **{**_COMMON, "show_legend": True, "height": max(200, 90 + 44 * len(pages))},
        title=title,
        legend_at_bottom=True,
        value_formatter=lambda v: f"{v:,.0f} ms",
    )
    rows = list(reversed(pages))
    chart.x_labels = [_short(page) for page, _, _ in rows]
    chart.add("median", [median for _, median, _ in rows])
    chart.add("p95", [p95 for _, _, p95 in rows])
    return _render(chart)


def _short(label: str, limit: int = 32) -> str:
    return label if len(label) <= limit else "…" + label[-(limit - 1) :]

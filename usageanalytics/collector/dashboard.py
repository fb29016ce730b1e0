"""The dashboard at ``/`` and its figures as JSON at ``/api/summary``.

Rendered on the server (Jinja2 and pygal's SVG charts): no JavaScript, nothing fetched from
elsewhere, so it works offline and loads fast. Queries run in a worker thread on their own
connection, so a large database never stalls ingestion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import charts
from .stats import Summary, summarize
from .store import Connections

PERIODS = (7, 14, 30, 90)

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def duration(seconds: float | None) -> str:
    """``42s``, ``4m 05s``, ``1h 02m``; ``-`` when there is nothing to average."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def milliseconds(value: float) -> str:
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def moment(utc: str | None) -> str:
    """``2024-05-03T15:02:00.000Z`` as ``2024-05-03 15:02 UTC``."""
    return "-" if not utc else f"{utc[:10]} {utc[11:16]} UTC"


_templates.filters.update(duration=duration, ms=milliseconds, moment=moment)


def _session_lengths(seconds: list[float | None]) -> tuple[str, list[float | None]]:
    """Minutes, or seconds when every average is under two minutes (a demo, a test run)."""
    if max((s for s in seconds if s is not None), default=0.0) < 120:
        return "seconds", seconds
    return "minutes", [None if s is None else s / 60 for s in seconds]


def _charts(summary: Summary) -> dict[str, Markup]:
    unit, lengths = _session_lengths(list(summary.daily_avg_session_seconds))
    rendered = {
        "active_users": charts.over_time("Active users per day", summary.days, summary.daily_active_users),
        "sessions": charts.over_time("Sessions per day", summary.days, summary.daily_sessions),
        "events": charts.over_time("Events per day", summary.days, summary.daily_events),
        "session_length": charts.over_time(
            f"Average session length ({unit})",
            summary.days,
            lengths,
            line=True,
            formatter=lambda v: f"{v:,.1f}",
        ),
        "top_screens": charts.ranking("Top screens", summary.top_screens),
        "top_events": charts.ranking("Top events", summary.top_events),
        "page_loads": charts.page_loads(
            "Page load time", [(p.page, p.median_ms, p.p95_ms) for p in summary.page_loads]
        ),
        "accounts": charts.ranking(
            "Events per customer account", [(a.name or a.account_id, a.events) for a in summary.accounts[:10]]
        ),
    }
    return {name: Markup(svg) for name, svg in rendered.items()}  # pygal escapes the text it draws


def _choice(request: Request) -> tuple[str | None, int]:
    app_id = request.query_params.get("app") or None
    try:
        days = int(request.query_params.get("days", "14"))
    except ValueError:
        days = 14
    return app_id, max(1, min(days, 366))


class Dashboard:
    """``/`` and ``/api/summary`` over one database (no auth: the collector binds to loopback)."""

    def __init__(self, db_path: Path) -> None:
        self._connections = Connections(db_path)

    def summary(self, app_id: str | None, days: int) -> Summary:
        return summarize(self._connections.get(), app_id, days)

    def html(self, app_id: str | None, days: int, base: str) -> str:
        summary = self.summary(app_id, days)
        context: dict[str, Any] = {
            "s": summary,
            "charts": _charts(summary),
            "periods": PERIODS,
            "days": days,
            "base": base.rstrip("/"),
        }
        return _templates.get_template("dashboard.html").render(context)

    async def page(self, request: Request) -> Response:
        app_id, days = _choice(request)
        return HTMLResponse(await run_in_threadpool(self.html, app_id, days, str(request.base_url)))

    async def summary_json(self, request: Request) -> Response:
        app_id, days = _choice(request)
        summary = await run_in_threadpool(self.summary, app_id, days)
        return JSONResponse(summary.as_json())

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/api/summary", self.summary_json, methods=["GET"]),
        ]

    def close(self) -> None:
        self._connections.close()

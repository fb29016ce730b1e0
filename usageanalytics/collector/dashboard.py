"""The dashboard: the overview at ``/``, a page per user and per customer account, and their
figures as JSON (``/api/summary``, ``/api/users/<id>``, ``/api/accounts/<id>``).

Rendered on the server (Jinja2 and pygal's SVG charts): no JavaScript, nothing fetched from
elsewhere, so it works offline and loads fast. Queries run in a worker thread on their own
connection, so a large database never stalls ingestion. Every query value is checked: a bad one
is answered 400 with what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import charts
from .params import BadQuery, integer, text
from .period import PRESETS, Period, parse_period
from .profiles import AccountProfile, UserProfile, account_profile, find_user, user_profile
from .stats import Summary, summarize
from .store import Connections
from .templating import from_path_part, path_part, render


def _session_lengths(seconds: list[float | None]) -> tuple[str, list[float | None]]:
    """Minutes, or seconds when every average is under two minutes (a demo, a test run)."""
    if max((s for s in seconds if s is not None), default=0.0) < 120:
        return "seconds", seconds
    return "minutes", [None if s is None else s / 60 for s in seconds]


def activity_charts(summary: Summary) -> dict[str, Markup]:
    """The charts of a summary (the overview's, or an account's); a chart with nothing to show is
    left out, and the page says so in its place instead of drawing empty axes."""
    unit, lengths = _session_lengths(list(summary.series_avg_session_seconds))
    per = "hour" if summary.bucket == "hour" else "day"
    buckets = summary.buckets
    rendered: dict[str, str] = {}
    if any(summary.series_active_users):
        rendered["active_users"] = charts.over_time(
            f"Active users per {per}", buckets, summary.series_active_users
        )
    if any(summary.series_sessions):
        rendered["sessions"] = charts.over_time(f"Sessions per {per}", buckets, summary.series_sessions)
    if any(summary.series_events):
        rendered["events"] = charts.over_time(
            f"Events per {per} (excl. sessions, page loads)", buckets, summary.series_events
        )
    if any(length is not None for length in lengths):
        rendered["session_length"] = charts.over_time(
            f"Average session length ({unit})", buckets, lengths, line=True, whole=False
        )
    if summary.top_screens:
        rendered["top_screens"] = charts.ranking("Top screens (Screen View events)", summary.top_screens)
    if summary.top_events:
        rendered["top_events"] = charts.ranking("Top events", summary.top_events)
    if summary.page_loads:
        rendered["page_loads"] = charts.page_loads(
            "Page load time", [(p.page, p.median_ms, p.p95_ms) for p in summary.page_loads]
        )
    if summary.modules:
        rendered["modules"] = charts.ranking(
            "Module adoption (% of active users)",
            [(m.module, m.adoption * 100) for m in summary.modules[:10]],
            unit=" %",
            whole=False,
        )
    return {name: Markup(svg) for name, svg in rendered.items()}  # pygal escapes the text it draws


def _error_page(message: str, status_code: int, base: str) -> HTMLResponse:
    return HTMLResponse(render("error.html", page="error", message=message, base=base), status_code)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _links(app_id: str | None, account_id: str | None, period: Period) -> dict[str, Any]:
    """Query strings the period and filter links on a page need."""

    def query(**changes: Any) -> str:
        values: dict[str, Any] = {"app": app_id, "account": account_id, **period.query()}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v is not None})

    return {"query": query}


class Dashboard:
    """The pages and their JSON, over one database."""

    def __init__(self, db_path: Path) -> None:
        self._connections = Connections(db_path)

    def _db(self) -> Any:
        return self._connections.get()

    # -- overview -----------------------------------------------------------------------------

    def summary(self, period: Period, app_id: str | None, account_id: str | None) -> Summary:
        return summarize(self._db(), period, app_id, account_id)

    def _overview_html(self, period: Period, app_id: str | None, account_id: str | None, base: str) -> str:
        summary = self.summary(period, app_id, account_id)
        accounts = [
            row[0]
            for row in self._db().execute(
                "SELECT account_id FROM customers UNION SELECT customer_account_id FROM users "
                "WHERE customer_account_id IS NOT NULL ORDER BY 1 LIMIT 500"
            )
        ]
        return render(
            "overview.html",
            page="overview",
            s=summary,
            t=summary.totals,
            p=summary.previous,
            charts=activity_charts(summary),
            period=period,
            presets=PRESETS,
            account_choices=accounts,
            base=base,
            **_links(app_id, account_id, period),
        )

    async def overview(self, request: Request) -> Response:
        try:
            period, app_id, account_id = _filters(request.query_params)
        except BadQuery as exc:
            return _error_page(str(exc), 400, _base(request))
        html = await run_in_threadpool(self._overview_html, period, app_id, account_id, _base(request))
        return HTMLResponse(html)

    async def summary_json(self, request: Request) -> Response:
        try:
            period, app_id, account_id = _filters(request.query_params)
        except BadQuery as exc:
            return JSONResponse({"status": "INVALID_INPUT", "message": str(exc)}, 400)
        summary = await run_in_threadpool(self.summary, period, app_id, account_id)
        return JSONResponse(summary.as_json())

    # -- one user -----------------------------------------------------------------------------

    def _user(self, user_id: str, app_id: str | None, offset: int) -> tuple[str, str, UserProfile | None]:
        found = find_user(self._db(), user_id, app_id)
        if found is None:
            return "", "", None
        app, user = found
        return app, user, user_profile(self._db(), app, user, offset)

    async def _user_request(self, request: Request) -> tuple[str, str | None, int] | Response:
        try:
            app_id = text(request.query_params, "app")
            offset = integer(request.query_params, "offset", 0, 0, 10**9)
        except BadQuery as exc:
            return exc_response(request, exc)
        assert offset is not None
        return from_path_part(request.path_params["user_id"]), app_id, offset

    async def user_page(self, request: Request) -> Response:
        asked = await self._user_request(request)
        if isinstance(asked, Response):
            return asked
        user_id, app_id, offset = asked
        app, user, profile = await run_in_threadpool(self._user, user_id, app_id, offset)
        if profile is None:
            return _error_page(
                f"no user {user_id!r}" + (f" in app {app_id!r}" if app_id else ""), 404, _base(request)
            )
        if user != user_id:  # a guest who logged in: show the user they became
            return RedirectResponse(f"/users/{path_part(user)}?{urlencode({'app': app})}", status_code=307)
        return HTMLResponse(render("user.html", page="user", u=profile, base=_base(request)))

    async def user_json(self, request: Request) -> Response:
        asked = await self._user_request(request)
        if isinstance(asked, Response):
            return asked
        user_id, app_id, offset = asked
        _, _, profile = await run_in_threadpool(self._user, user_id, app_id, offset)
        if profile is None:
            return JSONResponse({"status": "ERROR", "message": f"no user {user_id!r}"}, 404)
        return JSONResponse(profile.as_json())

    # -- one account --------------------------------------------------------------------------

    def _account(self, account_id: str, period: Period, app_id: str | None) -> AccountProfile | None:
        return account_profile(self._db(), account_id, period, app_id)

    def _account_html(self, profile: AccountProfile, period: Period, app_id: str | None, base: str) -> str:
        return render(
            "account.html",
            page="account",
            a=profile,
            s=profile.summary,
            t=profile.summary.totals,
            p=profile.summary.previous,
            charts=activity_charts(profile.summary),
            period=period,
            presets=PRESETS,
            base=base,
            **_links(app_id, None, period),
        )

    async def account_page(self, request: Request) -> Response:
        account_id = from_path_part(request.path_params["account_id"])
        try:
            period, app_id, _ = _filters(request.query_params)
        except BadQuery as exc:
            return _error_page(str(exc), 400, _base(request))
        profile = await run_in_threadpool(self._account, account_id, period, app_id)
        if profile is None:
            return _error_page(f"no customer account {account_id!r}", 404, _base(request))
        html = await run_in_threadpool(self._account_html, profile, period, app_id, _base(request))
        return HTMLResponse(html)

    async def account_json(self, request: Request) -> Response:
        account_id = from_path_part(request.path_params["account_id"])
        try:
            period, app_id, _ = _filters(request.query_params)
        except BadQuery as exc:
            return JSONResponse({"status": "INVALID_INPUT", "message": str(exc)}, 400)
        profile = await run_in_threadpool(self._account, account_id, period, app_id)
        if profile is None:
            return JSONResponse({"status": "ERROR", "message": f"no customer account {account_id!r}"}, 404)
        return JSONResponse(profile.as_json())

    def routes(self) -> list[Route]:
        return [
            Route("/", self.overview, methods=["GET"]),
            Route("/api/summary", self.summary_json, methods=["GET"]),
            Route("/users/{user_id:path}", self.user_page, methods=["GET"]),
            Route("/api/users/{user_id:path}", self.user_json, methods=["GET"]),
            Route("/accounts/{account_id:path}", self.account_page, methods=["GET"]),
            Route("/api/accounts/{account_id:path}", self.account_json, methods=["GET"]),
        ]

    def close(self) -> None:
        self._connections.close()


def exc_response(request: Request, exc: BadQuery) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"status": "INVALID_INPUT", "message": str(exc)}, 400)
    return _error_page(str(exc), 400, _base(request))


def _filters(params: Mapping[str, str]) -> tuple[Period, str | None, str | None]:
    unknown = sorted(set(params) - {"app", "account", "days", "from", "to"})
    if unknown:
        raise BadQuery(
            f"unknown query parameter {unknown[0]!r}; the dashboard takes app, account, days, from, to"
        )
    return parse_period(params), text(params, "app"), text(params, "account")

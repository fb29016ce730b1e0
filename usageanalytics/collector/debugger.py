"""``/debugger``, the live request stream, and its data as JSON at ``/api/requests``.

The page polls ``/api/requests?after=<newest id>`` every second, so a request shows within about
a second of arriving; the JSON is the same list a script or a test can read:

    GET /api/requests?limit=50&outcome=rejected&app_id=shop&user_id=dana
    {"requests": [{"id": 7, "received_at": "2024-05-01T10:00:00.123Z", "method": "POST",
                   "path": "/v4/usageanalytics/event", "status_code": 400, "outcome": "rejected",
                   "reason": "events[0].loggedAtTime: ...", "body": {...}, "answer": {...}, ...}]}
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from . import requestlog
from .params import BadQuery, choice, integer, text
from .store import Connections, Store
from .templating import render

MAX_LIMIT = 1000


def bad_query(exc: BadQuery) -> JSONResponse:
    return JSONResponse({"status": "INVALID_INPUT", "message": str(exc)}, 400)


def request_filters(params: Any) -> dict[str, Any]:
    """The filters of ``/api/requests``, checked."""
    return {
        "limit": integer(params, "limit", 100, 1, MAX_LIMIT),
        "outcome": choice(params, "outcome", (requestlog.ACCEPTED, requestlog.REJECTED)),
        "app_id": text(params, "app_id"),
        "user_id": text(params, "user_id"),
        "account_id": text(params, "account_id"),
        "event": text(params, "event"),
        "after": integer(params, "after", None, 0, 2**62),
        "before": integer(params, "before", None, 0, 2**62),
    }


class Debugger:
    """The request log's pages, reading on their own connections in worker threads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._connections = Connections(store.path)

    def requests(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        self.store.flush_log()
        keep = self.store.request_log.keep if self.store.request_log is not None else None
        return requestlog.read(self._connections.get(), keep=keep, **filters)

    def app_ids(self) -> list[str]:
        return sorted(requestlog.app_ids(self._connections.get()))

    async def requests_json(self, request: Request) -> Response:
        try:
            filters = request_filters(request.query_params)
        except BadQuery as exc:
            return bad_query(exc)
        found = await run_in_threadpool(self.requests, filters)
        return JSONResponse({"requests": found})

    async def page(self, request: Request) -> Response:
        apps = await run_in_threadpool(self.app_ids)
        keep = self.store.request_log.keep if self.store.request_log is not None else 0
        html = render("debugger.html", page="debugger", apps=apps, keep=keep, base=_base(request))
        return HTMLResponse(html)

    def routes(self) -> list[Route]:
        return [
            Route("/debugger", self.page, methods=["GET"]),
            Route("/api/requests", self.requests_json, methods=["GET"]),
        ]

    def close(self) -> None:
        self._connections.close()


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")

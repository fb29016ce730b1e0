"""The collector's ASGI app (Starlette): every endpoint of the spec, and the dashboard.

    from usageanalytics.collector.app import create_app
    app = create_app("collector.sqlite", api_key=None)   # serve with any ASGI server

Paths are served under ``/v4/`` (tracking, case management) and ``/dashboards/v4/financial/``
(financial data), with or without a trailing slash. Where the spec's own paths are ambiguous
(``GET /tickets{appId}``, ``DELETE /tickets{id}``, ``tickets/comment`` or ``tickets/comments``)
every reasonable reading is served: a path segment, a query parameter, or a body field.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import financial, validation
from .access import Access
from .casework import Casework
from .protocol import (
    DEFAULT_MAX_BODY_BYTES,
    TOO_DEEP,
    ApiError,
    check_auth,
    invalid_input,
    parse_json,
    read_body,
)
from .requestlog import DEFAULT_KEEP, RequestLog
from .store import NotFound, Store, record_request, utc_timestamp
from .tracking import Tracking, idempotency_key
from .validation import InvalidInput

logger = logging.getLogger("usageanalytics.collector")

SUCCESS = {"status": "SUCCESS"}
REPEATED = "a repeat of an earlier request (same idempotency id): acknowledged, not stored again"
Answer = tuple[int, dict[str, Any]]
Handler = Callable[..., Answer]
Endpoint = Callable[..., Awaitable[Response]]


def api_endpoint(body: str) -> Callable[[Handler], Endpoint]:
    """Wrap a handler with auth, body reading (``required`` or ``optional``), errors and the
    request log.

    The handler is called as ``handler(api, request, body, **bound)``, ``bound`` being what its
    route fixed (the tracking path, the financial kind). Whatever a client sends, the answer is
    the API's JSON, never a 500: input too deep for Python or not storable as UTF-8 is a 400.
    """

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(self: Api, request: Request, **bound: str) -> Response:
            received_at = utc_timestamp()
            raw = b""
            payload: Any = None
            try:
                raw = await read_body(request, self.max_body_bytes)
                content_type = request.headers.get("content-type", "")
                try:
                    check_auth(request, self.api_key)
                except ApiError:
                    payload = _described(raw, content_type)
                    raise
                payload = parse_json(raw, content_type, required=body == "required")
                status_code, answer = handler(self, request, payload, **bound)
            except InvalidInput as exc:
                error = invalid_input(str(exc))
            except NotFound as exc:
                error = ApiError(404, "ERROR", str(exc))
            except ApiError as exc:
                error = exc
            except RecursionError:
                error = invalid_input(TOO_DEEP)
            except UnicodeError:
                error = invalid_input("the body holds text that cannot be stored as UTF-8")
            else:
                note = getattr(request.state, "log_note", None)
                self.log(request, received_at, status_code, answer, raw, payload, note=note)
                return JSONResponse(answer, status_code)
            logger.warning(
                "rejected %s %s: %d %s", request.method, request.url.path, error.status_code, error.message
            )
            answer = {"status": error.status, "message": error.message}
            self.log(request, received_at, error.status_code, answer, raw, payload, reason=error.message)
            return error.response()

        return endpoint

    return wrap


def _described(raw: bytes, content_type: str) -> Any:
    """The body of a refused request as JSON, for the log only (None if it is not JSON)."""
    try:
        return parse_json(raw, content_type, required=False)
    except (ApiError, RecursionError):
        return None


def _params(request: Request, body: Any) -> dict[str, Any]:
    """A GET's parameters: its query string, over a JSON body if a client sent one."""
    merged = dict(body) if isinstance(body, dict) else {}
    merged.update(request.query_params)
    return merged


def _identifier(request: Request, body: Any, name: str = "id") -> str:
    """An id given as the path's ``value``, a query parameter or a body field (all must agree)."""
    found = {
        value
        for value in (
            request.path_params.get("value"),
            request.query_params.get(name),
            body.get(name) if isinstance(body, dict) else None,
        )
        if isinstance(value, str) and value.strip()
    }
    if not found:
        raise InvalidInput(name, "is required (in the path, the query string or the body)")
    if len(found) > 1:
        raise InvalidInput(name, f"the path, query string and body name different values: {sorted(found)}")
    return found.pop()


class Api:
    """The request handlers, bound to one store and API key."""

    def __init__(
        self, store: Store, api_key: str | None, max_body_bytes: int, request_log: RequestLog
    ) -> None:
        self.store = store
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.request_log = request_log

    def log(
        self,
        request: Request,
        received_at: str,
        status_code: int,
        answer: dict[str, Any],
        raw: bytes,
        payload: Any,
        *,
        reason: str | None = None,
        note: str | None = None,
    ) -> None:
        self.request_log.add(
            received_at=received_at,
            method=request.method,
            path=request.url.path,
            status_code=status_code,
            answer=answer,
            raw=raw,
            payload=payload,
            reason=reason,
            note=note,
        )

    @contextlib.contextmanager
    def _transaction(
        self, request: Request, body: Any, key: str | None = None
    ) -> Iterator[tuple[sqlite3.Connection, int | None, str]]:
        """Log the request and yield (transaction, request id or None if repeated, now)."""
        now = utc_timestamp()
        with self.store.transaction() as db:
            request_id = record_request(db, request.method, request.url.path, body, key, now)
            yield db, request_id, now

    # -- tracking -----------------------------------------------------------------------------

    @api_endpoint(body="required")
    def tracking(self, request: Request, body: Any, path: str) -> Answer:
        validation.validate_tracking(path, body, strict=False)
        with self._transaction(request, body, idempotency_key(path, body)) as (db, request_id, now):
            if request_id is None:
                logger.info(
                    "repeated request %s %s acknowledged, not stored again", path, body.get("idempotencyId")
                )
                request.state.log_note = REPEATED
            else:
                Tracking(db, request_id, now).apply(path, body)
        return 200, SUCCESS

    # -- financial ----------------------------------------------------------------------------

    @api_endpoint(body="required")
    def financial_save(self, request: Request, body: Any, kind: str) -> Answer:
        validation.validate_financial(kind, body, strict=False)
        with self._transaction(request, body) as (db, _, now):
            financial.SAVERS[kind](db, body, now)
        return 200, SUCCESS

    @api_endpoint(body="optional")
    def financial_delete(self, request: Request, body: Any, kind: str) -> Answer:
        record_id = request.path_params["record_id"]
        app_id = record_id
        if kind != "app-financial-data":
            params = _params(request, body)
            validation.validate_financial_delete(params, strict=False)
            app_id = params["appId"]
        with self._transaction(request, body or {"appId": app_id}) as (db, _, _now):
            financial.delete(db, kind, app_id, record_id)
        return 200, SUCCESS

    # -- case management ----------------------------------------------------------------------

    def _casework(self) -> Casework:
        """For reads: the handler thread's own connection, no transaction."""
        return Casework(self.store.connection(), utc_timestamp())

    def _casework_write(
        self, request: Request, body: Any, status: int, action: Callable[[Casework], dict[str, Any]]
    ) -> Answer:
        """Run ``action`` in the request's transaction (validation inside it rolls it all back)."""
        with self._transaction(request, body) as (db, _, now):
            return status, action(Casework(db, now))

    @api_endpoint(body="optional")
    def contacts_get(self, request: Request, body: Any) -> Answer:
        return 200, self._casework().contacts_page(_params(request, body))

    @api_endpoint(body="required")
    def contacts_post(self, request: Request, body: Any) -> Answer:
        return self._casework_write(request, body, 200, lambda work: work.save_contacts(body))

    @api_endpoint(body="required")
    def agents_post(self, request: Request, body: Any) -> Answer:
        return self._casework_write(request, body, 200, lambda work: work.save_agents(body))

    @api_endpoint(body="optional")
    def agents_delete(self, request: Request, body: Any) -> Answer:
        agent_id = _identifier(request, body)
        return self._casework_write(
            request, body or {"id": agent_id}, 200, lambda work: work.delete_agent(agent_id)
        )

    @api_endpoint(body="optional")
    def tickets_get(self, request: Request, body: Any) -> Answer:
        return 200, self._casework().list_tickets(_identifier(request, body, "appId"))

    @api_endpoint(body="required")
    def tickets_post(self, request: Request, body: Any) -> Answer:
        return self._casework_write(request, body, 201, lambda work: work.create_ticket(body))

    @api_endpoint(body="required")
    def tickets_put(self, request: Request, body: Any) -> Answer:
        update = dict(validation.require_object(body), id=_identifier(request, body))
        return self._casework_write(request, update, 200, lambda work: work.update_ticket(update))

    @api_endpoint(body="optional")
    def tickets_delete(self, request: Request, body: Any) -> Answer:
        ticket_id = _identifier(request, body)
        return self._casework_write(
            request, body or {"id": ticket_id}, 200, lambda work: work.delete_ticket(ticket_id)
        )

    @api_endpoint(body="optional")
    def comments_get(self, request: Request, body: Any) -> Answer:
        return 200, self._casework().list_comments(_params(request, body))

    @api_endpoint(body="required")
    def comments_post(self, request: Request, body: Any) -> Answer:
        return self._casework_write(request, body, 201, lambda work: work.create_comment(body))

    @api_endpoint(body="required")
    def comments_put(self, request: Request, body: Any) -> Answer:
        update = dict(validation.require_object(body), id=_identifier(request, body))
        return self._casework_write(request, update, 200, lambda work: work.update_comment(update))


class StripTrailingSlash:
    """Serve ``/orders/`` as ``/orders``: the spec's own curl example ends in a slash, and a
    redirect would turn a POST into a GET in many clients."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["path"]) > 1 and scope["path"].endswith("/"):
            scope = dict(scope, path=scope["path"].rstrip("/") or "/")
        await self.app(scope, receive, send)


def _routes(api: Api) -> list[Route]:
    def bind(handler: Endpoint, **bound: str) -> Callable[[Request], Awaitable[Response]]:
        return functools.partial(handler, api, **bound)

    routes = [
        Route(f"/v4/{path}", bind(Api.tracking, path=path), methods=["POST"])
        for path in validation.TRACKING_VALIDATORS
    ]
    for path in ("/v4/contacts", "/v4/tickets/contacts"):
        routes.append(Route(path, bind(Api.contacts_get), methods=["GET"]))
        routes.append(Route(path, bind(Api.contacts_post), methods=["POST"]))
    routes += [
        Route("/v4/agents", bind(Api.agents_post), methods=["POST"]),
        Route("/v4/agents", bind(Api.agents_delete), methods=["DELETE"]),
        Route("/v4/agents/{value}", bind(Api.agents_delete), methods=["DELETE"]),
    ]
    for path in ("/v4/tickets/comments", "/v4/tickets/comment"):
        routes.append(Route(path, bind(Api.comments_get), methods=["GET"]))
        routes.append(Route(path, bind(Api.comments_post), methods=["POST"]))
        routes.append(Route(path, bind(Api.comments_put), methods=["PUT"]))
        routes.append(Route(path + "/{value}", bind(Api.comments_put), methods=["PUT"]))
    for path in ("/v4/tickets", "/v4/tickets/{value}", "/v4/tickets{value}"):
        routes.append(Route(path, bind(Api.tickets_get), methods=["GET"]))
        routes.append(Route(path, bind(Api.tickets_delete), methods=["DELETE"]))
    for path in ("/v4/tickets", "/v4/tickets/{value}"):
        routes.append(Route(path, bind(Api.tickets_put), methods=["PUT"]))
    routes.append(Route("/v4/tickets", bind(Api.tickets_post), methods=["POST"]))
    for kind in validation.FINANCIAL_VALIDATORS:
        base = f"/dashboards/v4/financial/{kind}"
        routes.append(Route(base, bind(Api.financial_save, kind=kind), methods=["POST"]))
        routes.append(Route(base + "/{record_id}", bind(Api.financial_delete, kind=kind), methods=["DELETE"]))
    return routes


LOGGED_STRAYS = ("/v4", "/dashboards/")


async def _no_route(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answered in the API's JSON shape, not as plain text.

    Those that look meant for the API (anything but a browser's GET outside it, such as
    ``/favicon.ico``) go to the request log: a wrong endpoint is a common first-hour mistake.
    """
    status_code = exc.status_code if isinstance(exc, HTTPException) else 500
    if status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = f"no endpoint {request.method} {request.url.path}"
    headers = getattr(exc, "headers", None)
    api: Api | None = getattr(request.app.state, "api", None)
    if api is not None and (request.method != "GET" or request.url.path.startswith(LOGGED_STRAYS)):
        received_at = utc_timestamp()
        try:
            raw = await read_body(request, api.max_body_bytes)
        except ApiError:
            raw = b""
        payload = _described(raw, request.headers.get("content-type", ""))
        answer = {"status": "ERROR", "message": message}
        api.log(request, received_at, status_code, answer, raw, payload, reason=message)
    return JSONResponse({"status": "ERROR", "message": message}, status_code, headers=headers)


def create_app(
    db_path: str | Path,
    api_key: str | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    request_log_size: int = DEFAULT_KEEP,
    dashboard_token: str | None = None,
    loopback_only: bool = True,
) -> Starlette:
    """The collector as an ASGI app storing into the SQLite file ``db_path``.

    ``api_key=None`` accepts any key but still requires Basic auth with user ``apikey``.
    ``request_log_size`` is how many requests the debugger keeps (0: none). ``dashboard_token``
    protects the dashboard and read API (required to serve beyond loopback). ``loopback_only``
    refuses requests naming a foreign ``Host``, the defence against DNS rebinding: set it False
    only when the server listens beyond loopback.
    """
    request_log = RequestLog(request_log_size)
    store = Store(db_path, request_log)
    api = Api(store, api_key, max_body_bytes, request_log)
    from .dashboard import Dashboard
    from .debugger import Debugger

    dashboard = Dashboard(store.path)
    debugger = Debugger(store)

    async def write_log_when_idle() -> None:
        while True:
            await asyncio.sleep(0.25)
            if request_log.pending:
                store.flush_log()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer = asyncio.create_task(write_log_when_idle())
        yield
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        store.flush_log()
        dashboard.close()
        debugger.close()
        store.close()

    app = Starlette(
        routes=[*dashboard.routes(), *debugger.routes(), *_routes(api)],
        middleware=[
            Middleware(Access, loopback_only=loopback_only, dashboard_token=dashboard_token),
            Middleware(StripTrailingSlash),
        ],
        lifespan=lifespan,
        exception_handlers={404: _no_route, 405: _no_route},
    )
    app.state.store = store
    app.state.api = api
    return app

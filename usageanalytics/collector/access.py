"""Who may reach what: the DNS-rebinding guard, the dashboard token and CORS.

- **Host.** A collector on loopback answers only requests naming a loopback host
  (``localhost``, ``127.0.0.1``, ``[::1]``). A web page that rebinds its own domain to 127.0.0.1
  still sends its own name as ``Host``, so it is refused before it can read anything.
- **Dashboard token.** With a token, the dashboard and the read API (everything but the v4 API,
  which has its Basic auth) need it: as ``Authorization: Bearer <token>``, or once as
  ``?token=<token>``, which sets an HttpOnly cookie and redirects to the same page without it.
- **CORS.** Only the tracking endpoints (``/v4/usageanalytics/...``) answer other origins, for
  SDKs running in a browser; the dashboard and the read API send no CORS headers at all.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlencode

from starlette.datastructures import URL, Headers, QueryParams
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

TRACKING_PREFIX = "/v4/usageanalytics/"
API_PREFIXES = ("/v4/", "/dashboards/v4/")
COOKIE = "usageanalytics_dashboard"


def is_loopback_host(host_header: str) -> bool:
    """True for ``localhost``, ``127.x.x.x`` and ``[::1]``, with or without a port."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Access:
    """ASGI middleware applying the rules above to every HTTP request."""

    def __init__(self, app: ASGIApp, *, loopback_only: bool, dashboard_token: str | None) -> None:
        self.app = app
        self.loopback_only = loopback_only
        self.token = dashboard_token or None
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope["path"]
        host = headers.get("host")
        if self.loopback_only and host is not None and not is_loopback_host(host):
            refused = PlainTextResponse(
                f"Host {host!r} is not this collector: it listens on loopback only, and answers "
                "requests for localhost, 127.0.0.1 or [::1] (a guard against DNS rebinding).",
                status_code=400,
            )
            await refused(scope, receive, send)
            return
        if path.startswith(TRACKING_PREFIX):
            await self.cors(scope, receive, send)
            return
        if self.token is not None and not path.startswith(API_PREFIXES):
            answer = self._check_token(scope, headers)
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _check_token(self, scope: Scope, headers: Headers) -> Response | None:
        """None when the request carries the token; else the answer to send instead."""
        assert self.token is not None
        expected = self.token.encode()

        def matches(value: str | None) -> bool:
            return value is not None and hmac.compare_digest(value.encode(), expected)

        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and matches(given.strip()):
            return None
        if matches(cookie_parser(headers.get("cookie", "")).get(COOKIE)):
            return None
        url = URL(scope=scope)
        query = QueryParams(url.query)
        if matches(query.get("token")):
            rest = [(k, v) for k, v in query.multi_items() if k != "token"]
            target = url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return response
        return PlainTextResponse(
            "This collector's dashboard needs its token: open it once as /?token=<token> (the value "
            "given to --dashboard-token or USAGEANALYTICS_DASHBOARD_TOKEN), or send "
            "'Authorization: Bearer <token>'.",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

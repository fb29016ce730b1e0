"""Serve a test site from a real server process on 127.0.0.1, in a chosen import order.

    python -m tests.integrations.apps.serve SERVER ORDER [--wrap]

SERVER: ``flask`` (Werkzeug's threaded server), ``django-wsgi`` (Django's own threaded
development server) or ``django-asgi`` (uvicorn). ORDER: ``app-first`` (framework imported and
app created, then ``configure()``), ``framework-first`` (framework imported, ``configure()``,
then the app), ``configure-first`` (``configure()`` before the framework is imported at all).
``--wrap`` wraps the app's WSGI or ASGI callable in another middleware before ``configure()``
(or at once, in ``configure-first``). The SDK reads its app id, key and endpoint from the
environment. Prints ``PORT <n>`` when listening; stops, flushing the SDK, when stdin closes.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

FRAMEWORK_MODULES = {"flask": "flask", "django-wsgi": "django", "django-asgi": "django"}


def configure() -> None:
    import usageanalytics as ua

    # Nothing is sent before shutdown: the guest's records are still queued when they log in.
    ua.configure(
        customer_account_id="acct-1",
        collect_device_attributes=False,
        debounce_window=60.0,
        flush_interval=3600.0,
    )


def import_framework(server: str) -> None:
    if server == "flask":
        import flask  # noqa: F401
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.apps.django_site.settings")
        import django
        import django.core.handlers.base

        django.setup()


class HeaderMiddleware:
    """Another library's WSGI middleware, wrapped around the app before the SDK is configured."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, ("X-Wrapped", "1")], *args)

        return self.app(environ, start)


class AsgiHeaderMiddleware:
    """The same for ASGI."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), (b"x-wrapped", b"1")])
            await send(message)

        await self.app(scope, receive, sending)


def create_app(server: str, wrap: bool) -> Any:
    if server == "flask":
        from tests.integrations.apps.flask_site import create_app as create_flask_app

        flask_app = create_flask_app()
        if wrap:
            flask_app.wsgi_app = HeaderMiddleware(flask_app.wsgi_app)  # type: ignore[method-assign]
        return flask_app
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if server == "django-wsgi":
        from django.core.wsgi import get_wsgi_application

        wsgi = get_wsgi_application()
        return HeaderMiddleware(wsgi) if wrap else wsgi
    from django.core.asgi import get_asgi_application

    asgi = get_asgi_application()
    return AsgiHeaderMiddleware(asgi) if wrap else asgi


def serve(server: str, app: Any) -> tuple[int, Callable[[], None]]:
    """Start serving in a thread; return the port and a function that stops the server."""
    if server == "flask":
        from werkzeug.serving import make_server

        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd.server_port, httpd.shutdown
    if server == "django-wsgi":
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        django_httpd = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler, allow_reuse_address=False)
        django_httpd.set_app(app)
        threading.Thread(target=django_httpd.serve_forever, daemon=True).start()
        return django_httpd.server_address[1], django_httpd.shutdown
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def stop() -> None:
        uvicorn_server.should_exit = True
        thread.join(timeout=30)

    while not uvicorn_server.started and thread.is_alive():
        threading.Event().wait(0.05)
    return sock.getsockname()[1], stop


def main() -> None:
    server, order = sys.argv[1], sys.argv[2]
    wrap = "--wrap" in sys.argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if order == "app-first":
        import_framework(server)
        app = create_app(server, wrap)
        configure()
    elif order == "framework-first":
        import_framework(server)
        configure()
        app = create_app(server, wrap)
    elif order == "configure-first":
        configure()
        assert FRAMEWORK_MODULES[server] not in sys.modules, "the SDK imported the framework"
        import_framework(server)
        app = create_app(server, wrap)
    else:
        raise SystemExit(f"unknown order {order!r}")
    port, stop = serve(server, app)
    print(f"PORT {port}", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    stop()
    import usageanalytics as ua

    if not ua.shutdown(timeout=30):
        raise SystemExit("the SDK could not deliver everything")


if __name__ == "__main__":
    main()

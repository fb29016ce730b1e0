"""Running the collector: in a background thread (tests, the demo, the pytest fixture) or in the
foreground (``usageanalytics collector``), on uvicorn.

    from usageanalytics.collector.server import run_in_thread
    with run_in_thread("collector.sqlite") as collector:      # port 0: a free port
        ua.configure("app", api_key="any", endpoint=collector.endpoint)
        ...
        collector.events(name="Signed In")
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import platformdirs

from ..settings import is_loopback
from .query import Received

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787


def default_db_path() -> Path:
    """Where ``usageanalytics collector`` keeps its database when no ``--db`` is given."""
    return Path(platformdirs.user_data_dir("usageanalytics", appauthor=False)) / "collector.sqlite"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free port), bound before the server starts so the
    caller knows the address at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every keep-alive response waits 40 ms on Nagle and delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class UnsafeBinding(ValueError):
    """Serving beyond loopback without a dashboard token would publish everything received."""


def check_binding(host: str, dashboard_token: str | None) -> None:
    """Refuse to serve beyond loopback unless the dashboard and read API need a token."""
    if not is_loopback(host) and not dashboard_token:
        raise UnsafeBinding(
            f"listening on {host} would let anyone who can reach it read everything the collector "
            "received: give a dashboard token (--dashboard-token or USAGEANALYTICS_DASHBOARD_TOKEN), "
            "or listen on 127.0.0.1"
        )


def _server(
    db_path: str | Path,
    host: str,
    api_key: str | None,
    log_level: str | None,
    *,
    embedded: bool,
    dashboard_token: str | None = None,
    **options: Any,
) -> Any:
    """A uvicorn server for the app; ``embedded`` (in a thread of someone else's process) leaves
    that process's logging configuration alone, where the command configures uvicorn's own."""
    import uvicorn

    from .app import create_app

    check_binding(host, dashboard_token)
    app = create_app(
        db_path, api_key, dashboard_token=dashboard_token, loopback_only=is_loopback(host), **options
    )
    logging_options: dict[str, Any] = {"log_config": None} if embedded else {}
    config = uvicorn.Config(app, log_level=log_level, lifespan="on", **logging_options)
    return uvicorn.Server(config)


class RunningCollector(Received):
    """A collector serving in a background thread, and the read API over its database."""

    def __init__(self, db_path: Path, url: str, server: Any, thread: threading.Thread) -> None:
        super().__init__(db_path)
        self.url = url
        self._server = server
        self._thread = thread

    @property
    def endpoint(self) -> str:
        """The v4 base URL to give ``configure(endpoint=...)``."""
        return f"{self.url}/v4/"

    @property
    def financial_endpoint(self) -> str:
        return f"{self.url}/dashboards/v4/financial/"

    @property
    def dashboard_url(self) -> str:
        return f"{self.url}/"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (in-flight requests finish) and close the database connections."""
        self._server.should_exit = True
        self._thread.join(timeout)
        self.close()

    def __enter__(self) -> RunningCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_thread(
    db_path: str | Path,
    host: str = DEFAULT_HOST,
    port: int = 0,
    api_key: str | None = None,
    *,
    log_level: str | None = None,
    startup_timeout: float = 30.0,
    **options: Any,
) -> RunningCollector:
    """Start a collector on ``host:port`` in a daemon thread; return once it accepts requests.

    Its messages go to the ``usageanalytics.collector`` and ``uvicorn`` loggers of this process,
    configured as the process configured them (``log_level`` sets uvicorn's loggers' level).
    ``options`` go to :func:`~usageanalytics.collector.app.create_app` (``dashboard_token``,
    ``request_log_size``, ``max_body_bytes``).
    """
    check_binding(host, options.get("dashboard_token"))
    sock = bind(host, port)
    server = _server(db_path, host, api_key, log_level, embedded=True, **options)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="usageanalytics-collector", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the collector did not start (see the usageanalytics.collector log)")
        time.sleep(0.01)
    return RunningCollector(Path(db_path).expanduser(), base_url(sock), server, thread)


def serve(
    db_path: str | Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
    *,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
    **options: Any,
) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM; ``on_ready(url)`` once listening."""
    check_binding(host, options.get("dashboard_token"))
    sock = bind(host, port)
    server = _server(db_path, host, api_key, log_level, embedded=False, **options)
    if on_ready is not None:
        on_ready(base_url(sock))
    with _absorb_exit_signals():
        server.run(sockets=[sock])


@contextlib.contextmanager
def _absorb_exit_signals() -> Iterator[None]:
    """Let Ctrl-C and SIGTERM end the process with status 0 after uvicorn's graceful shutdown.

    uvicorn handles both signals while it runs, then raises the one it caught again once it has
    stopped; with these no-op handlers in place that second delivery is absorbed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

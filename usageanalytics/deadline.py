"""A total deadline for one HTTP exchange, on the synchronous side.

httpx's timeouts bound each socket operation: a server that sends one byte a second never trips
a two-second read timeout, and a request with ``timeout=2`` can take minutes. Threads cannot be
cancelled, and a watchdog closing the socket would need a handle on it that httpx gives only once
the headers are in. So the deadline goes where the waiting happens: a thin httpcore network
backend gives every connect, TLS handshake, write and read only what is left of the exchange's
deadline (held in a context variable), and raises httpcore's own timeout once nothing is left.
No extra thread, and the connection is closed by httpcore as after any timeout.

:class:`DeadlineTransport` is an httpx transport over httpcore pools built with that backend,
honouring the proxy environment variables as httpx does. Without :func:`deadline` around a
request it behaves like httpx's own transport. Name resolution is the one wait it cannot bound
(``getaddrinfo`` cannot be interrupted); the system resolver's own timeout applies there.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
import typing
import urllib.request
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

import httpcore
import httpx

# Writes are cut into pieces so that each gets the time left: a plain socket's sendall keeps one
# deadline for the whole buffer, but a TLS socket's waits up to its timeout once per record.
_WRITE_PIECE = 16 * 1024


class Deadline:
    """When the exchange must end (monotonic seconds), and whether its request began to leave.

    ``sent`` turns True at the first write on the connection (the request line and headers, or
    a proxy's CONNECT): from then on the server may have the request. A TLS handshake is not a
    write of the request.
    """

    __slots__ = ("ends", "sent")

    def __init__(self, ends: float) -> None:
        self.ends = ends
        self.sent = False


_DEADLINE: ContextVar[Deadline | None] = ContextVar("usageanalytics_http_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every socket operation inside the block to end ``seconds`` from now (monotonic)."""
    bound = Deadline(time.monotonic() + seconds)
    token = _DEADLINE.set(bound)
    try:
        yield bound
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` shortened to what is left of the current deadline; raises once none is left."""
    bound = _DEADLINE.get()
    if bound is None:
        return timeout
    left = bound.ends - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._pieces = stream.get_extra_info("ssl_object") is not None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        bound = _DEADLINE.get()
        if bound is not None:
            bound.sent = True  # the request begins to leave (not a trace hook: those cost more)
        if not self._pieces or len(buffer) <= _WRITE_PIECE:
            self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))
            return
        for start in range(0, len(buffer), _WRITE_PIECE):
            piece = buffer[start : start + _WRITE_PIECE]
            self._stream.write(piece, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


# httpcore's errors as httpx's, most specific first, as httpx's own transport maps them.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


Pool = httpcore.ConnectionPool  # HTTPProxy and SOCKSProxy are ConnectionPools too


class DeadlineTransport(httpx.BaseTransport):
    """httpx's HTTP/1.1 transport, with every socket operation bounded by :func:`deadline`.

    Proxies come from ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` (when
    ``trust_env``), read once, as httpx reads them; ``socks5://`` needs ``httpx[socks]``.
    """

    def __init__(self, *, limits: httpx.Limits, trust_env: bool = True) -> None:
        self._ssl_context = httpx.create_ssl_context(trust_env=trust_env)
        self._limits = limits
        self._backend = _DeadlineBackend(httpcore.SyncBackend())
        self._proxies = urllib.request.getproxies() if trust_env else {}
        self._pools: dict[str | None, Pool] = {}
        self._routes: dict[tuple[str, str, int | None], str | None] = {}
        self._lock = threading.Lock()

    def _proxy_for(self, url: httpx.URL) -> str | None:
        key = (url.scheme, url.host, url.port)
        if key not in self._routes:
            proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
            if proxy and "://" not in proxy:
                proxy = "http://" + proxy
            host = url.host if url.port is None else f"{url.host}:{url.port}"
            self._routes[key] = None if not proxy or urllib.request.proxy_bypass(host) else proxy
        return self._routes[key]

    def _new_pool(self, proxy: str | None) -> Pool:
        options: dict[str, typing.Any] = {
            "ssl_context": self._ssl_context,
            "max_connections": self._limits.max_connections,
            "max_keepalive_connections": self._limits.max_keepalive_connections,
            "keepalive_expiry": self._limits.keepalive_expiry,
            "network_backend": self._backend,
        }
        if proxy is None:
            return httpcore.ConnectionPool(**options)
        described = httpx.Proxy(proxy)
        proxy_url = httpcore.URL(
            scheme=described.url.raw_scheme,
            host=described.url.raw_host,
            port=described.url.port,
            target=described.url.raw_path,
        )
        if described.url.scheme in ("socks5", "socks5h"):
            return httpcore.SOCKSProxy(proxy_url=proxy_url, proxy_auth=described.raw_auth, **options)
        return httpcore.HTTPProxy(
            proxy_url=proxy_url,
            proxy_auth=described.raw_auth,
            proxy_headers=described.headers.raw,
            proxy_ssl_context=described.ssl_context,
            **options,
        )

    def _pool_for(self, url: httpx.URL) -> Pool:
        with self._lock:
            proxy = self._proxy_for(url)
            pool = self._pools.get(proxy)
            if pool is None:
                pool = self._pools[proxy] = self._new_pool(proxy)
            return pool

    def send_bytes(
        self, url: httpx.URL, request: httpcore.Request, max_bytes: int
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        """Send a prepared httpcore request to ``url`` and read at most ``max_bytes`` of the
        answer's body: ``(status, headers, body, cut at the cap)``. Raises httpx's errors.

        The sender's hot path: httpx's request and response objects, its auth flow, cookie jar
        and redirect handling cost more than the exchange itself, and a post needs none of them.
        """
        with _as_httpx_errors():
            answer = self._pool_for(url).handle_request(request)
            try:
                body = bytearray()
                assert isinstance(answer.stream, Iterable)
                for chunk in answer.stream:
                    body += chunk
                    if len(body) > max_bytes:
                        return answer.status, answer.headers, bytes(body[:max_bytes]), True
                return answer.status, answer.headers, bytes(body), False
            finally:
                answer.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            answer = self._pool_for(request.url).handle_request(core_request)
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_ResponseStream(answer.stream),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            with _as_httpx_errors():
                pool.close()

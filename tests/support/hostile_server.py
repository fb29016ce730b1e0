"""A hostile HTTP server on 127.0.0.1: answers that drip, hang, never end, or cannot be parsed.

It speaks raw HTTP/1.1 over sockets so a test controls every byte and its timing. Each request
is answered by the next queued :class:`Behaviour` (``server.then(...)``), or by ``default``.
Handler threads end as soon as the client goes away, so tests can check that nothing piles up:
``server.wait_idle()`` waits until no handler runs.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Writer = Callable[[socket.socket, "Stop"], None]


class ClientGone(Exception):
    """The client closed the connection (or the server is stopping)."""


@dataclass
class Stop:
    event: threading.Event

    def sleep(self, sock: socket.socket, seconds: float) -> None:
        """Wait ``seconds``, ending early (with ClientGone) when the client closes or we stop."""
        ends = time.monotonic() + seconds
        while (left := ends - time.monotonic()) > 0:
            if self.event.is_set():
                raise ClientGone
            readable, _, _ = select.select([sock], [], [], min(left, 0.05))
            if readable:
                try:  # peek at the TCP bytes (under TLS too): none means the client closed
                    if not socket.socket.recv(sock, 1, socket.MSG_PEEK):
                        raise ClientGone
                except OSError:
                    raise ClientGone from None
                # The client sent more (a pipelined request): we never read it; just wait.
                time.sleep(min(left, 0.05))


@dataclass
class Behaviour:
    """How to answer one request; built with the helpers below."""

    write: Writer
    keep_alive: bool = False
    name: str = ""


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        raise ClientGone from None


def head(status: int = 200, headers: dict[str, str] | None = None, length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} Hostile".encode()]
    fields = {"Content-Type": "application/json", **(headers or {})}
    if length is not None:
        fields["Content-Length"] = str(length)
    lines += [f"{key}: {value}".encode() for key, value in fields.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Behaviour:
    """A complete, well-framed answer with any body (deep JSON, invalid UTF-8, a list, ...)."""

    def write(sock: socket.socket, stop: Stop) -> None:
        _send(sock, head(status, headers, len(body)) + body)

    return Behaviour(write, keep_alive=True, name=f"answer {status}")


def drip_headers(interval: float = 0.2, count: int = 100) -> Behaviour:
    """The status line, then a header one byte every ``interval`` seconds, ``count`` bytes long.

    Every byte comes well within a read timeout, so only a total deadline stops the wait
    (``count * interval`` seconds in all).
    """

    def write(sock: socket.socket, stop: Stop) -> None:
        _send(sock, b"HTTP/1.1 200 OK\r\nX-Drip: ")
        for _ in range(count):
            stop.sleep(sock, interval)
            _send(sock, b"a")
        _send(sock, b"\r\nContent-Length: 21\r\n\r\n" + b'{"status": "SUCCESS"}')

    return Behaviour(write, name="drip headers")


def drip_body(interval: float = 0.2, count: int = 100, status: int = 200) -> Behaviour:
    """Complete headers, then a JSON body one byte every ``interval`` seconds (``count`` bytes)."""

    def write(sock: socket.socket, stop: Stop) -> None:
        body = b'{"status": "SUCCESS"' + b" " * max(count - 21, 0) + b"}"
        _send(sock, head(status, length=len(body)))
        for byte in body:
            stop.sleep(sock, interval)
            _send(sock, bytes([byte]))

    return Behaviour(write, name="drip body")


def hang_after_headers() -> Behaviour:
    """Complete headers announcing a body that never comes."""

    def write(sock: socket.socket, stop: Stop) -> None:
        _send(sock, head(200, length=100))
        stop.sleep(sock, 3600)

    return Behaviour(write, name="hang after headers")


def silence() -> Behaviour:
    """Read the request and never answer."""

    def write(sock: socket.socket, stop: Stop) -> None:
        stop.sleep(sock, 3600)

    return Behaviour(write, name="silence")


def endless_body(status: int = 200, chunk: bytes = b"[" * 65536) -> Behaviour:
    """A chunked body sent as fast as the client reads it, forever."""

    def write(sock: socket.socket, stop: Stop) -> None:
        _send(sock, head(status, {"Transfer-Encoding": "chunked"}))
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while not stop.event.is_set():
            _send(sock, framed)
        raise ClientGone

    return Behaviour(write, name="endless body")


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body_length: int


class HostileServer:
    """``with HostileServer() as server:``; ``server.endpoint`` is a v4-style base URL."""

    def __init__(
        self,
        *,
        read_requests: bool = True,
        receive_buffer: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.default: Behaviour = answer(200, b'{"status": "SUCCESS"}')
        self.requests: list[Seen] = []
        self.read_requests = read_requests  # False: never read a request (the client's write stalls)
        self.tls = tls  # a server context: speak HTTPS
        self._queue: list[Behaviour] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._stop = Stop(threading.Event())
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if receive_buffer is not None:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)

    @property
    def base(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def endpoint(self) -> str:
        return self.base + "/v4/"

    @property
    def financial_endpoint(self) -> str:
        return self.base + "/dashboards/v4/financial/"

    def then(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def active(self) -> int:
        with self._lock:
            return self._active

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once no handler thread runs (each ends when its client closes)."""
        ends = time.monotonic() + timeout
        with self._idle:
            while self._active:
                left = ends - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.1))
        return True

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.event.set()
        self._thread.join(timeout=30)
        self._listener.close()
        self.wait_idle(timeout=30)

    def _accept(self) -> None:
        while not self._stop.event.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._active += 1
            threading.Thread(target=self._serve, args=(conn,), name="hostile-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10.0)  # a client that stops reading cannot hold a sendall forever
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ValueError):
                    conn.close()
                    raise ClientGone from None
            with conn:
                if not self.read_requests:
                    self._stop.sleep(conn, 3600)
                    return
                for seen in self._requests_on(conn):
                    with self._lock:
                        self.requests.append(seen)
                        behaviour = self._queue.pop(0) if self._queue else self.default
                    behaviour.write(conn, self._stop)
                    if not behaviour.keep_alive:
                        return
        except ClientGone:
            pass
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _requests_on(self, conn: socket.socket) -> Iterator[Seen]:
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                self._wait_readable(conn)
                data = conn.recv(65536)
                if not data:
                    return
                buffered += data
            header, buffered = buffered.split(b"\r\n\r\n", 1)
            request_line, *lines = header.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {}
            for line in lines:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            while len(buffered) < length:
                self._wait_readable(conn)
                data = conn.recv(65536)
                if not data:
                    return
                buffered += data
            buffered = buffered[length:]
            yield Seen(method, path, headers, length)

    def _wait_readable(self, conn: socket.socket) -> None:
        if isinstance(conn, ssl.SSLSocket) and conn.pending():
            return
        while not self._stop.event.is_set():
            readable, _, _ = select.select([conn], [], [], 0.05)
            if readable:
                return
        raise ClientGone


@dataclass
class Resources:
    """Threads and open file descriptors of this process, to compare before and after."""

    threads: int = field(default_factory=threading.active_count)
    fds: int = field(default_factory=lambda: _open_fds())


def _open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))

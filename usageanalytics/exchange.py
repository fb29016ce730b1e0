"""One HTTP exchange bounded in time and size, and its answer read without trusting it.

Shared by the sender's :class:`~usageanalytics.transport.Transport` and the REST clients:

* :func:`exchange` / :func:`exchange_async` send a request and read its answer within one total
  deadline (connect, write, headers and body together), and at most ``max_bytes`` of body. The
  sync side bounds every socket operation by the time left (:mod:`.deadline`); the async side
  runs the whole exchange in a cancel scope. Either way a late answer raises
  :class:`DeadlineExceeded`, which says whether the request may have reached the server.
* :func:`post_bytes` is :func:`exchange` for the sender's posts: encoded bytes to a
  :class:`Target` prepared once per path, through the connection pool directly.
* :func:`read_json` parses an answer body or raises :class:`NotJSON`: never RecursionError,
  UnicodeDecodeError or MemoryError, whatever the server sent.
"""

from __future__ import annotations

import contextlib
import reprlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import anyio
import httpcore
import httpx
import orjson

from .deadline import DeadlineTransport, deadline

# No answer of the tracking endpoints needs more than a few bytes; the REST clients' list
# endpoints can be larger, and pass their own cap.
MAX_ANSWER_BYTES = 1024 * 1024
# The spec's answers are a few levels deep; deeper is not an answer (and would make repr() and
# recursive code hit Python's recursion limit).
MAX_ANSWER_DEPTH = 64
MAX_CONNECT_TIMEOUT = 5.0

_BOM = b"\xef\xbb\xbf"
# httpcore trace events after which the request may have reached the server.
_SENDING = ("send_request_headers.started", "send_request_body.started")


class DeadlineExceeded(httpx.TimeoutException):
    """The exchange did not end within its deadline.

    ``request_sent`` is False only when the request certainly never left (no connection yet), so
    resending it cannot make a duplicate; after that the server may have processed it.
    """

    def __init__(self, message: str, *, timeout: float, request_sent: bool) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.request_sent = request_sent


class NotJSON(ValueError):
    """An answer body that is not JSON we accept (invalid, not UTF-8, too deep)."""


@dataclass(frozen=True)
class Answer:
    """What came back: the status, the headers and at most ``max_bytes`` of the body."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    too_large: bool = False  # the body went past the cap; ``content`` holds its start

    def json(self) -> Any:
        """The parsed body; :class:`NotJSON` when it cannot be (or was cut at the cap)."""
        if self.too_large:
            raise NotJSON(f"the answer is larger than {len(self.content)} bytes")
        return read_json(self.content)

    def text(self, limit: int = 500) -> str:
        """The start of the body as text, undecodable bytes replaced: for messages."""
        return self.content[: limit * 4].decode("utf-8", "replace")[:limit]

    @classmethod
    def of(cls, response: httpx.Response, max_bytes: int = MAX_ANSWER_BYTES) -> Answer:
        """An :class:`Answer` from an httpx response whose body was already read."""
        content = response.content
        return cls(response.status_code, response.headers, content[:max_bytes], len(content) > max_bytes)


def read_json(content: bytes) -> Any:
    """Parse an answer body (UTF-8, a byte order mark allowed); :class:`NotJSON` when it is not."""
    if content.startswith(_BOM):
        content = content[len(_BOM) :]
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError as exc:  # also invalid UTF-8, and nesting past orjson's 1024
        raise NotJSON(f"not JSON: {exc}") from None
    if _deeper_than(value, MAX_ANSWER_DEPTH):
        raise NotJSON(f"JSON nested deeper than {MAX_ANSWER_DEPTH} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` deep (without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


_short = reprlib.Repr()
_short.maxlevel = 4
_short.maxstring = 200
_short.maxother = 200
_short.maxlist = _short.maxdict = 10


def shown(value: Any) -> str:
    """A short repr of a value from an answer, safe for any size or depth (for messages)."""
    return _short.repr(value)


def timeouts(timeout: float) -> dict[str, float | None]:
    """httpx's per-operation timeouts for one exchange: the deadline, connect at most 5 s."""
    found = _timeouts.get(timeout)
    if found is None:
        if len(_timeouts) > 64:  # an exit flush asks for what is left of its time: many values
            _timeouts.clear()
        found = _timeouts[timeout] = httpx.Timeout(
            timeout, connect=min(timeout, MAX_CONNECT_TIMEOUT)
        ).as_dict()
    return dict(found)


_timeouts: dict[float, dict[str, float | None]] = {}


def one_line(text: str, limit: int) -> str:
    """Server text fit for a log line or a message: whitespace collapsed, unprintables replaced."""
    flat = " ".join(text.split())[:limit]
    return flat if flat.isprintable() else "".join(ch if ch.isprintable() else "\ufffd" for ch in flat)


class _Progress:
    """httpcore trace hook: notes when the request starts to leave (see :class:`DeadlineExceeded`)."""

    def __init__(self) -> None:
        self.sent = False

    def __call__(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith(_SENDING):
            self.sent = True

    async def asynchronous(self, name: str, info: dict[str, Any]) -> None:
        self(name, info)


def _expired(timeout: float, sent: bool, exc: BaseException) -> DeadlineExceeded:
    error = DeadlineExceeded(
        f"timed out after {timeout:g} s ({type(exc).__name__})", timeout=timeout, request_sent=sent
    )
    error.__cause__ = exc
    return error


def _collect(chunks: Iterator[bytes], max_bytes: int) -> tuple[bytes, bool]:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            return bytes(body[:max_bytes]), True
    return bytes(body), False


async def _acollect(chunks: AsyncIterator[bytes], max_bytes: int) -> tuple[bytes, bool]:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            return bytes(body[:max_bytes]), True
    return bytes(body), False


def exchange(
    client: httpx.Client, request: httpx.Request, *, timeout: float, max_bytes: int = MAX_ANSWER_BYTES
) -> Answer:
    """Send ``request`` and read its answer, all within ``timeout`` seconds.

    Raises :class:`DeadlineExceeded` when time runs out, other ``httpx.TransportError`` when the
    network fails. The client must use :class:`~usageanalytics.deadline.DeadlineTransport`.
    """
    request.extensions["timeout"] = timeouts(timeout)
    with deadline(timeout) as bound:  # it notes when the request begins to leave
        try:
            response = client.send(request, stream=True)
            try:
                content, too_large = _collect(response.iter_bytes(), max_bytes)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise _expired(timeout, bound.sent, exc) from exc
    return Answer(response.status_code, response.headers, content, too_large)


class Target(NamedTuple):
    """Where :func:`post_bytes` posts, prepared once: the URL (for the pool, and as httpcore
    sends it) and every header but the length (auth included)."""

    url: httpx.URL
    core_url: httpcore.URL
    headers: list[tuple[bytes, bytes]]

    @classmethod
    def of(cls, request: httpx.Request) -> Target:
        """The target of a request built (and authenticated) by an httpx client."""
        url = request.url
        core_url = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
        return cls(url, core_url, headers)


def post_bytes(
    transport: DeadlineTransport,
    target: Target,
    content: bytes,
    *,
    timeout: float,
    max_bytes: int = MAX_ANSWER_BYTES,
) -> Answer:
    """POST ``content`` to ``target`` and read the answer, all within ``timeout`` seconds.

    What :func:`exchange` does, with the same errors, through the transport's connection pool
    directly: building and reading httpx's request and response objects cost the sender more
    than the exchange itself. An answer in a content coding (the SDK asks for none) is decoded
    as httpx would, the cap applying to the decoded body.
    """
    headers = [*target.headers, (b"Content-Length", str(len(content)).encode())]
    request = httpcore.Request(
        b"POST", target.core_url, headers=headers, content=content, extensions={"timeout": timeouts(timeout)}
    )
    with deadline(timeout) as bound:
        try:
            status, raw, body, too_large = transport.send_bytes(target.url, request, max_bytes)
        except httpx.TimeoutException as exc:
            raise _expired(timeout, bound.sent, exc) from exc
    answer_headers = httpx.Headers(raw)
    coding = answer_headers.get("Content-Encoding")
    if coding and coding.strip().lower() != "identity" and not too_large:
        # Undecodable: read as it came (not JSON, so the records are not acknowledged).
        with contextlib.suppress(httpx.DecodingError):
            decoded = httpx.Response(status, headers=raw, content=body).iter_bytes()
            body, too_large = _collect(decoded, max_bytes)
    return Answer(status, answer_headers, body, too_large)


async def exchange_async(
    client: httpx.AsyncClient, request: httpx.Request, *, timeout: float, max_bytes: int = MAX_ANSWER_BYTES
) -> Answer:
    """The async twin of :func:`exchange`: the whole exchange runs under ``anyio.fail_after``."""
    progress = _Progress()
    request.extensions["timeout"] = timeouts(timeout)
    request.extensions["trace"] = progress.asynchronous
    response: httpx.Response | None = None
    try:
        with anyio.fail_after(timeout):
            response = await client.send(request, stream=True)
            content, too_large = await _acollect(response.aiter_bytes(), max_bytes)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise _expired(timeout, progress.sent, exc) from exc
    finally:
        if response is not None:
            await response.aclose()
    return Answer(response.status_code, response.headers, content, too_large)

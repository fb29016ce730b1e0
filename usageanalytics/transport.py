"""HTTP to SmartKarrot: Basic auth, a total deadline per request, and what each answer means.

The API key lives only inside the httpx auth object: it is never logged, never in a repr and never
in an exception message (httpx puts the URL in its errors, and the key is not in the URL).

:meth:`Transport.post` never raises: a network failure, a timeout and any answer at all (however
slow, large, deep or malformed) come back as a :class:`Result` the sender can act on.
"""

from __future__ import annotations

import email.utils
import enum
import logging
import math
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Any

import httpx
import orjson

from ._version import __version__
from .deadline import DeadlineTransport
from .exchange import (
    MAX_ANSWER_BYTES,
    Answer,
    DeadlineExceeded,
    NotJSON,
    Target,
    one_line,
    post_bytes,
    timeouts,
)

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_RETRY_AFTER",
    "Outcome",
    "Result",
    "Transport",
    "classify",
    "new_async_http_client",
    "new_http_client",
    "parse_retry_after",
]

logger = logging.getLogger("usageanalytics")

USER_AGENT = f"usageanalytics-python/{__version__}"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
# A Retry-After further away than a day is not a wait but a mistake (or an attack): ignored.
MAX_RETRY_AFTER = 86400.0
MAX_REASON = 300  # characters of the server's message kept in a Result's reason


class Outcome(enum.Enum):
    SENT = "sent"  # the server said SUCCESS: acknowledge the records
    RETRY = "retry"  # network error, 429, 5xx or ERROR: try again later, same idempotency id
    REJECTED = "rejected"  # INVALID_INPUT or another 4xx: it will never succeed, set it aside
    AUTH = "auth"  # 401/403: the key is wrong; pause sending and keep everything


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    status_code: int | None
    reason: str
    retry_after: float | None = None
    # True when the server certainly did not process the request (no connection, or it said
    # so: 401, 403, 408, 429, 503), so resending it later cannot create a duplicate.
    unprocessed: bool = False


UNPROCESSED_STATUSES = frozenset({401, 403, 408, 429, 503})


def parse_retry_after(
    value: str | None, now: float | None = None, *, cap: float | None = None
) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date.

    None when there is no wait in it: missing, neither a number nor a date, not finite, or
    negative (the caller then backs off as for any retry). A date already past is 0. A longer
    wait than :data:`MAX_RETRY_AFTER` is that long, and ``cap`` shortens any wait (the sender's
    ``retry_cap``): a server asking for a day's pause gets at most ``cap``, not an early retry.
    """
    if not value:
        return None
    text = value.strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, time.time() if now is None else now)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    seconds = min(seconds, MAX_RETRY_AFTER)
    return seconds if cap is None else min(seconds, cap)


def _seconds_until(http_date: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
        if when.tzinfo is None:  # "-0000": HTTP dates are always GMT
            when = when.replace(tzinfo=timezone.utc)
        return max(when.timestamp() - now, 0.0)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _text(value: Any, limit: int) -> str | None:
    """A string from the server, on one line and cut to ``limit``; None for anything else."""
    if not isinstance(value, str) or not value.strip():
        return None
    return one_line(value, limit)


def classify(answer: Answer | httpx.Response) -> Result:
    """Map an HTTP answer onto what the sender must do with the batch; never raises.

    A 2xx counts only with a JSON ``{"status": "SUCCESS"}``: a body that is not JSON (invalid
    UTF-8, nested deeper than 64 levels, cut at :data:`MAX_ANSWER_BYTES`), or JSON of another
    shape, leaves the records unacknowledged (RETRY). A 4xx is REJECTED and a 5xx RETRY whatever
    its body. An ``httpx.Response`` must have been read already.
    """
    if isinstance(answer, httpx.Response):
        answer = Answer.of(answer)
    status = answer.status_code
    try:
        payload = answer.json()
        unreadable = None
    except NotJSON as exc:
        payload, unreadable = None, str(exc)
    fields = payload if isinstance(payload, dict) else {}
    verdict = _text(fields.get("status"), 40)
    message = _text(fields.get("message"), MAX_REASON)
    reason = f"HTTP {status}" + (f" {verdict}" if verdict else "") + (f": {message}" if message else "")
    unprocessed = status in UNPROCESSED_STATUSES
    if status in AUTH_STATUSES:
        return Result(Outcome.AUTH, status, reason, unprocessed=True)
    if status in RETRY_STATUSES or status >= 500:
        retry_after = parse_retry_after(answer.headers.get("Retry-After"))
        return Result(Outcome.RETRY, status, reason, retry_after, unprocessed)
    if 400 <= status < 500:
        return Result(Outcome.REJECTED, status, reason)
    if 200 <= status < 300:
        if verdict == "SUCCESS":
            return Result(Outcome.SENT, status, reason)
        if verdict == "INVALID_INPUT":
            return Result(Outcome.REJECTED, status, reason)
        # "ERROR", or an answer that is not the API's: the records are not acknowledged.
        if unreadable and payload is None and answer.content:
            return Result(Outcome.RETRY, status, f"HTTP {status} without SUCCESS: {unreadable[:MAX_REASON]}")
        return Result(Outcome.RETRY, status, reason if verdict else f"HTTP {status} without SUCCESS")
    return Result(Outcome.RETRY, status, reason)


def _client_options(endpoint: str, api_key: str, timeout: float) -> dict[str, Any]:
    """What the SDK's sync and async httpx clients share: auth, timeouts, headers."""
    return {
        "base_url": endpoint,
        "auth": httpx.BasicAuth("apikey", api_key),
        "timeout": httpx.Timeout(**timeouts(timeout)),
        # Uncompressed answers: the size cap then bounds the memory an answer can take.
        "headers": {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        "follow_redirects": False,
    }


def new_http_client(
    endpoint: str, api_key: str, timeout: float, transport: DeadlineTransport | None = None
) -> httpx.Client:
    """An httpx client for ``endpoint`` with the SDK's auth, timeouts and headers.

    Its transport bounds each request by a total deadline when sent through
    :func:`~usageanalytics.exchange.exchange`.
    """
    if transport is None:
        transport = DeadlineTransport(limits=httpx.Limits(max_connections=4, max_keepalive_connections=2))
    return httpx.Client(**_client_options(endpoint, api_key, timeout), transport=transport)


def new_async_http_client(endpoint: str, api_key: str, timeout: float) -> httpx.AsyncClient:
    """The asyncio twin of :func:`new_http_client` (the deadline is a cancel scope there)."""
    return httpx.AsyncClient(**_client_options(endpoint, api_key, timeout))


class Transport:
    """Posts request bodies and classifies the answers; one per process (rebuilt after fork).

    Each :meth:`post` ends within ``timeout`` seconds (plus name resolution), however the server
    behaves, and never raises.
    """

    def __init__(self, endpoint: str, api_key: str, timeout: float) -> None:
        self._timeout = timeout
        self._wire = DeadlineTransport(limits=httpx.Limits(max_connections=4, max_keepalive_connections=2))
        # The client builds each path's URL and headers (its auth included) once; posts go to
        # the transport directly (exchange.post_bytes).
        self._client = new_http_client(endpoint, api_key, timeout, self._wire)
        self._targets: dict[str, Target] = {}

    @property
    def timeout(self) -> float:
        return self._timeout

    def _target(self, path: str) -> Target:
        target = self._targets.get(path)
        if target is None:
            request = self._client.build_request("POST", path, headers={"Content-Type": "application/json"})
            auth = self._client.auth
            if auth is not None:
                request = next(auth.sync_auth_flow(request))
            target = self._targets[path] = Target.of(request)
        return target

    def post(self, path: str, body: dict[str, Any] | bytes, *, timeout: float | None = None) -> Result:
        """Send one request body (a dict, or its JSON already encoded); the :class:`Result` says
        what to do with its records.

        RETRY with ``status_code`` None: no answer in time or a network failure, with
        ``unprocessed`` True only when the request certainly never left. ``timeout`` shortens
        this request's deadline (say, to what is left of an exit flush); never lengthens it.
        """
        limit = self._timeout if timeout is None else max(min(timeout, self._timeout), 0.001)
        if isinstance(body, bytes):
            content = body
        else:
            try:
                content = orjson.dumps(body)
            except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError: never sendable
                return Result(
                    Outcome.REJECTED, None, f"cannot encode the request body: {exc}", unprocessed=True
                )
        try:
            answer = post_bytes(self._wire, self._target(path), content, timeout=limit)
        except DeadlineExceeded as exc:
            return Result(Outcome.RETRY, None, str(exc), unprocessed=not exc.request_sent)
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            return Result(Outcome.RETRY, None, f"{type(exc).__name__}: {exc}", unprocessed=True)
        except httpx.HTTPError as exc:  # sent, perhaps processed: the connection broke during the answer
            return Result(Outcome.RETRY, None, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug below us must not strand the batch "in flight"
            logger.warning("usageanalytics: unexpected error posting to %s", path, exc_info=True)
            return Result(Outcome.RETRY, None, f"{type(exc).__name__}: {exc}")
        return classify(answer)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<Transport {self._client.base_url}>"

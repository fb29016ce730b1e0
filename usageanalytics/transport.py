"""HTTP to SmartKarrot: Basic auth, timeouts, connection reuse, and what each answer means.

The API key lives only inside the httpx auth object: it is never logged, never in a repr and never
in an exception message (httpx puts the URL in its errors, and the key is not in the URL).
"""

from __future__ import annotations

import email.utils
import enum
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from ._version import __version__

USER_AGENT = f"usageanalytics-python/{__version__}"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
MAX_RETRY_AFTER = 3600.0


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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (now if now is not None else time.time())
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def classify(response: httpx.Response) -> Result:
    """Map an HTTP answer onto what the sender must do with the batch."""
    status = response.status_code
    try:
        payload = response.json()
    except (ValueError, UnicodeDecodeError):
        payload = None
    answer = payload.get("status") if isinstance(payload, dict) else None
    message = payload.get("message") if isinstance(payload, dict) else None
    reason = f"HTTP {status}" + (f" {answer}" if answer else "") + (f": {message}" if message else "")
    unprocessed = status in UNPROCESSED_STATUSES
    if status in AUTH_STATUSES:
        return Result(Outcome.AUTH, status, reason, unprocessed=True)
    if status in RETRY_STATUSES or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return Result(Outcome.RETRY, status, reason, retry_after, unprocessed)
    if 400 <= status < 500:
        return Result(Outcome.REJECTED, status, reason)
    if 200 <= status < 300:
        if answer == "SUCCESS":
            return Result(Outcome.SENT, status, reason)
        if answer == "INVALID_INPUT":
            return Result(Outcome.REJECTED, status, reason)
        # "ERROR", or an answer that is not the API's: the records are not acknowledged.
        return Result(Outcome.RETRY, status, reason or f"HTTP {status} without SUCCESS")
    return Result(Outcome.RETRY, status, reason)


def _client_options(endpoint: str, api_key: str, timeout: float) -> dict[str, Any]:
    """What the SDK's sync and async httpx clients share: auth, timeouts, headers."""
    return {
        "base_url": endpoint,
        "auth": httpx.BasicAuth("apikey", api_key),
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        "headers": {"User-Agent": USER_AGENT},
        "follow_redirects": False,
    }


def new_http_client(endpoint: str, api_key: str, timeout: float) -> httpx.Client:
    """An httpx client for ``endpoint`` with the SDK's auth, timeouts and headers."""
    return httpx.Client(
        **_client_options(endpoint, api_key, timeout),
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
    )


def new_async_http_client(endpoint: str, api_key: str, timeout: float) -> httpx.AsyncClient:
    """The asyncio twin of :func:`new_http_client`."""
    return httpx.AsyncClient(**_client_options(endpoint, api_key, timeout))


class Transport:
    """Posts request bodies and classifies the answers; one per process (rebuilt after fork)."""

    def __init__(self, endpoint: str, api_key: str, timeout: float) -> None:
        self._client = new_http_client(endpoint, api_key, timeout)

    def post(self, path: str, body: dict[str, Any]) -> Result:
        content = orjson.dumps(body)
        try:
            response = self._client.post(path, content=content, headers={"Content-Type": "application/json"})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Result(Outcome.RETRY, None, f"{type(exc).__name__}: {exc}", unprocessed=True)
        except httpx.HTTPError as exc:  # sent, perhaps processed: a timeout reading the answer
            return Result(Outcome.RETRY, None, f"{type(exc).__name__}: {exc}")
        return classify(response)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<Transport {self._client.base_url}>"

"""One exception hierarchy for the REST clients, so callers catch by meaning, not by status code.

Every error carries the HTTP status and the server's request id when there is one. Errors found
before anything is sent (a missing required field) are :class:`InvalidInputError` without a status.
Whatever the server answers (a body nested 100,000 deep, invalid UTF-8, gigabytes, HTML), the
clients raise one of these, never RecursionError, UnicodeDecodeError or MemoryError.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import UsageAnalyticsError
from ..exchange import Answer, DeadlineExceeded, NotJSON, one_line
from ..transport import parse_retry_after

# Where servers put the id of a request; AWS API Gateway (SmartKarrot's front) uses the second.
REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-requestid", "request-id")


class ApiError(UsageAnalyticsError):
    """A REST call failed. ``status_code`` and ``request_id`` are None when there was no answer."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        where = []
        if self.status_code is not None:
            where.append(f"HTTP {self.status_code}")
        if self.request_id:
            where.append(f"request id {self.request_id}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class InvalidInputError(ApiError, ValueError):
    """The request breaks the spec's rules: caught before sending, or refused by the server."""


class AuthenticationError(ApiError):
    """The API key was refused (401/403): check ``USAGEANALYTICS_API_KEY`` and the app id."""


class NotFoundError(ApiError):
    """The record or the endpoint does not exist (404)."""


class RateLimitedError(ApiError):
    """Too many requests (429); ``retry_after`` is the server's wait in seconds, if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ServerError(ApiError):
    """The server failed (5xx, or ``"status": "ERROR"``); retried for idempotent calls."""


class ApiConnectionError(ApiError):
    """No HTTP answer: connection refused, timeout, broken connection.

    ``request_sent`` is False when the request certainly never reached the server, so even a
    create can be tried again safely.
    """

    def __init__(self, message: str, *, request_sent: bool) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class ApiTimeoutError(ApiConnectionError):
    """No complete answer within ``timeout`` seconds (connect, send and the whole answer).

    One attempt of a call never takes longer, however slowly the server sends. Like any
    :class:`ApiConnectionError` it is retried only when that is safe (see ``request_sent``).
    """

    def __init__(self, message: str, *, request_sent: bool, timeout: float) -> None:
        super().__init__(message, request_sent=request_sent)
        self.timeout = timeout


class UnexpectedResponseError(ApiError):
    """The server answered with a body the spec does not describe: not JSON, the wrong shape,
    nested too deep, or larger than the client's ``max_response_size``."""


def request_id_of(answer: Answer) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = answer.headers.get(name)
        if value:
            return one_line(str(value), 200)
    return None


def _payload(answer: Answer) -> Any:
    """The answer's JSON, else the start of its text (None when empty)."""
    try:
        return answer.json()
    except NotJSON:
        return answer.text() or None


def _server_message(payload: Any, status_code: int) -> str:
    if isinstance(payload, dict):
        for key in ("message", "error", "errorMessage", "detail"):
            if isinstance(payload.get(key), str) and payload[key].strip():
                return one_line(payload[key], 500)
        if isinstance(payload.get("status"), str) and payload["status"].strip():
            return one_line(payload["status"], 100)
    if isinstance(payload, str) and payload.strip():
        return one_line(payload, 500)
    return f"HTTP {status_code}"


def error_for_response(response: Answer, *, status_envelope: bool) -> ApiError | None:
    """The exception an answer stands for, or None when it is a success.

    ``status_envelope``: the endpoint answers ``{"status": "SUCCESS" | "ERROR" | "INVALID_INPUT"}``
    even with HTTP 200 (usage analytics, financial data). Elsewhere a 2xx body's ``status`` is a
    record's field (a ticket's status may be any text) and says nothing about the request.
    """
    status = response.status_code
    payload = _payload(response)
    answer = payload.get("status") if isinstance(payload, dict) else None
    if 200 <= status < 300 and not (status_envelope and answer in ("INVALID_INPUT", "ERROR")):
        return None
    details: dict[str, Any] = {
        "status_code": status,
        "request_id": request_id_of(response),
        "body": payload,
    }
    message = _server_message(payload, status)
    if status in (401, 403):
        return AuthenticationError(f"the API key was refused: {message}", **details)
    if status == 404:
        return NotFoundError(f"not found: {message}", **details)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitedError(f"rate limited: {message}", retry_after=retry_after, **details)
    if status >= 500 or answer == "ERROR":
        return ServerError(f"server error: {message}", **details)
    if status in (400, 409, 413, 415, 422) or answer == "INVALID_INPUT":
        return InvalidInputError(f"invalid input: {message}", **details)
    return ApiError(f"unexpected answer: {message}", **details)


def connection_error(exc: httpx.TransportError) -> ApiConnectionError:
    """Wrap an httpx network error, noting whether the request could have reached the server."""
    error: ApiConnectionError
    if isinstance(exc, DeadlineExceeded):
        error = ApiTimeoutError(
            f"no complete answer within {exc.timeout:g} s", request_sent=exc.request_sent, timeout=exc.timeout
        )
        error.__cause__ = exc
        return error
    not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    error = ApiConnectionError(f"{type(exc).__name__}: {exc}", request_sent=not not_sent)
    error.__cause__ = exc
    return error


def undecodable(exc: httpx.DecodingError) -> UnexpectedResponseError:
    """A body whose Content-Encoding does not decode (the clients ask for none)."""
    return UnexpectedResponseError(f"the answer's body does not decode: {exc}")

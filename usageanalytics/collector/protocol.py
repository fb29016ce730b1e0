"""The HTTP side of every API request: Basic auth, the JSON body and the error answers.

Errors are answered as the spec's response tables say (``status`` is SUCCESS, ERROR or
INVALID_INPUT) with a ``message`` that names the problem, and the HTTP status a client library
expects: 400 bad input, 401 credentials, 404 unknown record, 413 too large, 415 not JSON.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # a 3 MB logo is 4 MB of base64; leave room around it


class ApiError(Exception):
    """An answer other than success; raised anywhere in a request, turned into JSON at the edge."""

    def __init__(self, status_code: int, status: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.status = status
        self.message = message
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"status": self.status, "message": self.message}, self.status_code, headers=self.headers
        )


def invalid_input(message: str, status_code: int = 400) -> ApiError:
    return ApiError(status_code, "INVALID_INPUT", message)


def check_auth(request: Request, api_key: str | None) -> None:
    """Basic auth with user ``apikey``; any key is accepted when the collector was given none."""
    challenge = {"WWW-Authenticate": 'Basic realm="usageanalytics collector"'}
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise ApiError(
            401, "ERROR", "Basic auth is required: user 'apikey', password your API key", challenge
        )
    try:
        user, colon, key = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(401, "ERROR", "the Authorization header is not valid Basic auth", challenge) from None
    if not colon or user != "apikey":
        raise ApiError(401, "ERROR", "Basic auth user must be 'apikey'", challenge)
    if api_key is not None and not hmac.compare_digest(key.encode(), api_key.encode()):
        raise ApiError(401, "ERROR", "invalid API key", challenge)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw request body, refused with 413 past ``max_bytes``."""
    declared = request.headers.get("content-length")
    too_large = invalid_input(f"the request body is larger than {max_bytes:,} bytes", 413)
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


TOO_DEEP = "malformed JSON: nested too deeply"


def _lone_surrogate(value: Any, depth: int = 0) -> bool:
    """True if any string in ``value`` holds half of a surrogate pair (no UTF-8 can carry it)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v, depth + 1) for v in value)
    return False


def parse_json(raw: bytes, content_type: str, required: bool = True) -> Any:
    """The body as JSON (None if empty and not ``required``); every malformed body is a 400.

    Beyond what ``json`` rejects: lone surrogate escapes (``"\\ud800"``, which no database or
    UTF-8 encoder can store). Nesting too deep for Python raises RecursionError here or later;
    the endpoint answers that with a 400 too.
    """
    if not raw.strip():
        if required:
            raise invalid_input("a JSON request body is required")
        return None
    media_type = content_type.split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise invalid_input(
            f"Content-Type must be application/json, got {media_type or 'none'!r}", status_code=415
        )
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise invalid_input("the request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise invalid_input(f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise invalid_input(TOO_DEEP) from None
    except ValueError as exc:
        raise invalid_input(f"malformed JSON: {exc}") from None
    if b"\\u" in raw and _has_surrogate_escape(raw) and _lone_surrogate(value):
        raise invalid_input("malformed JSON: a string holds a lone surrogate escape (\\ud800-\\udfff)")
    return value


def _has_surrogate_escape(raw: bytes) -> bool:
    lowered = raw.lower()
    return any(f"\\ud{digit}".encode() in lowered for digit in "89abcdef")


async def read_json(request: Request, max_bytes: int, required: bool = True) -> Any:
    """The request's JSON body (None if empty and not ``required``), read up to ``max_bytes``."""
    raw = await read_body(request, max_bytes)
    return parse_json(raw, request.headers.get("content-type", ""), required)

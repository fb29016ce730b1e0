"""Settings: what ``configure()`` accepts, read from arguments and the environment, checked once.

Every mistake that would make the SDK silently useless (no app id, an endpoint that cannot be
reached, plain HTTP to a remote host that would leak the API key) is caught here, at start-up, with
a message that says what to change.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigurationError

DEFAULT_ENDPOINT = "https://api.smartkarrot.com/v4/"
PLATFORMS = ("iOS", "Android", "Web")

ENV_APP_ID = "USAGEANALYTICS_APP_ID"
ENV_API_KEY = "USAGEANALYTICS_API_KEY"
ENV_ENDPOINT = "USAGEANALYTICS_ENDPOINT"
ENV_DISABLED = "USAGEANALYTICS_DISABLED"
ENV_DATA_DIR = "USAGEANALYTICS_DATA_DIR"

_TRUE = {"1", "true", "yes", "on"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a client needs to know, validated. Build it with :func:`resolve_settings`."""

    app_id: str
    api_key: str = dataclasses.field(repr=False)
    endpoint: str = DEFAULT_ENDPOINT
    user_id: str | None = None
    customer_account_id: str | None = None
    product_id: str | None = None
    organization_id: str | None = None
    auto_capture: bool = True
    flush_interval: float = 120.0
    data_dir: Path | None = None
    platform: str = "Web"
    session_timeout: float = 30 * 60.0
    debounce_window: float = 1.0
    batch_size: int = 500
    max_request_bytes: int = 1_000_000
    max_queued_records: int = 1_000_000
    max_record_age: float = 7 * 24 * 3600.0
    write_interval: float = 0.1
    durable: bool = False
    strict: bool = False
    disabled: bool = False
    timeout: float = 10.0
    retry_base: float = 1.0
    retry_cap: float = 300.0
    exit_timeout: float = 3.0
    app_name: str | None = None
    app_version: str | None = None
    app_build: str | None = None
    bundle_id: str | None = None
    collect_device_attributes: bool = True

    @property
    def financial_endpoint(self) -> str:
        """The financial-data base URL that sits beside ``endpoint`` (spec: /dashboards/v4/financial)."""
        return financial_endpoint_for(self.endpoint)


def financial_endpoint_for(endpoint: str) -> str:
    """Derive ``https://host/dashboards/v4/financial/`` from ``https://host/v4/``."""
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    prefix = path[: -len("/v4")] if path.endswith("/v4") else path
    return f"{parts.scheme}://{parts.netloc}{prefix}/dashboards/v4/financial/"


def env_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment variable holds a truthy value such as ``1`` or ``true``."""
    value = (environ if environ is not None else os.environ).get(name, "")
    return value.strip().lower() in _TRUE


def resolve_credentials(
    app_id: str | None,
    api_key: str | None,
    endpoint: str | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, str, str]:
    """Fill app id, key and endpoint from the environment where not given, and check them.

    Shared with the REST clients in ``usageanalytics.api`` so both read the same variables.
    """
    env = environ if environ is not None else os.environ
    app_id = app_id if app_id is not None else env.get(ENV_APP_ID)
    api_key = api_key if api_key is not None else env.get(ENV_API_KEY)
    endpoint = endpoint if endpoint is not None else env.get(ENV_ENDPOINT, DEFAULT_ENDPOINT)
    if not app_id or not str(app_id).strip():
        raise ConfigurationError(
            f"An app id is required: pass it to configure('your-app-id') or set {ENV_APP_ID}. "
            "SmartKarrot support gives you the App ID."
        )
    if not api_key or not str(api_key).strip():
        raise ConfigurationError(
            f"An API key is required: pass api_key=... or set {ENV_API_KEY}. "
            "Requests use Basic auth with user 'apikey' and this key."
        )
    return (
        _text("app id", str(app_id).strip()),
        _text("API key", str(api_key).strip()),
        check_endpoint(endpoint),
    )


def check_endpoint(endpoint: str) -> str:
    """Return the endpoint with a trailing slash, or raise if it is malformed or insecure."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigurationError(f"endpoint must be a URL such as {DEFAULT_ENDPOINT!r}, got {endpoint!r}")
    endpoint = endpoint.strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"endpoint {endpoint!r} is not an http(s) URL with a host; "
            f"use something like {DEFAULT_ENDPOINT!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"endpoint {endpoint!r} must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"endpoint {endpoint!r} uses plain http to {parts.hostname!r}, which would send the API "
            "key unencrypted; use https, or http only to a loopback address such as 127.0.0.1"
        )
    return endpoint if endpoint.endswith("/") else endpoint + "/"


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")


MAX_ID_LENGTH = 1024


def _optional_id(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty string or None, got {value!r}")
    return _text(name, value.strip())


def _text(name: str, value: str) -> str:
    """``value`` if it can go on the wire: valid Unicode, at most :data:`MAX_ID_LENGTH` characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"{name} is not valid Unicode text (it has lone surrogates, as bytes decoded with "
            f"errors='surrogateescape' do): {value!r}"
        ) from None
    if len(value) > MAX_ID_LENGTH:
        raise ConfigurationError(f"{name} is longer than {MAX_ID_LENGTH} characters")
    return value


def resolve_settings(
    app_id: str | None = None,
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    platform: str = "Web",
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Settings:
    """Build validated :class:`Settings` from ``configure()`` arguments and the environment."""
    env = environ if environ is not None else os.environ
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(f"configure() got unknown settings: {', '.join(unknown)}")
    disabled = bool(options.pop("disabled", False)) or env_flag(ENV_DISABLED, env)
    if disabled:
        # An opted-out process must start even without credentials: nothing will be sent.
        app_id = app_id or env.get(ENV_APP_ID) or "disabled"
        api_key = api_key or env.get(ENV_API_KEY) or "disabled"
    app_id, api_key, endpoint = resolve_credentials(app_id, api_key, endpoint, env)

    canonical = {p.lower(): p for p in PLATFORMS}
    if not isinstance(platform, str) or platform.lower() not in canonical:
        raise ConfigurationError(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")

    for name in (
        "flush_interval",
        "session_timeout",
        "write_interval",
        "timeout",
        "exit_timeout",
        "max_record_age",
        "retry_base",
        "retry_cap",
    ):
        if name in options:
            _positive(name, options[name])
    if "debounce_window" in options:
        window = options["debounce_window"]
        if isinstance(window, bool) or not isinstance(window, (int, float)) or window < 0:
            raise ConfigurationError(f"debounce_window must be >= 0 seconds, got {window!r}")
    for name, lower, upper in (
        ("batch_size", 1, 1000),
        ("max_queued_records", 1, None),
        ("max_request_bytes", 10_000, 8_000_000),
    ):
        if name in options:
            value = options[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < lower
                or (upper is not None and value > upper)
            ):
                bound = f"between {lower} and {upper}" if upper else "a positive integer"
                raise ConfigurationError(f"{name} must be {bound}, got {value!r}")
    for name in (
        "user_id",
        "customer_account_id",
        "product_id",
        "organization_id",
        "app_name",
        "app_version",
        "app_build",
        "bundle_id",
    ):
        if name in options:
            options[name] = _optional_id(name, options[name])

    folder = data_dir if data_dir is not None else env.get(ENV_DATA_DIR)
    return Settings(
        app_id=app_id,
        api_key=api_key,
        endpoint=endpoint,
        data_dir=Path(folder).expanduser() if folder else None,
        platform=canonical[platform.lower()],
        disabled=disabled,
        **options,
    )

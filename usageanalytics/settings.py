"""Settings: what ``configure()`` accepts, read from arguments and the environment, checked once.

Every setting can come from ``USAGEANALYTICS_<NAME>`` (``USAGEANALYTICS_FLUSH_INTERVAL=30``),
typed from the field's annotation in :class:`Settings` (see :mod:`usageanalytics.setting_types`),
so a field added there is readable from the environment with no other change. An argument wins
over the environment, the environment over the default; ``None`` as an argument means "not
given". ``USAGEANALYTICS_DISABLED=1`` is the exception: it turns the SDK off whatever the code
says.

Every mistake that would make the SDK silently useless (no app id, an endpoint that cannot be
reached, plain HTTP to a remote host that would leak the API key, a value of the wrong type) is
caught here, at start-up, with a message that names where the value came from and what to change.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .setting_types import Kind, field_annotations, kind_for

DEFAULT_ENDPOINT = "https://api.smartkarrot.com/v4/"
PLATFORMS = ("iOS", "Android", "Web")

ENV_APP_ID = "USAGEANALYTICS_APP_ID"
ENV_API_KEY = "USAGEANALYTICS_API_KEY"
ENV_ENDPOINT = "USAGEANALYTICS_ENDPOINT"
ENV_DISABLED = "USAGEANALYTICS_DISABLED"
ENV_DATA_DIR = "USAGEANALYTICS_DATA_DIR"
ENV_PREFIX = "USAGEANALYTICS_"

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
    debug: bool = False  # the SDK's log to stderr at DEBUG (configure() attaches the handler)
    capture_api_calls: bool = False
    identify: Callable[[Any], Any] | None = dataclasses.field(default=None, compare=False)
    # Privacy and consent (README: "Privacy and consent").
    before_send: Callable[[dict[str, Any]], Any] | None = dataclasses.field(default=None, compare=False)
    opt_out_by_default: bool = False
    capture_ip: Literal["anonymized", "full", "none"] = "anonymized"
    respect_gpc: bool = True
    respect_dnt: bool = False
    consent: Callable[[Any], Any] | None = dataclasses.field(default=None, compare=False)

    @property
    def financial_endpoint(self) -> str:
        """The financial-data base URL that sits beside ``endpoint`` (spec: /dashboards/v4/financial)."""
        return financial_endpoint_for(self.endpoint)


def same_settings(first: Settings, second: Settings) -> bool:
    """Whether two Settings hold the same values, fields left out of ``==`` (``compare=False``,
    such as a callable) included: the test ``configure()`` uses to keep its running client."""
    return all(getattr(first, f.name) == getattr(second, f.name) for f in dataclasses.fields(Settings))


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


MAX_ID_LENGTH = 1024


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


#: One line per setting for ``usageanalytics run --help``. A field without one is listed anyway
#: (its variable, type and default come from the dataclass); add a line when you add a field.
DESCRIPTIONS: dict[str, str] = {
    "app_id": "SmartKarrot App ID (required)",
    "api_key": "API key, sent as Basic auth apikey:<key> (required)",
    "endpoint": "v4 base URL; plain http only to a loopback address",
    "user_id": "the process's user (else a guest with a generated id)",
    "customer_account_id": "customer account of the process's user and of guests",
    "product_id": "product of the process's user and of guests",
    "organization_id": "kept on client.settings only (no wire field)",
    "auto_capture": "screen views and page loads of Flask, Django, Qt and ASGI apps",
    "flush_interval": "seconds between background sends",
    "data_dir": "queue, ids and dead letters (default: a per-user folder per app id)",
    "platform": "iOS, Android or Web",
    "session_timeout": "seconds of inactivity that end a session",
    "debounce_window": "seconds within which identical auto-captured events count once",
    "batch_size": "events per request, 1 to 1000",
    "max_queued_records": "disk queue bound; past it the oldest records are dropped",
    "max_record_age": "seconds a record may wait in the queue before it is dropped",
    "max_request_bytes": "largest request body in bytes (10,000 to 8,000,000); bigger batches are split",
    "write_interval": "seconds between the writer's disk writes",
    "durable": "write each call to disk before it returns",
    "strict": "raise TrackingInputError on bad input instead of logging it",
    "disabled": "every call does nothing; set here, it wins over the code",
    "timeout": "seconds per HTTP request",
    "retry_base": "first retry delay, seconds",
    "retry_cap": "longest retry delay, seconds",
    "exit_timeout": "seconds spent flushing at interpreter exit",
    "app_name": "device attribute App Name (default: the running package's metadata)",
    "app_version": "App Version, also sent with each event (default: package metadata)",
    "app_build": "device attribute App Build (default: package metadata)",
    "bundle_id": "device attribute App Bundle Identifier (default: package metadata)",
    "collect_device_attributes": "send the device attributes (once, and when they change)",
    "debug": "the SDK's log to stderr at DEBUG; set here, it wins over the code",
    "capture_api_calls": 'log an "API Call" event for every routed request that is not a page',
    "identify": "identify(request) -> user id or Identity, for Flask, Django and ASGI (module:attr)",
    "before_send": "before_send(record) -> record or None, for every event and user attribute (module:attr)",
    "opt_out_by_default": "consent first: record nothing until opt_in() (a saved choice wins)",
    "capture_ip": "userSourceIP: anonymized (last IPv4 octet zeroed, IPv6 /48), full or none",
    "respect_gpc": "leave web requests that send Sec-GPC: 1 untracked (Global Privacy Control)",
    "respect_dnt": "leave web requests that send DNT: 1 untracked (Do Not Track)",
    "consent": "consent(request) -> bool: False leaves a web request untracked (module:attr)",
}

#: Switches an operator turns on from the environment whatever the code passes (True wins).
OPERATOR_SWITCHES = ("disabled", "debug")

#: ``USAGEANALYTICS_*`` variables that are not ``configure()`` settings but are read elsewhere.
OTHER_VARIABLES = frozenset({"USAGEANALYTICS_COLLECTOR_API_KEY", "USAGEANALYTICS_DASHBOARD_TOKEN"})


@dataclasses.dataclass(frozen=True)
class Given:
    """A setting's value and where it came from: None for a ``configure()`` argument, else a label
    such as ``USAGEANALYTICS_FLUSH_INTERVAL='abc'`` that messages start with."""

    value: Any
    origin: str | None = None


def env_var(name: str) -> str:
    """The environment variable of setting ``name``: ``USAGEANALYTICS_<NAME>``."""
    return ENV_PREFIX + name.upper()


@functools.cache
def setting_kinds() -> dict[str, Kind]:
    """Each ``Settings`` field's :class:`~usageanalytics.setting_types.Kind`, from its annotation."""
    annotations = field_annotations(Settings, dict(globals()))
    return {f.name: kind_for(annotations.get(f.name, Any)) for f in dataclasses.fields(Settings)}


@functools.cache
def _secrets() -> frozenset[str]:
    """Fields kept out of reprs (the API key): their values are never shown in messages either."""
    return frozenset(f.name for f in dataclasses.fields(Settings) if not f.repr)


def _origin(where: str, name: str, raw: Any) -> str:
    return f"{where} (hidden)" if name in _secrets() else f"{where}={raw!r}"


def _parsed(name: str, text: str, origin: str) -> Given:
    try:
        return Given(setting_kinds()[name].parse(text.strip()), origin)
    except ValueError as error:
        raise ConfigurationError(f"{origin}: {name} {error}") from None


def environment_settings(environ: Mapping[str, str] | None = None, *, skip: Any = ()) -> dict[str, Given]:
    """Typed settings from the ``USAGEANALYTICS_<NAME>`` variables that are set and not empty.

    Raises :class:`ConfigurationError` naming the variable when one cannot be read as its type.
    Settings in ``skip`` (given as arguments) are not read: an argument wins, so a bad variable
    it overrides does no harm.
    """
    env = environ if environ is not None else os.environ
    found: dict[str, Given] = {}
    for name in setting_kinds():
        if name in skip:
            continue
        var = env_var(name)
        text = env.get(var)
        if text is not None and text.strip():
            found[name] = _parsed(name, text, _origin(var, name, text))
    return found


def config_settings(
    config: Mapping[str, Any], key: Callable[[str], str], where: Callable[[str], str]
) -> dict[str, Given]:
    """Settings from a framework's configuration (Flask's ``app.config``, Django's settings).

    ``key(name)`` is the configuration key of setting ``name``; ``where(key)`` names it in
    messages. ``None`` and empty text are "not given"; text for a setting of another type
    (``"30"`` for ``flush_interval``) is read as the environment's would be.
    """
    found: dict[str, Given] = {}
    kinds = setting_kinds()
    for name, kind in kinds.items():
        config_key = key(name)
        if config_key not in config:
            continue
        value = config[config_key]
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        origin = _origin(where(config_key), name, value)
        if isinstance(value, str):
            try:
                kind.check(value)
            except ValueError:
                found[name] = _parsed(name, value, origin)
                continue
        found[name] = Given(value, origin)
    return found


def suggestion(name: str) -> str | None:
    """The setting a misspelt ``name`` most likely meant, if any."""
    import difflib

    matches = difflib.get_close_matches(name.lower(), list(setting_kinds()), n=1, cutoff=0.75)
    return matches[0] if matches else None


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """``USAGEANALYTICS_*`` variables that name no setting (typos, most likely), sorted."""
    env = environ if environ is not None else os.environ
    known = {env_var(name) for name in setting_kinds()} | OTHER_VARIABLES
    return sorted(var for var in env if var.startswith(ENV_PREFIX) and var not in known)


def resolve_settings(
    app_id: str | None = None, *, environ: Mapping[str, str] | None = None, **options: Any
) -> Settings:
    """Build validated :class:`Settings` from ``configure()`` arguments and the environment.

    An argument that is None counts as not given.
    """
    given = {name: Given(value) for name, value in options.items() if value is not None}
    if app_id is not None:
        given["app_id"] = Given(app_id)
    return settings_from(given, environ)


def settings_from(given: Mapping[str, Given], environ: Mapping[str, str] | None = None) -> Settings:
    """Validated :class:`Settings` from ``given`` values over the environment over the defaults."""
    kinds = setting_kinds()
    unknown = sorted(set(given) - set(kinds))
    if unknown:
        raise ConfigurationError(f"configure() got unknown settings: {', '.join(unknown)}")
    env = environ if environ is not None else os.environ
    merged = {**environment_settings(env, skip=given), **given}
    values = {name: _checked(name, item) for name, item in merged.items()}
    for name in OPERATOR_SWITCHES:
        if name in given and not values[name]:
            switch = environment_settings(env, skip=set(kinds) - {name}).get(name)
            values[name] = bool(switch is not None and _checked(name, switch))
    if values.get("disabled"):
        # An opted-out process must start even without credentials: nothing will be sent.
        values.setdefault("app_id", "disabled")
        values.setdefault("api_key", "disabled")
    if "app_id" not in values:
        raise ConfigurationError(_APP_ID_REQUIRED)
    if "api_key" not in values:
        raise ConfigurationError(_API_KEY_REQUIRED)
    return Settings(**values)


def _checked(name: str, item: Given) -> Any:
    """``item``'s value checked as setting ``name``; ConfigurationError starting with its origin."""
    kind = setting_kinds()[name]
    try:
        value = kind.check(item.value)
    except ValueError as error:
        message = f"{name} must be {kind.expected}" if name in _secrets() else f"{name} {error}"
    else:
        validate = _VALIDATORS.get(name)
        try:
            return validate(name, value) if validate is not None else value
        except ConfigurationError as error:
            message = str(error)
    raise ConfigurationError(f"{item.origin}: {message}" if item.origin else message)


_APP_ID_REQUIRED = (
    f"An app id is required: pass it to configure('your-app-id') or set {ENV_APP_ID}. "
    "SmartKarrot support gives you the App ID."
)
_API_KEY_REQUIRED = (
    f"An API key is required: pass api_key=... or set {ENV_API_KEY}. "
    "Requests use Basic auth with user 'apikey' and this key."
)


def _required_text(message: str) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if not value.strip():
            raise ConfigurationError(message)
        return _text(name, str(value.strip()))

    return check


def _endpoint(name: str, value: Any) -> str:
    return check_endpoint(value)


def _platform(name: str, value: Any) -> str:
    canonical = {p.lower(): p for p in PLATFORMS}
    if value.lower() not in canonical:
        raise ConfigurationError(f"platform must be one of {', '.join(PLATFORMS)}, got {value!r}")
    return canonical[value.lower()]


def _positive_seconds(name: str, value: Any) -> Any:
    if not value > 0:
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return value


def _window(name: str, value: Any) -> Any:
    if not value >= 0:
        raise ConfigurationError(f"{name} must be >= 0 seconds, got {value!r}")
    return value


def _count(lower: int, upper: int | None) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        if value < lower or (upper is not None and value > upper):
            if upper is not None:
                bound = f"between {lower} and {upper}"
            else:
                bound = "a positive integer" if lower == 1 else f"an integer of at least {lower}"
            raise ConfigurationError(f"{name} must be {bound}, got {value!r}")
        return int(value)

    return check


def _optional_id(name: str, value: Any) -> str:
    if not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty string or None, got {value!r}")
    return _text(name, str(value.strip()))


#: Checks beyond the type, per setting; each returns the value as the setting holds it.
_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "app_id": _required_text(_APP_ID_REQUIRED),
    "api_key": _required_text(_API_KEY_REQUIRED),
    "endpoint": _endpoint,
    "platform": _platform,
    "debounce_window": _window,
    "batch_size": _count(1, 1000),
    "max_queued_records": _count(1, None),
    "max_request_bytes": _count(10_000, 8_000_000),
    **dict.fromkeys(
        (
            "flush_interval",
            "session_timeout",
            "write_interval",
            "timeout",
            "exit_timeout",
            "max_record_age",
            "retry_base",
            "retry_cap",
        ),
        _positive_seconds,
    ),
    **dict.fromkeys(
        (
            "user_id",
            "customer_account_id",
            "product_id",
            "organization_id",
            "app_name",
            "app_version",
            "app_build",
            "bundle_id",
        ),
        _optional_id,
    ),
}


def describe_settings() -> list[tuple[str, str, str, str]]:
    """``(variable, its type in a word, default, description)`` for every setting, in field order."""
    rows = []
    kinds = setting_kinds()
    for field in dataclasses.fields(Settings):
        if field.default is not dataclasses.MISSING:
            default = _show_default(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = _show_default(field.default_factory())
        else:
            default = "required"
        rows.append((env_var(field.name), kinds[field.name].short, default, DESCRIPTIONS.get(field.name, "")))
    return rows


def _show_default(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return str(value)
    return str(getattr(value, "value", value))

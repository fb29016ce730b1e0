"""usageanalytics: the Python SDK for SmartKarrot usage analytics.

    import usageanalytics as ua

    ua.configure("app-id", api_key="...", customer_account_id="acme")
    ua.set_user("user-42")
    ua.log_event("Signed In", {"Module": "Login", "Discount Applied": True})

The module functions act on one shared client made by :func:`configure`; before it (or after
:func:`shutdown`) they do nothing. :class:`Client` is public for tests and multi-app processes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import signals
from ._version import __version__
from .context import Identity, identity
from .errors import ConfigurationError, TrackingInputError, UsageAnalyticsError
from .ledger import Stats
from .wire import EventAttribute, UserAttribute, Value

if TYPE_CHECKING:
    from .client import Client

logger = logging.getLogger("usageanalytics")
logger.addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    # The client (httpx, persist-queue, SQLite) loads on first use, so importing the package
    # stays cheap for code that only needs its names, such as the collector's pytest plugin.
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(f"module 'usageanalytics' has no attribute {name!r}")


_client: Client | None = None
_client_lock = threading.Lock()
_warned_unconfigured = False
_pending_choice: bool | None = None  # opt_out() (True) or opt_in() (False) before configure()
# Under `usageanalytics run` the first tracking call configures the SDK from the environment,
# unless the app configured it (or shut it down) first. None: not looked up yet.
_on_demand: bool | None = None

__all__ = [
    "Client",
    "ConfigurationError",
    "EventAttribute",
    "Identity",
    "Stats",
    "TrackingInputError",
    "UsageAnalyticsError",
    "UserAttribute",
    "Value",
    "__version__",
    "configure",
    "flush",
    "forget_user",
    "get_client",
    "identity",
    "is_opted_out",
    "log_event",
    "log_page_load",
    "log_screen_view",
    "opt_in",
    "opt_out",
    "reset_user",
    "set_product_id",
    "set_user",
    "set_user_attribute",
    "set_user_attributes",
    "shutdown",
    "signals",
    "update_device_token",
]


def configure(
    app_id: str | None = None,
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    user_id: str | None = None,
    customer_account_id: str | None = None,
    product_id: str | None = None,
    organization_id: str | None = None,
    auto_capture: bool | None = None,
    flush_interval: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Client:
    """Set up the shared client (replacing, after flushing, any earlier one) and return it.

    Only the app id is mandatory (argument or ``USAGEANALYTICS_APP_ID``), with the API key
    (``api_key`` or ``USAGEANALYTICS_API_KEY``). Every setting not given (or given as None) is
    read from ``USAGEANALYTICS_<NAME>``, else takes its default (``auto_capture=True``,
    ``flush_interval=120.0``, ...; see ``Settings``). Raises :class:`ConfigurationError` with
    what to fix when a setting cannot work. Called again with settings that come out the same,
    it keeps the running client, so calling it from two places is harmless.
    """
    global _client, _on_demand
    from .client import Client
    from .settings import resolve_settings, same_settings

    arguments: dict[str, Any] = dict(
        api_key=api_key,
        endpoint=endpoint,
        user_id=user_id,
        customer_account_id=customer_account_id,
        product_id=product_id,
        organization_id=organization_id,
        auto_capture=auto_capture,
        flush_interval=flush_interval,
        data_dir=data_dir,
        **options,
    )
    settings = resolve_settings(app_id, **arguments)
    with _client_lock:
        _on_demand = False  # the app configured the SDK itself: `usageanalytics run` stands back
        current = _client
        if (
            current is not None
            and same_settings(current.settings, settings)
            and not getattr(current, "_closed", False)
        ):
            client = current
        else:
            client = None
    if client is None:
        client = Client(app_id, **arguments)
        with _client_lock:
            previous, _client = _client, client
        if previous is not None:
            previous.shutdown(timeout=previous.settings.exit_timeout)
    _apply_pending_choice(client)
    from . import autocapture

    if client.settings.auto_capture and not client.settings.disabled:
        autocapture.enable(client)
    else:
        autocapture.disable()
    return client


_debug_handler: logging.Handler | None = None


def enable_debug_log() -> None:
    """Send the ``usageanalytics`` log to stderr at DEBUG, once (``debug=True`` on a client).

    For development: bad input, what is sent and what the server answered become visible
    instead of going to the NullHandler a library installs by default.
    """
    global _debug_handler
    if _debug_handler is None:
        _debug_handler = logging.StreamHandler()
        _debug_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(_debug_handler)
    logger.setLevel(logging.DEBUG)


def get_client() -> Client | None:
    """The shared client, or None before :func:`configure`."""
    return _client


def _shared(warn: bool = True) -> Client | None:
    global _warned_unconfigured, _on_demand
    client = _client
    if client is None and _on_demand is not False:
        from . import launcher

        _on_demand = launcher.launched()
        if _on_demand:
            client = launcher.client_on_demand()
    if client is None and warn and not _warned_unconfigured:
        _warned_unconfigured = True
        logger.warning("usageanalytics: call configure() first; tracking calls are ignored until then")
    return client


def set_user(user_id: str, customer_account_id: str | None = None, product_id: str | None = None) -> None:
    """The user logged in (what the guest logged becomes theirs)."""
    if (client := _shared()) is not None:
        client.set_user(user_id, customer_account_id, product_id)


def reset_user() -> None:
    """The user logged out: continue as a new guest."""
    if (client := _shared()) is not None:
        client.reset_user()


def set_product_id(product_id: str) -> None:
    """The user switched to another product."""
    if (client := _shared()) is not None:
        client.set_product_id(product_id)


def set_user_attribute(name: UserAttribute | str, value: Value) -> None:
    """Set a standard or custom user attribute (str, int, float, bool, date or datetime)."""
    if (client := _shared()) is not None:
        client.set_user_attribute(name, value)


def set_user_attributes(attributes: Mapping[UserAttribute | str, Value]) -> None:
    """Set several user attributes at once."""
    if (client := _shared()) is not None:
        client.set_user_attributes(attributes)


def log_event(
    name: str,
    attributes: Mapping[str, Value] | None = None,
    *,
    debounce: bool = False,
    timestamp: datetime | None = None,
) -> None:
    """Log a custom event with up to five typed attributes; ``timestamp`` backfills one."""
    if (client := _shared()) is not None:
        client.log_event(name, attributes, debounce=debounce, timestamp=timestamp)


def log_screen_view(
    screen_name: str,
    *,
    debounce: bool = False,
    attributes: Mapping[str, Value] | None = None,
    timestamp: datetime | None = None,
) -> None:
    """Log the event "Screen View" with attribute "Screen Name"; ``timestamp`` backfills one."""
    if (client := _shared()) is not None:
        client.log_screen_view(screen_name, debounce=debounce, attributes=attributes, timestamp=timestamp)


def log_page_load(page_url: str, load_time_ms: float, request_count: int = 1) -> None:
    """Log ``page_load_event`` with its load time in milliseconds."""
    if (client := _shared()) is not None:
        client.log_page_load(page_url, load_time_ms, request_count)


def update_device_token(token: str, app_in_distribution: bool | None = None) -> None:
    """Send this device's push-notification token."""
    if (client := _shared()) is not None:
        client.update_device_token(token, app_in_distribution)


def opt_out() -> None:
    """The user opted out: nothing is recorded, written or sent until :func:`opt_in`, in every
    process on this data folder and across restarts; what is still queued is discarded.

    Before :func:`configure` the choice is kept and applied as soon as it runs (its data folder
    is not known before)."""
    _choose(opted_out=True)


def opt_in() -> None:
    """The user opted in (again), or gave consent (``configure(opt_out_by_default=True)``);
    before :func:`configure`, applied when it runs."""
    _choose(opted_out=False)


def _choose(opted_out: bool) -> None:
    global _pending_choice
    client = _shared(warn=False)
    if client is None:
        with _client_lock:
            client = _client
            if client is None:
                _pending_choice = opted_out
                logger.info(
                    "usageanalytics: %s before configure(): applied when it runs",
                    "opt_out()" if opted_out else "opt_in()",
                )
                return
    _apply_choice(client, opted_out)


def _apply_pending_choice(client: Client) -> None:
    """An opt_out() or opt_in() made before configure(), applied to the client it made."""
    global _pending_choice
    with _client_lock:
        choice, _pending_choice = _pending_choice, None
    if choice is not None:
        _apply_choice(client, choice)


def _apply_choice(client: Client, opted_out: bool) -> None:
    if opted_out:
        client.opt_out()
    else:
        client.opt_in()


def is_opted_out() -> bool:
    """Whether the user opted out (before :func:`configure`: whether ``opt_out()`` was called
    since the last ``opt_in()``)."""
    client = _shared(warn=False)
    if client is None:
        return _pending_choice is True
    return client.is_opted_out()


def forget_user(user_id: str) -> int:
    """Drop every record of ``user_id`` still on this machine (a GDPR erasure); returns how many.

    Data already delivered must be erased on the SmartKarrot side.
    """
    client = _shared()
    return 0 if client is None else client.forget_user(user_id)


def flush(timeout: float = 10.0) -> bool:
    """Send everything now; True when the queue is empty within ``timeout`` seconds."""
    client = _client
    return True if client is None else client.flush(timeout)


def shutdown(timeout: float = 10.0) -> bool:
    """End the session, flush and stop the shared client (also done at interpreter exit)."""
    global _client, _on_demand, _pending_choice
    with _client_lock:
        client, _client = _client, None
        _pending_choice = None
        _on_demand = False  # shut down on purpose: `usageanalytics run` must not start it again
    if client is None:
        return True
    from . import autocapture

    autocapture.disable()
    return client.shutdown(timeout)

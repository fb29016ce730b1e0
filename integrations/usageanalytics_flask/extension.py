"""The Flask-extension way to set the SDK up: ``UsageAnalytics(app)`` or ``init_app(app)``.

    app.config["USAGEANALYTICS_APP_ID"] = "your-app-id"
    app.config["USAGEANALYTICS_API_KEY"] = "..."
    analytics = UsageAnalytics(app)  # or UsageAnalytics() at import, analytics.init_app(app) in the factory

Every ``configure()`` setting is read from ``app.config["USAGEANALYTICS_<NAME>"]``, over the
environment (``USAGEANALYTICS_<NAME>``) and the defaults; text values, as
``app.config.from_prefixed_env()`` or ``os.environ`` give them, are read as the environment's
would be. It is the same as calling ``configure()`` with those settings: the SDK's client is
process-wide, and a second call (another ``init_app``, ``configure()`` itself, the Django app,
``usageanalytics run``) that comes out with the same settings keeps it. Auto-capture does the
rest, as after ``configure()``; the per-app options ``USAGEANALYTICS_EXCLUDE``,
``USAGEANALYTICS_IDENTIFY`` and ``USAGEANALYTICS_PAGE_QUERY`` are read per request as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import usageanalytics as ua
from usageanalytics.settings import ENV_PREFIX, config_settings, env_var, settings_from, suggestion

if TYPE_CHECKING:
    from flask import Flask

    from usageanalytics.client import Client

logger = logging.getLogger("usageanalytics")

#: Read per request by the Flask integration, not settings of configure().
APP_OPTIONS = frozenset({"USAGEANALYTICS_EXCLUDE", "USAGEANALYTICS_IDENTIFY", "USAGEANALYTICS_PAGE_QUERY"})


class UsageAnalytics:
    """Set the SDK up from a Flask app's config (the Flask-extension convention)."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Configure the SDK from ``app.config``; raises ``ConfigurationError`` naming the key."""
        given = config_settings(app.config, key=env_var, where=lambda key: f"app.config[{key!r}]")
        _warn_about_unknown_keys(app.config)
        if given or ua.get_client() is None:
            settings_from(given)  # check first, so a mistake names its app.config key
            ua.configure(**{name: item.value for name, item in given.items()})
        # else: configure() (or usageanalytics run) already set the SDK up and app.config adds nothing
        app.extensions["usageanalytics"] = self

    @property
    def client(self) -> Client | None:
        """The SDK's shared client."""
        return ua.get_client()


def _warn_about_unknown_keys(config: Any) -> None:
    known = {env_var(name) for name in _setting_names()} | APP_OPTIONS
    for key in sorted(k for k in config if isinstance(k, str) and k.startswith(ENV_PREFIX)):
        if key not in known:
            meant = suggestion(key.removeprefix(ENV_PREFIX))
            hint = f"; did you mean {env_var(meant)!r}?" if meant else ""
            logger.warning("usageanalytics: app.config[%r] is not a usageanalytics setting%s", key, hint)


def _setting_names() -> list[str]:
    from usageanalytics.settings import setting_kinds

    return list(setting_kinds())

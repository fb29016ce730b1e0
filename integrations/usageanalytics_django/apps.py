"""The Django way to set the SDK up: the app in ``INSTALLED_APPS`` and a ``USAGEANALYTICS`` dict.

    INSTALLED_APPS = [..., "usageanalytics_django"]
    USAGEANALYTICS = {"APP_ID": "your-app-id", "API_KEY": env("UA_API_KEY"), "CUSTOMER_ACCOUNT_ID": "acme"}

``ready()`` calls ``configure()`` with the dict's settings (keys are ``configure()``'s argument
names, upper or lower case), over the environment (``USAGEANALYTICS_<NAME>``) and the defaults;
text values are read as the environment's would be, and None means "not given". It is the same
as calling ``configure()`` yourself: a second call that comes out with the same settings keeps
the client. The request-time options stay settings of their own (``USAGEANALYTICS_EXCLUDE``,
``USAGEANALYTICS_IDENTIFY``, ``USAGEANALYTICS_PAGE_QUERY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import AppConfig  # type: ignore[import-untyped]

import usageanalytics as ua
from usageanalytics.errors import ConfigurationError
from usageanalytics.settings import config_settings, setting_kinds, settings_from, suggestion

SETTING = "USAGEANALYTICS"


class UsageAnalyticsConfig(AppConfig):  # type: ignore[misc]
    """Configures usageanalytics from ``settings.USAGEANALYTICS`` when Django starts."""

    name = "usageanalytics_django"
    verbose_name = "SmartKarrot usage analytics"

    def ready(self) -> None:
        configure_from_settings()


def configure_from_settings() -> None:
    """``configure()`` from ``settings.USAGEANALYTICS``; ConfigurationError naming the key."""
    from django.conf import settings  # type: ignore[import-untyped]

    config = getattr(settings, SETTING, None)
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            f"settings.{SETTING} must be a dict of configure() settings, got {type(config).__name__}"
        )
    by_name = _by_setting_name(config)
    given = config_settings(
        {name: value for name, (key, value) in by_name.items()},
        key=lambda name: name,
        where=lambda name: f"settings.{SETTING}[{by_name[name][0]!r}]",
    )
    if not given and ua.get_client() is not None:
        return  # configure() (or usageanalytics run) already set the SDK up, and the dict adds nothing
    try:
        settings_from(given)  # check first, so a mistake names its key
    except ConfigurationError as error:
        if str(error).startswith(f"settings.{SETTING}"):
            raise
        raise ConfigurationError(f"settings.{SETTING}: {error}") from None
    ua.configure(**{name: item.value for name, item in given.items()})


def _by_setting_name(config: Mapping[Any, Any]) -> dict[str, tuple[str, Any]]:
    """``{setting name: (the dict's key, value)}``; unknown or repeated keys raise."""
    names = setting_kinds()
    found: dict[str, tuple[str, Any]] = {}
    for key, value in config.items():
        name = str(key).lower()
        if name not in names:
            meant = suggestion(name)
            if meant:
                hint = f"; did you mean {meant.upper()!r}?"
            elif f"USAGEANALYTICS_{name.upper()}" in _REQUEST_OPTIONS:
                hint = f"; it is a setting of its own: USAGEANALYTICS_{name.upper()} = ..."
            else:
                hint = ""
            raise ConfigurationError(f"settings.{SETTING}[{key!r}] is not a configure() setting{hint}")
        if name in found:
            first = found[name][0]
            raise ConfigurationError(f"settings.{SETTING} sets {name!r} twice: {first!r} and {key!r}")
        found[name] = (str(key), value)
    return found


_REQUEST_OPTIONS = frozenset(
    {"USAGEANALYTICS_EXCLUDE", "USAGEANALYTICS_IDENTIFY", "USAGEANALYTICS_PAGE_QUERY"}
)

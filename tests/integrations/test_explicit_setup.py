"""Explicit set-ups: the Flask extension (``UsageAnalytics(app)`` / ``init_app``) from
``app.config``, and the Django app (``INSTALLED_APPS`` + ``settings.USAGEANALYTICS``), each the
same as calling ``configure()``, and harmless together with it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import usageanalytics as ua
from tests.conftest import API_KEY
from tests.integrations.helpers import flushed, page_loads, screen_views
from tests.support.strict_server import StrictServer
from usageanalytics_flask import UsageAnalytics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.apps.django_site.settings")


@pytest.fixture
def config(server: StrictServer, tmp_path: Path) -> dict[str, Any]:
    """What an app's config would hold to report to ``server``."""
    return {
        "USAGEANALYTICS_APP_ID": "flask-explicit",
        "USAGEANALYTICS_API_KEY": API_KEY,
        "USAGEANALYTICS_ENDPOINT": server.endpoint,
        "USAGEANALYTICS_DATA_DIR": str(tmp_path / "data"),
        "USAGEANALYTICS_CUSTOMER_ACCOUNT_ID": "acct-flask",
        "USAGEANALYTICS_COLLECT_DEVICE_ATTRIBUTES": False,
        "USAGEANALYTICS_EXIT_TIMEOUT": 1.0,
    }


def make_app(config: dict[str, Any], extension: UsageAnalytics | None = None) -> Flask:
    """An application factory, as Flask's tutorial writes one, with the extension's init_app."""
    app = Flask(__name__)
    app.config.from_mapping(config)

    @app.get("/")
    def index() -> str:
        return "<h1>Index</h1>"

    @app.get("/posts/<int:post_id>")
    def post(post_id: int) -> str:
        return f"<h1>Post {post_id}</h1>"

    if extension is not None:
        extension.init_app(app)
    return app


# -- Flask -------------------------------------------------------------------------------------


def test_flask_extension_configures_from_app_config(config: dict[str, Any], server: StrictServer) -> None:
    app = make_app(dict(config, USAGEANALYTICS_FLUSH_INTERVAL="30"))  # text, as from the environment
    analytics = UsageAnalytics(app)
    client = ua.get_client()
    assert client is not None and analytics.client is client
    assert app.extensions["usageanalytics"] is analytics
    settings = client.settings
    assert (settings.app_id, settings.customer_account_id, settings.flush_interval) == (
        "flask-explicit",
        "acct-flask",
        30.0,
    )
    browser = app.test_client()
    browser.get("/")
    browser.get("/posts/3")
    flushed(server)
    assert [name for _, name in screen_views(server)] == ["/", "/posts/<int:post_id>"]
    assert {event["_envelope"]["appId"] for event in server.events()} == {"flask-explicit"}


def test_init_app_in_a_factory_called_twice_keeps_one_client(
    config: dict[str, Any], server: StrictServer
) -> None:
    analytics = UsageAnalytics()
    first = make_app(config, analytics)
    client = ua.get_client()
    second = make_app(config, analytics)
    assert ua.get_client() is client
    first.test_client().get("/")
    second.test_client().get("/posts/1")
    flushed(server)
    assert [name for _, name in screen_views(server)] == ["/", "/posts/<int:post_id>"]


def test_configure_and_the_extension_together_capture_each_page_once(
    config: dict[str, Any], server: StrictServer, tmp_path: Path
) -> None:
    client = ua.configure(
        "flask-explicit",
        api_key=API_KEY,
        endpoint=server.endpoint,
        data_dir=str(tmp_path / "data"),
        customer_account_id="acct-flask",
        collect_device_attributes=False,
        exit_timeout=1.0,
    )
    app = make_app(config)
    UsageAnalytics(app)  # the same settings, from app.config
    assert ua.get_client() is client
    bare = make_app({})
    UsageAnalytics(bare)  # no settings at all in app.config: the running client is kept
    assert ua.get_client() is client
    app.test_client().get("/")
    flushed(server)
    assert len(screen_views(server)) == 1
    assert len(page_loads(server)) == 1


def test_the_extension_then_configure_with_the_same_settings(
    config: dict[str, Any], server: StrictServer, tmp_path: Path
) -> None:
    UsageAnalytics(make_app(config))
    client = ua.get_client()
    again = ua.configure(
        **{key.removeprefix("USAGEANALYTICS_").lower(): value for key, value in config.items()}
    )
    assert again is client


def test_app_config_wins_over_the_environment(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAGEANALYTICS_CUSTOMER_ACCOUNT_ID", "env-acct")
    monkeypatch.setenv("USAGEANALYTICS_PRODUCT_ID", "env-product")
    UsageAnalytics(make_app(config))
    client = ua.get_client()
    assert client is not None
    assert (client.settings.customer_account_id, client.settings.product_id) == ("acct-flask", "env-product")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "USAGEANALYTICS_BATCH_SIZE",
            "lots",
            "app.config['USAGEANALYTICS_BATCH_SIZE']='lots': batch_size must be an integer",
        ),
        (
            "USAGEANALYTICS_BATCH_SIZE",
            5000,
            "app.config['USAGEANALYTICS_BATCH_SIZE']=5000: batch_size must be between 1 and 1000",
        ),
        (
            "USAGEANALYTICS_DURABLE",
            "maybe",
            "app.config['USAGEANALYTICS_DURABLE']='maybe': durable must be one of",
        ),
        (
            "USAGEANALYTICS_API_KEY",
            42,
            "app.config['USAGEANALYTICS_API_KEY'] (hidden): api_key must be a string",
        ),
    ],
)
def test_a_bad_app_config_value_names_its_key(
    config: dict[str, Any], key: str, value: Any, message: str
) -> None:
    with pytest.raises(ua.ConfigurationError) as raised:
        UsageAnalytics(make_app(dict(config, **{key: value})))
    assert str(raised.value).startswith(message)
    assert ua.get_client() is None


def test_a_misspelt_app_config_key_is_logged(
    config: dict[str, Any], sdk_log: pytest.LogCaptureFixture
) -> None:
    UsageAnalytics(make_app(dict(config, USAGEANALYTICS_FLUSH_INTERVL=5, USAGEANALYTICS_EXCLUDE=["/admin"])))
    warnings = [r.getMessage() for r in sdk_log.records if r.levelno == logging.WARNING]
    assert warnings == [
        "usageanalytics: app.config['USAGEANALYTICS_FLUSH_INTERVL'] is not a usageanalytics setting; "
        "did you mean 'USAGEANALYTICS_FLUSH_INTERVAL'?"
    ]


# -- Django ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def django_settings() -> Iterator[None]:
    import django

    django.setup()  # once per process; the same site settings as tests/integrations/test_django.py
    yield


@pytest.fixture
def usageanalytics_setting(config: dict[str, Any], django_settings: None) -> dict[str, Any]:
    return {key.removeprefix("USAGEANALYTICS_"): value for key, value in config.items()} | {
        "APP_ID": "django-explicit"
    }


def test_django_app_configures_from_the_settings_dict(usageanalytics_setting: dict[str, Any]) -> None:
    from django.test import override_settings

    from usageanalytics_django.apps import UsageAnalyticsConfig, configure_from_settings

    assert UsageAnalyticsConfig.name == "usageanalytics_django"
    with override_settings(USAGEANALYTICS=dict(usageanalytics_setting, flush_interval="45")):
        configure_from_settings()
        client = ua.get_client()
        assert client is not None
        assert (client.settings.app_id, client.settings.flush_interval) == ("django-explicit", 45.0)
        configure_from_settings()  # ready() again, or configure() with the same settings: same client
        assert ua.get_client() is client


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"BATCH_SIZE": "lots"},
            "settings.USAGEANALYTICS['BATCH_SIZE']='lots': batch_size must be an integer",
        ),
        (
            {"FLUSH_INTERVALL": 5},
            "settings.USAGEANALYTICS['FLUSH_INTERVALL'] is not a configure() setting; "
            "did you mean 'FLUSH_INTERVAL'?",
        ),
        ({"EXCLUDE": ["/x"]}, "it is a setting of its own: USAGEANALYTICS_EXCLUDE = ..."),
        (
            {"APP_ID": "a", "app_id": "b"},
            "settings.USAGEANALYTICS sets 'app_id' twice: 'APP_ID' and 'app_id'",
        ),
    ],
)
def test_django_settings_mistakes_name_their_key(
    usageanalytics_setting: dict[str, Any], setting: dict[str, Any], message: str
) -> None:
    from django.test import override_settings

    from usageanalytics_django.apps import configure_from_settings

    with (
        override_settings(USAGEANALYTICS=dict(usageanalytics_setting, **setting)),
        pytest.raises(ua.ConfigurationError) as raised,
    ):
        configure_from_settings()
    assert message in str(raised.value)


def test_django_without_an_app_id_anywhere_says_so(
    django_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import override_settings

    from usageanalytics_django.apps import configure_from_settings

    monkeypatch.delenv("USAGEANALYTICS_APP_ID", raising=False)
    with override_settings(USAGEANALYTICS={"API_KEY": "k"}), pytest.raises(ua.ConfigurationError) as raised:
        configure_from_settings()
    assert str(raised.value).startswith("settings.USAGEANALYTICS: An app id is required")


def test_django_dict_absent_keeps_a_client_configured_elsewhere(
    django_settings: None, tmp_path: Path
) -> None:
    from usageanalytics_django.apps import configure_from_settings

    client = ua.configure("elsewhere", api_key="k", data_dir=str(tmp_path), collect_device_attributes=False)
    configure_from_settings()  # the site's settings have no USAGEANALYTICS
    assert ua.get_client() is client

"""configure() settings: environment variables, defaults, and the errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import usageanalytics as ua
from usageanalytics.settings import financial_endpoint_for, resolve_settings


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGEANALYTICS_APP_ID", "env-app")
    monkeypatch.setenv("USAGEANALYTICS_API_KEY", "env-key")
    monkeypatch.setenv("USAGEANALYTICS_ENDPOINT", "http://127.0.0.1:9/v4")
    from_env = resolve_settings()
    assert (from_env.app_id, from_env.api_key, from_env.endpoint) == (
        "env-app",
        "env-key",
        "http://127.0.0.1:9/v4/",
    )
    explicit = resolve_settings("arg-app", api_key="arg-key", endpoint="https://example.com/v4/")
    assert (explicit.app_id, explicit.api_key, explicit.endpoint) == (
        "arg-app",
        "arg-key",
        "https://example.com/v4/",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"app_id": ""}, "app id is required"),
        ({"app_id": "   "}, "app id is required"),
        ({"api_key": ""}, "API key is required"),
        ({"endpoint": "ftp://example.com/v4/"}, "not an http(s) URL"),
        ({"endpoint": "not a url"}, "not an http(s) URL"),
        ({"endpoint": "http://api.smartkarrot.com/v4/"}, "unencrypted"),
        ({"endpoint": "https://example.com/v4/?x=1"}, "query"),
        ({"platform": "Symbian"}, "platform must be one of iOS, Android, Web"),
        ({"flush_interval": 0}, "flush_interval must be a positive number"),
        ({"batch_size": 5000}, "batch_size must be between 1 and 1000"),
        ({"user_id": ""}, "user_id must be a non-empty string"),
        ({"no_such_setting": 1}, "unknown settings: no_such_setting"),
    ],
)
def test_configuration_mistakes_raise_with_what_to_fix(
    kwargs: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("USAGEANALYTICS_APP_ID", "USAGEANALYTICS_API_KEY", "USAGEANALYTICS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    arguments: dict[str, object] = {"app_id": "app", "api_key": "key", "data_dir": str(tmp_path)}
    arguments.update(kwargs)
    app_id = arguments.pop("app_id")
    with pytest.raises(ua.ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ua.configure(app_id, **arguments)  # type: ignore[arg-type]
    assert ua.get_client() is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.1.2.3"])
def test_plain_http_is_allowed_to_loopback_only(host: str) -> None:
    settings = resolve_settings("app", api_key="key", endpoint=f"http://{host}:8787/v4")
    assert settings.endpoint == f"http://{host}:8787/v4/"


def test_platform_is_web_unless_configured_and_case_is_forgiven() -> None:
    assert resolve_settings("a", api_key="k").platform == "Web"
    assert resolve_settings("a", api_key="k", platform="android").platform == "Android"


def test_disabled_by_environment_makes_every_call_a_no_op(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("USAGEANALYTICS_DISABLED", "1")
    monkeypatch.delenv("USAGEANALYTICS_API_KEY", raising=False)
    client = ua.configure("app", data_dir=str(tmp_path / "never"))
    assert client.settings.disabled
    ua.set_user("u")
    ua.log_event("Anything", {"a": 1})
    ua.log_screen_view("Home")
    ua.set_user_attribute(ua.UserAttribute.NAME, "x")
    ua.update_device_token("t")
    assert ua.flush(1) is True
    assert ua.shutdown(1) is True
    assert not (tmp_path / "never").exists(), "a disabled SDK must not touch the disk"


def test_api_key_is_not_in_the_settings_repr() -> None:
    settings = resolve_settings("app", api_key="s3cr3t-key-123")
    assert "s3cr3t" not in repr(settings)


def test_financial_endpoint_sits_beside_v4() -> None:
    assert (
        financial_endpoint_for("https://api.smartkarrot.com/v4/")
        == "https://api.smartkarrot.com/dashboards/v4/financial/"
    )
    assert (
        financial_endpoint_for("http://127.0.0.1:8787/v4/")
        == "http://127.0.0.1:8787/dashboards/v4/financial/"
    )

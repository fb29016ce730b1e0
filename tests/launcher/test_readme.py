"""The README's explicit set-up examples work as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import usageanalytics as ua
from tests.conftest import API_KEY
from tests.integrations.helpers import flushed, screen_views
from tests.support.strict_server import StrictServer

README = Path(__file__).resolve().parents[2] / "README.md"


def blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("<!-- section: launcher") : text.index("<!-- end section: launcher -->")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_flask_extension_example(
    server: StrictServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flask_block = next(block for block in blocks() if "UsageAnalytics()" in block)
    monkeypatch.setenv("FLASK_USAGEANALYTICS_API_KEY", API_KEY)
    monkeypatch.setenv("USAGEANALYTICS_ENDPOINT", server.endpoint)
    monkeypatch.setenv("USAGEANALYTICS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("USAGEANALYTICS_COLLECT_DEVICE_ATTRIBUTES", "0")
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(flask_block, namespace)
    app = namespace["create_app"]()
    app.get("/")(lambda: "<h1>Home</h1>")
    assert app.test_client().get("/").status_code == 200
    client = ua.get_client()
    assert client is not None and namespace["analytics"].client is client
    assert (client.settings.app_id, client.settings.customer_account_id) == ("your-app-id", "acme")
    flushed(server)
    assert [name for _, name in screen_views(server)] == ["/"]


def test_the_django_settings_example(monkeypatch: pytest.MonkeyPatch) -> None:
    from usageanalytics.settings import config_settings, settings_from
    from usageanalytics_django.apps import _by_setting_name

    django_block = next(block for block in blocks() if "INSTALLED_APPS" in block)
    monkeypatch.setenv("SMARTKARROT_API_KEY", "k")
    namespace: dict[str, Any] = {}
    exec("import os\n" + django_block, namespace)
    assert "usageanalytics_django" in namespace["INSTALLED_APPS"]
    by_name = _by_setting_name(namespace["USAGEANALYTICS"])
    given = config_settings({n: v for n, (_, v) in by_name.items()}, key=lambda n: n, where=str)
    settings = settings_from(given, environ={})
    assert (settings.app_id, settings.api_key, settings.customer_account_id, settings.flush_interval) == (
        "your-app-id",
        "k",
        "acme",
        60,
    )

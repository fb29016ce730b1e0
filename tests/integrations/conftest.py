"""Fixtures for the auto-capture tests: the shared client configured against the strict server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import usageanalytics as ua
from tests.conftest import API_KEY
from tests.support.strict_server import StrictServer

ACCOUNT = "acct-1"


@pytest.fixture(scope="module")
def django_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The Django test site set up, its database migrated (a module's tests ask for it with
    ``pytestmark = pytest.mark.usefixtures("django_site")``, after setting
    ``DJANGO_SETTINGS_MODULE``)."""
    import os

    import django
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.apps.django_site.settings")
    os.environ.setdefault("UA_TEST_DJANGO_DB", str(tmp_path_factory.mktemp("django") / "site.sqlite3"))
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    yield


@pytest.fixture
def configure(server: StrictServer, tmp_path: Path) -> Iterator[Callable[..., ua.Client]]:
    """``configure(**options)``: ``ua.configure()`` against ``server`` as an app would call it.

    The debounce window is long by default so that "debounced" never depends on the machine's
    speed; tests that need repeats to pass the window set their own. The client is shut down
    while the server still runs, so its last records (the session's end) are delivered.
    """

    def configure(**options: Any) -> ua.Client:
        app_id = options.pop("app_id", "app-web")
        settings: dict[str, Any] = {
            "api_key": API_KEY,
            "endpoint": server.endpoint,
            "data_dir": str(tmp_path / "data"),
            "customer_account_id": ACCOUNT,
            "collect_device_attributes": False,
            "exit_timeout": 1.0,
            "debounce_window": 60.0,
        }
        settings.update(options)
        return ua.configure(app_id, **settings)

    yield configure
    ua.shutdown(timeout=30)

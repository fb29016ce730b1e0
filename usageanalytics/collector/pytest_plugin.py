"""pytest fixtures to test your own app's tracking against a real local collector.

Installed with the package (entry point ``pytest11``), so they are there in any test suite:

    def test_signup_is_tracked(usageanalytics_client, usageanalytics_collector):
        my_app.sign_up("dana@example.com")          # your code calls ua.log_event(...)
        usageanalytics_client.flush()
        event = usageanalytics_collector.assert_event("Signed Up", {"Plan": "Pro"})

- ``usageanalytics_collector``: a collector on a free port of 127.0.0.1 with a fresh database,
  and the read API over it (``events(name=...)``, ``users()``, ``sessions()``, ``devices()``,
  ``user_attributes(user_id)``, ``assert_event(...)``, ``wait_for(...)``).
- ``usageanalytics_configure``: ``configure(app_id="test-app", **options)`` sets up the shared
  SDK client (what ``ua.log_event`` and the integrations use) against that collector.
- ``usageanalytics_client``: the shared client, configured with the defaults.

This module is imported by every pytest run wherever the package is installed, so it imports
only pytest here and the collector (Starlette, uvicorn) inside the fixtures, and defines nothing
but fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from usageanalytics import Client
    from usageanalytics.collector.server import RunningCollector

API_KEY = "pytest-key"
APP_ID = "test-app"
ACCOUNT = "test-account"


@pytest.fixture
def usageanalytics_collector(tmp_path: Path) -> Iterator[RunningCollector]:
    """A running collector with an empty database, stopped after the test."""
    from usageanalytics.collector.server import run_in_thread

    with run_in_thread(tmp_path / "usageanalytics-collector.sqlite", api_key=API_KEY) as collector:
        yield collector


@pytest.fixture
def usageanalytics_configure(
    usageanalytics_collector: RunningCollector, tmp_path: Path
) -> Iterator[Callable[..., Client]]:
    """Configure the shared SDK client against the collector; shut down after the test.

    Defaults: app id ``test-app``, customer account ``test-account``, a data folder in the test's
    temporary directory and a one-second flush interval; any ``ua.configure`` option overrides them.
    """
    import usageanalytics as ua

    def configure(app_id: str = APP_ID, **options: Any) -> Client:
        settings: dict[str, Any] = {
            "api_key": API_KEY,
            "endpoint": usageanalytics_collector.endpoint,
            "data_dir": str(tmp_path / "usageanalytics-data"),
            "customer_account_id": ACCOUNT,
            "flush_interval": 1.0,
        }
        settings.update(options)
        return ua.configure(app_id, **settings)

    yield configure
    ua.shutdown(timeout=10.0)


@pytest.fixture
def usageanalytics_client(usageanalytics_configure: Callable[..., Client]) -> Client:
    """The shared SDK client (``ua.configure``) sending to ``usageanalytics_collector``."""
    return usageanalytics_configure()

"""Fixtures for the REST client tests: a scripted server and both clients against any server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.drivers import AsyncDriver, SyncDriver
from tests.api.scripted_server import ScriptedServer

API_KEY = "api-test-key"
APP_ID = "app-under-test"

Driver = SyncDriver | AsyncDriver


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer(API_KEY) as server:
        yield server


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Any]:
    """The real collector (``usageanalytics.collector``) on 127.0.0.1, in a fresh SQLite file."""
    from usageanalytics.collector.server import run_in_thread

    running = run_in_thread(tmp_path / "collector.db", api_key=API_KEY)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=["sync", "async"])
def make_api(request: pytest.FixtureRequest) -> Iterator[Callable[..., Driver]]:
    """Build the sync or the async client (the test runs once with each); closed after the test."""
    made: list[Driver] = []
    kind = SyncDriver if request.param == "sync" else AsyncDriver

    def make(server: Any, **options: Any) -> Driver:
        settings: dict[str, Any] = {
            "api_key": API_KEY,
            "app_id": APP_ID,
            "endpoint": server.endpoint,
            "financial_endpoint": server.financial_endpoint,
            "retry_backoff": 0.01,
            "timeout": 30.0,
        }
        settings.update(options)
        driver = kind(**settings)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.close()

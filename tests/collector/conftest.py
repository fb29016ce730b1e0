"""Collector fixtures: a real collector (uvicorn in a thread) on a fresh SQLite file, from the
package's own pytest plugin, and an HTTP client speaking to it with the right credentials."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from usageanalytics.collector.pytest_plugin import API_KEY
from usageanalytics.collector.server import RunningCollector
from usageanalytics.collector.store import TABLES


@pytest.fixture
def collector(usageanalytics_collector: RunningCollector) -> RunningCollector:
    """The plugin's collector (API key ``API_KEY``), under a shorter name."""
    return usageanalytics_collector


@pytest.fixture
def api(collector: RunningCollector) -> Iterator[httpx.Client]:
    """An HTTP client with Basic auth against the collector's root URL."""
    with httpx.Client(base_url=collector.url, auth=("apikey", API_KEY), timeout=30.0) as client:
        yield client


def without_comments(text: str) -> str:
    """A spec sample as JSON: drop its ``//`` annotations (whole lines, or after a value)."""
    text = re.sub(r"(?m)^\s*//.*$\n?", "", text)
    return re.sub(r"(?m)\s+//\s.*$", "", text)


def sample(name: str) -> Any:
    from tests.collector.spec_samples import SAMPLES

    return json.loads(without_comments(SAMPLES[name]))


def snapshot(collector: RunningCollector) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every data table, to prove a request changed nothing. Not the debugger's
    request log: it records refused requests too, written a moment after they are answered."""
    db = collector._connections.get()
    return {
        table: [tuple(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY 1, 2")]
        for table in TABLES
        if table != "request_log"
    }


from tests.collector.browser import browser, page  # noqa: E402, F401  (Playwright fixtures)

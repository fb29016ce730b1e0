"""Fixtures for the launcher tests: a real collector on 127.0.0.1 and the launched command's env."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.launcher.helpers import launch_env
from usageanalytics.collector.server import RunningCollector, run_in_thread


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningCollector]:
    with run_in_thread(tmp_path / "collector.sqlite") as running:
        yield running


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "sdk-data"


@pytest.fixture
def env(collector: RunningCollector, data_dir: Path, tmp_path: Path) -> dict[str, str]:
    return launch_env(collector.endpoint, data_dir, DJSITE_DB=str(tmp_path / "djsite.sqlite3"))

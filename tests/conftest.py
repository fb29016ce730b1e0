"""Shared fixtures: a strict SmartKarrot stand-in on 127.0.0.1 and clients in temporary folders."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import usageanalytics as ua
from tests.support.strict_server import StrictServer

API_KEY = "test-key"

# Property tests (tests/test_properties.py): CI runs a fixed seed and a bounded budget, so a run is
# deterministic and takes about two minutes; the "long" profile searches far more widely:
#   USAGEANALYTICS_HYPOTHESIS=long .venv/bin/python -m pytest tests/test_properties.py
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile(
    "ci", max_examples=40, derandomize=True, database=None, deadline=None, suppress_health_check=_SLOW_IS_FINE
)
settings.register_profile("long", max_examples=1000, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(os.environ.get("USAGEANALYTICS_HYPOTHESIS", "ci"))

# A shell starts a background job (``pytest ... &``) with SIGINT ignored, and servers the tests
# start would inherit that and never see the Ctrl-C the tests press. Handled here, it is reset to
# the default in every child, as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def server() -> Iterator[StrictServer]:
    with StrictServer(API_KEY) as running:
        yield running


@pytest.fixture
def make_client(server: StrictServer, tmp_path: Path) -> Iterator[Any]:
    """Build clients against ``server`` in a temporary data folder; all are shut down after."""
    made: list[ua.Client] = []

    def make(**options: Any) -> ua.Client:
        app_id = options.pop("app_id", "app-1")
        settings: dict[str, Any] = {
            "api_key": API_KEY,
            "endpoint": server.endpoint,
            "data_dir": str(tmp_path / "data"),
            "customer_account_id": "acct-1",
            "collect_device_attributes": False,
            "exit_timeout": 1.0,
        }
        settings.update(options)
        client = ua.Client(app_id, **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.shutdown(timeout=2.0)


@pytest.fixture(autouse=True)
def _no_shared_client() -> Iterator[None]:
    yield
    ua.shutdown(timeout=2.0)


@pytest.fixture
def sdk_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="usageanalytics")
    return caplog

"""A broken identify (or any capture step that fails) is reported, with its traceback, at most
once a minute per client: at production request rates it must not flood the app's log. The
pages still count, as the visitor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

import usageanalytics as ua
from tests.integrations.apps.fastapi_site import create_app as create_fastapi_app
from tests.integrations.apps.flask_site import create_app as create_flask_app
from tests.integrations.helpers import flushed, screen_views
from tests.support.strict_server import StrictServer
from usageanalytics import webcapture

Configure = Callable[..., ua.Client]


def broken_identify(request: Any) -> str:
    raise LookupError("no such user")


def failures(log: pytest.LogCaptureFixture, what: str) -> list[str]:
    return [r.getMessage() for r in log.records if what in r.getMessage()]


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_a_failing_identify_is_reported_once_a_minute_per_client(
    server: StrictServer, configure: Configure, sdk_log: pytest.LogCaptureFixture, framework: str
) -> None:
    configure(identify=broken_identify)
    for _ in range(2):
        if framework == "flask":
            browser = create_flask_app().test_client()
            for _ in range(10):
                assert browser.get("/").status_code == 200
        else:
            with TestClient(create_fastapi_app()) as fastapi_browser:
                for _ in range(10):
                    assert fastapi_browser.get("/").status_code == 200
    flushed(server)
    assert len(screen_views(server)) == 20, "every page still counts"
    reported = failures(sdk_log, "identify(request) failed")
    assert len(reported) == 1, reported
    assert any(r.exc_info for r in sdk_log.records if "identify(request) failed" in r.getMessage())
    configure(identify=broken_identify, flush_interval=60.0)  # another client: reported afresh
    create_flask_app().test_client().get("/")
    assert len(failures(sdk_log, "identify(request) failed")) == 2


def test_identify_answers_that_are_not_ids_fall_back_to_the_visitor_said_once(
    server: StrictServer,
    configure: Configure,
    sdk_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webcapture, "_warned", set())  # said once per process: this test's process
    answers = iter([b"bytes-id", b"bytes-id", "   ", ""])
    configure(identify=lambda request: next(answers))
    browser = create_flask_app().test_client()
    for _ in range(4):
        assert browser.get("/").status_code == 200
    flushed(server)
    views = screen_views(server)
    assert len(views) == 4 and len({user for user, _ in views}) == 1, views  # all the visitor
    assert len(failures(sdk_log, "identify() returned bytes")) == 1

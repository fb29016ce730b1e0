"""Page capture under ``usageanalytics run`` with uvicorn, hypercorn and gunicorn's uvicorn workers,
for a FastAPI app that has no usageanalytics code at all: the pages are captured and the exit
status is the one the server gives without the launcher (``EXIT_STATUS``, checked against bare
runs in test_run_asgi)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.launcher.helpers import browser, get, launched, page_urls, screens
from tests.launcher.test_run_asgi import CASES, EXIT_STATUS, command_for, stop_command
from usageanalytics.collector.server import RunningCollector


@pytest.mark.parametrize(("server", "stop"), CASES)
def test_fastapi_pages_are_captured(
    server: str, stop: str, env: dict[str, str], collector: RunningCollector
) -> None:
    if server.startswith("gunicorn"):
        env["USAGEANALYTICS_FLUSH_INTERVAL"] = "0.5"  # no exit flush in UvicornWorker (see test_run_asgi)
    with launched(command_for(server), env) as command:
        url = command.url()
        with browser() as visitor:
            assert get(url + "/", visitor).status_code == 200
            assert get(url + "/items/42", visitor).status_code == 200
            assert get(url + "/api/items", visitor).status_code == 200  # JSON: not a page
            assert "ua_visitor" in visitor.cookies
        if server.startswith("gunicorn"):
            assert collector.wait_for(lambda: len(collector.events("page_load_event")) == 2, timeout=60)
        status = stop_command(command, stop)
    assert status == EXIT_STATUS[(server, stop)], command.output
    assert screens(collector) == ["/", "/items/{item_id}"]
    assert page_urls(collector) == ["/", "/items/42"]


def test_identify_from_the_environment_names_the_user(
    env: dict[str, str], collector: RunningCollector, tmp_path: Path
) -> None:
    """USAGEANALYTICS_IDENTIFY as an import path: imported when the client is made (the first
    request), not while the framework is being imported."""
    (tmp_path / "whois.py").write_text("def identify(request):\n    return request.headers.get('x-user')\n")
    env["PYTHONPATH"] = str(tmp_path)
    env["USAGEANALYTICS_IDENTIFY"] = "whois:identify"
    with launched(["uvicorn", "asgi_app:app", "--port", "0"], env) as command:
        url = command.url()
        with browser() as visitor:
            visitor.headers["x-user"] = "ada"
            get(url + "/", visitor)
        status = stop_command(command, "ctrl-c")
    assert status == EXIT_STATUS[("uvicorn", "ctrl-c")], command.output
    (view,) = collector.events("Screen View")
    assert view["user_id"] == "ada"

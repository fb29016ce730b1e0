"""The examples, run as their README says, report to a real server with nothing but configure()."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integrations.helpers import (
    ROOT,
    http_client,
    params,
    run_script,
    screen_views,
    sdk_env,
    sdk_env_for,
    serving,
    taps,
)
from tests.support.strict_server import StrictServer

EXAMPLES = ROOT / "examples"


def free_port() -> int:
    """For a server that cannot be told to pick its own port (Django's runserver)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def names(server: StrictServer) -> list[str]:
    return [name for _, name in screen_views(server)]


def test_flask_example(server: StrictServer, tmp_path: Path) -> None:
    env = sdk_env(server, tmp_path / "sdk")
    command = [str(EXAMPLES / "flask_app.py"), "--port", "0"]
    with serving(command, env, interrupt=True) as served, http_client() as browser:
        for path in ("/", "/latest", "/api/articles", "/favicon.ico"):
            browser.get(served.url + path)
    assert names(server) == ["/", "/articles/<int:article_id>"]
    loads = [params(e) for e in server.events("page_load_event")]
    assert [(load["pageUrl"], load["requestCount"]) for load in loads] == [("/", 1), ("/articles/3", 2)]
    assert server.rejected == []


def test_flask_example_reports_to_the_local_collector(tmp_path: Path) -> None:
    from usageanalytics.collector.server import run_in_thread

    with run_in_thread(tmp_path / "collector.sqlite") as collector:
        env = sdk_env_for(collector.endpoint, "any-key", tmp_path / "sdk")
        command = [str(EXAMPLES / "flask_app.py"), "--port", "0"]
        with serving(command, env, interrupt=True) as served, http_client() as browser:
            for path in ("/", "/articles/2", "/api/articles"):
                browser.get(served.url + path)
        screens = [event["attributes"]["Screen Name"] for event in collector.events("Screen View")]
        assert screens == ["/", "/articles/<int:article_id>"]
        loads = [event["attributes"]["pageUrl"] for event in collector.events("page_load_event")]
        assert loads == ["/", "/articles/2"]


def test_django_example_with_runserver(server: StrictServer, tmp_path: Path) -> None:
    env = sdk_env(server, tmp_path / "sdk", EXAMPLE_DJANGO_DB=str(tmp_path / "example.db"))
    port = free_port()
    command = [str(EXAMPLES / "django_project" / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{port}"]
    with serving(command, env, interrupt=True) as served, http_client() as browser:
        for path in ("/", "/articles/", "/articles/2/", "/live/", "/api/articles/"):
            assert browser.get(served.url + path).status_code == 200
        browser.get(served.url + "/login/")
        token = browser.cookies["csrftoken"]
        response = browser.post(
            served.url + "/login/",
            data={"name": "grace", "csrfmiddlewaretoken": token},
            headers={"Referer": served.url},
        )
        assert "Signed in as grace" in response.text
        browser.get(served.url + "/articles/3/")
    assert len(server.events("page_load_event")) == 7  # the JSON answer is not a page
    assert set(names(server)) == {"/", "/articles/", "/articles/<int:article_id>/", "/live/", "/login/"}
    (grace,) = {
        body["userId"] for body in server.bodies("usageanalytics/user") if body["loginMechanism"] == "AUTH"
    }
    (last,) = [e for e in server.events("page_load_event") if params(e)["pageUrl"] == "/articles/3/"]
    assert last["_envelope"]["userId"] == grace
    assert server.rejected == []


def test_django_example_under_uvicorn(server: StrictServer, tmp_path: Path) -> None:
    env = sdk_env(server, tmp_path / "sdk", EXAMPLE_DJANGO_DB=str(tmp_path / "example.db"))
    command = ["-m", "uvicorn", "--app-dir", str(EXAMPLES / "django_project"), "mysite.asgi:application"]
    command += ["--port", str(free_port()), "--log-level", "info"]
    with serving(command, env, interrupt=True, merge_stderr=True) as served, http_client() as browser:
        for path in ("/", "/live/", "/api/articles/"):
            assert browser.get(served.url + path).status_code == 200
    assert names(server) == ["/", "/live/"]
    assert server.rejected == []


@pytest.mark.parametrize("binding", ["PySide6", "PyQt6"])
def test_qt_example_demo(server: StrictServer, tmp_path: Path, binding: str) -> None:
    env = sdk_env(server, tmp_path / "sdk", QT_QPA_PLATFORM="offscreen")
    flags = ["--demo", *(["--pyqt6"] if binding == "PyQt6" else [])]
    run_script([str(EXAMPLES / "qt_app.py"), *flags], env)
    # Ctrl+N first: the New Message action's Tap, then its dialog (shown again by Compose
    # within the debounce window, so viewed once).
    assert names(server) == ["Inbox", "MailWindow", "ComposeDialog", "Archive", "Spam", "Delete"]
    # The demo clicks with click(), not the mouse: such a Tap is recorded once the click's
    # handlers return, after the dialog the click opened.
    assert taps(server) == [
        ("MailWindow", "New Message"),
        ("ComposeDialog", "Send"),  # Send again after Compose: within the debounce window
        ("MailWindow", "Compose"),
        ("Delete", "No"),
        ("MailWindow", "Delete"),
    ]
    assert server.rejected == []


def test_fastapi_example(server: StrictServer, tmp_path: Path) -> None:
    env = sdk_env(server, tmp_path / "sdk")
    command = [str(EXAMPLES / "fastapi_app.py"), "--port", "0"]
    with serving(command, env, interrupt=True) as served, http_client() as browser:
        for path in ("/", "/articles/latest", "/api/articles", "/favicon.ico", "/login"):
            browser.get(served.url + path)
        assert browser.post(served.url + "/login", data={"name": "grace"}).status_code == 200  # to "/"
        browser.get(served.url + "/articles/2")
    assert names(server) == ["/", "/articles/{article_id}", "/login", "/", "/articles/{article_id}"]
    loads = [params(e) for e in server.events("page_load_event")]
    assert [(load["pageUrl"], load["requestCount"]) for load in loads][:3] == [
        ("/", 1),
        ("/articles/3", 2),
        ("/login", 1),
    ]
    views = screen_views(server)
    assert views[-1] == ("grace", "/articles/{article_id}")
    calls = sorted(
        (params(e)["Route"], params(e)["Method"], params(e)["Status Code"]) for e in server.events("API Call")
    )
    assert calls == [("/api/articles", "GET", 200), ("/articles/latest", "GET", 302), ("/login", "POST", 303)]
    assert server.rejected == []

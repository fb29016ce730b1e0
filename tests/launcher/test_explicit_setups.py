"""The explicit set-ups on real servers, alone and under ``usageanalytics run``: the Flask
extension on ``flask run`` and the Django app on ``manage.py runserver``. Under the launcher the
app's own settings win and there is still one client."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.launcher.helpers import browser, get, launched, queue_owners, runserver, screens
from usageanalytics.collector.server import RunningCollector


@pytest.mark.parametrize("under_run", [False, True], ids=["alone", "under-run"])
def test_flask_extension_on_flask_run(
    under_run: bool, env: dict[str, str], collector: RunningCollector, data_dir: Path
) -> None:
    env["FLASK_USAGEANALYTICS_CUSTOMER_ACCOUNT_ID"] = "acct-ext"
    command_line = ["flask", "--app", "ext_app:create_app", "run", "--port", "0", "--no-reload"]
    with launched(command_line, env, launcher=under_run) as command:
        url = command.url()
        with browser() as visitor:
            get(url + "/", visitor)
            get(url + "/posts/5", visitor)
            server_pid = get(url + "/api/status", visitor).json()["pid"]
        assert queue_owners(data_dir) == {server_pid}
        command.signal(signal.SIGINT, group=True)
        assert command.finish() == 0
    assert screens(collector) == ["/", "/posts/<int:post_id>"]
    assert {(e["app_id"], e["customer_account_id"]) for e in collector.events()} == {
        ("flask-ext", "acct-ext")
    }


@pytest.mark.parametrize("under_run", [False, True], ids=["alone", "under-run"])
def test_django_app_in_installed_apps_on_runserver(
    under_run: bool, env: dict[str, str], collector: RunningCollector, data_dir: Path
) -> None:
    env.update(
        DJANGO_SETTINGS_MODULE="djsite.settings_explicit",
        DJSITE_UA_KEY="django-key",
        DJSITE_UA_ENDPOINT=collector.endpoint,
    )
    command, url = runserver(env, "--noreload", launcher=under_run)
    try:
        with browser() as visitor:
            get(url + "/", visitor)
            get(url + "/articles/1999/", visitor)
            server_pid = get(url + "/api/status/", visitor).json()["pid"]
        assert queue_owners(data_dir) == {server_pid}
        command.signal(signal.SIGINT)
        assert command.finish() == 0
    finally:
        command.kill_group()
    assert screens(collector) == ["/", "/articles/<int:year>/"]
    assert {(e["app_id"], e["customer_account_id"]) for e in collector.events()} == {
        ("django-explicit", "acct-django")
    }

"""``usageanalytics run -- COMMAND`` on real processes against the real collector on 127.0.0.1.

Each command is the app as its framework's tutorial writes it, with no usageanalytics code; the
SDK is set up from USAGEANALYTICS_* variables alone. The flush interval is an hour, so what
reaches the collector was sent by the exit flush: each test checks the collector has nothing
before the command is stopped, and the pages after.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.launcher.helpers import (
    ACCOUNT,
    APP_ID,
    APPS,
    Launched,
    browser,
    get,
    gunicorn_options,
    launch_env,
    launched,
    launcher_lines,
    page_urls,
    queue_owners,
    runserver,
    screens,
)
from tests.support.strict_server import StrictServer
from usageanalytics.collector.server import RunningCollector
from usageanalytics.settings import Settings, env_var

PYTHON = sys.executable


# -- the command line --------------------------------------------------------------------------


def test_help_lists_every_setting_variable() -> None:
    import dataclasses

    done = subprocess.run(
        [PYTHON, "-m", "usageanalytics", "run", "--help"], capture_output=True, text=True, check=True
    )
    for field in dataclasses.fields(Settings):
        assert env_var(field.name) in done.stdout
    assert "usageanalytics run -- gunicorn" in done.stdout


def test_a_command_that_does_not_exist(env: dict[str, str]) -> None:
    with launched(["no-such-command-xyz"], env) as command:
        assert command.finish() == 127
    assert launcher_lines(command) == ["usageanalytics run: command not found: no-such-command-xyz"]


# -- python app.py -----------------------------------------------------------------------------


def test_a_script_keeps_its_pid_and_exit_status_and_its_events_arrive(
    env: dict[str, str], collector: RunningCollector
) -> None:
    with launched([PYTHON, "script.py", "3"], env) as command:
        pid = int(command.wait_for(r"^PID (\d+)").group(1))
        assert command.finish() == 3
    assert pid == command.pid, "the command must replace the launcher (exec), keeping its pid"
    assert "CLIENT <usageanalytics.Client app_id='launched-app' active>" in command.lines
    (event,) = collector.events("Report Exported")
    assert event["attributes"] == {"Rows": 3}
    assert (event["app_id"], event["customer_account_id"]) == (APP_ID, ACCOUNT)
    assert launcher_lines(command) == []


def test_bad_configuration_prints_one_line_and_the_app_runs_without(
    env: dict[str, str], collector: RunningCollector, data_dir: Path
) -> None:
    env["USAGEANALYTICS_FLUSH_INTERVAL"] = "soon"
    with launched([PYTHON, "script.py", "4"], env) as command:
        assert command.finish() == 4
    assert launcher_lines(command) == [
        "usageanalytics run: USAGEANALYTICS_FLUSH_INTERVAL='soon': flush_interval must be a number; "
        f"running `{PYTHON} script.py 4` without usage analytics"
    ]
    assert "CLIENT None" in command.lines
    assert collector.events() == []
    assert not data_dir.exists()


def test_a_misspelt_variable_is_pointed_out(env: dict[str, str], collector: RunningCollector) -> None:
    env["USAGEANALYTICS_CUSTOMER_ACCOUNT"] = "acme"
    with launched([PYTHON, "script.py"], env) as command:
        assert command.finish() == 0
    assert launcher_lines(command) == [
        "usageanalytics run: USAGEANALYTICS_CUSTOMER_ACCOUNT is not a setting "
        "(did you mean USAGEANALYTICS_CUSTOMER_ACCOUNT_ID?); it is ignored"
    ]
    assert len(collector.events("Report Exported")) == 1


def test_a_flask_app_run_as_a_script_sigterm_flushes_and_keeps_the_status(
    env: dict[str, str], collector: RunningCollector
) -> None:
    with launched([PYTHON, "hello.py"], env) as command:
        pid = int(command.wait_for(r"^PID (\d+)").group(1))
        url = command.url()
        with browser() as visitor:
            for path in ("/", "/user/ada", "/api/status"):
                assert get(url + path, visitor).status_code == 200
        assert collector.events() == []  # nothing sent yet
        command.signal(signal.SIGTERM)
        status = command.finish()
    assert pid == command.pid
    assert screens(collector) == ["/", "/user/<username>"]
    assert page_urls(collector) == ["/", "/user/ada"]
    # the same app without the launcher ends with the same status on SIGTERM
    with launched([PYTHON, "hello.py"], env, launcher=False) as bare:
        bare.url()
        bare.signal(signal.SIGTERM)
        assert status == bare.finish() == -signal.SIGTERM


def test_a_sigterm_during_the_exit_flush_lets_it_finish(data_dir: Path) -> None:
    """A supervisor stops a process that is already flushing at interpreter exit (hypercorn's
    --workers, then multiprocessing's exit function, each send SIGTERM): the launcher's handler
    lets that flush finish, then the process ends by SIGTERM, as it would without the launcher."""
    with StrictServer("launch-key") as server:
        env = launch_env(server.endpoint, data_dir, USAGEANALYTICS_EXIT_TIMEOUT="30")
        server.hang.set()  # the exit flush's request waits on the server until released
        with launched([PYTHON, "exit_flush.py"], env) as command:
            command.wait_for(r"^READY$")
            assert "HANDLER sitecustomize" in command.lines, "the launcher's handler, set before the app"
            assert server.held.wait(60), "the exit flush never reached the server"
            for call in (1, 2):
                command.signal(signal.SIGTERM)
                command.wait_for(rf"^SIGTERM {call}$")
            server.release()
            assert command.finish() == -signal.SIGTERM
        assert len(server.events("Report Exported")) == 1
    assert queue_owners(data_dir) == set(), "the exit path ran to its end: no queue left to adopt"


def test_python_dash_m_a_package(env: dict[str, str], collector: RunningCollector) -> None:
    with launched([PYTHON, "-m", "shop"], env) as command:
        url = command.url()
        with browser() as visitor:
            get(url + "/", visitor)
            get(url + "/products/7", visitor)
        assert collector.events() == []
        command.signal(signal.SIGINT, group=True)  # Ctrl-C
        assert command.finish() == 0
    assert screens(collector) == ["/", "/products/<int:product_id>"]


# -- flask run, manage.py runserver: reloaders -------------------------------------------------


@pytest.mark.parametrize("reload", [True, False], ids=["reloader", "no-reloader"])
def test_flask_run_ctrl_c_flushes_from_the_serving_process(
    reload: bool, env: dict[str, str], collector: RunningCollector, data_dir: Path
) -> None:
    options = ["--debug"] if reload else ["--no-reload"]
    with launched(["flask", "--app", "hello", "run", "--port", "0", *options], env) as command:
        url = command.url()
        with browser() as visitor:
            get(url + "/", visitor)
            get(url + "/user/grace", visitor)
            server_pid = get(url + "/api/status", visitor).json()["pid"]
        assert (server_pid != command.pid) is reload  # the reloader serves from a child process
        assert queue_owners(data_dir) == {server_pid}, "only the process that served made a client"
        assert collector.events() == []
        command.signal(signal.SIGINT, group=True)
        assert command.finish() == 0
    assert screens(collector) == ["/", "/user/<username>"]
    assert launcher_lines(command) == []


@pytest.mark.parametrize("reload", [True, False], ids=["autoreloader", "noreload"])
def test_django_runserver(
    reload: bool, env: dict[str, str], collector: RunningCollector, data_dir: Path
) -> None:
    command, url = runserver(env, *([] if reload else ["--noreload"]))
    try:
        with browser() as visitor:
            get(url + "/", visitor)
            get(url + "/articles/2024/", visitor)
            server_pid = get(url + "/api/status/", visitor).json()["pid"]
        assert (server_pid != command.pid) is reload
        assert queue_owners(data_dir) == {server_pid}
        assert collector.events() == []
        if reload:
            command.signal(signal.SIGINT, group=True)  # Ctrl-C: the autoreloader and its child
            assert command.finish() == 0
        else:
            command.signal(signal.SIGTERM)  # Django leaves SIGTERM at its default: flushed, then ended by it
            assert command.finish() == -signal.SIGTERM
    finally:
        command.kill_group()
    assert screens(collector) == ["/", "/articles/<int:year>/"]
    assert page_urls(collector) == ["/", "/articles/2024/"]


# -- gunicorn ----------------------------------------------------------------------------------


@pytest.mark.parametrize("preload", [False, True], ids=["workers-import", "preload"])
def test_gunicorn_workers(
    preload: bool, env: dict[str, str], collector: RunningCollector, data_dir: Path
) -> None:
    options = ["--preload"] if preload else []
    command_line = ["gunicorn", "-w", "2", "-b", "127.0.0.1:0", *gunicorn_options(), *options, "hello:app"]
    with launched(command_line, env) as command:
        url = command.url()
        pids = set()
        for n in range(6):
            with browser() as visitor:  # new connections, so both workers are likely to serve
                get(f"{url}/user/u{n}", visitor)
                pids.add(get(url + "/api/status", visitor).json()["pid"])
        assert command.pid not in pids
        owners = queue_owners(data_dir)
        assert command.pid not in owners, "gunicorn's master serves nothing and must make no client"
        assert pids <= owners
        assert collector.events() == []
        command.signal(signal.SIGTERM)  # graceful stop: the workers exit, flushing
        assert command.finish() == 0
    assert screens(collector) == ["/user/<username>"] * 6


# -- what the launcher must leave alone --------------------------------------------------------


def test_unrelated_python_subprocesses_are_left_alone(env: dict[str, str], data_dir: Path) -> None:
    with launched([PYTHON, "spawner.py"], env) as command:
        probes = json.loads(command.wait_for(r"^PROBES (.*)").group(1))
        assert command.finish() == 0
    plain, with_flask = probes
    assert plain["sdk_imported_at_start"] is False, "a Python program that uses no framework loads nothing"
    assert with_flask["sdk_imported_at_start"] is False
    assert with_flask["client"] == "None", "importing a framework and serving nothing makes no client"
    assert not (data_dir / "queues").exists()


def test_the_apps_own_sitecustomize_still_runs(env: dict[str, str], collector: RunningCollector) -> None:
    env["PYTHONPATH"] = str(APPS / "own_site")
    code = (
        "import os, sitecustomize, usageanalytics as ua; ua.log_event('Chained'); "
        "print('OWN', os.environ.get('OWN_SITECUSTOMIZE'), sitecustomize.__file__)"
    )
    with launched([PYTHON, "-c", code], env) as command:
        assert command.finish() == 0
    assert f"OWN ran {APPS / 'own_site' / 'sitecustomize.py'}" in command.lines
    assert len(collector.events("Chained")) == 1


def test_an_app_that_configures_itself_keeps_its_own_client(
    env: dict[str, str], collector: RunningCollector, data_dir: Path
) -> None:
    code = (
        "import os, flask, usageanalytics as ua\n"
        "ua.configure('own-app', customer_account_id='own-acct')\n"  # the rest from the environment
        "app = flask.Flask('own')\n"
        "app.get('/')(lambda: '<p>own</p>')\n"
        "print('PID', os.getpid(), flush=True)\n"
        "app.run(port=0)\n"
    )
    with launched([PYTHON, "-c", code], env) as command:
        url = command.url()
        get(url + "/")
        assert len(queue_owners(data_dir)) == 1
        command.signal(signal.SIGINT)
        command.finish()
    (view,) = collector.events("Screen View")
    assert (view["app_id"], view["customer_account_id"]) == ("own-app", "own-acct")


def test_python_isolated_mode_is_pointed_out(env: dict[str, str]) -> None:
    with launched([PYTHON, "-I", "-c", "pass"], env) as command:
        assert command.finish() == 0
    (line,) = launcher_lines(command)
    assert "python -I ignores PYTHONPATH" in line


@pytest.mark.parametrize("server_kind", ["flask", "django"])
def test_ctrl_c_leaves_a_reloaders_child_time_for_a_slow_exit_flush(
    server_kind: str, data_dir: Path, tmp_path: Path
) -> None:
    """The reloader's parent (Flask's, Django's) waits on its child with ``subprocess``, which
    kills it 0.25 s after Ctrl-C; here every request to the SDK's server takes half a second."""
    import time

    def slow(path: str, body: object) -> None:
        time.sleep(0.5)

    with StrictServer("launch-key") as server:
        server.fault = slow  # type: ignore[assignment]
        env = launch_env(
            server.endpoint,
            data_dir,
            USAGEANALYTICS_EXIT_TIMEOUT="20",
            DJSITE_DB=str(tmp_path / "db.sqlite3"),
        )
        if server_kind == "flask":
            command = Launched(["flask", "--app", "hello", "run", "--port", "0", "--debug"], env)
            url = command.url()
        else:
            command, url = runserver(env)
        try:
            with browser() as visitor:
                get(url + "/", visitor)
            assert server.attempts == []
            command.signal(signal.SIGINT, group=True)
            assert command.finish() == 0
        finally:
            command.kill_group()
        assert [e["name"] for e in server.events()].count("Screen View") == 1


def test_a_run_inside_a_run_sets_up_once(env: dict[str, str], collector: RunningCollector) -> None:
    import os

    from usageanalytics.launcher import BOOTSTRAP_DIR

    code = (
        "import os, usageanalytics as ua; ua.log_event('Nested'); "
        "print('PYTHONPATH', os.environ['PYTHONPATH'])"
    )
    with launched([PYTHON, "-m", "usageanalytics", "run", "--", PYTHON, "-c", code], env) as command:
        pythonpath = command.wait_for(r"^PYTHONPATH (.*)").group(1)
        assert command.finish() == 0
    assert pythonpath.split(os.pathsep) == [BOOTSTRAP_DIR]
    assert len(collector.events("Nested")) == 1


def test_the_bootstrap_compiles_on_any_python_3() -> None:
    """PYTHONPATH reaches every Python the command starts, whatever its version."""
    import ast

    from usageanalytics.launcher import BOOTSTRAP_DIR

    source = (Path(BOOTSTRAP_DIR) / "sitecustomize.py").read_text()
    ast.parse(source, feature_version=(3, 4))  # no f-strings, no annotations newer than that
    assert "from __future__" not in source


def test_a_set_up_that_fails_in_the_app_prints_one_line_and_the_app_goes_on(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The settings check out, but the client cannot be made (its data folder is a file)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env["USAGEANALYTICS_DATA_DIR"] = str(blocker)
    code = "import usageanalytics as ua\nfor _ in range(3): ua.log_event('X')\nprint('STILL RUNNING')\n"
    with launched([PYTHON, "-c", code], env) as command:
        assert command.finish() == 0
    assert "STILL RUNNING" in command.lines
    (line,) = launcher_lines(command)
    assert line.endswith("; the app runs without usage analytics")


def test_a_qt_app(env: dict[str, str], collector: RunningCollector) -> None:
    env["QT_QPA_PLATFORM"] = "offscreen"
    with launched([PYTHON, "qt_hello.py"], env) as command:
        assert command.finish() == 0
    names = [(event["name"], event["attributes"].get("Screen Name")) for event in collector.events()]
    assert names == [
        ("app_session_start", None),
        ("Screen View", "MainWindow"),
        ("Tap", "MainWindow"),
        ("app_session_end", None),
    ]
    assert launcher_lines(command) == []

"""``usageanalytics run`` with ASGI servers: uvicorn (also --workers and --reload), hypercorn (also
--workers) and gunicorn with uvicorn workers (with and without --preload), serving a FastAPI app
written as FastAPI's tutorial writes it.

These prove the SDK is set up from the environment in the processes that serve, and flushed when
they stop: a view's own ``ua.log_event(...)`` reaches the collector, with no ``configure()``; and
that each command ends with the exit status the server gives without the launcher. Page capture
for a FastAPI app with no SDK code, under these same servers, is in ``test_run_asgi_capture.py``.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.launcher.helpers import (
    ACCOUNT,
    APP_ID,
    Launched,
    browser,
    get,
    gunicorn_options,
    launched,
    queue_owners,
)
from usageanalytics.collector.server import RunningCollector

SERVERS = {
    "uvicorn": ["uvicorn", "asgi_app:app", "--port", "0"],
    "uvicorn-workers": ["uvicorn", "asgi_app:app", "--port", "0", "--workers", "2"],
    "uvicorn-reload": ["uvicorn", "asgi_app:app", "--port", "0", "--reload"],
    "hypercorn": ["hypercorn", "asgi_app:app", "--bind", "127.0.0.1:0"],
    "hypercorn-workers": ["hypercorn", "asgi_app:app", "--bind", "127.0.0.1:0", "--workers", "2"],
    "gunicorn-uvicorn": ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "2", "-b", "127.0.0.1:0"],
    "gunicorn-uvicorn-preload": [
        "gunicorn",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-w",
        "2",
        "--preload",
        "-b",
        "127.0.0.1:0",
    ],
}


def command_for(server: str) -> list[str]:
    command = list(SERVERS[server])
    if command[0] == "gunicorn":
        command += [*gunicorn_options(), "asgi_app:app"]
    return command


CASES = [(server, "ctrl-c") for server in SERVERS if not server.startswith("gunicorn")] + [
    (server, "sigterm") for server in SERVERS
]  # Ctrl-C is gunicorn's quick shutdown: no exit flush, the next start sends what is left

# The exit status each server gives on its own (test_the_serving_processes_are_configured_and_flushed
# checks it against the same command run without the launcher): a lone uvicorn re-raises SIGTERM
# once shut down (its cooperative signal handling), so it dies by it; uvicorn's supervisor
# (--workers, --reload), hypercorn and gunicorn's master exit 0.
EXIT_STATUS = {case: 0 for case in CASES} | {("uvicorn", "sigterm"): -signal.SIGTERM}


def stop_command(command: Launched, how: str) -> int:
    """Stop ``command`` as a user would (Ctrl-C to the terminal's group, or SIGTERM to the
    command) and return its exit status."""
    if how == "ctrl-c":
        command.signal(signal.SIGINT, group=True)
    else:
        command.signal(signal.SIGTERM)
    return command.finish()


def status_without_the_launcher(server: str, how: str, env: dict[str, str]) -> int:
    """The exit status of the same server command, served a page and stopped the same way, run
    without ``usageanalytics run``."""
    with launched(command_for(server), env, launcher=False) as bare:
        assert get(bare.url() + "/").status_code == 200
        return stop_command(bare, how)


@pytest.mark.parametrize(("server", "stop"), CASES)
def test_the_serving_processes_are_configured_and_flushed(
    server: str, stop: str, env: dict[str, str], collector: RunningCollector, data_dir: Path
) -> None:
    # gunicorn's UvicornWorker puts SIGTERM back to its default action and uvicorn raises it again
    # once shut down, so a worker dies by it without running atexit: no exit flush there (the
    # next process sends what was left). Those workers send on the flush interval instead.
    exit_flush = not server.startswith("gunicorn")
    if not exit_flush:
        env["USAGEANALYTICS_FLUSH_INTERVAL"] = "0.5"
    with launched(command_for(server), env) as command:
        url = command.url()
        pids = set()
        for _ in range(4):
            with browser() as visitor:
                pids.add(get(url + "/track", visitor).json()["pid"])
        if server == "uvicorn":
            assert pids == {command.pid}, "the server keeps the launcher's pid (exec)"
        else:
            assert command.pid not in pids, "a supervisor or master serves nothing"
        assert queue_owners(data_dir) == pids, "exactly the processes that tracked made a client"
        if exit_flush:
            assert collector.events() == []  # the flush interval is an hour: nothing sent yet
        else:
            assert collector.wait_for(lambda: len(collector.events("Tracked In Server")) == 4, timeout=60)
        status = stop_command(command, stop)
    assert status == EXIT_STATUS[(server, stop)], command.output
    if exit_flush:  # each serving process's exit path ran to its end, even when stopped in it
        assert queue_owners(data_dir) == set(), "a queue left behind: an exit path was cut short"
    events = collector.events("Tracked In Server")
    assert len(events) == 4
    assert {event["attributes"]["Pid"] for event in events} == pids
    assert {(event["app_id"], event["customer_account_id"]) for event in events} == {(APP_ID, ACCOUNT)}
    assert status_without_the_launcher(server, stop, env) == status, "the launcher changed the status"

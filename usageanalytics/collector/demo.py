"""``usageanalytics demo``: four weeks of a plausible product, sent through the real SDK into a
collector, and the dashboard to look at.

The history comes from :mod:`.demo_data`. Each user is an SDK client of its own (its own data
folder, so its own device): it logs in, sets its attributes, then logs its four weeks of screens,
page loads and events with ``timestamp=``, in order, so the SDK builds the historical sessions
those visits imply. Customer accounts (which the SDK does not track) and each user's device
attributes (the SDK would report this machine for all of them) go through the REST endpoints.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .. import Client, UserAttribute
from . import demo_data
from .demo_data import APP_ID, User
from .server import DEFAULT_HOST, RunningCollector, default_db_path, run_in_thread

API_KEY = "demo-key"
PARALLEL_USERS = 4
#: ``demo --app NAME`` runs ``examples/NAME_app.py`` of a source checkout against the demo's collector.
EXAMPLE_APPS = ("fastapi", "flask")
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
_SERVING = re.compile(r"Serving on (http://\S+?)/? ")


class DemoError(Exception):
    """The demo cannot do what was asked (say, an example app that cannot start); the message says why."""


@dataclass
class Seeded:
    users: int
    events: int
    all_sent: bool


def start_collector(db: Path, port: int, echo: Callable[[str], None]) -> RunningCollector:
    """On ``port`` if it is free, else on any free port."""
    try:
        return run_in_thread(db, DEFAULT_HOST, port)
    except OSError:
        echo(f"port {port} is taken; using a free port instead")
        return run_in_thread(db, DEFAULT_HOST, 0)


def _post(http: httpx.Client, path: str, body: dict[str, object]) -> None:
    http.post(path, json={"appId": APP_ID, **body}).raise_for_status()


def create_accounts(http: httpx.Client) -> None:
    """The customer accounts, through the REST endpoint (the SDK tracks users, not accounts)."""
    for account in demo_data.ACCOUNTS:
        _post(
            http,
            "usageanalytics/customer",
            {"accountId": account.account_id, "name": account.name, "status": "Active"},
        )


def send_user(user: User, endpoint: str, data_dir: Path, http: httpx.Client) -> tuple[int, bool]:
    """One user's history through the SDK; (events logged, everything sent)."""
    client = Client(
        APP_ID,
        api_key=API_KEY,
        endpoint=endpoint,
        data_dir=str(data_dir),
        customer_account_id=user.account.account_id,
        auto_capture=False,
        collect_device_attributes=False,
        app_name="Planbook",
        app_version="3.2.0",
        flush_interval=60.0,
        exit_timeout=30.0,
    )
    client.set_user(user.user_id, customer_account_id=user.account.account_id)
    client.set_user_attributes(
        {
            UserAttribute.NAME: user.name,
            UserAttribute.EMAIL_ID: user.user_id,
            UserAttribute.DESIGNATION: user.role,
            UserAttribute.LANGUAGE: "en-us",
            "Plan": user.account.plan,
        }
    )
    logged = 0
    for step in sorted(user.steps, key=lambda step: step.at):
        if step.kind == "screen":
            client.log_screen_view(step.name, attributes=step.attributes, timestamp=step.at)
        elif step.kind == "page_load":
            client.log_event("page_load_event", {"pageUrl": step.name, **step.attributes}, timestamp=step.at)
        else:
            client.log_event(step.name, step.attributes, timestamp=step.at)
        logged += 1
    if zlib.crc32(user.user_id.encode()) % 3 == 0:  # a third of them allowed push notifications
        client.update_device_token(f"push-{user.user_id}", app_in_distribution=True)
    device = {"Device ID": client.device_id or user.user_id, "App Name": "Planbook", **user.device}
    _post(
        http,
        "usageanalytics/device/attribute",
        {
            "userId": user.user_id,
            "platform": "Web",
            "deviceId": device["Device ID"],
            "deviceAttributes": device,
        },
    )
    return logged, client.shutdown(timeout=60.0)


def seed(collector: RunningCollector, echo: Callable[[str], None], **plan: Any) -> Seeded:
    """Generate the history and send it; ``plan`` goes to :func:`.demo_data.generate`."""
    users = demo_data.generate(**plan)
    with (
        httpx.Client(base_url=collector.endpoint, auth=("apikey", API_KEY), timeout=30) as http,
        tempfile.TemporaryDirectory(prefix="usageanalytics-demo-") as folder,
        ThreadPoolExecutor(PARALLEL_USERS) as pool,
    ):
        create_accounts(http)
        results = list(
            pool.map(
                lambda numbered: send_user(
                    numbered[1], collector.endpoint, Path(folder) / f"user-{numbered[0]}", http
                ),
                enumerate(users),
            )
        )
    return Seeded(len(users), sum(logged for logged, _ in results), all(sent for _, sent in results))


def _reset(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def example_app_path(name: str) -> Path:
    """``examples/<name>_app.py``, which exists in a source checkout (not in an installed wheel)."""
    path = EXAMPLES_DIR / f"{name}_app.py"
    if not path.is_file():
        raise DemoError(
            f"--app {name} runs {path.name} from the examples/ folder of a source checkout, "
            f"and there is none at {EXAMPLES_DIR}"
        )
    return path


def start_example_app(
    name: str, collector: RunningCollector, data_dir: Path, timeout: float = 60.0
) -> tuple[subprocess.Popen[str], str]:
    """Run an example app reporting to ``collector``; (its process, its URL) once it listens."""
    env = {
        **os.environ,
        "USAGEANALYTICS_ENDPOINT": collector.endpoint,
        "USAGEANALYTICS_API_KEY": API_KEY,
        "USAGEANALYTICS_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, str(example_app_path(name)), "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        found = _SERVING.search(line)
        if found:
            # Keep reading its output (the app's own log), so a full pipe never blocks it.
            threading.Thread(target=_drain, args=(process,), daemon=True).start()
            return process, found.group(1)
    process.kill()
    process.wait()
    raise DemoError(f"the {name} example did not start:\n{''.join(seen[-20:]).rstrip()}")


def _drain(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for _ in process.stdout:
        pass


def stop_example_app(process: subprocess.Popen[str]) -> None:
    """Ctrl-C, as a developer would press it: the app's exit flush runs before it ends."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_demo(
    port: int,
    db: Path | None,
    keep_serving: bool,
    echo: Callable[[str], None],
    reset: bool = False,
    app: str | None = None,
) -> RunningCollector:
    path = (db or default_db_path()).expanduser().resolve()
    if app is not None:
        example_app_path(app)  # fail before seeding, not after
    if reset:
        _reset(path)
    collector = start_collector(path, port, echo)
    if collector.users(app_id=APP_ID):
        echo(f"{path} already holds the demo's data (--reset starts afresh)")
    else:
        echo(f"seeding 4 weeks of the demo app {APP_ID!r} through the SDK into {path} ...")
        seeded = seed(collector, echo)
        echo(
            f"sent {seeded.events:,} events of {seeded.users} users in {len(demo_data.ACCOUNTS)} accounts"
            + ("" if seeded.all_sent else " (not all were delivered!)")
        )
    counts = collector.counts()
    echo(
        f"the collector holds {counts['events']:,} events from {len(collector.users()):,} users "
        f"in {counts['sessions']:,} sessions"
    )
    if not keep_serving:
        collector.stop()
        echo(f"done: the data is in {path}; see it with: usageanalytics collector --db {path}")
        return collector
    echo(f"open the dashboard: {collector.dashboard_url}")
    echo(f"debugger (every request, live): {collector.url}/debugger")
    example: subprocess.Popen[str] | None = None
    with tempfile.TemporaryDirectory(prefix="usageanalytics-demo-app-") as app_data:
        try:
            if app is not None:
                example, app_url = start_example_app(app, collector, Path(app_data))
                echo(f"the {app} example app: {app_url}/ (what you do there shows up on the debugger)")
            echo("serving until Ctrl-C")
            wait_for_interrupt()
        finally:
            if example is not None:
                stop_example_app(example)
            collector.stop()
    return collector


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (handled here even where a shell started us ignoring SIGINT)."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass

"""A newcomer's first hour: the SDK's log when asked for, CLI errors that name the flag and the
variable, ``--help`` in sections, and ``.ci/run`` as the one test command."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.collector.processes import Command, collector_url
from tests.test_processes import read_until
from usageanalytics.cli import main
from usageanalytics.collector.query import Received

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import usageanalytics as ua
ua.configure("app", api_key="k", endpoint="http://127.0.0.1:9/v4/", data_dir={data!r},
             auto_capture=False, collect_device_attributes=False{extra})
ua.log_event("")  # bad input: an empty event name
ua.shutdown(timeout=1)
"""


def run_sdk(tmp_path: Path, extra: str = "", **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USAGEANALYTICS_")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(data=str(tmp_path / "data"), extra=extra)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
        check=True,
    )
    return done.stderr


def test_debug_sends_the_sdk_log_to_stderr(tmp_path: Path) -> None:
    assert "usageanalytics" not in run_sdk(tmp_path)  # a library is quiet by default
    for stderr in (run_sdk(tmp_path, extra=", debug=True"), run_sdk(tmp_path, USAGEANALYTICS_DEBUG="1")):
        assert "WARNING usageanalytics" in stderr, stderr  # the bad input, said where a developer looks


CLIENT_SCRIPT = """
import usageanalytics as ua
client = ua.Client("app", api_key="k", endpoint="http://127.0.0.1:9/v4/", data_dir={data!r},
                   collect_device_attributes=False, debug=True)
client.log_event("")  # bad input: an empty event name
client.shutdown(timeout=1)
"""


def test_debug_on_a_client_of_ones_own_too(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USAGEANALYTICS_")}
    done = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT.format(data=str(tmp_path / "data"))],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean,
        check=True,
    )
    assert "WARNING usageanalytics" in done.stderr, done.stderr


def test_help_groups_local_tools_apart_from_admin_commands() -> None:
    text = CliRunner().invoke(main, ["--help"]).output
    text = text[text.index("Local tools") - 1 :]  # the command lists (the description names demo too)
    local = text.index("Local tools")
    admin = text.index("SmartKarrot admin")
    for name in ("demo", "collector", "export", "status", "replay-dead-letters"):
        assert local < text.index(f"\n  {name} ") < admin, name
    for name in ("tickets", "contacts", "agents"):
        assert text.index(f"\n  {name} ") > admin, name


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "--app-id or set USAGEANALYTICS_APP_ID"),
        ({"USAGEANALYTICS_APP_ID": "app"}, "--api-key or set USAGEANALYTICS_API_KEY"),
    ],
)
def test_admin_commands_name_the_flag_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str
) -> None:
    for name in list(os.environ):
        if name.startswith("USAGEANALYTICS_"):
            monkeypatch.delenv(name)
    result = CliRunner().invoke(main, ["tickets", "list"], env=env)
    assert result.exit_code == 2 and missing in result.output
    assert "configure(" not in result.output


def test_the_readme_test_command_is_ci_run() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme[: readme.index("## Using the SDK")]
    assert "```sh\n.ci/run\n```" in first
    assert "after installing Chromium" not in readme


@pytest.fixture
def fake_checkout(tmp_path: Path) -> Path:
    """.ci/run beside a pyproject.toml and a .venv whose python and pip only say they ran."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "pip"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "fake {tool} $*"\n')
        (bin_dir / tool).chmod(0o755)
    return tmp_path


def run_ci(checkout: Path, *args: str) -> str:
    done = subprocess.run(
        ["bash", str(checkout / ".ci" / "run"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


def test_ci_run_installs_only_what_changed(fake_checkout: Path) -> None:
    # The system packages are installed here (CI's first run of .ci/run installed them).
    first = run_ci(fake_checkout, "tests/x.py", "-x")
    assert "installing the package" in first and "fake pip install -q -e" in first
    assert first.strip().endswith("fake python -m pytest tests/x.py -x")
    digest = hashlib.sha256((fake_checkout / "pyproject.toml").read_bytes()).hexdigest()
    assert (fake_checkout / ".venv" / ".ci-installed").read_text().strip() == digest
    again = run_ci(fake_checkout)
    assert again.strip() == "fake python -m pytest"  # nothing to install: straight to the tests
    (fake_checkout / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    assert "fake pip install" in run_ci(fake_checkout)


# -- the README's first snippet ----------------------------------------------------------------

README = ROOT / "README.md"
README_ENDPOINT = "http://127.0.0.1:8787/v4/"


def first_hour_snippet() -> str:
    """The first Python block under "Your first hour: the local collector, then production"."""
    text = README.read_text(encoding="utf-8")
    start = text.index("### Your first hour: the local collector, then production")
    section = text[start : text.index("<!-- end section: first-hour -->", start)]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_the_readmes_first_hour_snippet_reaches_the_local_collector(tmp_path: Path) -> None:
    """The README's collector command (on a free port: 8787 may be taken on a shared machine) and
    its first snippet, pointed at it, in a process of its own: what the snippet logs is in the
    collector once its ``ua.flush()`` returned, while the process still runs (not sent by the exit
    flush), and its ``debug=True`` log shows no warning."""
    snippet = first_hour_snippet()
    assert snippet.count(README_ENDPOINT) == 1, "the snippet no longer points at the local collector"
    db = tmp_path / "collector.sqlite"
    collector = Command("collector", "--port", "0", "--db", str(db))
    try:
        url = collector_url(collector).rstrip("/")
        script = snippet.replace(README_ENDPOINT, f"{url}/v4/")
        # Then stay alive until the test has looked (stdin closed), so the exit flush sends nothing first.
        script += "\nprint('SNIPPET RAN', flush=True)\nimport sys\nsys.stdin.read()\n"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("USAGEANALYTICS_")}
        app = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**clean, "USAGEANALYTICS_DATA_DIR": str(tmp_path / "sdk-data"), "HOME": str(tmp_path)},
        )  # fmt: skip
        try:
            read_until(app.stdout, lambda line: line == "SNIPPET RAN")  # type: ignore[arg-type]
            received = Received(db)
            try:
                (event,) = received.events("Signed In")
                (user,) = received.users(app_id="my-app")
            finally:
                received.close()
            assert event["attributes"] == {"Module": "Login"}
            assert (event["app_id"], event["user_id"], event["customer_account_id"]) == (
                "my-app", "dana@example.com", "acme",
            )  # fmt: skip
            assert (user["user_id"], user["customer_account_id"]) == ("dana@example.com", "acme")
        finally:
            _, stderr = app.communicate(timeout=120)  # closes its stdin: it ends
        assert app.returncode == 0, stderr
        # debug=True puts the SDK's log on stderr: a refused input or a failed send would show.
        assert "WARNING" not in stderr and "ERROR" not in stderr, stderr
    finally:
        collector.stop(signal.SIGINT)
        collector.kill()

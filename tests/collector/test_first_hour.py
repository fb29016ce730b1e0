"""A newcomer's first hour: the SDK's log when asked for, CLI errors that name the flag and the
variable, ``--help`` in sections, and ``.ci/run`` as the one test command."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from usageanalytics.cli import main

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

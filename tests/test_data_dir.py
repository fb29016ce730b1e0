"""configure() and the data folder: a clear ConfigurationError for one it cannot use, and modes
left alone on folders it did not create.

Issue 12, case 10: a data_dir that is a file, sits under a file or is not writable raised a raw
OSError, and an existing data_dir had its mode changed to 0700.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import usageanalytics as ua

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = {"api_key": "key", "endpoint": "http://127.0.0.1:9/v4/", "collect_device_attributes": False}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ua.ConfigurationError, match=r"data_dir .*file.* cannot be used"):
        ua.configure("app", data_dir=str(file), **OPTIONS)
    with pytest.raises(ua.ConfigurationError, match="cannot be used"):
        ua.configure("app", data_dir=str(file / "under"), **OPTIONS)
    assert ua.get_client() is None


def test_a_data_dir_this_process_cannot_write(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    script = (
        "import os, sys, json, sqlite3, usageanalytics as ua, usageanalytics.client\n"
        "if os.geteuid() == 0: os.setgid(65534); os.setuid(65534)  # root writes anywhere\n"
        "try:\n"
        f"    ua.Client('app', data_dir=sys.argv[1], **{OPTIONS!r})\n"
        "except ua.ConfigurationError as exc: print('REFUSED', exc)\n"
        "except BaseException as exc: print('RAISED', type(exc).__name__, exc)\n"
    )
    locked.chmod(0o755)
    for target in (locked, locked / "sub" / "folder"):
        result = subprocess.run(
            [sys.executable, "-c", script, str(target)],
            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(tmp_path)),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.stdout.startswith("REFUSED"), result.stdout + result.stderr
        assert "Permission denied" in result.stdout and "data_dir" in result.stdout


def test_an_existing_folder_keeps_its_mode_and_new_ones_are_private(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    client = ua.Client("app", data_dir=str(shared), **OPTIONS)
    client.shutdown(1)
    assert _mode(shared) == 0o755, "not ours to change"
    assert _mode(shared / "queues") == 0o700
    fresh = tmp_path / "a" / "b" / "c"
    client = ua.Client("app", data_dir=str(fresh), **OPTIONS)
    client.shutdown(1)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", fresh):
        assert _mode(folder) == 0o700, folder

"""The pytest plugin: its fixtures here, in a user's own project (a separate pytest run), and its
light footprint in every pytest run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import usageanalytics as ua
from usageanalytics.collector.server import RunningCollector


def test_fixtures_give_a_configured_shared_client(
    usageanalytics_client: ua.Client, usageanalytics_collector: RunningCollector
) -> None:
    assert ua.get_client() is usageanalytics_client
    ua.set_user("dana", customer_account_id="acme")
    ua.set_user_attribute(ua.UserAttribute.NAME, "Dana")
    ua.log_event("Signed Up", {"Plan": "Pro", "Seats": 3})
    assert ua.flush(timeout=30)
    event = usageanalytics_collector.assert_event("Signed Up", {"Plan": "Pro"}, user_id="dana")
    assert event["attributes"] == {"Plan": "Pro", "Seats": 3}
    assert event["customer_account_id"] == "acme"
    assert usageanalytics_collector.user_attributes("dana") == {"Name": "Dana"}


def test_assert_event_waits_for_the_background_sender(
    usageanalytics_client: ua.Client, usageanalytics_collector: RunningCollector
) -> None:
    ua.log_event("Background")  # no flush: the fixture's one-second interval sends it
    usageanalytics_collector.assert_event("Background", timeout=30)


def test_assert_event_explains_what_was_received(
    usageanalytics_configure: Any, usageanalytics_collector: RunningCollector
) -> None:
    usageanalytics_configure(app_id="my-app", customer_account_id="acct-9")
    ua.log_event("Checkout", {"Total": 10})
    assert ua.flush(timeout=30)
    assert usageanalytics_collector.events(name="Checkout")[0]["app_id"] == "my-app"
    with pytest.raises(AssertionError, match=r"with that name: \[\{'Total': 10\}\].*'Checkout'"):
        usageanalytics_collector.assert_event("Checkout", {"Total": 11})


USER_TEST = """
import usageanalytics as ua


def test_nothing_heavy_was_loaded_before_fixtures_ran():  # runs first: only the plugin is loaded
    import sys

    assert not {"starlette", "uvicorn", "pygal", "jinja2"} & set(sys.modules)


def sign_up(email):  # the user's own code under test
    ua.set_user(email, customer_account_id="acme")
    ua.log_event("Signed Up", {"Plan": "Pro"})


def test_sign_up_is_tracked(usageanalytics_client, usageanalytics_collector):
    sign_up("dana@example.com")
    usageanalytics_client.flush()
    event = usageanalytics_collector.assert_event("Signed Up", {"Plan": "Pro"})
    assert event["user_id"] == "dana@example.com"
    assert [u["user_id"] for u in usageanalytics_collector.users()] == ["dana@example.com"]
"""


def test_a_users_project_gets_the_fixtures_from_the_entry_point(tmp_path: Path) -> None:
    (tmp_path / "test_tracking.py").write_text(textwrap.dedent(USER_TEST))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "test_tracking.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

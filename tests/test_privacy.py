"""Privacy controls end to end: before_send, opt-out and consent-first, capture_ip, forget_user.

Against the strict test server, with real SQLite queues, real subprocesses on one data folder and
a child killed with SIGKILL. "Never on disk" is checked on the bytes of every file in the data
folder, SQLite databases and write-ahead logs included.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import usageanalytics as ua
from tests.support.strict_server import Stall, StrictServer
from tests.test_delivery import free_port
from tests.test_processes import read_until, start_child
from usageanalytics import privacy
from usageanalytics.client import CONSENT_KEY
from usageanalytics.privacy import CARD_MASK, EMAIL_MASK, TOKEN_MASK
from usageanalytics.status import read_status

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def folder_bytes(folder: Path) -> bytes:
    """Every byte of every file under ``folder`` (SQLite files, logs, dead letters, locks)."""
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def assert_not_on_disk(folder: Path, *secrets: str) -> None:
    data = folder_bytes(folder)
    assert data, f"nothing in {folder}: the check would prove nothing"
    for secret in secrets:
        assert secret.encode() not in data, f"{secret!r} is on disk in {folder}"


def persist(client: ua.Client) -> None:
    writer = client._pipeline.writer
    assert writer is not None and writer.persist_now(10)


def params(event: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for parameter in event.get("parameters", []):
        for field in ("stringValue", "numberValue", "booleanValue"):
            if field in parameter:
                values[parameter["attributeName"]] = parameter[field]
    return values


def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


# -- before_send -----------------------------------------------------------------------------------


def test_before_send_changes_drops_and_raises_and_what_it_drops_never_reaches_the_disk(
    make_client: Any, server: StrictServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[dict[str, Any]] = []

    def hook(record: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(dict(record, attributes=dict(record.get("attributes") or {})))
        name = record["name"]
        if name == "Drop Me":
            return None
        if name == "Boom":
            raise RuntimeError("a bug in the app's hook")
        if name == "Rename Me":
            record["name"] = "Renamed"
            del record["attributes"]["Secret"]
            record["attributes"]["Added"] = True
            record["timestamp"] -= timedelta(minutes=5)
        if record["kind"] == "user_attribute" and name == "Plan":
            record["value"] = "Gold"
        return record

    client = make_client(before_send=hook, flush_interval=3600)
    caplog.set_level(logging.ERROR, logger="usageanalytics")
    before = datetime.now(timezone.utc)
    client.log_event("Rename Me", {"Secret": "renamed-away-secret", "Kept": 1})
    client.log_event("Drop Me", {"Secret": "dropped-secret"})
    client.log_event("Boom", {"Secret": "raised-secret"})
    client.log_event("Boom", {"Secret": "raised-again-secret"})
    client.set_user_attribute("Plan", "Silver")
    client.set_user_attribute("Drop Me", "dropped-attribute-secret")
    persist(client)
    assert_not_on_disk(
        tmp_path / "data",
        "renamed-away-secret",
        "dropped-secret",
        "raised-secret",
        "raised-again-secret",
        "dropped-attribute-secret",
    )

    assert client.flush(30)
    assert server.rejected == []
    assert [e["name"] for e in server.events() if not e["name"].startswith("app_session")] == ["Renamed"]
    renamed = server.events("Renamed")[0]
    assert params(renamed) == {"Kept": 1, "Added": True}
    logged_at = datetime.strptime(renamed["loggedAtTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    logged_at = logged_at.replace(tzinfo=timezone.utc)
    assert timedelta(minutes=4) < before - logged_at < timedelta(minutes=6)
    bodies = server.bodies("usageanalytics/user/attribute")
    attributes = [(a["name"], a["stringValue"]) for body in bodies for a in body["userAttributes"]]
    assert attributes == [("Plan", "Gold")]
    stats = client.stats()
    assert stats.dropped == {"before_send": 2, "before_send failed": 2}
    assert stats.balanced
    failures = [r for r in caplog.records if "before_send failed" in r.getMessage()]
    assert len(failures) == 1, "a failing hook is logged once a minute, not per record"
    assert "RuntimeError" in failures[0].getMessage()
    # What the hook saw: plain dicts, the SDK's own session start included, with the contract's keys.
    kinds = {(r["kind"], r["name"]) for r in seen}
    assert ("event", "app_session_start") in kinds and ("user_attribute", "Plan") in kinds
    event = next(r for r in seen if r["name"] == "Rename Me")
    assert set(event) == {"kind", "name", "attributes", "user_id", "customer_account_id", "timestamp"}
    assert event["attributes"] == {"Secret": "renamed-away-secret", "Kept": 1}
    assert event["user_id"] == client.user_id and event["customer_account_id"] == "acct-1"
    assert isinstance(event["timestamp"], datetime) and event["timestamp"].tzinfo is not None
    attribute = next(r for r in seen if r["name"] == "Plan")
    assert attribute["value"] == "Silver"


def test_what_before_send_breaks_is_treated_as_bad_input(
    make_client: Any, server: StrictServer, sdk_log: pytest.LogCaptureFixture
) -> None:
    def hook(record: dict[str, Any]) -> Any:
        name = record["name"]
        if name == "Not A Record":
            return ["not", "a", "dict"]
        if name == "Other User":
            record["user_id"] = "someone-else"
        if name == "Far Future":
            record["timestamp"] = datetime(2099, 1, 1, tzinfo=timezone.utc)
        if name == "Bad Value":
            record["attributes"]["Bad"] = object()
        if name == "No Name":
            record["name"] = ""
        if name == "Other Account":
            record["customer_account_id"] = "acct-2"
        if name == "Number Account":
            record["customer_account_id"] = 42
        if name == "Backfill":
            record["timestamp"] = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        return record

    client = make_client(before_send=hook)
    for name in ("Not A Record", "Other User", "Far Future", "No Name", "Number Account"):
        client.log_event(name, {"A": 1})
    client.log_event("Bad Value", {"Good": "kept"})
    client.log_event("Other Account", {"A": 1})
    client.log_event("Backfill", timestamp=datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert client.flush(30)
    assert server.rejected == [], "the SDK sent something the spec calls invalid"
    names = {e["name"] for e in server.events()} - {"app_session_start", "app_session_end"}
    assert names == {"Bad Value", "Other Account", "Backfill"}
    assert params(server.events("Bad Value")[0]) == {"Good": "kept"}
    assert server.events("Other Account")[0]["_envelope"]["customerAccountId"] == "acct-2"
    assert server.events("Backfill")[0]["loggedAtTime"] == "2024-01-02T03:04:05.000Z"
    stats = client.stats()
    assert stats.dropped == {"before_send failed": 1, "invalid input": 4}
    assert stats.balanced
    messages = " ".join(r.getMessage() for r in sdk_log.records)
    assert "changed user_id" in messages and "Bad" in messages


def test_before_send_may_drop_the_sdks_session_events_but_not_change_them(
    make_client: Any, server: StrictServer
) -> None:
    def hook(record: dict[str, Any]) -> dict[str, Any] | None:
        if record["name"] == "app_session_end":
            return None
        if record["name"] == "app_session_start":
            record["name"] = "Renamed Session"
            record["attributes"]["sessionId"] = "forged"
        return record

    client = make_client(before_send=hook)
    client.log_event("Opened")
    client.end_session()
    assert client.flush(30)
    names = [e["name"] for e in server.events()]
    assert names.count("app_session_start") == 1 and "app_session_end" not in names
    assert "Renamed Session" not in names
    start = server.events("app_session_start")[0]
    assert params(start)["sessionId"] == start["_envelope"]["sessionId"] != "forged"
    assert client.stats().dropped == {"before_send": 1}


def test_a_record_before_send_drops_starts_no_session_and_announces_no_user(
    make_client: Any, server: StrictServer
) -> None:
    def not_staff(record: dict[str, Any]) -> dict[str, Any] | None:
        return None if record["user_id"].startswith("staff-") or record["name"] == "Dropped" else record

    client = make_client(before_send=not_staff)
    client.log_event("Dropped")
    assert client.session_id is None
    with ua.identity("staff-1", customer_account_id="acct-1"):
        client.log_event("Staff Event")
        client.set_user_attribute("Plan", "Internal")
    assert client.flush(10)
    assert server.attempts == [], "no event, no session, no user upsert"
    client.log_event("Kept")
    with ua.identity("customer-1", customer_account_id="acct-1"):
        client.set_user_attribute("Plan", "Pro")
    assert client.flush(30)
    assert [e["name"] for e in server.events()] == ["app_session_start", "Kept"]
    users = [body["userId"] for body in server.bodies("usageanalytics/user")]
    assert "customer-1" in users and client.user_id in users
    assert not any(user.startswith("staff-") for user in users)


def test_scrub_pii_composes_with_the_apps_hook_and_masks_each_kind(
    make_client: Any, server: StrictServer
) -> None:
    def app_hook(record: dict[str, Any]) -> dict[str, Any] | None:
        return None if record["name"] == "Internal" else record

    client = make_client(before_send=privacy.chain(privacy.scrub_pii, app_hook))
    client.log_event(
        "Contact",
        {
            "Email": "write to jane.doe@example.com",
            "Card": "paid with 4111 1111 1111 1111",
            "Order": "order 4111 1111 1111 1112",  # Luhn-invalid: kept
            "Auth": "Authorization: Bearer abcdef123456",
            "Token": f"id {JWT}",
        },
    )
    client.log_event("Internal", {"Email": "ops@example.com"})
    client.log_page_load("/reset?email=jane%40example.com&access_token=s3cr3t&page=2", 12.5)
    client.set_user_attribute(ua.UserAttribute.EMAIL_ID, "jane@example.com")
    client.set_user_attribute("Visits", 4111111111111111)  # a number is not text to scrub
    assert client.flush(30)
    assert server.rejected == []
    assert params(server.events("Contact")[0]) == {
        "Email": f"write to {EMAIL_MASK}",
        "Card": f"paid with {CARD_MASK}",
        "Order": "order 4111 1111 1111 1112",
        "Auth": f"Authorization: Bearer {TOKEN_MASK}",
        "Token": f"id {TOKEN_MASK}",
    }
    assert server.events("Internal") == []
    load = params(server.events("page_load_event")[0])
    assert load["pageUrl"] == f"/reset?email={EMAIL_MASK}&access_token={TOKEN_MASK}&page=2"
    attributes = {
        a["name"]: a.get("stringValue", a.get("numberValue"))
        for body in server.bodies("usageanalytics/user/attribute")
        for a in body["userAttributes"]
    }
    assert attributes == {"Email Id": EMAIL_MASK, "Visits": 4111111111111111}


def test_before_send_from_the_environment(
    make_client: Any, server: StrictServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAGEANALYTICS_BEFORE_SEND", "usageanalytics.privacy:scrub_pii")
    client = make_client()
    assert client.settings.before_send is privacy.scrub_pii
    client.log_event("Signed Up", {"Who": "dana@example.com"})
    assert client.flush(30)
    assert params(server.events("Signed Up")[0]) == {"Who": EMAIL_MASK}


# -- opt-out and consent first -----------------------------------------------------------------------


def test_opt_out_discards_the_queue_leaves_nothing_on_disk_and_holds_across_a_restart(
    make_client: Any, server: StrictServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    client = make_client(flush_interval=3600, collect_device_attributes=True)
    client.log_event("Before Opt Out", {"Secret": "queued-before-opt-out"})
    persist(client)
    client.log_event("In Memory", {"Secret": "in-memory-at-opt-out"})
    assert b"queued-before-opt-out" in folder_bytes(data), "the test needs it on disk first"

    client.opt_out()
    assert client.is_opted_out()
    discarded = client.stats().dropped["opted out"]
    assert discarded >= 3  # the two events, the session start (and the user and the device)
    client.log_event("While Opted Out", {"Secret": "logged-while-opted-out"})
    client.set_user_attribute("Plan", "logged-while-opted-out")
    client.update_device_token("token-while-opted-out", app_in_distribution=True)
    client.set_user("user-while-opted-out", customer_account_id="acct-1")
    persist(client)
    assert client.flush(10)
    assert_not_on_disk(data, "queued-before-opt-out", "in-memory-at-opt-out", "logged-while-opted-out")
    assert server.attempts == [], "nothing at all was sent"
    stats = client.stats()
    assert stats.balanced and stats.queued == stats.held == stats.in_memory == 0
    assert stats.dropped["opted out"] >= discarded + 4
    client.shutdown(5)
    assert read_status(data).consent == "out"  # `usageanalytics status` says so

    # Another process on the same folder starts opted out and records nothing.
    child = start_child(
        "consent",
        {"configure": {"endpoint": server.endpoint, "data_dir": str(data)}, "count": 20, "name": "In Child"},
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-2000:]
    assert "OPTED OUT True" in out
    report = json.loads(out.strip().splitlines()[-1])
    assert report["flushed"] and report["stats"]["delivered"] == 0
    assert report["stats"]["dropped"]["opted out"] >= 20
    assert server.attempts == []
    assert_not_on_disk(data, "In Child")

    # Opting in again, in a third process's stead: the next process records again.
    again = make_client()
    assert again.is_opted_out()
    again.opt_in()
    assert not again.is_opted_out()
    again.log_event("After Opt In")
    assert again.flush(30)
    assert [e["name"] for e in server.events() if e["name"] == "After Opt In"] == ["After Opt In"]
    again.shutdown(5)
    child = start_child(
        "consent",
        {"configure": {"endpoint": server.endpoint, "data_dir": str(data)}, "count": 3, "name": "Again"},
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-2000:]
    assert "OPTED OUT False" in out
    assert len(server.events("Again")) == 3


def test_a_choice_made_in_one_process_is_followed_by_another_on_the_folder(
    make_client: Any, server: StrictServer
) -> None:
    first = make_client(flush_interval=3600)
    second = make_client(flush_interval=3600)
    with ua.identity("user-2", customer_account_id="acct-1"):
        second.log_event("Queued In Second")
    persist(second)
    first.opt_out()
    wait_until(second.is_opted_out, timeout=10)  # within a second or so (its next tick)
    wait_until(lambda: second.stats().queued == 0 and second.stats().dropped.get("opted out", 0) > 0)
    with ua.identity("user-2", customer_account_id="acct-1"):
        second.log_event("While Opted Out")
    assert second.flush(10) and first.flush(10)
    assert server.attempts == []

    first.opt_in()
    wait_until(lambda: not second.is_opted_out(), timeout=10)
    with ua.identity("user-2", customer_account_id="acct-1"):
        second.log_event("After Opt In")
    assert second.flush(30)
    assert [e["name"] for e in server.events() if not e["name"].startswith("app_")] == ["After Opt In"]
    # The user is announced again after opting in (their upsert was discarded with the queue).
    assert "user-2" in {body["userId"] for body in server.bodies("usageanalytics/user")}
    assert second.stats().balanced and first.stats().balanced


def test_consent_first_records_nothing_until_opt_in_and_a_saved_opt_in_counts(
    make_client: Any, server: StrictServer, tmp_path: Path
) -> None:
    client = make_client(opt_out_by_default=True, collect_device_attributes=True)
    assert client.is_opted_out()
    client.log_event("Before Consent", {"Secret": "before-consent-secret"})
    client.set_user_attribute("Language", "before-consent-secret")
    client.start_session()
    persist(client)
    assert client.flush(10)
    assert server.attempts == []
    assert_not_on_disk(tmp_path / "data", "before-consent-secret", "Device Name")

    client.opt_in()
    client.log_event("After Consent")
    assert client.flush(30)
    assert server.rejected == []
    assert [e["name"] for e in server.events()] == ["app_session_start", "After Consent"]
    assert server.bodies("usageanalytics/device/attribute"), "the device attributes follow consent"
    assert server.bodies("usageanalytics/user"), "so does the user"
    client.shutdown(5)

    restarted = make_client(opt_out_by_default=True)
    assert not restarted.is_opted_out(), "the saved opt-in wins over the default"
    restarted.log_event("Next Run")
    assert restarted.flush(30)
    assert server.events("Next Run")


def test_opt_out_on_a_folder_left_with_a_dead_processs_queue(tmp_path: Path) -> None:
    port = free_port()
    child = start_child(
        "log",
        {
            "configure": {"endpoint": f"http://127.0.0.1:{port}/v4/", "data_dir": str(tmp_path)},
            "count": 30,
            "name": "Dead Process",
            "linger": True,
            "persist": True,
        },
    )
    try:
        read_until(child.stdout, lambda line: line == "PERSISTED")  # type: ignore[arg-type]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert b"Dead Process" in folder_bytes(tmp_path)
    options: dict[str, Any] = {
        "api_key": "test-key", "endpoint": f"http://127.0.0.1:{port}/v4/", "data_dir": str(tmp_path),
        "customer_account_id": "acct-1", "collect_device_attributes": False,
    }  # fmt: skip
    with ua.Client("app-1", **options) as client:
        client.opt_out()
        # What the sender was posting right then (the server is down) is discarded when the
        # post fails, by the next once-a-second sweep.
        wait_until(lambda: client.stats().dropped.get("opted out", 0) >= 30)
        assert client.stats().balanced
    assert_not_on_disk(tmp_path, "Dead Process")
    # Started opted out, a process discards what it finds before anything is sent.
    with StrictServer(port=port) as server, ua.Client("app-1", **options) as client:
        assert client.is_opted_out()
        assert client.flush(10)
    assert server.attempts == []


# -- capture_ip ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "address", "expected"),
    [
        ("anonymized", "203.0.113.77", "203.0.113.0"),
        ("anonymized", "2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("anonymized", "::ffff:198.51.100.23", "198.51.100.0"),
        ("full", "203.0.113.77", "203.0.113.77"),
        ("none", "203.0.113.77", None),
        ("full", "not an address", None),
    ],
)
def test_capture_ip_is_applied_where_the_envelope_is_made(
    make_client: Any, server: StrictServer, mode: str, address: str, expected: str | None
) -> None:
    client = make_client(**({} if mode == "anonymized" else {"capture_ip": mode}))
    with ua.identity("user-ip", customer_account_id="acct-1", source_ip=address):
        client.log_event("From Somewhere")
    assert client.flush(30)
    assert server.rejected == []
    envelope = server.events("From Somewhere")[0]["_envelope"]
    assert envelope.get("userSourceIP") == expected
    if expected != address:
        sent = json.dumps([attempt.body for attempt in server.attempts])
        assert address not in sent, "the address reached the server in another field"


# -- forget_user ----------------------------------------------------------------------------------------


def test_forget_user_reaches_memory_queues_held_records_guests_an_adopted_queue_and_dead_letters(
    tmp_path: Path,
) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/v4/"
    data = tmp_path / "data"
    options: dict[str, Any] = {
        "api_key": "test-key", "endpoint": endpoint, "data_dir": str(data), "flush_interval": 3600,
        "write_interval": 3600, "collect_device_attributes": False, "retry_base": 60, "retry_cap": 60,
    }  # fmt: skip
    account = {"customer_account_id": "acct-1"}

    # Dead letters: the server refuses the user's requests.
    def refuse_the_user(path: str, body: dict[str, Any]) -> Any:
        if body.get("userId") == "gdpr-user":
            return 400, {}, {"status": "INVALID_INPUT", "message": "injected"}
        return None

    with StrictServer(port=port) as server:
        server.fault = refuse_the_user
        with ua.Client("app-1", **options) as client:
            for user in ("gdpr-user", "keep-user"):
                with ua.identity(user, **account):
                    client.log_event("Dead Lettered", {"Secret": f"letter-{user}"})
            assert client.flush(30)
            assert client.dead_lettered()

    # A process with the user's records on disk, killed.
    child = start_child(
        "log",
        {"configure": {"endpoint": endpoint, "data_dir": str(data)}, "count": 25, "name": "In Dead Child",
         "user": None, "linger": True, "persist": True},
    )  # fmt: skip
    try:
        read_until(child.stdout, lambda line: line == "PERSISTED")  # type: ignore[arg-type]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)

    client = ua.Client("app-1", **options)  # no customer account: records without one are held
    try:
        with ua.identity("gdpr-user"):
            client.log_event("Held", {"Secret": "held-secret"})
        with ua.identity(guest_id="guest-of-gdpr", **account):
            client.log_event("As A Guest", {"Secret": "guest-secret"})
        with ua.identity("gdpr-user", guest_id="guest-of-gdpr", **account):
            client.identify()  # the login names the guest: their history is the user's
            client.log_event("Outboxed", {"Secret": "outbox-secret"})
        with ua.identity("keep-user", **account):
            client.log_event("Kept Event")
        persist(client)
        assert client.flush(1) is False  # the server is down: a round went to the outbox, some held
        with ua.identity("gdpr-user", **account):
            client.log_event("Inboxed", {"Secret": "inbox-secret"})
        persist(client)
        with ua.identity("gdpr-user", **account):
            client.log_event("In Memory", {"Secret": "memory-secret"})
        before = client.stats()
        assert before.held >= 1 and before.in_memory >= 1

        forgotten = client.forget_user("gdpr-user")
        stats = client.stats()
        assert forgotten == stats.dropped["forgotten"] >= 10
        assert stats.balanced, stats
        assert stats.held == 0 and stats.in_memory == 0
        assert not [d for d in client.dead_lettered() if d.request["body"].get("userId") == "gdpr-user"]
        assert [d for d in client.dead_lettered() if d.request["body"].get("userId") == "keep-user"] == []
        assert_not_on_disk(data, "gdpr-user", "guest-of-gdpr", "held-secret", "guest-secret", "outbox-secret",
                           "inbox-secret", "memory-secret", "letter-gdpr-user")  # fmt: skip
        assert client._state.aliases().get("guest-of-gdpr") is None
        with StrictServer(port=port) as server:
            assert client.flush(30)
            users = {e["_envelope"]["userId"] for e in server.events()}
            users |= {body["userId"] for body in server.bodies("usageanalytics/user")}
            assert "gdpr-user" not in users and "guest-of-gdpr" not in users
            assert "keep-user" in users
            assert len(server.events("In Dead Child")) == 25  # the child's guest is not forgotten
        assert client.stats().balanced
    finally:
        client.shutdown(2)


def test_forget_user_in_a_dead_childs_queue_that_logged_as_the_user(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/v4/"
    child = start_child(
        "log",
        {"configure": {"endpoint": endpoint, "data_dir": str(tmp_path)}, "count": 40, "name": "Child Event",
         "user": "gdpr-child-user", "linger": True, "persist": True},
    )  # fmt: skip
    try:
        read_until(child.stdout, lambda line: line == "PERSISTED")  # type: ignore[arg-type]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    options: dict[str, Any] = {
        "api_key": "test-key", "endpoint": endpoint, "data_dir": str(tmp_path),
        "customer_account_id": "acct-1", "collect_device_attributes": False, "flush_interval": 3600,
    }  # fmt: skip
    with ua.Client("app-1", **options) as client:
        forgotten = client.forget_user("gdpr-child-user")
        assert forgotten >= 41  # 40 events, the login upsert (and the session start)
        assert client.stats().balanced
        # The folder no longer keeps the user as the logged-in user either.
        assert "gdpr-child-user" not in (client._state.get("identity") or "")
        assert_not_on_disk(tmp_path, "gdpr-child-user")
        with StrictServer(port=port) as server:
            assert client.flush(30)
            assert server.events("Child Event") == []


def test_forget_user_waits_for_a_request_in_flight_and_drops_it_when_it_fails(
    make_client: Any, server: StrictServer
) -> None:
    client = make_client(timeout=5, flush_interval=3600, retry_base=60, retry_cap=60)

    def stall_the_user(path: str, body: dict[str, Any]) -> Any:
        if body.get("userId") == "gdpr-user":
            return 503, {}, Stall(1.5, {"status": "ERROR", "message": "injected"})
        return None

    server.fault = stall_the_user
    with ua.identity("gdpr-user", customer_account_id="acct-1"):
        client.log_event("In Flight")
    flushing = threading.Thread(target=client.flush, args=(10,))
    flushing.start()
    sender = client._pipeline.sender
    assert sender is not None
    wait_until(lambda: bool(sender.in_flight()))
    assert client.forget_user("gdpr-user") >= 2
    flushing.join(30)
    server.fault = None
    assert client.flush(30)
    assert all(e["_envelope"]["userId"] != "gdpr-user" for e in server.events())
    assert client.stats().balanced


def test_forget_user_takes_only_a_user_id(make_client: Any, sdk_log: pytest.LogCaptureFixture) -> None:
    client = make_client()
    assert client.forget_user(42) == 0  # type: ignore[arg-type]
    assert client.forget_user("") == 0
    assert "forget_user ignored" in sdk_log.text
    client.shutdown(2)
    assert client.forget_user("anyone") == 0


def test_module_functions_act_on_the_shared_client(server: StrictServer, tmp_path: Path) -> None:
    assert ua.is_opted_out() is False  # before configure(): nothing to say
    ua.configure(
        "app-1", api_key="test-key", endpoint=server.endpoint, data_dir=str(tmp_path / "data"),
        customer_account_id="acct-1", auto_capture=False, collect_device_attributes=False,
    )  # fmt: skip
    ua.log_event("Queued")
    ua.opt_out()
    assert ua.is_opted_out()
    ua.log_event("Refused")
    ua.opt_in()
    assert not ua.is_opted_out()
    with ua.identity("someone", customer_account_id="acct-1"):
        ua.log_event("Someone's")
    assert ua.forget_user("someone") >= 2
    ua.log_event("Sent")
    assert ua.flush(30)
    assert [e["name"] for e in server.events() if not e["name"].startswith("app_")] == ["Sent"]
    client = ua.get_client()
    assert client is not None and client._state.get(CONSENT_KEY) == "in"

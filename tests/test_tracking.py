"""Tracking calls: what reaches the server, bad input kept partly and reported, strict mode."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pytest

import usageanalytics as ua
from tests.support.strict_server import StrictServer


def _parameters(event: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for parameter in event.get("parameters", []):
        value_key = next(k for k in parameter if k.endswith("Value"))
        values[parameter["attributeName"]] = (parameter["dataType"], parameter[value_key])
    return values


def test_event_with_typed_attributes(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    client.log_event(
        "Signed In",
        {"Module": "Login", "Discount Applied": True, "Tries": 2, "Score": 9.5, "On": date(2024, 2, 29)},
    )
    assert client.flush(30)
    (event,) = server.events("Signed In")
    assert _parameters(event) == {
        "Module": ("String", "Login"),
        "Discount Applied": ("Boolean", True),
        "Tries": ("Number", 2),
        "Score": ("Number", 9.5),
        "On": ("Date", "2024-02-29"),
    }
    envelope = event["_envelope"]
    assert envelope["appId"] == "app-1"
    assert envelope["customerAccountId"] == "acct-1"
    assert envelope["platform"] == "Web"
    assert envelope["userId"] == client.user_id
    assert envelope["deviceId"] == client.device_id
    assert envelope["sessionId"]


def test_screen_view_is_the_spec_event(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    client.log_screen_view("News List")
    assert client.flush(30)
    (event,) = server.events("Screen View")
    assert _parameters(event) == {"Screen Name": ("String", "News List")}


def test_module_functions_use_the_shared_client(server: StrictServer, tmp_path: Any) -> None:
    ua.configure(
        "app-1", api_key="test-key", endpoint=server.endpoint, data_dir=str(tmp_path),
        customer_account_id="acct-1", collect_device_attributes=False,
    )  # fmt: skip
    ua.log_event("Exported", {ua.EventAttribute.MODULE: "Reports"})  # type: ignore[dict-item]
    ua.set_user_attributes({ua.UserAttribute.LANGUAGE: "en-us", "Employee Id": 96})
    ua.update_device_token("740f4707 bebcf74f", app_in_distribution=False)
    assert ua.flush(30)
    assert [e["name"] for e in server.events()] == ["app_session_start", "Exported"]
    (attributes,) = server.bodies("usageanalytics/user/attribute")
    assert [(a["name"], a["dataType"]) for a in attributes["userAttributes"]] == [
        ("Language", "String"),
        ("Employee Id", "Number"),
    ]
    (token,) = server.bodies("usageanalytics/device/token")
    assert token["deviceToken"] == "740f4707 bebcf74f" and token["appInDistribution"] is False
    assert ua.shutdown(10)


def test_calls_before_configure_are_ignored_with_one_warning(sdk_log: pytest.LogCaptureFixture) -> None:
    ua.log_event("Too early")
    ua.log_event("Too early again")
    warnings = [r for r in sdk_log.records if "configure() first" in r.getMessage()]
    assert len(warnings) <= 1  # once per process: an earlier test may have used it up
    assert ua.flush(1) is True


def test_six_attributes_send_five_and_warn(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.log_event("Big", {f"a{i}": i for i in range(6)})
    assert client.flush(30)
    (event,) = server.events("Big")
    assert list(_parameters(event)) == ["a0", "a1", "a2", "a3", "a4"]
    assert any("has 6 attributes" in r.getMessage() and "a5" in r.getMessage() for r in sdk_log.records)


def test_bad_values_are_dropped_and_the_rest_kept(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.log_event("Mixed", {"ok": "yes", "nan": float("nan"), "obj": object(), "n": 1})
    client.log_event("")  # an empty name: ignored
    client.log_event(None)  # type: ignore[arg-type]
    client.set_user_attribute("Bad", [1, 2])  # type: ignore[arg-type]
    client.set_user_attribute("Good", "value")
    client.log_event("Not a dict", ["a", "b"])  # type: ignore[arg-type]
    assert client.flush(30)
    assert [e["name"] for e in server.events()] == ["app_session_start", "Mixed", "Not a dict"]
    assert _parameters(server.events("Mixed")[0]) == {"ok": ("String", "yes"), "n": ("Number", 1)}
    (attributes,) = server.bodies("usageanalytics/user/attribute")
    assert [a["name"] for a in attributes["userAttributes"]] == ["Good"]
    messages = " | ".join(r.getMessage() for r in sdk_log.records)
    assert "'nan' dropped" in messages and "not a number JSON can carry" in messages
    assert "'obj' dropped" in messages and "not a supported attribute type" in messages
    assert "event name must be a non-empty string" in messages
    assert "user attribute 'Bad' ignored" in messages
    assert server.rejected == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.log_event("E", {f"a{i}": i for i in range(6)}), "has 6 attributes"),
        (lambda c: c.log_event("E", {"x": float("inf")}), "not a number JSON can carry"),
        (lambda c: c.log_event(""), "event name must be a non-empty string"),
        (lambda c: c.log_event("E", {"x": None}), "not a supported attribute type"),
        (lambda c: c.set_user_attribute("", 1), "user attribute name"),
        (lambda c: c.log_screen_view("   "), "screen name"),
        (lambda c: c.update_device_token(""), "device token"),
        (lambda c: c.set_user(""), "user id"),
    ],
)
def test_strict_mode_raises_on_bad_input(make_client: Any, call: Any, message: str) -> None:
    client = make_client(strict=True)
    with pytest.raises(ua.TrackingInputError, match=message):
        call(client)


def test_a_failing_tracking_call_never_raises_into_the_app(
    make_client: Any, monkeypatch: pytest.MonkeyPatch, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(client, "_emit", broken)
    client.log_event("Anything")
    client.set_user_attribute("Name", "x")
    assert any("log_event failed" in r.getMessage() for r in sdk_log.records)


def test_manual_events_are_not_debounced_but_auto_captured_ones_are(
    server: StrictServer, make_client: Any
) -> None:
    client = make_client(debounce_window=60)
    for _ in range(3):
        client.log_event("Clicked Buy")
    for _ in range(3):
        client.log_screen_view("Cart", debounce=True)
    client.log_screen_view("Checkout", debounce=True)
    assert client.flush(30)
    names = [e["name"] for e in server.events()]
    assert names.count("Clicked Buy") == 3
    screens = [_parameters(e)["Screen Name"][1] for e in server.events("Screen View")]
    assert screens == ["Cart", "Checkout"]


def test_debounce_key_includes_the_user(server: StrictServer, make_client: Any) -> None:
    client = make_client(debounce_window=60)
    with ua.identity("alice"):
        client.log_screen_view("Home", debounce=True)
    with ua.identity("bob"):
        client.log_screen_view("Home", debounce=True)
    assert client.flush(30)
    users = sorted(e["_envelope"]["userId"] for e in server.events("Screen View"))
    assert users == ["alice", "bob"]


def test_signals_report_logged_and_debounced_events(make_client: Any) -> None:
    client = make_client(debounce_window=60)
    seen: list[tuple[str, dict[str, Any]]] = []

    def on_logged(sender: Any, **info: Any) -> None:
        seen.append(("logged", info))

    def on_debounced(sender: Any, **info: Any) -> None:
        seen.append(("debounced", info))

    with ua.signals.event_logged.connected_to(on_logged, sender=client), \
            ua.signals.event_debounced.connected_to(on_debounced, sender=client):  # fmt: skip
        client.log_screen_view("Home", debounce=True)
        client.log_screen_view("Home", debounce=True)
    assert [kind for kind, _ in seen] == ["logged", "debounced"]
    assert seen[0][1]["name"] == "Screen View" and seen[1][1]["user_id"] == client.user_id


def test_a_raising_signal_receiver_does_not_break_tracking(
    server: StrictServer, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()

    def explode(sender: Any, **info: Any) -> None:
        raise RuntimeError("receiver bug")

    caplog.set_level(logging.ERROR, logger="usageanalytics")
    with ua.signals.event_logged.connected_to(explode, sender=client):
        client.log_event("Still sent")
    assert client.flush(30)
    assert [e["name"] for e in server.events("Still sent")] == ["Still sent"]
    assert any("signal receiver failed" in r.getMessage() for r in caplog.records)


def test_page_load_event_has_the_spec_parameters(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    client.log_page_load("/reports/42", 32.3, request_count=1)
    client.log_page_load("/reports/42", 32.3, request_count=1)  # measurements: never debounced
    assert client.flush(30)
    events = server.events("page_load_event")
    assert len(events) == 2
    assert _parameters(events[0]) == {
        "requestCount": ("Number", 1),
        "loadTime": ("Number", 32.3),
        "pageUrl": ("String", "/reports/42"),
    }


def test_a_page_view_is_the_screen_view_and_page_load_the_two_calls_would_log(
    server: StrictServer, make_client: Any
) -> None:
    client = make_client()
    with ua.identity(guest_id="visitor-1"):
        client.log_page_view("/reports/<int:id>", "/reports/42", 32.3, 2)
        client.log_screen_view("/reports/<int:id>")
        client.log_page_load("/reports/42", 32.3, request_count=2)
    assert client.flush(30)
    views, loads = server.events("Screen View"), server.events("page_load_event")
    assert len(views) == len(loads) == 2
    for event in views:
        assert _parameters(event) == {"Screen Name": ("String", "/reports/<int:id>")}
    for event in loads:
        assert _parameters(event) == {
            "requestCount": ("Number", 2),
            "loadTime": ("Number", 32.3),
            "pageUrl": ("String", "/reports/42"),
        }
    envelopes = [event["_envelope"] for event in (*views, *loads)]
    assert all(envelope == envelopes[0] for envelope in envelopes), "one user, one session"
    assert envelopes[0]["userId"] == "visitor-1"
    assert views[0]["loggedAtTime"] == loads[0]["loggedAtTime"]
    # What log_page_view writes out itself is what the two calls build, key for key.
    for pair in (views, loads):
        page_view, separate = ({k: v for k, v in event.items() if k != "loggedAtTime"} for event in pair)
        assert page_view == separate
        assert list(pair[0]) == list(pair[1])


@pytest.mark.parametrize(
    ("screen", "url"),
    [
        ('/say/"hi"\\there', "/say/%22hi%22?q=a\tb"),  # written by the writer: escaped there
        ("/café/<name>", "/café/crème"),  # not ASCII: encoded in the call, as any event
        ("/lone/\ud800", "/lone/\udfff"),  # lone surrogates: escaped, as any event's
    ],
)
def test_a_page_view_of_any_text_is_what_the_two_calls_would_log(
    server: StrictServer, make_client: Any, screen: str, url: str
) -> None:
    client = make_client()
    client.log_page_view(screen, url, 1.5, 3)
    client.log_screen_view(screen)
    client.log_page_load(url, 1.5, request_count=3)
    assert client.flush(30)
    views, loads = server.events("Screen View"), server.events("page_load_event")
    assert len(views) == len(loads) == 2
    for pair in (views, loads):
        page_view, separate = ({k: v for k, v in event.items() if k != "loggedAtTime"} for event in pair)
        assert page_view == separate
    assert _parameters(loads[0])["pageUrl"] == _parameters(loads[1])["pageUrl"]
    assert client.stats().balanced


def test_page_views_still_in_memory_are_found_by_discard_queued(make_client: Any) -> None:
    """Their bodies are written by the writer thread; until then a predicate still reads them."""
    client = make_client(write_interval=60.0)
    client.log_page_view("/keep", "/keep", 1.0)
    client.log_page_view("/drop", "/drop", 1.0)
    names = {"/drop"}
    dropped = client.discard_queued(
        lambda record: any(p.get("stringValue") in names for p in record["body"]["parameters"]), "forgotten"
    )
    assert dropped == 2
    assert client.stats().dropped == {"forgotten": 2}


def test_a_page_view_with_a_bad_value_keeps_what_is_valid_and_counts_the_rest(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    long_url = "/search/" + "q" * 9000
    client.log_page_view(None, "/fine", 1.5)  # type: ignore[arg-type]
    client.log_page_view("/fine", "/fine", float("nan"))
    client.log_page_view(b"/bytes", "", 1.0)  # type: ignore[arg-type]
    client.log_page_view("/search", long_url, 2.0, 1)
    assert client.flush(30)
    assert [_parameters(e)["Screen Name"][1] for e in server.events("Screen View")] == ["/fine", "/search"]
    loads = server.events("page_load_event")
    assert [_parameters(e)["pageUrl"][1] for e in loads] == ["/fine", long_url[:8192]]
    stats = client.stats()
    assert stats.dropped == {"invalid input": 4}  # two screen names, two page loads
    assert stats.balanced and stats.delivered == stats.logged - 4
    assert "screen name must be a non-empty string, got None" in sdk_log.text
    assert "load_time_ms must be a number, got float nan" in sdk_log.text
    assert "page_url must be a non-empty string" in sdk_log.text


@pytest.mark.parametrize(
    "args",
    [(None, "/", 1.0), ("", "/", 1.0), ("x" * 9000, "/", 1.0), ("/", "/", float("inf")), ("/", 3, 1.0)],
)
def test_strict_mode_raises_on_a_bad_page_view(make_client: Any, args: tuple[Any, ...]) -> None:
    client = make_client(strict=True)
    with pytest.raises(ua.TrackingInputError):
        client.log_page_view(*args)


def test_many_threads_logging_at_once_lose_and_duplicate_nothing(
    server: StrictServer, make_client: Any
) -> None:
    import threading

    client = make_client()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait(10)
        for i in range(1000):
            client.log_event("Threaded", {"thread": n, "i": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert client.flush(60)
    seen = [
        (e["parameters"][0]["numberValue"], e["parameters"][1]["numberValue"])
        for e in server.events("Threaded")
    ]
    assert sorted(seen) == [(n, i) for n in range(8) for i in range(1000)]
    assert server.duplicates == 0


def test_pipeline_signals(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    seen: dict[str, list[dict[str, Any]]] = {"sent": [], "started": [], "ended": []}
    import contextlib

    with contextlib.ExitStack() as stack:
        for signal, kind in (
            (ua.signals.batch_sent, "sent"),
            (ua.signals.session_started, "started"),
            (ua.signals.session_ended, "ended"),
        ):
            stack.enter_context(
                signal.connected_to(lambda s, kind=kind, **i: seen[kind].append(i), sender=client)
            )
        client.log_event("Observed")
        assert client.shutdown(30)
    assert sum(i["count"] for i in seen["sent"] if i["path"] == "usageanalytics/event") == 3
    assert seen["started"][0]["session_id"] == seen["ended"][0]["session_id"]
    assert all(i["idempotency_id"] for i in seen["sent"])

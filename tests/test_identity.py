"""Guests, logins, logouts, guest-to-user transfer, and per-request identity."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import usageanalytics as ua
from tests.support.strict_server import StrictServer


def _users(server: StrictServer) -> list[dict[str, Any]]:
    return server.bodies("usageanalytics/user")


def test_guest_id_persists_across_restarts_until_set_user(make_client: Any) -> None:
    first = make_client()
    guest = first.user_id
    assert first.is_guest and guest
    first.shutdown(10)
    second = make_client()
    assert second.user_id == guest and second.is_guest
    second.set_user("user-7")
    second.shutdown(10)
    third = make_client()
    assert third.user_id == "user-7" and not third.is_guest


def test_reset_user_starts_a_new_guest_with_configure_defaults(
    server: StrictServer, make_client: Any
) -> None:
    client = make_client(customer_account_id="default-acct")
    client.set_user("user-1", customer_account_id="acct-of-user")
    client.log_event("As User")
    client.reset_user()
    guest = client.user_id
    assert client.is_guest and guest != "user-1"
    client.log_event("As Guest")
    assert client.flush(30)
    as_user = server.events("As User")[0]["_envelope"]
    as_guest = server.events("As Guest")[0]["_envelope"]
    assert (as_user["userId"], as_user["customerAccountId"]) == ("user-1", "acct-of-user")
    assert (as_guest["userId"], as_guest["customerAccountId"]) == (guest, "default-acct")
    assert as_user["sessionId"] != as_guest["sessionId"], "logout ends the session"
    ends = server.events("app_session_end")
    assert [e["_envelope"]["userId"] for e in ends] == ["user-1"]
    assert _users(server)[-1]["loginMechanism"] == "GUEST"
    assert _users(server)[-1]["userId"] == guest


def test_queued_guest_events_move_to_the_user_who_logs_in(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    guest = client.user_id
    client.log_event("Browsed As Guest")
    client.set_user("user-9")
    client.log_event("Bought")
    assert client.flush(30)
    assert {e["_envelope"]["userId"] for e in server.events()} == {"user-9"}
    users = _users(server)
    assert [u["loginMechanism"] for u in users] == ["AUTH"], "the guest's own upsert is superseded"
    assert users[0]["lastLoggedInUserId"] == guest
    assert users[0]["customerAccountId"] == "acct-1" and users[0]["status"] == "Active"


def test_login_after_guest_events_were_sent_names_the_guest(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    guest = client.user_id
    client.log_event("Early")
    assert client.flush(30)
    client.set_user("user-3")
    assert client.flush(30)
    assert server.events("Early")[0]["_envelope"]["userId"] == guest
    users = _users(server)
    assert [(u["loginMechanism"], u.get("lastLoggedInUserId")) for u in users] == [
        ("GUEST", None),
        ("AUTH", guest),
    ]


def test_guest_without_account_is_held_not_sent_invalid(server: StrictServer, make_client: Any) -> None:
    client = make_client(customer_account_id=None)
    client.log_event("Looked Around")
    client.set_user_attribute("Plan", "free")  # needs no account: sent right away
    assert client.flush(1) is False, "held records are not sent"
    assert server.events() == [] and _users(server) == []
    assert server.rejected == []
    assert [a["userAttributes"][0]["name"] for a in server.bodies("usageanalytics/user/attribute")] == [
        "Plan"
    ]
    client.set_user("user-5", customer_account_id="acct-5")
    assert client.flush(30) is True
    events = server.events()
    assert [e["name"] for e in events] == ["app_session_start", "Looked Around"]
    assert {(e["_envelope"]["userId"], e["_envelope"]["customerAccountId"]) for e in events} == {
        ("user-5", "acct-5")
    }
    assert server.rejected == []


def test_held_records_survive_a_restart(server: StrictServer, make_client: Any) -> None:
    first = make_client(customer_account_id=None)
    first.log_event("Before Restart")
    assert first.shutdown(1) is False
    second = make_client(customer_account_id=None)
    second.set_user("user-6", customer_account_id="acct-6")
    assert second.flush(30)
    (event,) = server.events("Before Restart")
    assert event["_envelope"]["userId"] == "user-6"


def test_request_identities_never_leak_between_threads(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def visitor(n: int) -> None:
        try:
            barrier.wait(10)
            for i in range(25):
                with ua.identity(f"user-{n}", customer_account_id=f"acct-{n}"):
                    client.log_event("Hit", {"visitor": n, "i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    client.log_event("Process-wide")  # no context here: the process identity
    for thread in threads:
        thread.join(30)
    assert not errors
    assert client.flush(30)
    hits = server.events("Hit")
    assert len(hits) == 8 * 25
    for hit in hits:
        n = hit["parameters"][0]["numberValue"]
        assert hit["_envelope"]["userId"] == f"user-{n}"
        assert hit["_envelope"]["customerAccountId"] == f"acct-{n}"
    (process_wide,) = server.events("Process-wide")
    assert process_wide["_envelope"]["userId"] == client.user_id


def test_asyncio_tasks_keep_their_own_identity(server: StrictServer, make_client: Any) -> None:
    client = make_client()

    async def request(user: str) -> None:
        with ua.identity(user):
            await asyncio.sleep(0)
            client.log_event("Async Hit", {"expected": user})
            await asyncio.sleep(0)
            client.log_event("Async Hit", {"expected": user})

    async def main() -> None:
        await asyncio.gather(*(request(f"u{i}") for i in range(20)))

    asyncio.run(main())
    assert client.flush(30)
    hits = server.events("Async Hit")
    assert len(hits) == 40
    assert all(h["_envelope"]["userId"] == h["parameters"][0]["stringValue"] for h in hits)


def test_web_visitor_login_transfers_the_cookie_guest(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    with ua.identity(guest_id="cookie-123"):
        client.log_screen_view("Pricing")
    with ua.identity("user-77", guest_id="cookie-123"):
        client.log_screen_view("Account")
    assert client.flush(30)
    screens = server.events("Screen View")
    assert {s["_envelope"]["userId"] for s in screens} == {"user-77"}
    assert len({s["_envelope"]["sessionId"] for s in screens}) == 1, "login keeps the visit's session"
    logins = [u for u in _users(server) if u["loginMechanism"] == "AUTH"]
    assert [u["lastLoggedInUserId"] for u in logins] == ["cookie-123"]


def test_set_product_id_applies_to_later_events(server: StrictServer, make_client: Any) -> None:
    client = make_client(product_id="product-a")
    client.log_event("On A")
    client.set_product_id("product-b")
    client.log_event("On B")
    assert client.flush(30)
    assert server.events("On A")[0]["_envelope"]["productId"] == "product-a"
    assert server.events("On B")[0]["_envelope"]["productId"] == "product-b"


def test_user_changed_signal(make_client: Any) -> None:
    client = make_client()
    changes: list[dict[str, Any]] = []
    with ua.signals.user_changed.connected_to(lambda s, **i: changes.append(i), sender=client):
        guest = client.user_id
        client.set_user("user-1")
        client.reset_user()
    assert changes[0] == {"user_id": "user-1", "previous_user_id": guest, "guest": False}
    assert changes[1]["previous_user_id"] == "user-1" and changes[1]["guest"] is True


def test_identify_announces_a_login_without_an_event(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    with ua.identity("user-88", guest_id="cookie-88"):
        client.identify()
    assert client.flush(30)
    assert server.events() == []
    (login,) = _users(server)
    assert (login["userId"], login["loginMechanism"], login["lastLoggedInUserId"]) == (
        "user-88",
        "AUTH",
        "cookie-88",
    )

"""Unit tests of the pipeline's pure pieces, with injected clocks: no threads, no network.

Request forming and splitting, re-attribution, the record codec (old formats included), backoff
and Retry-After, the ledger's transfers and drop logging, input cleaning, debounce, sessions.
"""

from __future__ import annotations

import logging
import random
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from usageanalytics import batching, inputs
from usageanalytics.debounce import Debouncer
from usageanalytics.ledger import INVALID_INPUT, SUPERSEDED, Ledger
from usageanalytics.lockfile import FileLock
from usageanalytics.records import (
    EVENT,
    USER,
    CorruptItem,
    OutboxItem,
    Record,
    RoundPlan,
    body_json,
    decode_chunk,
    decode_outbox,
    encode_outbox,
    encode_pending,
    encode_plan,
    encode_records,
    encode_request,
    page_load_body,
    page_load_json,
    records_of,
    records_of_request,
    runs_of,
    screen_view_body,
    screen_view_json,
    valid_runs,
    without_entries,
)
from usageanalytics.retry import RetryPolicy, backoff_delay, usable_retry_after
from usageanalytics.sender import Repaired, finish_interrupted_rounds, form_round
from usageanalytics.sessions import Session, SessionTracker
from usageanalytics.state import Alias
from usageanalytics.storage import QueueStore, wal_problem
from usageanalytics.wire import timestamp

ENVELOPE = {"appId": "a", "userId": "u", "platform": "Web", "deviceId": "d", "customerAccountId": "acct"}


def _event(
    name: str = "E", envelope: dict[str, Any] | None = None, guest: bool = False, **extra: Any
) -> Record:
    body = {"name": name, "loggedAtTime": "2024-01-01T00:00:00.000Z", **extra}
    return Record(kind=EVENT, envelope=envelope or ENVELOPE, body=body, logged_at=1.0, guest=guest)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- request forming ----------------------------------------------------------------------------------


def test_requests_are_grouped_by_envelope_and_ordered_user_first() -> None:
    other = dict(ENVELOPE, userId="v")
    user = Record(kind=USER, envelope=ENVELOPE, body={"status": "Active"}, logged_at=0.5, guest=False)
    formed = batching.form_requests([_event(), _event(envelope=other), user, _event()], {}, batch_size=500)
    assert [(r["path"], r["count"]) for r in formed.requests] == [
        ("usageanalytics/user", 1),
        ("usageanalytics/event", 2),
        ("usageanalytics/event", 1),
    ]
    assert formed.requests[1]["body"]["userId"] == "u" and formed.requests[2]["body"]["userId"] == "v"
    assert formed.requests[0]["first"] == 0.5
    assert len({r["id"] for r in formed.requests}) == 3


def test_requests_are_bounded_in_records_and_bytes() -> None:
    records = [_event(text="x" * 1000) for _ in range(100)]
    by_count = batching.form_requests(records, {}, batch_size=30)
    assert [r["count"] for r in by_count.requests] == [30, 30, 30, 10]
    by_bytes = batching.form_requests(records, {}, batch_size=100, max_bytes=20_000)
    assert sum(r["count"] for r in by_bytes.requests) == 100
    assert all(batching.body_size(r) <= 20_000 for r in by_bytes.requests)
    alone = batching.form_requests([_event(text="x" * 50_000)], {}, batch_size=10, max_bytes=20_000)
    assert [r["count"] for r in alone.requests] == [1], (
        "too large alone: one request, for the sender to refuse"
    )


def test_a_split_is_deterministic_so_a_retried_413_keeps_its_ids() -> None:
    (request,) = batching.form_requests([_event(str(i)) for i in range(5)], {}, batch_size=10).requests
    first = batching.split_request(request)
    again = batching.split_request(request)
    assert first is not None and again is not None
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert [r["count"] for r in first] == [2, 3]
    assert [e["name"] for half in first for e in half["body"]["events"]] == ["0", "1", "2", "3", "4"]
    user = batching.form_requests(
        [Record(kind=USER, envelope=ENVELOPE, body={}, logged_at=1.0, guest=False)], {}, 10
    ).requests[0]
    assert batching.split_request(user) is None


def test_a_request_body_is_encoded_once_and_spliced_exactly() -> None:
    """What is posted and what the outbox stores, built from the body's JSON encoded once, are
    byte for byte what encoding the whole again would give."""
    user = Record(kind=USER, envelope=ENVELOPE, body={"status": "Active"}, logged_at=0.5, guest=False)
    records = [user, *(_event(str(i), text='é \u2028 "q"' if i == 2 else "x") for i in range(5))]
    formed = batching.form_requests(records, {}, batch_size=3)
    assert len(formed.bodies) == len(formed.requests) == 3
    for request, body in zip(formed.requests, formed.bodies, strict=True):
        assert body == orjson.dumps(request["body"])
        assert batching.wire_body(request, body) == orjson.dumps(batching.with_idempotency(request))
        assert batching.wire_body(request) == batching.wire_body(request, body)
        assert encode_request(request, body) == encode_request(request)
        assert batching.body_size(request, body) == batching.body_size(request)
    item = OutboxItem(requests=formed.requests, sources=[1, 2], round="r", held=0)
    assert encode_outbox(item, list(formed.bodies)) == encode_outbox(item)
    empty = formed.requests[0] | {"body": {}}
    assert orjson.loads(batching.wire_body(empty)) == {"idempotencyId": empty["id"]}


def test_guests_who_logged_in_are_reattributed_their_own_upsert_superseded_and_accountless_held() -> None:
    guest_envelope = dict(ENVELOPE, userId="guest-1")
    del guest_envelope["customerAccountId"]
    aliases = {"guest-1": Alias("user-1", "acct-9", None)}
    upsert = Record(
        kind=USER, envelope=guest_envelope, body={"loginMechanism": "GUEST"}, logged_at=1.0, guest=True
    )
    stranger = dict(guest_envelope, userId="guest-2")
    formed = batching.form_requests(
        [_event(envelope=guest_envelope, guest=True), upsert, _event(envelope=stranger, guest=True)],
        aliases,
        10,
    )
    assert formed.superseded == 1
    (request,) = formed.requests
    assert (request["body"]["userId"], request["body"]["customerAccountId"]) == ("user-1", "acct-9")
    assert [r["envelope"]["userId"] for r in formed.held] == ["guest-2"]


# -- the record codec -------------------------------------------------------------------------------

ASCII = st.text(st.characters(max_codepoint=127), min_size=1)  # what log_page_view defers


@given(
    screen=ASCII,
    url=ASCII,
    load_time=st.floats(allow_nan=False, allow_infinity=False),
    count=st.integers(-(2**63), 2**64 - 1),
    logged_at=st.floats(0, 4e9),
    guest=st.sampled_from([0, 1]),
)
def test_a_page_views_bodies_made_by_the_writer_are_orjsons_byte_for_byte(
    screen: str, url: str, load_time: float, count: int, logged_at: float, guest: int
) -> None:
    """The writer's templates write what orjson writes for the bodies log_page_view once built
    (quotes, backslashes, control characters, percent signs, any float or 64-bit integer)."""
    at = timestamp(logged_at)
    made = [
        (("7", ENVELOPE, EVENT, logged_at, guest, (screen_view_json, screen)), screen_view_body(at, screen)),
        (
            ("7", ENVELOPE, EVENT, logged_at, guest, (page_load_json, url, load_time, count)),
            page_load_body(at, url, load_time, count),
        ),
    ]
    for deferred, body in made:
        assert body_json(deferred) == orjson.dumps(body).decode()
    chunk = decode_chunk(encode_pending([deferred for deferred, _ in made]))
    assert [record["body"] for record in chunk.records] == [body for _, body in made]


def test_chunks_round_trip_and_earlier_releases_formats_are_read() -> None:
    chunk_records = decode_chunk(encode_pending([("0", ENVELOPE, EVENT, 5.0, 1, '{"name":"E"}')])).records
    assert chunk_records == [
        Record(kind=EVENT, envelope=ENVELOPE, body={"name": "E"}, logged_at=5.0, guest=True)
    ]
    again = decode_chunk(encode_records(chunk_records, "c1", round_id="r1", sources=[3, 4]))
    assert again.records == chunk_records and again.round == "r1" and again.sources == (3, 4)
    # The writer's chunks of the previous release: JSON rows in one JSON document.
    json_rows = b'{"id":"w","n":1,"e":{"0":%s},"r":[["event","0",{"name":"E"},5.0,1]]}' % orjson.dumps(
        ENVELOPE
    )
    assert decode_chunk(json_rows).records == chunk_records
    assert decode_chunk(json_rows, raw_bodies=True).records == chunk_records
    # The writer's chunks of the release before: a JSON head, then a row per record.
    rows = b"event\t0\t5.0\t1\t" + b'{"name":"E"}'
    line_rows = b'{"id":"w","n":1,"v":2,"c":%d,"e":{"0":%s}}\n%s' % (
        zlib.crc32(rows),
        orjson.dumps(ENVELOPE),
        rows,
    )
    assert decode_chunk(line_rows).records == chunk_records
    (raw,) = decode_chunk(line_rows, raw_bodies=True).records
    assert isinstance(raw["body"], orjson.Fragment) and raw["logged_at"] == 5.0
    for line in (b"event\t0\t5.0", b"nokind\t0\t5.0\t1\t{}", b"event\t9\t5.0\t1\t{}", b"event\t0\tx\t1\t{}"):
        head, _, _ = line_rows.partition(b"\n")
        assert decode_chunk(head + b"\n" + line, raw_bodies=True).bad_rows == 1
    legacy_held = orjson.dumps(
        {"id": "h", "n": 1, "r": [{"k": EVENT, "e": ENVELOPE, "b": {"name": "E"}, "t": 5.0}]}
    )
    assert decode_chunk(legacy_held).records[0]["body"] == {"name": "E"}
    legacy_request = {
        "n": 2,
        "first": 1.0,
        "attempts": 3,
        "path": "usageanalytics/event",
        "body": {},
        "id": "x",
    }
    item = decode_outbox(orjson.dumps(dict(legacy_request, sources=[7])))
    assert (
        item["sources"] == [7] and item["requests"][0]["count"] == 2 and item["requests"][0]["attempts"] == 3
    )
    assert decode_outbox(encode_outbox(item)) == item


def test_the_sender_posts_event_bodies_as_written_when_the_chunk_is_intact() -> None:
    """A round's events are not decoded: their JSON text goes into the request as written. The
    CRC guards that shortcut: a chunk damaged on disk has every body parsed, and a body that is
    not JSON is a malformed row (counted), never posted."""
    event_body = {"name": "Screen View", "loggedAtTime": "2026-11-29T10:00:00.000Z"}
    user_body = {"loginMechanism": "GUEST"}
    batch = [
        ("0", ENVELOPE, EVENT, 5.0, 1, orjson.dumps(event_body).decode()),
        ("0", ENVELOPE, USER, 6.0, 0, orjson.dumps(user_body).decode()),
    ]
    data = encode_pending(batch)
    raw = decode_chunk(data, raw_bodies=True).records
    assert isinstance(raw[0]["body"], orjson.Fragment)  # an event: posted as written
    assert raw[1]["body"] == user_body  # a user upsert: the sender reads it (logins)
    (request,) = form_round(runs_of(raw[:1]), _plan([], at=10.0))[1].requests
    assert orjson.loads(orjson.dumps(request["body"]))["events"] == [event_body]
    assert decode_chunk(data).records[0]["body"] == event_body  # elsewhere: decoded as ever

    damaged = data.replace(b'"Screen View"', b'"Screen View!')  # same length, not JSON any more
    chunk = decode_chunk(damaged, raw_bodies=True)
    assert chunk.bad_rows == 1 and [r["body"] for r in chunk.records] == [user_body]
    flipped = data.replace(b"Screen View", b"Screen Viex")  # JSON still, not what was written
    assert decode_chunk(flipped, raw_bodies=True).records[0]["body"] == dict(event_body, name="Screen Viex")


def _chunk_with_runs(runs: Any, bodies: bytes, written: bytes | None = None, envelope: bytes = b"") -> bytes:
    """A chunk of ``runs`` over one envelope line (``ENVELOPE``'s unless ``envelope``) and the
    body lines ``bodies``; its CRC that of ``written`` (the body lines as written)."""
    envelope = envelope or orjson.dumps(ENVELOPE)
    crc = zlib.crc32(envelope + b"\n" + (bodies if written is None else written))
    head = {"id": "c", "n": 2, "v": 3, "c": crc, "ne": 1, "s": runs}
    return orjson.dumps(head) + b"\n" + envelope + b"\n" + bodies


@pytest.mark.parametrize(
    ("runs", "bodies", "bad"),
    [
        ([["nokind", 0, 0, [1.0]], [EVENT, 0, 0, [2.0]]], b'{"a":1}\n{"b":2}', 1),  # an unknown kind
        ([[EVENT, 9, 0, [1.0]], [EVENT, 0, 0, [2.0]]], b'{"a":1}\n{"b":2}', 1),  # no such envelope line
        ([[EVENT, "0", 0, [1.0]], [EVENT, 0, 0, [2.0]]], b'{"a":1}\n{"b":2}', 1),  # a line named as text
        ([[EVENT, 0, "1", [1.0]], [EVENT, 0, 0, [2.0]]], b'{"a":1}\n{"b":2}', 1),  # a guest flag as text
        ([[EVENT, 0, 0, [1.0]], [EVENT, 0, 0, [2.0, 3.0]]], b'{"a":1}\n{"b":2}', 2),  # lines cut: 1 kept
        ([[EVENT, 0, 0, [1.0]]], b'{"a":1}\n{"b":2}', 1),  # a line no run names
        ([[EVENT, 0, 0, [1.0]], [EVENT, 0, 0, [2.0]]], b'{"a":1}\n{"b":', 1),  # a body cut (CRC: parsed)
    ],
)
def test_runs_and_lines_that_are_not_records_are_counted_and_the_rest_kept(
    runs: list[Any], bodies: bytes, bad: int
) -> None:
    data = _chunk_with_runs(runs, bodies, written=b'{"a":1}\n{"b":2}')
    for raw in (False, True):
        chunk = decode_chunk(data, raw_bodies=raw)
        assert chunk.bad_rows == bad
        assert [r["envelope"] for r in chunk.records] == [ENVELOPE] * (1 if bad == 2 else 2 - bad)


def test_a_damaged_envelope_line_costs_its_runs_only() -> None:
    data = _chunk_with_runs([[EVENT, 0, 0, [1.0]]], b'{"a":1}', envelope=b'{"appId": [')
    assert decode_chunk(data).bad_rows == decode_chunk(data, raw_bodies=True).bad_rows == 1


def test_an_envelope_whose_values_are_not_text_is_a_malformed_row_not_a_stuck_sender() -> None:
    """JSON, intact by its CRC (written by hand), but a user id that is a list: forming fails
    on it, and the sender's second try (the valid records alone) must not fail too, or every
    cycle would fail on the same round."""
    envelope = orjson.dumps(dict(ENVELOPE, userId=["x"]))
    runs = decode_chunk(
        _chunk_with_runs([[EVENT, 0, 0, [1.0]]], b'{"a":1}', envelope=envelope), raw_bodies=True
    ).runs
    with pytest.raises(TypeError):
        form_round(runs, _plan([], at=2.0))
    valid, bad = valid_runs(runs)
    assert (valid, bad) == ([], 1) and form_round(valid, _plan([], at=2.0))[1].requests == []


@pytest.mark.parametrize("runs", [[["event", 0, 0]], [5], "runs", [["event", 0, 0, 7]]])
def test_a_chunk_whose_run_heads_are_not_runs_is_corrupt(runs: Any) -> None:
    with pytest.raises(CorruptItem):
        decode_chunk(_chunk_with_runs(runs, b'{"a":1}'))


def test_envelopes_are_written_and_read_once_and_never_mistaken() -> None:
    """The writer reuses an envelope's JSON from an earlier chunk only for that same envelope
    object; the sender's rounds share one envelope object per envelope line (what forming
    groups by), other readers get their own, and a damaged chunk's envelopes are not kept."""
    written: dict[str, Any] = {}
    first, second = dict(ENVELOPE), dict(ENVELOPE, userId="someone else")
    one = encode_pending([("0", first, EVENT, 1.0, 0, '{"name":"A"}')], written)
    two = encode_pending([("0", second, EVENT, 2.0, 0, '{"name":"B"}')], written)  # the key reused
    assert decode_chunk(two).records[0]["envelope"] == second
    again = encode_pending([("0", first, EVENT, 3.0, 0, '{"name":"C"}')], written)
    read: dict[bytes, Any] = {}
    envelopes = [decode_chunk(data, raw_bodies=True, read=read).runs[0].envelope for data in (one, again)]
    assert envelopes[0] is envelopes[1] and envelopes[0] == first
    assert decode_chunk(one).runs[0].envelope is not envelopes[0]  # not a round: its own copy
    damaged = one.replace(b'"appId":"a"', b'"appId":"b"')  # valid JSON, not what was written
    envelope = decode_chunk(damaged, raw_bodies=True, read=read).runs[0].envelope
    assert envelope["appId"] == "b" and len(read) == 1


_KINDS = st.sampled_from([EVENT, EVENT, EVENT, USER, "user_attribute", "device_attribute", "device_token"])
_PENDING = st.tuples(
    st.sampled_from(["0", "1", "2"]),  # envelope key
    _KINDS,
    st.floats(0, 4e9),
    st.sampled_from([0, 1]),
    st.dictionaries(
        st.sampled_from(["name", "loginMechanism", "deviceAttributes"]),
        st.just("GUEST")
        | st.text()
        | st.integers(0, 9)
        | st.dictionaries(st.text(max_size=3), st.integers(0, 9)),
        max_size=3,
    ),
)


@given(st.lists(_PENDING, max_size=40), st.integers(1, 7))
def test_a_chunk_of_runs_keeps_each_run_in_order_and_forms_as_its_records_would(
    batch: list[tuple[str, str, float, int, dict[str, Any]]], batch_size: int
) -> None:
    """The writer groups a batch into runs (kind, envelope, guest) keeping the order of each;
    the sender forms those runs, bodies as written, into exactly the requests (ids and bytes)
    that forming their records one by one, bodies decoded, gives."""
    envelopes = {key: dict(ENVELOPE, userId=f"user-{key}") for key in "012"}
    pending = [
        (key, envelopes[key], kind, at, guest, orjson.dumps(inputs.plain(body)).decode())
        for key, kind, at, guest, body in batch
    ]
    data = encode_pending(pending) if pending else b""
    if not pending:
        return
    chunk = decode_chunk(data)
    expected = sorted(
        range(len(pending)),
        key=lambda i: [(p[2], p[0], p[4]) for p in pending].index(
            (pending[i][2], pending[i][0], pending[i][4])
        ),
    )
    assert [(r["kind"], r["envelope"], r["logged_at"], r["guest"], r["body"]) for r in chunk.records] == [
        (pending[i][2], pending[i][1], pending[i][3], pending[i][4], orjson.loads(pending[i][5]))
        for i in expected
    ]
    raw = decode_chunk(data, raw_bodies=True)
    aliases = {"user-1": Alias("real-1", "acct-1", None)}
    by_runs = batching.form_runs(raw.runs, aliases, batch_size, seed="round")
    by_records = batching.form_requests(chunk.records, aliases, batch_size, seed="round")
    assert by_runs.bodies == by_records.bodies
    assert [(r["id"], r["count"], r["first"]) for r in by_runs.requests] == [
        (r["id"], r["count"], r["first"]) for r in by_records.requests
    ]
    assert by_runs.superseded == by_records.superseded and by_runs.held == by_records.held
    assert records_of(runs_of(chunk.records)) == chunk.records


@pytest.mark.parametrize(
    "data", [b"{not json", b"[1, 2]", b'{"r": 5}', b'{"n": 1, "requests": [{"path": "nowhere"}]}']
)
def test_what_is_not_an_item_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptItem):
        decode_chunk(data) if b"requests" not in data else decode_outbox(data)


def test_rows_that_are_not_records_are_counted_not_fatal() -> None:
    data = orjson.dumps({"id": "c", "n": 3, "e": {"0": ENVELOPE}, "r": [
        [EVENT, "0", {"name": "ok"}, 1.0, 0], [EVENT, "missing-envelope", {}, 1.0, 0], ["nonsense"],
    ]})  # fmt: skip
    chunk = decode_chunk(data)
    assert [r["body"]["name"] for r in chunk.records] == ["ok"] and chunk.bad_rows == 2


def test_a_request_can_lose_some_entries_under_a_new_id() -> None:
    (request,) = batching.form_requests([_event(str(i)) for i in range(3)], {}, 10).requests
    assert [r["body"]["name"] for r in records_of_request(request)] == ["0", "1", "2"]
    smaller = without_entries(request, {1})
    assert smaller is not None and smaller["count"] == 2 and smaller["id"] != request["id"]
    assert [e["name"] for e in smaller["body"]["events"]] == ["0", "2"]
    assert without_entries(request, {0, 1, 2}) is None


# -- retries ----------------------------------------------------------------------------------------


def test_backoff_grows_with_jitter_and_stops_at_the_cap() -> None:
    rng = random.Random(7)
    for attempt, low, high in ((1, 0.5, 1.0), (3, 2.0, 4.0), (30, 150.0, 300.0), (10_000, 150.0, 300.0)):
        delay = backoff_delay(attempt, 1.0, 300.0, rng)
        assert low <= delay <= high, (attempt, delay)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, 2.0),
        (999_999_999.0, 300.0),
        (float("nan"), None),
        (float("inf"), None),
        (-1.0, None),
        (None, None),
    ],
)
def test_retry_after_is_capped_and_nonsense_ignored(value: float | None, expected: float | None) -> None:
    assert usable_retry_after(value, 300.0) == expected


def test_retry_policy_waits_then_forgets_on_success() -> None:
    clock = FakeClock()
    policy = RetryPolicy(1.0, 10.0, clock=clock, rng=random.Random(1))
    assert policy.wait() == 0.0
    assert policy.failed(retry_after=999.0) == 10.0
    assert policy.wait() == 10.0
    clock.now += 4
    assert policy.wait() == 6.0
    assert 0.5 <= policy.failed() <= 2.0  # second attempt: 2 s with jitter, no Retry-After
    assert policy.pause(600) == 600 and policy.wait() == 600
    policy.succeeded()
    assert policy.wait() == 0.0 and policy.attempt == 0


# -- the ledger -----------------------------------------------------------------------------------------


def test_the_ledger_balances_through_every_transfer() -> None:
    drops: list[tuple[int, str]] = []
    ledger = Ledger(on_dropped=lambda count, reason: drops.append((count, reason)))
    ledger.refused(2, INVALID_INPUT, quiet=True)
    ledger.persisted(10)
    ledger.adopted_from(5, 1)
    ledger.sent(6)
    ledger.rejected(2)
    ledger.hold(3)
    ledger.release(1)
    ledger.discarded(2, "forgotten", held=True)
    ledger.replayed_letters(2)
    ledger.discarded(1, SUPERSEDED)
    stats = ledger.snapshot(in_memory=4)
    assert stats.balanced, stats
    assert (stats.queued, stats.held, stats.logged) == (6, 1, 16)
    assert drops == [(2, INVALID_INPUT), (2, "forgotten"), (1, SUPERSEDED)]
    assert ledger.take_unsaved() == {
        "logged": 12, "delivered": 6, "dead_lettered": 2, "replayed": 2,
        f"dropped:{INVALID_INPUT}": 2, "dropped:forgotten": 2, f"dropped:{SUPERSEDED}": 1,
    }  # fmt: skip
    assert ledger.take_unsaved() == {}


def test_drops_are_logged_once_a_minute_per_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="usageanalytics")
    clock = FakeClock()
    ledger = Ledger(clock=clock)
    ledger.persisted(100)
    for _ in range(5):
        ledger.discarded(1, "disk full")
    ledger.discarded(1, "other")
    clock.now += 61
    ledger.discarded(1, "disk full")
    lines = [r.getMessage() for r in caplog.records]
    assert sum("disk full" in line for line in lines) == 2 and sum("other" in line for line in lines) == 1


# -- input ---------------------------------------------------------------------------------------------


def test_ids_are_strings_with_surrogates_escaped() -> None:
    assert inputs.clean_id("user id", "alice") == ("alice", None)
    escaped, note = inputs.clean_id("user id", "visitor-\udc80")
    assert escaped == "visitor-\\udc80" and note and "surrogates" in note
    for bad in (b"alice", 42, None, "  ", "x" * 2000, ["a"]):
        with pytest.raises(inputs.Refused):
            inputs.clean_id("user id", bad)
    assert inputs.clean_text("v", "ab\ud800" + "y" * 10, 4)[0] == "ab\\ud800y", "trimmed, then escaped"
    text, note = inputs.clean_text("value", "y" * 10, 5)
    assert text == "yyyyy" and note and "trimmed to 5" in note
    assert inputs.plain({"k\ud800": ["v\udc00", 1]}) == {"k\\ud800": ["v\\udc00", 1]}


# -- debounce and sessions, on injected clocks ---------------------------------------------------------


def test_debounce_lets_the_same_key_through_once_per_window() -> None:
    debouncer = Debouncer(1.0)
    assert not debouncer.is_repeat("k", now=10.0)
    assert debouncer.is_repeat("k", now=10.5)
    assert not debouncer.is_repeat("other", now=10.5)
    assert not debouncer.is_repeat("k", now=11.1)
    assert not Debouncer(0).is_repeat("k", now=1.0) and not Debouncer(0).is_repeat("k", now=1.0)


def test_sessions_start_end_and_expire_on_the_monotonic_clock() -> None:
    events: list[tuple[str, str, float]] = []
    tracker = SessionTracker(
        60,
        lambda s, wall: events.append(("start", s.id, wall)),
        lambda s, wall: events.append(("end", s.id, wall)),
    )
    first = tracker.touch("k", None, wall=1000.0, mono=0.0)
    assert tracker.touch("k", None, wall=1030.0, mono=30.0).id == first.id
    assert tracker.expire(mono=80.0) == 0
    assert tracker.expire(mono=91.0) == 1
    assert events == [("start", first.id, 1000.0), ("end", first.id, 1030.0)], "ends at its last activity"
    second = tracker.touch("k", None, wall=2000.0, mono=200.0)
    assert second.id != first.id
    assert tracker.end_all(wall=2005.0) == 1 and events[-1] == ("end", second.id, 2005.0)
    assert isinstance(second, Session)


# -- storage --------------------------------------------------------------------------------------------


def test_a_cut_write_ahead_log_is_noticed(tmp_path: Path) -> None:
    assert wal_problem(tmp_path) is None
    wal = tmp_path / "queue.sqlite-wal"
    header = b"\x37\x7f\x06\x82" + b"\x00" * 4 + (4096).to_bytes(4, "big") + b"\x00" * 20
    wal.write_bytes(header + b"f" * (24 + 4096) * 2)
    assert wal_problem(tmp_path) is None
    wal.write_bytes(header + b"f" * ((24 + 4096) * 2 - 100))
    assert "cut short" in (wal_problem(tmp_path) or "")
    wal.write_bytes(header[:20])
    assert "no whole header" in (wal_problem(tmp_path) or "")


def _store(tmp_path: Path) -> QueueStore:
    lock = FileLock(tmp_path / "store.lock")
    assert lock.try_acquire()
    (tmp_path / "store").mkdir()
    return QueueStore(tmp_path / "store", lock, tmp_path / "quarantine")


def _plan(sources: list[int], **changes: Any) -> RoundPlan:
    plan = RoundPlan(
        id="round-1", at=1000.0, batch_size=2, max_bytes=1_000_000, max_age=100.0, aliases={},
        sources=sources, done=False,
    )  # fmt: skip
    plan.update(changes)  # type: ignore[typeddict-item]
    return plan


def test_put_many_queues_all_of_its_items_or_none(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        ids = store.outbox.put_many([b'{"n":1}', b'{"n":2}', b'{"n":3}'])
        assert [store.outbox.read(i) for i in ids] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
        with pytest.raises(Exception):  # noqa: B017 - sqlite3's own error: an item it cannot bind
            store.outbox.put_many([b'{"n":4}', object()])  # type: ignore[list-item]
        assert len(store.outbox.rows()) == 3  # the first of the two was not queued either
        assert [item.data for item in iter(store.outbox.get, None)] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    finally:
        store.close()


def test_take_many_takes_the_oldest_items_until_they_hold_enough_records(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        chunks = [
            encode_pending([(str(i), ENVELOPE, EVENT, 5.0, 0, '{"name":"E"}')] * size)
            for i, size in enumerate([3, 4, 5, 6])
        ]
        ids = [store.inbox.put(chunk) for chunk in chunks]
        first = store.inbox.take_many(6)  # 3 + 4 records reach 6: two items
        assert [(item.id, item.data) for item in first] == list(zip(ids[:2], chunks[:2], strict=True))
        assert store.inbox.ready_ids() == ids[2:]  # in flight: nobody else takes them
        assert store.inbox.unacked_ids() == set(ids)
        assert [item.id for item in store.inbox.take_many(1)] == [ids[2]]  # at least one item
        assert [item.id for item in store.inbox.take_many(100, limit=1)] == [ids[3]]
        assert store.inbox.take_many(100) == []
        store.inbox.nack(ids[0])  # a round that failed puts its items back
        assert store.inbox.ready_ids() == [ids[0]]
    finally:
        store.close()


def test_an_interrupted_round_is_formed_again_exactly(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        guest = dict(ENVELOPE, userId="guest-1")
        records = [
            Record(kind=EVENT, envelope=guest, body={"name": str(i)}, logged_at=950.0, guest=True)
            for i in range(5)
        ]
        stale = Record(kind=EVENT, envelope=ENVELOPE, body={"name": "old"}, logged_at=800.0, guest=False)
        sources = [
            store.inbox.put(encode_records(records[:3], "a")),
            store.inbox.put(encode_records([*records[3:], stale], "b")),
        ]
        plan = _plan(sources, aliases={"guest-1": ["user-1", "acct-1", None]})
        store.rounds.put(encode_plan(plan))
        _, first = form_round(runs_of([*records, stale]), plan)  # what the dead process posted
        repaired = finish_interrupted_rounds(store)
        assert repaired == Repaired(too_old=1, superseded=0, held=0)
        (outbox,) = [decode_outbox(item.data) for item in store.outbox.rows()]
        assert [r["id"] for r in outbox["requests"]] == [r["id"] for r in first.requests]
        assert [r["body"]["events"] for r in outbox["requests"]] == [
            r["body"]["events"] for r in first.requests
        ]
        assert {r["body"]["userId"] for r in outbox["requests"]} == {"user-1"}, "with the plan's aliases"
        assert store.inbox.rows() == [] and store.rounds.rows() == []
        assert finish_interrupted_rounds(store) == Repaired(), "finishing twice changes nothing"
        assert len(store.outbox.rows()) == 1
    finally:
        store.close()
        store.lock.release()


def test_a_finished_round_only_has_its_chunks_acknowledged(tmp_path: Path) -> None:
    store = _store(tmp_path)
    try:
        done_source = store.inbox.put(encode_records([_event()], "a"))
        listed_source = store.inbox.put(encode_records([_event()], "b"))
        untouched = store.inbox.put(encode_records([_event()], "c"))
        store.rounds.put(encode_plan(_plan([done_source]), done=True))
        request = batching.form_requests([_event()], {}, 10).requests  # an earlier release's item
        store.outbox.put(
            encode_outbox(OutboxItem(requests=request, sources=[listed_source], round=None, held=0))
        )
        assert finish_interrupted_rounds(store) == Repaired()
        assert [item.id for item in store.inbox.rows()] == [untouched]
        assert len(store.outbox.rows()) == 1 and store.rounds.rows() == []
    finally:
        store.close()
        store.lock.release()


@given(st.data())
def test_a_damaged_chunk_is_corrupt_or_read_and_what_is_read_forms(data: st.DataObject) -> None:
    """Any damage to a chunk (bytes flipped, cut, inserted) makes it a CorruptItem, or its
    readable records; and what is read forms as the sender forms a round: if forming fails on a
    field of the wrong type, the valid records alone form without failing."""
    envelopes = [dict(ENVELOPE, userId=f"user-{n}") for n in range(3)]
    batch = [
        (str(n % 3), envelopes[n % 3], EVENT if n % 4 else USER, 100.0 + n, n % 2, f'{{"name":"E{n}"}}')
        for n in range(8)
    ]
    chunk = bytearray(encode_pending(batch))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(chunk) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            chunk[at] = data.draw(st.sampled_from(b'0123456789[]{}",:\n\tx '))
        elif action == "cut":
            del chunk[at : at + data.draw(st.integers(1, 40))]
        else:
            chunk[at:at] = data.draw(st.sampled_from([b"[", b'"', b"\n", b'{"a":[1]}', b"-1", b"null"]))
    for raw in (False, True):
        try:
            runs = decode_chunk(bytes(chunk), raw_bodies=raw).runs
        except CorruptItem:
            continue
        try:
            form_round(runs, _plan([], at=200.0))
        except Exception:
            runs, _ = valid_runs(runs)
            form_round(runs, _plan([], at=200.0))

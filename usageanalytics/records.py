"""Records and requests: their types in memory, and their compact form on disk.

A tracking call serializes its record's body (orjson, about a microsecond) and hands the writer
:data:`Pending`: the body's JSON text (a web page view's values only: :data:`Deferred`) with the
record's kind, time and guest flag and the key and dict of the envelope it refers to, so a
backlog in memory is compact. The writer makes each a
row, one line, ``kind TAB envelope key TAB logged at TAB 1 if guest else 0 TAB body JSON``
(:func:`pending_row`), and a chunk (one queue item) stores each envelope once in a JSON head,
then its rows, one per line::

    {"id": chunk id, "n": count, "v": 2, "c": CRC-32 of the rows, "e": {envelope key: envelope}}
    event<TAB>3<TAB>1764410000.123<TAB>1<TAB>{"name": "Screen View", ...}
    ...

So the sender reads a round of events without building their bodies in memory: it splits the
lines and posts each body's JSON as it was written (:func:`decode_chunk` with ``raw_bodies``),
a fifth of the memory and half the time of decoding them; the CRC says the text is what was
written. Chunks the sender re-encodes (held or released records) are one JSON document::

    {"id": chunk id, "n": count, "e": {envelope key: envelope, ...}, "r": [row, ...]}

with a row ``[kind, envelope key, body, logged at, 1 if guest else 0]``.

Held chunks carry the ``round`` that held them and its ``sources`` (see the sender). Outbox items
hold the requests formed from one round of chunks, posted one by one and kept until settled::

    {"n": records, "requests": [{"n", "first", "attempts", "path", "body", "id"}, ...],
     "sources": [inbox item ids], "round": round id, "held": records held by that round}

Every item starts with its record count (``"n"``), so ``usageanalytics status`` counts records
without decoding items. Everything past this module sees :class:`Record` and :class:`Request`,
decoded once per item. Folders written by earlier releases hold chunks of one-letter record dicts
(``{"k", "e", "b", "t", "g"}``) and one request per outbox item, and chunks of JSON rows
from the writer; all are still read.
"""

from __future__ import annotations

import operator
import uuid
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple, TypeAlias, TypedDict, cast

import orjson

from . import wire

EVENT = "event"
USER = "user"
USER_ATTRIBUTE = "user_attribute"
DEVICE_ATTRIBUTE = "device_attribute"
DEVICE_TOKEN = "device_token"

PATHS = {
    USER: wire.USER_PATH,
    EVENT: wire.EVENT_PATH,
    USER_ATTRIBUTE: wire.USER_ATTRIBUTE_PATH,
    DEVICE_ATTRIBUTE: wire.DEVICE_ATTRIBUTE_PATH,
    DEVICE_TOKEN: wire.DEVICE_TOKEN_PATH,
}
KINDS = {path: kind for kind, path in PATHS.items()}

Deferred: TypeAlias = "tuple[Any, ...]"
"""A body the writer writes out: ``(maker, value, ...)``, ``maker(pending)`` the record's row.
What a page view hands over (:func:`screen_view_row`, :func:`page_load_row`): its JSON is then
written on the writer's thread, in its batches, not in the request."""

Pending: TypeAlias = "tuple[str, dict[str, Any], str, float, int, str | Deferred]"
"""What a tracking call hands the writer: (envelope key, envelope, kind, logged at, 1 if guest
else 0, the body's JSON or a :data:`Deferred` body); the writer makes it a row
(:func:`pending_row`)."""

# Kinds whose bodies the sender never reads (it only posts them): kept as their JSON text there.
_RAW_KINDS = frozenset({EVENT, USER_ATTRIBUTE})
_KIND_OF = {kind.encode(): kind for kind in PATHS}
_BODY_TYPES: tuple[type, ...] = (dict, orjson.Fragment)
_SCREEN_NAME = wire.EventAttribute.SCREEN_NAME.value
_KEY_AND_ENVELOPE = operator.itemgetter(0, 1)


def pending_row(pending: Pending) -> str:
    """A record's row: its kind and envelope key (neither has a tab or a newline: the SDK makes
    both), when it was logged, whether a guest's, and its body's JSON (orjson's: no raw tab or
    newline). Made on the writer's thread: a tracking call only hands the fields over."""
    envelope_key, _, kind, logged_at, guest, body = pending
    if not isinstance(body, str):
        return str(body[0](pending))
    return f"{kind}\t{envelope_key}\t{logged_at!r}\t{guest}\t{body}"


def body_json(pending: Pending) -> str:
    """A pending record's body as JSON, a deferred one written out."""
    body = pending[5]
    return body if isinstance(body, str) else pending_row(pending).split("\t", 4)[4]


# -- a page view's bodies (see Client.log_page_view) ------------------------------------------------


def screen_view_body(logged_at: str, screen: str) -> dict[str, Any]:
    """The "Screen View" event of a page (or a screen) named ``screen``."""
    parameter = {"attributeName": _SCREEN_NAME, "dataType": "String", "stringValue": screen}
    return {"name": wire.SCREEN_VIEW, "loggedAtTime": logged_at, "parameters": [parameter]}


def page_load_body(logged_at: str, url: str, load_time_ms: float, request_count: int) -> dict[str, Any]:
    """The ``page_load_event`` of the page at ``url``."""
    parameters = [
        {"attributeName": "requestCount", "dataType": "Number", "numberValue": request_count},
        {"attributeName": "loadTime", "dataType": "Number", "numberValue": load_time_ms},
        {"attributeName": "pageUrl", "dataType": "String", "stringValue": url},
    ]
    return {"name": wire.PAGE_LOAD, "loggedAtTime": logged_at, "parameters": parameters}


def json_string(text: str) -> str:
    """``text`` as a JSON string, as orjson writes it: quoted as it is when nothing in it needs
    escaping (printable ASCII without a quote or a backslash: a route, a URL path)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return orjson.dumps(text).decode()


def _row_template(body: dict[str, Any], slots: int) -> str:
    """A %-format for the row of a record whose body is ``body``: kind, envelope key, logged
    at (``%r``) and guest flag, then the body's JSON with each value ``"@n@"`` (n < ``slots``)
    a slot for JSON text and ``@T@`` one for the time's text. The same row, byte for byte, as
    :func:`pending_row` makes from orjson's JSON of the body, in a fraction of the time."""
    text = orjson.dumps(body).decode().replace("%", "%%")
    for slot in range(slots):
        text = text.replace(f'"@{slot}@"', "%s")
    return "%s\t%s\t%r\t%s\t" + text.replace("@T@", "%s")


_SCREEN_VIEW_ROW = _row_template(screen_view_body("@T@", "@0@"), 1)
_PAGE_LOAD_ROW = _row_template(page_load_body("@T@", "@0@", "@1@", "@2@"), 3)  # type: ignore[arg-type]


def screen_view_row(pending: Pending) -> str:
    """The row of a page's Screen View handed over as the :data:`Deferred` body
    ``(screen_view_row, screen)``; ``screen`` is ASCII (no lone surrogate to fail on)."""
    key, _, kind, logged_at, guest, deferred = pending
    screen = deferred[1]
    return _SCREEN_VIEW_ROW % (kind, key, logged_at, guest, wire.timestamp(logged_at), json_string(screen))


def page_load_row(pending: Pending) -> str:
    """The row of a page load handed over as ``(page_load_row, url, load_time_ms,
    request_count)``; ``url`` is ASCII."""
    key, _, kind, logged_at, guest, deferred = pending
    url, load_time_ms, request_count = deferred[1], deferred[2], deferred[3]
    load_time = orjson.dumps(load_time_ms).decode()  # orjson's float text, exactly
    timestamp = wire.timestamp(logged_at)
    return _PAGE_LOAD_ROW % (
        kind,
        key,
        logged_at,
        guest,
        timestamp,
        request_count,
        load_time,
        json_string(url),
    )


class Record(TypedDict):
    """One thing to send: an event, a user upsert, a user attribute, device data."""

    kind: str
    envelope: dict[str, Any]  # the spec's envelope fields: appId, userId, sessionId, ...
    # The event, attribute, user or device body, wire-ready. In the sender's rounds an event's or
    # a user attribute's is the JSON text it was written as (an orjson.Fragment): see decode_chunk.
    body: dict[str, Any]
    logged_at: float  # when the call queued it: what max_record_age counts from
    guest: bool | int  # truthy: the user was a guest (their records move to who logs in)


class Request(TypedDict):
    """One POST: records of one envelope, with the idempotency id it keeps across retries."""

    id: str
    path: str
    body: dict[str, Any]
    count: int  # records it carries
    first: float  # the oldest record's logged_at
    attempts: int


class OutboxItem(TypedDict):
    """The requests formed from one round of inbox chunks (see the module docstring)."""

    requests: list[Request]
    sources: list[int]
    round: str | None
    held: int


class RoundPlan(TypedDict):
    """How a round of inbox chunks was formed into requests: enough to form it again, exactly.

    Written before the round's first post; its source chunks stay in the inbox until the round
    is settled. A process that finds a plan whose chunks are still there (its owner died in the
    middle) re-forms the same requests under the same ids, so a server that drops repeated ids
    neither loses nor duplicates what the first attempt may have delivered.
    """

    id: str  # the round's id: request ids derive from it
    at: float  # when it was formed: records older than max_age then were left out
    batch_size: int
    max_bytes: int
    max_age: float
    aliases: dict[str, list[str | None]]  # guest id -> [user id, account, product] used
    sources: list[int]  # the inbox items it was formed from
    done: bool  # settled: its chunks are being acknowledged


def encode_plan(plan: RoundPlan, *, done: bool = False) -> bytes:
    """A plan on disk (``"n": 0``: its records are counted in its chunks). ``done``: the round
    is settled and its chunks are being acknowledged."""
    return orjson.dumps({"n": 0, **plan, "done": done})


def decode_plan(data: bytes) -> RoundPlan:
    """A round plan; raises :class:`CorruptItem` if it is not one."""
    try:
        item = orjson.loads(data)
        plan = RoundPlan(
            id=str(item["id"]),
            at=float(item["at"]),
            batch_size=int(item["batch_size"]),
            max_bytes=int(item["max_bytes"]),
            max_age=float(item["max_age"]),
            aliases={str(k): list(v) for k, v in item["aliases"].items()},
            sources=[int(s) for s in item["sources"]],
            done=bool(item.get("done")),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise CorruptItem("not a round plan") from None
    return plan


class Chunk(NamedTuple):
    """A decoded inbox or held item."""

    id: str
    records: list[Record]
    bad_rows: int  # rows that were not records (counted and dropped by the caller)
    round: str | None = None
    sources: tuple[int, ...] = ()


class CorruptItem(ValueError):
    """A queue item that is not what this SDK writes (damaged on disk, or by hand)."""


def wire_body(kind: str, body: Any, epoch: float) -> Any:
    """An event's body from ``(name, pairs)`` or ``(name, wire parameters)``; others as given."""
    if kind != EVENT:
        return body
    name, parameters = body
    built = {"name": name, "loggedAtTime": wire.timestamp(epoch)}
    if parameters:
        built["parameters"] = (
            parameters if isinstance(parameters, list) else wire.event_parameters(parameters)
        )
    return built


# -- chunks -------------------------------------------------------------------------------------------


def encode_pending(batch: list[Pending]) -> bytes:
    """One queue item's JSON for ``batch``: the rows joined, each envelope once.

    Raises if an envelope cannot be encoded; the writer then encodes record by record.
    """
    # A key names one envelope (see Client._envelope): the dict keeps it once, built in C.
    envelopes: dict[str, dict[str, Any]] = dict(map(_KEY_AND_ENVELOPE, batch))
    rows = "\n".join(map(pending_row, batch)).encode()
    head = b'{"id":"%s","n":%d,"v":2,"c":%d,"e":' % (uuid.uuid4().hex.encode(), len(batch), zlib.crc32(rows))
    return b"".join((head, orjson.dumps(envelopes), b"}\n", rows))


def encode_records(
    records: list[Record], chunk_id: str, *, round_id: str | None = None, sources: Iterable[int] = ()
) -> bytes:
    """A chunk of decoded records (held or released ones), in the compact form."""
    keys: dict[int, str] = {}
    envelopes: dict[str, dict[str, Any]] = {}
    rows = []
    for record in records:
        envelope = record["envelope"]
        key = keys.get(id(envelope))
        if key is None:
            key = keys[id(envelope)] = str(len(keys))
            envelopes[key] = envelope
        rows.append((record["kind"], key, record["body"], record["logged_at"], 1 if record["guest"] else 0))
    item: dict[str, Any] = {"n": len(records), "id": chunk_id, "e": envelopes, "r": rows}
    if round_id is not None:
        item["round"] = round_id
        item["sources"] = list(sources)
    return orjson.dumps(item)


def decode_chunk(data: bytes, *, raw_bodies: bool = False) -> Chunk:
    """An inbox or held item's records; raises :class:`CorruptItem` if it is not a chunk.

    The fast path checks only the row shape; a row whose fields are of the wrong type surfaces
    when the records are formed, and :func:`valid_records` then sorts them out. ``raw_bodies``
    (the sender's rounds): the bodies of events and user attributes in a chunk of rows stay the
    JSON text they were written as (an ``orjson.Fragment``, posted as it is), when the chunk's
    CRC says that text is intact.
    """
    newline = data.find(b"\n")
    if newline > 0:
        return _decode_rows(data, newline, raw_bodies)
    try:
        item = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptItem(f"not JSON: {exc}") from None
    if not isinstance(item, dict) or not isinstance(item.get("r"), list):
        raise CorruptItem("not a chunk of records")
    envelopes = item.get("e")
    rows = item["r"]
    records: list[Record]
    bad = 0
    if isinstance(envelopes, dict):
        try:
            records = [
                {"kind": k, "envelope": envelopes[key], "body": b, "logged_at": t, "guest": g}
                for k, key, b, t, g in rows
            ]
        except (KeyError, TypeError, ValueError):
            records, bad = _rows_one_by_one(rows, envelopes)
    elif envelopes is None:  # an earlier release's held chunk: one-letter record dicts
        records, bad = _legacy_rows(rows)
    else:
        raise CorruptItem("a chunk whose envelopes are not an object")
    round_id = item.get("round")
    sources = item.get("sources") or ()
    return Chunk(
        str(item.get("id", "")),
        records,
        bad,
        round_id if isinstance(round_id, str) else None,
        tuple(s for s in sources if isinstance(s, int)),
    )


def _decode_rows(data: bytes, newline: int, raw_bodies: bool) -> Chunk:
    """A chunk the writer wrote: a JSON head, then a row per line (see the module docstring)."""
    try:
        head = orjson.loads(data[:newline])
    except orjson.JSONDecodeError as exc:
        raise CorruptItem(f"not a chunk's head: {exc}") from None
    if not isinstance(head, dict) or not isinstance(head.get("e"), dict):
        raise CorruptItem("not a chunk of records")
    envelopes = {str(key).encode(): envelope for key, envelope in head["e"].items()}
    rows = data[newline + 1 :]
    raw = raw_bodies and head.get("c") == zlib.crc32(rows)  # intact: bodies need no parsing
    records: list[Record] = []
    append = records.append
    bad = 0
    fragment = orjson.Fragment
    raw_kinds = _RAW_KINDS
    kind_of = _KIND_OF
    loads = orjson.loads
    for line in rows.split(b"\n") if rows else ():
        try:
            kind_bytes, key, logged_at, guest, body = line.split(b"\t", 4)
            kind = kind_of[kind_bytes]
            append(
                {
                    "kind": kind,
                    "envelope": envelopes[key],
                    # A Fragment where nothing reads the body (batching posts it as it is).
                    "body": cast("dict[str, Any]", fragment(body))
                    if raw and kind in raw_kinds
                    else loads(body),
                    "logged_at": float(logged_at),
                    "guest": int(guest),
                }
            )
        except (KeyError, TypeError, ValueError):  # orjson.JSONDecodeError is a ValueError
            bad += 1
    return Chunk(str(head.get("id", "")), records, bad)


def _rows_one_by_one(rows: list[Any], envelopes: dict[str, Any]) -> tuple[list[Record], int]:
    records: list[Record] = []
    bad = 0
    for row in rows:
        try:
            k, key, b, t, g = row
            records.append({"kind": k, "envelope": envelopes[key], "body": b, "logged_at": t, "guest": g})
        except (KeyError, TypeError, ValueError):
            bad += 1
    return records, bad


def _legacy_rows(rows: list[Any]) -> tuple[list[Record], int]:
    records: list[Record] = []
    bad = 0
    for row in rows:
        try:
            records.append(
                {
                    "kind": row["k"],
                    "envelope": row["e"],
                    "body": row["b"],
                    "logged_at": row["t"],
                    "guest": row.get("g"),
                }
            )
        except (KeyError, TypeError, AttributeError):
            bad += 1
    return records, bad


def valid_records(records: list[Record]) -> tuple[list[Record], int]:
    """The records whose fields have the types this SDK writes, and how many did not."""
    good = [record for record in records if _is_record(record)]
    return good, len(records) - len(good)


def _is_record(record: Record) -> bool:
    return (
        record["kind"] in PATHS
        and type(record["body"]) in _BODY_TYPES
        and type(record["envelope"]) is dict
        and type(record["logged_at"]) in (int, float)
    )


# -- outbox items -------------------------------------------------------------------------------------


def encode_outbox(item: OutboxItem, bodies: list[bytes | None] | None = None) -> bytes:
    """An outbox item on disk; ``"n"`` first (``status`` reads it from the first bytes).

    ``bodies``: the requests' bodies already encoded as JSON (or None), to join rather than redo.
    """
    if bodies is None:
        requests = [encode_request(r) for r in item["requests"]]
    else:
        requests = [encode_request(r, body) for r, body in zip(item["requests"], bodies, strict=True)]
    head = b'{"n":%d,"requests":[' % sum(request["count"] for request in item["requests"])
    tail = orjson.dumps({"sources": item["sources"], "round": item["round"], "held": item["held"]})
    return b"".join((head, b",".join(requests), b"],", tail[1:]))


def encode_request(request: Request, body: bytes | None = None) -> bytes:
    """One request in its on-disk form; ``body``: its body's JSON when already encoded."""
    if body is None:
        return orjson.dumps(_request_on_disk(request))
    head = orjson.dumps(
        {
            "n": request["count"],
            "first": request["first"],
            "attempts": request["attempts"],
            "path": request["path"],
        }
    )
    return b"".join((head[:-1], b',"body":', body, b',"id":', orjson.dumps(request["id"]), b"}"))


def _request_on_disk(request: Request) -> dict[str, Any]:
    return {
        "n": request["count"],
        "first": request["first"],
        "attempts": request["attempts"],
        "path": request["path"],
        "body": request["body"],
        "id": request["id"],
    }


def request_on_disk(request: Request) -> dict[str, Any]:
    """A request as dead letters keep it (the outbox's form of one request)."""
    return _request_on_disk(request)


def request_from_disk(data: Any) -> Request:
    """A request from its on-disk form; raises :class:`CorruptItem` if it is not one."""
    try:
        request = Request(
            id=str(data["id"]),
            path=data["path"],
            body=data["body"],
            count=int(data.get("n", 1)),
            first=float(data.get("first", 0.0)),
            attempts=int(data.get("attempts", 0)),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CorruptItem("not a request") from None
    if request["path"] not in KINDS or type(request["body"]) is not dict or request["count"] < 1:
        raise CorruptItem("not a request")
    return request


def decode_outbox(data: bytes) -> OutboxItem:
    """An outbox item (or an earlier release's single request); raises :class:`CorruptItem`."""
    try:
        item = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptItem(f"not JSON: {exc}") from None
    if not isinstance(item, dict):
        raise CorruptItem("not an outbox item")
    sources = item.get("sources") or []
    if not isinstance(sources, list):
        raise CorruptItem("an outbox item whose sources are not a list")
    if "requests" in item:
        requests = item["requests"]
        if not isinstance(requests, list):
            raise CorruptItem("an outbox item whose requests are not a list")
        round_id = item.get("round")
        return OutboxItem(
            requests=[request_from_disk(r) for r in requests],
            sources=[int(s) for s in sources if isinstance(s, int)],
            round=round_id if isinstance(round_id, str) else None,
            held=int(item.get("held") or 0),
        )
    return OutboxItem(
        requests=[request_from_disk(item)],
        sources=[int(s) for s in sources if isinstance(s, int)],
        round=None,
        held=0,
    )


def records_of_request(request: Request) -> list[Record]:
    """The records a request carries, rebuilt from its body (to filter it, say).

    Event and user-attribute requests give one record per list entry; the others (a user upsert,
    merged device data) give one record standing for the whole request.
    """
    kind = KINDS[request["path"]]
    body = request["body"]
    key = _LIST_KEYS.get(kind)
    entries = body.get(key) if key else None
    if key is None or not isinstance(entries, list):
        envelope = {k: v for k, v in body.items() if k in ENVELOPE_NAMES}
        return [Record(kind=kind, envelope=envelope, body=body, logged_at=request["first"], guest=False)]
    envelope = {k: v for k, v in body.items() if k != key}
    return [
        Record(kind=kind, envelope=envelope, body=entry, logged_at=request["first"], guest=False)
        for entry in entries
    ]


def without_entries(request: Request, drop: set[int]) -> Request | None:
    """``request`` minus the list entries at ``drop`` (a new id: new content); None if empty."""
    kind = KINDS[request["path"]]
    key = _LIST_KEYS.get(kind)
    if key is None:
        return None if drop else request
    entries = request["body"][key]
    kept = [entry for index, entry in enumerate(entries) if index not in drop]
    if not kept:
        return None
    return Request(
        id=str(uuid.uuid4()),
        path=request["path"],
        body=dict(request["body"], **{key: kept}),
        count=len(kept),
        first=request["first"],
        attempts=request["attempts"],
    )


_LIST_KEYS = {EVENT: "events", USER_ATTRIBUTE: "userAttributes"}
ENVELOPE_NAMES = frozenset(
    {
        "appId",
        "userId",
        "platform",
        "sessionId",
        "deviceId",
        "customerAccountId",
        "productId",
        "appVersion",
        "userSourceIP",
    }
)

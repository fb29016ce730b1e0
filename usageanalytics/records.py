"""Records and requests: their types in memory, and their compact form on disk.

A tracking call serializes its record's body (orjson, about a microsecond) and hands the writer
:data:`Pending`: the body's JSON text (a web page view's values only: :data:`Deferred`) with the
record's kind, time and guest flag and the key and dict of the envelope it refers to, so a
backlog in memory is compact. The writer groups a batch into *runs*, the records of one kind,
envelope and guest flag in the order they were logged, and a chunk (one queue item) is a JSON
head with each run's kind, envelope (its line), guest flag and times, then each envelope's JSON
once and each body's JSON, a line each, run after run (:func:`encode_pending`)::

    {"id": chunk id, "n": count, "v": 3, "c": CRC-32 of the lines, "ne": envelope lines,
     "s": [[kind, envelope line, 1 if guest else 0, [logged at, ...]], ...]}
    {"appId": ..., "userId": ..., "sessionId": ...}
    {"name": "Screen View", ...}
    ...

So the sender reads a round of events with a step per run in Python, not per record: it splits
the lines, reads each envelope line once a round (a visitor's envelope is in every chunk of
their visit), slices each run's bodies and posts each body's JSON as it was written
(:func:`decode_chunk` with ``raw_bodies``; the CRC says the text is what was written). Its
unit is the :class:`Run`; everything else sees :class:`Record` (``Chunk.records``). Chunks the
sender re-encodes (held or released records) are one JSON document::

    {"id": chunk id, "n": count, "e": {envelope key: envelope, ...}, "r": [row, ...]}

with a row ``[kind, envelope key, body, logged at, 1 if guest else 0]``.

Held chunks carry the ``round`` that held them and its ``sources`` (see the sender). Outbox items
hold the requests formed from one round of chunks, posted one by one and kept until settled::

    {"n": records, "requests": [{"n", "first", "attempts", "path", "body", "id"}, ...],
     "sources": [inbox item ids], "round": round id, "held": records held by that round}

Every item starts with its record count (``"n"``), so ``usageanalytics status`` counts records
without decoding items. Folders written by earlier releases hold chunks of one-letter record
dicts (``{"k", "e", "b", "t", "g"}``), one request per outbox item, and chunks of a line per
record (``kind TAB envelope key TAB logged at TAB guest TAB body``, ``"v": 2``); all are still
read.
"""

from __future__ import annotations

import functools
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
"""A body the writer writes out: ``(maker, value, ...)``, ``maker(pending)`` its JSON. What a
page view hands over (:func:`screen_view_json`, :func:`page_load_json`): its JSON is then
written on the writer's thread, in its batches, not in the request."""

Pending: TypeAlias = "tuple[str, dict[str, Any], str, float, int, str | Deferred]"
"""What a tracking call hands the writer: (envelope key, envelope, kind, logged at, 1 if guest
else 0, the body's JSON or a :data:`Deferred` body); the writer puts it in its run
(:func:`encode_pending`)."""

# Kinds whose bodies the sender never reads (it only posts them): kept as their JSON text there.
_RAW_KINDS = frozenset({EVENT, USER_ATTRIBUTE})
_KIND_OF = {kind.encode(): kind for kind in PATHS}
_BODY_TYPES: tuple[type, ...] = (dict, orjson.Fragment)
_SCREEN_NAME = wire.EventAttribute.SCREEN_NAME.value


def body_json(pending: Pending) -> str:
    """A pending record's body as JSON (orjson's: no raw newline), a deferred one written out
    (on the writer's thread: a tracking call only hands the fields over)."""
    body = pending[5]
    return body if isinstance(body, str) else str(body[0](pending))


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


def _json_template(body: dict[str, Any], slots: int) -> str:
    """A %-format for the JSON of ``body`` with each value ``"@n@"`` (n < ``slots``) a slot for
    JSON text and ``@T@`` one for the time's text: byte for byte what orjson writes for the
    filled-in body, in a fraction of the time."""
    text = orjson.dumps(body).decode().replace("%", "%%")
    for slot in range(slots):
        text = text.replace(f'"@{slot}@"', "%s")
    return text.replace("@T@", "%s")


_SCREEN_VIEW_JSON = _json_template(screen_view_body("@T@", "@0@"), 1)
_PAGE_LOAD_JSON = _json_template(page_load_body("@T@", "@0@", "@1@", "@2@"), 3)  # type: ignore[arg-type]


def screen_view_json(pending: Pending) -> str:
    """The JSON of a page's Screen View handed over as the :data:`Deferred` body
    ``(screen_view_json, screen)``; ``screen`` is ASCII (no lone surrogate to fail on)."""
    return _SCREEN_VIEW_JSON % (wire.timestamp(pending[3]), json_string(pending[5][1]))


def page_load_json(pending: Pending) -> str:
    """The JSON of a page load handed over as ``(page_load_json, url, load_time_ms,
    request_count)``; ``url`` is ASCII."""
    _, url, load_time_ms, request_count = cast("Deferred", pending[5])
    load_time = orjson.dumps(load_time_ms).decode()  # orjson's float text, exactly
    return _PAGE_LOAD_JSON % (wire.timestamp(pending[3]), request_count, load_time, json_string(url))


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


class Run(NamedTuple):
    """Records of one kind, envelope and guest flag, in the order they were logged: what the
    sender reads and forms, so that a round costs a step per run in Python, not per record."""

    kind: str
    envelope: dict[str, Any]
    guest: bool | int
    times: list[float]  # each record's logged_at
    bodies: list[Any]  # each record's body (see Record.body), in the same order


_new_run = functools.partial(tuple.__new__, Run)  # Run(*fields) without its Python-level __new__


class Chunk(NamedTuple):
    """A decoded inbox or held item."""

    id: str
    runs: list[Run]
    bad_rows: int  # rows that were not records (counted and dropped by the caller)
    round: str | None = None
    sources: tuple[int, ...] = ()

    @property
    def records(self) -> list[Record]:
        return records_of(self.runs)


def runs_of(records: Iterable[Record]) -> list[Run]:
    """Records as runs of one record each."""
    return [Run(r["kind"], r["envelope"], r["guest"], [r["logged_at"]], [r["body"]]) for r in records]


def records_of(runs: Iterable[Run]) -> list[Record]:
    """The records of ``runs``, in order."""
    return [
        {"kind": run.kind, "envelope": run.envelope, "body": body, "logged_at": at, "guest": run.guest}
        for run in runs
        for at, body in zip(run.times, run.bodies, strict=True)
    ]


def record_count(runs: Iterable[Run]) -> int:
    return sum(len(run.times) for run in runs)


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


EnvelopeTexts: TypeAlias = "dict[str, tuple[dict[str, Any], bytes]]"
"""The writer's envelopes already written: envelope key -> (the envelope, its JSON)."""


def encode_pending(batch: list[Pending], written: EnvelopeTexts | None = None) -> bytes:
    """One queue item for ``batch``: its runs' heads, then each envelope's JSON once and each
    body's JSON, a line each (see the module docstring). ``written``: the envelopes' JSON
    from earlier chunks (a visitor's envelope is in every chunk of their visit), added to.

    Raises if an envelope or a body cannot be encoded; the writer then encodes record by record.
    """
    if written is None:
        written = {}
    position: dict[str, int] = {}
    envelopes: list[bytes] = []
    runs: dict[tuple[str, str, int], tuple[int, list[float], list[str]]] = {}
    for pending in batch:
        slot = (pending[2], pending[0], pending[4])
        run = runs.get(slot)
        if run is None:
            key = pending[0]
            at = position.get(key)
            if at is None:
                # A key names one envelope in a process (see Client._envelope); checked anyway.
                known = written.get(key)
                if known is None or known[0] is not pending[1]:
                    known = written[key] = (pending[1], orjson.dumps(pending[1]))
                at = position[key] = len(envelopes)
                envelopes.append(known[1])
            run = runs[slot] = (at, [], [])
        run[1].append(pending[3])
        body = pending[5]
        run[2].append(body if isinstance(body, str) else body[0](pending))
    bodies = "\n".join(["\n".join(run[2]) for run in runs.values()]).encode()
    lines = b"\n".join((*envelopes, bodies))
    heads = [(kind, run[0], guest, run[1]) for (kind, _, guest), run in runs.items()]
    chunk_id = uuid.uuid4().hex.encode()
    head = b'{"id":"%s","n":%d,"v":3,"c":%d,"ne":%d,"s":' % (
        chunk_id,
        len(batch),
        zlib.crc32(lines),
        len(envelopes),
    )
    return b"".join((head, orjson.dumps(heads), b"}\n", lines))


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


EnvelopesRead: TypeAlias = "dict[bytes, dict[str, Any]]"
"""The sender's envelopes already read: JSON -> the envelope (shared by the records of a round,
never handed to the app's code)."""


def decode_chunk(data: bytes, *, raw_bodies: bool = False, read: EnvelopesRead | None = None) -> Chunk:
    """An inbox or held item's records; raises :class:`CorruptItem` if it is not a chunk.

    The fast path checks only the row shape; a row whose fields are of the wrong type surfaces
    when the records are formed, and :func:`valid_runs` then sorts them out. ``raw_bodies``
    (the sender's rounds): the bodies of events and user attributes stay the JSON text they
    were written as (an ``orjson.Fragment``, posted as it is), when the chunk's CRC says that
    text is intact; then an envelope already in ``read`` is that same object (added to), so
    forming finds each envelope's request once per round, not once per chunk.
    """
    newline = data.find(b"\n")
    if newline > 0:
        return _decode_lines(data, newline, raw_bodies, read)
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
        runs_of(records),
        bad,
        round_id if isinstance(round_id, str) else None,
        tuple(s for s in sources if isinstance(s, int)),
    )


def _decode_lines(data: bytes, newline: int, raw_bodies: bool, read: EnvelopesRead | None) -> Chunk:
    """A chunk the writer wrote: a JSON head, then a line per envelope and per body (see the
    module docstring)."""
    try:
        head = orjson.loads(data[:newline])
    except orjson.JSONDecodeError as exc:
        raise CorruptItem(f"not a chunk's head: {exc}") from None
    if not isinstance(head, dict):
        raise CorruptItem("not a chunk of records")
    lines = data[newline + 1 :]
    raw = raw_bodies and head.get("c") == zlib.crc32(lines)  # intact: bodies need no parsing
    if "s" not in head and isinstance(head.get("e"), dict):
        return _decode_rows(head, lines, raw)
    heads = head.get("s")
    count = head.get("ne")
    if not isinstance(heads, list) or type(count) is not int or count < 0:
        raise CorruptItem("not a chunk of records")
    split = lines.split(b"\n") if lines else []
    envelopes = [_envelope(text, read if raw else None) for text in split[:count]]
    bodies = split[count:]
    runs: list[Run] = []
    bad = start = 0
    for run_head in heads:
        try:
            kind, at, guest, times = run_head
            end = start + len(times)
        except (TypeError, ValueError):
            raise CorruptItem("a chunk whose runs are not [kind, envelope, guest, times]") from None
        texts = bodies[start:end]  # this run's
        start = end
        envelope = envelopes[at] if type(at) is int and 0 <= at < len(envelopes) else None
        if (
            kind.__class__ is not str
            or kind not in PATHS
            or type(envelope) is not dict
            or type(guest) is not int
            or type(times) is not list
            or len(texts) < len(times)
        ):
            bad += len(times)
            continue
        if raw and kind in _RAW_KINDS:  # posted as written: nothing reads these bodies
            runs.append(_new_run((kind, envelope, guest, times, list(map(orjson.Fragment, texts)))))
            continue
        try:
            runs.append(_new_run((kind, envelope, guest, times, list(map(orjson.loads, texts)))))
        except orjson.JSONDecodeError:
            run = _parsed_one_by_one(kind, envelope, guest, times, texts)
            bad += len(times) - len(run.times)
            runs.append(run)
    return Chunk(str(head.get("id", "")), runs, bad + max(0, len(bodies) - start))


def _envelope(text: bytes, read: EnvelopesRead | None) -> dict[str, Any] | None:
    """An envelope line's envelope (None if it is not one); the one in ``read`` if there."""
    if read is not None:
        known = read.get(text)
        if known is not None:
            return known
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(envelope) is not dict:
        return None
    if read is not None:
        read[text] = envelope
    return envelope


def _parsed_one_by_one(
    kind: str, envelope: dict[str, Any], guest: int, times: list[float], texts: list[bytes]
) -> Run:
    """A run whose bodies are parsed one by one: those that are not JSON are left out."""
    kept_times: list[float] = []
    kept: list[Any] = []
    for at, text in zip(times, texts, strict=True):
        try:
            kept.append(orjson.loads(text))
        except orjson.JSONDecodeError:
            continue
        kept_times.append(at)
    return Run(kind, envelope, guest, kept_times, kept)


def _decode_rows(head: dict[str, Any], rows: bytes, raw: bool) -> Chunk:
    """An earlier release's chunk of a row per record (``"v": 2``)."""
    envelopes = {str(key).encode(): envelope for key, envelope in head["e"].items()}
    runs: list[Run] = []
    bad = 0
    for line in rows.split(b"\n") if rows else ():
        try:
            kind_bytes, key, logged_at, guest, body = line.split(b"\t", 4)
            kind = _KIND_OF[kind_bytes]
            value = orjson.Fragment(body) if raw and kind in _RAW_KINDS else orjson.loads(body)
            runs.append(Run(kind, envelopes[key], int(guest), [float(logged_at)], [value]))
        except (KeyError, TypeError, ValueError):  # orjson.JSONDecodeError is a ValueError
            bad += 1
    return Chunk(str(head.get("id", "")), runs, bad)


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


def valid_runs(runs: list[Run]) -> tuple[list[Run], int]:
    """The records whose fields have the types this SDK writes, and how many did not."""
    records = []
    bad = 0
    for run in runs:
        try:
            records.extend(records_of([run]))
        except (TypeError, ValueError):  # its times and bodies do not pair up
            bad += len(run.times) if isinstance(run.times, list) else 1
    good = [record for record in records if _is_record(record)]
    return runs_of(good), bad + len(records) - len(good)


_ENVELOPE_VALUE_TYPES = (str, int, float, bool, type(None))  # what a request's body may take from it


def _is_record(record: Record) -> bool:
    envelope = record["envelope"]
    return (
        record["kind"] in PATHS
        and type(record["body"]) in _BODY_TYPES
        and type(envelope) is dict
        and all(type(value) in _ENVELOPE_VALUE_TYPES for value in envelope.values())
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

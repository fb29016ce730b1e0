"""Records in memory and on disk.

A tracking call serializes its record to one JSON row (orjson, about a microsecond) and hands the
writer :data:`Pending`: the row (as text) with the key and dict of the envelope it refers to. The writer
only joins rows, so it keeps pace with a busy caller, and a backlog in memory is compact text.

A row is ``[kind, envelope key, body, epoch seconds, 1 if the user is a guest else 0]``. A chunk,
one queue item, stores each envelope once::

    {"id": chunk id, "n": count, "e": {envelope key: envelope, ...}, "r": [row, ...]}

The sender reads chunks back as record dicts (see :mod:`usageanalytics.batching`)::

    {"k": kind, "e": envelope, "b": body, "t": epoch seconds, "g": 1 if the user is a guest}
"""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

import orjson

from . import wire
from .batching import EVENT

Pending: TypeAlias = "tuple[str, dict[str, Any], str]"


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


def encode_chunk(batch: list[Pending]) -> bytes:
    """One queue item's JSON for ``batch``: the rows joined, each envelope once."""
    envelopes: dict[str, dict[str, Any]] = {}
    for key, envelope, _ in batch:
        if key not in envelopes:
            envelopes[key] = envelope
    head = b'{"id":"%s","n":%d,"e":' % (uuid.uuid4().hex.encode(), len(batch))
    rows = ",".join(row for _, _, row in batch).encode()
    return b"".join((head, orjson.dumps(envelopes), b',"r":[', rows, b"]}"))


def chunk_records(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a chunk as dicts (chunks the sender re-queues already hold dicts)."""
    envelopes = chunk.get("e")
    if envelopes is None:
        return list(chunk["r"])
    return [{"k": k, "e": envelopes[key], "b": b, "t": t, "g": g} for k, key, b, t, g in chunk["r"]]


def chunk_of(records: list[dict[str, Any]], chunk_id: str) -> dict[str, Any]:
    """A chunk of record dicts, for records the sender puts back (held, released)."""
    return {"id": chunk_id, "n": len(records), "r": records}

"""Records to requests: re-attribute guests who logged in, hold what cannot be sent yet, and group
the rest by envelope into the spec's request bodies, bounded in records and in bytes.

Pure functions of their arguments (the sender decides when, and keeps what they return), so
they are tested alone.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from .records import (
    DEVICE_ATTRIBUTE,
    DEVICE_TOKEN,
    EVENT,
    KINDS,
    PATHS,
    USER,
    USER_ATTRIBUTE,
    Record,
    Request,
    Run,
    records_of,
    runs_of,
)
from .state import Alias

MAX_REQUEST_BYTES = 1_000_000  # default cap on a request body; the collector accepts 8 MB
_ID_OVERHEAD = 64  # the ',"idempotencyId":"<uuid>"' the transport adds

_COMMON = ("appId", "userId", "platform", "sessionId", "deviceId")
# Envelope fields each endpoint's table lists (plus the samples' appVersion and userSourceIP).
ENVELOPE_FIELDS: dict[str, tuple[str, ...]] = {
    USER: (*_COMMON, "customerAccountId"),
    EVENT: (*_COMMON, "customerAccountId", "productId", "appVersion", "userSourceIP"),
    USER_ATTRIBUTE: (*_COMMON, "customerAccountId"),
    DEVICE_ATTRIBUTE: _COMMON,
    DEVICE_TOKEN: _COMMON,
}
# Kinds whose endpoint requires a customer account: without one the record is held.
NEEDS_ACCOUNT = frozenset({EVENT, USER})
# Sent first, so the server knows the user before their events arrive.
ORDER = {USER: 0, DEVICE_ATTRIBUTE: 1, DEVICE_TOKEN: 2, USER_ATTRIBUTE: 3, EVENT: 4}
_LIST_KEYS = {EVENT: "events", USER_ATTRIBUTE: "userAttributes"}

_NAMESPACE = uuid.UUID("6f1c7c5e-2a55-4d0e-9c7b-5a8f3f0e6a11")


@dataclass
class Formed:
    """The outcome of forming requests from a list of records."""

    requests: list[Request] = field(default_factory=list)
    # Each request's body as JSON, encoded once: its size, what is posted, its outbox form.
    bodies: list[bytes] = field(default_factory=list)
    held: list[Record] = field(default_factory=list)
    superseded: int = 0  # a guest's own user upsert, made obsolete by their login


def reattribute(record: Record, aliases: Mapping[str, Alias]) -> Record | None:
    """The record as its logged-in user's, if its guest has logged in since; None if obsolete.

    A guest's own "create user" request is obsolete once they logged in: the login's request,
    which names the guest in ``lastLoggedInUserId``, replaces it.
    """
    if not record["guest"]:
        return record
    alias = aliases.get(record["envelope"].get("userId", ""))
    if alias is None:
        return record
    if record["kind"] == USER and _is_guests_own(record["body"]):
        return None
    return Record(
        kind=record["kind"],
        envelope=_aliased(record["envelope"], alias),
        body=record["body"],
        logged_at=record["logged_at"],
        guest=False,
    )


def reattribute_run(run: Run, aliases: Mapping[str, Alias]) -> tuple[Run | None, int]:
    """:func:`reattribute` for a run: the run as its user's (None if nothing is left of it),
    and how many of its records are obsolete."""
    if not run.guest:
        return run, 0
    alias = aliases.get(run.envelope.get("userId", ""))
    if alias is None:
        return run, 0
    times, bodies = run.times, run.bodies
    if run.kind == USER:
        kept = [index for index, body in enumerate(bodies) if not _is_guests_own(body)]
        if len(kept) < len(bodies):
            times, bodies = [times[i] for i in kept], [bodies[i] for i in kept]
    obsolete = len(run.bodies) - len(bodies)
    if not bodies:
        return None, obsolete
    return Run(run.kind, _aliased(run.envelope, alias), False, times, bodies), obsolete


def _is_guests_own(user_body: dict[str, Any]) -> bool:
    return user_body.get("loginMechanism") == "GUEST"


def _aliased(envelope: dict[str, Any], alias: Alias) -> dict[str, Any]:
    aliased = dict(envelope, userId=alias.user_id)
    if alias.customer_account_id:
        aliased["customerAccountId"] = alias.customer_account_id
    if alias.product_id:
        aliased["productId"] = alias.product_id
    return aliased


def fresh_runs(runs: Iterable[Run], cutoff: float) -> list[Run]:
    """The records of ``runs`` logged at ``cutoff`` or later (a run is looked into only when
    its oldest record is older)."""
    fresh = []
    for run in runs:
        if not run.times:
            continue
        if min(run.times) >= cutoff:
            fresh.append(run)
            continue
        kept = [index for index, at in enumerate(run.times) if at >= cutoff]
        if kept:
            times = [run.times[i] for i in kept]
            fresh.append(Run(run.kind, run.envelope, run.guest, times, [run.bodies[i] for i in kept]))
    return fresh


def is_sendable(record: Record) -> bool:
    return record["kind"] not in NEEDS_ACCOUNT or bool(record["envelope"].get("customerAccountId"))


def form_requests(
    records: Iterable[Record],
    aliases: Mapping[str, Alias],
    batch_size: int,
    max_bytes: int = MAX_REQUEST_BYTES,
    seed: str | None = None,
) -> Formed:
    """:func:`form_runs` for records."""
    return form_runs(runs_of(records), aliases, batch_size, max_bytes, seed)


def form_runs(
    runs: Iterable[Run],
    aliases: Mapping[str, Alias],
    batch_size: int,
    max_bytes: int = MAX_REQUEST_BYTES,
    seed: str | None = None,
) -> Formed:
    """Group the records of ``runs`` into requests of at most ``batch_size`` records and
    ``max_bytes`` bytes.

    A record too large for a request on its own still gets one (the sender dead-letters it
    without posting). Forming is deterministic: the same records, aliases and bounds give the
    same requests, and with a ``seed`` (a round's id) the same idempotency ids. That is what
    lets the next process re-form an interrupted round exactly, so an id always names the same
    records. Without a seed, ids are random. How the records are cut into runs makes no
    difference: runs of one record each give the same requests.
    """
    formed = Formed()
    held = formed.held
    groups: dict[tuple[Any, ...], list[Run]] = {}
    # Runs of one chunk share envelope objects: find each envelope's group (None: held) once.
    by_envelope: dict[tuple[str, int], list[Run] | None] = {}
    for original in runs:
        run: Run | None = original
        if aliases and original.guest:
            run, obsolete = reattribute_run(original, aliases)
            formed.superseded += obsolete
        if run is None:
            continue
        kind = run.kind
        envelope = run.envelope
        slot = (kind, id(envelope))
        if slot in by_envelope:
            group = by_envelope[slot]
        else:
            if kind in NEEDS_ACCOUNT and not envelope.get("customerAccountId"):
                group = None  # not sendable yet (see is_sendable)
            else:
                key = (kind, *map(envelope.get, ENVELOPE_FIELDS[kind]))
                group = groups.get(key)
                if group is None:
                    group = groups[key] = []
            by_envelope[slot] = group
        if group is None:
            held.extend(records_of([run]))
        else:
            group.append(run)

    for key in sorted(groups, key=lambda k: ORDER[k[0]]):
        kind = key[0]
        members = groups[key]
        # Every member's envelope has the same values for the fields the body takes (the key).
        envelope = members[-1].envelope
        for times, bodies in _split(kind, members, batch_size):
            index = len(formed.requests)
            request_id = str(uuid.uuid5(_NAMESPACE, f"{seed}:{index}")) if seed else str(uuid.uuid4())
            request = _request(kind, envelope, times, bodies, request_id)
            for part, body in _bounded(request, max_bytes):
                formed.requests.append(part)
                formed.bodies.append(body)
    return formed


def _split(kind: str, members: list[Run], batch_size: int) -> list[tuple[list[float], list[Any]]]:
    """The records of a group's runs, as (times, bodies) of each request."""
    if len(members) == 1:
        times, bodies = members[0].times, members[0].bodies
    else:
        times = list(itertools.chain.from_iterable(run.times for run in members))
        bodies = list(itertools.chain.from_iterable(run.bodies for run in members))
    if kind == USER:
        return [([at], [body]) for at, body in zip(times, bodies, strict=True)]
    if kind in (DEVICE_ATTRIBUTE, DEVICE_TOKEN):
        return [(times, bodies)]  # merged into one request: later values win
    return [
        (times[i : i + batch_size], bodies[i : i + batch_size]) for i in range(0, len(bodies), batch_size)
    ]


def _request(
    kind: str, envelope: dict[str, Any], times: list[float], bodies: list[Any], request_id: str
) -> Request:
    body: dict[str, Any] = {
        name: envelope[name] for name in ENVELOPE_FIELDS[kind] if envelope.get(name) is not None
    }
    if kind == EVENT:
        body["events"] = list(bodies)
    elif kind == USER_ATTRIBUTE:
        body["userAttributes"] = list(bodies)
    elif kind == DEVICE_ATTRIBUTE:
        merged: dict[str, Any] = {}
        for member in bodies:
            attributes = member.get("deviceAttributes")
            if isinstance(attributes, dict):
                merged.update(attributes)
        body["deviceAttributes"] = merged
    else:  # USER, DEVICE_TOKEN: one record's body
        body.update(bodies[-1])
    return Request(
        id=request_id, path=PATHS[kind], body=body, count=len(bodies), first=min(times), attempts=0
    )


def body_size(request: Request, body: bytes | None = None) -> int:
    """Bytes of the request's body as posted (its idempotency id included); ``body``: the
    body's JSON when already encoded."""
    return len(orjson.dumps(request["body"]) if body is None else body) + _ID_OVERHEAD


def _bounded(request: Request, max_bytes: int) -> list[tuple[Request, bytes]]:
    """``request`` (with its body's JSON) split in halves until each part's body as posted fits
    ``max_bytes`` (or is one record)."""
    body = orjson.dumps(request["body"])
    if request["count"] == 1 or len(body) + _ID_OVERHEAD <= max_bytes:
        return [(request, body)]
    halves = split_request(request)
    if halves is None:
        return [(request, body)]
    return [part for half in halves for part in _bounded(half, max_bytes)]


def split_request(request: Request) -> tuple[Request, Request] | None:
    """Two requests with the halves of ``request``'s records; None if it cannot be split.

    Their ids derive from the parent's, so splitting the same request again (a retry after a
    413, in this process or the next) gives the same ids and the server can drop repeats.
    """
    kind = KINDS[request["path"]]
    key = _LIST_KEYS.get(kind)
    if key is None or request["count"] < 2:
        return None
    entries = request["body"][key]
    middle = len(entries) // 2
    parts = []
    for suffix, chunk in (("a", entries[:middle]), ("b", entries[middle:])):
        parts.append(
            Request(
                id=str(uuid.uuid5(_NAMESPACE, f"{request['id']}/{suffix}")),
                path=request["path"],
                body=dict(request["body"], **{key: chunk}),
                count=len(chunk),
                first=request["first"],
                attempts=request["attempts"],
            )
        )
    return parts[0], parts[1]


def with_idempotency(request: Request) -> dict[str, Any]:
    """The body to post: the request's body with its idempotency id (kept across retries)."""
    return dict(request["body"], idempotencyId=request["id"])


def wire_body(request: Request, body: bytes | None = None) -> bytes:
    """:func:`with_idempotency` as the JSON posted, from the body's JSON when already encoded:
    the id goes in last, as the dict would put it."""
    if body is None:
        body = orjson.dumps(request["body"])
    tail = b'"idempotencyId":' + orjson.dumps(request["id"]) + b"}"
    return body[:-1] + (b"," + tail if len(body) > 2 else tail)

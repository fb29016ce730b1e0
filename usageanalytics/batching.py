"""Records to requests: re-attribute guests who logged in, hold what cannot be sent yet, group the
rest by envelope into the spec's request bodies.

A record is the JSON-ready dict a tracking call queues::

    {"k": kind, "e": envelope, "b": body, "t": epoch seconds, "g": 1 if the user is a guest}

A request is what the sender posts, with the idempotency id it keeps across retries::

    {"path": ..., "body": {...}, "id": idempotency id, "n": records, "first": oldest epoch}
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import wire
from .state import Alias

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

_NAMESPACE = uuid.UUID("6f1c7c5e-2a55-4d0e-9c7b-5a8f3f0e6a11")


@dataclass
class Formed:
    """The outcome of forming requests from a list of records."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    superseded: int = 0


def reattribute(record: dict[str, Any], aliases: Mapping[str, Alias]) -> dict[str, Any] | None:
    """The record as its logged-in user's, if its guest has logged in since; None if obsolete.

    A guest's own "create user" request is obsolete once they logged in: the login's request,
    which names the guest in ``lastLoggedInUserId``, replaces it.
    """
    if not record.get("g"):
        return record
    envelope = record["e"]
    alias = aliases.get(envelope.get("userId", ""))
    if alias is None:
        return record
    if record["k"] == USER and record["b"].get("loginMechanism") == "GUEST":
        return None
    envelope = dict(envelope, userId=alias.user_id)
    if alias.customer_account_id:
        envelope["customerAccountId"] = alias.customer_account_id
    if alias.product_id:
        envelope["productId"] = alias.product_id
    return {"k": record["k"], "e": envelope, "b": record["b"], "t": record["t"]}


def is_sendable(record: Mapping[str, Any]) -> bool:
    return record["k"] not in NEEDS_ACCOUNT or bool(record["e"].get("customerAccountId"))


def form_requests(
    records: Iterable[dict[str, Any]],
    aliases: Mapping[str, Alias],
    batch_size: int,
    seed: str | None = None,
) -> Formed:
    """Group ``records`` into requests of at most ``batch_size`` items each.

    With a ``seed`` (the ids of the chunks the records came from), idempotency ids are derived
    from it, so forming the same chunks again after a crash gives the same ids and the server
    can drop what it already has.
    """
    formed = Formed()
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    # Records of one chunk share envelope objects: compute each group key once per envelope.
    keys: dict[tuple[str, int], tuple[Any, ...]] = {}
    for original in records:
        record = reattribute(original, aliases) if aliases and original.get("g") else original
        if record is None:
            formed.superseded += 1
            continue
        if not is_sendable(record):
            formed.held.append(record)
            continue
        kind = record["k"]
        envelope = record["e"]
        key = keys.get((kind, id(envelope)))
        if key is None:
            key = keys[(kind, id(envelope))] = (kind, *(envelope.get(name) for name in ENVELOPE_FIELDS[kind]))
        group = groups.get(key)
        if group is None:
            groups[key] = [record]
        else:
            group.append(record)

    for key in sorted(groups, key=lambda k: ORDER[k[0]]):
        kind = key[0]
        members = groups[key]
        for chunk in _split(kind, members, batch_size):
            formed.requests.append(_request(kind, chunk))
    for index, request in enumerate(formed.requests):
        request["id"] = str(uuid.uuid5(_NAMESPACE, f"{seed}:{index}")) if seed else str(uuid.uuid4())
    return formed


def _split(kind: str, members: list[dict[str, Any]], batch_size: int) -> list[list[dict[str, Any]]]:
    if kind == USER:
        return [[member] for member in members]
    if kind in (DEVICE_ATTRIBUTE, DEVICE_TOKEN):
        return [members]  # merged into one request: later values win
    return [members[i : i + batch_size] for i in range(0, len(members), batch_size)]


def _request(kind: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    envelope = members[-1]["e"]
    body: dict[str, Any] = {
        name: envelope[name] for name in ENVELOPE_FIELDS[kind] if envelope.get(name) is not None
    }
    if kind == EVENT:
        body["events"] = [member["b"] for member in members]
    elif kind == USER_ATTRIBUTE:
        body["userAttributes"] = [member["b"] for member in members]
    elif kind == DEVICE_ATTRIBUTE:
        merged: dict[str, str] = {}
        for member in members:
            merged.update(member["b"]["deviceAttributes"])
        body["deviceAttributes"] = merged
    else:  # USER, DEVICE_TOKEN: one record's body
        body.update(members[-1]["b"])
    return {  # "n" first: `usageanalytics status` reads counts from the first bytes of items
        "n": len(members),
        "first": min(member["t"] for member in members),
        "attempts": 0,
        "path": PATHS[kind],
        "body": body,
    }


def with_idempotency(request: Mapping[str, Any]) -> dict[str, Any]:
    """The body to post: the request's body with its idempotency id (kept across retries)."""
    return dict(request["body"], idempotencyId=request["id"])

"""Storing the six ``usageanalytics/*`` tracking requests, and the guest-to-user transfer.

Called inside the request's transaction, after validation: nothing here raises on input.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from . import rollups
from .store import dumps, utc_timestamp

SESSION_START = "app_session_start"
SESSION_END = "app_session_end"
IDEMPOTENT_PATHS = frozenset(
    {
        "usageanalytics/user",
        "usageanalytics/event",
        "usageanalytics/user/attribute",
        "usageanalytics/device/attribute",
        "usageanalytics/device/token",
    }
)


def idempotency_key(path: str, body: Mapping[str, Any]) -> str | None:
    """The key that makes a retried request a no-op.

    The request's ``idempotencyId`` when it has one; otherwise (the spec's own samples omit it) a
    digest of the body, so an identical retry is still recognised. Customer upserts are naturally
    idempotent and get no key.
    """
    if path not in IDEMPOTENT_PATHS:
        return None
    given = body.get("idempotencyId")
    if isinstance(given, str) and given:
        return f"{body['appId']}:{path}:{given}"
    digest = hashlib.sha256(dumps(body).encode()).hexdigest()
    return f"{body['appId']}:{path}:sha256:{digest}"


def parameter_value(parameter: Mapping[str, Any]) -> Any:
    """The value of a typed event parameter or user attribute (a Date stays an ISO string)."""
    data_type = parameter.get("dataType")
    if data_type == "Number":
        return parameter.get("numberValue")
    if data_type == "Boolean":
        return parameter.get("booleanValue")
    return parameter.get("stringValue")


def _parameters(event: Mapping[str, Any]) -> dict[str, Any]:
    return {p["attributeName"]: parameter_value(p) for p in event.get("parameters") or []}


class Tracking:
    """Applies one validated tracking request to the database inside its transaction."""

    def __init__(self, db: sqlite3.Connection, request_id: int, now: str) -> None:
        self.db = db
        self.request_id = request_id
        self.now = now

    def apply(self, path: str, body: Mapping[str, Any]) -> None:
        handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            "usageanalytics/customer": self.customer,
            "usageanalytics/user": self.user,
            "usageanalytics/event": self.events,
            "usageanalytics/user/attribute": self.user_attributes,
            "usageanalytics/device/attribute": self.device_attributes,
            "usageanalytics/device/token": self.device_token,
        }
        handlers[path](body)

    # -- identity -----------------------------------------------------------------------------

    def resolve(self, app_id: str, user_id: str) -> str:
        """The user a guest id stands for once that guest logged in; the id itself otherwise."""
        row = self.db.execute(
            "SELECT user_id FROM user_aliases WHERE app_id = ? AND guest_id = ?", (app_id, user_id)
        ).fetchone()
        return str(row[0]) if row else user_id

    def account_of(self, app_id: str, user_id: str) -> str | None:
        row = self.db.execute(
            "SELECT customer_account_id FROM users WHERE app_id = ? AND user_id = ?", (app_id, user_id)
        ).fetchone()
        return row[0] if row else None

    def touch_user(
        self, body: Mapping[str, Any], user_id: str, account: str | None, last_event_at: str | None = None
    ) -> None:
        """Make sure a user row exists for anyone the collector hears about, and mark them seen."""
        self.db.execute(
            "INSERT INTO users (app_id, user_id, customer_account_id, platform, device_id, first_seen, "
            "last_seen, last_event_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, user_id) DO "
            "UPDATE SET last_seen = max(last_seen, excluded.last_seen), "
            "customer_account_id = coalesce(users.customer_account_id, excluded.customer_account_id), "
            "platform = excluded.platform, device_id = coalesce(excluded.device_id, users.device_id), "
            "last_event_at = coalesce(max(users.last_event_at, excluded.last_event_at), "
            "users.last_event_at, excluded.last_event_at)",
            (
                body["appId"],
                user_id,
                account,
                body["platform"],
                body.get("deviceId"),
                self.now,
                self.now,
                last_event_at,
            ),
        )

    def user(self, body: Mapping[str, Any]) -> None:
        app_id, sent_id = body["appId"], body["userId"]
        user_id = self.resolve(app_id, sent_id)
        merged_into = user_id if user_id != sent_id else None
        self.db.execute(
            "INSERT INTO users (app_id, user_id, customer_account_id, status, login_mechanism, platform, "
            "bundle_id, device_id, session_id, last_logged_in_user_id, merged_into, first_seen, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, user_id) DO UPDATE SET "
            "customer_account_id = excluded.customer_account_id, status = excluded.status, "
            "login_mechanism = excluded.login_mechanism, platform = excluded.platform, "
            "bundle_id = coalesce(excluded.bundle_id, users.bundle_id), "
            "device_id = coalesce(excluded.device_id, users.device_id), "
            "session_id = coalesce(excluded.session_id, users.session_id), "
            "last_logged_in_user_id = "
            "coalesce(excluded.last_logged_in_user_id, users.last_logged_in_user_id), "
            "merged_into = coalesce(users.merged_into, excluded.merged_into), "
            "last_seen = max(users.last_seen, excluded.last_seen)",
            (
                app_id,
                sent_id,
                body["customerAccountId"],
                body["status"],
                body["loginMechanism"],
                body["platform"],
                body.get("bundleId"),
                body.get("deviceId"),
                body.get("sessionId"),
                body.get("lastLoggedInUserId"),
                merged_into,
                self.now,
                self.now,
            ),
        )
        guest = body.get("lastLoggedInUserId")
        if body["loginMechanism"] == "AUTH" and guest and guest != sent_id:
            self.transfer(app_id, guest, sent_id, body["customerAccountId"])

    def transfer(self, app_id: str, guest: str, user: str, account: str) -> None:
        """The guest logged in as ``user``: what the guest did becomes the user's.

        Records that arrive later under the guest's id are attributed through ``user_aliases``.
        """
        db = self.db
        db.execute(
            "INSERT INTO user_aliases (app_id, guest_id, user_id, transferred_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (app_id, guest_id) DO UPDATE SET user_id = excluded.user_id, "
            "transferred_at = excluded.transferred_at",
            (app_id, guest, user, self.now),
        )
        db.execute(
            "UPDATE user_aliases SET user_id = ? WHERE app_id = ? AND user_id = ?", (user, app_id, guest)
        )
        rollups.move_user(db, app_id, guest, user, account)
        for table in ("events", "sessions"):
            db.execute(
                f"UPDATE {table} SET user_id = ?, customer_account_id = ? WHERE app_id = ? AND user_id = ?",
                (user, account, app_id, guest),
            )
        db.execute("UPDATE devices SET user_id = ? WHERE app_id = ? AND user_id = ?", (user, app_id, guest))
        db.execute(
            "INSERT INTO user_attributes (app_id, user_id, name, data_type, value, logged_at) "
            "SELECT app_id, ?, name, data_type, value, logged_at FROM user_attributes "
            "WHERE app_id = ? AND user_id = ? AND true "
            "ON CONFLICT (app_id, user_id, name) DO UPDATE SET data_type = excluded.data_type, "
            "value = excluded.value, logged_at = excluded.logged_at "
            "WHERE excluded.logged_at > user_attributes.logged_at",
            (user, app_id, guest),
        )
        db.execute("DELETE FROM user_attributes WHERE app_id = ? AND user_id = ?", (app_id, guest))
        db.execute(
            "INSERT INTO users (app_id, user_id, login_mechanism, merged_into, first_seen, last_seen) "
            "VALUES (?, ?, 'GUEST', ?, ?, ?) ON CONFLICT (app_id, user_id) DO UPDATE SET "
            "merged_into = excluded.merged_into",
            (app_id, guest, user, self.now, self.now),
        )
        db.execute(
            "UPDATE users SET first_seen = min(first_seen, (SELECT first_seen FROM users "
            "WHERE app_id = ? AND user_id = ?)), last_event_at = (SELECT max(logged_at) FROM events "
            "WHERE app_id = ? AND user_id = ?) WHERE app_id = ? AND user_id = ?",
            (app_id, guest, app_id, user, app_id, user),
        )

    # -- records ------------------------------------------------------------------------------

    def customer(self, body: Mapping[str, Any]) -> None:
        product_ids = body.get("productIds")
        self.db.execute(
            "INSERT INTO customers (app_id, account_id, name, status, product_ids, logo_base64, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, account_id) DO UPDATE SET "
            "name = excluded.name, status = excluded.status, "
            "product_ids = coalesce(excluded.product_ids, customers.product_ids), "
            "logo_base64 = coalesce(excluded.logo_base64, customers.logo_base64), "
            "updated_at = excluded.updated_at",
            (
                body["appId"],
                body["accountId"],
                body["name"],
                body["status"],
                None if product_ids is None else dumps(product_ids),
                body.get("base64EncodedLogoImage"),
                self.now,
                self.now,
            ),
        )

    def events(self, body: Mapping[str, Any]) -> None:
        app_id, sent_id = body["appId"], body["userId"]
        user_id = self.resolve(app_id, sent_id)
        account = body["customerAccountId"]
        if user_id != sent_id:
            account = self.account_of(app_id, user_id) or account
        batch = rollups.Batch(app_id)
        sessions = self.sessions(app_id, user_id, account, body.get("deviceId"))
        rows = []
        latest = ""
        common = (
            self.request_id,
            app_id,
            user_id,
            sent_id,
            account,
            body.get("productId"),
        )
        device = (body.get("deviceId"), body["platform"], _text(body.get("appVersion")))
        source_ip = _text(body.get("userSourceIP"))
        for event in body["events"]:
            logged_at = utc_timestamp(event["loggedAtTime"])
            latest = max(latest, logged_at)
            parameters = event.get("parameters") or []
            session_id = body.get("sessionId")
            name = event["name"]
            values = _parameters(event)
            if name in (SESSION_START, SESSION_END):
                session_id = values.get("sessionId") or session_id
            screen, module = _string(values.get("Screen Name")), _string(values.get("Module"))
            page_url = load_ms = None
            if name == rollups.PAGE_LOAD:
                page_url, load_ms = _string(values.get("pageUrl")), _number(values.get("loadTime"))
            batch.add(user_id, account, logged_at, name, screen, module, page_url, load_ms)
            rows.append(
                (
                    *common,
                    session_id,
                    *device,
                    source_ip,
                    name,
                    logged_at,
                    json.dumps(parameters, ensure_ascii=False),
                    self.now,
                    screen,
                    module,
                    page_url,
                    load_ms,
                )
            )
            if session_id:
                sessions.add(session_id, logged_at, name, values)
        self.db.executemany(
            "INSERT INTO events (request_id, app_id, user_id, original_user_id, customer_account_id, "
            "product_id, session_id, device_id, platform, app_version, user_source_ip, name, logged_at, "
            "parameters, received_at, screen_name, module, page_url, load_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        batch.write(self.db)
        sessions.write()
        self.touch_user(body, user_id, account, latest or None)

    def sessions(self, app_id: str, user_id: str, account: str | None, device_id: str | None) -> SessionBatch:
        return SessionBatch(self.db, app_id, user_id, account, device_id)

    def user_attributes(self, body: Mapping[str, Any]) -> None:
        app_id = body["appId"]
        user_id = self.resolve(app_id, body["userId"])
        self.touch_user(body, user_id, body.get("customerAccountId"))
        for attribute in body["userAttributes"]:
            self.db.execute(
                "INSERT INTO user_attributes (app_id, user_id, name, data_type, value, logged_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, user_id, name) DO UPDATE SET "
                "data_type = excluded.data_type, value = excluded.value, logged_at = excluded.logged_at "
                "WHERE excluded.logged_at >= user_attributes.logged_at",
                (
                    app_id,
                    user_id,
                    attribute["name"],
                    attribute["dataType"],
                    json.dumps(parameter_value(attribute), ensure_ascii=False),
                    utc_timestamp(attribute["loggedAtTime"]),
                ),
            )

    def _device(self, body: Mapping[str, Any], attributes: Mapping[str, str]) -> tuple[str, str]:
        """(device key, user id): the device id, else the attributes' Device ID, else the user."""
        app_id = body["appId"]
        user_id = self.resolve(app_id, body["userId"])
        self.touch_user(body, user_id, None)
        device_id = body.get("deviceId") or attributes.get("Device ID") or attributes.get("Device Id")
        key = device_id or f"user:{user_id}"
        self.db.execute(
            "INSERT INTO devices (app_id, device_key, device_id, user_id, platform, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app_id, device_key) DO UPDATE SET "
            "user_id = excluded.user_id, platform = excluded.platform, updated_at = excluded.updated_at",
            (app_id, key, device_id, user_id, body["platform"], self.now),
        )
        return key, user_id

    def device_attributes(self, body: Mapping[str, Any]) -> None:
        attributes: Mapping[str, str] = body["deviceAttributes"]
        key, _ = self._device(body, attributes)
        row = self.db.execute(
            "SELECT attributes FROM devices WHERE app_id = ? AND device_key = ?", (body["appId"], key)
        ).fetchone()
        merged = dict(json.loads(row[0]), **attributes)
        self.db.execute(
            "UPDATE devices SET attributes = ? WHERE app_id = ? AND device_key = ?",
            (dumps(merged), body["appId"], key),
        )

    def device_token(self, body: Mapping[str, Any]) -> None:
        key, _ = self._device(body, {})
        in_distribution = body.get("appInDistribution")
        self.db.execute(
            "UPDATE devices SET device_token = ?, app_in_distribution = ? "
            "WHERE app_id = ? AND device_key = ?",
            (
                body["deviceToken"],
                None if in_distribution is None else int(in_distribution),
                body["appId"],
                key,
            ),
        )


class SessionBatch:
    """The sessions one request's events belong to, each upserted once."""

    def __init__(
        self, db: sqlite3.Connection, app_id: str, user_id: str, account: str | None, device_id: str | None
    ) -> None:
        self.db = db
        self.common = (app_id, user_id, account, device_id)
        # session id -> [started, ended, first event, last event, count]
        self.seen: dict[str, list[Any]] = {}

    def add(self, session_id: str, logged_at: str, name: str, values: Mapping[str, Any]) -> None:
        started = utc_timestamp(values["startTime"]) if name == SESSION_START else None
        ended = utc_timestamp(values["endTime"]) if name == SESSION_END else None
        entry = self.seen.get(session_id)
        if entry is None:
            self.seen[session_id] = [started, ended, logged_at, logged_at, 1]
            return
        if started is not None:
            entry[0] = started if entry[0] is None else min(entry[0], started)
        if ended is not None:
            entry[1] = ended if entry[1] is None else max(entry[1], ended)
        entry[2], entry[3], entry[4] = min(entry[2], logged_at), max(entry[3], logged_at), entry[4] + 1

    def write(self) -> None:
        if not self.seen:
            return
        app_id, user_id, account, device_id = self.common
        self.db.executemany(
            "INSERT INTO sessions (app_id, session_id, user_id, customer_account_id, device_id, started_at, "
            "ended_at, first_event_at, last_event_at, event_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (app_id, session_id) DO UPDATE SET user_id = excluded.user_id, "
            "customer_account_id = coalesce(excluded.customer_account_id, sessions.customer_account_id), "
            "device_id = coalesce(excluded.device_id, sessions.device_id), "
            "started_at = coalesce(min(sessions.started_at, excluded.started_at), sessions.started_at, "
            "excluded.started_at), "
            "ended_at = coalesce(max(sessions.ended_at, excluded.ended_at), sessions.ended_at, "
            "excluded.ended_at), "
            "first_event_at = min(sessions.first_event_at, excluded.first_event_at), "
            "last_event_at = max(sessions.last_event_at, excluded.last_event_at), "
            "event_count = sessions.event_count + excluded.event_count",
            [
                (app_id, session_id, user_id, account, device_id, *entry)
                for session_id, entry in self.seen.items()
            ],
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

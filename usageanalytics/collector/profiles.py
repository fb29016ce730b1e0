"""One user's page and one customer account's page: what they did, from a read connection."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from .period import Period
from .stats import Summary, summarize, user_devices
from .store import parse_utc
from .tracking import parameter_value

TIMELINE_PAGE = 200
SESSIONS_SHOWN = 50
ACCOUNT_USERS_SHOWN = 200


@dataclass
class UserProfile:
    app_id: str
    user_id: str
    customer_account_id: str | None
    account_name: str | None
    guest: bool
    platform: str | None
    first_seen: str  # when the collector first heard of them
    first_active: str | None  # their earliest event
    last_active: str | None
    guests: list[str]  # guest ids that logged in as this user
    attributes: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    session_count: int
    events: list[dict[str, Any]]
    event_count: int
    offset: int
    apps: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (parse_utc(end) - parse_utc(start)).total_seconds()


def find_user(db: sqlite3.Connection, user_id: str, app_id: str | None) -> tuple[str, str] | None:
    """(app id, user id) of the user ``user_id`` names, following a guest to who they became."""
    sql, args = "SELECT app_id, merged_into FROM users WHERE user_id = ?", [user_id]
    if app_id is not None:
        sql += " AND app_id = ?"
        args.append(app_id)
    row = db.execute(sql + " ORDER BY app_id LIMIT 1", args).fetchone()
    if row is None:
        return None
    return (row[0], row[1]) if row[1] else (row[0], user_id)


def user_profile(db: sqlite3.Connection, app_id: str, user_id: str, offset: int = 0) -> UserProfile | None:
    row = db.execute(
        "SELECT customer_account_id, login_mechanism, platform, first_seen, "
        "coalesce(last_event_at, last_seen) FROM users WHERE app_id = ? AND user_id = ?",
        (app_id, user_id),
    ).fetchone()
    if row is None:
        return None
    account, mechanism, platform, first_seen, last_active = row
    name = None
    if account:
        found = db.execute(
            "SELECT name FROM customers WHERE app_id = ? AND account_id = ?", (app_id, account)
        ).fetchone()
        name = found[0] if found else None
    attributes = [
        {"name": n, "data_type": t, "value": json.loads(v), "logged_at": at}
        for n, t, v, at in db.execute(
            "SELECT name, data_type, value, logged_at FROM user_attributes "
            "WHERE app_id = ? AND user_id = ? ORDER BY name",
            (app_id, user_id),
        )
    ]
    sessions = [
        {
            "session_id": sid,
            "started_at": started or first,
            "ended_at": ended,
            "seconds": _seconds(started, ended),
            "events": count,
        }
        for sid, started, ended, first, count in db.execute(
            "SELECT session_id, started_at, ended_at, first_event_at, event_count FROM sessions "
            "WHERE app_id = ? AND user_id = ? ORDER BY coalesce(started_at, first_event_at) DESC "
            f"LIMIT {SESSIONS_SHOWN}",
            (app_id, user_id),
        )
    ]
    events = [
        {
            "id": eid,
            "name": event_name,
            "logged_at": logged_at,
            "session_id": session_id,
            "attributes": {p["attributeName"]: parameter_value(p) for p in json.loads(parameters)},
        }
        for eid, event_name, logged_at, session_id, parameters in db.execute(
            "SELECT id, name, logged_at, session_id, parameters FROM events WHERE app_id = ? AND user_id = ? "
            f"ORDER BY logged_at DESC, id DESC LIMIT {TIMELINE_PAGE} OFFSET ?",
            (app_id, user_id, offset),
        )
    ]
    return UserProfile(
        app_id=app_id,
        user_id=user_id,
        customer_account_id=account,
        account_name=name,
        guest=mechanism == "GUEST",
        platform=platform,
        first_seen=first_seen,
        first_active=db.execute(
            "SELECT min(logged_at) FROM events WHERE app_id = ? AND user_id = ?", (app_id, user_id)
        ).fetchone()[0],
        last_active=last_active,
        guests=[
            r[0]
            for r in db.execute(
                "SELECT guest_id FROM user_aliases WHERE app_id = ? AND user_id = ? ORDER BY transferred_at",
                (app_id, user_id),
            )
        ],
        attributes=attributes,
        devices=user_devices(db, app_id, user_id),
        sessions=sessions,
        session_count=db.execute(
            "SELECT count(*) FROM sessions WHERE app_id = ? AND user_id = ?", (app_id, user_id)
        ).fetchone()[0],
        events=events,
        event_count=db.execute(
            "SELECT count(*) FROM events WHERE app_id = ? AND user_id = ?", (app_id, user_id)
        ).fetchone()[0],
        offset=offset,
        apps=[r[0] for r in db.execute("SELECT app_id FROM users WHERE user_id = ? ORDER BY 1", (user_id,))],
    )


@dataclass
class AccountProfile:
    account_id: str
    name: str | None
    status: str | None
    summary: Summary
    users: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def account_exists(db: sqlite3.Connection, account_id: str) -> bool:
    return any(
        db.execute(sql, (account_id,)).fetchone()
        for sql in (
            "SELECT 1 FROM customers WHERE account_id = ? LIMIT 1",
            "SELECT 1 FROM users WHERE customer_account_id = ? LIMIT 1",
        )
    )


def account_profile(
    db: sqlite3.Connection, account_id: str, period: Period, app_id: str | None = None
) -> AccountProfile | None:
    if not account_exists(db, account_id):
        return None
    app_sql, app_args = (" AND app_id = ?", [app_id]) if app_id else ("", [])
    customer = db.execute(
        f"SELECT name, status FROM customers WHERE account_id = ?{app_sql} LIMIT 1", [account_id, *app_args]
    ).fetchone()
    summary = summarize(db, period, app_id, account_id)
    sessions = {
        (row[0], row[1]): row[2]
        for row in db.execute(
            "SELECT app_id, user_id, count(*) FROM sessions WHERE customer_account_id = ? "
            "AND begun_at >= ? AND begun_at < ?"
            f"{app_sql} GROUP BY 1, 2",
            [account_id, period.lower, period.upper, *app_args],
        )
    }
    users = [
        {
            "app_id": app,
            "user_id": user,
            "guest": mechanism == "GUEST",
            "last_active": last_active,
            "sessions": sessions.get((app, user), 0),
        }
        for app, user, mechanism, last_active in db.execute(
            "SELECT app_id, user_id, login_mechanism, coalesce(last_event_at, last_seen) AS last_active "
            f"FROM users WHERE customer_account_id = ? AND merged_into IS NULL{app_sql} "
            f"ORDER BY last_active DESC, user_id LIMIT {ACCOUNT_USERS_SHOWN}",
            [account_id, *app_args],
        )
    ]
    return AccountProfile(
        account_id, customer[0] if customer else None, customer[1] if customer else None, summary, users
    )

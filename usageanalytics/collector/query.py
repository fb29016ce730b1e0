"""Reading a collector database: what tests, the pytest fixture and ``export`` look at.

    from usageanalytics.collector.query import Received
    received = Received("collector.sqlite")
    received.events(name="Signed In")[0]["attributes"]   # {"Module": "Login", ...}

Rows come back as plain dicts with snake_case keys; JSON columns are decoded, and events and users
carry their typed attributes as ``{"name": value}``. Works beside a running collector, in this
process or another (SQLite WAL).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .store import TABLES, Connections, parse_utc
from .tracking import parameter_value

_MISSING = object()
_JSON_COLUMNS = frozenset({"parameters", "attributes", "product_ids", "body", "data", "value"})


def _row(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    for column in _JSON_COLUMNS.intersection(record):
        if record[column] is not None:
            record[column] = json.loads(record[column])
    return record


def with_attributes(event: dict[str, Any]) -> dict[str, Any]:
    """An event row with ``attributes``: its typed parameters as ``{attributeName: value}``."""
    event["attributes"] = {p["attributeName"]: parameter_value(p) for p in event["parameters"]}
    return event


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    given = {column: value for column, value in filters.items() if value is not None}
    if not given:
        return "", []
    return " WHERE " + " AND ".join(f"{column} = ?" for column in given), list(given.values())


class Received:
    """Read-only access to what a collector stored, ordered oldest first."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path).expanduser()
        self._connections = Connections(self.db_path)

    def _select(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [_row(row) for row in self._connections.get().execute(sql, args).fetchall()]

    def _table(self, table: str, order: str, **filters: Any) -> list[dict[str, Any]]:
        where, args = _where(filters)
        return self._select(f"SELECT * FROM {table}{where} ORDER BY {order}", args)

    # -- usage analytics ------------------------------------------------------------------------

    def events(
        self,
        name: str | None = None,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        app_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Events, each with ``attributes`` ({attributeName: value}) beside the raw ``parameters``.

        ``user_id`` is the user the event belongs to now: a guest's events are their user's once
        the guest logged in (``original_user_id`` keeps the id it was sent with).
        """
        rows = self._table(
            "events", "logged_at, id", name=name, user_id=user_id, session_id=session_id, app_id=app_id
        )
        return [with_attributes(event) for event in rows]

    def event_names(self) -> list[str]:
        return [row["name"] for row in self._select("SELECT DISTINCT name FROM events ORDER BY name")]

    def users(self, *, include_merged: bool = False, app_id: str | None = None) -> list[dict[str, Any]]:
        """Users with their ``attributes``; guests who logged in (``merged_into``) only on request."""
        where, args = _where({"app_id": app_id})
        if not include_merged:
            where += (" AND " if where else " WHERE ") + "merged_into IS NULL"
        users = self._select(f"SELECT * FROM users{where} ORDER BY first_seen, user_id", args)
        for user in users:
            user["guest"] = user["login_mechanism"] == "GUEST"
            user["attributes"] = self.user_attributes(user["user_id"], app_id=user["app_id"])
        return users

    def user(self, user_id: str, *, app_id: str | None = None) -> dict[str, Any] | None:
        """One user (a guest who logged in resolves to the user they became)."""
        found = [u for u in self.users(include_merged=True, app_id=app_id) if u["user_id"] == user_id]
        if found and found[0]["merged_into"]:
            return self.user(found[0]["merged_into"], app_id=found[0]["app_id"])
        return found[0] if found else None

    def user_attributes(self, user_id: str, *, app_id: str | None = None) -> dict[str, Any]:
        """The latest value of each attribute of ``user_id``."""
        rows = self._table("user_attributes", "name", user_id=user_id, app_id=app_id)
        return {row["name"]: row["value"] for row in rows}

    def sessions(self, *, user_id: str | None = None, app_id: str | None = None) -> list[dict[str, Any]]:
        """Sessions with ``duration_seconds`` (None while a session has no end)."""
        sessions = self._table(
            "sessions", "coalesce(started_at, first_event_at), session_id", user_id=user_id, app_id=app_id
        )
        for session in sessions:
            start, end = session["started_at"], session["ended_at"]
            session["duration_seconds"] = (
                (parse_utc(end) - parse_utc(start)).total_seconds() if start and end else None
            )
        return sessions

    def devices(self, *, user_id: str | None = None, app_id: str | None = None) -> list[dict[str, Any]]:
        devices = self._table("devices", "updated_at, device_key", user_id=user_id, app_id=app_id)
        for device in devices:
            flag = device["app_in_distribution"]
            device["app_in_distribution"] = None if flag is None else bool(flag)
        return devices

    def customers(self, *, app_id: str | None = None) -> list[dict[str, Any]]:
        return self._table("customers", "created_at, account_id", app_id=app_id)

    # -- financial data -------------------------------------------------------------------------

    def orders(self, *, app_id: str | None = None) -> list[dict[str, Any]]:
        return self._table("orders", "updated_at, order_id", app_id=app_id)

    def app_financial_data(self) -> list[dict[str, Any]]:
        return self._table("app_financial_data", "app_id")

    def account_financial_data(self, *, app_id: str | None = None) -> list[dict[str, Any]]:
        return self._table("account_financial_data", "app_id, customer_account_id", app_id=app_id)

    # -- case management (records in the spec's JSON shapes) ------------------------------------

    def _data(self, table: str, order: str, **filters: Any) -> list[dict[str, Any]]:
        return [row["data"] for row in self._table(table, order, **filters)]

    def contacts(self, *, app_id: str | None = None) -> list[dict[str, Any]]:
        return self._data("contacts", "created_at, contact_id", app_id=app_id)

    def agents(self, *, app_id: str | None = None) -> list[dict[str, Any]]:
        return self._data("agents", "created_at, agent_id", app_id=app_id)

    def tickets(self, *, app_id: str | None = None) -> list[dict[str, Any]]:
        return self._data("tickets", "seq", app_id=app_id)

    def comments(self, *, ticket_id: str | None = None) -> list[dict[str, Any]]:
        return self._data("ticket_comments", "seq", ticket_id=ticket_id)

    # -- assertions -----------------------------------------------------------------------------

    def wait_for(self, condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> bool:
        """Poll ``condition`` until it is truthy (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    def assert_event(
        self,
        name: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        timeout: float = 0.0,
        **fields: Any,
    ) -> dict[str, Any]:
        """The latest event called ``name`` whose attributes include ``attributes`` and whose
        columns equal ``fields`` (``user_id="dana"``); waits up to ``timeout`` seconds for it.

        Raises AssertionError listing what was received instead, for a readable test failure.
        """

        def matches() -> list[dict[str, Any]]:
            return [
                event
                for event in self.events(name=name)
                if all(event["attributes"].get(k, _MISSING) == v for k, v in (attributes or {}).items())
                and all(event.get(k, _MISSING) == v for k, v in fields.items())
            ]

        self.wait_for(matches, timeout=timeout)
        found = matches()
        if not found:
            same_name = [event["attributes"] for event in self.events(name=name)]
            raise AssertionError(
                f"no event {name!r} with attributes {dict(attributes or {})} and {fields}; "
                f"events with that name: {same_name or 'none'}; all event names: {self.event_names()}"
            )
        return found[-1]

    # -- everything -----------------------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every accepted request as received (``body`` decoded); a repeated one appears once."""
        return self._table("requests", "id", path=path)

    def rows(self, table: str, *, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every row of ``table`` as stored (JSON columns decoded), in insertion order, streamed."""
        if table not in TABLES:
            raise ValueError(f"no table {table!r}; the tables are {', '.join(TABLES)}")
        cursor = self._connections.get().execute(f"SELECT * FROM {table} ORDER BY rowid")
        while chunk := cursor.fetchmany(batch):
            yield from (_row(row) for row in chunk)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        db = self._connections.get()
        return {table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in TABLES}

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> Received:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

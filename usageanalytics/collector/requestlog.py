"""The request log behind ``/debugger`` and ``/api/requests``: every API request the collector
answered, accepted or refused, with its body, the answer and, for a refusal, the reason.

Headers are never kept, so neither is an API key. The newest ``keep`` requests are kept (10,000
by default; 0 keeps none). Entries wait in memory and are written with the next request's
transaction, or by a timer within a quarter of a second when the collector is idle, so logging
adds no commit of its own to ingestion.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from typing import Any

DEFAULT_KEEP = 10_000
MAX_KEPT_BODY = 256 * 1024  # bytes of a body kept for the debugger; the rest is cut
ACCEPTED, REJECTED = "accepted", "rejected"

_COLUMNS = (
    "received_at, method, path, status_code, outcome, reason, note, app_id, user_id, account_id, "
    "event_names, answer, body, body_bytes, body_truncated"
)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _safe(value: Any) -> Any:
    """Text SQLite can store as UTF-8 (a lone surrogate becomes its escape)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def describe(payload: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """(app id, user id, account id, event names) of a body, as far as it says them.

    Event names are kept as ``"\\nname\\nother\\n"`` so a filter is one ``instr`` per row.
    """
    if not isinstance(payload, Mapping):
        return None, None, None, None
    account = _text(payload.get("customerAccountId")) or _text(payload.get("accountId"))
    names = None
    events = payload.get("events")
    if isinstance(events, list):
        found = dict.fromkeys(
            event["name"] for event in events if isinstance(event, Mapping) and _text(event.get("name"))
        )
        names = "\n" + "".join(f"{name}\n" for name in found) if found else None
    return _text(payload.get("appId")), _text(payload.get("userId")), account, names


class RequestLog:
    """Entries waiting to be written, and the trimming of old ones."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        if keep < 0:
            raise ValueError(f"keep must be 0 or more, got {keep}")
        self.keep = keep
        self._pending: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._since_trim = 0

    def add(
        self,
        *,
        received_at: str,
        method: str,
        path: str,
        status_code: int,
        answer: Mapping[str, Any],
        raw: bytes,
        payload: Any,
        reason: str | None = None,
        note: str | None = None,
    ) -> None:
        if not self.keep:
            return
        kept = raw[:MAX_KEPT_BODY]
        body = kept.decode("utf-8", errors="replace") if kept else None
        outcome = ACCEPTED if status_code < 400 else REJECTED
        described = (received_at, method, path, status_code, outcome, reason, note, *describe(payload))
        entry = (
            *(_safe(value) for value in described),
            _safe(json.dumps(answer, ensure_ascii=False)),
            body,
            len(raw),
            int(len(raw) > len(kept)),
        )
        self._pending.append(entry)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def write(self, db: sqlite3.Connection) -> None:
        """Write what waits (inside the caller's transaction) and trim past ``keep``."""
        with self._lock:
            entries, self._pending = self._pending, []
        if not entries:
            return
        db.executemany(
            f"INSERT INTO request_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            entries,
        )
        self._since_trim += len(entries)
        if self._since_trim >= max(50, self.keep // 50):
            self._since_trim = 0
            db.execute(
                "DELETE FROM request_log WHERE id <= (SELECT max(id) FROM request_log) - ?", (self.keep,)
            )


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decoded(text: str | None) -> Any:
    """A kept body as JSON where it is JSON, else its text (malformed, cut, or not JSON)."""
    if text is None:
        return None
    try:
        value = json.loads(text, parse_constant=_not_json)
        if "\\ud" in text.lower():  # a lone surrogate escape would not survive the way out
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return text
    return value


def read(
    db: sqlite3.Connection,
    *,
    limit: int = 100,
    outcome: str | None = None,
    app_id: str | None = None,
    user_id: str | None = None,
    account_id: str | None = None,
    event: str | None = None,
    after: int | None = None,
    before: int | None = None,
    keep: int | None = None,
) -> list[dict[str, Any]]:
    """Logged requests, newest first, filtered; ``after``/``before`` page by id. ``keep`` hides
    what the next trim will delete (trimming runs in steps)."""
    clauses: list[str] = []
    args: list[Any] = []
    if keep is not None:
        clauses.append("id > (SELECT coalesce(max(id), 0) FROM request_log) - ?")
        args.append(keep)
    for column, value in (("outcome", outcome), ("app_id", app_id), ("user_id", user_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if account_id is not None:
        clauses.append("account_id = ?")
        args.append(account_id)
    if event is not None:
        clauses.append("instr(event_names, ?) > 0")
        args.append(f"\n{event}\n")
    if after is not None:
        clauses.append("id > ?")
        args.append(after)
    if before is not None:
        clauses.append("id < ?")
        args.append(before)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = db.execute(
        f"SELECT id, {_COLUMNS} FROM request_log{where} ORDER BY id DESC LIMIT ?", (*args, limit)
    ).fetchall()
    return [
        {
            "id": row["id"],
            "received_at": row["received_at"],
            "method": row["method"],
            "path": row["path"],
            "status_code": row["status_code"],
            "outcome": row["outcome"],
            "reason": row["reason"],
            "note": row["note"],
            "app_id": row["app_id"],
            "user_id": row["user_id"],
            "account_id": row["account_id"],
            "event_names": [name for name in (row["event_names"] or "").split("\n") if name],
            "answer": _decoded(row["answer"]),
            "body": _decoded(row["body"]),
            "body_bytes": row["body_bytes"],
            "body_truncated": bool(row["body_truncated"]),
        }
        for row in rows
    ]


def app_ids(db: sqlite3.Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT DISTINCT app_id FROM request_log WHERE app_id IS NOT NULL")]

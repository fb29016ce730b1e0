"""Storing case management (spec: "Tickets (Case Management) Integration"): contacts, agents,
tickets and ticket comments, answered in the shapes of the spec's sample outputs.

Each record is kept as the JSON object the spec shows, beside the columns used to find it.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import validation
from .store import NotFound, dumps, parse_utc, utc_timestamp
from .validation import InvalidInput

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class _People:
    """How contacts and agents differ: table, id names, fields, defaults and the answer's keys."""

    table: str
    id_column: str
    id_field: str
    optional: tuple[str, ...]
    extra: tuple[str, ...]
    defaults: dict[str, Any]
    answer: tuple[str, str, str, str]


# A new contact starts active, suggested, not a champion (the spec's outputs show these on every
# contact); the answers' keys are spelled as in the spec's sample outputs, spaces and colons included.
_CONTACTS = _People(
    "contacts",
    "contact_id",
    "contactId",
    validation.CONTACT_FIELDS,
    ("accountId", "salesforceId"),
    {"status": "active", "displaySuggestion": True, "isChampion": False},
    ("Saved Contact count", "Unsaved Contact count", "unsavedContacts", "savedContacts"),
)
_AGENTS = _People(
    "agents",
    "agent_id",
    "agentId",
    validation.AGENT_FIELDS,
    (),
    {},
    (" Saved Agents count: ", " Unsaved Agents count: ", "unsavedAgents", "savedAgents"),
)


def display_time(utc: str) -> str:
    """The spec's createTime/updateTime format, ``Feb 1, 2021 7:50:11 AM`` (UTC, English always)."""
    moment = parse_utc(utc)
    hour = moment.hour % 12 or 12
    noon = "AM" if moment.hour < 12 else "PM"
    return f"{_MONTHS[moment.month - 1]} {moment.day}, {moment.year} {hour}:{moment:%M:%S} {noon}"


def _email_key(email: str) -> str:
    return email.strip().lower()


def _copy(source: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {field: source[field] for field in fields if source.get(field) is not None}


class Casework:
    """Case-management requests against one transaction (or a read connection, for the GETs)."""

    def __init__(self, db: sqlite3.Connection, now: str) -> None:
        self.db = db
        self.now = now

    # -- contacts -----------------------------------------------------------------------------

    def save_contacts(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update each contact by email; report the ones that cannot be saved."""
        return self._save_people(body, _CONTACTS)

    @staticmethod
    def _unsaved(person: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
        shown = dict(person) if isinstance(person, Mapping) else {"value": person}
        shown.update({key: value for key, value in defaults.items() if key not in shown})
        shown["allValues"] = 1
        return shown

    def _upsert_person(self, kind: _People, app_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        table, id_column, id_field = kind.table, kind.id_column, kind.id_field
        key = _email_key(fields["email"])
        row = self.db.execute(
            f"SELECT {id_column}, data FROM {table} WHERE app_id = ? AND email_key = ?", (app_id, key)
        ).fetchone()
        if row is not None:
            record = dict(json.loads(row["data"]), **fields)
            self.db.execute(f"UPDATE {table} SET data = ? WHERE {id_column} = ?", (dumps(record), row[0]))
            return record
        record = {id_field: str(uuid.uuid4()), "appId": app_id, **fields, **kind.defaults}
        if table == "contacts":
            self.db.execute(
                "INSERT INTO contacts (contact_id, app_id, email_key, created_at, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (record[id_field], app_id, key, self.now, dumps(record)),
            )
        else:
            self.db.execute(
                "INSERT INTO agents (agent_id, app_id, email_key, customer_agent_id, created_at, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (record[id_field], app_id, key, fields.get("customerAgentId"), self.now, dumps(record)),
            )
        return record

    def contacts_page(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET /tickets/contacts: up to ``limit`` contacts after ``nextPageToken``, oldest first."""
        limit = validation.validate_contacts_query(params)
        app_id = params["appId"]
        where, args = ["app_id = ?"], [app_id]
        if params.get("emailId"):
            where.append("email_key = ?")
            args.append(_email_key(params["emailId"]))
        if params.get("salesforceId"):
            where.append("json_extract(data, '$.salesforceId') = ?")
            args.append(params["salesforceId"])
        token = params.get("nextPageToken")
        if token:
            created_at, contact_id = _read_token(token, app_id)
            where.append("(created_at, contact_id) > (?, ?)")
            args += [created_at, contact_id]
        rows = self.db.execute(
            f"SELECT contact_id, created_at, data FROM contacts WHERE {' AND '.join(where)} "
            "ORDER BY created_at, contact_id LIMIT ?",
            (*args, limit + 1),
        ).fetchall()
        page = rows[:limit]
        answer: dict[str, Any] = {"count": len(page), "contacts": [json.loads(row["data"]) for row in page]}
        if len(rows) > limit:
            last = page[-1]
            answer["nextPageToken"] = _make_token(app_id, last["created_at"], last["contact_id"])
        return answer

    # -- agents -------------------------------------------------------------------------------

    def save_agents(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or update each agent by email; report the ones that cannot be saved."""
        return self._save_people(body, _AGENTS)

    def _save_people(self, body: Mapping[str, Any], kind: _People) -> dict[str, Any]:
        saved, unsaved = [], []
        for person in validation.validate_people(body, kind.table):
            if validation.person_problem(person, kind.optional) is not None:
                unsaved.append(self._unsaved(person, kind.defaults))
                continue
            fields = _copy(person, ("email", "firstName", *kind.optional, *kind.extra))
            saved.append(self._upsert_person(kind, body["appId"], fields))
        saved_key, unsaved_key, unsaved_list, saved_list = kind.answer
        return {saved_key: len(saved), unsaved_key: len(unsaved), unsaved_list: unsaved, saved_list: saved}

    def delete_agent(self, agent_id: str) -> dict[str, Any]:
        """Delete by the agent's UUID, or by the customerAgentId from your own system."""
        deleted = self.db.execute("DELETE FROM agents WHERE agent_id = ?", (agent_id,)).rowcount
        if not deleted:
            deleted = self.db.execute("DELETE FROM agents WHERE customer_agent_id = ?", (agent_id,)).rowcount
        if not deleted:
            raise NotFound(f"no agent {agent_id!r}")
        return {"message": "Agent deleted"}

    # -- tickets ------------------------------------------------------------------------------

    def create_ticket(self, body: Mapping[str, Any]) -> dict[str, Any]:
        validation.validate_ticket(body)
        fields = _copy(body, (*validation.TICKET_FIELDS, "createdByType", "escalation", "customFields"))
        if "dueDate" in body and body["dueDate"] is not None:
            fields["dueDate"] = utc_timestamp(body["dueDate"])
        ticket_id = str(uuid.uuid4())
        cursor = self.db.execute(
            "INSERT INTO tickets (ticket_id, app_id, data) VALUES (?, ?, '{}')", (ticket_id, body["appId"])
        )
        shown = display_time(self.now)
        ticket = {
            "ticketId": ticket_id,
            "visibleId": str(cursor.lastrowid),
            "appId": body["appId"],
            **fields,
            "createTime": shown,
            "updateTime": shown,
            "version": 1,
            "allValues": 1,
        }
        self.db.execute("UPDATE tickets SET data = ? WHERE ticket_id = ?", (dumps(ticket), ticket_id))
        return ticket

    def _ticket(self, ticket_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT data FROM tickets WHERE ticket_id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise NotFound(f"no ticket {ticket_id!r}")
        ticket: dict[str, Any] = json.loads(row[0])
        return ticket

    def update_ticket(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT /tickets: change the fields the spec's update table lists; ignore any others."""
        validation.validate_ticket_update(body)
        ticket = self._ticket(body["id"])
        updatable = tuple(f for f in validation.TICKET_FIELDS if f not in ("createdBy",))
        ticket.update(_copy(body, (*updatable, "escalation", "customFields")))
        if body.get("dueDate") is not None:
            ticket["dueDate"] = utc_timestamp(body["dueDate"])
        ticket["updateTime"] = display_time(self.now)
        ticket["version"] = int(ticket.get("version", 1)) + 1
        self.db.execute("UPDATE tickets SET data = ? WHERE ticket_id = ?", (dumps(ticket), body["id"]))
        return ticket

    def list_tickets(self, app_id: str) -> dict[str, Any]:
        rows = self.db.execute("SELECT data FROM tickets WHERE app_id = ? ORDER BY seq", (app_id,)).fetchall()
        return {"count": len(rows), "tickets": [json.loads(row[0]) for row in rows]}

    def delete_ticket(self, ticket_id: str) -> dict[str, Any]:
        """Delete a ticket and its comments."""
        if not self.db.execute("DELETE FROM tickets WHERE ticket_id = ?", (ticket_id,)).rowcount:
            raise NotFound(f"no ticket {ticket_id!r}")
        self.db.execute("DELETE FROM ticket_comments WHERE ticket_id = ?", (ticket_id,))
        return {"message": "Ticket deleted"}

    # -- comments -----------------------------------------------------------------------------

    def create_comment(self, body: Mapping[str, Any]) -> dict[str, Any]:
        validation.validate_comment(body)
        self._ticket(body["ticketId"])
        shown = display_time(self.now)
        comment: dict[str, Any] = {
            "CommentId": str(uuid.uuid4()),
            "ticketId": body["ticketId"],
            "description": body["description"],
        }
        if body.get("createdBy") is not None:
            # The spec's POST output calls it createdBy, its GET output createdById: give both.
            comment["createdBy"] = comment["createdById"] = body["createdBy"]
        if body.get("createdByType") is not None:
            comment["createdByType"] = body["createdByType"]
        comment.update(createTime=shown, updateTime=shown, version=1, allValues=1)
        self.db.execute(
            "INSERT INTO ticket_comments (comment_id, ticket_id, data) VALUES (?, ?, ?)",
            (comment["CommentId"], body["ticketId"], dumps(comment)),
        )
        return comment

    def update_comment(self, body: Mapping[str, Any]) -> dict[str, Any]:
        validation.validate_comment_update(body)
        row = self.db.execute(
            "SELECT data FROM ticket_comments WHERE comment_id = ?", (body["id"],)
        ).fetchone()
        if row is None:
            raise NotFound(f"no comment {body['id']!r}")
        comment = dict(json.loads(row[0]), description=body["description"])
        comment["updateTime"] = display_time(self.now)
        comment["version"] = int(comment.get("version", 1)) + 1
        self.db.execute(
            "UPDATE ticket_comments SET data = ? WHERE comment_id = ?", (dumps(comment), body["id"])
        )
        return comment

    def list_comments(self, params: Mapping[str, Any]) -> dict[str, Any]:
        validation.require_string(params, "appId")
        ticket_id = validation.require_string(params, "ticketId")
        rows = self.db.execute(
            "SELECT data FROM ticket_comments WHERE ticket_id = ? ORDER BY seq", (ticket_id,)
        ).fetchall()
        return {"count": len(rows), "comments": [json.loads(row[0]) for row in rows]}


def _make_token(app_id: str, created_at: str, contact_id: str) -> str:
    """The page token: the last key read, in the platform's own token format (so the spec's
    sample token is one this collector understands too)."""
    key = {"contactId": {"s": contact_id}, "createTime": {"s": created_at}, "appId": {"s": app_id}}
    return base64.b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _read_token(token: str, app_id: str) -> tuple[str, str]:
    try:
        text = token.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
        key = json.loads(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
        if key["appId"]["s"] != app_id:
            raise ValueError("another app's token")
        return str(key["createTime"]["s"]), str(key["contactId"]["s"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInput("nextPageToken", "is not a page token for this appId") from None

"""REST admin commands for the ``usageanalytics`` CLI: tickets, contacts and agents.

``usageanalytics contacts import contacts.csv`` saves a spreadsheet of contacts in batches, with a
progress bar and a summary of the rows saved and not saved (and why). The client and its
dependencies are imported inside the commands, so ``usageanalytics --help`` stays fast.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from .client import Client

F = TypeVar("F", bound=Callable[..., Any])
SHOWN_UNSAVED = 20  # rows listed in the summary; --unsaved-csv writes them all


def connection_options(command: F) -> F:
    """``--app-id``, ``--api-key`` and ``--endpoint``, defaulting to the SDK's environment variables."""
    options = [
        click.option(
            "--app-id", envvar="USAGEANALYTICS_APP_ID", help="SmartKarrot app id [USAGEANALYTICS_APP_ID]."
        ),
        click.option(
            "--api-key", envvar="USAGEANALYTICS_API_KEY", help="REST API key [USAGEANALYTICS_API_KEY]."
        ),
        click.option(
            "--endpoint", envvar="USAGEANALYTICS_ENDPOINT", help="v4 base URL [USAGEANALYTICS_ENDPOINT]."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@contextmanager
def open_client(app_id: str | None, api_key: str | None, endpoint: str | None) -> Iterator[Client]:
    """A client whose configuration and API errors become one-line CLI errors."""
    from ..errors import ConfigurationError
    from .client import Client
    from .errors import ApiError

    # click already read the variables into the options: name both where either is missing.
    for value, flag, variable in (
        (app_id, "--app-id", "USAGEANALYTICS_APP_ID"),
        (api_key, "--api-key", "USAGEANALYTICS_API_KEY"),
    ):
        if not value or not value.strip():
            raise click.UsageError(f"give {flag} or set {variable}")
    try:
        with Client(app_id=app_id, api_key=api_key, endpoint=endpoint) as client:
            yield client
    except (ApiError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from exc


def _plain(value: Any) -> Any:
    """A model as JSON-ready data (dates as ISO strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def _echo_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        )


# -- tickets -------------------------------------------------------------------------------------


@click.group()
def tickets() -> None:
    """Case management: list, create and delete tickets."""


@tickets.command("list")
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tickets_list(app_id: str | None, api_key: str | None, endpoint: str | None, as_json: bool) -> None:
    """List the app's tickets."""
    with open_client(app_id, api_key, endpoint) as client:
        found = client.tickets.list()
    if as_json:
        click.echo(json.dumps(_plain(found), indent=2))
        return
    rows = [
        [
            t.ticket_id,
            t.visible_id or "",
            t.status or "",
            t.priority or "",
            f"{t.due_date:%Y-%m-%d}" if t.due_date else "",
            t.ticket_name or "",
        ]
        for t in found
    ]
    _echo_table(["TICKET ID", "VISIBLE ID", "STATUS", "PRIORITY", "DUE", "NAME"], rows)
    click.echo(f"{len(found)} ticket{'s' if len(found) != 1 else ''}")


@tickets.command("create")
@connection_options
@click.option("--name", "ticket_name", required=True, help="Name of the ticket.")
@click.option("--priority", help="Priority, e.g. High.")
@click.option("--status", help="Status, e.g. Open.")
@click.option("--type", "ticket_type", help="Type of the ticket.")
@click.option("--account-id", help="Customer account id.")
@click.option("--assigned-to", help="Id of the agent the ticket is assigned to.")
@click.option("--due", "due_date", type=click.DateTime(["%Y-%m-%d"]), help="Due date, yyyy-mm-dd.")
def tickets_create(
    app_id: str | None,
    api_key: str | None,
    endpoint: str | None,
    ticket_name: str,
    priority: str | None,
    status: str | None,
    ticket_type: str | None,
    account_id: str | None,
    assigned_to: str | None,
    due_date: datetime | None,
) -> None:
    """Create a ticket and print its id."""
    with open_client(app_id, api_key, endpoint) as client:
        ticket = client.tickets.create(
            ticket_name=ticket_name,
            priority=priority,
            status=status,
            type=ticket_type,
            account_id=account_id,
            assigned_to=assigned_to,
            due_date=due_date.date() if due_date else None,
        )
    click.echo(ticket.ticket_id)


def _delete_command(resource_name: str, help_text: str) -> click.Command:
    @click.command("delete", help=help_text)
    @connection_options
    @click.argument("record_id", metavar="ID")
    def delete(app_id: str | None, api_key: str | None, endpoint: str | None, record_id: str) -> None:
        with open_client(app_id, api_key, endpoint) as client:
            getattr(client, resource_name).delete(record_id)
        click.echo(f"deleted {record_id}")

    return delete


tickets.add_command(_delete_command("tickets", "Delete a ticket by its id."))


# -- contacts and agents -------------------------------------------------------------------------


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _columns(header: list[str], kind: type) -> dict[str, str]:
    """CSV column → model field, accepting ``first_name``, ``firstName`` or ``First Name``."""
    fields = {_key(f.name): f.name for f in dataclasses.fields(kind)}
    mapping: dict[str, str] = {}
    unknown = []
    for column in header:
        field = fields.get(_key(column))
        if field is None:
            unknown.append(column)
        else:
            mapping[column] = field
    if unknown:
        expected = ", ".join(f.name for f in dataclasses.fields(kind))
        raise click.UsageError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; expected some of: {expected}"
        )
    return mapping


def _import(
    path: Path, kind: type, save: Callable[[list[dict[str, Any]]], Any], batch: int, unsaved_csv: str | None
) -> None:
    from .errors import ApiError, AuthenticationError

    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        mapping = _columns(list(reader.fieldnames or []), kind)
        rows = list(reader)
    records = [
        {mapping[c]: v.strip() for c, v in row.items() if c in mapping and v and v.strip()} for row in rows
    ]
    unsaved: list[tuple[int, str]] = []  # (row index, reason)
    saved = 0
    noun = kind.__name__.lower() + "s"
    with click.progressbar(length=len(records), label=f"saving {noun}") as bar:
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            try:
                result = save(chunk)
            except AuthenticationError:
                raise
            except ApiError as exc:
                unsaved += [(start + n, f"not saved: {exc}") for n in range(len(chunk))]
            else:
                saved += len(result.saved)
                unsaved += [
                    (start + item.index if item.index >= 0 else -1, item.reason) for item in result.unsaved
                ]
            bar.update(len(chunk))
    click.echo(f"saved {saved} of {len(records)} {noun}; {len(unsaved)} unsaved")
    for index, reason in unsaved[:SHOWN_UNSAVED]:
        where = f"row {index + 2}" if index >= 0 else "a record the server returned"
        click.echo(f"  {where}: {reason}")
    if len(unsaved) > SHOWN_UNSAVED:
        click.echo(f"  ... and {len(unsaved) - SHOWN_UNSAVED} more (write them all with --unsaved-csv)")
    if unsaved_csv and unsaved:
        with open(unsaved_csv, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=[*(list(rows[0]) if rows else []), "reason"])
            writer.writeheader()
            for index, reason in unsaved:
                writer.writerow({**(rows[index] if index >= 0 else {}), "reason": reason})
        click.echo(f"unsaved rows written to {unsaved_csv}")
    if unsaved:
        raise SystemExit(1)


def _import_command(noun: str, save_name: str) -> click.Command:
    @click.command("import")
    @connection_options
    @click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option(
        "--batch-size",
        default=100,
        show_default=True,
        type=click.IntRange(1, 1000),
        help="Records per request.",
    )
    @click.option(
        "--unsaved-csv",
        type=click.Path(dir_okay=False),
        help="Write the unsaved rows, with the reason, here.",
    )
    def import_people(
        app_id: str | None,
        api_key: str | None,
        endpoint: str | None,
        csv_file: Path,
        batch_size: int,
        unsaved_csv: str | None,
    ) -> None:
        from . import models

        kind = getattr(models, noun)
        with open_client(app_id, api_key, endpoint) as client:
            resource = getattr(client, save_name)
            _import(csv_file, kind, resource.upsert, batch_size, unsaved_csv)

    import_people.__doc__ = (
        f"Create or update {noun.lower()}s from a CSV file (a header row, then one {noun.lower()} a row).\n\n"
        "Columns are the fields, as first_name, firstName or First Name; email and first name are required. "
        "Exits with status 1 when a row was not saved."
    )
    import_people.help = import_people.__doc__
    return import_people


@click.group()
def contacts() -> None:
    """Case management: list and import contacts."""


@contacts.command("list")
@connection_options
@click.option("--email", "email_id", help="Only the contact with this email address.")
@click.option("--page-size", default=1000, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def contacts_list(
    app_id: str | None,
    api_key: str | None,
    endpoint: str | None,
    email_id: str | None,
    page_size: int,
    as_json: bool,
) -> None:
    """List every contact, following the pages."""
    with open_client(app_id, api_key, endpoint) as client:
        found = list(client.contacts.iter(limit=page_size, email_id=email_id))
    if as_json:
        for contact in found:
            click.echo(json.dumps(_plain(contact)))
        return
    rows = [
        [c.contact_id, c.email or "", " ".join(filter(None, [c.first_name, c.last_name])), c.role or ""]
        for c in found
    ]
    _echo_table(["CONTACT ID", "EMAIL", "NAME", "ROLE"], rows)
    click.echo(f"{len(found)} contact{'s' if len(found) != 1 else ''}")


contacts.add_command(_import_command("Contact", "contacts"))


@click.group()
def agents() -> None:
    """Case management: import and delete agents."""


agents.add_command(_import_command("Agent", "agents"))


agents.add_command(_delete_command("agents", "Delete an agent by its SmartKarrot id."))


commands: list[click.Command] = [tickets, contacts, agents]

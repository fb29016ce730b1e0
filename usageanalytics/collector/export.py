"""``usageanalytics export``: a collector table as JSON lines or CSV, streamed with progress."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from .query import Received, with_attributes
from .store import TABLES


def _records(received: Received, table: str) -> Iterator[dict[str, Any]]:
    for row in received.rows(table):
        yield with_attributes(row) if table == "events" else row


def _cell(value: Any) -> Any:
    """CSV cells: nested values and booleans as JSON text, None as an empty cell."""
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def export_rows(db_path: Path, table: str, fmt: str, output: IO[str]) -> int:
    """Write ``table`` (or every table, for ``all`` in jsonl) to ``output``; the number of rows."""
    tables = list(TABLES) if table == "all" else [table]
    if table == "all" and fmt == "csv":
        raise click.UsageError("CSV holds one table at a time: give --table (events, users, ...)")
    if any(name not in TABLES for name in tables):
        raise click.UsageError(f"no table {table!r}; choose one of: {', '.join(TABLES)}, or all")
    written = 0
    with Received(db_path) as received:
        counts = received.counts()
        total = sum(counts[name] for name in tables)
        with click.progressbar(length=total, label=f"exporting {table}", file=sys.stderr) as bar:
            for name in tables:
                writer: csv.DictWriter[str] | None = None
                for record in _records(received, name):
                    if fmt == "jsonl":
                        line = {"table": name, **record} if table == "all" else record
                        output.write(json.dumps(line, ensure_ascii=False) + "\n")
                    else:
                        if writer is None:
                            writer = csv.DictWriter(output, fieldnames=list(record), lineterminator="\n")
                            writer.writeheader()
                        writer.writerow({key: _cell(value) for key, value in record.items()})
                    written += 1
                    bar.update(1)
    return written

"""Collector commands for the ``usageanalytics`` CLI: ``collector``, ``demo`` and ``export``.

The web stack is imported inside the commands, so ``usageanalytics --help`` stays fast and works
without the ``collector`` extra (the commands then say how to install it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click

from ..settings import is_loopback

INSTALL_HINT = "the collector needs its extra: pip install 'usageanalytics[collector]'"


def _require_extra() -> None:
    missing = [
        name for name in ("starlette", "uvicorn", "jinja2", "pygal") if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise click.ClickException(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


def _db_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path), help=help_text)


def announce(url: str, db: Path) -> None:
    """Where everything is, printed once the collector listens."""
    click.echo(f"usageanalytics collector listening on {url}")
    click.echo(f"  dashboard   {url}/")
    click.echo(f'  SDK         configure(..., endpoint="{url}/v4/")')
    click.echo(f"  financial   {url}/dashboards/v4/financial/")
    click.echo(f"  database    {db}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="0: any free port."
)
@_db_option("SQLite file to store into (default: collector.sqlite in the per-user data folder).")
@click.option(
    "--api-key",
    envvar="USAGEANALYTICS_COLLECTOR_API_KEY",
    help="Accept only this API key (default: any key, but Basic auth is still required).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def collector(host: str, port: int, db: Path | None, api_key: str | None, log_level: str) -> None:
    """Run the local collector: SmartKarrot's v4 API, stored in SQLite, with a dashboard."""
    _require_extra()
    from .server import default_db_path, serve

    path = (db or default_db_path()).expanduser().resolve()
    if not is_loopback(host):
        click.echo(
            f"warning: listening on {host}: the dashboard has no login; anyone who can reach it can read it"
        )

    def ready(url: str) -> None:
        announce(url, path)
        click.echo("Press Ctrl-C to stop.")

    serve(path, host, port, api_key, log_level=log_level, on_ready=ready)


@click.command()
@click.option(
    "--port",
    default=8787,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Falls back to a free port if taken.",
)
@_db_option("SQLite file for the demo's collector (default: demo.sqlite in the per-user data folder).")
@click.option(
    "--serve/--no-serve", default=True, show_default=True, help="Keep serving the dashboard until Ctrl-C."
)
def demo(port: int, db: Path | None, serve: bool) -> None:
    """Start a collector, run a small instrumented app against it, and show the dashboard."""
    _require_extra()
    from .demo import run_demo

    run_demo(port=port, db=db, keep_serving=serve, echo=click.echo)


@click.command()
@_db_option("The collector database (default: the collector's own).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--table",
    default="events",
    show_default=True,
    help="What to export: events, users, sessions, ... or all (jsonl).",
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    help="File to write (default: stdout).",
)
def export(db: Path | None, fmt: str, table: str, output: IO[str]) -> None:
    """Export what a collector stored, as JSON lines or CSV."""
    from .export import export_rows
    from .server import default_db_path

    path = (db or default_db_path()).expanduser()
    if not path.is_file():
        raise click.ClickException(f"no collector database at {path} (give --db)")
    written = export_rows(path, table, fmt, output)
    click.echo(f"exported {written:,} rows", err=True)


commands: list[click.Command] = [collector, demo, export]

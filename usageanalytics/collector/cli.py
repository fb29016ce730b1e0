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

from .requestlog import DEFAULT_KEEP

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
    click.echo(f"  debugger    {url}/debugger")
    click.echo(f'  SDK         configure(..., endpoint="{url}/v4/")')
    click.echo(f"  financial   {url}/dashboards/v4/financial/")
    click.echo(f"  database    {db}")


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; beyond loopback it needs --dashboard-token.",
)
@click.option(
    "--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="0: any free port."
)
@_db_option("SQLite file to store into (default: collector.sqlite in the per-user data folder).")
@click.option(
    "--api-key",
    envvar="USAGEANALYTICS_COLLECTOR_API_KEY",
    show_envvar=True,
    help="Accept only this API key (default: any key, but Basic auth is still required).",
)
@click.option(
    "--dashboard-token",
    envvar="USAGEANALYTICS_DASHBOARD_TOKEN",
    show_envvar=True,
    help="Require this token for the dashboard and read API (needed to listen beyond loopback).",
)
@click.option(
    "--request-log-size",
    default=DEFAULT_KEEP,
    show_default=True,
    type=click.IntRange(0),
    help="Requests the debugger keeps (0: none).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def collector(
    host: str,
    port: int,
    db: Path | None,
    api_key: str | None,
    dashboard_token: str | None,
    request_log_size: int,
    log_level: str,
) -> None:
    """Run the local collector: the v4 API into SQLite, a dashboard and a debugger."""
    _require_extra()
    from .server import UnsafeBinding, check_binding, default_db_path, serve

    try:
        check_binding(host, dashboard_token)
    except UnsafeBinding as exc:
        raise click.UsageError(str(exc)) from None
    path = (db or default_db_path()).expanduser().resolve()

    def ready(url: str) -> None:
        announce(url, path)
        if dashboard_token:
            click.echo(f"  token       the dashboard needs it: open {url}/?token=<your token> once")
        click.echo("Press Ctrl-C to stop.")

    serve(
        path,
        host,
        port,
        api_key,
        log_level=log_level,
        on_ready=ready,
        dashboard_token=dashboard_token,
        request_log_size=request_log_size,
    )


@click.command()
@click.option(
    "--port",
    default=8787,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Falls back to a free port if taken.",
)
@_db_option("SQLite file to seed (default: the collector's own, so `collector` and `export` find it).")
@click.option("--reset", is_flag=True, help="Delete the database first and seed afresh.")
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Serve the dashboard until Ctrl-C, or seed and exit.",
)
@click.option(
    "--app",
    type=click.Choice(["fastapi", "flask"]),
    help="Also run examples/<APP>_app.py (source checkout) reporting to the demo's collector.",
)
def demo(port: int, db: Path | None, reset: bool, serve: bool, app: str | None) -> None:
    """Four weeks of a demo app in a local collector, and its dashboard.

    The history goes through the real SDK (backdated events) into the collector's database.
    With --app, an example app you can click through runs beside it, live.
    """
    _require_extra()
    from .demo import DemoError, run_demo

    if app is not None and not serve:
        raise click.UsageError("--app needs the dashboard served (drop --no-serve)")
    try:
        run_demo(port=port, db=db, keep_serving=serve, echo=click.echo, reset=reset, app=app)
    except DemoError as error:
        raise click.ClickException(str(error)) from None


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

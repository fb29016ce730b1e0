"""Core commands: inspect an SDK data folder and replay what the server rejected."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..status import read_status


def _data_dir(data_dir: str | None, app_id: str | None) -> Path:
    if data_dir:
        return Path(data_dir).expanduser()
    if app_id:
        from ..client import default_data_dir

        return default_data_dir(app_id)
    raise click.UsageError(
        "give --data-dir (or USAGEANALYTICS_DATA_DIR), or --app-id (or USAGEANALYTICS_APP_ID) "
        "to use the app's default data folder"
    )


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    age = time.time() - epoch
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(epoch))} ({age:,.0f} s ago)"


_data_dir_option = click.option(
    "--data-dir",
    envvar="USAGEANALYTICS_DATA_DIR",
    type=click.Path(file_okay=False),
    help="The SDK data folder (or USAGEANALYTICS_DATA_DIR).",
)


@click.command()
@_data_dir_option
@click.option(
    "--app-id",
    envvar="USAGEANALYTICS_APP_ID",
    help="Use this app's default data folder (or USAGEANALYTICS_APP_ID).",
)
def status(data_dir: str | None, app_id: str | None) -> None:
    """Show a data folder's ledger and queue: records logged, delivered, dead-lettered, dropped
    (by reason) and still queued, the oldest one, and the last error.

    The folder is --data-dir, else USAGEANALYTICS_DATA_DIR, else the default folder of --app-id
    (or USAGEANALYTICS_APP_ID).
    """
    folder = _data_dir(data_dir, app_id)
    if not folder.is_dir():
        raise click.ClickException(f"{folder} is not an SDK data folder (it does not exist)")
    info = read_status(folder)
    totals = info.totals
    click.echo(f"data folder      {folder}")
    click.echo(f"queued records   {info.queued:,}")
    click.echo(f"held records     {info.held:,}  (a guest without a customer account)")
    click.echo(f"oldest record    {_when(info.oldest)}")
    click.echo(f"dead letters     {info.dead_letters:,} batches, {info.dead_letter_records:,} records")
    click.echo(f"last error       {info.last_error or '-'}")
    consent = {"out": "opted out", "in": "opted in"}.get(info.consent or "", "no choice saved")
    click.echo(f"consent          {consent}")
    click.echo("ledger (every process that used this folder, so far):")
    click.echo(f"  logged         {totals.get('logged', 0):,}")
    click.echo(f"  delivered      {totals.get('delivered', 0):,}")
    click.echo(
        f"  dead-lettered  {totals.get('dead_lettered', 0):,}  (replayed {totals.get('replayed', 0):,})"
    )
    dropped = info.dropped
    click.echo(f"  dropped        {sum(dropped.values()):,}")
    for reason, count in sorted(dropped.items(), key=lambda item: -item[1]):
        click.echo(f"    {count:>10,}  {reason}")
    if info.quarantined:
        click.echo(
            f"quarantined      {info.quarantined:,} damaged items or queues in {folder / 'quarantine'}"
        )
    for entry in info.folders:
        owner = "live process" if entry.owner_alive else "no live owner (will be adopted)"
        if entry.unreadable:
            click.echo(f"  queue {entry.name}: unreadable ({entry.unreadable}), {owner}")
        else:
            click.echo(f"  queue {entry.name}: {entry.queued:,} queued, {entry.held:,} held, {owner}")


@click.command("replay-dead-letters")
@_data_dir_option
@click.option(
    "--app-id",
    envvar="USAGEANALYTICS_APP_ID",
    required=True,
    help="The SmartKarrot app id (or USAGEANALYTICS_APP_ID).",
)
@click.option(
    "--api-key",
    envvar="USAGEANALYTICS_API_KEY",
    required=True,
    help="The API key (or USAGEANALYTICS_API_KEY).",
)
@click.option(
    "--endpoint",
    envvar="USAGEANALYTICS_ENDPOINT",
    default=None,
    help="The v4 base URL (or USAGEANALYTICS_ENDPOINT).",
)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the sends.")
def replay_dead_letters(
    data_dir: str | None, app_id: str, api_key: str, endpoint: str | None, timeout: float
) -> None:
    """Queue every rejected batch again and send it (after fixing what the server refused)."""
    from ..client import Client

    folder = _data_dir(data_dir, app_id)
    client = Client(
        app_id, api_key=api_key, endpoint=endpoint, data_dir=str(folder), collect_device_attributes=False
    )
    letters = client.dead_lettered()
    if not letters:
        client.shutdown(timeout=5)
        click.echo("no dead letters")
        return
    with click.progressbar(length=len(letters), label="replaying") as bar:
        count = client.replay_dead_letters()
        bar.update(count)
    sent = client.shutdown(timeout=timeout)
    remaining = len(client.dead_letters.list())
    click.echo(
        f"replayed {count} batches; {'all sent' if sent else 'not all sent yet'}"
        f"{f'; {remaining} rejected again' if remaining else ''}"
    )
    if remaining or not sent:
        raise SystemExit(1)


commands: list[click.Command] = [status, replay_dead_letters]

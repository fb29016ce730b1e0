"""The ``usageanalytics`` command: one click group; each part of the package adds its commands.

The core's commands live in :mod:`usageanalytics.cli.core`; the collector's (``collector``,
``demo``, ``export``) in :mod:`usageanalytics.collector.cli`; the REST admin tasks (``tickets``,
``contacts``) in :mod:`usageanalytics.api.cli`. Those modules import their heavy dependencies
inside the commands, so ``usageanalytics --help`` stays fast and works without the extras.
"""

from __future__ import annotations

import logging

import click

from .._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="usageanalytics")
@click.option("-v", "--verbose", is_flag=True, help="Log what the SDK does.")
def main(verbose: bool) -> None:
    """SmartKarrot usage analytics: local collector, demo, queue status and admin tasks."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    from ..api.cli import commands as api_commands
    from ..collector.cli import commands as collector_commands
    from .core import commands as core_commands
    from .run import commands as run_commands

    for command in (*core_commands, *collector_commands, *api_commands, *run_commands):
        main.add_command(command)


_register()

"""The ``usageanalytics`` command: one click group; each part of the package adds its commands.

The core's commands live in :mod:`usageanalytics.cli.core`; the collector's (``collector``,
``demo``, ``export``) in :mod:`usageanalytics.collector.cli`; the REST admin tasks (``tickets``,
``contacts``) in :mod:`usageanalytics.api.cli`. Those modules import their heavy dependencies
inside the commands, so ``usageanalytics --help`` stays fast and works without the extras.

``--help`` lists the commands in two groups: the local tools, which work on this machine without
a SmartKarrot account, and the admin commands, which call SmartKarrot's REST API.
"""

from __future__ import annotations

import logging

import click

from .._version import __version__

LOCAL_TOOLS = ("demo", "collector", "export", "status", "replay-dead-letters", "run")
SECTIONS = (
    ("Local tools (this machine, no SmartKarrot account needed)", LOCAL_TOOLS),
    (
        "SmartKarrot admin (REST API: --app-id, --api-key or USAGEANALYTICS_*)",
        ("tickets", "contacts", "agents"),
    ),
)


class SectionedGroup(click.Group):
    """A group whose help lists its commands under :data:`SECTIONS` (others under "Other")."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = {
            name: command
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        }
        limit = formatter.width - 6 - max((len(name) for name in commands), default=0)
        placed: set[str] = set()
        for title, names in (*SECTIONS, ("Other commands", tuple(commands))):
            rows = [
                (name, commands[name].get_short_help_str(limit))
                for name in names
                if name in commands and name not in placed
            ]
            placed.update(name for name, _ in rows)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(cls=SectionedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="usageanalytics")
@click.option("-v", "--verbose", is_flag=True, help="Log what the SDK does.")
def main(verbose: bool) -> None:
    """SmartKarrot usage analytics: local collector, demo, queue status and admin tasks.

    New here? `usageanalytics demo` fills a local collector with four weeks of a demo app and
    opens its dashboard.
    """
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

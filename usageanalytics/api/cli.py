"""REST admin commands for the ``usageanalytics`` CLI (filled in by the REST client work)."""

from __future__ import annotations

import click

commands: list[click.Command] = []

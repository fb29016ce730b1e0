"""Collector commands for the ``usageanalytics`` CLI (filled in by the collector work)."""

from __future__ import annotations

import click

commands: list[click.Command] = []

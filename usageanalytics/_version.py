"""The package version, in one place for the User-Agent and the CLI."""

__version__ = "0.1.0"

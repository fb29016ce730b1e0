"""Exceptions raised by usageanalytics.

Tracking calls never raise in production: bad input is logged and the valid part kept. These
exceptions reach the application only from ``configure()`` (a configuration mistake is a bug to fix
before shipping) and, when ``strict=True``, from tracking calls (so tests fail loudly).
"""

from __future__ import annotations


class UsageAnalyticsError(Exception):
    """Base class of every exception this package raises."""


class ConfigurationError(UsageAnalyticsError, ValueError):
    """A setting given to ``configure()`` (or read from the environment) cannot work."""


class TrackingInputError(UsageAnalyticsError, ValueError):
    """A tracking call got input the wire contract cannot carry (raised only in strict mode)."""

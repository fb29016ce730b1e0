"""The dashboard's HTML: one Jinja2 environment (autoescaped) and the filters its pages share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def duration(seconds: float | None) -> str:
    """``42s``, ``4m 05s``, ``1h 02m``; ``-`` when there is nothing to average."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def milliseconds(value: float) -> str:
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def moment(utc: str | None) -> str:
    """``2024-05-03T15:02:00.000Z`` as ``2024-05-03 15:02 UTC``."""
    return "-" if not utc else f"{utc[:10]} {utc[11:16]} UTC"


def seconds_of(utc: str | None) -> str:
    """``2024-05-03T15:02:07.123Z`` as ``15:02:07``."""
    return "-" if not utc else utc[11:19]


def change(current: float | None, previous: float | None) -> str:
    """``+12 %``, ``-3 %``, ``new`` or ``-`` against the previous period."""
    if current is None or previous is None:
        return "-"
    if previous == 0:
        return "new" if current else "-"
    percent = (current - previous) / previous * 100
    return f"{percent:+.0f} %"


def trend(current: float | None, previous: float | None) -> str:
    """``up``, ``down`` or ``flat``: the CSS class of a change."""
    if current is None or previous is None or current == previous:
        return "flat"
    return "up" if current > previous else "down"


_VERSION = re.compile(r"\d+(?:\.\d+)+")


def device_label(attributes: dict[str, Any]) -> str:
    """``Ubuntu 22.04 · dana-laptop``: OS name and a readable version, then the device name.

    An OS version that is a build string (``#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1``) is shortened
    to the first version number in it.
    """
    os_name = str(attributes.get("OS Distribution") or attributes.get("OS") or "").strip()
    version = str(attributes.get("OS Version") or "").strip()
    if len(version) > 16 or " " in version:
        found = _VERSION.search(version)
        version = found.group(0) if found else ""
    system = " ".join(part for part in (os_name, version) if part)
    device = str(attributes.get("Device Name") or attributes.get("Model") or "").strip()
    return " · ".join(part for part in (system, device) if part) or "unknown device"


def path_part(value: str) -> str:
    """A value as one URL path segment (``/`` and ``?`` escaped). A browser drops the segments
    ``.`` and ``..`` (escaped too), so those, and values that start with ``~``, get a leading
    ``~`` (see :func:`from_path_part`)."""
    if value in (".", "..") or value.startswith("~"):
        value = "~" + value
    return quote(value, safe="")


def from_path_part(segment: str) -> str:
    """The value :func:`path_part` wrote (the framework has already unescaped it)."""
    return segment[1:] if segment.startswith("~") else segment


_templates.filters.update(
    duration=duration,
    ms=milliseconds,
    moment=moment,
    seconds_of=seconds_of,
    change=change,
    trend=trend,
    device_label=device_label,
    path_part=path_part,
)


def render(name: str, **context: Any) -> str:
    from .period import today

    context.setdefault("today", today())
    return _templates.get_template(name).render(context)

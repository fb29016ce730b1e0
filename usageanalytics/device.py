"""Device attributes a Python host can report, under the spec's pre-defined keys.

Collected once per process in the background (reading locale data and ``/sys`` takes
milliseconds) and sent only when they differ from what this data folder last sent. The Device ID
is a random id persisted in the data folder, never a hardware address.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import locale
import logging
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

from .settings import Settings

logger = logging.getLogger("usageanalytics")


def _read_first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            value = handle.readline().strip()
    except OSError:
        return None
    return value or None


def _os_name_and_version() -> tuple[str, str, str | None]:
    """(OS, OS Version, distribution) with the kernel or OS release as the version."""
    system = platform.system()
    if system == "Darwin":
        return "macOS", platform.mac_ver()[0] or platform.release(), None
    if system == "Windows":
        return "Windows", platform.version(), None
    distribution = None
    if system == "Linux":
        with contextlib.suppress(OSError):
            distribution = platform.freedesktop_os_release().get("PRETTY_NAME")
    return system or sys.platform, platform.release(), distribution


def _make_and_model() -> tuple[str | None, str | None]:
    if sys.platform == "darwin":
        return "Apple", platform.machine() or None
    vendor = _read_first_line("/sys/class/dmi/id/sys_vendor")
    model = _read_first_line("/sys/class/dmi/id/product_name")
    return vendor, model


def locale_codes() -> tuple[str | None, str | None]:
    """(ISO 639-1 language, ISO 3166-1 alpha-2 region) of the host, from its locale settings."""
    candidates = [os.environ.get(name) for name in ("LC_ALL", "LC_MESSAGES", "LANG")]
    with contextlib.suppress(ValueError):
        candidates.append(locale.getlocale()[0])
    for candidate in candidates:
        if not candidate or candidate in ("C", "POSIX") or candidate.startswith("C."):
            continue
        tag = candidate.split(".")[0].split("@")[0].replace("-", "_")
        language, _, region = tag.partition("_")
        if len(language) == 2 and language.isalpha():
            region_code = region.upper() if len(region) == 2 and region.isalpha() else None
            return language.lower(), region_code
    return None, None


def currency_for_region(region: str | None) -> str | None:
    """The ISO 4217 currency of a region, from CLDR data (Babel)."""
    if not region:
        return None
    try:
        from babel.numbers import get_territory_currencies

        currencies = get_territory_currencies(region)
    except Exception:  # unknown region or Babel missing: report nothing rather than guess
        return None
    return currencies[0] if currencies else None


def _main_distribution() -> tuple[str | None, str | None]:
    """Name and version of the distribution that provides ``__main__``, when there is one."""
    main = sys.modules.get("__main__")
    package = getattr(main, "__package__", None) or ""
    top = package.split(".")[0]
    if not top:
        return None, None
    names = metadata.packages_distributions().get(top)
    if not names:
        return top, None
    try:
        return names[0], metadata.version(names[0])
    except metadata.PackageNotFoundError:
        return names[0], None


def app_name_default() -> str:
    name, _ = _main_distribution()
    if name:
        return name
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
    return script or "python"


def collect(settings: Settings, device_id: str) -> dict[str, str]:
    """The device attributes for this host and app, as strings (spec: deviceAttributes map)."""
    os_name, os_version, distribution = _os_name_and_version()
    make, model = _make_and_model()
    language, region = locale_codes()
    dist_name, dist_version = _main_distribution()
    app_name = settings.app_name or dist_name or app_name_default()
    values: dict[str, str | None] = {
        "Device ID": device_id,
        "Device Name": socket.gethostname() or None,
        "Make": make,
        "Model": model,
        "OS": os_name,
        "OS Version": os_version,
        "System Language": language,
        "System Currency": currency_for_region(region),
        "System Region": region,
        "App Name": app_name,
        "App Bundle Identifier": settings.bundle_id or app_name,
        "App Build": settings.app_build or settings.app_version or dist_version,
        "App Version": settings.app_version or dist_version,
        "OS Distribution": distribution,
        "Python Version": platform.python_version(),
    }
    return {key: value for key, value in values.items() if value}


def fingerprint(attributes: dict[str, str]) -> str:
    """A stable digest of the attributes, stored to send them again only when they change."""
    encoded = json.dumps(attributes, sort_keys=True).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()

"""Device attributes: collected on the host, sent once, sent again only when they change."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.support.strict_server import StrictServer
from usageanalytics import device


def _device_requests(server: StrictServer) -> list[dict[str, Any]]:
    return server.bodies("usageanalytics/device/attribute")


def test_attributes_sent_once_and_again_when_they_change(server: StrictServer, make_client: Any) -> None:
    first = make_client(collect_device_attributes=True, app_version="1.0")
    assert first.flush(30)
    (sent,) = _device_requests(server)
    attributes = sent["deviceAttributes"]
    assert attributes["Device ID"] == first.device_id == sent["deviceId"]
    assert uuid.UUID(first.device_id).version == 4, "a random id, never a hardware address"
    assert attributes["App Version"] == "1.0"
    for key in ("OS", "OS Version", "Device Name", "App Name", "App Bundle Identifier"):
        assert attributes.get(key), key
    first.shutdown(10)

    same = make_client(collect_device_attributes=True, app_version="1.0")
    assert same.device_id == first.device_id
    assert same.flush(30)
    same.shutdown(10)
    assert len(_device_requests(server)) == 1, "unchanged attributes are not sent again"

    upgraded = make_client(collect_device_attributes=True, app_version="1.1")
    assert upgraded.flush(30)
    assert [r["deviceAttributes"]["App Version"] for r in _device_requests(server)] == ["1.0", "1.1"]


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("de_DE.UTF-8", ("de", "DE", "EUR")),
        ("en_IN", ("en", "IN", "INR")),
        ("ja_JP.UTF-8", ("ja", "JP", "JPY")),
    ],
)
def test_locale_codes_in_iso_formats(
    monkeypatch: pytest.MonkeyPatch, lang: str, expected: tuple[str, str, str]
) -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)
    language, region = device.locale_codes()
    assert (language, region, device.currency_for_region(region)) == expected


def test_collected_values_have_the_spec_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    from usageanalytics.settings import resolve_settings

    monkeypatch.setenv("LANG", "fr_CA.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    settings = resolve_settings("app", api_key="k", app_name="Tasks", bundle_id="com.example.tasks")
    attributes = device.collect(settings, "device-1")
    assert re.fullmatch(r"[a-z]{2}", attributes["System Language"])
    assert re.fullmatch(r"[A-Z]{2}", attributes["System Region"])
    assert re.fullmatch(r"[A-Z]{3}", attributes["System Currency"])
    assert attributes["App Name"] == "Tasks"
    assert attributes["App Bundle Identifier"] == "com.example.tasks"
    assert all(isinstance(v, str) and v for v in attributes.values())

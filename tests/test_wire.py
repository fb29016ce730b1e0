"""Typed values and timestamps in the spec's wire format."""

from __future__ import annotations

import math
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from usageanalytics import wire


def test_timestamps_are_utc_iso8601_with_milliseconds_and_z() -> None:
    assert wire.timestamp(1538215124.635) == "2018-09-29T09:58:44.635Z"
    assert wire.timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert wire.timestamp(1538215124.9999) == "2018-09-29T09:58:45.000Z"  # nearest millisecond


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, {"dataType": "Boolean", "booleanValue": True}),
        (False, {"dataType": "Boolean", "booleanValue": False}),
        (96, {"dataType": "Number", "numberValue": 96}),
        (32.3, {"dataType": "Number", "numberValue": 32.3}),
        ("en-us", {"dataType": "String", "stringValue": "en-us"}),
        (date(2020, 1, 31), {"dataType": "Date", "stringValue": "2020-01-31"}),
        (
            datetime(2018, 9, 29, 11, 58, 44, 635000, tzinfo=timezone(timedelta(hours=2))),
            {"dataType": "Date", "stringValue": "2018-09-29T09:58:44.635Z"},
        ),
    ],
)
def test_typed_values(value: object, expected: dict[str, object]) -> None:
    assert wire.typed_value(value) == expected


def test_naive_datetimes_are_local_time() -> None:
    naive = datetime(2021, 6, 1, 12, 0, 0)
    expected = naive.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert wire.typed_value(naive)["stringValue"] == expected
    offset = time.localtime(naive.timestamp()).tm_gmtoff
    assert expected == (naive - timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_numbers_json_cannot_carry_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="not a number JSON can carry"):
        wire.typed_value(value)


@pytest.mark.parametrize("value", [None, [1], {"a": 1}, b"bytes", object()])
def test_unsupported_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="not a supported attribute type"):
        wire.typed_value(value)


def test_standard_user_attributes_have_the_spec_wire_names() -> None:
    assert [a.value for a in wire.UserAttribute] == [
        "User Id", "Name", "Email Id", "Mobile Number", "Date Of Birth", "Gender", "Country",
        "Language", "Designation", "Persona",
    ]  # fmt: skip

"""The pure-Python request checks (shared with the core's strict test server)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.collector.conftest import sample
from usageanalytics.collector import validation
from usageanalytics.collector.validation import InvalidInput


def test_strict_demands_what_the_tables_require_and_lenient_accepts_the_samples() -> None:
    for path, name in [
        ("usageanalytics/user", "user"),
        ("usageanalytics/user/attribute", "user_attributes"),
        ("usageanalytics/event", "session_start"),
        ("usageanalytics/event", "session_end"),
    ]:
        validation.validate_tracking(path, sample(name), strict=False)
        with pytest.raises(InvalidInput):
            validation.validate_tracking(path, sample(name), strict=True)
    complete = dict(sample("session_start"), sessionId="s", idempotencyId="i")
    validation.validate_tracking("/usageanalytics/event/", complete, strict=True)


def test_orders_accept_product_id_only_when_lenient() -> None:
    order = sample("order")
    order["productId"] = order.pop("orgProductId")
    validation.validate_financial("orders", order, strict=False)
    with pytest.raises(InvalidInput, match="orgProductId"):
        validation.validate_financial("orders", order, strict=True)
    with pytest.raises(KeyError):
        validation.validate_financial("invoices", order)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (0.05, True),
        ("0.05", True),
        (0, True),
        (1, True),
        (1.5, False),
        ("5%", False),
        (True, False),
        (None, False),
    ],
)
def test_churn_tolerance_is_a_fraction_number_or_decimal_string(value: object, ok: bool) -> None:
    body = {"appId": "a", "logoChurnTolerance": value}
    if ok:
        validation.validate_financial("app-financial-data", body)
    else:
        with pytest.raises(InvalidInput, match="logoChurnTolerance"):
            validation.validate_financial("app-financial-data", body)


@pytest.mark.parametrize(
    ("person", "problem"),
    [
        ({"email": "a@b.c", "firstName": "A"}, None),
        ({"firstName": "A"}, "email"),
        ({"email": "not an email", "firstName": "A"}, "email"),
        ({"email": "a@b.c"}, "firstName"),
        ({"email": "a@b.c", "firstName": "A", "role": 3}, "role"),
        ("a@b.c", "item"),
    ],
)
def test_person_problems(person: object, problem: str | None) -> None:
    found = validation.person_problem(person, validation.CONTACT_FIELDS)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_contacts_limit() -> None:
    assert validation.validate_contacts_query({"appId": "a"}) == 1000
    assert validation.validate_contacts_query({"appId": "a", "limit": 2}) == 2
    for bad in (0, 1001, "x", 2.5, True):
        with pytest.raises(InvalidInput, match="limit"):
            validation.validate_contacts_query({"appId": "a", "limit": bad})


def test_importing_the_collector_package_loads_no_web_stack() -> None:
    code = (
        "import sys, usageanalytics.collector, usageanalytics.collector.validation, "
        "usageanalytics.collector.query, usageanalytics.collector.cli\n"
        "heavy = [m for m in ('starlette', 'uvicorn', 'pygal', 'jinja2') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

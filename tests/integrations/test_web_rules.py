"""Which paths the web integrations never count as pages, and which responses are pages."""

from __future__ import annotations

import re

import pytest

from usageanalytics.webcapture import is_page, path_rules


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("/health", True),
        ("/health/db", True),
        ("/healthy-recipes", False),
        ("/static/app.css", True),
        ("/static", False),  # "/static/" is a folder rule
        ("/favicon.ico", True),
        ("/robots.txt", True),
        ("/metrics", True),
        ("/.well-known/security.txt", True),
        ("/admin", True),
        ("/admin/users", True),
        ("/administrators", False),
        ("/reports/2024", True),
        ("/reports/2024/q1", False),  # the pattern is anchored at both ends
        ("/exports/7", True),
        ("/", False),
        ("/users/7", False),
    ],
)
def test_default_and_added_rules(path: str, excluded: bool) -> None:
    rules = path_rules(["admin", r"^/reports/\d+$", re.compile(r"/exports/")])
    assert rules.excludes(path) is excluded


def test_a_bad_rule_is_reported_and_the_others_still_apply(caplog: pytest.LogCaptureFixture) -> None:
    rules = path_rules(["^/broken(", 42, "/private/"])
    assert rules.excludes("/private/x")
    assert not rules.excludes("/broken(")
    assert "is invalid" in caplog.text
    assert "neither a path nor a pattern" in caplog.text


@pytest.mark.parametrize(
    ("method", "status", "content_type", "page"),
    [
        ("GET", 200, "text/html; charset=utf-8", True),
        ("GET", 203, "TEXT/HTML", True),
        ("HEAD", 200, "text/html", False),
        ("POST", 200, "text/html", False),
        ("GET", 302, "text/html", False),
        ("GET", 404, "text/html", False),
        ("GET", 200, "application/json", False),
        ("GET", 200, None, False),
    ],
)
def test_what_is_a_page(method: str, status: int, content_type: str | None, page: bool) -> None:
    assert is_page(method, status, content_type) is page


def identify_for_tests(request: object) -> None:
    return None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (identify_for_tests, identify_for_tests),
        ("tests.integrations.test_web_rules:identify_for_tests", identify_for_tests),
        ("tests.integrations.test_web_rules.identify_for_tests", identify_for_tests),
    ],
)
def test_identify_setting_takes_a_callable_or_its_import_path(value: object, expected: object) -> None:
    from usageanalytics.settings import resolve_settings

    settings = resolve_settings("app", api_key="k", identify=value)
    assert settings.identify is expected
    assert settings.capture_api_calls is False


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("identify", 42, "identify must be a callable"),
        ("identify", "no.such.module:fn", "cannot import 'no.such.module'"),
        ("identify", "tests.integrations.test_web_rules:nothing_here", "has no attribute 'nothing_here'"),
        ("identify", "tests.integrations.test_web_rules:pytest", "is not callable"),
        ("capture_api_calls", "yes", "capture_api_calls must be True or False"),
        ("capture_api_calls", 1, "capture_api_calls must be True or False"),
    ],
)
def test_bad_web_settings_fail_at_configure(option: str, value: object, message: str) -> None:
    from usageanalytics.errors import ConfigurationError
    from usageanalytics.settings import resolve_settings

    with pytest.raises(ConfigurationError, match=message):
        resolve_settings("app", api_key="k", **{option: value})


def test_user_ids_are_read_from_the_shapes_apps_keep_them_in() -> None:
    import sqlite3

    from usageanalytics.webcapture import user_id_of

    class Model:
        def __init__(self, id: object) -> None:
            self.id = id

    row = sqlite3.connect(":memory:")
    row.row_factory = sqlite3.Row
    record = row.execute("SELECT 7 AS id, 'ada' AS username").fetchone()
    assert user_id_of(record) == "7"
    assert user_id_of({"id": 3, "name": "x"}) == "3"
    assert user_id_of(Model(9)) == "9"
    assert user_id_of(Model(None)) is None
    assert user_id_of({"username": "ada"}) is None  # a username is not an id
    assert user_id_of("ada") is None
    assert user_id_of(None) is None
    assert user_id_of(Model(True)) is None

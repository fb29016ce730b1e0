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

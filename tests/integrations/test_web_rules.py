"""Which paths the web integrations never count as pages, and which responses are pages."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usageanalytics.webcapture import is_page, path_rules, read_cookies


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


# -- the visitor's cookies, read straight from the Cookie header ----------------------------------

# The regular expressions the cookies were read with before read_cookies found them with
# str.find: the reference the faster reading must agree with on any header.
_VISITOR_BY_SEARCH = re.compile(r"(?:^|[;,]\s*)ua_visitor=([0-9a-f]{32})(?=$|[;,\s])")
_REDIRECTS_BY_SEARCH = re.compile(r"(?:^|[;,]\s*)ua_redirects=([0-9]{1,2})(?=$|[;,\s])")
_VISITOR = "0123456789abcdef" * 2


def _read_by_search(header: str) -> tuple[str | None, int]:
    visitor = _VISITOR_BY_SEARCH.search(header)
    redirects = _REDIRECTS_BY_SEARCH.search(header)
    return (visitor.group(1) if visitor else None), (min(int(redirects.group(1)), 20) if redirects else 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"ua_visitor={_VISITOR}", (_VISITOR, 0)),
        (f"_ga=GA1.1.1; theme=dark; ua_visitor={_VISITOR}; _gid=2", (_VISITOR, 0)),
        (f"a=1;ua_visitor={_VISITOR},b=2", (_VISITOR, 0)),
        (f"a=1;  \tua_visitor={_VISITOR}\n", (_VISITOR, 0)),
        (f"xua_visitor={_VISITOR}; ua_visitor={'f' * 32}", ("f" * 32, 0)),  # another cookie's name
        (f"ua_visitor={_VISITOR.upper()}", (None, 0)),  # not our shape: a new visitor
        (f"ua_visitor={_VISITOR}0", (None, 0)),
        (f" ua_visitor={_VISITOR}", (None, 0)),
        (f"ua_visitor=bad; ua_visitor={_VISITOR}", (_VISITOR, 0)),  # the first of our shape
        (f"ua_visitor={_VISITOR}; ua_redirects=3", (_VISITOR, 3)),
        ("ua_redirects=99; ua_visitor=x", (None, 20)),
        ("ua_redirects=123", (None, 0)),
        ("", (None, 0)),
    ],
)
def test_the_visitor_cookies_are_read_from_the_header(header: str, expected: tuple[str | None, int]) -> None:
    assert read_cookies(header) == expected == _read_by_search(header)


_COOKIE_CHARACTERS = list("ua_visitor=redcts0123456789abcdefABCDEF;, \t\n\x85\xa0x")
_COOKIE_TEXT = st.text(alphabet=st.sampled_from(_COOKIE_CHARACTERS))
_COOKIE_PARTS = [f"ua_visitor={_VISITOR}", "ua_redirects=7", "; ", ",", " ", "\n", "ua_visitor="]


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    st.lists(
        st.one_of(
            _COOKIE_TEXT,
            st.sampled_from(_COOKIE_PARTS),
        ),
        max_size=8,
    ).map("".join)
)
def test_reading_the_cookies_agrees_with_a_regular_expression_search(header: str) -> None:
    assert read_cookies(header) == _read_by_search(header)

"""Privacy choices at their edges: an opt-out given before configure() is kept and applied; a
before_send that tracks from inside itself, or returns a Mapping that cannot be read, fails
closed; a consent answer whose truth cannot be read is no consent, in Flask, Django and FastAPI."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.apps.django_site.settings")

from django.test import Client as DjangoBrowser
from fastapi.testclient import TestClient

import usageanalytics as ua
from tests.integrations.apps.fastapi_site import create_app as create_fastapi_app
from tests.integrations.apps.flask_site import create_app as create_flask_app
from tests.integrations.helpers import flushed
from tests.support.strict_server import StrictServer
from usageanalytics.ledger import BEFORE_SEND_FAILED, NO_CONSENT, OPTED_OUT

Configure = Callable[..., ua.Client]


pytestmark = pytest.mark.usefixtures("django_site")  # tests/integrations/conftest.py


def app_events(server: StrictServer) -> list[str]:
    return [e["name"] for e in server.events() if not e["name"].startswith("app_session")]


class Unreadable:
    """A consent answer (a mock, a lazy object) whose truth cannot be read."""

    def __bool__(self) -> bool:
        raise ValueError("truth value is ambiguous")


def test_an_opt_out_before_configure_is_applied_when_it_runs(
    server: StrictServer, configure: Configure, tmp_path: Path
) -> None:
    ua.opt_out()
    assert ua.is_opted_out()
    client = configure()
    assert ua.is_opted_out() and client.is_opted_out()
    ua.log_event("Not Recorded")
    ua.opt_in()
    ua.log_event("Recorded")
    flushed(server)
    assert app_events(server) == ["Recorded"]
    assert client.stats().dropped.get(OPTED_OUT) == 1


def test_an_opt_in_before_configure_gives_a_consent_first_app_its_consent(
    server: StrictServer, configure: Configure
) -> None:
    ua.opt_in()
    assert not ua.is_opted_out()
    configure(opt_out_by_default=True)
    assert not ua.is_opted_out()
    ua.log_event("Consented Early")
    flushed(server)
    assert app_events(server) == ["Consented Early"]


def test_a_before_send_that_tracks_from_inside_fails_closed_without_recursing(
    server: StrictServer, configure: Configure
) -> None:
    seen: list[str] = []

    def before_send(record: dict[str, Any]) -> dict[str, Any]:
        seen.append(record["name"])
        ua.log_event("Inner")  # would run before_send again, and again
        return record

    client = configure(before_send=before_send)
    ua.log_event("Outer")
    ua.set_user_attribute("Plan", "Pro")
    flushed(server)
    assert app_events(server) == ["Outer"]
    assert [name for name in seen if not name.startswith("app_session")] == ["Outer", "Plan"]
    assert client.stats().dropped.get(BEFORE_SEND_FAILED) == len(seen)  # each inner call
    assert client.stats().balanced


def test_a_before_send_returning_a_mapping_that_cannot_be_read_fails_closed(
    server: StrictServer, configure: Configure
) -> None:
    class Broken(Mapping[str, Any]):
        def __init__(self, record: dict[str, Any]) -> None:
            self.record = record

        def __iter__(self) -> Iterator[str]:
            return iter(self.record)

        def __len__(self) -> int:
            return len(self.record)

        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("broken mapping")

    client = configure(before_send=lambda record: Broken(record) if record["name"] == "Odd" else record)
    ua.log_event("Odd")
    ua.log_event("Fine")
    flushed(server)
    assert app_events(server) == ["Fine"]
    assert client.stats().dropped.get(BEFORE_SEND_FAILED) == 1


def test_a_consent_answer_that_cannot_be_read_is_no_consent_everywhere(
    server: StrictServer, configure: Configure
) -> None:
    client = configure(consent=lambda request: Unreadable())
    flask_browser = create_flask_app().test_client()
    assert flask_browser.get("/track").status_code == 200
    assert flask_browser.get_cookie("ua_visitor") is None
    django_response = DjangoBrowser().get("/track/")
    assert django_response.status_code == 200 and "ua_visitor" not in django_response.cookies
    with TestClient(create_fastapi_app()) as fastapi_browser:
        response = fastapi_browser.get("/track")
        assert response.status_code == 200 and "set-cookie" not in response.headers
    flushed(server)
    assert app_events(server) == [], "the views' own events are refused as without consent"
    assert client.stats().dropped.get(NO_CONSENT, 0) >= 3

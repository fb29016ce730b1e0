"""Flask logins the conventions do not name. ``g.user = current_user``, a common Flask-Login
idiom: capture reads the user without resolving the proxy, so the app's user loaders run no
more often than without the SDK. A user kept under another session key: ``ua.reset_user()`` in
the logout view makes that browser a new guest (never the server process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, g, session
from flask_login import LoginManager, UserMixin, current_user, login_user

import usageanalytics as ua
from tests.integrations.helpers import flushed, screen_views
from tests.integrations.test_flask import visitor_of
from tests.support.strict_server import StrictServer

Configure = Callable[..., ua.Client]


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def create_app(loads: list[str]) -> Flask:
    app = Flask(__name__)
    app.secret_key = "test"
    login = LoginManager(app)

    @login.user_loader
    def load_user(user_id: str) -> User:
        loads.append("user_loader")  # a database query in a real app
        return User(user_id)

    @login.request_loader
    def load_from_request(request: Any) -> None:
        loads.append("request_loader")
        return None

    @app.before_request
    def remember_user() -> None:
        g.user = current_user  # the proxy itself, not the user

    @app.get("/")
    def index() -> str:
        return "<p>welcome</p>"

    @app.post("/login/<name>")
    def log_in(name: str) -> str:
        login_user(User(name))
        return "<p>in</p>"

    return app


def test_g_user_as_current_user_is_not_resolved(server: StrictServer, configure: Configure) -> None:
    configure()
    loads: list[str] = []
    browser = create_app(loads).test_client()
    browser.get("/")
    assert loads == [], "the SDK made Flask-Login load the user"
    guest = visitor_of(browser)
    browser.post("/login/ada")
    loads.clear()
    browser.get("/")
    assert loads == []
    views = screen_views(flushed(server))
    assert views[-1] == ("ada", "/") and len(views) == 2, views  # the guest's page moved to ada
    assert guest


def create_uid_app() -> Flask:
    app = Flask(__name__)
    app.secret_key = "test"

    @app.before_request
    def load_user() -> None:
        uid = session.get("uid")
        g.user = {"id": uid} if uid is not None else None

    @app.get("/")
    def index() -> str:
        return "<p>home</p>"

    @app.post("/login/<name>")
    def log_in(name: str) -> str:
        session["uid"] = name
        return "<p>in</p>"

    @app.post("/logout")
    def log_out() -> str:
        session.pop("uid", None)
        ua.reset_user()
        return "<p>out</p>"

    return app


def test_reset_user_in_a_logout_view_makes_the_browser_a_new_guest(
    server: StrictServer, configure: Configure
) -> None:
    client = configure()
    process_guest = client.user_id
    browser = create_uid_app().test_client()
    browser.get("/")
    browser.post("/login/grace")
    browser.get("/")
    before = visitor_of(browser)
    browser.post("/logout")
    after = visitor_of(browser)
    browser.get("/")
    assert after != before, "the browser got a new guest id"
    assert client.user_id == process_guest, "the server process's own user is untouched"
    views = screen_views(flushed(server))
    assert views[-1] == (after, "/"), views  # the page after logout is the new guest's
    assert ("grace", "/") in views

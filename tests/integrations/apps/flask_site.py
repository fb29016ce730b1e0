"""A small Flask site for the auto-capture tests: pages, non-pages, Flask-Login, a static folder."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, redirect, request
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

import usageanalytics as ua

STATIC = Path(__file__).resolve().parent / "static"


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def create_app(**config: Any) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC))
    app.secret_key = "not-a-secret"
    app.config.update(config)
    app.user_loads = []  # type: ignore[attr-defined]  # ids the user loader was asked for
    app.pair = threading.Barrier(2)  # type: ignore[attr-defined]
    login = LoginManager(app)

    @login.user_loader
    def load_user(user_id: str) -> User:
        app.user_loads.append(user_id)  # type: ignore[attr-defined]
        return User(user_id)

    @app.get("/")
    def home() -> str:
        return "<h1>Home</h1>"

    @app.get("/users/<int:uid>")
    def user_page(uid: int) -> str:
        return f"<h1>User {uid}</h1>"

    @app.get("/api/items")
    def items() -> Any:
        return jsonify(items=[1, 2])

    @app.get("/go")
    def go() -> Any:
        return redirect("/")

    @app.get("/missing")
    def missing() -> str:
        abort(404)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("the view failed")

    @app.get("/health")
    def health() -> str:
        return "<p>ok</p>"

    @app.get("/favicon.ico")
    def favicon() -> str:
        return "<p>icon</p>"

    @app.get("/robots.txt")
    def robots() -> str:
        return "<p>robots</p>"

    @app.get("/admin/panel")
    def admin() -> str:
        return "<h1>Admin</h1>"

    @app.get("/reports/<int:year>")
    def report(year: int) -> str:
        return f"<h1>Report {year}</h1>"

    @app.route("/form", methods=["GET", "POST"])
    def form() -> str:
        return "<form method=post></form>"

    @app.post("/login/<name>")
    def do_login(name: str) -> Any:
        login_user(User(name))
        return redirect("/")

    @app.post("/logout")
    def do_logout() -> Any:
        logout_user()
        return redirect("/")

    @app.get("/me")
    def me() -> str:
        name = current_user.get_id() if current_user.is_authenticated else "guest"
        return f"<h1>{name}</h1>"

    @app.get("/slow")
    def slow() -> str:
        time.sleep(0.05)
        return "<h1>Slow</h1>"

    @app.get("/together/<name>")
    def together(name: str) -> str:
        """Two visitors' requests held open at the same time: each waits for the other."""
        try:
            app.pair.wait(timeout=20)  # type: ignore[attr-defined]
        except threading.BrokenBarrierError:
            app.pair.reset()  # type: ignore[attr-defined]
        return f"<h1>{name} {request.cookies.get('ua_visitor', '')}</h1>"

    @app.get("/track")
    def track() -> str:
        ua.log_event("Exported Report", {"Module": "Reports"})
        return "<h1>Tracked</h1>"

    return app

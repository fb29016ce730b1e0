"""The Flask tutorial's app ("flaskr"), reduced to its auth and blog index, written as the tutorial
writes it: a SQLite database through ``sqlite3`` with ``Row`` rows, ``session["user_id"]`` set at
login, ``g.user`` loaded in a ``before_app_request`` hook, ``session.clear()`` at logout. Nothing
in it knows about the SDK."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, flash, g, redirect, render_template_string, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT UNIQUE NOT NULL,
  password TEXT NOT NULL
);
"""
LAYOUT = """<!doctype html><title>{{ title }} - Flaskr</title>
<nav>{% if g.user %}<span>{{ g.user['username'] }}</span>
{% else %}<a href="{{ url_for('auth.login') }}">Log In</a>{% endif %}</nav>
<h1>{{ title }}</h1>"""


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(g.database, detect_types=sqlite3.PARSE_DECLTYPES)
        g.db.row_factory = sqlite3.Row
    return g.db  # type: ignore[no-any-return]


def close_db(error: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.route("/register", methods=("GET", "POST"))
def register() -> Any:
    if request.method == "POST":
        db = get_db()
        db.execute(
            "INSERT INTO user (username, password) VALUES (?, ?)",
            (request.form["username"], generate_password_hash(request.form["password"])),
        )
        db.commit()
        return redirect(url_for("auth.login"))
    return render_template_string(LAYOUT, title="Register")


@bp.route("/login", methods=("GET", "POST"))
def login() -> Any:
    if request.method == "POST":
        user = (
            get_db().execute("SELECT * FROM user WHERE username = ?", (request.form["username"],)).fetchone()
        )
        if user is None or not check_password_hash(user["password"], request.form["password"]):
            flash("Incorrect username or password.")
        else:
            session.clear()
            session["user_id"] = user["id"]
            return redirect(url_for("index"))
    return render_template_string(LAYOUT, title="Log In")


@bp.before_app_request
def load_logged_in_user() -> None:
    user_id = session.get("user_id")
    if user_id is None:
        g.user = None
    else:
        g.user = get_db().execute("SELECT * FROM user WHERE id = ?", (user_id,)).fetchone()


@bp.route("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("index"))


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped_view(**kwargs: Any) -> Any:
        if g.user is None:
            return redirect(url_for("auth.login"))
        return view(**kwargs)

    return wrapped_view


def create_app(database: str, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(SECRET_KEY="dev", **config)

    @app.before_request
    def database_path() -> None:
        g.database = database

    app.teardown_appcontext(close_db)
    with sqlite3.connect(database) as db:
        db.executescript(SCHEMA)
    app.register_blueprint(bp)

    @app.route("/")
    def index() -> str:
        return render_template_string(LAYOUT, title="Posts")

    @app.route("/<int:id>/update", methods=("GET", "POST"))
    @login_required
    def update(id: int) -> str:
        return render_template_string(LAYOUT, title=f"Edit {id}")

    return app

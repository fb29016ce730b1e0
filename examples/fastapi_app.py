"""A small FastAPI app whose analytics come from one ``configure()`` call and nothing else.

    python examples/fastapi_app.py [--port 8000]
    uvicorn examples.fastapi_app:app            # the same app under any ASGI server

Every page you open is a "Screen View" named by its route template (``/articles/{article_id}``,
router prefixes included) and a ``page_load_event``, for a visitor known by a cookie set on
pages only; JSON answers are "API Call" events (``capture_api_calls=True``), redirects and
errors are neither. Sign in with any name (a form, no password): Starlette's
``AuthenticationMiddleware`` puts the user in ``request.user``, and from then on the visitor's
pages, and what they did as a guest, are theirs. Reports to the local collector
(``usageanalytics collector``, http://127.0.0.1:8787) unless ``USAGEANALYTICS_ENDPOINT`` and
``USAGEANALYTICS_API_KEY`` say otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from urllib.parse import parse_qs

import usageanalytics as ua

ua.configure(
    os.environ.get("USAGEANALYTICS_APP_ID", "example-fastapi"),
    api_key=os.environ.get("USAGEANALYTICS_API_KEY", "demo"),
    endpoint=os.environ.get("USAGEANALYTICS_ENDPOINT", "http://127.0.0.1:8787/v4/"),
    customer_account_id="demo-account",
    flush_interval=5.0,
    capture_api_calls=True,
)

# Any import order works; this one reads best.
import jinja2  # noqa: E402
from fastapi import APIRouter, FastAPI, Request  # noqa: E402
from fastapi.responses import HTMLResponse, RedirectResponse  # noqa: E402
from fastapi.templating import Jinja2Templates  # noqa: E402
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser  # noqa: E402
from starlette.middleware.authentication import AuthenticationMiddleware  # noqa: E402
from starlette.requests import HTTPConnection  # noqa: E402

ARTICLES = {1: "Getting started", 2: "Auto-capture", 3: "Sessions"}
PAGES = {
    "layout.html": """<!doctype html><title>{{ title }} - Example</title>
<p><a href="/">Home</a> · <a href="/articles/latest">latest</a> ·
{% if request.user.is_authenticated %}signed in as {{ request.user.display_name }}
<form method="post" action="/logout" style="display:inline"><button>Sign out</button></form>
{% else %}<a href="/login">sign in</a>{% endif %}</p>
{% block body %}{% endblock %}""",
    "home.html": """{% extends "layout.html" %}{% block body %}<h1>Articles</h1><ul>
{% for n, title in articles.items() %}<li><a href="/articles/{{ n }}">{{ title }}</a></li>{% endfor %}
</ul>{% endblock %}""",
    "article.html": """{% extends "layout.html" %}{% block body %}<h1>{{ title }}</h1>{% endblock %}""",
    "login.html": """{% extends "layout.html" %}{% block body %}<h1>Sign in</h1>
<form method="post"><input name="name" placeholder="any name"><button>Sign in</button></form>
{% endblock %}""",
}
templates = Jinja2Templates(env=jinja2.Environment(loader=jinja2.DictLoader(PAGES), autoescape=True))


class NameCookie(AuthenticationBackend):
    """Signed in = a ``name`` cookie (an example, not a way to authenticate real users)."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        name = conn.cookies.get("name")
        return (AuthCredentials(["authenticated"]), SimpleUser(name)) if name else None


app = FastAPI(title="usageanalytics example")
app.add_middleware(AuthenticationMiddleware, backend=NameCookie())
articles = APIRouter(prefix="/articles")


@app.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "home.html", {"title": "Articles", "articles": ARTICLES})


@articles.get("/latest")
def latest() -> RedirectResponse:
    return RedirectResponse(f"/articles/{max(ARTICLES)}", status_code=302)  # not a page itself


@articles.get("/{article_id}", response_class=HTMLResponse)
def article(request: Request, article_id: int) -> HTMLResponse:
    title = ARTICLES.get(article_id, "Not written yet")
    ua.log_event("Article Read", {"Article": article_id})  # your own events: the visitor's too
    return templates.TemplateResponse(request, "article.html", {"title": title})


app.include_router(articles)


@app.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"title": "Sign in"})


@app.post("/login")
async def login(request: Request) -> RedirectResponse:
    # The form read by hand, so the example needs no python-multipart.
    name = parse_qs((await request.body()).decode()).get("name", ["guest"])[0]
    response = RedirectResponse("/", status_code=303)
    response.set_cookie("name", name, httponly=True, samesite="lax")
    return response


@app.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie("name")
    return response


@app.get("/api/articles")
def api_articles() -> dict[str, object]:
    return {"articles": ARTICLES}  # JSON: an "API Call", not a page


def main() -> None:
    import socket

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free one")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", parser.parse_args().port))
    listener.listen(128)  # connections wait in the backlog while uvicorn starts, not refused
    print(f"Serving on http://127.0.0.1:{listener.getsockname()[1]}/ (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn stops gracefully, then raises Ctrl-C again
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])


if __name__ == "__main__":
    main()

"""A small Flask app whose analytics come from one ``configure()`` call and nothing else.

    python examples/flask_app.py [--port 5000]

Every page you open is a "Screen View" named by its route (``/articles/<int:article_id>``) and a
``page_load_event``, for a visitor known by a cookie; JSON, redirects and errors are not pages.
Reports to the local collector (``usageanalytics collector``, http://127.0.0.1:8787) unless
``USAGEANALYTICS_ENDPOINT`` and ``USAGEANALYTICS_API_KEY`` say otherwise.
"""

from __future__ import annotations

import argparse
import os

import usageanalytics as ua

ua.configure(
    "example-flask",
    api_key=os.environ.get("USAGEANALYTICS_API_KEY", "demo"),
    endpoint=os.environ.get("USAGEANALYTICS_ENDPOINT", "http://127.0.0.1:8787/v4/"),
    customer_account_id="demo-account",
    flush_interval=5.0,
)

from flask import Flask, redirect  # noqa: E402  (any order works; this reads best)

app = Flask(__name__)
ARTICLES = {1: "Getting started", 2: "Auto-capture", 3: "Sessions"}


def layout(body: str) -> str:
    nav = "<a href='/'>Home</a> · <a href='/latest'>latest</a>"
    return f"<!doctype html><title>Example</title><p>{nav}</p>{body}"


@app.get("/")
def home() -> str:
    links = "".join(f"<li><a href='/articles/{n}'>{title}</a></li>" for n, title in ARTICLES.items())
    return layout(f"<h1>Articles</h1><ul>{links}</ul>")


@app.get("/articles/<int:article_id>")
def article(article_id: int) -> str:
    return layout(f"<h1>{ARTICLES.get(article_id, 'Not written yet')}</h1>")


@app.get("/latest")
def latest() -> object:
    return redirect(f"/articles/{max(ARTICLES)}")  # a redirect: the page it leads to counts it


@app.get("/api/articles")
def api_articles() -> dict[str, object]:
    return {"articles": ARTICLES}  # JSON: not a page, not captured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    port = parser.parse_args().port
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    print(f"Serving on http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        ua.shutdown()


if __name__ == "__main__":
    main()

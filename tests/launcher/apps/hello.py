"""A Flask app as Flask's quickstart writes it: no usageanalytics anywhere."""

import os

from flask import Flask
from markupsafe import escape

app = Flask(__name__)


@app.route("/")
def hello_world():
    return "<p>Hello, World!</p>"


@app.route("/user/<username>")
def show_user_profile(username):
    return f"<p>User {escape(username)}</p>"


@app.route("/api/status")
def status():
    return {"ok": True, "pid": os.getpid()}  # JSON: not a page


if __name__ == "__main__":
    print(f"PID {os.getpid()}", flush=True)
    app.run(port=int(os.environ.get("PORT", "0")))

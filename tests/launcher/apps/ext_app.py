"""A Flask app set up the Flask-extension way: an application factory and init_app."""

import os

from flask import Flask

from usageanalytics_flask import UsageAnalytics

analytics = UsageAnalytics()


def create_app():
    app = Flask(__name__)
    app.config.from_mapping(USAGEANALYTICS_APP_ID="flask-ext", USAGEANALYTICS_COLLECT_DEVICE_ATTRIBUTES=False)
    app.config.from_prefixed_env()  # FLASK_USAGEANALYTICS_CUSTOMER_ACCOUNT_ID=... and the like
    analytics.init_app(app)

    @app.get("/")
    def index():
        return "<h1>Index</h1>"

    @app.get("/posts/<int:post_id>")
    def post(post_id):
        return f"<h1>Post {post_id}</h1>"

    @app.get("/api/status")
    def status():
        return {"pid": os.getpid()}

    return app

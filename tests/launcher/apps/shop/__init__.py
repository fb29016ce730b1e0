"""A package run with ``python -m shop``: a Flask app built by a factory."""

from flask import Flask, render_template_string


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index():
        return render_template_string("<h1>{{ title }}</h1>", title="Shop")

    @app.get("/products/<int:product_id>")
    def product(product_id):
        return render_template_string("<h1>Product {{ id }}</h1>", id=product_id)

    return app

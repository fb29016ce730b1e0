"""ASGI entry point: ``uvicorn --app-dir examples/django_project mysite.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from . import analytics  # noqa: F401  (configures the SDK)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_asgi_application()

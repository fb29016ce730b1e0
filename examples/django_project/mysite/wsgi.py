"""WSGI entry point (``runserver`` uses it too)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from . import analytics  # noqa: F401  (configures the SDK)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()

"""Settings of the small Django site the auto-capture tests serve."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SECRET_KEY = "not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "tests.integrations.apps.django_site.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
# Cookie sessions: reading the session costs no query, so a test can count the queries the
# integration forces (none) without the session's own.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("UA_TEST_DJANGO_DB")
        or str(Path(tempfile.mkdtemp(prefix="ua-django-")) / "site.sqlite3"),
    }
}
STATIC_URL = "/assets/"
MEDIA_URL = "/uploads/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TEMPLATES: list[dict[str, object]] = []

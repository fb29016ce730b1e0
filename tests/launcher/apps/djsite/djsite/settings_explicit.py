"""The same project set up the Django way: the app in INSTALLED_APPS and a USAGEANALYTICS dict."""

import os

from djsite.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "usageanalytics_django"]  # noqa: F405
USAGEANALYTICS = {
    "APP_ID": "django-explicit",
    "API_KEY": os.environ["DJSITE_UA_KEY"],
    "ENDPOINT": os.environ["DJSITE_UA_ENDPOINT"],
    "CUSTOMER_ACCOUNT_ID": "acct-django",
    "FLUSH_INTERVAL": "3600",  # text, as os.environ would give it
    "COLLECT_DEVICE_ATTRIBUTES": False,
}

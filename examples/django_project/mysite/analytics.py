"""The project's whole analytics set-up: one ``configure()`` call, made where the server starts.

Reports to the local collector (``usageanalytics collector``, http://127.0.0.1:8787) unless
``USAGEANALYTICS_ENDPOINT`` and ``USAGEANALYTICS_API_KEY`` say otherwise.
"""

from __future__ import annotations

import os

import usageanalytics as ua

ua.configure(
    "example-django",
    api_key=os.environ.get("USAGEANALYTICS_API_KEY", "demo"),
    endpoint=os.environ.get("USAGEANALYTICS_ENDPOINT", "http://127.0.0.1:8787/v4/"),
    customer_account_id="demo-account",
    flush_interval=5.0,
)

"""The FastAPI test site as a module for real servers: ``uvicorn tests.integrations.apps.fastapi_main:app``.

``UA_TEST_ORDER`` picks the import order: ``configure-first`` (``configure()`` before FastAPI is
imported at all) or ``app-first`` (the app is built, then ``configure()``). The SDK reads its app
id, key and endpoint from the environment and sends nothing before it stops, so what arrives was
delivered by the exit path (the session's end included).
"""

from __future__ import annotations

import os
import sys

import usageanalytics as ua


def configure() -> None:
    ua.configure(
        customer_account_id="acct-1",
        collect_device_attributes=False,
        flush_interval=3600.0,
        capture_api_calls=True,
        exit_timeout=20.0,
    )


if os.environ.get("UA_TEST_ORDER", "configure-first") == "configure-first":
    configure()
    assert "fastapi" not in sys.modules and "starlette" not in sys.modules, "the SDK imported the framework"
    from tests.integrations.apps.fastapi_site import create_app

    app = create_app()
else:
    from tests.integrations.apps.fastapi_site import create_app

    app = create_app()
    configure()

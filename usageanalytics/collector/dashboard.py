"""The dashboard at ``/`` (a first version: record counts; charts come next)."""

from __future__ import annotations

import html
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .query import Received


def dashboard_routes(db_path: Path) -> list[Route]:
    received = Received(db_path)

    async def page(request: Request) -> Response:
        counts = await run_in_threadpool(received.counts)
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in counts.items())
        return HTMLResponse(f"<!doctype html><title>usageanalytics collector</title><table>{rows}</table>")

    return [Route("/", page, methods=["GET"])]

"""A FastAPI site written the way FastAPI's tutorial teaches, for the ASGI auto-capture tests.

Jinja2 templates, an ``APIRouter`` with a prefix included under another prefix, a mounted
sub-application, ``StaticFiles``, Starlette's ``AuthenticationMiddleware`` (a bearer token names
the user), an ``@app.middleware("http")`` that sets ``request.state.user`` from an API key, a
dependency, ``BackgroundTasks``, a streaming page, a websocket and a lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import Response

import usageanalytics as ua

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


class BearerNames(AuthenticationBackend):
    """``Authorization: Bearer <name>`` logs in as ``<name>`` (a stand-in for a real check)."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        header = conn.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(header.removeprefix("Bearer "))


def page(text: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><h1>{text}</h1>")


def tracked_dependency() -> None:
    ua.log_event("Dependency Ran", {"Module": "Dependency"})


class Pair:
    """Two requests held open together: each waits until the other has arrived."""

    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[None]] = []

    async def meet(self) -> None:
        if self.waiting:
            self.waiting.pop().set_result(None)
            return
        arrived = asyncio.get_running_loop().create_future()
        self.waiting.append(arrived)
        try:
            await asyncio.wait_for(arrived, timeout=20)
        except asyncio.TimeoutError:
            if arrived in self.waiting:
                self.waiting.remove(arrived)


def create_app(**options: Any) -> FastAPI:
    started: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started.append("up")
        yield
        started.append("down")

    app = FastAPI(lifespan=lifespan, **options)
    app.state.lifespan_events = started
    pair = Pair()

    @app.middleware("http")
    async def api_key_user(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        key = request.headers.get("x-api-key")
        if key:
            request.state.user = {"id": f"key-{key}", "name": "an API client"}
        return await call_next(request)

    app.add_middleware(AuthenticationMiddleware, backend=BearerNames())

    shop = APIRouter(prefix="/shop", tags=["shop"])

    @shop.get("/items/{item_id}", response_class=HTMLResponse)
    async def item(request: Request, item_id: int) -> Response:
        return templates.TemplateResponse(request, "item.html", {"item_id": item_id})

    @shop.get("/items/{item_id}/json")
    async def item_json(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app.include_router(shop, prefix="/v1")

    admin = FastAPI()

    @admin.get("/panels/{panel}", response_class=HTMLResponse)
    def panel(panel: str) -> str:
        return f"<h1>Panel {panel}</h1>"

    app.mount("/admin", admin)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        return "<!doctype html><h1>Home</h1>"

    @app.get("/api/items/{item_id}")
    def api_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.post("/api/items", status_code=201)
    def create_item() -> dict[str, str]:
        return {"created": "yes"}

    @app.get("/go")
    def go() -> RedirectResponse:
        return RedirectResponse("/", status_code=302)

    @app.get("/boom", response_class=HTMLResponse)
    def boom() -> str:
        raise RuntimeError("the view failed")

    @app.get("/missing", response_class=HTMLResponse)
    def missing() -> str:
        raise HTTPException(status_code=404)

    @app.get("/health", response_class=HTMLResponse)
    def health() -> str:
        return "<p>ok</p>"

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[str]:
            yield "<!doctype html><h1>Streaming</h1>"
            for n in range(3):
                await asyncio.sleep(0.05)
                yield f"<p>part {n}</p>"

        return StreamingResponse(chunks(), media_type="text/html")

    @app.get("/background", response_class=HTMLResponse)
    def background(tasks: BackgroundTasks) -> str:
        tasks.add_task(ua.log_event, "Background Done", {"Module": "Background"})
        return "<h1>Queued</h1>"

    @app.get("/track", response_class=HTMLResponse, dependencies=[Depends(tracked_dependency)])
    async def track() -> str:
        ua.log_event("Exported Report", {"Module": "Reports"})
        return "<h1>Tracked</h1>"

    @app.get("/me", response_class=HTMLResponse)
    def me(request: Request) -> str:
        user = request.user
        return f"<h1>{user.display_name if user.is_authenticated else 'guest'}</h1>"

    @app.get("/together/{name}", response_class=HTMLResponse)
    async def together(name: str) -> str:
        await pair.meet()
        ua.log_event("Held Open", {"Name": name})
        return f"<h1>{name}</h1>"

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"echo {text}")
        await websocket.close()

    return app

"""A FastAPI app as FastAPI's tutorial writes it; only /track calls the SDK (a custom event)."""

import os

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

import usageanalytics as ua

app = FastAPI()


@app.get("/", response_class=HTMLResponse)
async def home():
    return "<h1>Home</h1>"


@app.get("/items/{item_id}", response_class=HTMLResponse)
async def read_item(item_id: int):
    return f"<h1>Item {item_id}</h1>"


@app.get("/api/items")
async def list_items():
    return {"items": [1, 2], "pid": os.getpid()}


@app.get("/track")
def track():
    ua.log_event("Tracked In Server", {"Pid": os.getpid()})
    return {"pid": os.getpid()}

"""Views of the small Django site: pages, non-pages, login, sync and async."""

from __future__ import annotations

import asyncio
import threading
import time

from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

import usageanalytics as ua

_pair = threading.Barrier(2)
_waiting: list[asyncio.Future[None]] = []


def page(text: str) -> HttpResponse:
    return HttpResponse(f"<h1>{text}</h1>")


def home(request: HttpRequest) -> HttpResponse:
    return page("Home")


def user_page(request: HttpRequest, uid: int) -> HttpResponse:
    return page(f"User {uid}")


def post(request: HttpRequest, slug: str) -> HttpResponse:
    return page(f"Post {slug}")


def archive(request: HttpRequest, year: str) -> HttpResponse:
    return page(f"Archive {year}")


def legacy(request: HttpRequest, code: str) -> HttpResponse:
    return page(f"Legacy {code}")


def items(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"items": [1, 2]})


def go(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect("/")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view failed")


def health(request: HttpRequest) -> HttpResponse:
    return page("ok")


def robots(request: HttpRequest) -> HttpResponse:
    return HttpResponse("User-agent: *", content_type="text/plain")


def asset(request: HttpRequest, name: str) -> HttpResponse:
    return page("an asset served as HTML")


@csrf_exempt
def do_login(request: HttpRequest, name: str) -> HttpResponse:
    user, _ = User.objects.get_or_create(username=name)
    login(request, user)
    return HttpResponseRedirect("/")


@csrf_exempt
def do_logout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect("/")


def me(request: HttpRequest) -> HttpResponse:
    user = request.user
    return page(user.get_username() if user.is_authenticated else "guest")


def slow(request: HttpRequest) -> HttpResponse:
    time.sleep(0.05)
    return page("Slow")


def together(request: HttpRequest, name: str) -> HttpResponse:
    """Two visitors' requests held open at the same time: each waits for the other."""
    try:
        _pair.wait(timeout=20)
    except threading.BrokenBarrierError:
        _pair.reset()
    return page(name)


async def together_async(request: HttpRequest, name: str) -> HttpResponse:
    """The same on the event loop (ASGI runs sync views one at a time in one thread)."""
    if _waiting:
        _waiting.pop().set_result(None)
    else:
        waiter = asyncio.get_running_loop().create_future()
        _waiting.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout=20)
        except asyncio.TimeoutError:
            if waiter in _waiting:
                _waiting.remove(waiter)
    return page(name)


def track(request: HttpRequest) -> HttpResponse:
    ua.log_event("Exported Report", {"Module": "Reports"})
    return page("Tracked")


async def async_page(request: HttpRequest, n: int) -> HttpResponse:
    return page(f"Async {n}")


async def async_me(request: HttpRequest) -> HttpResponse:
    user = await request.auser()
    return page(user.get_username() if user.is_authenticated else "guest")


async def async_track(request: HttpRequest) -> HttpResponse:
    ua.log_event("Exported Report", {"Module": "Async"})
    return page("Tracked")

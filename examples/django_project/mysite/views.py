"""The example's views: plain Django, not a line about analytics."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect

ARTICLES = {1: "Getting started", 2: "Auto-capture", 3: "Sessions"}


def layout(request: HttpRequest, body: str) -> HttpResponse:
    user = request.user
    token = f"<input type=hidden name=csrfmiddlewaretoken value={get_token(request)}>"
    who = (
        f"Signed in as {user.get_username()} · "
        f"<form method=post action=/logout/ style=display:inline>{token}<button>log out</button></form>"
        if user.is_authenticated
        else "<a href='/login/'>log in</a>"
    )
    nav = "<a href='/'>Home</a> · <a href='/articles/'>Articles</a> · <a href='/live/'>Live</a>"
    return HttpResponse(f"<!doctype html><title>Example</title><p>{nav} · {who}</p>{body}")


def home(request: HttpRequest) -> HttpResponse:
    return layout(request, "<h1>Welcome</h1>")


def article_list(request: HttpRequest) -> HttpResponse:
    items = "".join(f"<li><a href='/articles/{n}/'>{title}</a></li>" for n, title in ARTICLES.items())
    return layout(request, f"<h1>Articles</h1><ul>{items}</ul>")


def article(request: HttpRequest, article_id: int) -> HttpResponse:
    return layout(request, f"<h1>{ARTICLES.get(article_id, 'Not written yet')}</h1>")


async def live(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<!doctype html><h1>Live (an async view)</h1>")


def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        user, _ = User.objects.get_or_create(username=request.POST.get("name") or "reader")
        login(request, user)
        return redirect("/")
    form = (
        f"<form method=post><input type=hidden name=csrfmiddlewaretoken value={get_token(request)}>"
        "<input name=name placeholder=name><button>Log in</button></form>"
    )
    return layout(request, form)


def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/")


def api_articles(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"articles": ARTICLES})  # JSON: not a page, not captured

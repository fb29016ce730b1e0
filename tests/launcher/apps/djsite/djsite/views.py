import os

from django.http import HttpResponse, JsonResponse


def index(request):
    return HttpResponse("<h1>Hello, world.</h1>")


def year_archive(request, year):
    return HttpResponse(f"<h1>Articles of {year}</h1>")


def status(request):
    return JsonResponse({"pid": os.getpid()})  # JSON: not a page

from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render

SECTIONS = {
    "lists": (
        "Lists",
        "Static lists group contacts by hand or from an import, for campaign targeting.",
    ),
    "segments": (
        "Segments",
        "Segments keep themselves up to date from rules such as “company is Acme and tag is VIP”.",
    ),
    "imports": (
        "Imports",
        "Imports bring in CSV and Excel files with column mapping, validation and undo.",
    ),
}


def landing(request):
    return render(request, "public/landing.html")


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


def coming_soon(request, section: str):
    """Sections whose features land in later releases: an honest empty state, not a fake page."""
    title, blurb = SECTIONS[section]
    return render(
        request, "coming_soon.html", {"title": title, "blurb": blurb, "section": section}
    )

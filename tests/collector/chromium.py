"""Headless Chromium (Debian's ``chromium``, installed by .ci/run) run once on a page, and a parser
for the marked figures of the dashboard's HTML (Playwright drives the interactive tests)."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise AssertionError("chromium is not installed: .ci/run installs it (apt-get install chromium)")
    return found


def run(url: str, profile: Path, *extra: str) -> str:
    """Run Chromium once on ``url`` with a throwaway profile; its stdout."""
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return done.stdout


def dump_dom(url: str, profile: Path) -> str:
    """The DOM after the page loaded, as Chromium serialises it."""
    return run(url, profile, "--dump-dom", "--virtual-time-budget=5000")


class Marked(HTMLParser):
    """Text of the elements carrying a ``data-*`` mark, and the chart values inside each chart.

    ``texts[("figure", "sessions")]`` is the text of ``<span data-figure="sessions">``;
    ``chart_values["sessions"]`` lists the ``<desc class="value">`` texts of that chart's SVG.
    """

    MARKS = ("data-figure", "data-chart", "data-table", "data-user", "data-account", "data-page")

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[tuple[str, str], str] = {}
        self.chart_values: dict[str, list[str]] = {}
        self.attributes: list[dict[str, str | None]] = []
        self._open: list[tuple[str, tuple[str, str] | None]] = []
        self._chart: str | None = None
        self._in_value = False
        self._buffers: dict[tuple[str, str], list[str]] = {}

    def _separate(self) -> None:
        for buffer in self._buffers.values():  # cells and blocks read as separate words
            buffer.append(" ")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._separate()
        found = dict(attrs)
        self.attributes.append(found)
        mark = next(((m[5:], found[m] or "") for m in self.MARKS if m in found), None)
        if mark is not None:
            self._buffers[mark] = []
            if mark[0] == "chart":
                self._chart = mark[1]
                self.chart_values[mark[1]] = []
        self._in_value = tag == "desc" and found.get("class") == "value"
        if tag not in ("meta", "br", "img", "input", "link"):
            self._open.append((tag, mark))

    def handle_endtag(self, tag: str) -> None:
        self._separate()
        while self._open:
            open_tag, mark = self._open.pop()
            if mark is not None:
                self.texts[mark] = " ".join("".join(self._buffers.pop(mark)).split())
                if mark[0] == "chart":
                    self._chart = None
            if open_tag == tag:
                break
        self._in_value = False

    def handle_data(self, data: str) -> None:
        for buffer in self._buffers.values():
            buffer.append(data)
        if self._in_value and self._chart is not None:
            self.chart_values[self._chart].append(data.strip())


def parse(html: str) -> Marked:
    marked = Marked()
    marked.feed(html)
    marked.close()
    return marked

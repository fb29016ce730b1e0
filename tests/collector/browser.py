"""Playwright driving Debian's Chromium (never a downloaded browser), for the dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.chromium import FLAGS, chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WIDTH = 1400


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium per test module: Playwright's sync API keeps an asyncio loop marked running on
    the main thread while it is open, which code under test elsewhere (Django's async guard,
    asyncio.run) would trip over, so it is closed when the module's tests end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=FLAGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh page 1400 px wide; any JavaScript dialog (an injected alert) fails the test."""
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})  # type: ignore[attr-defined]
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not dialogs, f"a script ran in the page: {dialogs}"
    assert not errors, f"the page's JavaScript failed: {errors}"


def screenshot(page: object, name: str) -> Path:
    """A full-page screenshot at 1400 px wide in artifacts/ (to look at, and for CI to keep)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path

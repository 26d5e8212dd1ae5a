"""A real headless Chromium (Debian's `chromium`, driven by Playwright) against the app that
pytest-django's live_server serves on 127.0.0.1. Screenshots go to test-output/browser/."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "browser"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class BrowserPage:
    """A Playwright page logged in as a persona, which fails the test on any JavaScript error."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))

    def open(self, path: str):
        self.page.goto(self.base_url + path)
        return self.page

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _page_for(browser, live_server, client, user, viewport):
    client.force_login(user)
    context = browser.new_context(viewport=viewport)
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])
    context.set_default_timeout(15_000)
    return context, BrowserPage(context.new_page(), live_server.url)


@pytest.fixture
def member_browser(browser, live_server, client, member):
    """The dashboards as a logged-in member sees them on a desktop screen."""
    context, page = _page_for(browser, live_server, client, member, DESKTOP)
    yield page
    context.close()
    assert page.errors == [], "JavaScript errors on the page"


@pytest.fixture
def member_phone(browser, live_server, client, member):
    """The same at phone width (390 px, an iPhone 12-15)."""
    context, page = _page_for(browser, live_server, client, member, PHONE)
    yield page
    context.close()
    assert page.errors == [], "JavaScript errors on the page"

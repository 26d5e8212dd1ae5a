"""A real headless Chromium (Debian's `chromium`, driven by Playwright) against the app that
pytest-django's live_server serves on 127.0.0.1, logged in as a member. Screenshots go to test-output/browser/."""
from __future__ import annotations

import pytest
from django.conf import settings
from emotions_test_support import BrowserPage

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _logged_in_page(browser, live_server, client, user, viewport) -> BrowserPage:
    client.force_login(user)
    context = browser.new_context(viewport=viewport)
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])
    return BrowserPage(context, live_server.url, 30_000)  # plotly.js parses slowly on a busy 2-core machine


@pytest.fixture
def member_browser(browser, live_server, client, member):
    """The dashboards as a logged-in member sees them on a desktop screen."""
    page = _logged_in_page(browser, live_server, client, member, DESKTOP)
    yield page
    page.close_without_errors()


@pytest.fixture
def member_phone(browser, live_server, client, member):
    """The same at phone width (390 px, an iPhone 12-15)."""
    page = _logged_in_page(browser, live_server, client, member, PHONE)
    yield page
    page.close_without_errors()

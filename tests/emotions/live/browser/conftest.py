"""Chromium with a camera: the fake device Chromium offers for tests, playing a Y4M video of a real face
made here, with the permission granted, refused, or no camera at all. Each is its own browser, launched
through the Playwright instance that tests/emotions/conftest.py's `browser` fixture holds open."""
from __future__ import annotations

from pathlib import Path

import pytest
from emotions_test_support import CHROMIUM, CHROMIUM_ARGS, BrowserPage
from live_test_support import camera_picture, write_y4m
from uploads_test_support import astronaut

FAKE_CAMERA = "--use-fake-device-for-media-stream"
GRANT_CAMERA = "--use-fake-ui-for-media-stream"  # answers the permission prompt with "allow"
REFUSE_CAMERA = "--deny-permission-prompts"  # answers every permission prompt with "block"


@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    """Two seconds of the astronaut in front of a 640x480 camera, drifting a few pixels a frame."""
    photo = astronaut()
    frames = []
    for step in range(20):
        picture = camera_picture(photo, 640, 480)
        shifted = picture.transform(picture.size, 0, (1, 0, step - 10, 0, 1, 0))  # an affine shift, black edge
        frames.append(shifted)
    return write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", frames, fps=10)


def _launch(browser, *args: str):
    return browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *args])


@pytest.fixture(scope="module")
def chromium_filming_a_face(browser, face_video):
    launched = _launch(browser, FAKE_CAMERA, GRANT_CAMERA, f"--use-file-for-fake-video-capture={face_video}")
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def chromium_refusing_the_camera(browser):
    launched = _launch(browser, FAKE_CAMERA, REFUSE_CAMERA)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def chromium_without_a_camera(browser):
    launched = _launch(browser, GRANT_CAMERA)  # no fake device, and this machine has no camera of its own
    yield launched
    launched.close()


def _live_page(launched, live_server, init_script: str = "") -> BrowserPage:
    context = launched.new_context(viewport={"width": 1280, "height": 1000})
    if init_script:
        context.add_init_script(init_script)
    # 60 s: a busy 2-core machine takes seconds to parse plotly.js
    return BrowserPage(context, live_server.url, 60_000, home="/live/")


@pytest.fixture
def page_with_camera(chromium_filming_a_face, live_server):
    live = _live_page(chromium_filming_a_face, live_server)
    yield live
    live.close_without_errors()


@pytest.fixture
def page_refused_the_camera(chromium_refusing_the_camera, live_server):
    live = _live_page(chromium_refusing_the_camera, live_server)
    yield live
    live.close_without_errors()


@pytest.fixture
def page_without_a_camera(chromium_without_a_camera, live_server):
    live = _live_page(chromium_without_a_camera, live_server)
    yield live
    live.close_without_errors()


@pytest.fixture
def page_in_a_browser_without_getusermedia(chromium_filming_a_face, live_server):
    """A browser that has no navigator.mediaDevices (an old one, or a page that is not a secure context)."""
    live = _live_page(chromium_filming_a_face, live_server,
                      "Object.defineProperty(Navigator.prototype, 'mediaDevices', {get: () => undefined});")
    yield live
    live.close_without_errors()

"""The live page in a real headless Chromium whose camera (Chromium's fake device) films a real face: the
face is boxed and labelled on the page, the chart fills, frames go one at a time, and a saved moment is an
upload. A refused camera, no camera and no getUserMedia each say so."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from emotions.models import Upload
from ml.classes import FER_CLASSES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FACE_LINE = re.compile(rf"Face 1: ({'|'.join(FER_CLASSES)}) \((\d+)%\) · box (\d+), (\d+), (\d+), (\d+)")


def painted_pixels(page, x: float, y: float, w: float, h: float) -> int:
    """Opaque pixels of the overlay along the outline of (x, y, w, h), in CSS pixels of the video."""
    return page.evaluate(f"([x, y, w, h]) => {{ {PROBE_OUTLINE} }}", [x, y, w, h])


def painted_around_listed_box(page, scale: float, left: float, top: float) -> tuple[str, int]:
    """The listed face's line and the overlay's opaque pixels along its box, read in one go: a new frame's
    answer redraws both between two separate reads as the face moves."""
    return tuple(page.evaluate(f"""([scale, left, top]) => {{
        const line = document.querySelector("[data-live-faces] li").innerText.trim();
        const [bx, by, bw, bh] = line.match(/box (\\d+), (\\d+), (\\d+), (\\d+)/).slice(1).map(Number);
        const [x, y, w, h] = [left + bx * scale, top + by * scale, bw * scale, bh * scale];
        return [line, (() => {{ {PROBE_OUTLINE} }})()];
    }}""", [scale, left, top]))


PROBE_OUTLINE = """
        const overlay = document.querySelector("[data-overlay]");
        const ratio = overlay.width / overlay.clientWidth;
        const pixels = overlay.getContext("2d").getImageData(0, 0, overlay.width, overlay.height).data;
        const opaque = (px, py) => pixels[(Math.round(py * ratio) * overlay.width + Math.round(px * ratio)) * 4 + 3] > 0;
        let count = 0;
        for (let i = 0; i <= 20; i++) {
            if (opaque(x + w * i / 20, y + h)) count++;   // the bottom edge (the label may cover the top)
            if (opaque(x, y + h * i / 20)) count++;       // the left edge
            if (opaque(x + w, y + h * i / 20)) count++;   // the right edge
        }
        return count;
"""


def test_the_camera_shows_the_face_boxed_with_its_emotion_and_charts_the_last_minute(page_with_camera):
    live = page_with_camera
    page = live.open()
    frames = {"in_flight": 0, "most_in_flight": 0, "sent": 0}

    def sent(request):
        if request.url.endswith("/live/frame/"):
            frames["sent"] += 1
            frames["in_flight"] += 1
            frames["most_in_flight"] = max(frames["most_in_flight"], frames["in_flight"])

    def answered(request):
        if request.url.endswith("/live/frame/"):
            frames["in_flight"] -= 1

    page.on("request", sent)
    page.on("requestfinished", answered)
    page.on("requestfailed", answered)
    assert page.inner_text("[data-live-status]") == "The camera is off."
    page.click("button[data-start]")

    page.wait_for_selector("[data-live-faces] li:not(.empty)")
    found = FACE_LINE.fullmatch(page.inner_text("[data-live-faces] li").strip())
    assert found, page.inner_text("[data-live-faces]")
    label, box = found.group(1), [int(v) for v in found.groups()[2:]]
    x, y, w, h = box
    assert 0 <= x and x + w <= 480 and 0 <= y and y + h <= 360 and 30 < w < 200  # her face in the 480x360 frame
    assert re.search(r"The camera is on · 1 face · model shipped · \d+ ms a frame", page.inner_text("[data-live-status]"))

    # The box on the overlay, where the face is in the video as shown (640x480 on the page, scaled from 480x360).
    shown = page.evaluate("(() => { const v = document.querySelector('video'); return [v.clientWidth, v.clientHeight, v.videoWidth]; })()")
    assert shown[2] == 640
    scale = min(shown[0] / 480, shown[1] / 360)
    left, top = (shown[0] - 480 * scale) / 2, (shown[1] - 360 * scale) / 2
    line, painted = painted_around_listed_box(page, scale, left, top)
    assert FACE_LINE.fullmatch(line) and painted >= 50, (line, painted)  # of 63 probes
    assert painted_pixels(page, 5, shown[1] - 5, 1, 1) == 0  # and nothing far from it

    page.wait_for_function("document.getElementById('live-chart').data[0].x.length >= 3")  # plotly drew the points
    traces = page.evaluate("document.getElementById('live-chart').data.map(t => [t.name, t.y[t.y.length - 1]])")
    assert [name for name, _ in traces] == list(FER_CLASSES)
    assert sum(value for _, value in traces) == pytest.approx(1, abs=1e-2)
    assert max(traces, key=lambda trace: trace[1])[0] in FER_CLASSES
    assert frames["sent"] >= 3 and frames["most_in_flight"] == 1  # never a second frame before the first is answered
    live.screenshot("live-camera")

    page.click("button[data-save]")
    link = page.wait_for_selector("[data-saved] a")
    upload = Upload.objects.get()
    assert link.get_attribute("href") == f"/uploads/{upload.pk}/"
    assert upload.original_name.startswith("live-") and upload.content_type == "image/jpeg"
    assert Image.open(upload.image.path).size == (640, 480)  # the whole picture, not the downscaled frame
    assert label  # (the tiny test model's label is arbitrary, but there is one)

    page.click("button[data-stop]")
    assert page.inner_text("[data-live-status]") == "The camera is off."
    sent_when_stopped = frames["sent"]
    page.wait_for_timeout(1000)
    assert frames["sent"] - sent_when_stopped <= 1 and Upload.objects.count() == 1  # no more frames, nothing stored


def test_a_refused_camera_says_how_to_allow_it(page_refused_the_camera):
    live = page_refused_the_camera
    page = live.open()
    page.click("button[data-start]")
    message = page.wait_for_selector("[data-live-message]:not([hidden])")
    assert message.inner_text().startswith("The camera was refused. Allow this site to use it")
    assert page.is_enabled("button[data-start]") and not page.is_enabled("button[data-save]")
    live.screenshot("live-camera-refused")


def test_no_camera_says_so(page_without_a_camera):
    live = page_without_a_camera
    page = live.open()
    page.click("button[data-start]")
    message = page.wait_for_selector("[data-live-message]:not([hidden])")
    assert message.inner_text().startswith("No camera was found.")
    live.screenshot("live-no-camera")


def test_a_browser_without_getusermedia_says_so_before_anything_is_tried(page_in_a_browser_without_getusermedia):
    live = page_in_a_browser_without_getusermedia
    page = live.open()
    assert page.inner_text("[data-live-message]").startswith("This browser cannot share a camera with a web page.")
    assert not page.is_enabled("button[data-start]")
    live.screenshot("live-unsupported")

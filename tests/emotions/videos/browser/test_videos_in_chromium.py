"""The video pages in a real headless Chromium (Debian's `chromium`, driven by Playwright): a video chosen
on the page, its progress followed live while a worker analyses it, then the scrubber over the annotated
frames and a plotly timeline per face. The worker is a thread of this process running the task, as the
broker would have a worker do."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection
from videos_test_support import face_video
from emotions_test_support import save_screenshot

from emotions.models import Video
from emotions.videos import services
from emotions.videos.tasks import process_video

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def slow_worker(monkeypatch):
    """Videos sent to the queue are analysed by a thread once `start` is set, pausing 2 s at each progress
    report on the way, so the page can be seen following it."""
    start = threading.Event()
    threads = []
    record_progress = Video.record_progress

    def record_slowly(video, done, total):
        updated = record_progress(video, done, total)
        if 0 < done < total:
            threading.Event().wait(2)
        return updated

    def work(video_id):
        try:
            start.wait(60)
            process_video(video_id)
        finally:
            connection.close()

    def deliver(video):
        threads.append(threading.Thread(target=work, args=[str(video.pk)]))
        threads[-1].start()
        return True

    monkeypatch.setattr(Video, "record_progress", record_slowly)
    monkeypatch.setattr(services, "send_video", deliver)
    yield start
    start.set()
    for thread in threads:
        thread.join(60)


def test_a_video_shows_its_progress_live_then_a_scrubber_and_a_timeline_per_face(page, slow_worker):
    page.goto(page.base_url + "/videos/")
    page.set_input_files('input[name="video"]', files=[
        {"name": "interview.mp4", "mimeType": "video/mp4", "buffer": face_video("two.mp4", scene="two")},
    ])
    page.click("text=Analyse the video")
    page.wait_for_selector("text=0 of 12 frames")
    save_screenshot(page, "video-progress")

    slow_worker.set()
    page.wait_for_selector("text=8 of 12 frames")  # updated in place, without a reload
    assert page.evaluate("document.querySelector('[data-video-progress]').value") == 8
    page.wait_for_selector("text=2 faces followed through the video")  # reloaded once done
    for chart in ("#timeline-1", "#timeline-2", "#shares"):
        page.wait_for_selector(f"{chart} .main-svg")  # plotly drew it
    assert page.locator("#timeline-1 .heatmaplayer").count() == 1  # the top-emotion band

    video = Video.objects.get()
    page.wait_for_function("document.querySelector('[data-frame]').complete")
    assert page.evaluate("document.querySelector('[data-frame]').naturalWidth") == 320
    page.fill("[data-scrubber-input]", "5")
    assert page.inner_text("[data-frame-time]") == f"{video.frame_times[5]:.2f} s"
    assert page.get_attribute("[data-frame]", "src") == f"/videos/{video.pk}/frames/5.jpg"
    page.wait_for_function("document.querySelector('[data-frame]').complete "
                           "&& document.querySelector('[data-frame]').naturalWidth === 320")
    save_screenshot(page, "video-result")

    with page.expect_download() as download:
        page.click("text=faces.csv")
    header = Path(download.value.path()).read_text().splitlines()[0]
    assert header.startswith("track,time,x,y,w,h,Angry,") and header.endswith(",label")

"""The upload page in a real headless Chromium (Debian's `chromium`, driven by Playwright): files chosen
or dropped, the result page polling while no worker answers, then the boxed photo and the charts."""
from __future__ import annotations

import base64

import pytest
from emotions_test_support import save_screenshot, upload_in_browser

from emotions.models import Upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

def test_a_chosen_photo_shows_processing_then_its_face_and_chart(page, astronaut_jpeg, settings):
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 2  # no worker: the web process steps in after 2 s
    page.goto(page.base_url + "/upload/")
    page.set_input_files('input[type="file"]', files=[
        {"name": "astronaut.jpg", "mimeType": "image/jpeg", "buffer": astronaut_jpeg},
    ])
    assert page.inner_text("[data-chosen]") == "astronaut.jpg"
    page.click("button[type=submit]")
    page.wait_for_selector("text=Processing")

    page.wait_for_selector("text=1 face found")  # the page reloaded itself once the status said done
    page.wait_for_selector("#face-1 .main-svg")  # plotly drew the probabilities
    assert page.evaluate("document.querySelector('img.annotated').naturalWidth") == 512
    assert Upload.objects.get().predicted_by == "web"
    save_screenshot(page, "upload-result")


def test_photos_dropped_on_the_page_are_uploaded(page, astronaut_jpeg, coffee_jpeg):
    page.goto(page.base_url + "/upload/")
    # A drop as the browser makes it: a DataTransfer holding the files, dispatched on the drop zone.
    page.evaluate("""([astronaut, coffee]) => {
        const transfer = new DataTransfer();
        const file = (name, b64) => new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, {type: "image/jpeg"});
        transfer.items.add(file("astronaut.jpg", astronaut));
        transfer.items.add(file("coffee.jpg", coffee));
        document.querySelector("[data-drop-zone]").dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", [base64.b64encode(astronaut_jpeg).decode(), base64.b64encode(coffee_jpeg).decode()])
    assert page.inner_text("[data-chosen]") == "astronaut.jpg, coffee.jpg"
    page.click("button[type=submit]")
    page.wait_for_url("**/history/")
    page.wait_for_selector("text=no face found")
    assert sorted(Upload.objects.values_list("original_name", flat=True)) == ["astronaut.jpg", "coffee.jpg"]
    save_screenshot(page, "upload-history")


def test_the_owner_corrects_a_face_with_one_click_and_the_face_is_kept(page, astronaut_jpeg, settings):
    from emotions.models import Correction

    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 2
    upload_in_browser(page, "astronaut.jpg", astronaut_jpeg, learn_from_corrections=True)
    page.wait_for_selector("text=1 face found")

    page.click('#face-card-1 button[value="Surprise"]')
    page.wait_for_selector("#face-card-1 [data-true-label]")
    assert page.inner_text("#face-card-1 [data-true-label]") == "Surprise"
    assert page.get_attribute('#face-card-1 button[value="Surprise"]', "aria-pressed") == "true"
    correction = Correction.objects.get()
    assert (correction.label, correction.face_index, correction.upload) == ("Surprise", 0, Upload.objects.get())
    save_screenshot(page, "upload-corrected")

"""A photo's result at a laptop's 1366 px in a real Chromium: the photo large, each face a compact card, and
the link to what the model is and cannot do, which a visitor follows without logging in."""
from __future__ import annotations

import pytest
from emotions_test_support import save_screenshot, upload_in_browser
from ensemble_test_support import save_photo_figures, save_tiny_ensemble, scores_for

from emotions.training.imports import record_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1366, "height": 900}
DIAGONAL = [[10 if true == predicted else 1 for predicted in range(7)] for true in range(7)]


@pytest.fixture
def shipped_ensemble(settings, tmp_path, noise_dataset):
    """The shipped model is a tiny ensemble, recorded with scores, and scored on real photos beside its file."""
    settings.SHIPPED_MODEL_PATH = path = save_tiny_ensemble(tmp_path / "weights" / "default.pt")
    run = record_source(path, noise_dataset)[-1][0]
    run.private_test_metrics = run.public_test_metrics = scores_for(DIAGONAL)
    run.save()
    save_photo_figures(path, "twpfe", DIAGONAL)
    return run


def test_a_result_shows_the_photo_large_and_each_face_in_a_compact_card(page, astronaut_jpeg, shipped_ensemble):
    page.set_viewport_size(LAPTOP)
    upload_in_browser(page, "astronaut.jpg", astronaut_jpeg)
    page.wait_for_selector("text=1 face found")
    page.wait_for_selector("#face-1 .main-svg")
    page.wait_for_function("document.querySelector('img.annotated').complete")
    photo = page.evaluate("""() => {
        const img = document.querySelector('img.annotated'), box = img.getBoundingClientRect();
        return {width: box.width, height: box.height, natural: img.naturalWidth,
                content: img.parentElement.clientWidth - 2 * parseFloat(getComputedStyle(img.parentElement).paddingLeft)};
    }""")
    # 512 px square: drawn larger than itself, as wide as the content or as tall as most of the window.
    assert photo["natural"] == 512 and photo["width"] > 600
    assert photo["width"] == pytest.approx(min(photo["content"], 0.8 * LAPTOP["height"]), abs=2)
    assert photo["height"] == pytest.approx(photo["width"], abs=2)
    card = page.locator("article.photo-face").first.bounding_box()
    assert card["height"] <= 300, card
    assert page.locator("#face-1 .barlayer .trace").count() == 1
    save_screenshot(page, "upload-result-1366")

    assert page.inner_text("[data-about-model]") == "about this model"
    assert "read by tiny_pair" in page.inner_text(".page-header")
    page.click("[data-about-model]")
    page.wait_for_url("**/about-model/")
    page.wait_for_selector("#chart-f1-per-emotion .main-svg")
    # One bar per test set: PrivateTest, PublicTest and the twpfe photos.
    assert page.locator("#chart-f1-per-emotion .barlayer .trace").count() == 3
    assert "It reads facial expressions, not feelings." in page.inner_text(".limits")
    save_screenshot(page, "about-model")

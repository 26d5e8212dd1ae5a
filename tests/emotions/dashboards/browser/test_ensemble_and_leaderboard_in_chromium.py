"""The pages a newcomer opens first, in a real Chromium at a laptop's 1366 px: an imported ensemble's run
page (the shipped model's kind) without error text or empty charts, and the leaderboard fitting its window
or scrolling in its own frame with the run columns held."""
from pathlib import Path

import pytest
from dashboards_test_support import make_run, metrics_from_confusion
from emotions_test_support import make_experiment
from ensemble_test_support import save_tiny_ensemble

from emotions.training.imports import record_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1366, "height": 768}
SHIPPED = Path(__file__).resolve().parents[4] / "ml" / "weights" / "default.pt"

EVERY_CHART_HAS_POINTS = """() => [...document.querySelectorAll('[data-chart]')].map(chart => ({
    id: chart.id,
    points: (chart.data || []).some(trace => [trace.x, trace.y, trace.z].some(
        values => Array.isArray(values) && values.some(value => value !== null && value !== undefined))),
}))"""


def open_run_page(member_browser, run):
    page = member_browser.page
    page.set_viewport_size(LAPTOP)
    member_browser.open(f"/runs/{run.pk}/")
    page.wait_for_function("[...document.querySelectorAll('[data-chart]')].every(c => c.querySelector('.main-svg'))")
    page.wait_for_selector(".mistakes .face-card, [data-fragment-url] .empty:not(:first-child), [data-fragment-url] .hint",
                           timeout=180_000)  # the first look runs the ensemble over PrivateTest
    return page


def assert_a_clean_ensemble_page(page, members):
    text = page.inner_text("main")
    assert "no longer reads" not in text and "epoch 0 of 0" not in text and "No epoch has finished yet" not in text
    assert "An ensemble of runs " + ", ".join(f"#{run.pk}" for run in members) in text
    charts = page.evaluate(EVERY_CHART_HAS_POINTS)
    assert charts and all(chart["points"] for chart in charts), charts
    assert {"chart-members-val_acc", "chart-members-val_macro_f1"} <= {chart["id"] for chart in charts}
    assert page.locator(".mistakes .face-card").count() > 0


def test_an_imported_ensembles_page_has_no_error_text_and_no_empty_chart(member_browser, face_dataset, tmp_path):
    *members, ensemble = [run for run, _ in record_source(save_tiny_ensemble(tmp_path / "pair.pt"), face_dataset)]
    page = open_run_page(member_browser, ensemble)
    assert_a_clean_ensemble_page(page, members)
    page.click(f'.ensemble a[href="/runs/{members[0].pk}/"]')
    page.wait_for_url(f"**/runs/{members[0].pk}/")
    page.wait_for_selector("#chart-loss .main-svg")  # a member is an ordinary run with its own curves
    member_browser.screenshot("ensemble-member-run")
    page.go_back()
    page.wait_for_selector(".ensemble")
    member_browser.screenshot("ensemble-run")


@pytest.mark.fer2013
def test_the_shipped_models_page_is_clean_too(member_browser, fer2013_tiny_dataset, settings):
    settings.SHIPPED_MODEL_PATH = SHIPPED
    *members, ensemble = [run for run, _ in record_source(SHIPPED, fer2013_tiny_dataset)]
    page = open_run_page(member_browser, ensemble)
    assert_a_clean_ensemble_page(page, members)
    member_browser.screenshot("shipped-ensemble-run")


@pytest.fixture
def crowded_leaderboard(face_dataset, tmp_path, settings):
    """Runs with long names and every score column filled, and the shipped ensemble with its members."""
    settings.SHIPPED_MODEL_PATH = save_tiny_ensemble(tmp_path / "weights" / "default.pt")
    record_source(settings.SHIPPED_MODEL_PATH, face_dataset)
    fer2013 = metrics_from_confusion([[9, 1, 0, 0, 0, 0, 0]] * 7)
    scores = {**fer2013, "ferplus": fer2013}
    for name in ("seed001_resnet18_transfer_long_schedule", "ferlite_photo_w24_distilled_from_quad", "cnn3"):
        experiment = make_experiment(face_dataset, name=name)
        make_run(experiment, public_test_metrics=scores, private_test_metrics=scores, device="cuda:0 (NVIDIA H200)")


def leaderboard_geometry(page) -> dict:
    return page.evaluate("""() => {
        const wrap = document.querySelector('.leaderboard-wrap');
        const run = document.querySelector('table.leaderboard tbody td.col-run');
        return {page: document.documentElement.scrollWidth, window: window.innerWidth,
                wrapScroll: wrap.scrollWidth, wrapClient: wrap.clientWidth, wrapLeft: wrap.getBoundingClientRect().left,
                runLeft: run.getBoundingClientRect().left, runPosition: getComputedStyle(run).position};
    }""")


def test_the_leaderboard_fits_a_laptop_window_or_scrolls_in_its_own_frame(member_browser, crowded_leaderboard):
    page = member_browser.page
    page.set_viewport_size(LAPTOP)
    member_browser.open("/experiments/")
    at_1366 = leaderboard_geometry(page)
    assert at_1366["page"] <= 1366  # the page itself never scrolls sideways
    assert at_1366["wrapScroll"] <= at_1366["wrapClient"] or at_1366["runPosition"] == "sticky", at_1366
    assert page.locator("tr.serves-uploads .badge.shipped").count() == 1
    assert "uploads are read by the shipped model" in page.inner_text(".serving-model")
    member_browser.screenshot("leaderboard-1366")

    # Narrower than the table: it scrolls inside its frame, and the run column stays put.
    page.set_viewport_size({"width": 900, "height": 768})
    narrow = leaderboard_geometry(page)
    assert narrow["page"] <= 900 and narrow["wrapScroll"] > narrow["wrapClient"] and narrow["runPosition"] == "sticky"
    page.evaluate("document.querySelector('.leaderboard-wrap').scrollLeft = 400")
    scrolled = leaderboard_geometry(page)
    assert scrolled["runLeft"] == pytest.approx(scrolled["wrapLeft"], abs=2)
    assert page.locator("table.leaderboard tbody td.col-experiment").first.is_visible()
    member_browser.screenshot("leaderboard-scrolled")

"""The evaluation sets in a real Chromium: the leaderboard's column per set, sorted with a click, and a run's
per-class scores and confusion matrix on each set's photos drawn by plotly.js."""
import re

import pytest
from dashboards_test_support import make_run, metrics_from_confusion
from emotions_test_support import dataset_for, make_noise_store

from emotions.models import Dataset, RunEvaluation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1366, "height": 768}
GOOD = metrics_from_confusion([[9, 1], [1, 9]], class_names=["Happy", "Sad"])  # 90%
POOR = metrics_from_confusion([[5, 5], [4, 6]], class_names=["Happy", "Sad"])  # 55%


@pytest.fixture
def scored_runs(ferlite_experiment):
    office = dataset_for(make_noise_store(per_split=14), "office photos")
    Dataset.objects.filter(pk=office.pk).update(kind="photos", is_evaluation_set=True)
    better_on_fer2013 = make_run(ferlite_experiment, public_test_metrics=GOOD, private_test_metrics=GOOD)
    better_on_photos = make_run(ferlite_experiment, public_test_metrics=POOR, private_test_metrics=POOR)
    RunEvaluation.objects.create(run=better_on_fer2013, dataset=office, status="done", metrics=POOR)
    RunEvaluation.objects.create(run=better_on_photos, dataset=office, status="done", metrics=GOOD)
    return office, better_on_fer2013, better_on_photos


def run_order(page) -> list[int]:
    return [int(pk) for pk in page.eval_on_selector_all("table.leaderboard tbody tr", "rows => rows.map(r => r.dataset.run)")]


def test_a_click_on_a_sets_column_ranks_the_runs_by_their_photos(member_browser, scored_runs):
    office, better_on_fer2013, better_on_photos = scored_runs
    page = member_browser.page
    page.set_viewport_size(LAPTOP)
    member_browser.open("/experiments/")
    assert run_order(page) == [better_on_fer2013.pk, better_on_photos.pk]  # PrivateTest accuracy first
    header = page.locator(f"th.col-eval_{office.pk} a")
    assert "office" in header.inner_text()

    header.scroll_into_view_if_needed()
    header.click()
    page.wait_for_url(re.compile(rf"sort=-eval_{office.pk}"))
    assert run_order(page) == [better_on_photos.pk, better_on_fer2013.pk]
    cells = page.locator("table.leaderboard tbody td.evaluation-set").all_inner_texts()
    assert cells == ["90.0%", "55.0%"]
    member_browser.screenshot("leaderboard-evaluation-set")


def test_the_run_page_draws_per_class_scores_and_the_confusion_matrix_on_each_set(member_browser, scored_runs):
    office, better_on_fer2013, _ = scored_runs
    page = member_browser.page
    page.set_viewport_size(LAPTOP)
    member_browser.open(f"/runs/{better_on_fer2013.pk}/")
    for chart in (f"chart-set-{office.pk}-per-class", f"chart-set-{office.pk}-confusion"):
        page.wait_for_selector(f"#{chart} .main-svg")
    drawn = page.evaluate(f"""() => ['per-class', 'confusion'].map(kind => {{
        const chart = document.getElementById('chart-set-{office.pk}-' + kind);
        return {{title: chart.querySelector('.gtitle').textContent, traces: chart.data.length}};
    }})""")
    assert drawn == [{"title": "Per class on office photos (held-out photos)", "traces": 3},
                     {"title": "Confusion matrix on office photos (held-out photos)", "traces": 1}]
    table = page.inner_text(".evaluation-set-scores")
    assert "office photos" in table and "55.0%" in table
    page.locator("#evaluation-sets").scroll_into_view_if_needed()
    member_browser.screenshot("run-evaluation-sets")

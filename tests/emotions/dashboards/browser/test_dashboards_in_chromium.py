"""The dashboards in a real browser: charts drawn by plotly.js from the page's own static files."""
import pytest
from dashboards_test_support import add_epochs, make_run, metrics_from_confusion, save_checkpoint_for
from django.utils import timezone

from emotions.models import EpochMetric, TrainingRun
from ml.classes import FER_CLASSES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def traces(page, chart_id: str, layer: str = "scatterlayer") -> int:
    page.wait_for_selector(f"#{chart_id} .main-svg")
    return page.locator(f"#{chart_id} .{layer} .trace").count()


def wait_for_faces(page, selector: str) -> None:
    """Until every face thumbnail under `selector` has loaded as a 48x48 PNG."""
    page.wait_for_function(
        f"[...document.querySelectorAll('{selector} img')].every(img => img.complete && img.naturalWidth === 48)"
    )


def heatmap_labels(page) -> list[str]:
    return page.locator("#chart-confusion .heatmap-label text").all_text_contents()


@pytest.fixture
def angry_run(succeeded_run):
    """A succeeded run whose checkpoint always answers Angry: 18 mistakes on the 21 PrivateTest faces."""
    save_checkpoint_for(succeeded_run, FER_CLASSES, answer=0)
    return succeeded_run


def test_the_leaderboard_lists_the_runs_and_opens_one(member_browser, angry_run, ferlite_experiment):
    other = make_run(ferlite_experiment, status=TrainingRun.Status.FAILED, error="out of memory")
    page = member_browser.open("/experiments/")
    assert page.locator("table.leaderboard tbody tr").count() == 2
    assert page.locator(f'tr[data-run="{angry_run.pk}"] .num').nth(1).text_content() == "66.5%"
    member_browser.screenshot("leaderboard")
    page.click(f'tr[data-run="{other.pk}"] a >> nth=0')
    page.wait_for_url(f"**/runs/{other.pk}/")
    assert "out of memory" in page.locator(".live .error").text_content()


def test_the_run_page_draws_curves_per_class_bars_and_the_confusion_matrix(member_browser, angry_run):
    page = member_browser.open(f"/runs/{angry_run.pk}/")
    assert traces(page, "chart-loss") == 2  # train and validation
    assert traces(page, "chart-accuracy") == 2
    assert traces(page, "chart-macro_f1") == 1
    assert traces(page, "chart-lr") == 1
    assert traces(page, "chart-per-class", "barlayer") == 3  # precision, recall, F1
    page.wait_for_selector("#chart-confusion .main-svg")
    assert page.locator("#chart-confusion .heatmaplayer .hm").count() == 1  # one heatmap trace
    labels = heatmap_labels(page)
    assert len(labels) == 49 and labels[:7] == ["30", "0", "5", "2", "8", "1", "4"]
    page.wait_for_selector(".mistakes .face-card")
    wait_for_faces(page, ".mistakes")
    member_browser.screenshot("run")


def test_the_confusion_matrix_toggles_to_row_normalised_and_back(member_browser, angry_run):
    page = member_browser.open(f"/runs/{angry_run.pk}/")
    page.wait_for_selector("#chart-confusion .heatmap-label")
    page.locator("#chart-confusion .updatemenu-button").nth(1).click()
    page.wait_for_function("document.querySelector('#chart-confusion .heatmap-label text').textContent.endsWith('%')")
    assert heatmap_labels(page)[:7] == ["60%", "0%", "10%", "4%", "16%", "2%", "8%"]  # Angry: 30 of 50 ...
    row_sums = page.evaluate("document.getElementById('chart-confusion').data[0].z.map(r => r.reduce((a, b) => a + b, 0))")
    assert row_sums == [pytest.approx(1)] * 7
    member_browser.screenshot("run-confusion-normalised")
    page.locator("#chart-confusion .updatemenu-button").nth(0).click()
    page.wait_for_function("document.querySelector('#chart-confusion .heatmap-label text').textContent === '30'")


def test_the_most_confident_mistakes_load_as_a_grid_of_faces(member_browser, angry_run):
    page = member_browser.open(f"/runs/{angry_run.pk}/")
    page.wait_for_selector(".mistakes .face-card")
    cards = page.locator(".mistakes .face-card")
    assert cards.count() == 18
    assert "predicted Angry" in cards.first.text_content()
    wait_for_faces(page, ".mistakes")


def test_a_running_run_updates_its_progress_without_a_reload(member_browser, ferlite_experiment):
    run = make_run(ferlite_experiment, status=TrainingRun.Status.RUNNING, epoch=1, epochs=4,
                   heartbeat_at=timezone.now(), finished_at=None)
    add_epochs(run, 1, seconds=30)
    page = member_browser.open(f"/runs/{run.pk}/")
    assert traces(page, "chart-loss") == 2
    page.evaluate("window.sameDocument = true")

    EpochMetric.objects.create(run=run, epoch=2, train_loss=0.9, train_acc=0.6, val_loss=1.0, val_acc=0.55,
                               val_macro_f1=0.5, lr=1e-3, seconds=30, images_per_second=900)
    TrainingRun.objects.filter(pk=run.pk).update(epoch=2)
    page.wait_for_function("document.querySelector('[data-field=epoch]').textContent === '2'")
    assert page.locator("[data-field=val_acc]").text_content() == "55.0%"
    assert page.locator("[data-field=eta]").text_content() == "1 min 00 s"  # 2 epochs left x 30 s
    page.wait_for_function("document.getElementById('chart-loss').data[0].x.length === 2")  # curves redrawn
    assert page.evaluate("window.sameDocument") is True
    member_browser.screenshot("run-live")

    metrics = metrics_from_confusion([[3, 1], [1, 3]], ["Happy", "Sad"])
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED, finished_at=timezone.now(),
                                                 public_test_metrics=metrics, private_test_metrics=metrics)
    page.wait_for_selector("#chart-confusion .heatmap-label")  # reloaded once, with the test scores
    assert page.evaluate("window.sameDocument === undefined")


def test_two_ticked_runs_are_compared(member_browser, angry_run, ferlite_experiment):
    other = make_run(ferlite_experiment, private_test_metrics=angry_run.private_test_metrics)
    add_epochs(other, 3)
    page = member_browser.open("/experiments/")
    page.check(f'input[name="run"][value="{angry_run.pk}"]')
    page.check(f'input[name="run"][value="{other.pk}"]')
    page.click("text=Compare selected runs")
    page.wait_for_url("**/compare/?run=*")
    assert traces(page, "chart-compare-val_acc") == 2
    assert traces(page, "chart-compare-per-class-f1", "barlayer") == 2
    member_browser.screenshot("compare")


def test_the_dataset_page_shows_the_balance_sample_faces_and_augmentations(member_browser, face_dataset):
    page = member_browser.open(f"/datasets/{face_dataset.pk}/")
    assert traces(page, "chart-class-counts", "barlayer") == 3
    wait_for_faces(page, ".samples")
    assert page.locator(".samples img").count() == 21
    page.select_option("select[name=recipe]", "seed001_vgg_style")
    page.click("text=Show")
    page.wait_for_url("**recipe=seed001_vgg_style**")
    assert page.locator(".augmentation img").count() == 9  # the original and 8 draws
    member_browser.screenshot("dataset")


def test_the_run_page_fits_a_phone_screen(member_phone, angry_run):
    page = member_phone.open(f"/runs/{angry_run.pk}/")
    assert traces(page, "chart-loss") == 2
    page.wait_for_selector("#chart-confusion .heatmap-label")
    page.wait_for_selector(".mistakes .face-card")
    wait_for_faces(page, ".mistakes")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling of the page
    assert page.locator("#chart-loss .main-svg").first.bounding_box()["width"] <= 390
    member_phone.screenshot("run-phone")
    page = member_phone.open("/experiments/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls in its own box
    member_phone.screenshot("leaderboard-phone")


@pytest.mark.fer2013
def test_a_disagreement_cell_opens_faces_whose_votes_match_it(member_browser, ferplus_dataset):
    from ml.data.ferplus import vote_categories

    page = member_browser.open(f"/datasets/{ferplus_dataset.pk}/")
    cell = page.locator('table.disagreement a[data-label="Sad"][data-raters="Neutral"]')
    cell.click()
    page.wait_for_url("**raters=**")
    wait_for_faces(page, ".disagreement-faces")
    faces = page.locator(".disagreement-faces .face-card")
    assert faces.count() > 0
    assert page.locator("table.disagreement td.selected a").inner_text() == cell.inner_text()
    for index in range(faces.count()):
        text = faces.nth(index).locator(".votes").inner_text()
        counts = dict((name, int(n)) for name, n in (part.rsplit(" ", 1) for part in text.split(" · ")))
        votes = [[counts.get(column, 0) for column in
                  ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")]]
        assert vote_categories(votes)[0] == 6, text  # the raters' majority is Neutral
    member_browser.screenshot("dataset-disagreement")

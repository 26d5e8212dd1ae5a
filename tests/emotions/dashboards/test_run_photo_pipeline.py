"""A run's page shows the whole-photo-pipeline figures `python -m ml evaluate-photos --save` recorded
beside its checkpoint, and nothing when there are none."""
import numpy as np
import pytest
from dashboards_test_support import save_checkpoint_for
from PIL import Image

from ml.classes import FER_CLASSES
from ml.inference.photo_eval import evaluate_photos, save_photo_evaluation

pytestmark = pytest.mark.django_db

HAPPY = FER_CLASSES.index("Happy")


def labelled_faces(folder, labels):
    """48x48 noise faces (classified whole, as an upload of a face crop is), one per label."""
    rng = np.random.default_rng(0)
    for i, label in enumerate(labels):
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(48, 48), dtype=np.uint8)).save(folder / label / f"{i}.png")
    return folder


def test_the_figures_saved_beside_the_checkpoint_are_tabled(member_client, succeeded_run, tmp_path):
    checkpoint = save_checkpoint_for(succeeded_run, FER_CLASSES, answer=HAPPY)
    result = evaluate_photos(labelled_faces(tmp_path / "twpfe", ["happy", "happy", "happy", "sad"]), checkpoint)
    result["command"] = "python -m ml evaluate-photos twpfe --save"
    save_photo_evaluation(result)

    page = member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()
    assert "Whole photo pipeline" in page
    # Always Happy: 3 of 4 right; macro-F1 is Happy's F1 (6/7) over the seven classes.
    assert ('<tr><th scope="row">twpfe</th><td class="num">4</td><td class="num">0</td>'
            '<td class="num">75.0%</td><td class="num">0.122</td><td class="num">75.0%</td><td class="num">0.122</td>'
            "<td><code>python -m ml evaluate-photos twpfe --save</code></td></tr>") in page


def test_a_run_without_saved_figures_has_no_such_section(member_client, succeeded_run):
    save_checkpoint_for(succeeded_run, FER_CLASSES, answer=HAPPY)
    assert "Whole photo pipeline" not in member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()

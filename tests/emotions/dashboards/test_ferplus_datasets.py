"""FER+ votes in the web app: `import_fer2013 --ferplus` keeps them with the dataset, and runs recorded
without FER+ scores get them where their weights are at hand."""
import dataclasses
import io
import zipfile

import numpy as np
import pytest
from dashboards_test_support import make_run, metrics_from_confusion, save_checkpoint_for
from django.core.management import CommandError, call_command
from emotions_test_support import dataset_for, make_experiment, make_noise_store
from PIL import Image

from emotions.models import Dataset, TrainingRun
from ml.classes import FER_CLASSES
from ml.data.ferplus import VOTE_COLUMNS

pytestmark = pytest.mark.django_db


def small_archive(tmp_path):
    """A Kaggle-layout zip of two faces per class and split, and its FER+ votes: every face read as Happy."""
    path, lines = tmp_path / "fer2013.zip", ["path,usage,row," + ",".join(VOTE_COLUMNS)]
    with zipfile.ZipFile(path, "w") as archive:
        for top, usage in (("train", "Training"), ("test", "PublicTest"), ("test", "PrivateTest")):
            for name in FER_CLASSES:
                for i in range(2):
                    member = f"{top}/{name.lower()}/{usage}_{name}{i}.png"
                    buffer = io.BytesIO()
                    Image.new("L", (48, 48), 30 * i + 10).save(buffer, format="PNG")
                    archive.writestr(member, buffer.getvalue())
                    lines.append(f"{member},{usage},0,0,10,0,0,0,0,0,0,0,0")
    votes = tmp_path / "votes.csv"
    votes.write_text("\n".join(lines) + "\n")
    return path, votes


def test_importing_with_votes_keeps_them_with_the_dataset(tmp_path, capsys, _media_in_tmp):
    archive, votes = small_archive(tmp_path)
    call_command("import_fer2013", str(archive), "--name", "mini", "--ferplus", str(votes), "--no-results")
    dataset = Dataset.objects.get()
    assert dataset.has_votes and dataset.report["ferplus"]["faces_with_votes"] == 42
    store = dataset.load_store()
    assert store.votes.shape == (42, 10) and (store.votes[:, 1] == 10).all()
    assert "FER+ votes for 42 faces" in capsys.readouterr().out


def test_a_votes_file_that_does_not_fit_leaves_nothing_behind(tmp_path, _media_in_tmp):
    archive, votes = small_archive(tmp_path)
    votes.write_text(votes.read_text().replace("Training_Angry0.png,Training", "Training_Angry0.png,PrivateTest"))
    with pytest.raises(CommandError, match="row 2: usage PrivateTest disagrees with the archive"):
        call_command("import_fer2013", str(archive), "--name", "mini", "--ferplus", str(votes), "--no-results")
    assert not Dataset.objects.exists()


def test_runs_recorded_before_the_votes_are_scored_on_ferplus(_media_in_tmp, capsys):
    store = make_noise_store(per_split=21)
    votes = np.zeros((len(store), 10), dtype=np.int16)
    votes[:, 0] = 10  # the raters read every face as Neutral
    dataset = dataset_for(dataclasses.replace(store, votes=votes), "voted")
    dataset.report = {**dataset.report, "ferplus": {"faces_with_votes": len(store)}}
    dataset.save()
    experiment = make_experiment(dataset, name="ferlite", model={"name": "ferlite", "options": {"width": 8}},
                                 limit=None, epochs=1)
    old = metrics_from_confusion([[3 if i == j else 0 for j in range(7)] for i in range(7)])
    run = make_run(experiment, public_test_metrics=old, private_test_metrics=old)
    save_checkpoint_for(run, FER_CLASSES, answer=FER_CLASSES.index("Neutral"))
    unscored = make_run(experiment, public_test_metrics=old, private_test_metrics=old)  # no weights kept

    call_command("score_ferplus")
    run.refresh_from_db()
    ferplus = run.private_test_metrics["ferplus"]
    assert ferplus["accuracy"] == 1.0 and ferplus["num_samples"] == 21  # it always answers Neutral
    assert run.private_test_metrics["accuracy"] == pytest.approx(3 / 21)  # scored again on FER2013's labels too
    assert "ferplus" not in TrainingRun.objects.get(pk=unscored.pk).private_test_metrics
    assert "1 run(s) scored on FER+" in capsys.readouterr().out

"""A run's downloads: checkpoint, metrics JSON, per-epoch CSV and TensorBoard logs."""
import csv
import io
import json
import zipfile

import pytest

from emotions.models import EpochMetric

pytestmark = pytest.mark.django_db


def test_the_checkpoint_downloads_as_a_file(member_client, succeeded_run):
    path = succeeded_run.out_dir / "best.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    succeeded_run.checkpoint = f"{succeeded_run.out_dir_name}/best.pt"
    succeeded_run.save()
    response = member_client.get(f"/runs/{succeeded_run.pk}/checkpoint.pt")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"weights"
    assert response["Content-Disposition"] == f'attachment; filename="run-{succeeded_run.pk}-best.pt"'
    assert "Checkpoint (best epoch)" in member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()


def test_a_run_without_a_checkpoint_offers_none(member_client, succeeded_run):
    assert member_client.get(f"/runs/{succeeded_run.pk}/checkpoint.pt").status_code == 404
    assert "checkpoint.pt" not in member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()


def test_a_checkpoint_whose_file_is_gone_is_not_found(member_client, succeeded_run):
    succeeded_run.checkpoint = f"{succeeded_run.out_dir_name}/best.pt"
    succeeded_run.save()
    assert member_client.get(f"/runs/{succeeded_run.pk}/checkpoint.pt").status_code == 404


def test_metrics_json_holds_both_test_splits_and_every_epoch(member_client, succeeded_run):
    response = member_client.get(f"/runs/{succeeded_run.pk}/metrics.json")
    assert response["Content-Disposition"] == f'attachment; filename="run-{succeeded_run.pk}-metrics.json"'
    document = json.loads(response.content)
    assert document["private_test"] == succeeded_run.private_test_metrics
    assert document["public_test"]["confusion_matrix"] == succeeded_run.public_test_metrics["confusion_matrix"]
    assert [row["epoch"] for row in document["epochs"]] == [1, 2, 3, 4, 5]
    assert document["epochs"][3]["is_best"] is True
    assert document["config"]["model"]["name"] == "ferlite"


def test_the_epochs_csv_has_a_row_per_epoch(member_client, succeeded_run):
    response = member_client.get(f"/runs/{succeeded_run.pk}/epochs.csv")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == ["epoch", *EpochMetric.RESULT_FIELDS]
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3, 4, 5]
    assert float(rows[2]["val_acc"]) == pytest.approx(0.303)


def test_tensorboard_logs_download_as_a_zip_when_the_run_wrote_them(member_client, succeeded_run):
    folder = succeeded_run.out_dir / "tensorboard"
    assert member_client.get(f"/runs/{succeeded_run.pk}/tensorboard.zip").status_code == 404
    assert "tensorboard.zip" not in member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()
    folder.mkdir(parents=True)
    (folder / "events.out.tfevents.1.host").write_bytes(b"scalars")
    response = member_client.get(f"/runs/{succeeded_run.pk}/tensorboard.zip")
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["tensorboard/events.out.tfevents.1.host"]
        assert archive.read("tensorboard/events.out.tfevents.1.host") == b"scalars"
    assert "tensorboard.zip" in member_client.get(f"/runs/{succeeded_run.pk}/").content.decode()

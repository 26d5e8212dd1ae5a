"""Correcting a face's emotion on one's own result: the label goes on the upload, and where the uploader ticked
"let this site learn from my corrections" the 48x48 face is kept with it in the corrections dataset. The
purge keeps what was kept (never the photo); deleting the upload or the account takes it away."""
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image
from uploads_test_support import encode, file

from emotions.models import Correction, Dataset, Upload
from emotions.photo_sets import corrections
from emotions.uploads.tasks import purge_old_uploads
from ml.classes import FER_CLASSES, SPLITS

pytestmark = pytest.mark.django_db


def face_png(seed: int = 0) -> bytes:
    """A 64x64 gray picture: small enough that the upload path takes it for a face crop (no detector run)."""
    pixels = np.random.default_rng(seed).integers(0, 255, size=(64, 64), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "PNG")


def upload_as(client, *, learn: bool, photo: bytes | None = None, name: str = "face.png") -> Upload:
    data = {"images": [file(name, photo or face_png(), "image/png")]}
    if learn:
        data["learn_from_corrections"] = "on"
    response = client.post("/upload/", data)
    assert response.status_code == 302
    client.get(response["Location"])  # predicted by the web process as the page is opened
    upload = Upload.objects.get(original_name=name)
    assert upload.status == "done" and len(upload.faces) == 1
    return upload


def correct(client, upload: Upload, label: str, index: int = 0):
    return client.post(f"/uploads/{upload.pk}/faces/{index}/label/", {"label": label})


def crop_of(upload: Upload, index: int = 0) -> np.ndarray:
    return np.asarray(Image.open(upload.face_crop_path(index)).convert("L"))


# Correcting --------------------------------------------------------------------------------------
def test_the_upload_form_offers_the_choice_off_by_default(visitor):
    html = visitor.get("/upload/").content.decode()
    assert "Let this site learn from my corrections" in html
    assert 'name="learn_from_corrections"' in html and "checked" not in html.split('name="learn_from_corrections"')[1][:40]


def test_the_owner_marks_a_faces_true_emotion_with_one_click_and_the_face_is_kept(member_client, member):
    upload = upload_as(member_client, learn=True)
    assert upload.learn_from_corrections

    response = correct(member_client, upload, "Surprise")
    assert response.status_code == 302 and response["Location"].endswith(f"/uploads/{upload.pk}/#face-card-1")
    page = member_client.get(response["Location"]).content.decode()
    assert "Face 1 marked Surprise and kept to help the model learn" in page
    assert 'value="Surprise" aria-pressed="true"' in page

    upload.refresh_from_db()
    assert upload.faces[0]["true_label"] == "Surprise"
    correction = Correction.objects.get()
    assert (correction.upload, correction.owner, correction.face_index, correction.label) == (upload, member, 0, "Surprise")
    assert np.array_equal(correction.pixels, crop_of(upload))  # the crop the model saw, 48x48
    assert correction.created_at.date() == timezone.now().date()


def test_the_result_page_offers_the_seven_emotions_for_each_face(visitor):
    upload = upload_as(visitor, learn=False)
    page = visitor.get(f"/uploads/{upload.pk}/").content.decode()
    assert f'action="/uploads/{upload.pk}/faces/0/label/"' in page
    for name in FER_CLASSES:
        assert f'name="label" value="{name}"' in page


def test_nothing_is_kept_without_the_tick(visitor):
    upload = upload_as(visitor, learn=False)
    assert correct(visitor, upload, "Happy").status_code == 302
    upload.refresh_from_db()
    assert upload.faces[0]["true_label"] == "Happy"  # on the upload, gone with it
    assert not Correction.objects.exists()
    assert "kept to help" not in visitor.get(f"/uploads/{upload.pk}/").content.decode()


def test_correcting_again_changes_the_label_of_the_one_kept_face(visitor):
    upload = upload_as(visitor, learn=True)
    correct(visitor, upload, "Sad")
    correct(visitor, upload, "fear")  # any case
    assert list(Correction.objects.values_list("label", flat=True)) == ["Fear"]
    upload.refresh_from_db()
    assert upload.faces[0]["true_label"] == "Fear"


def test_only_the_owner_can_correct(member_client, client, outsider, visitor, stranger):
    upload = upload_as(member_client, learn=True)
    client.force_login(outsider)
    assert correct(client, upload, "Happy").status_code == 404
    assert correct(visitor, upload, "Happy").status_code == 404
    visitors_upload = upload_as(visitor, learn=True, name="visitor.png")
    assert correct(stranger, visitors_upload, "Happy").status_code == 404
    assert not Correction.objects.exists()
    assert all("true_label" not in face for face in Upload.objects.get(pk=upload.pk).faces)


def test_a_bad_label_or_face_is_refused_and_nothing_changes(visitor):
    upload = upload_as(visitor, learn=True)
    response = correct(visitor, upload, "Bored")
    assert response.status_code == 302
    assert "Unknown emotion &#x27;Bored&#x27;" in visitor.get(response["Location"]).content.decode()
    response = correct(visitor, upload, "Happy", index=3)
    assert "This upload has no face 4; it has 1." in visitor.get(response["Location"]).content.decode()
    assert not Correction.objects.exists() and "true_label" not in Upload.objects.get(pk=upload.pk).faces[0]


def test_correcting_takes_a_post(visitor):
    upload = upload_as(visitor, learn=True)
    assert visitor.get(f"/uploads/{upload.pk}/faces/0/label/").status_code == 405


def test_without_the_kept_crop_the_face_is_cut_again_from_the_photo(visitor, astronaut_jpeg):
    upload = upload_as(visitor, learn=True, photo=astronaut_jpeg, name="astronaut.jpg")
    seen = crop_of(upload)
    upload.face_crop_path(0).unlink()
    correct(visitor, upload, "Happy")
    assert np.array_equal(Correction.objects.get().pixels, seen)


# What stays and what goes -----------------------------------------------------------------------
def test_the_purge_deletes_the_photo_but_keeps_the_corrected_face(member_client, member, settings,
                                                                 django_capture_on_commit_callbacks):
    settings.UPLOAD_RETENTION_DAYS = 30
    upload = upload_as(member_client, learn=True)
    correct(member_client, upload, "Angry")
    Upload.objects.filter(pk=upload.pk).update(created_at=timezone.now() - timedelta(days=31))

    with django_capture_on_commit_callbacks(execute=True):
        assert purge_old_uploads() == 1
    assert not Upload.objects.exists() and not upload.directory.exists()
    correction = Correction.objects.get()
    assert correction.upload is None and correction.owner == member and correction.label == "Angry"
    store = corrections.corrections_dataset().load_store()
    assert len(store) == 1 and np.array_equal(store.images[0], correction.pixels)


def test_deleting_the_upload_deletes_its_corrections(visitor, django_capture_on_commit_callbacks):
    upload = upload_as(visitor, learn=True)
    other = upload_as(visitor, learn=True, name="other.png")
    correct(visitor, upload, "Happy")
    correct(visitor, other, "Sad")
    with django_capture_on_commit_callbacks(execute=True):
        visitor.post(f"/uploads/{upload.pk}/delete/")
    assert list(Correction.objects.values_list("label", flat=True)) == ["Sad"]
    assert sum(sum(c.values()) for c in corrections.corrections_dataset().counts.values()) == 1


def test_deleting_the_account_deletes_its_corrections_purged_uploads_included(
    member_client, member, visitor, settings, django_capture_on_commit_callbacks
):
    purged = upload_as(member_client, learn=True, name="purged.png")
    kept = upload_as(member_client, learn=True, name="kept.png")
    someone_elses = upload_as(visitor, learn=True, name="visitor.png")
    for upload in (purged, kept, someone_elses):
        correct(member_client if upload.owner_id else visitor, upload, "Neutral")
    Upload.objects.filter(pk=purged.pk).update(created_at=timezone.now() - timedelta(days=settings.UPLOAD_RETENTION_DAYS + 1))
    purge_old_uploads()

    with django_capture_on_commit_callbacks(execute=True):
        member.delete()
    assert list(Correction.objects.values_list("upload", flat=True)) == [someone_elses.pk]


def test_faces_corrected_before_logging_in_go_with_the_account_even_once_purged(
    visitor, member, settings, django_capture_on_commit_callbacks
):
    upload = upload_as(visitor, learn=True)
    correct(visitor, upload, "Fear")
    visitor.force_login(member)  # the upload, and the face kept from it, become the account's
    assert Correction.objects.get().owner == member
    Upload.objects.filter(pk=upload.pk).update(created_at=timezone.now() - timedelta(days=settings.UPLOAD_RETENTION_DAYS + 1))
    purge_old_uploads()
    assert Correction.objects.get().upload is None

    with django_capture_on_commit_callbacks(execute=True):
        member.delete()
    assert not Correction.objects.exists()


def test_reading_the_photo_again_as_one_face_drops_the_corrections_of_the_faces_it_had(visitor):
    upload = upload_as(visitor, learn=True)
    correct(visitor, upload, "Sad")
    assert visitor.post(f"/uploads/{upload.pk}/whole-image/").status_code == 302
    assert not Correction.objects.exists()
    upload.refresh_from_db()
    assert upload.whole_image and upload.faces == []


# The dataset ------------------------------------------------------------------------------------
def test_the_corrections_make_a_dataset_with_a_fixed_split_by_id(visitor):
    for seed in range(12):
        correct(visitor, upload_as(visitor, learn=True, photo=face_png(seed), name=f"{seed}.png"), FER_CLASSES[seed % 7])
    dataset = Dataset.objects.get(kind="corrections")
    store = dataset.load_store()
    rows = list(Correction.objects.order_by("pk"))
    assert len(store) == 12 and store.class_names == FER_CLASSES
    assert [SPLITS[code] for code in store.splits] == [corrections.split_of(row.pk) for row in rows]
    assert [FER_CLASSES[label] for label in store.labels] == [row.label for row in rows]
    assert dataset.counts == store.counts()

    buckets = [corrections.split_of(pk) for pk in range(1, 10_001)]
    assert abs(buckets.count("train") / 10_000 - 0.8) < 0.02
    assert abs(buckets.count("public_test") / 10_000 - 0.1) < 0.01
    assert abs(buckets.count("private_test") / 10_000 - 0.1) < 0.01


def test_staff_see_the_corrections_in_the_admin_and_drop_one(staff_client, visitor):
    upload = upload_as(visitor, learn=True)
    correct(visitor, upload, "Disgust")
    correction = Correction.objects.get()
    page = staff_client.get("/admin/emotions/correction/").content.decode()
    assert "Disgust" in page and "data:image/png;base64," in page
    assert staff_client.get("/admin/emotions/correction/add/").status_code == 403

    response = staff_client.post("/admin/emotions/correction/", {
        "action": "delete_selected", "_selected_action": [correction.pk], "post": "yes"})
    assert response.status_code == 302 and not Correction.objects.exists()
    assert Upload.objects.filter(pk=upload.pk).exists()
    assert sum(sum(c.values()) for c in Dataset.objects.get(kind="corrections").counts.values()) == 0


def test_outsiders_cannot_see_the_corrections_in_the_admin(client, outsider, visitor):
    correct(visitor, upload_as(visitor, learn=True), "Happy")
    client.force_login(outsider)
    assert client.get("/admin/emotions/correction/").status_code == 302  # to the admin's login

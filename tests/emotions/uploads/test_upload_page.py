"""A visitor uploads photos through the page and sees each face boxed, with its probabilities."""
import pytest
from uploads_test_support import (
    animated_gif, astronaut, bad_uploads, embedded_figure, encode, file, sideways_with_exif, sixteen_bit_png,
)

from emotions.models import Upload
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db


def upload(client, *files, **fields):
    return client.post("/upload/", {"images": list(files), **fields})


def result_page(client, response):
    assert response.status_code == 302, response.content.decode()[:500]
    return client.get(response["Location"])


def test_the_upload_page_offers_several_files_and_the_face_box(visitor):
    page = visitor.get("/upload/").content.decode()
    assert 'type="file"' in page and "multiple" in page and 'enctype="multipart/form-data"' in page
    assert 'name="whole_image"' in page and "data-drop-zone" in page and "/static/js/uploads.js" in page


def test_a_photo_with_a_face_shows_the_face_boxed_with_a_chart_of_seven_probabilities(visitor, astronaut_jpeg):
    page = result_page(visitor, upload(visitor, file("astronaut.jpg", astronaut_jpeg)))
    html = page.content.decode()
    upload_row = Upload.objects.get()
    assert upload_row.status == "done" and upload_row.predicted_by == "web" and upload_row.model == "shipped"
    assert len(upload_row.faces) == 1
    assert "1 face found" in html
    assert f"/uploads/{upload_row.pk}/annotated.jpg" in html and f"/uploads/{upload_row.pk}/faces/0.png" in html
    figure = embedded_figure(page, "face-1")
    assert figure["data"][0]["x"] == list(FER_CLASSES)
    assert sum(figure["data"][0]["y"]) == pytest.approx(1, abs=1e-3)
    assert '<script src="/static/vendor/plotly.min.js" defer>' in html


def test_the_annotated_photo_and_the_face_crop_are_served_to_their_owner(visitor, astronaut_jpeg):
    result_page(visitor, upload(visitor, file("astronaut.jpg", astronaut_jpeg)))
    pk = Upload.objects.get().pk
    annotated = visitor.get(f"/uploads/{pk}/annotated.jpg")
    assert annotated.status_code == 200 and annotated["Content-Type"] == "image/jpeg"
    crop = visitor.get(f"/uploads/{pk}/faces/0.png")
    assert crop.status_code == 200 and crop["Content-Type"] == "image/png"
    original = visitor.get(f"/uploads/{pk}/original")
    assert original["Content-Type"] == "image/jpeg" and b"".join(original.streaming_content) == astronaut_jpeg


def test_a_photo_without_a_face_says_so_and_offers_to_classify_the_whole_image(visitor, coffee_jpeg):
    page = result_page(visitor, upload(visitor, file("coffee.jpg", coffee_jpeg)))
    html = page.content.decode()
    row = Upload.objects.get()
    assert "No face found in this photo." in html and f"/uploads/{row.pk}/whole-image/" in html
    assert row.faces == []

    page = result_page(visitor, visitor.post(f"/uploads/{row.pk}/whole-image/"))
    row.refresh_from_db()
    assert row.whole_image and row.status == "done" and len(row.faces) == 1
    assert row.faces[0]["box"] == [0, 0, 600, 400] and "1 face found" in page.content.decode()


def test_ticking_already_a_face_classifies_the_whole_photo(visitor, coffee_jpeg):
    result_page(visitor, upload(visitor, file("coffee.jpg", coffee_jpeg), whole_image="on"))
    row = Upload.objects.get()
    assert row.whole_image and [face["box"] for face in row.faces] == [[0, 0, 600, 400]]


def test_a_small_image_is_taken_as_a_face_and_classified_whole(visitor):
    crop = astronaut().convert("L").crop((160, 40, 240, 120))  # 80x80 around her face
    result_page(visitor, upload(visitor, file("face.png", encode(crop, "PNG"), "image/png")))
    row = Upload.objects.get()
    assert row.whole_image and [face["box"] for face in row.faces] == [[0, 0, 80, 80]]


@pytest.mark.fer2013
def test_a_fer2013_face_is_classified_whole(visitor, fer2013_store):
    from PIL import Image

    face = Image.fromarray(fer2013_store.images[0])
    result_page(visitor, upload(visitor, file("fer.png", encode(face, "PNG"), "image/png")))
    row = Upload.objects.get()
    assert row.whole_image and row.width == 48 and row.height == 48
    assert [face["box"] for face in row.faces] == [[0, 0, 48, 48]]
    assert set(row.faces[0]["probabilities"]) == set(FER_CLASSES)


@pytest.mark.parametrize("name, encoded, content_type", [
    ("sideways.jpg", lambda: sideways_with_exif(astronaut()), "image/jpeg"),
    ("gray.png", lambda: encode(astronaut().convert("L"), "PNG"), "image/png"),
    ("photo.webp", lambda: encode(astronaut(), "WEBP", quality=90), "image/webp"),
    ("photo.bmp", lambda: encode(astronaut(), "BMP"), "image/bmp"),
    ("cmyk.jpg", lambda: encode(astronaut().convert("CMYK"), "JPEG", quality=92), "image/jpeg"),
    ("deep.png", lambda: sixteen_bit_png(astronaut()), "image/png"),
    ("animated.gif", lambda: animated_gif(astronaut()), "image/gif"),
])
def test_every_accepted_kind_of_photo_finds_the_face(visitor, name, encoded, content_type):
    result_page(visitor, upload(visitor, file(name, encoded(), content_type)))
    row = Upload.objects.get()
    assert row.status == "done" and len(row.faces) == 1, (row.status, row.error, row.faces)


def test_several_photos_at_once_are_each_predicted_and_listed_in_the_history(visitor, astronaut_jpeg, coffee_jpeg):
    response = upload(visitor, file("astronaut.jpg", astronaut_jpeg), file("coffee.jpg", coffee_jpeg))
    assert response.status_code == 302 and response["Location"] == "/history/"
    html = visitor.get("/history/").content.decode()
    assert "astronaut.jpg" in html and "coffee.jpg" in html and "no face found" in html
    assert sorted(Upload.objects.values_list("status", flat=True)) == ["done", "done"]


@pytest.mark.parametrize("problem", list(bad_uploads()))
def test_a_bad_upload_is_refused_with_a_message_and_nothing_is_stored(visitor, problem, settings):
    data, message = bad_uploads()[problem]
    response = upload(visitor, file("photo.jpg", data))
    assert response.status_code == 400 and message in response.content.decode()
    assert not Upload.objects.exists() and not (settings.MEDIA_ROOT / "uploads").exists()


def test_one_bad_photo_among_good_ones_stores_none_of_them(visitor, astronaut_jpeg, settings):
    response = upload(visitor, file("astronaut.jpg", astronaut_jpeg), file("notes.jpg", b"just text"))
    assert response.status_code == 400 and "notes.jpg: not an image" in response.content.decode()
    assert not Upload.objects.exists() and not (settings.MEDIA_ROOT / "uploads").exists()


def test_a_photo_over_the_size_limit_is_refused_with_413(visitor, astronaut_jpeg, settings):
    settings.UPLOAD_MAX_BYTES = 20_000
    response = upload(visitor, file("astronaut.jpg", astronaut_jpeg))
    assert response.status_code == 413 and "the limit is" in response.content.decode()
    assert not Upload.objects.exists()


def test_more_photos_than_allowed_at_once_are_refused(visitor, coffee_jpeg, settings):
    settings.UPLOAD_MAX_FILES = 2
    response = upload(visitor, *[file(f"coffee-{i}.jpg", coffee_jpeg) for i in range(3)])
    assert response.status_code == 400 and "3 files at once; the limit is 2." in response.content.decode()
    assert not Upload.objects.exists()


def test_posting_no_photo_asks_for_one(visitor):
    response = upload(visitor)
    assert response.status_code == 400 and "Choose at least one image." in response.content.decode()


def test_without_a_model_the_page_says_how_to_get_one(visitor, no_model, astronaut_jpeg):
    message = "no model is available: deploy a trained run or add ml/weights/default.pt"
    assert message in visitor.get("/upload/").content.decode()
    response = upload(visitor, file("astronaut.jpg", astronaut_jpeg))
    assert response.status_code == 503 and message in response.content.decode()
    assert not Upload.objects.exists()


def test_a_processing_upload_shows_processing_and_polls_its_status(visitor, coffee_jpeg, settings):
    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 3600  # a worker is expected, and has not answered yet
    page = result_page(visitor, upload(visitor, file("coffee.jpg", coffee_jpeg)))
    row = Upload.objects.get()
    assert row.status == "pending"
    assert "Processing" in page.content.decode() and f'data-upload-status="/uploads/{row.pk}/status.json"' in page.content.decode()
    assert visitor.get(f"/uploads/{row.pk}/status.json").json()["status"] == "pending"


def test_an_upload_whose_worker_died_mid_prediction_is_redone_by_the_web_process(visitor, astronaut_jpeg, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.INFERENCE_WORKER_TIMEOUT_SECONDS = 3600
    response = upload(visitor, file("astronaut.jpg", astronaut_jpeg))
    row = Upload.objects.get()
    Upload.objects.filter(pk=row.pk).update(status="processing", predicted_by="worker",
                                            started_at=timezone.now() - timedelta(seconds=settings.INFERENCE_STALE_SECONDS + 1))
    result_page(visitor, response)
    row.refresh_from_db()
    assert row.status == "done" and row.predicted_by == "web" and len(row.faces) == 1


def test_a_task_delivered_twice_predicts_once(visitor, astronaut_jpeg):
    from emotions.uploads.tasks import predict_upload

    result_page(visitor, upload(visitor, file("astronaut.jpg", astronaut_jpeg)))
    row = Upload.objects.get()
    finished_at = row.finished_at
    predict_upload(str(row.pk))  # the late or duplicate delivery finds it done and leaves it alone
    row.refresh_from_db()
    assert row.predicted_by == "web" and row.finished_at == finished_at
    predict_upload("00000000-0000-0000-0000-000000000000")  # a deleted upload: nothing to do

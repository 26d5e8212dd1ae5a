"""Real short videos made here from a real face photo, analysed as a worker does: faces followed across
frames, the CSV, the timelines and shares, the scrubber's annotated frames, the JSON download.

The videos are analysed once for the module (a worker's task, called in-process) and read by every test."""
import csv
import io

import pytest
from django.test import override_settings
from uploads_test_support import embedded_figure
from videos_test_support import RETURN_GONE, face_video, video_file

from emotions.models import Video
from emotions.videos import services
from emotions.videos.tasks import process_video
from ml.classes import FER_CLASSES

pytestmark = pytest.mark.django_db

SCENES = {"one": "one.avi", "two": "two.mp4", "return": "return.webm"}


@pytest.fixture(scope="module")
def module_media(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, module_media):
    """The module's videos were analysed into one MEDIA_ROOT, which every test reads."""
    settings.MEDIA_ROOT = module_media


@pytest.fixture(scope="module")
def analysed(django_db_setup, django_db_blocker, module_media, tiny_model_path) -> dict[str, str]:
    """{scene: video id}, each analysed to the end by the `inference` task, in this process."""
    ids = {}
    with override_settings(MEDIA_ROOT=module_media, SHIPPED_MODEL_PATH=tiny_model_path), \
            django_db_blocker.unblock(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "send_video", lambda video: True)
        for scene, name in SCENES.items():
            with services.checked_video(video_file(name, face_video(name, scene=scene)), 4.0) as checked:
                video = services.create_video(checked)
            process_video(str(video.pk))
            ids[scene] = str(video.pk)
        yield ids
        Video.objects.filter(pk__in=ids.values()).delete()


def result(analysed, scene: str) -> Video:
    return Video.objects.get(pk=analysed[scene])


# Faces followed across frames.

def test_the_video_is_done_with_its_progress_at_every_frame(analysed):
    video = result(analysed, "one")
    assert video.status == "done" and video.error == ""
    assert (video.frames_done, video.frames_total) == (12, 12)  # 3 s at 4 frames a second
    assert (video.duration, video.fps, video.video_fps, video.width, video.height) == (3.0, 4.0, 12.0, 320, 240)
    assert video.model == "shipped" and video.claimed_by and video.finished_at


def test_one_person_keeps_track_1_in_every_sampled_frame(analysed):
    [face] = result(analysed, "one").faces
    assert face["track"] == 1
    assert [frame["t"] for frame in face["frames"]] == pytest.approx([k / 4 for k in range(12)], abs=0.05)
    for frame in face["frames"]:
        assert frame["label"] in FER_CLASSES and list(frame["probabilities"]) == list(FER_CLASSES)
        assert sum(frame["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    xs = [frame["box"][0] for frame in face["frames"]]
    assert xs == sorted(xs)  # the face glides left to right, and its box with it


def test_two_people_get_two_tracks_that_keep_their_sides(analysed):
    left, right = result(analysed, "two").faces
    assert (left["track"], right["track"]) == (1, 2)
    assert len(left["frames"]) == len(right["frames"]) == 12
    for a, b in zip(left["frames"], right["frames"]):
        assert a["t"] == b["t"] and a["box"][0] + a["box"][2] < b["box"][0]


def test_a_face_away_for_a_while_comes_back_as_a_new_track(analysed):
    first, second = result(analysed, "return").faces
    assert all(frame["t"] < RETURN_GONE[0] for frame in first["frames"])
    assert all(frame["t"] >= RETURN_GONE[1] for frame in second["frames"])
    assert (first["track"], second["track"]) == (1, 2)


# What the result page and the downloads give.

def test_the_csv_has_one_row_per_face_per_sampled_frame(client, analysed):
    video = result(analysed, "two")
    response = client.get(f"/videos/{video.pk}/faces.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert 'filename="two-emotions.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["track", "time", "x", "y", "w", "h", *FER_CLASSES, "label"]
    assert len(rows) - 1 == 24  # 2 faces x 12 frames
    by_track = {track: [row for row in rows[1:] if row[0] == str(track)] for track in (1, 2)}
    for face in video.faces:
        for row, frame in zip(by_track[face["track"]], face["frames"], strict=True):
            assert float(row[1]) == pytest.approx(frame["t"]) and [int(v) for v in row[2:6]] == frame["box"]
            assert row[-1] == frame["label"]
            assert [float(v) for v in row[6:13]] == pytest.approx([frame["probabilities"][c] for c in FER_CLASSES], abs=1e-4)


def test_each_face_has_a_timeline_of_seven_probabilities_and_a_band_of_its_top_emotion(client, analysed):
    video = result(analysed, "two")
    response = client.get(f"/videos/{video.pk}/")
    assert response.status_code == 200
    for face in video.faces:
        figure = embedded_figure(response, f"timeline-{face['track']}")
        lines, band = figure["data"][:-1], figure["data"][-1]
        assert [trace["type"] for trace in lines] == ["scatter"] * 7 and band["type"] == "heatmap"
        assert [trace["name"] for trace in lines] == list(FER_CLASSES)
        times = [frame["t"] for frame in face["frames"]]
        assert all(list(trace["x"]) == times for trace in lines) and list(band["x"]) == times
        assert list(band["customdata"][0]) == [frame["label"] for frame in face["frames"]]
    assert "vendor/plotly.min.js" in response.content.decode()  # served from static/, no CDN


def test_each_faces_share_of_time_per_emotion_adds_up_to_all_its_time(client, analysed):
    video = result(analysed, "two")
    shares = video.emotion_shares()
    assert set(shares) == {1, 2}
    for track, face_shares in shares.items():
        assert list(face_shares) == list(FER_CLASSES) and sum(face_shares.values()) == pytest.approx(1, abs=1e-3)
        labels = [frame["label"] for frame in video.faces[track - 1]["frames"]]
        assert face_shares[labels[0]] == pytest.approx(labels.count(labels[0]) / 12, abs=1e-4)
    figure = embedded_figure(client.get(f"/videos/{video.pk}/"), "shares")
    assert len(figure["data"]) == 7 and list(figure["data"][0]["y"]) == ["Face 1", "Face 2"]


def test_the_page_has_a_scrubber_over_every_annotated_sampled_frame(client, analysed):
    video = result(analysed, "one")
    page = client.get(f"/videos/{video.pk}/").content.decode()
    assert 'type="range" min="0" max="11"' in page and len(video.frame_times) == 12
    frame = client.get(f"/videos/{video.pk}/frames/11.jpg")
    assert frame.status_code == 200 and frame["Content-Type"] == "image/jpeg"
    from PIL import Image

    assert Image.open(io.BytesIO(b"".join(frame.streaming_content))).size == (320, 240)
    assert client.get(f"/videos/{video.pk}/frames/12.jpg").status_code == 404


def test_the_json_download_is_what_the_api_answers(client, analysed):
    video = result(analysed, "two")
    download = client.get(f"/videos/{video.pk}/result.json")
    assert 'filename="two-emotions.json"' in download["Content-Disposition"]
    api = client.get(f"/api/videos/{video.pk}/").json()
    assert download.json() == api
    assert set(api) >= {"id", "status", "progress", "duration", "fps", "faces"}
    assert api["faces"][0]["frames"][0].keys() == {"t", "box", "label", "probabilities"}

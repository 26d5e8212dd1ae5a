"""Videos of real faces, made here from the astronaut's photo, are sampled, followed and classified over time."""
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ml import SHIPPED_CHECKPOINT
from ml.classes import FER_CLASSES
from ml.cli import main
from ml.inference import Box, EmotionPredictor, detect_faces, detect_faces_in_frames, image_to_gray_array
from ml.video import (
    NO_FACE,
    FaceTracker,
    FrameSampler,
    VideoError,
    analyse_video,
    probe_video,
)
from ml.video.reader import container_of

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from face_video import RETURN_GONE, scene_frame, write_face_video  # noqa: E402

SIZE = (320, 240)  # small frames keep MTCNN quick; the faces are still about 45 px
SECONDS, NATIVE_FPS = 3.0, 12.0


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as a worker on a busy machine runs (two stall when another process holds a core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def predictor():
    return EmotionPredictor.from_checkpoint(SHIPPED_CHECKPOINT)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")

    def make(name: str, **keys) -> Path:
        """The video called `name`, written on first use (a name always comes with the same scene)."""
        if not (folder / name).exists():
            write_face_video(folder / name, **{"seconds": SECONDS, "fps": NATIVE_FPS, "size": SIZE, **keys})
        return folder / name

    return make


@pytest.fixture(scope="module")
def one_face(videos, predictor):
    return analyse_video(videos("one.avi", scene="one"), predictor)


@pytest.fixture(scope="module")
def two_faces(videos, predictor):
    return analyse_video(videos("two.avi", scene="two"), predictor, annotated_frames=5)


def sampled_times(path, fps):
    sampler = FrameSampler(path, fps, probe_video(path))
    return [frame.t for frame in sampler], sampler


# Sampling: by the frames' own timestamps, at most the video's own rate.

def test_frames_are_sampled_at_the_asked_rate_by_their_timestamps(videos):
    path = videos("one.avi", scene="one")
    times, sampler = sampled_times(path, 4)
    assert times == pytest.approx([k / 4 for k in range(12)], abs=1e-3)
    assert sampler.end == pytest.approx(SECONDS)
    times, _ = sampled_times(path, 5)  # 0.2 s apart: the nearest of frames 1/12 s apart
    assert len(times) == 15
    assert all(abs(t - k / 5) <= 0.5 / NATIVE_FPS + 1e-3 for k, t in enumerate(times))


def test_the_rate_is_capped_at_the_videos_own(videos, predictor):
    path = videos("slow.avi", scene="one", fps=3, seconds=2)
    times, _ = sampled_times(path, 3)
    assert times == pytest.approx([0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3], abs=1e-3)  # every frame once
    analysis = analyse_video(path, predictor, fps=10)
    assert analysis.fps == 3 and analysis.video_fps == 3
    assert analysis.sample_times == pytest.approx(times, abs=1e-3) and analysis.frames_total == 6


@pytest.mark.parametrize("name", ["one.mp4", "one.mov", "one.webm", "one.mkv"])
def test_mp4_mov_webm_and_matroska_are_read_alike(videos, name):
    path = videos(name, scene="one")
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (*SIZE, 36) and info.fps == pytest.approx(NATIVE_FPS)
    assert info.duration == pytest.approx(SECONDS, abs=0.01)
    times, _ = sampled_times(path, 4)
    assert times == pytest.approx([k / 4 for k in range(12)], abs=2e-3)  # WebM keeps milliseconds


def test_a_webm_without_its_duration_is_measured_from_its_frames(videos, tmp_path):
    # What a browser's MediaRecorder writes: no Duration in the header, so FFmpeg reports -1e17 frames.
    data = bytearray(videos("one.webm", scene="one").read_bytes())
    at = data.find(b"\x44\x89\x88")  # Duration, an 8-byte float
    data[at:at + 11] = b"\xec\x89" + bytes(9)  # the same bytes as a Void element
    path = tmp_path / "recorded.webm"
    path.write_bytes(data)
    info = probe_video(path)
    assert info.measured and info.frame_count == 36
    assert info.fps == pytest.approx(NATIVE_FPS) and info.duration == pytest.approx(SECONDS, abs=0.01)
    times, _ = sampled_times(path, 4)
    assert times == pytest.approx([k / 4 for k in range(12)], abs=2e-3)


def test_containers_are_recognised_by_their_first_bytes(videos):
    for name in ("one.avi", "one.mp4", "one.webm"):
        assert container_of(videos(name, scene="one").read_bytes()[:16]) is not None
    assert container_of(b"#EXTM3U\n#EXT-X-") is None  # a playlist FFmpeg would follow to other files
    assert container_of(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00") is None


# Following faces.

def test_one_person_keeps_track_1_through_the_video(one_face):
    (face,) = one_face.faces
    assert face.track == 1
    assert [frame.t for frame in face.frames] == one_face.sample_times == pytest.approx([k / 4 for k in range(12)])
    lefts = [frame.box.x for frame in face.frames]
    assert lefts == sorted(lefts) and lefts[-1] - lefts[0] > 80  # she glides to the right


def test_two_people_get_two_tracks_that_keep_their_sides(two_faces):
    left, right = two_faces.faces
    assert (left.track, right.track) == (1, 2)
    assert len(left.frames) == len(right.frames) == two_faces.frames_total == 12
    assert all(frame.box.x + frame.box.w < SIZE[0] / 2 for frame in left.frames)
    assert all(frame.box.x > SIZE[0] / 2 for frame in right.frames)


def test_a_face_away_for_more_than_a_second_comes_back_as_a_new_track(videos, predictor):
    analysis = analyse_video(videos("return.avi", scene="return"), predictor)
    before, after = analysis.faces
    assert (before.track, after.track) == (1, 2)
    assert [f.t for f in before.frames] == pytest.approx([0, 0.25, 0.5, 0.75])
    assert [f.t for f in after.frames] == pytest.approx([2.5, 2.75])
    assert RETURN_GONE == (1.0, 2.5)


def test_the_tracker_keeps_a_face_through_short_misses_and_fast_moves():
    tracker = FaceTracker(max_gap=1.0)
    assert tracker.update(0.0, [Box(300, 50, 60, 60), Box(20, 50, 60, 60)]) == [1, 2]  # as given, new ones in order
    assert tracker.update(0.25, [Box(25, 52, 60, 60), Box(305, 50, 60, 60)]) == [2, 1]  # overlap decides
    assert tracker.update(0.5, [Box(75, 50, 60, 60)]) == [2]  # moved 50 px: no overlap to speak of, centre near
    assert tracker.update(1.5, [Box(300, 50, 60, 60)]) == [3]  # track 1, last seen at 0.25 s, has ended
    tracker = FaceTracker(max_gap=1.0)
    tracker.update(0.0, [Box(0, 0, 50, 50)])
    assert tracker.update(1.0, [Box(2, 0, 50, 50)]) == [1]  # away 1 s: still the same face
    assert tracker.update(2.25, [Box(2, 0, 50, 50)]) == [2]  # away 1.25 s: a new track
    assert tracker.update(2.5, [Box(400, 0, 50, 50)]) == [3]  # far away: someone else
    assert tracker.update(2.75, [Box(2, 0, 200, 200)]) == [4]  # overlapping but four times the size


# The result: JSON, CSV, shares, pictures.

def test_the_json_has_the_apis_shape(two_faces):
    result = json.loads(json.dumps(two_faces.to_json()))
    assert set(result) == {"duration", "fps", "faces"}
    assert result["duration"] == pytest.approx(SECONDS) and result["fps"] == 4
    assert [face["track"] for face in result["faces"]] == [1, 2]
    frame = result["faces"][0]["frames"][1]
    assert set(frame) == {"t", "box", "label", "probabilities"} and frame["t"] == 0.25
    assert len(frame["box"]) == 4 and all(isinstance(v, int) for v in frame["box"])
    assert list(frame["probabilities"]) == list(FER_CLASSES) and frame["label"] in FER_CLASSES
    assert sum(frame["probabilities"].values()) == pytest.approx(1, abs=1e-3)


def test_the_csv_has_one_row_per_face_per_sampled_frame(two_faces, tmp_path):
    two_faces.write_csv(tmp_path / "faces.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "faces.csv").read_text())))
    assert two_faces.to_csv() == (tmp_path / "faces.csv").read_bytes().decode()  # RFC 4180 line ends
    assert list(rows[0]) == ["track", "time", "x", "y", "w", "h", *FER_CLASSES, "label"]
    assert len(rows) == 2 * two_faces.frames_total
    assert [row["track"] for row in rows] == ["1"] * 12 + ["2"] * 12
    first = two_faces.faces[0].frames[0]
    assert (float(rows[0]["time"]), int(rows[0]["x"]), rows[0]["label"]) == (first.t, first.box.x, first.label)
    assert all(sum(float(row[name]) for name in FER_CLASSES) == pytest.approx(1, abs=2e-3) for row in rows)


def test_each_faces_share_of_time_per_emotion(two_faces):
    shares = two_faces.emotion_shares()
    assert list(shares) == [1, 2]
    for share in shares.values():
        assert list(share) == list(FER_CLASSES) and sum(share.values()) == pytest.approx(1)
        assert max(share, key=share.get) == "Happy"  # she smiles throughout, and the shipped model sees it


def test_annotated_frames_are_spread_jpegs_with_the_boxes_drawn(two_faces):
    frames = two_faces.annotated
    assert len(frames) == 5 and [f.t for f in frames] == sorted(f.t for f in frames) and frames[0].t == 0
    picture = Image.open(io.BytesIO(frames[0].jpeg))
    assert picture.format == "JPEG" and picture.size == SIZE
    box = two_faces.faces[0].frames[0].box
    r, g, b = picture.convert("RGB").getpixel((box.x + box.w // 2, box.y + box.h - 1))
    assert g > 150 and r < 90 and b < 140  # the green box's bottom edge (JPEG blurs it a little)


def test_a_video_without_a_face_has_no_faces_and_is_no_error(videos, predictor):
    analysis = analyse_video(videos("coffee.avi", scene="none"), predictor)
    assert analysis.faces == [] and analysis.frames_total == 12 and len(analysis.sample_times) == 12
    assert analysis.to_json()["faces"] == [] and analysis.to_csv().count("\n") == 1  # the header alone
    assert NO_FACE == "no face was found in any sampled frame"


def test_frames_get_the_faces_the_photo_path_finds(predictor):
    frames = [scene_frame("two", t, SECONDS, SIZE) for t in (0.0, 0.6, 1.3)]
    batched = predictor.analyse_frames(frames)
    for frame, faces in zip(frames, batched):
        alone = predictor.analyse(Image.fromarray(frame)).faces
        assert [f.box for f in faces] == [f.box for f in alone] and len(faces) == 2
        for ours, photo in zip(faces, alone):
            assert np.array_equal(ours.crop, photo.crop) and ours.label == photo.label
            assert ours.probabilities == pytest.approx(photo.probabilities, abs=1e-3)
    assert detect_faces_in_frames([image_to_gray_array(Image.fromarray(f)) for f in frames], detector="haar") == [
        detect_faces(image_to_gray_array(Image.fromarray(f)), detector="haar") for f in frames]
    assert predictor.analyse_frames([]) == []


# Progress and cancelling.

def test_progress_is_reported_up_to_the_total(videos, predictor):
    calls = []
    analysis = analyse_video(videos("one.avi", scene="one"), predictor,
                             progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 12) and calls[-1] == (12, 12) == (analysis.frames_done, analysis.frames_total)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_should_stop_stops_between_frames_and_says_so(videos, predictor):
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 9  # after 9 frames have been read

    analysis = analyse_video(videos("one.avi", scene="one"), predictor, should_stop=should_stop)
    assert analysis.cancelled and analysis.frames_total == 12
    assert analysis.frames_done == 8 == len(analysis.sample_times)  # the first batch; the ninth frame is dropped
    assert len(analysis.faces[0].frames) == 8


# Bad input: refused with a message for the uploader.

def refused(path, **keys) -> str:
    with pytest.raises(VideoError) as caught:
        probe_video(path, **keys)
    return str(caught.value)


def test_a_text_file_named_mp4_is_not_a_video(tmp_path):
    (tmp_path / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
    assert refused(tmp_path / "notes.mp4") == "not a video we can read (MP4, MOV, WebM, AVI)"


def test_a_photo_or_a_playlist_named_mp4_is_not_a_video(tmp_path, astronaut):
    astronaut.save(tmp_path / "photo.mp4", format="JPEG")
    (tmp_path / "list.mp4").write_text("#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n")
    assert refused(tmp_path / "photo.mp4").startswith("not a video")
    assert refused(tmp_path / "list.mp4").startswith("not a video")


def test_an_empty_file_is_refused(tmp_path):
    (tmp_path / "empty.webm").write_bytes(b"")
    assert refused(tmp_path / "empty.webm") == "the file is empty"


@pytest.mark.parametrize("name", ["one.avi", "one.mp4", "one.webm"])
def test_a_video_cut_short_before_its_first_frame_has_no_decodable_frame(videos, tmp_path, name):
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(videos(name, scene="one").read_bytes()[:400])
    assert refused(cut) == "the video is truncated or corrupt: no frame of it could be decoded"


def test_a_video_cut_short_later_gives_the_frames_it_has(videos, tmp_path, predictor):
    data = videos("one.avi", scene="one").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # AVI's index is at the end: FFmpeg reads on without it
    analysis = analyse_video(cut, predictor)
    assert 3 <= analysis.frames_total < 12 and analysis.frames_done == analysis.frames_total
    assert analysis.duration < SECONDS and len(analysis.faces) == 1


def test_a_video_longer_than_the_limit_is_refused(videos):
    path = videos("one.avi", scene="one")
    assert refused(path, max_seconds=2) == "the video is 3 s long; the limit is 2 s"
    assert probe_video(path, max_seconds=3).duration == pytest.approx(3)


def test_a_longer_video_than_its_header_says_is_stopped_at_the_limit(videos, predictor, monkeypatch):
    from ml.video import reader

    path = videos("one.avi", scene="one")
    lying = reader.VideoInfo(duration=1.0, fps=12.0, frame_count=12, width=SIZE[0], height=SIZE[1], measured=False)
    monkeypatch.setattr("ml.video.analysis.probe_video", lambda *a, **k: lying)
    with pytest.raises(VideoError, match=r"the video is more than 2\.1 s long; the limit is 2 s"):
        analyse_video(path, predictor, max_seconds=2)


def test_frames_larger_than_4k_are_refused(videos, monkeypatch):
    monkeypatch.setattr("ml.video.reader.MAX_FRAME_PIXELS", 320 * 239)
    assert refused(videos("one.avi", scene="one")) == (
        "the video's frames are 320x240 pixels; the limit is 0.1 megapixels (4K)")


def test_an_fps_of_zero_is_a_programming_error(videos, predictor):
    with pytest.raises(ValueError, match="fps must be greater than 0"):
        analyse_video(videos("one.avi", scene="one"), predictor, fps=0)


# The command line.

def test_the_command_writes_csv_and_json_and_sums_up_each_face(videos, tmp_path, capsys):
    path = videos("two.avi", scene="two")
    code = main(["analyse-video", str(path), "--fps", "2", "--csv", str(tmp_path / "f.csv"),
                 "--json", str(tmp_path / "f.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "6 frames sampled at 2 fps; 2 faces" in out and "face 2: 0.00-2.50 s, 6 frames: Happy" in out
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 1 + 2 * 6
    assert json.loads((tmp_path / "f.json").read_text())["fps"] == 2


def test_the_command_names_the_file_it_refuses(tmp_path, capsys):
    (tmp_path / "notes.mp4").write_text("not a video")
    assert main(["analyse-video", str(tmp_path / "notes.mp4")]) == 2
    expected = f"error: {tmp_path / 'notes.mp4'}: not a video we can read (MP4, MOV, WebM, AVI)"
    assert capsys.readouterr().err.strip() == expected
    assert main(["analyse-video", str(tmp_path / "missing.webm")]) == 2
    assert "missing.webm" in capsys.readouterr().err

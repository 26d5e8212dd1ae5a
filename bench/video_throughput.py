"""Video analysis speed on this CPU: sampled frames per second, and seconds of video per second, with baselines.

The video is made on the spot from a real photo (bench/face_video.py: the astronaut twice, side by side,
bobbing; 20 s at 25 fps, 640x480, mp4v in MP4 by default) unless --video names one. Measured in one
process with the same threads, so machine load weighs on every row alike:

- fps 4, 8 frames searched and classified per batch: `analyse_video` as the web app runs it;
- fps 4, one frame at a time (baseline): each frame through the detector and the model on its own, as
  a photo upload goes;
- every frame, 8 per batch (baseline): no sampling, over the first --every-frame-seconds of the video;
- decoding and sampling alone: what the reader costs, without faces.

    python bench/video_throughput.py                      # shipped model, 2 threads
    python bench/video_throughput.py --threads 1 --video talk.webm --json var/bench/video_throughput.json
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from face_video import write_face_video  # noqa: E402
from ml import SHIPPED_CHECKPOINT  # noqa: E402
from ml.inference import EmotionPredictor  # noqa: E402
from ml.video import FrameSampler, analyse_video, probe_video  # noqa: E402
from report import cpu_name, save_json  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(SHIPPED_CHECKPOINT), help="the model (default: the shipped one)")
    parser.add_argument("--video", help="a video file to measure instead of the one made from the astronaut")
    parser.add_argument("--seconds", type=float, default=20, help="length of the made video (default 20)")
    parser.add_argument("--video-fps", type=float, default=25, help="frame rate of the made video (default 25)")
    parser.add_argument("--size", default="640x480", help="frame size of the made video (default 640x480)")
    parser.add_argument("--container", default="mp4", choices=["mp4", "avi", "webm"], help="(default mp4)")
    parser.add_argument("--fps", type=float, default=4, help="sampling rate measured (default 4)")
    parser.add_argument("--every-frame-seconds", type=float, default=4,
                        help="seconds of the video analysed frame by frame for the no-sampling row (default 4)")
    parser.add_argument("--threads", type=int, default=2, help="torch's and OpenCV's threads (default 2)")
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args(argv)


def measure(name: str, run, video_seconds: float) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    frames, faces = run()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "measurement": name,
        "video_seconds": round(video_seconds, 2),
        "frames": frames,
        "faces": faces,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "frames_per_s": round(frames / wall, 2),
        "x_real_time": round(video_seconds / wall, 2),
    }


def analysis_run(path: Path, predictor: EmotionPredictor, fps: float, frame_batch: int):
    def run():
        analysis = analyse_video(path, predictor, fps=fps, frame_batch=frame_batch)
        return analysis.frames_done, sum(len(face.frames) for face in analysis.faces)
    return run


def sampling_run(path: Path, fps: float):
    def run():
        return sum(1 for _ in FrameSampler(path, fps, probe_video(path))), 0
    return run


def made_video(folder: Path, args, seconds: float) -> Path:
    width, height = (int(side) for side in args.size.split("x"))
    path = folder / f"two-faces-{seconds:g}s.{args.container}"
    return write_face_video(path, scene="two", seconds=seconds, fps=args.video_fps, size=(width, height))


def clip_of(path: Path, seconds: float, folder: Path) -> Path:
    """The first `seconds` of a video given with --video, copied frame by frame (MJPG in AVI)."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    fps = capture.get(cv2.CAP_PROP_FPS)
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    clip = folder / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for _ in range(round(seconds * fps)):
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    capture.release()
    return clip


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [
        f"CPU: {env['cpu']} ({env['cores']} cores, load average {env['load_average']} at the start);"
        f" torch {env['torch']}, {env['threads']} threads; model {env['model']}",
        f"Video: {env['video']}",
        "",
        "| measurement | video s | frames | faces | wall s | CPU s | frames/s | x real time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["rows"]:
        cells = [r["measurement"], r["video_seconds"], r["frames"], r["faces"], r["wall_s"], r["cpu_s"],
                 r["frames_per_s"], r["x_real_time"]]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    load_average = round(os.getloadavg()[0], 2)  # a shared CPU: other work slows every row alike
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    predictor = EmotionPredictor.from_checkpoint(args.checkpoint)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        video = Path(args.video) if args.video else made_video(folder, args, args.seconds)
        info = probe_video(video, max_seconds=None)
        every_seconds = min(args.every_frame_seconds, info.duration)
        clip = (clip_of(video, every_seconds, folder) if args.video else made_video(folder, args, every_seconds))
        analyse_video(clip, predictor, fps=args.fps, max_seconds=None)  # warm-up: MTCNN and the model built
        rows = [
            measure(f"fps {args.fps:g}, 8 frames per batch (as served)",
                    analysis_run(video, predictor, args.fps, 8), info.duration),
            measure(f"fps {args.fps:g}, one frame at a time (baseline)",
                    analysis_run(video, predictor, args.fps, 1), info.duration),
            measure(f"every frame ({info.fps:g} fps), 8 per batch (baseline)",
                    analysis_run(clip, predictor, info.fps, 8), every_seconds),
            measure(f"decoding and sampling at fps {args.fps:g} alone", sampling_run(video, args.fps), info.duration),
        ]
        source = args.video or f"bench/face_video.py scene 'two' (the astronaut twice), {args.container}"
        environment = {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "load_average": load_average,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "model": f"{predictor.model_name} ({Path(args.checkpoint).name})",
            "video": f"{source}: {info.duration:g} s at {info.fps:g} fps, {info.width}x{info.height}",
        }
    results = {"environment": environment, "rows": rows}
    print(markdown(results))
    save_json(args.json, results)


if __name__ == "__main__":
    main()

"""End-to-end image inference speed on CPU: images/s and seconds per stage, for 1 and 8 people per image.

Stages, as `SmplestXPipeline.timings` measures them plus the overlay:
decode (JPEG files -> RGB arrays) · detect (person detector) · crop (processor: boxes -> 256x192 crops) ·
model (network + SMPL-X body model) · postprocess (full-image cameras, keypoints, NumPy results) ·
render (overlay of all meshes on the image, `export.render_overlay`).

Weights are random (speed does not depend on them). The detector is RT-DETR R50vd with random weights (the
architecture of the default `PekingU/rtdetr_r50vd_coco_o365`, built offline) at threshold 0 with NMS off and
`max_people` = the people count, so every image yields exactly that many people; `--detector ID` times a real
detector instead (its people count then depends on the images). The body model is the synthetic SMPL-X-format
model (same sizes as SMPL-X) unless `--body-model DIR` is given. Each configuration runs once to warm up, then
`--repeats` times; the medians are reported. The baseline in the same run is the tiny preset.

Video (`--video-frames N`, default 16; 0 skips it): the first preset on an N-frame 640x480 H.264 video through
`smplest_hf.video.pipeline.process_video` (decode, crop, model, track, smooth, postprocess = meshes from the smoothed
parameters) plus the overlay (render) and its H.264 encoding (encode), with smoothing on and off. The people's
boxes are given (each walking slowly across the frame, so tracks are stable as in real footage): detection costs
per frame what it costs per image (table above) and would only blur the video-specific stages.

    python benchmarks/inference.py                          # tiny and b, 1 and 8 people, 4 images of 640x480
    python benchmarks/inference.py --presets tiny --people 1 --repeats 2
    python benchmarks/inference.py --presets tiny --images 0 --video-frames 32   # video only
    python benchmarks/inference.py --presets tiny --cameras box fov:60 --video-frames 0   # cost of camera placement

`--cameras`: each image configuration once per camera (`SmplestXPipeline(camera=...)`); placing people in a given
camera adds to "postprocess".
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("decode", "detect", "crop", "model", "postprocess", "render")
VIDEO_STAGES = ("decode", "crop", "model", "track", "smooth", "postprocess", "render", "encode")


def random_rt_detr_r50(people: int):
    """RT-DETR R50vd-sized detector with random weights that always returns `people` person boxes."""
    from transformers import RTDetrConfig, RTDetrForObjectDetection
    from transformers.models.rt_detr.image_processing_pil_rt_detr import (
        RTDetrImageProcessorPil,
    )

    from smplest_hf.inference.detection import PersonDetector

    torch.manual_seed(0)
    config = RTDetrConfig(id2label={0: "person", 1: "other"}, label2id={"person": 0, "other": 1})
    model = RTDetrForObjectDetection(config).eval()
    processor = RTDetrImageProcessorPil(size={"height": 640, "width": 640})
    return PersonDetector(model, processor, threshold=0.0, nms_iou=1.0, max_people=people, min_box_size=1.0)


def write_images(folder: Path, count: int, size=(480, 640)) -> list[Path]:
    """Smooth random colour images saved as JPEG (decoding is part of what we time)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        coarse = rng.integers(0, 256, (size[0] // 16, size[1] // 16, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize(size[::-1], Image.Resampling.BILINEAR)
        paths.append(folder / f"image_{index}.jpg")
        image.save(paths[-1], quality=90)
    return paths


def measure(pipeline, paths: list[Path], repeats: int) -> dict:
    """Median seconds per stage over `repeats` runs (after one warm-up run) of all `paths`."""
    from smplest_hf.export.results import render_overlay

    runs = []
    for run in range(repeats + 1):
        pipeline.timings = dict.fromkeys(pipeline.timings, 0.0)
        start = time.perf_counter()
        images = pipeline.load_images(paths)
        results = pipeline.run(images)
        render_start = time.perf_counter()
        for image, people in zip(images, results):
            render_overlay(image.pixels, people, pipeline.faces, image.scale)
        end = time.perf_counter()
        if run:  # the first run warms up caches and kernels
            runs.append({**pipeline.timings, "render": end - render_start, "total": end - start,
                         "people": sum(len(people) for people in results)})  # fmt: skip
    return {name: statistics.median(run[name] for run in runs) for name in (*STAGES, "total", "people")}


def write_video(path: Path, count: int, size=(480, 640)) -> Path:
    """A smooth random background with a bright block walking across it, encoded like any phone video (H.264)."""
    from PIL import Image

    from smplest_hf.video.video_io import VideoWriter

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (size[0] // 16, size[1] // 16, 3), dtype=np.uint8)
    background = np.asarray(Image.fromarray(coarse).resize(size[::-1], Image.Resampling.BILINEAR))
    with VideoWriter(path, fps=30) as writer:
        for index in range(count):
            frame = background.copy()
            left = 100 + 8 * index
            frame[100:400, left : left + 120] = 220
            writer.write(frame)
    return path


def walking_boxes(people: int, frames: int) -> list[list[list[float]]]:
    """Per frame, `people` xywh boxes side by side, each moving 2 pixels per frame."""
    return [[[20.0 + 72 * person + 2 * frame, 60.0, 70.0, 300.0] for person in range(people)] for frame in range(frames)]


def measure_video(pipeline, path: Path, boxes, repeats: int, smoothing: bool) -> dict:
    """Median seconds per video stage over `repeats` runs (after one warm-up run): the pipeline's stages plus
    rendering the overlay and encoding it."""
    from smplest_hf.export.results import render_overlay
    from smplest_hf.video.pipeline import process_video
    from smplest_hf.video.video_io import VideoWriter

    runs = []
    for run in range(repeats + 1):
        render = encode = 0.0
        frames = people = 0
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            writer = VideoWriter(Path(folder) / "overlay.mp4", fps=30)
            for frame in process_video(pipeline, path, boxes=boxes, smoothing=smoothing):
                render_start = time.perf_counter()
                overlay = render_overlay(frame.image.pixels, frame.people, pipeline.faces, frame.image.scale)
                encode_start = time.perf_counter()
                writer.write(overlay)
                render, encode = render + encode_start - render_start, encode + time.perf_counter() - encode_start
                frames, people = frames + 1, people + len(frame.people)
            encode_start = time.perf_counter()
            writer.close()
            encode += time.perf_counter() - encode_start
        end = time.perf_counter()
        if run:
            runs.append({**pipeline.timings, "render": render, "encode": encode, "total": end - start, "frames": frames, "people": people})
    return {name: statistics.median(run[name] for run in runs) for name in (*VIDEO_STAGES, "total", "frames", "people")}


def video_rows(args, body_model_dir, folder: Path) -> list[dict]:
    """The video measurements for the first preset, every people count, smoothing off and on."""
    from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
    from smplest_hf.inference.pipeline import SmplestXPipeline

    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset(args.presets[0])).eval()
    path = write_video(folder / "video.mp4", args.video_frames)
    rows = []
    pipeline = SmplestXPipeline(model, body_model_dir=body_model_dir, detector="none", device="cpu", batch_size=args.batch_size)
    for people in args.people:
        boxes = walking_boxes(people, args.video_frames)
        for smoothing in (False, True):
            rows.append({"people_per_frame": people, "smoothing": smoothing, **measure_video(pipeline, path, boxes, args.repeats, smoothing)})
            print(f"  done: video, {people} people/frame, smoothing {'on' if smoothing else 'off'}", file=sys.stderr)
    return rows


def print_video_table(args, rows: list[dict]) -> None:
    print(f"\nCPU video inference ({args.presets[0]} preset), {args.threads} threads, {args.video_frames} frames of 640x480 "
          f"H.264 per run, given boxes, median of {args.repeats} runs, float32, batch size {args.batch_size}; overlay rendered and encoded")  # fmt: skip
    print(f"{'people/frame':>12} {'smoothing':>9} {'frames/s':>9} " + " ".join(f"{stage + ' ms/frame':>17}" for stage in VIDEO_STAGES))
    baseline = {row["people_per_frame"]: row["total"] for row in rows if not row["smoothing"]}
    for row in rows:
        frames = row["frames"]
        print(f"{row['people_per_frame']:>12} {'on' if row['smoothing'] else 'off':>9} {frames / row['total']:>9.3f} "
              + " ".join(f"{1000 * row[stage] / frames:>17.2f}" for stage in VIDEO_STAGES)
              + f"   (x{row['total'] / baseline[row['people_per_frame']]:.2f} the time without smoothing)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "b"])
    parser.add_argument("--people", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--images", type=int, default=4, help="images per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--detector", default=None, help="Hub id or folder of a real detector (default: random RT-DETR R50)")
    parser.add_argument("--body-model", default=None, help="folder containing smplx/ (default: synthetic)")
    parser.add_argument("--video-frames", type=int, default=16, help="frames of the video benchmark (0 = skip it)")
    parser.add_argument("--cameras", nargs="+", default=["box"], help="image runs per camera: box, fov:60, ... (default: box)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
    from smplest_hf.inference.detection import PersonDetector
    from smplest_hf.inference.pipeline import SmplestXPipeline

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        body_model_dir = args.body_model
        if body_model_dir is None:
            from smplest_hf.synthetic import write_synthetic_body_model

            body_model_dir = write_synthetic_body_model(folder / "body_model", seed=0)
        paths = write_images(folder, args.images)
        rows = []
        for preset in args.presets if args.images else []:
            torch.manual_seed(0)
            model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset(preset)).eval()
            for people in args.people:
                if args.detector:
                    detector = PersonDetector.from_pretrained(args.detector, max_people=people)
                else:
                    detector = random_rt_detr_r50(people)
                for camera in args.cameras:
                    pipeline = SmplestXPipeline(model, body_model_dir=body_model_dir, detector=detector,
                                                device="cpu", batch_size=args.batch_size, camera=camera)  # fmt: skip
                    rows.append({"preset": preset, "people_per_image": people, "camera": camera,
                                 **measure(pipeline, paths, args.repeats)})  # fmt: skip
                    print(f"  done: {preset}, {people} people/image, camera {camera}", file=sys.stderr)
        videos = video_rows(args, body_model_dir, folder) if args.video_frames else []

    if rows:
        print_image_table(args, rows)
    if videos:
        print_video_table(args, videos)


def print_image_table(args, rows: list[dict]) -> None:
    print(f"CPU end-to-end image inference, {args.threads} threads, {args.images} images of 640x480 per run, "
          f"median of {args.repeats} runs, float32, batch size {args.batch_size}")  # fmt: skip
    header = f"{'preset':>6} {'camera':>8} {'people/img':>10} {'found':>6} {'images/s':>9} " + " ".join(f"{stage + ' s/img':>16}" for stage in STAGES)
    print(header)
    first = (args.presets[0], args.cameras[0])
    baseline = {row["people_per_image"]: row["total"] for row in rows if (row["preset"], row["camera"]) == first}
    for row in rows:
        per_image = {stage: row[stage] / args.images for stage in STAGES}
        print(f"{row['preset']:>6} {row['camera']:>8} {row['people_per_image']:>10} {row['people'] / args.images:>6.1f} "
              f"{args.images / row['total']:>9.3f} " + " ".join(f"{per_image[stage]:>16.4f}" for stage in STAGES)
              + f"   (x{row['total'] / baseline[row['people_per_image']]:.2f} the {first[0]}/{first[1]} time)")  # fmt: skip


if __name__ == "__main__":
    main()

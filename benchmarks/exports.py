"""Writing the outputs against the forward pass, per person: does exporting keep up with the model?

What `smplest-x infer` runs (`infer_image_files` / `infer_video_file`, the CLI's code path), timed by the run
summary itself: the forward is the `model` stage of `stage_seconds`, each output kind's cost is its entry of
`export_seconds` (`overlay` = rendering + PNG / H.264 encoding). Every figure is per person (per person and frame
for the video), the median over `--repeats` runs after one warm-up run, configurations interleaved within each
repeat so that load from other processes hits them alike. The target is exports / forward < 1.

The model is the B preset with random weights (`torch.manual_seed(0)`; speed does not depend on them), saved to a
temporary folder and loaded by `SmplestXPipeline` at the dtype `--dtype auto` picks (printed, with the reason).
The baseline in the same run is the same model in float32, forward only (outputs: params), so the reduced
precision's speed-up of the forward is visible. The body model is the synthetic SMPL-X-format model (same sizes as
SMPL-X) unless `--body-model DIR` is given.

Inputs: the bundled demo images (`smplest_hf/demo_data`, 3 images, 6 people, boxes from its `boxes.json`;
`--image-copies N` repeats them N times), and a synthetic 640x480 H.264 video of `--video-frames` frames with
`--video-people` people walking (`benchmarks/inference.py`'s `write_video` / `walking_boxes`), boxes given.
Images write params, mesh (OBJ + PLY) and overlay; the video writes params, mesh (PLY per frame), overlay and,
separately, the video default (`DEFAULT_VIDEO_OUTPUTS`: params, overlay, keypoints, anim).

    python benchmarks/exports.py                                  # 3 repeats, 16 video frames x 2 people
    python benchmarks/exports.py --repeats 1 --video-frames 8     # a quick look (a few minutes)
    python benchmarks/exports.py --video-frames 0 --image-copies 4   # images only

A second table times two writers against their previous versions in the same run: `save_obj`, which formatted the
same face lines again for every mesh (`previous_save_obj`; the bytes are the same), and the overlay's `save_image`,
which used Pillow's default zlib level 6 (`previous_save_image`; the pixels are the same, the file larger).
"""

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from inference import walking_boxes, write_video  # noqa: E402  (benchmarks/inference.py, the same synthetic video)

EXPORT_KINDS = ("params", "mesh", "glb", "keypoints", "overlay", "anim")
IMAGE_OUTPUTS = ("params", "mesh", "overlay")
VIDEO_OUTPUTS = ("params", "mesh", "overlay")


def save_b_model(folder: Path) -> Path:
    """The B preset with random weights (seed 0), saved as a model folder, as users load theirs."""
    from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery

    torch.manual_seed(0)
    SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("b")).save_pretrained(folder)
    return folder


def demo_images(folder: Path, copies: int) -> tuple[list[Path], list]:
    """The bundled demo images (copied `copies` times under new names) and their given boxes."""
    from smplest_hf.inference.image_files import read_boxes_file

    demo = ROOT / "smplest_hf" / "demo_data"
    sources = sorted(demo.glob("*.jpg"))
    boxes = read_boxes_file(demo / "boxes.json", sources)
    folder.mkdir()
    files, file_boxes = [], []
    for copy in range(copies):
        for source, source_boxes in zip(sources, boxes):
            files.append(shutil.copyfile(source, folder / f"{source.stem}_{copy}.jpg"))
            file_boxes.append(source_boxes)
    return files, file_boxes


def run_images(pipeline, files, boxes, kinds, folder: Path) -> dict:
    """One `infer_image_files` run (the CLI's path) -> its people count and seconds per stage and kind."""
    from smplest_hf.inference.image_files import infer_image_files

    output = Path(tempfile.mkdtemp(dir=folder))
    summary = infer_image_files(pipeline, files, output / "out", kinds=kinds, boxes=boxes, progress=False)
    shutil.rmtree(output)
    return {"people": summary["people"], "forward": summary["stage_seconds"]["model"], **summary["export_seconds"]}


def run_video(pipeline, path: Path, boxes, kinds, folder: Path) -> dict:
    """One `infer_video_file` run -> its person-frame count and seconds per stage and kind."""
    from smplest_hf.video.video_file import infer_video_file

    output = Path(tempfile.mkdtemp(dir=folder))
    summary = infer_video_file(pipeline, path, output / "out", kinds=kinds, boxes=boxes, progress=False)
    shutil.rmtree(output)
    return {"people": summary["people"], "forward": summary["stage_seconds"]["model"], **summary["export_seconds"]}


def previous_save_obj(path, vertices, faces) -> Path:
    """The OBJ writer before the face lines were cached: every line of every mesh formatted anew (the baseline)."""
    from smplest_hf.export.atomic import write_bytes_atomic

    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    text = ("v %.6f %.6f %.6f\n" * len(vertices)) % tuple(vertices.ravel())
    text += ("f %d %d %d\n" * len(faces)) % tuple((faces + 1).ravel())
    return write_bytes_atomic(path, text.encode("ascii"))


def previous_save_image(path, pixels) -> Path:
    """The overlay PNG writer before: Pillow's default zlib level 6 (the baseline)."""
    from PIL import Image

    from smplest_hf.export.atomic import write_bytes_atomic

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return write_bytes_atomic(path, buffer.getvalue())


def measure_writers(pipeline, folder: Path, repeats: int) -> list[dict]:
    """Median ms per file of each writer and its previous version (interleaved) on a B mesh and a demo overlay,
    with the file sizes; checks that the OBJ bytes and the PNG pixels did not change."""
    from PIL import Image

    from smplest_hf.export.results import render_overlay, save_image, save_obj

    image = pipeline.load_images([ROOT / "smplest_hf" / "demo_data" / "sample_0.jpg"])[0]
    boxes = json.loads((ROOT / "smplest_hf" / "demo_data" / "boxes.json").read_text())["sample_0.jpg"]
    people = pipeline.run([image], [boxes])[0]
    overlay = render_overlay(image.pixels, people, pipeline.faces, image.scale)
    writers = {
        "OBJ, one B mesh": (previous_save_obj, save_obj, (people[0]["vertices"], pipeline.faces), ".obj"),
        "overlay PNG, 640x480": (previous_save_image, save_image, (overlay,), ".png"),
    }
    rows = []
    for name, (previous, now, arguments, suffix) in writers.items():
        times = {"previous": [], "now": []}
        for run in range(max(repeats, 3) * 3 + 1):
            for version, writer in (("previous", previous), ("now", now)):
                start = time.perf_counter()
                writer(folder / f"{version}{suffix}", *arguments)
                if run:  # the first run warms up (and fills the OBJ face-line cache)
                    times[version].append(time.perf_counter() - start)
        files = {version: folder / f"{version}{suffix}" for version in times}
        if suffix == ".obj" and files["previous"].read_bytes() != files["now"].read_bytes():
            raise AssertionError("save_obj no longer writes the bytes the previous writer wrote")
        if suffix == ".png" and not np.array_equal(*(np.asarray(Image.open(file)) for file in files.values())):
            raise AssertionError("save_image no longer writes the pixels the previous writer wrote")
        rows.append({"writer": name, **{version: 1000 * statistics.median(values) for version, values in times.items()},
                     **{f"{version}_kb": file.stat().st_size / 1000 for version, file in files.items()}})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-copies", type=int, default=1, help="how many times the 3 demo images are used per run")
    parser.add_argument("--video-frames", type=int, default=16, help="frames of the synthetic video (0 = skip it)")
    parser.add_argument("--video-people", type=int, default=2, help="people per video frame")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--body-model", default=None, help="folder containing smplx/ (default: synthetic)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from smplest_hf.inference.pipeline import SmplestXPipeline
    from smplest_hf.video.video_file import DEFAULT_VIDEO_OUTPUTS

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        body_model_dir = args.body_model
        if body_model_dir is None:
            from smplest_hf.synthetic import write_synthetic_body_model

            body_model_dir = write_synthetic_body_model(folder / "body_model", seed=0)
        model_dir = save_b_model(folder / "b")

        def pipeline(dtype):
            return SmplestXPipeline(model_dir, body_model_dir=body_model_dir, detector="none", device="cpu", dtype=dtype,
                                    batch_size=args.batch_size)  # fmt: skip

        auto, float32 = pipeline("auto"), pipeline("float32")
        print(f"--dtype auto -> {dtype_name(auto)} ({auto.dtype_reason}); baseline: float32, forward only", file=sys.stderr)
        files, image_boxes = demo_images(folder / "images", args.image_copies)
        inputs = {"images": (files, image_boxes)}
        configs = [("images", auto, IMAGE_OUTPUTS), ("images", float32, ("params",))]  # (input, pipeline, outputs)
        if args.video_frames:
            inputs["video"] = (write_video(folder / "video.mp4", args.video_frames), walking_boxes(args.video_people, args.video_frames))
            configs += [("video", auto, VIDEO_OUTPUTS), ("video", auto, DEFAULT_VIDEO_OUTPUTS), ("video", float32, ("params",))]
        runs = [[] for _ in configs]
        for repeat in range(args.repeats + 1):  # the first run warms up caches and kernels
            for index, (source, config_pipeline, kinds) in enumerate(configs):
                run = run_images if source == "images" else run_video
                measured = run(config_pipeline, *inputs[source], kinds, folder)
                if repeat:
                    runs[index].append(measured)
                print(f"  done: repeat {repeat}/{args.repeats}, {source}, {dtype_name(config_pipeline)}, {','.join(kinds)}", file=sys.stderr)
        writers = measure_writers(auto, folder, args.repeats)
    load_after = os.getloadavg()

    rows = []
    for (source, config_pipeline, kinds), measured in zip(configs, runs):
        people = measured[0]["people"]
        per_person = {name: 1000 * statistics.median(run[name] for run in measured) / people for name in ("forward", *kinds)}
        rows.append({"source": source, "dtype": dtype_name(config_pipeline), "kinds": kinds, "people": people, **per_person})
    print(f"--dtype auto: {dtype_name(auto)} ({auto.dtype_reason})\n")
    print_tables(args, rows, writers, load_before, load_after)


def dtype_name(pipeline) -> str:
    return str(pipeline.dtype).removeprefix("torch.")


def print_tables(args, rows, writers, load_before, load_after) -> None:
    print(f"Exports vs forward per person, B preset (random weights), CPU, {args.threads} threads, batch size "
          f"{args.batch_size}, median of {args.repeats} runs; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after (1 min)\n")  # fmt: skip
    print("| input | dtype | outputs | people | forward ms | " + " | ".join(f"{kind} ms" for kind in EXPORT_KINDS)
          + " | exports ms | exports / forward | forward vs float32 |")  # fmt: skip
    print("|---" * (len(EXPORT_KINDS) + 8) + "|")
    baseline = {row["source"]: row["forward"] for row in rows if row["dtype"] == "float32" and row["kinds"] == ("params",)}
    for row in rows:
        exports = sum(row[kind] for kind in row["kinds"])
        cells = [f"{row[kind]:.1f}" if kind in row["kinds"] else "-" for kind in EXPORT_KINDS]
        people = f"{row['people']}" if row["source"] == "images" else f"{row['people']} (person-frames)"
        print(f"| {row['source']} | {row['dtype']} | {','.join(row['kinds'])} | {people} | {row['forward']:.1f} | "
              + " | ".join(cells) + f" | {exports:.1f} | {exports / row['forward']:.2f} | "
              + f"{baseline[row['source']] / row['forward']:.2f}x |")  # fmt: skip
    print("\nforward = the `model` stage (network + body model for images; network only for the video, whose meshes "
          "come from the final, smoothed parameters in `postprocess`); overlay = render + PNG / H.264 encoding.")
    print("\n| writer (same run) | previous ms | now ms | speed-up | previous KB | now KB |\n|---|---|---|---|---|---|")
    for row in writers:
        print(f"| {row['writer']} | {row['previous']:.2f} | {row['now']:.2f} | {row['previous'] / row['now']:.2f}x | "
              f"{row['previous_kb']:.0f} | {row['now_kb']:.0f} |")

if __name__ == "__main__":
    main()

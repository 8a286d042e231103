"""Throughput of SmplestXImageProcessor (persons / s) against a plain per-box OpenCV baseline, same run.

Both sides turn a 1920x1080 RGB uint8 frame and person boxes into the model input: (N, 3, 256, 192) float32
in [0, 1]. The processor (NumPy, vectorised over boxes) interpolates only the 256x192 pixels the model
reads. The baselines loop over boxes as the original inference does:

- `opencv float32`: the original's semantics (frame converted to float32 once, as its `load_img` does):
  per box, box clipping/expansion, `cv2.getAffineTransform`, `cv2.warpAffine(INTER_LINEAR)` to 512x384,
  `cv2.resize(INTER_NEAREST)` to 256x192 (the same pixels as torch's nearest), / 255, HWC -> CHW;
- `opencv uint8`: the same on the uint8 frame (faster, but rounds every pixel to 8 bits: not the original's
  values).

Each repeat times all variants back to back (so machine noise hits them alike); the table reports medians.

    python benchmarks/image_processing.py                    # 1 and 8 boxes, 15 repeats
    python benchmarks/image_processing.py --repeats 5 --cv2-threads 1
"""

import argparse
import statistics
import time

import cv2
import numpy as np
import torch

from smplest_hf import SmplestXImageProcessor
from smplest_hf.models.smplest_x.cropping import BBOX_RATIO, BODY_INPUT_SIZE, CROP_SIZE


def _person_boxes(count: int, seed: int = 0) -> np.ndarray:
    """(count, 4) xywh boxes of standing people spread over a 1920x1080 frame."""
    rng = np.random.default_rng(seed)
    widths, heights = rng.uniform(150, 300, count), rng.uniform(450, 800, count)
    xs = np.linspace(40, 1920 - 340, count) + rng.uniform(-30, 30, count)
    ys = rng.uniform(40, 1080 - heights - 20)
    return np.column_stack([xs, ys, widths, heights])


def _opencv_per_box(frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The original inference's per-box crop, as plain OpenCV calls (box maths inlined)."""
    image_height, image_width = frame.shape[:2]
    crop_height, crop_width = CROP_SIZE
    crops = []
    for x, y, w, h in boxes:
        left, top = max(0.0, x), max(0.0, y)
        w, h = min(image_width - 1.0, left + w - 1) - left, min(image_height - 1.0, top + h - 1) - top
        center_x, center_y = left + w / 2, top + h / 2
        if w > crop_width / crop_height * h:
            h = w * crop_height / crop_width
        else:
            w = h * crop_width / crop_height
        w, h = w * BBOX_RATIO, h * BBOX_RATIO
        source = np.float32([[center_x, center_y], [center_x, center_y + h / 2], [center_x + w / 2, center_y]])
        target = np.float32([[crop_width / 2, crop_height / 2], [crop_width / 2, crop_height], [crop_width, crop_height / 2]])
        crop = cv2.warpAffine(frame, cv2.getAffineTransform(source, target), (crop_width, crop_height), flags=cv2.INTER_LINEAR)
        crop = cv2.resize(crop, BODY_INPUT_SIZE[::-1], interpolation=cv2.INTER_NEAREST)
        crops.append(crop.transpose(2, 0, 1).astype(np.float32) / 255)
    return np.stack(crops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--box-counts", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--cv2-threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's own)")
    args = parser.parse_args()
    if args.cv2_threads is not None:
        cv2.setNumThreads(args.cv2_threads)

    frame = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    processor = SmplestXImageProcessor()
    variants = {
        "processor": lambda boxes: processor(frame, boxes=[boxes], return_tensors="pt")["pixel_values"],
        "opencv float32": lambda boxes: torch.from_numpy(_opencv_per_box(frame.astype(np.float32), boxes)),
        "opencv uint8": lambda boxes: torch.from_numpy(_opencv_per_box(frame, boxes)),
    }

    print(
        f"1920x1080 uint8 frame -> (N, 3, 256, 192) float32; median of {args.repeats} runs; "
        f"OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads, NumPy {np.__version__} (1 thread)"
    )
    print("| boxes | variant | median ms | persons/s | processor speed-up | max abs diff vs processor |")
    print("|---|---|---|---|---|---|")
    for count in args.box_counts:
        boxes = _person_boxes(count)
        reference = variants["processor"](boxes)
        differences = {name: float((run(boxes) - reference).abs().max()) for name, run in variants.items()}
        times = {name: [] for name in variants}
        for _ in range(args.repeats + 2):  # the first two rounds are warm-up
            for name, run in variants.items():
                start = time.perf_counter()
                run(boxes)
                times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values[2:]) for name, values in times.items()}
        for name, median in medians.items():
            print(
                f"| {count} | {name} | {1000 * median:.2f} | {count / median:.0f} | "
                f"{median / medians['processor']:.2f} | {differences[name]:.1e} |"
            )


if __name__ == "__main__":
    main()

"""Training-transform throughput (samples / s on one core) against a plain per-sample OpenCV baseline, same run.

Both sides turn EHPS rows with JPEG-encoded images into what the model trains on — a 256x192 crop of the
augmented 512x384 view of the person (float32 in [0, 1]) and the labels (2D keypoints in the crop, pelvis-relative
3D joints rotated with the crop, flipped SMPL-X pose with the rotated root, masks) — with the original's
augmentation (scale, rotation, flip, colour):

- `transform`: `hub_datasets.TrainingTransform` on the whole batch: PIL decode, then NumPy crops of only the
  pixels the model reads and batched labels;
- `opencv per sample`: the original loader's steps as plain OpenCV / NumPy calls, one sample at a time:
  `cv2.imdecode` -> float32 image -> `cv2.flip` -> `cv2.getAffineTransform` + `cv2.warpAffine` (512x384) -> colour
  -> nearest 256x192 -> per-sample labels (a Python loop over the flip pairs, `cv2.Rodrigues` for the root).

Each repeat runs the variants back to back (machine noise hits them alike); the table reports medians over
repeats of the per-sample CPU time of this single-threaded process (and the wall time). One thread everywhere
(`cv2.setNumThreads(1)`, `torch.set_num_threads(1)`): the numbers are per core, what one DataLoader worker gets.

    python benchmarks/training_transform.py                       # 1280x720 JPEGs, 32 rows, 7 repeats
    python benchmarks/training_transform.py --image-size 1080 1920 --repeats 5

The second table turns the result into the number of DataLoader workers needed to feed an H-size model on one
GPU, from a step time estimated from FLOPs (printed with its assumptions).
"""

import argparse
import io
import statistics
import time

import cv2
import numpy as np
import torch
from PIL import Image

from hub_datasets.augmentation import AugmentationParameters
from hub_datasets.schema import to_supervision_keypoints
from hub_datasets.transform import TrainingTransform
from smplest_hf import SmplestXConfig
from smplest_hf.models.smplest_x.smplx_layout import POSE_FLIP_PAIRS, SUPERVISION_FLIP_PAIRS


def _jpeg_image(rng, height: int, width: int) -> bytes:
    """A photo-like JPEG: smooth colour gradients, blobs and mild noise (decodes like a real photo, not like noise)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([
        128 + 100 * np.sin(x / rng.uniform(40, 200) + rng.uniform(0, 6)) * np.cos(y / rng.uniform(40, 200)),
        128 + 100 * np.cos((x + y) / rng.uniform(60, 300)),
        128 + 90 * np.sin(y / rng.uniform(30, 150) + rng.uniform(0, 6)),
    ], axis=-1)  # fmt: skip
    image += rng.normal(scale=12, size=image.shape).astype(np.float32)
    encoded = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(encoded, format="JPEG", quality=90)
    return encoded.getvalue()


def make_rows(count: int, height: int, width: int, seed: int = 0) -> dict:
    """A batch of `count` EHPS rows (only the columns the transform reads) with plausible boxes and keypoints."""
    rng = np.random.default_rng(seed)
    box_heights = rng.uniform(0.4, 0.9, count) * height
    box_widths = box_heights * rng.uniform(0.3, 0.6, count)
    corners = np.stack((rng.uniform(0, width - box_widths), rng.uniform(0, height - box_heights)), axis=1)
    boxes = np.column_stack((corners, box_widths, box_heights))
    keypoints_2d = np.concatenate((corners[:, None] + rng.uniform(0, 1, (count, 144, 2)) * boxes[:, None, 2:], np.ones((count, 144, 1))), axis=2)
    keypoints_3d = np.concatenate((rng.normal(scale=0.4, size=(count, 144, 3)) + (0, 0, 5), np.ones((count, 144, 1))), axis=2)
    pose = rng.normal(scale=0.3, size=(count, 53, 3))
    return {
        "sample_id": [f"bench/train/{i:08d}" for i in range(count)],
        "image": [{"bytes": _jpeg_image(rng, height, width), "path": None} for _ in range(count)],
        "image_height": [height] * count, "image_width": [width] * count, "bbox_xywh": boxes.tolist(),
        "keypoints_2d": keypoints_2d, "keypoints_2d_valid": [True] * count, "keypoints_3d": keypoints_3d,
        "keypoints_3d_valid": [True] * count, "camera_intrinsics_valid": [True] * count,
        "focal_length": [[1000.0, 1000.0]] * count, "principal_point": [[width / 2, height / 2]] * count,
        "smplx_global_orient": pose[:, 0], "smplx_body_pose": pose[:, 1:22], "smplx_left_hand_pose": pose[:, 22:37],
        "smplx_right_hand_pose": pose[:, 37:52], "smplx_jaw_pose": pose[:, 52], "smplx_flat_hand_mean": [False] * count,
        "smplx_body_valid": [True] * count, "smplx_lhand_valid": [True] * count, "smplx_rhand_valid": [True] * count,
        "smplx_face_valid": [True] * count, "smplx_betas": rng.normal(size=(count, 10)).tolist(),
        "smplx_betas_valid": [True] * count, "smplx_betas_neutral": [[]] * count,
        "smplx_expression": rng.normal(size=(count, 10)).tolist(),
    }  # fmt: skip


# ------------------------------------------------------------------------------------- the OpenCV baseline
_POSE_COLUMNS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")


def _opencv_sample(row: dict, augmentation: AugmentationParameters, index: int, bbox_ratio: float) -> dict:
    """One sample the way the original loader processes it, in plain OpenCV / NumPy (a reference implementation)."""
    image = cv2.imdecode(np.frombuffer(row["image"]["bytes"], np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    image = image[:, :, ::-1].astype(np.float32)  # RGB float32, as the original's load_img
    height, width = image.shape[:2]
    scale, rotation = augmentation.scale[index], augmentation.rotation[index]
    flip, color = bool(augmentation.flip[index]), augmentation.color_scale[index]

    x, y, w, h = row["bbox_xywh"]  # clip, grow to 3:4, enlarge
    x1, y1 = max(0.0, x), max(0.0, y)
    w, h = min(width - 1.0, x1 + max(0.0, w - 1)) - x1, min(height - 1.0, y1 + max(0.0, h - 1)) - y1
    center_x, center_y = x1 + w / 2, y1 + h / 2
    if w > 0.75 * h:
        h = w / 0.75
    elif w < 0.75 * h:
        w = h * 0.75
    w, h = w * bbox_ratio * scale, h * bbox_ratio * scale
    if flip:
        image = cv2.flip(image, 1)
        center_x = width - 1 - center_x
    t = np.deg2rad(rotation)
    source = np.float32([
        [center_x, center_y],
        [center_x - np.sin(t) * h / 2, center_y + np.cos(t) * h / 2],
        [center_x + np.cos(t) * w / 2, center_y + np.sin(t) * w / 2],
    ])  # fmt: skip
    target = np.float32([[192, 256], [192, 512], [384, 256]])
    matrix = cv2.getAffineTransform(source, target)
    crop = cv2.warpAffine(image, matrix, (384, 512), flags=cv2.INTER_LINEAR)
    crop = np.clip(crop * color[None, None], 0, 255)[::2, ::2] / 255.0  # the model's nearest 256x192
    pixel_values = np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32)

    keypoints = to_supervision_keypoints(np.asarray(row["keypoints_2d"], np.float64)).copy()
    joints = to_supervision_keypoints(np.asarray(row["keypoints_3d"], np.float64))[:, :3].copy()
    joints -= joints[0]
    pose = np.concatenate([np.reshape(row[f"smplx_{name}"], (-1, 3)) for name in _POSE_COLUMNS])
    if flip:
        keypoints[:, 0] = width - 1 - keypoints[:, 0]
        joints[:, 0] *= -1
        for left, right in SUPERVISION_FLIP_PAIRS:
            keypoints[[left, right]] = keypoints[[right, left]]
            joints[[left, right]] = joints[[right, left]]
        for left, right in POSE_FLIP_PAIRS:
            pose[[left, right]] = pose[[right, left]]
        pose[:, 1:] *= -1
    keypoints[:, :2] = (keypoints[:, :2] @ matrix[:, :2].T + matrix[:, 2]) / 2
    turn = np.array([[np.cos(-t), -np.sin(-t), 0], [np.sin(-t), np.cos(-t), 0], [0, 0, 1]])
    joints = joints @ turn.T
    root, _ = cv2.Rodrigues(pose[0])
    pose[0] = cv2.Rodrigues(turn @ root)[0].reshape(3)
    inside = (keypoints[:, 0] >= 0) & (keypoints[:, 0] < 192) & (keypoints[:, 1] >= 0) & (keypoints[:, 1] < 256)
    return {"pixel_values": pixel_values, "keypoints_2d": keypoints[:, :2], "joints_3d": joints, "pose": pose, "joints_valid": inside}


# ------------------------------------------------------------------------------------------- H step estimate
def h_step_estimate(mfu: float, peak_tflops: float) -> tuple[float, float]:
    """(training TFLOP per sample, samples / s) of the H preset: 3x the forward matmul FLOPs (backward = 2x forward)."""
    config = SmplestXConfig.from_preset("h")
    width, depth = config.hidden_size, config.num_hidden_layers
    patches = int(np.prod(config.patch_grid_size))
    tokens = patches + config.task_token_count
    encoder = depth * (24 * tokens * width**2 + 4 * tokens**2 * width)  # qkv + proj + 4x MLP, scores + weighted sum
    inner, layers = 512, 6  # decoder: 8 heads x 64, 6 layers (reference/original_model.md)
    decoder = layers * 2 * (
        tokens * width * 4 * inner + 2 * tokens**2 * inner  # self-attention
        + tokens * width * 2 * inner + patches * width * 2 * inner + 2 * tokens * patches * inner  # cross-attention
        + tokens * 2 * width**2  # feed-forward
    )  # fmt: skip
    training = 3 * (encoder + decoder) / 1e12
    return training, mfu * peak_tflops / training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", nargs=2, type=int, default=(720, 1280), metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--mfu", type=float, default=0.4, help="assumed model FLOP utilisation of the H training step")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="GPU dense bf16 peak (H100 SXM: 989)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)

    height, width = args.image_size
    batch = make_rows(args.rows, height, width)
    transform = TrainingTransform(seed=0)
    augmentation = transform.sample_parameters(batch)
    decoded = dict(batch, image=[np.asarray(Image.open(io.BytesIO(v["bytes"])).convert("RGB")) for v in batch["image"]])
    rows = [{name: batch[name][i] for name in batch} for i in range(args.rows)]

    def opencv(rows_):
        return [_opencv_sample(row, augmentation, i, transform.bbox_ratio) for i, row in enumerate(rows_)]

    variants = {
        "transform (decode + crop + labels)": lambda: transform(batch),
        "opencv per sample (decode + crop + labels)": lambda: opencv(rows),
        "transform, images decoded": lambda: transform(decoded),
        "PIL decode only": lambda: [np.asarray(Image.open(io.BytesIO(v["bytes"])).convert("RGB")) for v in batch["image"]],
        "cv2.imdecode only": lambda: [cv2.imdecode(np.frombuffer(v["bytes"], np.uint8), cv2.IMREAD_COLOR) for v in batch["image"]],
    }
    ours, theirs = transform(batch), opencv(rows)  # warm-up, and the two must agree
    difference = max(float(np.abs(ours["pixel_values"][i] - sample["pixel_values"]).max()) for i, sample in enumerate(theirs))
    keypoint_difference = max(float(np.abs(ours["keypoints_2d"][i] - sample["keypoints_2d"]).max()) for i, sample in enumerate(theirs))

    wall, cpu = {name: [] for name in variants}, {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            run()
            cpu[name].append((time.process_time() - start_cpu) / args.rows)
            wall[name].append((time.perf_counter() - start_wall) / args.rows)
    # CPU time of this single-threaded process is what a dedicated core would take (wall time includes waiting
    # for a busy machine); both are printed.
    medians = {name: statistics.median(values) for name, values in cpu.items()}
    wall_medians = {name: statistics.median(values) for name, values in wall.items()}

    print(
        f"{args.rows} rows, {width}x{height} JPEG (q90) -> 256x192 crops of 512x384 views with augmentation; "
        f"median of {args.repeats} repeats; 1 thread (OpenCV {cv2.__version__}, NumPy {np.__version__}, torch {torch.__version__})"
    )
    print(
        f"transform vs OpenCV: max |pixel difference| {255 * difference:.2f} / 255 (OpenCV quantises to 1/32 px), "
        f"max |keypoint difference| {keypoint_difference:.4f} px"
    )
    print("| variant | CPU ms / sample | samples / s / core | vs opencv per sample | wall ms / sample |")
    print("|---|---|---|---|---|")
    baseline = medians["opencv per sample (decode + crop + labels)"]
    for name, median in medians.items():
        print(f"| {name} | {1000 * median:.2f} | {1 / median:.0f} | {baseline / median:.2f}x | {1000 * wall_medians[name]:.2f} |")

    tflop, step_rate = h_step_estimate(args.mfu, args.peak_tflops)
    per_worker = 1 / medians["transform (decode + crop + labels)"]
    print(
        f"\nH preset: ~{tflop:.2f} TFLOP per training sample (3x forward matmuls); at {args.mfu:.0%} of "
        f"{args.peak_tflops:g} TFLOPS one GPU trains ~{step_rate:.0f} samples/s."
    )
    print(f"| loader | samples/s per worker | workers needed for {step_rate:.0f} samples/s | 8 workers give |")
    print("|---|---|---|---|")
    for name, rate in (("transform", per_worker), ("opencv per sample", 1 / baseline)):
        print(f"| {name} | {rate:.0f} | {int(np.ceil(step_rate / rate))} | {8 * rate:.0f} samples/s |")


if __name__ == "__main__":
    main()

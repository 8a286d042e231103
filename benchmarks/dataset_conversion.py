"""HumanData -> Hub Parquet conversion throughput (samples/s) with 1 and 2 worker processes.

Writes a HumanData file in mmhuman3d's format with ``--num-samples`` people whose images are ``--width`` x
``--height`` JPEGs (a few distinct pictures under distinct paths, so the page cache serves them as it would a
warm disk), then times ``convert_humandata`` into a fresh directory per setting. The baseline measured in the
same run is the floor any converter pays: reading every image file's bytes in one process. Reported: samples/s
per setting, the ratio setting / floor (1.0 = conversion costs no more than reading the images), and CPU
milliseconds per sample over all processes — the number to trust on a shared machine, where wall-clock scaling
with processes depends on how many cores are actually free (the load average is printed).

    python benchmarks/dataset_conversion.py                          # 1000 samples, 1280x720
    python benchmarks/dataset_conversion.py --num-samples 200 --procs 1 2 4
"""

import argparse
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def _write_source(directory: Path, num_samples: int, width: int, height: int, distinct: int = 16):
    rng = np.random.default_rng(0)
    pictures = []
    for index in range(distinct):  # smooth gradients + mild noise: JPEG sizes like photographs
        y, x = np.mgrid[0:height, 0:width]
        base = np.stack([(x * (index + 1)) % 256, (y * 3) % 256, ((x + y) // 4) % 256], -1).astype(np.float32)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        pictures.append(buffer.getvalue())
    image_root = directory / "images"
    paths = []
    for index in range(num_samples):
        relative = f"seq_{index // 100:03d}/frame_{index:06d}.jpg"
        (image_root / relative).parent.mkdir(parents=True, exist_ok=True)
        (image_root / relative).write_bytes(pictures[index % distinct])
        paths.append(relative)

    def floats(*shape):
        return rng.normal(size=shape).astype(np.float32)

    def pickled(value):
        holder = np.empty((), dtype=object)
        holder[()] = value
        return holder

    n = num_samples
    np.savez_compressed(
        directory / "bench.npz",
        __key_strict__=False, __data_len__=n, __keypoints_compressed__=False, config="bench", image_path=paths,
        bbox_xywh=np.abs(floats(n, 5)), lhand_bbox_xywh=np.abs(floats(n, 5)), rhand_bbox_xywh=np.abs(floats(n, 5)),
        face_bbox_xywh=np.abs(floats(n, 5)), keypoints2d=floats(n, 190, 3), keypoints2d_mask=np.ones(190, np.float32),
        keypoints3d=floats(n, 190, 4), keypoints3d_mask=np.ones(190, np.float32),
        smplx=pickled({"global_orient": floats(n, 3), "body_pose": floats(n, 21, 3), "left_hand_pose": floats(n, 15, 3),
                       "right_hand_pose": floats(n, 15, 3), "jaw_pose": floats(n, 3), "betas": floats(n, 10),
                       "expression": floats(n, 10), "transl": floats(n, 3)}),
        meta=pickled({"gender": np.array(["male", "female"] * (n // 2) + ["neutral"] * (n % 2)),
                      "focal_length": np.full((n, 2), 1000.0), "principal_point": np.array([width / 2, height / 2]),
                      "height": [height] * n, "width": [width] * n}),
        misc=pickled({"flat_hand_mean": False}),
    )  # fmt: skip
    return directory / "bench.npz", image_root, paths, sum(len(p) for p in pictures) / distinct


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the conversion workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shard-size", type=int, default=100)
    args = parser.parse_args()

    from hub_datasets.humandata import convert_humandata, parse_humandata, read_humandata

    work = Path(tempfile.mkdtemp(prefix="ehps_bench_"))
    try:
        npz, image_root, paths, jpeg_bytes = _write_source(work, args.num_samples, args.width, args.height)
        start = time.perf_counter()
        for relative in paths:  # baseline: the I/O floor (warms the page cache too)
            (image_root / relative).read_bytes()
        floor = args.num_samples / (time.perf_counter() - start)
        start = time.perf_counter()
        parse_humandata(read_humandata(npz), str(npz))
        parse_seconds = time.perf_counter() - start

        settings = [(procs, True) for procs in args.procs] + [(args.procs[0], False)]
        print(f"{args.num_samples} samples, {args.width}x{args.height} JPEG (~{jpeg_bytes / 1024:.0f} KiB), "
              f"shards of {args.shard_size}; reading + parsing the .npz: {parse_seconds:.2f} s")  # fmt: skip
        print(f"baseline (read image bytes, 1 process): {floor:9.0f} samples/s")
        for procs, verify in settings:
            out = work / f"out_{procs}_{verify}"
            cpu_before = _cpu_seconds()
            start = time.perf_counter()
            convert_humandata(npz, image_root, out, num_proc=procs, shard_size=args.shard_size, verify_images=verify)
            rate = args.num_samples / (time.perf_counter() - start)
            cpu_ms = 1000 * (_cpu_seconds() - cpu_before) / args.num_samples
            label = f"convert, {procs} process{'es' if procs > 1 else ''}, {'decode-verified' if verify else 'headers only'}"
            print(f"{label:<46}: {rate:9.0f} samples/s   ({rate / floor:.3f} x baseline)   {cpu_ms:5.1f} CPU ms/sample")
        print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

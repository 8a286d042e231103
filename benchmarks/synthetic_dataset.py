"""Synthetic EHPS dataset generation throughput (images/s) and where the time goes.

Measures, in one run on the synthetic body model (or ``--body-model DIR``):

1. the stage split of ``synthesize_rows`` in one process with one torch thread (how every worker computes):
   scene sampling, body model (batched per gender) + placement, background, rendering, JPEG encoding,
   annotation (projections, boxes, columns) — milliseconds per image and share of the total;
2. the body model batched as the generator runs it against one person per call (the per-sample baseline, same
   run): milliseconds per person and the ratio;
3. ``synthesize_dataset`` end to end (Parquet shards included) with 1 and more worker processes: images/s,
   images per minute, and CPU milliseconds per image over all processes — the number to trust on a shared
   machine, where wall-clock scaling depends on how many cores are free (the load average is printed).

    python benchmarks/synthetic_dataset.py                                   # 64 images, 512x384, 1 and 2 procs
    python benchmarks/synthetic_dataset.py --num-samples 256 --procs 1 4 8 --max-people 3
"""

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _body_model_per_person(body_model_dir, batch: int, repeats: int = 3) -> float:
    """Milliseconds per person of the body model at a given batch size, 1 torch thread (best of `repeats`)."""
    import torch

    from smplest_hf.models.smplest_x.body_model import SmplxBodyModel

    model = SmplxBodyModel.from_directory(body_model_dir, "neutral")
    generator = torch.Generator().manual_seed(0)

    def inputs(*shape):
        return 0.2 * torch.randn(batch, *shape, generator=generator)

    arguments = (inputs(3), inputs(21, 3), inputs(15, 3), inputs(15, 3), inputs(3), inputs(10), inputs(10))
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            model(*arguments)
            best = min(best, time.perf_counter() - start)
    return 1000 * best / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--image-size", type=int, nargs=2, default=[512, 384], metavar=("H", "W"))
    parser.add_argument("--max-people", type=int, default=1)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--body-model", help="SMPL-X folder (default: the cached synthetic body model)")
    args = parser.parse_args()

    import torch

    from hub_datasets.synthetic import default_body_model_dir, preload_body_models, synthesize_dataset, synthesize_rows

    body_model_dir = args.body_model or default_body_model_dir()
    image_size = tuple(args.image_size)
    print(f"synthetic EHPS data: {args.num_samples} images of {image_size[0]}x{image_size[1]}, "
          f"1-{args.max_people} people each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip

    # 1. Stage split, in this process (after loading every body model and a small warm-up).
    preload_body_models(body_model_dir)
    synthesize_rows(1, 0, 2, body_model_dir, image_size=image_size, max_people=args.max_people)
    timings = {}
    start, cpu_start = time.perf_counter(), time.process_time()
    rows = synthesize_rows(0, 0, args.num_samples, body_model_dir, image_size=image_size, max_people=args.max_people,
                           timings=timings)  # fmt: skip
    elapsed, cpu_ms = time.perf_counter() - start, 1000 * (time.process_time() - cpu_start) / args.num_samples
    total = sum(timings.values())
    print(f"\nsynthesize_rows, 1 process, 1 torch thread: {args.num_samples / elapsed:.1f} images/s "
          f"({60 * args.num_samples / elapsed:.0f}/min), {len(rows['sample_id'])} rows, {cpu_ms:.1f} CPU ms/image "
          f"(= {60000 / cpu_ms:.0f} images/min on a free core)")  # fmt: skip
    for stage, seconds in sorted(timings.items(), key=lambda item: -item[1]):  # wall clock per stage
        print(f"  {stage:<11} {1000 * seconds / args.num_samples:7.1f} ms/image  {100 * seconds / total:5.1f} %")

    # 2. Body model: batched as the generator runs it vs one person per call.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    batched, single = _body_model_per_person(body_model_dir, 64), _body_model_per_person(body_model_dir, 1, repeats=10)
    torch.set_num_threads(previous)
    print(f"\nbody model per person: batch of 64 {batched:.1f} ms, one at a time {single:.1f} ms "
          f"(batched is {single / batched:.1f}x faster)")  # fmt: skip

    # 3. End to end into Parquet shards, per process count (4 shards or more, so processes have work).
    work = Path(tempfile.mkdtemp(prefix="ehps_synthetic_bench_"))
    try:
        shard_size = max(1, args.num_samples // max(4, max(args.procs)))
        print()
        for procs in args.procs:
            cpu_before = _cpu_seconds()
            report = synthesize_dataset(
                work / f"procs_{procs}", args.num_samples, 0, body_model_dir=body_model_dir, image_size=image_size,
                max_people=args.max_people, num_proc=procs, shard_size=shard_size,
            )  # fmt: skip
            cpu_ms = 1000 * (_cpu_seconds() - cpu_before) / args.num_samples
            rate = report.images_per_second
            print(f"synthesize_dataset, {procs} process{'es' if procs > 1 else '  '}: {rate:7.1f} images/s "
                  f"({60 * rate:6.0f}/min)   {cpu_ms:6.1f} CPU ms/image")  # fmt: skip
        print(f"load average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

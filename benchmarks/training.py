"""Training throughput of `examples/train.py`'s step (samples/s, peak memory), with the time split into data,
forward, loss, backward and optimizer.

One training step as the script runs it, pulled apart so each part can be timed (same computation as
`model(pixel_values, labels=labels)` + `backward`):

    data      next(DataLoader): EHPS rows -> TrainingTransform (decode, affine crop, augmentation, labels) -> collate
    forward   model(pixel_values): encoder, decoder, readouts, SMPL-X body model (float32, owned by the model)
    loss      SmplestXLoss(outputs, labels)
    backward  loss.backward()
    optimizer AdamW step + zero_grad

Each preset runs in its own process (so its peak memory is its own): peak resident memory on CPU (`ru_maxrss`)
and, on GPU, `torch.cuda.max_memory_allocated`. Data is a synthetic EHPS dataset (256x192 images) generated
into a temporary folder with the synthetic body model; DataLoader workers 0 by default, so the data time is
what one process spends on it (workers overlap it with compute). Medians over `--steps` steps after 2 warm-up
steps; float32 unless `--mixed-precision bf16`. Several `--mixed-precision` / `--attn-implementation` values run
one after the other per preset, and "vs first" is each row's samples/s over the preset's first row (run the
baseline first: `--mixed-precision no bf16`). `auto` attention is `examples/train.py`'s choice
(`smplest_hf.training.choose_attention_implementation`: eager for bf16 on CPU, else sdpa).

    python benchmarks/training.py                                   # tiny (batch 16) and b (batch 4), CPU
    python benchmarks/training.py --presets b --mixed-precision no bf16 --attn-implementation sdpa auto
    python benchmarks/training.py --presets b --batch-sizes 32 --device cuda --mixed-precision bf16
"""

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

PARTS = ("data", "forward", "loss", "backward", "optimizer")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_child(args) -> dict:
    """Time one preset in this process; returns the measurements as a dict."""
    from hub_datasets import load_ehps_dataset
    from hub_datasets.synthetic import synthesize_dataset
    from hub_datasets.transform import TrainingTransform, collate_training_batch
    from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
    from smplest_hf.models.smplest_x.losses import SmplestXLoss
    from smplest_hf.synthetic import write_synthetic_body_model
    from smplest_hf.training import EpochShuffleSampler, build_optimizer, choose_attention_implementation

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch_size = args.batch_size
    with tempfile.TemporaryDirectory() as scratch:
        body_model_dir = write_synthetic_body_model(os.path.join(scratch, "body"), seed=0)
        num_samples = batch_size * (args.steps + 2)
        synthesize_dataset(os.path.join(scratch, "data"), num_samples, seed=0, body_model_dir=body_model_dir,
                           image_size=(256, 192), num_proc=1)  # fmt: skip
        dataset = load_ehps_dataset(os.path.join(scratch, "data"), "train", decode_images=False)
        attention = choose_attention_implementation(args.attn_implementation, device.type, args.mixed_precision)
        config = SmplestXConfig.from_preset(args.preset, attn_implementation=attention)
        dataset.set_transform(TrainingTransform(config=config, seed=0, bbox_ratio=1.2))
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, sampler=EpochShuffleSampler(len(dataset)), drop_last=True,
            collate_fn=collate_training_batch, num_workers=args.num_workers,
        )  # fmt: skip

        torch.manual_seed(0)
        model = SmplestXForHumanMeshRecovery(config).to(device).train()
        model.attach_body_model(body_model_dir)
        loss_function = SmplestXLoss(config)
        optimizer = build_optimizer(model, 1e-5)
        resident_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16) if args.mixed_precision == "bf16" else contextlib.nullcontext()
        )

        times = {part: [] for part in PARTS}
        iterator = iter(loader)
        for _ in range(args.steps + 2):
            start = time.perf_counter()
            batch = next(iterator)
            pixel_values = batch["pixel_values"].to(device)
            labels = {name: value.to(device) for name, value in batch["labels"].items()}
            _synchronize(device)
            marks = [start, time.perf_counter()]
            with autocast:
                outputs = model(pixel_values)
                _synchronize(device)
                marks.append(time.perf_counter())
                loss, _ = loss_function(outputs, labels)
                _synchronize(device)
                marks.append(time.perf_counter())
            loss.backward()
            _synchronize(device)
            marks.append(time.perf_counter())
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            _synchronize(device)
            marks.append(time.perf_counter())
            for part, begin, end in zip(PARTS, marks, marks[1:]):
                times[part].append(end - begin)
    medians = {part: statistics.median(values[2:]) for part, values in times.items()}  # 2 warm-up steps
    step = sum(medians.values())
    return {
        "preset": args.preset,
        "precision": "float32" if args.mixed_precision == "no" else args.mixed_precision,
        "attention": attention,
        "batch_size": batch_size,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "samples_per_second": batch_size / step,
        "step_ms": 1000 * step,
        **{f"{part}_ms": 1000 * value for part, value in medians.items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_training_mb": resident_before,
        "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "b"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=None, help="one per preset (default: tiny 16, others 4)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per preset (after 2 warm-up steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mixed-precision", nargs="+", choices=("no", "bf16"), default=["no"])
    parser.add_argument("--attn-implementation", nargs="+", choices=("auto", "sdpa", "eager"), default=["auto"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.mixed_precision, args.attn_implementation = args.mixed_precision[0], args.attn_implementation[0]
        print(json.dumps(run_child(args)))
        return

    batch_sizes = args.batch_sizes or [16 if preset == "tiny" else 4 for preset in args.presets]
    if len(batch_sizes) != len(args.presets):
        parser.error(f"give one batch size per preset ({len(args.presets)}), got {batch_sizes}")
    from smplest_hf.training import choose_attention_implementation

    rows = []
    for preset, batch_size in zip(args.presets, batch_sizes):
        first, measured = None, set()
        for mixed_precision in args.mixed_precision:
            for attention in args.attn_implementation:
                resolved = choose_attention_implementation(attention, torch.device(args.device).type, mixed_precision)
                if (mixed_precision, resolved) in measured:  # "auto" may name one already measured
                    continue
                measured.add((mixed_precision, resolved))
                command = [sys.executable, __file__, "--child", "--preset", preset, "--batch-size", str(batch_size),
                           "--steps", str(args.steps), "--threads", str(args.threads), "--num-workers", str(args.num_workers),
                           "--device", args.device, "--mixed-precision", mixed_precision,
                           "--attn-implementation", attention]  # fmt: skip
                result = subprocess.run(command, capture_output=True, text=True, check=False)
                if result.returncode:
                    sys.exit(f"{preset}: the measuring process failed:\n{result.stderr[-3000:]}")
                row = json.loads(result.stdout.strip().splitlines()[-1])
                first = first or row
                row["vs_first"] = row["samples_per_second"] / first["samples_per_second"]
                rows.append(row)

    print(f"{rows[0]['device']}, {args.threads} threads, DataLoader workers {args.num_workers}, medians of {args.steps} "
          f"steps; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    header = f"{'preset':>6} {'params':>7} {'batch':>5} {'precision':>9} {'attention':>9} {'samples/s':>9} {'vs first':>8} {'step ms':>8}"
    header += "".join(f" {part + ' %':>11}" for part in PARTS) + f" {'peak MB':>8}"
    print(header)
    for row in rows:
        shares = "".join(f" {row[part + '_ms'] / row['step_ms'] * 100:>10.1f}%" for part in PARTS)
        peak = row["peak_gpu_mb"] if row["peak_gpu_mb"] is not None else row["peak_rss_mb"]
        print(f"{row['preset']:>6} {row['parameters_m']:>6.1f}M {row['batch_size']:>5} {row['precision']:>9} "
              f"{row['attention']:>9} {row['samples_per_second']:>9.2f} {row['vs_first']:>7.2f}x "
              f"{row['step_ms']:>8.0f}{shares} {peak:>8.0f}")  # fmt: skip
    print("peak MB: peak resident memory of the measuring process on CPU (it is "
          + ", ".join(f"{row['rss_before_training_mb']:.0f}" for row in rows)
          + " MB before the first step), torch.cuda.max_memory_allocated on GPU.")
    print("Milliseconds per part:")
    for row in rows:
        print(f"  {row['preset']} {row['precision']} {row['attention']}: " + ", ".join(f"{part} {row[part + '_ms']:.1f}" for part in PARTS))


if __name__ == "__main__":
    main()

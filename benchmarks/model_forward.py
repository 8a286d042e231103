"""CPU forward latency and peak memory of SmplestXForHumanMeshRecovery (no body model).

For each preset and batch size a fresh subprocess builds the model (random weights, float32, eval, no_grad),
warms up, then times `--repeats` forwards and reports the median. The baseline in the same run is the eager
attention implementation (ratio = eager / sdpa, > 1 means sdpa is faster). Peak memory is the process's maximum
resident set size during the forwards minus its peak right after building the model (activation memory),
plus the weights' size.

    python benchmarks/model_forward.py                      # tiny and b, batch 1 and 8
    python benchmarks/model_forward.py --presets tiny --batch-sizes 1 --repeats 3
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def _measure(preset: str, batch_size: int, attention: str, repeats: int, threads: int) -> dict:
    import torch

    from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery

    torch.set_num_threads(threads)
    config = SmplestXConfig.from_preset(preset)
    config._attn_implementation = attention
    model = SmplestXForHumanMeshRecovery(config).eval()
    pixel_values = torch.rand(batch_size, 3, 256, 192)
    weights_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # weights and inputs already allocated
    with torch.no_grad():
        model(pixel_values)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(pixel_values)
            times.append(time.perf_counter() - start)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "preset": preset,
        "batch_size": batch_size,
        "attention": attention,
        "median_ms": 1000 * statistics.median(times),
        "per_image_ms": 1000 * statistics.median(times) / batch_size,
        "weights_mb": weights_mb,
        "activation_peak_mb": max(peak_kb - rss_before_kb, 0) / 1024,
        "peak_rss_mb": peak_kb / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny", "b"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--worker", nargs=3, metavar=("PRESET", "BATCH", "ATTENTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        preset, batch_size, attention = args.worker
        print(json.dumps(_measure(preset, int(batch_size), attention, args.repeats, args.threads)))
        return

    rows = []
    for preset in args.presets:
        for batch_size in args.batch_sizes:
            result = {}
            for attention in ("sdpa", "eager"):
                command = [sys.executable, __file__, "--worker", preset, str(batch_size), attention,
                           "--repeats", str(args.repeats), "--threads", str(args.threads)]  # fmt: skip
                output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                result[attention] = json.loads(output.strip().splitlines()[-1])
            rows.append(result)

    print(f"CPU forward, {args.threads} threads, median of {args.repeats} runs, float32, no body model")
    print("| preset | batch | sdpa ms | per image ms | eager ms | eager/sdpa | weights MB | activation peak MB | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for result in rows:
        sdpa, eager = result["sdpa"], result["eager"]
        print(
            f"| {sdpa['preset']} | {sdpa['batch_size']} | {sdpa['median_ms']:.1f} | {sdpa['per_image_ms']:.1f} | "
            f"{eager['median_ms']:.1f} | {eager['median_ms'] / sdpa['median_ms']:.2f} | {sdpa['weights_mb']:.1f} | "
            f"{sdpa['activation_peak_mb']:.1f} | {sdpa['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()

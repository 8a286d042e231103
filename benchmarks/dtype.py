"""Reduced precision on this machine: speed and accuracy of the B model in bfloat16 against float32, same run.

Variants (all with the SMPL-X body model, which skins in float32 in every variant):

    float32     the model as loaded (the baseline)
    bf16        `model.to(torch.bfloat16)`: our split, the `FLOAT32_PARAMETERS` (patch embedding, LayerNorms,
                decoder position vector, token projection, readouts) stay float32, so both residual streams do;
                the attention / MLP branches run in bfloat16; sdpa attention
    auto        bf16 with eager attention: what `--dtype auto` gives on a CPU with native bf16
                (`choose_attention_implementation`: the sdpa flash kernel is slower in bf16 than in float32)
    all-bf16    every parameter in bfloat16 (`nn.Module._apply` past our override), for comparison

Opt-in variants (`--extra`), measured to decide whether they earn a place:

    compile     auto with the encoder under `torch.compile` (inductor, weight freezing); compile time printed
    int8-mlp    float32 with the encoder MLPs' Linear layers dynamically quantised to int8
                (`torch.ao.quantization.quantize_dynamic`, VNNI kernels on AVX512 CPUs)

Models (random weights; speed does not depend on them, accuracy does):

    original    B converted from an original-format checkpoint with the test suite's random values
                (tests/test_convert_original_checkpoint.py `_original_network`: LayerNorm weights 1 + 0.1 N(0, 1),
                position embeddings 0.5 N(0, 1), linear weights N(0, 1/fan_in))
    ours        B as `SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("b"))` initialises it
                (`_init_weights`, the original's truncated-normal 0.02 scale)

Inputs are the bundled demo's person crops (processor output), tiled to the batch size. Time is the median over
`--repeats` repeats of forward + body model per person, the variants interleaved within each repeat (so load from
other processes hits them alike); ratio = float32 time / variant time. Accuracy against float32 on the demo crops:
root-relative vertex error (mean and max over vertices and crops, mm), camera translation and betas (max abs).

    python benchmarks/dtype.py                         # both models, batch 1 and 8, 7 repeats
    python benchmarks/dtype.py --models ours --batch-sizes 8 --repeats 3
    python benchmarks/dtype.py --models ours --extra compile int8-mlp
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ("float32", "bf16", "auto", "all-bf16")
EXTRA_VARIANTS = ("compile", "int8-mlp")


def build_model(kind: str, folder: Path):
    """A B model with random weights: converted from an original-format network, or with our initialisation."""
    from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery

    config = SmplestXConfig.from_preset("b")
    if kind == "ours":
        torch.manual_seed(0)
        return SmplestXForHumanMeshRecovery(config).eval()
    sys.path.insert(0, str(ROOT / "tests"))
    from test_convert_original_checkpoint import _original_network

    from smplest_hf.models.smplest_x.convert_original_checkpoint import convert_original_state_dict

    state_dict, converted_config = convert_original_state_dict(_original_network(config, seed=3))
    model = SmplestXForHumanMeshRecovery(converted_config)
    model.load_state_dict(state_dict)
    return model.eval()


def variant(model, name: str):
    """A copy of `model` in the variant's precision (see the module docstring)."""
    import copy

    model = copy.deepcopy(model)
    if name == "bf16":
        return model.to(torch.bfloat16)
    if name in ("auto", "compile"):
        model = model.to(torch.bfloat16)
        model.set_attn_implementation("eager")
        if name == "compile":
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True  # constant weights: prepacked bf16 GEMMs
            model.encoder = torch.compile(model.encoder)
        return model
    if name == "all-bf16":
        nn.Module._apply(model, lambda t: t.to(torch.bfloat16) if t.is_floating_point() else t)
    if name == "int8-mlp":
        mlps = {name for name, _ in model.named_modules() if ".mlp.fc" in name}
        return torch.ao.quantization.quantize_dynamic(model, mlps, dtype=torch.qint8)
    return model


def demo_crops():
    """(N, 3, 256, 192) float32 person crops of the bundled demo images."""
    from PIL import Image

    from smplest_hf import SmplestXImageProcessor

    demo = ROOT / "smplest_hf" / "demo_data"
    boxes = json.loads((demo / "boxes.json").read_text())
    processor = SmplestXImageProcessor()
    crops = [processor(Image.open(demo / name).convert("RGB"), boxes=[box], return_tensors="pt")["pixel_values"]
             for name, box in boxes.items()]  # fmt: skip
    return torch.cat(crops)


def accuracy(reference, output) -> dict:
    """Errors of `output` against `reference` (forward outputs with geometry), in mm for lengths."""
    vertices = lambda o: o.vertices - o.joints[:, :1]  # noqa: E731 (root-relative)
    error = (vertices(output) - vertices(reference)).norm(dim=-1) * 1000
    return {
        "vertex_mean_mm": error.mean().item(),
        "vertex_max_mm": error.max().item(),
        "camera_max_abs": (output.camera_translation - reference.camera_translation).abs().max().item(),
        "betas_max_abs": (output.betas - reference.betas).abs().max().item(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["original", "ours"], choices=["original", "ours"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--body-model", default=None, help="folder containing smplx/ (default: synthetic)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--extra", nargs="*", default=[], choices=EXTRA_VARIANTS, help="opt-in variants (see above)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from smplest_hf.synthetic import write_synthetic_body_model

    crops = demo_crops()
    variants = (*VARIANTS, *args.extra)
    rows = []
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        body_model_dir = args.body_model or write_synthetic_body_model(Path(folder) / "body_model", seed=0)
        for kind in args.models:
            base = build_model(kind, Path(folder))
            models = {name: variant(base, name).attach_body_model(body_model_dir) for name in variants}
            reference = models["float32"](crops)
            errors = {}
            for name, model in models.items():
                start = time.perf_counter()
                errors[name] = accuracy(reference, model(crops))  # the first call compiles `compile`
                if name == "compile":
                    print(f"compile: first call {time.perf_counter() - start:.1f} s", file=sys.stderr)
            for batch_size in args.batch_sizes:
                batch = crops.repeat((batch_size + len(crops) - 1) // len(crops), 1, 1, 1)[:batch_size]
                times = {name: [] for name in variants}
                for name, model in models.items():
                    model(batch)  # warm-up
                for _ in range(args.repeats):
                    for name, model in models.items():
                        start = time.perf_counter()
                        model(batch)
                        times[name].append((time.perf_counter() - start) / batch_size)
                baseline = statistics.median(times["float32"])
                for name in variants:
                    seconds = statistics.median(times[name])
                    rows.append({"model": kind, "batch": batch_size, "variant": name, "ms_per_person": seconds * 1000,
                                 "ratio": baseline / seconds, **errors[name]})  # fmt: skip
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, median of {args.repeats}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| model | batch | variant | ms/person | vs float32 | vertex mean / max (mm) | camera max | betas max |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['model']} | {row['batch']} | {row['variant']} | {row['ms_per_person']:.1f} | {row['ratio']:.2f}x | "
              f"{row['vertex_mean_mm']:.2f} / {row['vertex_max_mm']:.2f} | {row['camera_max_abs']:.4f} | "
              f"{row['betas_max_abs']:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()

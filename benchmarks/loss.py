"""CPU cost of the training loss (`SmplestXLoss`) against a whole training step of the same model.

A training step is `model(pixel_values, labels=labels)` (encoder, decoder, SMPL-X body model, loss) followed by
`loss.backward()`. The loss's own cost is timed on the same outputs turned into leaf tensors: the loss forward
plus the backward through the loss graph only (what the step spends because of the loss). The SMPL-X body
model's forward+backward is timed the same way and printed beside it: it runs only to feed the joint terms.
Medians over `--repeats` runs after one warm-up; float32, training mode, random weights and labels.
The issue requires the loss to cost at most 15% of a B-preset step.

The body model comes from `--body-model DIR`, else SMPLX_MODEL_DIR, else a synthetic one written to a
temporary folder (same array shapes, so the same cost).

    python benchmarks/loss.py                               # preset b, batch 2 and 4, 2 threads
    python benchmarks/loss.py --presets tiny b --batch-sizes 2 --repeats 3
"""

import argparse
import os
import statistics
import tempfile
import time

import torch

from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
from smplest_hf.models.smplest_x.losses import LABEL_SHAPES, SmplestXLoss
from smplest_hf.models.smplest_x.modeling_smplest_x import SmplestXMeshRecoveryOutput
from smplest_hf.models.smplest_x.smplx_layout import PARAMETER_NAMES

LOSS_INPUTS = (*PARAMETER_NAMES, "left_hand_root_pose", "right_hand_root_pose", "joints", "keypoints_2d")


def _labels(batch_size: int, generator: torch.Generator) -> dict:
    """Random labels with every entry valid (the most work for the loss)."""
    labels = {name: torch.randn(batch_size, *shape, generator=generator) for name, shape in LABEL_SHAPES.items()}
    for name in ("pose_valid", "betas_valid", "expression_valid", "joints_valid", "has_3d_joints", "hand_root_valid"):
        labels[name] = torch.ones_like(labels[name])
    labels["keypoints_2d"] = torch.rand(batch_size, *LABEL_SHAPES["keypoints_2d"], generator=generator) * 192
    return labels


def _median_seconds(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(preset: str, batch_size: int, body_model_dir, repeats: int) -> dict:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset(preset)).attach_body_model(body_model_dir).train()
    pixel_values = torch.rand(batch_size, 3, 256, 192, generator=generator)
    labels = _labels(batch_size, generator)

    def training_step():
        model.zero_grad(set_to_none=True)
        model(pixel_values, labels=labels).loss.backward()

    step = _median_seconds(training_step, repeats)

    with torch.no_grad():
        outputs = model(pixel_values)
    loss_function = SmplestXLoss(model.config)

    def loss_forward_backward():
        leaves = {name: getattr(outputs, name).detach().requires_grad_() for name in LOSS_INPUTS}
        loss, _ = loss_function(SmplestXMeshRecoveryOutput(**leaves), labels)
        loss.backward()

    def loss_forward():
        with torch.no_grad():
            loss_function(outputs, labels)

    def body_model_forward_backward():
        leaves = {name: getattr(outputs, name).detach().requires_grad_() for name in (*PARAMETER_NAMES, "camera_translation")}
        body = model.body_model(**{name: leaves[name] for name in PARAMETER_NAMES}, transl=leaves["camera_translation"])
        (body.joints.sum() + body.vertices.sum()).backward()

    loss = _median_seconds(loss_forward_backward, repeats * 5)  # cheap: more repeats for a stable median
    return {
        "preset": preset,
        "batch_size": batch_size,
        "step_ms": 1000 * step,
        "loss_ms": 1000 * loss,
        "loss_forward_ms": 1000 * _median_seconds(loss_forward, repeats * 5),
        "body_model_ms": 1000 * _median_seconds(body_model_forward_backward, repeats),
        "loss_share": loss / step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["b"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--body-model", default=os.environ.get("SMPLX_MODEL_DIR"), help="folder containing smplx/")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        body_model_dir, source = args.body_model, f"body model from {args.body_model}"
        if body_model_dir is None:
            from smplest_hf.synthetic import write_synthetic_body_model

            body_model_dir, source = write_synthetic_body_model(scratch, seed=0), "synthetic SMPL-X-format body model"
        rows = [measure(preset, batch, body_model_dir, args.repeats) for preset in args.presets for batch in args.batch_sizes]

    print(f"CPU, {args.threads} threads, float32, training mode, medians ({args.repeats} steps), {source}")
    print(f"{'preset':>6} {'batch':>5} {'step ms':>9} {'loss ms':>8} {'(fwd only)':>10} {'loss/step':>9} {'body model ms':>13}")
    for row in rows:
        print(
            f"{row['preset']:>6} {row['batch_size']:>5} {row['step_ms']:>9.1f} {row['loss_ms']:>8.2f} "
            f"{row['loss_forward_ms']:>10.2f} {100 * row['loss_share']:>8.2f}% {row['body_model_ms']:>13.1f}"
        )
    print("loss = SmplestXLoss forward + backward through its own graph; step = model forward with labels + backward;")
    print("body model = SMPL-X forward + backward (inside the step, needed only by the joint terms). Budget: loss <= 15% of a B step.")


if __name__ == "__main__":
    main()

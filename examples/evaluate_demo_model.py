"""Evaluate the demo model against the "mean pose" baseline on held-out synthetic images (PVE, PA-PVE in mm).

The baseline predicts, for every image, the training set's mean SMPL-X parameters: per joint the rotation
closest to all training rotations (the chordal L2 mean: the average rotation matrix projected back onto the
rotations), and the mean shape and expression. It is built as an SmplestXForHumanMeshRecovery whose readout
layers ignore the image (zero weights) and output those parameters (biases), so both are scored by the same
code path: `smplest_hf.evaluation.evaluate` on the dataset's held-out split, ground truth from each person's
gender-specific body model, errors after pelvis alignment (PVE) and after Procrustes alignment (PA-PVE).

    python examples/evaluate_demo_model.py --dataset outputs/data/synthetic            # the bundled demo model
    python examples/evaluate_demo_model.py outputs/tiny_synthetic/model --dataset outputs/data/synthetic \
        --output outputs/tiny_synthetic/demo_metrics.json
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from smplest_hf import SmplestXForHumanMeshRecovery
from smplest_hf.evaluation.benchmarks import Benchmark
from smplest_hf.evaluation.run import evaluate
from smplest_hf.models.smplest_x.geometry import axis_angle_to_matrix, matrix_to_rotation_6d

DEMO_MODEL = Path(__file__).resolve().parents[1] / "smplest_hf" / "demo_model"
METRICS = ("pve_all", "pa_pve_all", "pve_hands", "pa_pve_hands", "pve_face", "pa_pve_face", "mpjpe_j14", "pa_mpjpe_j14")


def chordal_mean_rotations(rotations: torch.Tensor) -> torch.Tensor:
    """(N, J, 3, 3) -> (J, 3, 3): per joint the rotation R minimising sum_i ||R - R_i||_F^2 (SVD projection of
    the mean matrix onto SO(3))."""
    mean = rotations.double().mean(dim=0)
    u, _, vh = torch.linalg.svd(mean)
    sign = torch.sign(torch.linalg.det(u @ vh))
    correction = torch.diag_embed(torch.stack((torch.ones_like(sign), torch.ones_like(sign), sign), dim=-1))
    return (u @ correction @ vh).float()


def training_mean_parameters(dataset_dir, split: str = "train") -> dict:
    """Mean SMPL-X parameters of a dataset split (rows with SMPL-X annotations; hand poses relative to the mean
    hand, as the model predicts them)."""
    from hub_datasets import load_ehps_dataset

    columns = ["smplx_valid", "smplx_flat_hand_mean", "smplx_global_orient", "smplx_body_pose", "smplx_left_hand_pose",
               "smplx_right_hand_pose", "smplx_jaw_pose", "smplx_betas", "smplx_expression"]  # fmt: skip
    table = load_ehps_dataset(dataset_dir, split, decode_images=False).select_columns(columns).with_format("numpy")[:]
    keep = np.asarray(table["smplx_valid"], bool)
    if not keep.any():
        raise ValueError(f"{dataset_dir} split {split!r} has no row with SMPL-X parameters to average.")
    if np.asarray(table["smplx_flat_hand_mean"], bool)[keep].any():
        raise ValueError("Hand poses stored relative to the flat hand are not supported by this baseline; "
                         "the synthetic datasets store them relative to the mean hand.")  # fmt: skip

    def stacked(name, shape):
        return torch.from_numpy(np.stack([np.asarray(value, np.float32).reshape(shape) for value in table[name][keep]]))

    pose = torch.cat(
        [stacked("smplx_global_orient", (1, 3)), stacked("smplx_body_pose", (21, 3)), stacked("smplx_left_hand_pose", (15, 3)),
         stacked("smplx_right_hand_pose", (15, 3)), stacked("smplx_jaw_pose", (1, 3))], dim=1,
    )  # fmt: skip
    rotations = chordal_mean_rotations(axis_angle_to_matrix(pose))  # (53, 3, 3)
    return {
        "rotations": rotations,
        "betas": stacked("smplx_betas", (-1,))[:, :10].mean(dim=0),
        "expression": stacked("smplx_expression", (-1,))[:, :10].mean(dim=0),
        "num_samples": int(keep.sum()),
    }


def mean_pose_model(config, mean: dict) -> SmplestXForHumanMeshRecovery:
    """A model whose outputs are `mean`'s parameters whatever the image (readout weights 0, biases = the means)."""
    model = SmplestXForHumanMeshRecovery(config).eval()
    rotation_6d = matrix_to_rotation_6d(mean["rotations"])  # (53, 6): root, 21 body, 15 left, 15 right, jaw
    identity = matrix_to_rotation_6d(torch.eye(3))
    biases = {
        "body_root_pose": rotation_6d[0], "body_pose": rotation_6d[1:22].reshape(-1),
        "hand_pose": rotation_6d[22:52].reshape(-1), "jaw_pose": rotation_6d[52],
        "hand_root_pose": identity.repeat(2), "face_root_pose": identity,  # part-token outputs: unused by the mesh
        "betas": mean["betas"], "expression": mean["expression"],
    }  # fmt: skip
    with torch.no_grad():
        for name, readout in model.decoder.readouts.items():
            readout.weight.zero_()
            readout.bias.zero_()
            if name in biases:
                readout.bias.copy_(biases[name])
    return model


def heldout_benchmark(dataset_dir, split: str) -> Benchmark:
    return Benchmark(
        name="synthetic_heldout", title="Synthetic held-out", dataset=str(dataset_dir), split=split, metrics=METRICS,
        primary_metric="pve_all", gender="per_sample", bbox_ratio=1.2,  # synthetic boxes are tight
    )  # fmt: skip


def evaluate_demo(model_dir, dataset_dir, body_model_dir, split="test", max_samples=None, batch_size=32) -> dict:
    """{"model": metrics, "mean_pose_baseline": metrics, ...} in mm."""
    model = SmplestXForHumanMeshRecovery.from_pretrained(model_dir)
    mean = training_mean_parameters(dataset_dir)
    results = {}
    for name, candidate in (("model", model), ("mean_pose_baseline", mean_pose_model(model.config, mean))):
        report = evaluate(candidate, [heldout_benchmark(dataset_dir, split)], body_model_dir=body_model_dir,
                          batch_size=batch_size, max_samples=max_samples, progress=False)  # fmt: skip
        results[name] = {metric: round(float(value), 2) for metric, value in report.benchmarks[0].metrics.items()}
        results["num_heldout_samples"] = report.benchmarks[0].num_samples
    results["baseline_training_samples"] = mean["num_samples"]
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(DEMO_MODEL), help="model directory (default: the bundled demo model)")
    parser.add_argument("--dataset", required=True, help="synthetic EHPS dataset with a train split (for the mean) and --split")
    parser.add_argument("--split", default="test", help="held-out split (default: test)")
    parser.add_argument("--body-model", default="synthetic", help="folder with smplx/ (default: the synthetic body model)")
    parser.add_argument("--max-samples", type=int, default=None)
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    body_model_dir = args.body_model
    if body_model_dir == "synthetic":
        from hub_datasets.synthetic import default_body_model_dir

        body_model_dir = default_body_model_dir()
    results = evaluate_demo(args.model, args.dataset, body_model_dir, args.split, args.max_samples)
    print(f"{results['num_heldout_samples']} held-out people ({args.dataset}, split {args.split}); errors in mm")
    print(f"{'metric':>14} {'model':>9} {'mean pose':>10}")
    for metric in METRICS:
        print(f"{metric:>14} {results['model'][metric]:>9.1f} {results['mean_pose_baseline'][metric]:>10.1f}")
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

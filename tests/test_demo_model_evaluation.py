"""`examples/evaluate_demo_model.py`: the mean-pose baseline the demo model's card compares against."""

from pathlib import Path

import numpy as np
import pytest
import torch
from script_modules import load_script

from smplest_hf import SmplestXConfig
from smplest_hf.models.smplest_x.geometry import axis_angle_to_matrix

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "evaluate_demo_model.py"


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT, "evaluate_demo_model")


@pytest.fixture(scope="module")
def dataset(synthetic_data):
    return synthetic_data  # 64 training and 16 held-out people (conftest)


def test_chordal_mean_of_rotations(script):
    rotation = axis_angle_to_matrix(torch.tensor([[0.3, -0.2, 0.5]]))
    same = rotation.repeat(5, 1, 1)[:, None]  # (5, 1, 3, 3): five copies of one rotation for one joint
    torch.testing.assert_close(script.chordal_mean_rotations(same)[0], rotation[0], atol=1e-6, rtol=0)
    # Two rotations about one axis by +-a average to the identity; the result is always a rotation.
    pair = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.7], [0.0, 0.0, -0.7]]))[:, None]
    torch.testing.assert_close(script.chordal_mean_rotations(pair)[0], torch.eye(3), atol=1e-6, rtol=0)


def test_mean_pose_model_predicts_the_training_means_for_every_image(script, dataset):
    mean = script.training_mean_parameters(dataset)
    assert mean["num_samples"] == 64 and mean["rotations"].shape == (53, 3, 3)
    model = script.mean_pose_model(SmplestXConfig.from_preset("tiny"), mean)
    with torch.no_grad():
        outputs = model(torch.rand(3, 3, 256, 192))
    pose = torch.cat((outputs.global_orient[:, None], outputs.body_pose, outputs.left_hand_pose,
                      outputs.right_hand_pose, outputs.jaw_pose[:, None]), dim=1)  # fmt: skip
    torch.testing.assert_close(axis_angle_to_matrix(pose), mean["rotations"].expand(3, -1, -1, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(outputs.betas, mean["betas"].expand(3, -1), atol=1e-6, rtol=0)
    # The betas mean is the plain mean of the stored rows.
    from hub_datasets import load_ehps_dataset

    stored = np.stack(load_ehps_dataset(dataset, "train", decode_images=False)["smplx_betas"])[:, :10]
    np.testing.assert_allclose(mean["betas"].numpy(), stored.mean(0), atol=1e-6)


def test_evaluate_demo_scores_model_and_baseline_on_the_held_out_split(script, dataset, synthetic_body_model_dir, tiny_model_dir):
    results = script.evaluate_demo(tiny_model_dir, dataset, synthetic_body_model_dir, batch_size=4)
    assert results["num_heldout_samples"] == 16 and results["baseline_training_samples"] == 64
    for name in ("model", "mean_pose_baseline"):
        assert set(results[name]) == set(script.METRICS)
        assert all(value > 0 for value in results[name].values())
    assert results["model"] != results["mean_pose_baseline"]

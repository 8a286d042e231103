"""SmplestXLoss against independent computations: a per-sample numpy/scipy reference written from joint *names*,
hand-made inputs with known values, masks, the batched kinematic chain, gradients, and the model wiring."""

import numpy as np
import pytest
import torch
from huggingface_hub.dataclasses import StrictDataclassClassValidationError
from scipy.spatial.transform import Rotation

from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
from smplest_hf.models.smplest_x.configuration_smplest_x import DEFAULT_LOSS_WEIGHTS
from smplest_hf.models.smplest_x.geometry import matrix_to_axis_angle
from smplest_hf.models.smplest_x.smplx_layout import (
    POSE_JOINT_NAMES,
    SMPLX_BODY_PARENTS,
    SMPLX_JOINT_NAMES,
    SUPERVISION_JOINT_NAMES,
)
from smplest_hf.models.smplest_x.losses import (
    LABEL_SHAPES,
    SmplestXLoss,
    joints_inside_body_input,
    wrist_global_rotations,
)
from smplest_hf.models.smplest_x.modeling_smplest_x import SmplestXMeshRecoveryOutput

ALL_TERMS_ON = {**DEFAULT_LOSS_WEIGHTS, "hand_joints_3d": 1.0, "hand_joints_3d_part_relative": 1.0}
NUM_JOINTS = len(SUPERVISION_JOINT_NAMES)
JOINT = {name: index for index, name in enumerate(SUPERVISION_JOINT_NAMES)}
POSE = {name: index for index, name in enumerate(POSE_JOINT_NAMES)}
# Kinematic chains written out by name (independent of the parents table under test).
WRIST_CHAIN_NAMES = {
    "left": ("pelvis", "spine1", "spine2", "spine3", "left_collar", "left_shoulder", "left_elbow", "left_wrist"),
    "right": ("pelvis", "spine1", "spine2", "spine3", "right_collar", "right_shoulder", "right_elbow", "right_wrist"),
}
OUTPUT_FIELDS = (
    "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression",
    "left_hand_root_pose", "right_hand_root_pose", "joints", "keypoints_2d",
)  # fmt: skip


def _loss(weights=None, **overrides):
    return SmplestXLoss(SmplestXConfig.from_preset("tiny", loss_weights=weights or ALL_TERMS_ON, **overrides))


def _random_outputs(batch_size, seed=0):
    """Model-shaped predictions as leaf tensors (joints and 2D keypoints need not be consistent for the loss)."""
    generator = torch.Generator().manual_seed(seed)

    def leaf(*shape, scale=1.0):
        return (scale * torch.randn(batch_size, *shape, generator=generator)).requires_grad_()

    return SmplestXMeshRecoveryOutput(
        global_orient=leaf(3), body_pose=leaf(21, 3, scale=0.5), left_hand_pose=leaf(15, 3, scale=0.5),
        right_hand_pose=leaf(15, 3, scale=0.5), jaw_pose=leaf(3, scale=0.3), betas=leaf(10), expression=leaf(10),
        camera_translation=leaf(3), left_hand_root_pose=leaf(3), right_hand_root_pose=leaf(3),
        joints=leaf(NUM_JOINTS, 3, scale=0.5), keypoints_2d=(torch.rand(batch_size, NUM_JOINTS, 2, generator=generator) * 200).requires_grad_(),
    )  # fmt: skip


def _predicted_pose(outputs):
    return torch.cat(
        (outputs.global_orient[:, None], outputs.body_pose, outputs.left_hand_pose, outputs.right_hand_pose, outputs.jaw_pose[:, None]),
        dim=1,
    ).detach()


def _matrices(axis_angle):
    """(..., 3) -> (..., 3, 3) with scipy (independent of smplest_hf.models.smplest_x.geometry)."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    return Rotation.from_rotvec(axis_angle.reshape(-1, 3)).as_matrix().reshape(*axis_angle.shape[:-1], 3, 3)


def _matching_labels(outputs):
    """Labels equal to the predictions, every entry valid, the pelvis valid (full-body sample)."""
    batch_size = outputs.global_orient.shape[0]
    pose = _predicted_pose(outputs)
    joints = outputs.joints.detach()
    return {
        "pose": pose.clone(),
        "pose_valid": torch.ones(batch_size, 53),
        "betas": outputs.betas.detach().clone(),
        "betas_valid": torch.ones(batch_size),
        "expression": outputs.expression.detach().clone(),
        "expression_valid": torch.ones(batch_size),
        "joints_3d": joints - joints[:, :1],
        "keypoints_2d": outputs.keypoints_2d.detach().clone(),
        "joints_valid": torch.ones(batch_size, NUM_JOINTS),
        "has_3d_joints": torch.ones(batch_size),
        "hand_root_pose": torch.zeros(batch_size, 2, 3),
        "hand_root_valid": torch.zeros(batch_size, 2),
    }


def _random_labels(batch_size, seed=1):
    generator = torch.Generator().manual_seed(seed)

    def mask(*shape, p=0.7):
        return (torch.rand(batch_size, *shape, generator=generator) < p).float()

    labels = {
        "pose": 0.6 * torch.randn(batch_size, 53, 3, generator=generator),
        "pose_valid": mask(53),
        "betas": torch.randn(batch_size, 10, generator=generator),
        "betas_valid": mask(),
        "expression": torch.randn(batch_size, 10, generator=generator),
        "expression_valid": mask(),
        "joints_3d": 0.5 * torch.randn(batch_size, NUM_JOINTS, 3, generator=generator),
        "keypoints_2d": torch.rand(batch_size, NUM_JOINTS, 2, generator=generator) * 200,
        "joints_valid": mask(NUM_JOINTS),
        "has_3d_joints": mask(),
        "hand_root_pose": torch.randn(batch_size, 2, 3, generator=generator),
        "hand_root_valid": mask(2),
    }
    labels["joints_valid"][0, JOINT["Pelvis"]] = 1.0  # one full-body and one hand-only sample at least
    labels["joints_valid"][1, JOINT["Pelvis"]] = 0.0
    return labels


def _chain_rotation(local_rotations, side, detach=False):
    """Global wrist rotation of ONE sample: local (22, 3, 3) matrices multiplied down the named chain."""
    result = np.eye(3)
    for name in WRIST_CHAIN_NAMES[side]:
        result = result @ local_rotations[SMPLX_JOINT_NAMES.index(name)]
    return result


def _pose_name(smplx_name):
    """'left_collar' -> 'L_Collar', 'spine1' -> 'Spine_1' (POSE_JOINT_NAMES spelling)."""
    words = smplx_name.replace("left_", "L_").replace("right_", "R_").split("_")
    if words[-1][-1].isdigit():
        words[-1:] = [words[-1][:-1], words[-1][-1]]
    return "_".join(word if word in ("L", "R") else word.capitalize() for word in words)


def _part_anchor(name):
    """The joint a supervision joint is aligned to in the part-relative frame, decided from its name."""
    if name.startswith("Face_"):
        return "Neck"
    finger = any(finger in name for finger in ("Thumb", "Index", "Middle", "Ring", "Pinky"))
    if finger:
        return "L_Wrist" if name.startswith("L_") else "R_Wrist"
    return "Pelvis"


def _reference_terms(outputs, labels, weights):
    """Every term, one sample at a time with numpy/scipy, then averaged as the original (mean over N x elements)."""
    batch_size = outputs.global_orient.shape[0]
    numpy_labels = {name: value.detach().double().numpy() for name, value in labels.items()}
    predicted_pose = _predicted_pose(outputs).double().numpy()
    predicted_joints = outputs.joints.detach().double().numpy()
    predicted_keypoints = outputs.keypoints_2d.detach().double().numpy()
    predicted_hand_roots = torch.stack((outputs.left_hand_root_pose, outputs.right_hand_root_pose), 1).detach().double().numpy()
    anchors = [JOINT[_part_anchor(name)] for name in SUPERVISION_JOINT_NAMES]
    hands = [JOINT[name] for name in SUPERVISION_JOINT_NAMES if _part_anchor(name) in ("L_Wrist", "R_Wrist")]
    sums = dict.fromkeys(("pose", "global_orient", "betas", "expression", "joints_3d", "joints_3d_part_relative",
                          "hand_joints_3d", "hand_joints_3d_part_relative", "keypoints_2d", "hand_root", "hand_root_chain"), 0.0)  # fmt: skip
    for i in range(batch_size):
        label = {name: value[i] for name, value in numpy_labels.items()}
        predicted_rotations, target_rotations = _matrices(predicted_pose[i]), _matrices(label["pose"])
        pose_error = np.abs(predicted_rotations - target_rotations).sum(axis=(1, 2)) * label["pose_valid"]
        sums["pose"] += pose_error.sum()
        sums["global_orient"] += pose_error[0]
        for name in ("betas", "expression"):
            sums[name] += np.abs(getattr(outputs, name)[i].detach().double().numpy() - label[name]).sum() * label[f"{name}_valid"]

        valid = label["joints_valid"]
        pelvis = JOINT["Pelvis"]
        root_relative_error = np.abs((predicted_joints[i] - predicted_joints[i, pelvis]) - (label["joints_3d"] - label["joints_3d"][pelvis])).sum(1)
        part_relative_error = np.abs((predicted_joints[i] - predicted_joints[i, anchors]) - (label["joints_3d"] - label["joints_3d"][anchors])).sum(1)
        root_weight = valid * label["has_3d_joints"] * valid[pelvis]
        part_weight = valid * label["has_3d_joints"]
        sums["joints_3d"] += (root_relative_error * root_weight).sum()
        sums["hand_joints_3d"] += (root_relative_error * root_weight)[hands].sum()
        sums["joints_3d_part_relative"] += (part_relative_error * part_weight).sum()
        sums["hand_joints_3d_part_relative"] += (part_relative_error * part_weight)[hands].sum()
        sums["keypoints_2d"] += (np.abs(predicted_keypoints[i] - label["keypoints_2d"]).sum(1) / 16.0 * valid).sum()

        is_full_body = valid[pelvis] > 0
        for hand, side in enumerate(("left", "right")):
            if is_full_body:  # every rotation on the chain must be annotated
                chain_valid = [label["pose_valid"][POSE_JOINT_NAMES.index(_pose_name(name))] for name in WRIST_CHAIN_NAMES[side]]
                target, weight = _chain_rotation(target_rotations, side), np.prod(chain_valid)
            else:
                target, weight = _matrices(label["hand_root_pose"][hand]), label["hand_root_valid"][hand]
            sums["hand_root"] += np.abs(target - _matrices(predicted_hand_roots[i, hand])).sum() * weight
            sums["hand_root_chain"] += np.abs(target - _chain_rotation(predicted_rotations, side)).sum() * weight
    sizes = {"pose": 53 * 9, "global_orient": 9, "betas": 10, "expression": 10, "joints_3d": NUM_JOINTS * 3,
             "joints_3d_part_relative": NUM_JOINTS * 3, "hand_joints_3d": 40 * 3, "hand_joints_3d_part_relative": 40 * 3,
             "keypoints_2d": NUM_JOINTS * 2, "hand_root": 9, "hand_root_chain": 9}  # fmt: skip
    return {name: weights[name] * total / (batch_size * sizes[name]) for name, total in sums.items() if weights[name]}


# ----------------------------------------------------------------------------------------------- values
def test_every_term_is_zero_when_prediction_equals_target():
    outputs = _random_outputs(3)
    labels = _matching_labels(outputs)
    # Hand tokens predicting exactly the wrist orientation the body chain gives.
    wrists = wrist_global_rotations(torch.from_numpy(_matrices(labels["pose"][:, :22])).float())
    outputs.left_hand_root_pose, outputs.right_hand_root_pose = matrix_to_axis_angle(wrists).unbind(1)
    loss, terms = _loss()(outputs, labels)
    assert set(terms) == set(ALL_TERMS_ON)
    for name, value in terms.items():
        assert value.item() == pytest.approx(0.0, abs=2e-5), name
    assert loss.item() == pytest.approx(0.0, abs=1e-4)


def test_all_terms_match_the_per_sample_reference_with_random_masks():
    outputs, labels = _random_outputs(4), _random_labels(4)
    loss, terms = _loss()(outputs, labels)
    expected = _reference_terms(outputs, labels, ALL_TERMS_ON)
    assert set(terms) == set(expected)
    for name in expected:
        assert terms[name].item() == pytest.approx(expected[name], rel=1e-4, abs=1e-6), name
    assert loss.item() == pytest.approx(sum(expected.values()), rel=1e-4)


def test_batched_equals_per_sample():
    outputs, labels = _random_outputs(4, seed=3), _random_labels(4, seed=4)
    _, batched = _loss()(outputs, labels)
    singles = []
    for i in range(4):
        one = SmplestXMeshRecoveryOutput(**{name: getattr(outputs, name)[i : i + 1] for name in OUTPUT_FIELDS})
        singles.append(_loss()(one, {name: value[i : i + 1] for name, value in labels.items()})[1])
    for name, value in batched.items():  # every term is a mean over samples
        assert value.item() == pytest.approx(sum(single[name].item() for single in singles) / 4, rel=1e-5, abs=1e-7), name


def test_known_l1_values_for_known_offsets():
    batch_size = 2
    outputs = _random_outputs(batch_size, seed=5)
    labels = _matching_labels(outputs)
    labels["betas"][0, 3] += 0.5
    labels["expression"][1, 0] -= 0.25
    labels["keypoints_2d"][1, JOINT["Nose"], 0] += 16.0  # one 16-pixel grid cell
    labels["joints_3d"][1, JOINT["L_Knee"], 2] += 0.01  # a body joint: both 3D terms see it once
    labels["joints_3d"][0, JOINT["L_Wrist"], 0] += 0.02  # the wrist: once pelvis-relative, 21x part-relative
    labels["joints_3d"][0, JOINT["R_Index_2"], 1] -= 0.03  # a finger: once in each 3D term and each hand term
    _, terms = _loss()(outputs, labels)
    joint_elements = batch_size * NUM_JOINTS * 3
    hand_elements = batch_size * 40 * 3
    expected = {
        "betas": 0.5 / (batch_size * 10),
        "expression": 0.25 / (batch_size * 10),
        "keypoints_2d": 1.0 / (batch_size * NUM_JOINTS * 2),
        "joints_3d": 100 * (0.01 + 0.02 + 0.03) / joint_elements,
        "joints_3d_part_relative": 100 * (0.01 + 21 * 0.02 + 0.03) / joint_elements,
        "hand_joints_3d": 0.03 / hand_elements,
        "hand_joints_3d_part_relative": (20 * 0.02 + 0.03) / hand_elements,
    }
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-3), name
    for name in ("pose", "global_orient", "hand_root_chain"):
        assert terms[name].item() == pytest.approx(0.0, abs=1e-6), name


def test_rotation_terms_for_a_known_rotation_offset():
    outputs = _random_outputs(2, seed=6)
    labels = _matching_labels(outputs)
    labels["pose"][1, 0] = torch.tensor([0.0, 0.0, 0.0])
    outputs.global_orient.data[1] = torch.tensor([0.0, 0.0, np.pi / 2])  # 90 degrees about z
    labels["pose"][0, POSE["R_Knee"]] = outputs.body_pose.detach()[0, POSE["R_Knee"] - 1] + torch.tensor([0.1, 0.0, 0.0])
    labels["pose_valid"][0, POSE["Jaw"]] = 0.0
    labels["pose"][0, POSE["Jaw"]] += 1.0  # invalid: must not count
    _, terms = _loss()(outputs, labels)
    # |Rz(90) - I|: diagonal (1,1,0) + off-diagonal (1,1) = 4.
    knee = np.abs(_matrices(labels["pose"][0, POSE["R_Knee"]]) - _matrices(outputs.body_pose.detach()[0, POSE["R_Knee"] - 1])).sum()
    assert terms["global_orient"].item() == pytest.approx(4.0 / (2 * 9), rel=1e-5)
    assert terms["pose"].item() == pytest.approx(10 * (4.0 + knee) / (2 * 53 * 9), rel=1e-4)


def test_masks_exclude_invalid_entries_exactly():
    outputs, labels = _random_outputs(3, seed=7), _random_labels(3, seed=8)
    _, reference = _loss()(outputs, labels)
    corrupted = {name: value.clone() for name, value in labels.items()}
    # Garbage wherever a mask says "not annotated": nothing may change (NaN included: it is zeroed first).
    for value_name, mask_name in (("pose", "pose_valid"), ("keypoints_2d", "joints_valid"), ("hand_root_pose", "hand_root_valid")):
        corrupted[value_name][corrupted[mask_name] == 0] = 1e3
    corrupted["betas"][corrupted["betas_valid"] == 0] = float("nan")
    corrupted["expression"][corrupted["expression_valid"] == 0] = -7.0
    invalid_joints = corrupted["joints_valid"] == 0
    invalid_joints[:, JOINT["Pelvis"]] = False  # the pelvis anchors the others even when not supervised
    invalid_joints[:, [JOINT["L_Wrist"], JOINT["R_Wrist"], JOINT["Neck"]]] = False
    corrupted["joints_3d"][invalid_joints] = 5.0
    corrupted["joints_3d"][corrupted["has_3d_joints"] == 0] = 9.0  # a 2D-only sample's 3D targets are ignored
    _, terms = _loss()(outputs, corrupted)
    for name, value in reference.items():
        assert value.item() == pytest.approx(terms[name].item(), rel=1e-6), name


def test_pelvis_validity_selects_full_body_or_hand_only_supervision():
    outputs = _random_outputs(2, seed=9)
    labels = _matching_labels(outputs)
    labels["hand_root_pose"] = torch.randn(2, 2, 3)
    labels["hand_root_valid"] = torch.ones(2, 2)
    _, full_body = _loss()(outputs, labels)
    # Full-body samples ignore MANO roots: the chain term is 0 because the predicted chain equals the target chain.
    assert full_body["hand_root_chain"].item() == pytest.approx(0.0, abs=1e-6)
    labels["joints_valid"][:, JOINT["Pelvis"]] = 0.0  # now hand-only data: compared with the MANO roots
    _, hand_only = _loss()(outputs, labels)
    chain = [[_chain_rotation(_matrices(_predicted_pose(outputs)[i, :22]), side) for side in ("left", "right")] for i in range(2)]
    expected = sum(np.abs(_matrices(labels["hand_root_pose"][i, h]) - chain[i][h]).sum() for i in range(2) for h in range(2))
    assert hand_only["hand_root_chain"].item() == pytest.approx(expected / (2 * 9), rel=1e-4)
    assert "joints_3d" in hand_only and hand_only["joints_3d"].item() == 0.0  # pelvis-relative needs the pelvis


def test_truncated_joints_are_not_supervised():
    keypoints = torch.tensor([[[0.0, 0.0], [191.9, 255.9], [192.0, 10.0], [10.0, 256.0], [-1.0, 5.0], [5.0, -0.1]]])
    inside = joints_inside_body_input(keypoints)
    assert inside.tolist() == [[True, True, False, False, False, False]]
    assert joints_inside_body_input(keypoints.numpy()).tolist() == inside.tolist()  # numpy in, numpy out
    assert joints_inside_body_input(keypoints, (512, 384)).tolist() == [[True, True, True, True, False, False]]

    outputs = _random_outputs(1, seed=10)
    labels = _matching_labels(outputs)
    labels["keypoints_2d"][0, 3] = torch.tensor([300.0, -40.0])  # outside the crop...
    labels["joints_valid"][0] = joints_inside_body_input(labels["keypoints_2d"][0]).float()
    labels["joints_valid"][0, 3] = 0.0  # ...hence truncated
    assert _loss()(outputs, labels)[1]["keypoints_2d"].item() == 0.0


# ------------------------------------------------------------------------------------ kinematic chain
def test_body_parents_are_the_smplx_tree():
    named = {SMPLX_JOINT_NAMES[child]: SMPLX_JOINT_NAMES[parent] for child, parent in enumerate(SMPLX_BODY_PARENTS) if parent >= 0}
    for chain in WRIST_CHAIN_NAMES.values():
        for parent, child in zip(chain, chain[1:]):
            assert named[child] == parent
    assert named["left_ankle"] == "left_knee" and named["neck"] == "spine3" and named["head"] == "neck"


def test_wrist_rotations_equal_the_composition_of_parents_one_sample_at_a_time():
    local = torch.from_numpy(_matrices(np.random.default_rng(0).normal(size=(5, 22, 3)))).float()
    batched = wrist_global_rotations(local).double().numpy()
    for i in range(5):
        for hand, side in enumerate(("left", "right")):
            np.testing.assert_allclose(batched[i, hand], _chain_rotation(local[i].double().numpy(), side), atol=1e-5)
    # Walking the parent table (all 22 globals, sample by sample) gives the same wrists.
    for i in range(5):
        globals_ = []
        for joint, parent in enumerate(SMPLX_BODY_PARENTS):
            globals_.append(local[i, joint] if parent < 0 else globals_[parent] @ local[i, joint])
        np.testing.assert_allclose(batched[i, 0], globals_[SMPLX_JOINT_NAMES.index("left_wrist")], atol=1e-5)
        np.testing.assert_allclose(batched[i, 1], globals_[SMPLX_JOINT_NAMES.index("right_wrist")], atol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, 22, 3, 3\)"):
        wrist_global_rotations(local[:, :21])


def test_chain_detaches_the_pelvis_as_the_original():
    local = torch.from_numpy(_matrices(np.random.default_rng(1).normal(size=(2, 22, 3)))).float().requires_grad_()
    wrist_global_rotations(local, detach_root=True).sum().backward()
    assert local.grad[:, 0].abs().sum() == 0 and local.grad[:, 1:].abs().sum() > 0
    local.grad = None
    wrist_global_rotations(local).sum().backward()
    assert local.grad[:, 0].abs().sum() > 0


# ------------------------------------------------------------------------------- gradients, weights, errors
def test_gradients_reach_every_supervised_output():
    outputs, labels = _random_outputs(3, seed=11), _random_labels(3, seed=12)
    labels["pose_valid"][:] = 1.0
    labels["has_3d_joints"][:] = 1.0
    loss, _ = _loss()(outputs, labels)
    loss.backward()
    for name in OUTPUT_FIELDS:
        gradient = getattr(outputs, name).grad
        assert gradient is not None and torch.isfinite(gradient).all() and gradient.abs().sum() > 0, name


def test_weights_come_from_the_config_and_zero_switches_a_term_off():
    outputs, labels = _random_outputs(2, seed=13), _random_labels(2, seed=14)
    _, default = SmplestXLoss(SmplestXConfig.from_preset("tiny"))(outputs, labels)
    assert set(default) == {name for name, weight in DEFAULT_LOSS_WEIGHTS.items() if weight}
    assert "hand_joints_3d" not in default  # off in the original's shipped config
    _, scaled = _loss({"pose": 20.0, "keypoints_2d": 0})(outputs, labels)
    assert scaled["pose"].item() == pytest.approx(2 * default["pose"].item(), rel=1e-6)
    assert "keypoints_2d" not in scaled
    with pytest.raises(ValueError, match="Every loss weight is 0"):
        _loss(dict.fromkeys(DEFAULT_LOSS_WEIGHTS, 0.0))(outputs, labels)
    with pytest.raises(StrictDataclassClassValidationError, match="unknown terms"):
        SmplestXConfig(loss_weights={"smplx_pose": 1.0})
    with pytest.raises(StrictDataclassClassValidationError, match=">= 0"):
        SmplestXConfig(loss_weights={"pose": -1.0})


def test_bad_labels_raise_clear_errors():
    outputs, labels = _random_outputs(2), _random_labels(2)
    loss = _loss()
    with pytest.raises(ValueError, match=r"missing \['has_3d_joints'\]"):
        loss(outputs, {name: value for name, value in labels.items() if name != "has_3d_joints"})
    with pytest.raises(ValueError, match=r"unknown \['joint_trunc'\]"):
        loss(outputs, {**labels, "joint_trunc": labels["joints_valid"]})
    with pytest.raises(ValueError, match=r"labels\['joints_3d'\] has shape \(2, 144, 3\), expected \(2, 137, 3\)"):
        loss(outputs, {**labels, "joints_3d": torch.zeros(2, 144, 3)})
    with pytest.raises(TypeError, match=r"labels\['betas'\] must be a torch.Tensor"):
        loss(outputs, {**labels, "betas": np.zeros((2, 10))})
    with pytest.raises(TypeError, match="dict of tensors"):
        loss(outputs, [labels])
    no_joints = SmplestXMeshRecoveryOutput(**{name: getattr(outputs, name) for name in OUTPUT_FIELDS[:-2]})
    with pytest.raises(ValueError, match="body model attached"):
        loss(no_joints, labels)
    # Bool and integer masks are accepted.
    as_bool = {**labels, "joints_valid": labels["joints_valid"].bool(), "pose_valid": labels["pose_valid"].long()}
    assert loss(outputs, as_bool)[0].item() == pytest.approx(loss(outputs, labels)[0].item())
    assert set(LABEL_SHAPES) == set(labels)


# ------------------------------------------------------------------------------------------- the model
def test_model_without_a_body_model_refuses_labels():
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny"))
    with pytest.raises(ValueError, match="attach_body_model"):
        model(torch.rand(1, 3, 256, 192), labels=_random_labels(2))


def test_model_with_labels_returns_loss_and_terms_and_backward_works(synthetic_body_model_dir):
    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).attach_body_model(synthetic_body_model_dir)
    body_model = model.body_model
    assert tuple(body_model.parents[1:22].tolist()) == SMPLX_BODY_PARENTS[1:]  # the model file's tree

    # Consistent labels from ground-truth SMPL-X parameters through the body model and the crop camera.
    generator = torch.Generator().manual_seed(1)
    pose = 0.3 * torch.randn(2, 53, 3, generator=generator)
    pose[:, 0] = torch.tensor([np.pi, 0.0, 0.0])  # upright in the camera (y down)
    betas, expression = torch.randn(2, 10, generator=generator), torch.randn(2, 10, generator=generator)
    # The crop camera (focal 5000 px on a 256x192 input) frames 2.5 m at about 56 m depth.
    translation = torch.tensor([[0.0, 0.2, 56.0], [0.1, 0.1, 50.0]])
    with torch.no_grad():
        body = body_model(pose[:, 0], pose[:, 1:22], pose[:, 22:37], pose[:, 37:52], pose[:, 52], betas, expression, transl=translation)
    (fx, fy), (cx, cy) = model.config.focal_length, model.config.principal_point
    keypoints = torch.stack((body.joints[..., 0] / body.joints[..., 2] * fx + cx, body.joints[..., 1] / body.joints[..., 2] * fy + cy), -1)
    labels = {
        "pose": pose, "pose_valid": torch.ones(2, 53), "betas": betas, "betas_valid": torch.ones(2),
        "expression": expression, "expression_valid": torch.ones(2),
        "joints_3d": body.joints - body.joints[:, :1], "keypoints_2d": keypoints,
        "joints_valid": joints_inside_body_input(keypoints).float(), "has_3d_joints": torch.ones(2),
        "hand_root_pose": torch.zeros(2, 2, 3), "hand_root_valid": torch.zeros(2, 2),
    }  # fmt: skip
    assert labels["joints_valid"].sum() > 100  # most joints on the crop

    model.train()
    outputs = model(torch.rand(2, 3, 256, 192), labels=labels)
    assert outputs.loss.ndim == 0 and torch.isfinite(outputs.loss)
    assert set(outputs.loss_terms) == {name for name, weight in DEFAULT_LOSS_WEIGHTS.items() if weight}
    assert all(not term.requires_grad for term in outputs.loss_terms.values())
    assert outputs.loss.item() == pytest.approx(sum(term.item() for term in outputs.loss_terms.values()), rel=1e-5)
    assert outputs.to_tuple()[0] is outputs.loss  # first, where transformers' Trainer looks for it
    assert outputs.vertices.shape == (2, 10475, 3)
    # Same value as the loss module on the same outputs.
    recomputed, _ = SmplestXLoss(model.config)(outputs, labels)
    assert recomputed.item() == pytest.approx(outputs.loss.item(), rel=1e-6)

    outputs.loss.backward()
    without_gradient = sorted(name for name, parameter in model.named_parameters() if parameter.grad is None or parameter.grad.abs().sum() == 0)
    # As in the original, no term supervises the face root and the part cameras.
    assert without_gradient == [
        "decoder.readouts.face_camera.bias", "decoder.readouts.face_camera.weight",
        "decoder.readouts.face_root_pose.bias", "decoder.readouts.face_root_pose.weight",
        "decoder.readouts.hand_camera.bias", "decoder.readouts.hand_camera.weight",
    ]  # fmt: skip
    assert model(torch.rand(2, 3, 256, 192), labels=labels, return_dict=False)[0].ndim == 0

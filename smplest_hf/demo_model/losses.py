"""The SMPLest-X training objective and the `labels` contract the training data must meet.

`SmplestXForHumanMeshRecovery(pixel_values, labels=labels)` computes `SmplestXLoss` on its outputs: every term
of the original objective (SMPLCap/SMPLest-X, `models/SMPLest_X.py`, mode "train"), with its validity masks, its
reduction and its default weights (`configuration_smplest_x.DEFAULT_LOSS_WEIGHTS`, overridable through
`SmplestXConfig(loss_weights=...)`).

Every term is an L1 distance times a 0/1 mask, averaged over *all* its elements (masked ones included, as the
original's `loss.mean()`), times its weight; the loss is the sum of the terms.

Terms (ours <- original key: what is compared; mask; default weight):

* `pose` <- `smplx_pose`: rotation matrices of the 53 posed joints (root, body, hands, jaw); `pose_valid`; 10
* `global_orient` <- `smplx_orient`: the root's rotation matrix; `pose_valid[:, 0]`; 1
* `betas` <- `smplx_shape`: 10 shape coefficients; `betas_valid`; 1
* `expression` <- `smplx_expr`: 10 expression coefficients; `expression_valid`; 1
* `joints_3d` <- `joint_cam`: the 137 joints, pelvis-relative, metres; `joints_valid` x `has_3d_joints` x
  pelvis valid; 100
* `joints_3d_part_relative` <- `smplx_joint_cam`: the 137 joints with hands wrist-relative, face neck-relative,
  body pelvis-relative; `joints_valid` x `has_3d_joints` (*); 100
* `hand_joints_3d` <- `hand_align`, `hand_joints_3d_part_relative` <- `hand_pose`: the 40 hand joints of the two
  terms above, same masks; 0 (**)
* `keypoints_2d` <- `joint_proj`: the 137 projected joints in cells of a 16 x 12 grid over the crop (16 px);
  `joints_valid`; 1
* `hand_root` <- `hand_root`: the hand tokens' wrist orientations vs. ground truth (below); 1
* `hand_root_chain` <- `hand_root_chain`: wrist orientations composed along the predicted body chain vs. ground
  truth (below); 1

(*) The original does not mask this term by `is_3D`; for 2D-only samples its loader fills the targets with zeros,
which would pull every joint onto its part root with weight 100. We mask it: a transform that wants 3D
supervision for such samples puts joints of a fitted SMPL-X in `joints_3d` and sets `has_3d_joints`.
(**) The original's `hand_loss` switch is off in its shipped config; weight 1.0 is its `hand_loss=True`.

Hand-root terms. Ground-truth wrist orientation (global, camera frame) comes from one of two sources, chosen
per sample by whether the pelvis is a valid joint (`joints_valid[:, 0]`; the original's "full-body dataset" test):
* pelvis valid: the ground-truth body pose composed along the kinematic chain to each wrist, masked by the
  `pose_valid` of every joint on that chain (the original checks the wrist only, which is the same for its
  data: body validity is all-or-nothing there);
* pelvis not valid (hand-only data): the MANO global orientation `hand_root_pose`, masked by `hand_root_valid`.
The prediction is either the hand token's root rotation (`hand_root`) or the predicted body pose composed to
each wrist with the pelvis rotation detached (`hand_root_chain`, as the original). Both hands are summed, then
averaged over N x 9. Deviations from the original, on purpose: (1) it multiplies an (N, 9) loss by an (N, 1, 1)
pelvis flag, which broadcasts to (N, N, 9) and mixes samples; we mask each sample by its own flag, which is what
the code means and equals the original whenever a batch is all full-body or all hand-only; (2) it takes the
MANO-term validity from the hand's pose validity even when no MANO orientation exists (the target then
defaults to the identity); we require the explicit `hand_root_valid`.

Example (a tiny model with an attached body model; see `SmplestXLabels` for what each key holds):

```python
>>> import torch
>>> from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
>>> from smplest_hf.models.smplest_x.losses import LABEL_SHAPES
>>> model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny"))
>>> model = model.attach_body_model("human_model_files")  # the folder holding smplx/SMPLX_NEUTRAL.npz
>>> labels = {name: torch.zeros(2, *shape) for name, shape in LABEL_SHAPES.items()}  # all invalid
>>> outputs = model(torch.rand(2, 3, 256, 192), labels=labels)
>>> outputs.loss.backward(); sorted(outputs.loss_terms)[:3]
['betas', 'expression', 'global_orient']
```
"""

from collections.abc import Mapping
from typing import TypedDict

import torch
from torch import nn

from .configuration_smplest_x import SmplestXConfig
from .geometry import axis_angle_to_matrix
from .smplx_layout import (
    NUM_BETAS,
    NUM_EXPRESSION_COEFFS,
    NUM_POSE_JOINTS,
    NUM_SUPERVISION_JOINTS,
    POSE_JOINT_PARTS,
    POSE_JOINT_SMPLX_INDICES,
    SMPLX_BODY_PARENTS,
    SUPERVISION_JOINT_PARTS,
    SUPERVISION_LEFT_WRIST_INDEX,
    SUPERVISION_NECK_INDEX,
    SUPERVISION_RIGHT_WRIST_INDEX,
    SUPERVISION_ROOT_INDEX,
    WRIST_CHAINS,
)


# ------------------------------------------------------------------------------------------- the contract
class SmplestXLabels(TypedDict):
    r"""
    Training targets for a batch of N person crops: a dict of tensors, every key required (use zeros and a 0
    validity where a sample has no annotation). Masks may be bool, int or float (0/1). Floats are compared in
    float32; NaN targets are replaced by 0 (as the original's loader does), so mark them invalid.

    Frames: everything is in the *augmented crop* — after the flip, in-plane rotation and scale applied to the
    image by the training transform — and in the crop camera the model predicts in (OpenCV axes: x right,
    y down, z forward; focal `config.focal_length`, principal point `config.principal_point`, in body-input
    pixels). A flip swaps left and right joints and rotations and negates the y and z axis-angle components.

    Keys (shapes without the leading N; see `LABEL_SHAPES`):
        pose (`(53, 3)`): axis-angle rotations, radians, in `smplx_layout.POSE_JOINT_NAMES` order: root (global
            orientation in the crop camera), 21 body joints, 15 left-hand, 15 right-hand joints (SMPL-X finger
            order, *relative to the SMPL-X mean hand pose*, i.e. `flat_hand_mean=False` as the model predicts;
            data stored with a flat mean must have the mean subtracted), jaw.
        pose_valid (`(53,)`): 1 where the joint's rotation is annotated (the original's `smplx_pose_valid`,
            per joint instead of tiled x 9).
        betas (`(10,)`), betas_valid (`()`): SMPL-X shape coefficients and whether they are annotated.
        expression (`(10,)`), expression_valid (`()`): SMPL-X expression coefficients and validity.
        joints_3d (`(137, 3)`): the 137 supervision joints (`smplx_layout.SUPERVISION_JOINT_NAMES`), metres,
            crop-camera axes, pelvis-relative (the original's `joint_cam`). The part-relative targets (hands
            relative to the wrists, face relative to the neck) are derived from it by the loss.
        keypoints_2d (`(137, 2)`): the same joints in body-input pixels (x in [0, 192), y in [0, 256) for the
            default 256x192 input) — the frame of the model's `keypoints_2d` output.
        joints_valid (`(137,)`): 1 where the joint is annotated *and* inside the crop (the original's
            `joint_trunc`); `joints_inside_body_input` gives the "inside" part. It masks every joint term, and its
            pelvis entry marks full-body samples for the hand-root terms.
        has_3d_joints (`()`): 1 where `joints_3d` holds real 3D annotations (the original's `is_3D`).
        hand_root_pose (`(2, 3)`): left, right MANO global hand orientations (axis-angle, crop camera), for
            hand-only data (the original's `lhand_root` / `rhand_root`).
        hand_root_valid (`(2,)`): 1 where `hand_root_pose` holds an annotation; set it to the hand's pose
            validity (the original uses `pose_valid` of the first thumb joint). Used only where the pelvis is
            not a valid joint.
    """

    pose: torch.Tensor
    pose_valid: torch.Tensor
    betas: torch.Tensor
    betas_valid: torch.Tensor
    expression: torch.Tensor
    expression_valid: torch.Tensor
    joints_3d: torch.Tensor
    keypoints_2d: torch.Tensor
    joints_valid: torch.Tensor
    has_3d_joints: torch.Tensor
    hand_root_pose: torch.Tensor
    hand_root_valid: torch.Tensor


LABEL_SHAPES = {
    "pose": (NUM_POSE_JOINTS, 3),
    "pose_valid": (NUM_POSE_JOINTS,),
    "betas": (NUM_BETAS,),
    "betas_valid": (),
    "expression": (NUM_EXPRESSION_COEFFS,),
    "expression_valid": (),
    "joints_3d": (NUM_SUPERVISION_JOINTS, 3),
    "keypoints_2d": (NUM_SUPERVISION_JOINTS, 2),
    "joints_valid": (NUM_SUPERVISION_JOINTS,),
    "has_3d_joints": (),
    "hand_root_pose": (2, 3),
    "hand_root_valid": (2,),
}
"""Per-sample shape of every `SmplestXLabels` key (a batch adds a leading N)."""

assert set(LABEL_SHAPES) == set(SmplestXLabels.__annotations__)


def joints_inside_body_input(keypoints_2d, input_body_size=(256, 192)):
    """(..., K, 2) body-input pixels -> (..., K) bool: the joint lies on the crop the model sees.

    Works on numpy arrays and torch tensors. `joints_valid` = annotated AND inside. (The original intends this
    test but compares heatmap-grid coordinates against pixel bounds, so it only rejects negative coordinates.)

    >>> joints_inside_body_input(torch.tensor([[10.0, 20.0], [192.0, 5.0], [-0.5, 3.0]]))
    tensor([ True, False, False])
    """
    height, width = input_body_size
    x, y = keypoints_2d[..., 0], keypoints_2d[..., 1]
    return (x >= 0) & (x < width) & (y >= 0) & (y < height)


def check_labels(labels: Mapping, batch_size: int, device: torch.device) -> dict:
    """Validate `labels` against `SmplestXLabels` and return them as float32 tensors on `device`.

    Raises TypeError / ValueError naming the key, what it holds and what is expected.
    """
    if not isinstance(labels, Mapping):
        raise TypeError(
            f"`labels` must be a dict of tensors (see smplest_hf.models.smplest_x.losses.SmplestXLabels), got {type(labels).__name__}."
        )
    missing = [name for name in LABEL_SHAPES if name not in labels]
    unknown = sorted(set(labels) - set(LABEL_SHAPES))
    if missing or unknown:
        raise ValueError(
            f"`labels` do not match smplest_hf.models.smplest_x.losses.SmplestXLabels: missing {missing}, unknown {unknown}. "
            f"Expected exactly the keys {list(LABEL_SHAPES)} (zeros with a 0 validity where not annotated)."
        )
    checked = {}
    for name, shape in LABEL_SHAPES.items():
        value = labels[name]
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"labels[{name!r}] must be a torch.Tensor, got {type(value).__name__}.")
        expected = (batch_size, *shape)
        if tuple(value.shape) != expected:
            raise ValueError(
                f"labels[{name!r}] has shape {tuple(value.shape)}, expected {expected} (N = {batch_size} crops)."
            )
        if value.is_complex():
            raise TypeError(f"labels[{name!r}] must be real-valued, got {value.dtype}.")
        checked[name] = torch.nan_to_num(value.to(device=device, dtype=torch.float32, non_blocking=True), nan=0.0)
    return checked


# ------------------------------------------------------------------------------------- kinematic chain
assert len(WRIST_CHAINS[0]) == len(WRIST_CHAINS[1])  # both wrists sit 7 joints below the pelvis: one tensor


def wrist_global_rotations(body_rotations: torch.Tensor, detach_root: bool = False) -> torch.Tensor:
    """Global (camera-frame) rotations of the two wrists by composing local rotations down the kinematic chain.

    Batched: one matrix product per chain level for all samples and both wrists at once.

    Args:
        body_rotations: (N, 22, 3, 3) local rotation matrices of pelvis + 21 body joints (SMPL-X order); the
            pelvis entry is the global orientation.
        detach_root: stop gradients through the pelvis rotation (the original does, for predictions).

    Returns:
        (N, 2, 3, 3): left wrist, right wrist — R_pelvis @ R_spine1 @ ... @ R_wrist.

    >>> wrist_global_rotations(torch.eye(3).expand(1, 22, 3, 3)).shape
    torch.Size([1, 2, 3, 3])
    """
    if body_rotations.shape[-3:] != (len(SMPLX_BODY_PARENTS), 3, 3):
        raise ValueError(f"body_rotations must have shape (N, 22, 3, 3), got {tuple(body_rotations.shape)}.")
    chains = body_rotations[:, WRIST_CHAINS]  # (N, 2, depth, 3, 3)
    global_rotation = chains[:, :, 0].detach() if detach_root else chains[:, :, 0]
    for level in range(1, chains.shape[2]):
        global_rotation = global_rotation @ chains[:, :, level]
    return global_rotation


# ------------------------------------------------------------------------------------------ joint frames
def _part_anchor_indices() -> list:
    """For each supervision joint, the joint it is made relative to: wrists for hands, neck for face, else pelvis."""
    anchors = [SUPERVISION_ROOT_INDEX] * NUM_SUPERVISION_JOINTS
    part_anchors = {
        "lhand": SUPERVISION_LEFT_WRIST_INDEX, "rhand": SUPERVISION_RIGHT_WRIST_INDEX, "face": SUPERVISION_NECK_INDEX
    }
    for part, anchor in part_anchors.items():
        for index in SUPERVISION_JOINT_PARTS[part]:
            anchors[index] = anchor
    return anchors


_PART_ANCHORS = _part_anchor_indices()
_HAND_JOINTS = SUPERVISION_JOINT_PARTS["hand"]  # both hands, contiguous: a slice, not a gather
_HAND_JOINT_SLICE = slice(_HAND_JOINTS.start, _HAND_JOINTS.stop)


def root_relative_joints(joints: torch.Tensor) -> torch.Tensor:
    """(N, 137, 3) -> (N, 137, 3) minus the pelvis."""
    return joints - joints[:, SUPERVISION_ROOT_INDEX : SUPERVISION_ROOT_INDEX + 1]


def part_relative_joints(joints: torch.Tensor) -> torch.Tensor:
    """(N, 137, 3) -> (N, 137, 3): body minus pelvis, each hand minus its wrist, face minus neck (the original's
    "ra" alignment; any global translation cancels)."""
    return joints - joints[:, _PART_ANCHORS]


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean(|prediction - target| * mask) over all elements of the difference; `mask` broadcasts to it."""
    return (torch.abs(prediction - target) * mask).mean()


# ----------------------------------------------------------------------------------------------- the loss
_NUM_BODY_CHAIN_JOINTS = len(SMPLX_BODY_PARENTS)
# The first 22 pose joints are the 22 SMPL-X body joints in the same order, so chain indices address `pose` too.
assert POSE_JOINT_PARTS["body"] == range(0, _NUM_BODY_CHAIN_JOINTS)
assert POSE_JOINT_SMPLX_INDICES[:_NUM_BODY_CHAIN_JOINTS].tolist() == list(range(_NUM_BODY_CHAIN_JOINTS))

# The original measures 2D error in cells of its output "heatmap" grid (16 x 12 over the body input, i.e.
# 16-pixel cells for 256x192), which is what its 2D weight of 1.0 is tuned to.
KEYPOINT_GRID_SIZE = (16, 12)


class SmplestXLoss(nn.Module):
    """The SMPLest-X objective (see the module docstring for the terms). Holds no parameters.

    `forward(outputs, labels)` takes a `SmplestXMeshRecoveryOutput` with `joints` and `keypoints_2d` (a body
    model attached) and `SmplestXLabels`; returns `(loss, terms)`: a scalar and a dict of the detached,
    weighted terms that sum to it. Terms weighted 0 are not computed and not in `terms`.

    >>> loss_function = SmplestXLoss(SmplestXConfig.from_preset("tiny"))
    >>> loss, terms = loss_function(outputs, labels)  # doctest: +SKIP
    """

    def __init__(self, config: SmplestXConfig):
        super().__init__()
        self.weights = dict(config.loss_weights)
        grid_height, grid_width = KEYPOINT_GRID_SIZE
        body_height, body_width = config.input_body_size
        self.keypoint_scale = (grid_width / body_width, grid_height / body_height)

    def forward(self, outputs, labels: Mapping) -> tuple[torch.Tensor, dict]:
        if outputs.joints is None or outputs.keypoints_2d is None:
            raise ValueError(
                "The training loss needs the model's `joints` and `keypoints_2d`, which exist only with an SMPL-X "
                "body model attached: `model.attach_body_model(DIR)` or `from_pretrained(..., body_model_dir=DIR)`."
            )
        batch_size = outputs.global_orient.shape[0]
        target = check_labels(labels, batch_size, outputs.joints.device)
        weights = self.weights
        terms = {}

        # --- parameters: rotation matrices of all 53 posed joints, shape and expression coefficients
        # Every axis-angle of the loss goes through one conversion: a few large kernels instead of many tiny ones.
        axis_angles = torch.cat(
            (
                outputs.global_orient[:, None].float(),
                outputs.body_pose.float(),
                outputs.left_hand_pose.float(),
                outputs.right_hand_pose.float(),
                outputs.jaw_pose[:, None].float(),
                outputs.left_hand_root_pose[:, None].float(),
                outputs.right_hand_root_pose[:, None].float(),
                target["pose"],
                target["hand_root_pose"],
            ),
            dim=1,
        )
        rotations = axis_angle_to_matrix(axis_angles).split((NUM_POSE_JOINTS, 2, NUM_POSE_JOINTS, 2), dim=1)
        predicted_rotations, hand_token_rotations, target_rotations, mano_rotations = rotations
        pose_mask = target["pose_valid"][:, :, None, None]
        if weights["pose"]:
            terms["pose"] = weights["pose"] * masked_l1(predicted_rotations, target_rotations, pose_mask)
        if weights["global_orient"]:
            terms["global_orient"] = weights["global_orient"] * masked_l1(
                predicted_rotations[:, 0], target_rotations[:, 0], pose_mask[:, 0]
            )
        for name in ("betas", "expression"):
            if weights[name]:
                prediction = getattr(outputs, name).float()
                terms[name] = weights[name] * masked_l1(prediction, target[name], target[f"{name}_valid"][:, None])

        # --- joints: 3D (pelvis-relative and part-relative) and 2D
        joints_valid = target["joints_valid"]
        pelvis_valid = joints_valid[:, SUPERVISION_ROOT_INDEX]
        has_3d = target["has_3d_joints"][:, None]
        root_relative_mask = (joints_valid * has_3d * pelvis_valid[:, None])[..., None]
        part_relative_mask = (joints_valid * has_3d)[..., None]
        predicted_joints = outputs.joints.float()
        if weights["joints_3d"] or weights["hand_joints_3d"]:
            predicted = root_relative_joints(predicted_joints)
            reference = root_relative_joints(target["joints_3d"])
            for name, joints in (("joints_3d", slice(None)), ("hand_joints_3d", _HAND_JOINT_SLICE)):
                if weights[name]:
                    terms[name] = weights[name] * masked_l1(
                        predicted[:, joints], reference[:, joints], root_relative_mask[:, joints]
                    )
        if weights["joints_3d_part_relative"] or weights["hand_joints_3d_part_relative"]:
            predicted = part_relative_joints(predicted_joints)
            reference = part_relative_joints(target["joints_3d"])
            selections = (("joints_3d_part_relative", slice(None)), ("hand_joints_3d_part_relative", _HAND_JOINT_SLICE))
            for name, joints in selections:
                if weights[name]:
                    terms[name] = weights[name] * masked_l1(
                        predicted[:, joints], reference[:, joints], part_relative_mask[:, joints]
                    )
        if weights["keypoints_2d"]:
            scale = predicted_joints.new_tensor(self.keypoint_scale)
            terms["keypoints_2d"] = weights["keypoints_2d"] * masked_l1(
                outputs.keypoints_2d.float() * scale, target["keypoints_2d"] * scale, joints_valid[..., None]
            )

        # --- wrist orientations: hand tokens and predicted body chain vs. body-chain or MANO ground truth
        if weights["hand_root"] or weights["hand_root_chain"]:
            chain_pose_valid = target["pose_valid"][:, WRIST_CHAINS].prod(dim=2)  # (N, 2)
            full_body_mask = (chain_pose_valid * pelvis_valid[:, None])[..., None, None]
            hand_only_mask = (target["hand_root_valid"] * (1.0 - pelvis_valid[:, None]))[..., None, None]
            chain_target = wrist_global_rotations(target_rotations[:, :_NUM_BODY_CHAIN_JOINTS])
            predicted_chain = wrist_global_rotations(predicted_rotations[:, :_NUM_BODY_CHAIN_JOINTS], detach_root=True)
            predictions = {"hand_root": hand_token_rotations, "hand_root_chain": predicted_chain}
            for name, prediction in predictions.items():
                if weights[name]:
                    per_element = (
                        torch.abs(chain_target - prediction) * full_body_mask
                        + torch.abs(mano_rotations - prediction) * hand_only_mask
                    )
                    # Left + right summed, averaged over N x 9 like the original's (N, 9) sum of two hands.
                    terms[name] = weights[name] * per_element.sum(dim=1).mean()

        if not terms:
            raise ValueError("Every loss weight is 0 (config.loss_weights); nothing to train on.")
        loss = torch.stack(list(terms.values())).sum()
        return loss, {name: value.detach() for name, value in terms.items()}


__all__ = [
    "KEYPOINT_GRID_SIZE",
    "LABEL_SHAPES",
    "SmplestXLabels",
    "SmplestXLoss",
    "check_labels",
    "joints_inside_body_input",
    "masked_l1",
    "part_relative_joints",
    "root_relative_joints",
    "wrist_global_rotations",
]

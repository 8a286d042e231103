"""EHPS rows -> the training targets of `smplest_hf.models.smplest_x.losses.SmplestXLabels`, in the augmented crop frame.

Vectorised over the batch: every step is an array operation on (N, ...) arrays; left/right swaps are fixed
permutations (``flip.py``). Facts reproduced from the original SMPLest-X loader (``datasets/humandata.py``,
``utils/data_utils.py``):

* **2D keypoints** are mapped by the same affine map as the pixels (flip included), then left/right swapped.
* **3D joints** are made pelvis-relative, mirrored (``x -> -x``) and swapped when flipped, then turned about
  the camera's optical axis by the augmentation rotation, ``R_z(-rotation)``, which is how the image content
  turns in the crop; the root orientation is composed with the same rotation (``R_z(-rotation) @ R_root``),
  after the flip mirrored every rotation (``flip.mirror_pose``).
* **Hand poses** are targets relative to the SMPL-X mean hand pose (the model's ``flat_hand_mean=False``);
  rows stored relative to the flat hand (``smplx_flat_hand_mean``) get the mean subtracted, as the original
  does for its flat-hand datasets.
* **Shape**: ``smplx_betas_neutral`` (refitted to the neutral model) when present, else ``smplx_betas`` as they
  are, whatever the row's gender (as the original), first 10; a vector with any ``|beta| > 3`` is reset to the
  mean shape and its shape supervision switched off (the original resets it; its "all zero means missing" test
  is replaced by our explicit ``smplx_betas_valid``).
* **Hand keypoints follow the hand fit**: for rows with an SMPL-X body whose hand pose is not annotated, that
  hand's 20 keypoints and its wrist are not supervised (the original's loader does this for every row; its
  hand keypoints come from the fits). Rows without any SMPL-X body keep their hand keypoints.

Decisions beyond the original (its loader cannot express them, the EHPS schema can):

* A joint is *annotated* when its 2D confidence is > 0 and, for rows with 3D joints, its 3D validity is > 0
  (one mask, ``joints_valid``, serves the 2D and 3D terms). ``joints_valid`` = annotated and inside the
  body input (``smplest_hf.models.smplest_x.losses.joints_inside_body_input``).
* Rows without 2D keypoints but with 3D keypoints and camera intrinsics get their 2D keypoints by projecting
  the 3D ones (``keypoints_3d`` are read as camera-frame points, as HumanData's ``keypoints3d_cam``).
* ``has_3d_joints`` needs the pelvis to be a valid 3D joint (everything is relative to it).
* ``hand_root_pose`` holds the wrists' global orientations composed along the (augmented) body chain, valid
  where the whole chain is: the schema carries no separate MANO orientation, and this is exactly the target
  the loss's kinematic-chain branch uses, so the hand-only branch agrees with it for truncated full bodies.
* Camera extrinsics are not applied: SMPL-X parameters and 3D keypoints are taken as given in the camera
  frame (the original's HumanData path does the same).
"""

from dataclasses import dataclass

import numpy as np
import torch

from smplest_hf.models.smplest_x.cropping import apply_affine
from smplest_hf.models.smplest_x.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from smplest_hf.models.smplest_x.losses import joints_inside_body_input, wrist_global_rotations
from smplest_hf.models.smplest_x.smplx_layout import (
    NUM_BETAS,
    NUM_BODY_POSE_JOINTS,
    NUM_EXPRESSION_COEFFS,
    NUM_HAND_POSE_JOINTS,
    POSE_JOINT_PARTS,
    SMPLX_BODY_PARENTS,
    SUPERVISION_JOINT_PARTS,
    SUPERVISION_LEFT_WRIST_INDEX,
    SUPERVISION_RIGHT_WRIST_INDEX,
    SUPERVISION_ROOT_INDEX,
    WRIST_CHAINS,
)

from .flip import POSE_FLIP_PERMUTATION, SUPERVISION_FLIP_PERMUTATION, mirror_points, mirror_pose, swap_sides
from .schema import NUM_KEYPOINTS, to_supervision_keypoints


BETA_RESET_THRESHOLD = 3.0  # the original resets shapes with any |beta| above this to the mean shape

_BODY_CHAIN_JOINTS = len(SMPLX_BODY_PARENTS)  # pelvis + 21: the first 22 posed joints
_LEFT_HAND_KEYPOINTS = np.array([*SUPERVISION_JOINT_PARTS["lhand"], SUPERVISION_LEFT_WRIST_INDEX])
_RIGHT_HAND_KEYPOINTS = np.array([*SUPERVISION_JOINT_PARTS["rhand"], SUPERVISION_RIGHT_WRIST_INDEX])


@dataclass
class LabelColumns:
    """The EHPS columns the labels are made of, as (N, ...) arrays (see ``hub_datasets.schema`` for meanings).

    Build with `LabelColumns.from_batch`; float arrays are float64, flags bool.
    """

    sample_id: list
    keypoints_2d: np.ndarray  # (N, 144, 3)
    keypoints_2d_valid: np.ndarray  # (N,)
    keypoints_3d: np.ndarray  # (N, 144, 4)
    keypoints_3d_valid: np.ndarray  # (N,)
    camera_intrinsics_valid: np.ndarray  # (N,)
    focal_length: np.ndarray  # (N, 2)
    principal_point: np.ndarray  # (N, 2)
    global_orient: np.ndarray  # (N, 3)
    body_pose: np.ndarray  # (N, 21, 3)
    left_hand_pose: np.ndarray  # (N, 15, 3)
    right_hand_pose: np.ndarray  # (N, 15, 3)
    jaw_pose: np.ndarray  # (N, 3)
    flat_hand_mean: np.ndarray  # (N,)
    body_valid: np.ndarray  # (N,)
    left_hand_valid: np.ndarray  # (N,)
    right_hand_valid: np.ndarray  # (N,)
    face_valid: np.ndarray  # (N,)
    betas: np.ndarray  # (N, 10), zero-padded
    betas_annotated: np.ndarray  # (N,)
    expression: np.ndarray  # (N, 10), zero-padded
    expression_annotated: np.ndarray  # (N,)

    @classmethod
    def from_batch(cls, batch: dict) -> "LabelColumns":
        """Read a batch of EHPS rows (dict of columns: lists or arrays). Raises ValueError naming a malformed column."""
        count = len(batch["sample_id"])

        def fixed(name, shape, dtype=np.float64):
            try:
                array = np.asarray(batch[name] if not _is_object_array(batch[name]) else list(batch[name]), dtype=dtype)
            except (TypeError, ValueError) as error:
                raise ValueError(f"EHPS column {name!r} cannot be read as {shape} {np.dtype(dtype)} per row: {error}") from None
            if array.shape != (count, *shape):
                raise ValueError(
                    f"EHPS column {name!r} has shape {array.shape} for {count} rows, expected {(count, *shape)} "
                    "(see hub_datasets.schema.EHPS_FEATURES)."
                )
            return array

        def padded(name, length):
            values, lengths = np.zeros((count, length)), np.zeros(count, dtype=np.int64)
            for row, value in enumerate(batch[name]):
                value = np.asarray(value if value is not None else [], dtype=np.float64).reshape(-1)
                lengths[row] = len(value)
                values[row, : min(length, len(value))] = value[:length]
            return values, lengths

        betas, num_betas = padded("smplx_betas", NUM_BETAS)
        betas_neutral, num_betas_neutral = padded("smplx_betas_neutral", NUM_BETAS)
        expression, num_expression = padded("smplx_expression", NUM_EXPRESSION_COEFFS)
        use_neutral = num_betas_neutral > 0
        return cls(
            sample_id=[str(value) for value in batch["sample_id"]],
            keypoints_2d=fixed("keypoints_2d", (NUM_KEYPOINTS, 3)),
            keypoints_2d_valid=fixed("keypoints_2d_valid", (), bool),
            keypoints_3d=fixed("keypoints_3d", (NUM_KEYPOINTS, 4)),
            keypoints_3d_valid=fixed("keypoints_3d_valid", (), bool),
            camera_intrinsics_valid=fixed("camera_intrinsics_valid", (), bool),
            focal_length=fixed("focal_length", (2,)),
            principal_point=fixed("principal_point", (2,)),
            global_orient=fixed("smplx_global_orient", (3,)),
            body_pose=fixed("smplx_body_pose", (NUM_BODY_POSE_JOINTS, 3)),
            left_hand_pose=fixed("smplx_left_hand_pose", (NUM_HAND_POSE_JOINTS, 3)),
            right_hand_pose=fixed("smplx_right_hand_pose", (NUM_HAND_POSE_JOINTS, 3)),
            jaw_pose=fixed("smplx_jaw_pose", (3,)),
            flat_hand_mean=fixed("smplx_flat_hand_mean", (), bool),
            body_valid=fixed("smplx_body_valid", (), bool),
            left_hand_valid=fixed("smplx_lhand_valid", (), bool),
            right_hand_valid=fixed("smplx_rhand_valid", (), bool),
            face_valid=fixed("smplx_face_valid", (), bool),
            betas=np.where(use_neutral[:, None], betas_neutral, betas),
            betas_annotated=use_neutral | (fixed("smplx_betas_valid", (), bool) & (num_betas > 0)),
            expression=expression,
            expression_annotated=num_expression > 0,
        )


def _is_object_array(value) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == object


def rotation_about_optical_axis(rotation_degrees: np.ndarray) -> np.ndarray:
    """(N,) augmentation rotations -> (N, 3, 3) ``R_z(-rotation)``: how camera-frame points turn with the crop.

    The crop shows the image content turned by ``-rotation`` about the crop centre (the crop camera's
    principal point), so 3D points turn by the same angle about the optical axis.
    """
    angle = -np.deg2rad(np.asarray(rotation_degrees, dtype=np.float64))
    cos, sin = np.cos(angle), np.sin(angle)
    matrices = np.zeros((len(angle), 3, 3))
    matrices[:, 0, 0], matrices[:, 0, 1] = cos, -sin
    matrices[:, 1, 0], matrices[:, 1, 1] = sin, cos
    matrices[:, 2, 2] = 1.0
    return matrices


def _keypoints(columns: LabelColumns, body_matrices: np.ndarray, flip: np.ndarray, input_body_size) -> dict:
    """2D keypoints (body-input pixels), pelvis-relative 3D joints (before rotation) and validity masks."""
    keypoints_2d = to_supervision_keypoints(columns.keypoints_2d)  # (N, 137, 3)
    keypoints_3d = to_supervision_keypoints(columns.keypoints_3d)  # (N, 137, 4)
    points = keypoints_3d[..., :3]
    valid_3d = (keypoints_3d[..., 3] > 0) & columns.keypoints_3d_valid[:, None]
    has_3d = valid_3d[:, SUPERVISION_ROOT_INDEX]

    image_points = keypoints_2d[..., :2]
    valid_2d = (keypoints_2d[..., 2] > 0) & columns.keypoints_2d_valid[:, None]
    project = ~columns.keypoints_2d_valid & columns.keypoints_3d_valid & columns.camera_intrinsics_valid
    if project.any():
        depth = points[..., 2]
        in_front = depth > 0
        projected = points[..., :2] / np.where(in_front, depth, 1.0)[..., None]
        projected = projected * columns.focal_length[:, None] + columns.principal_point[:, None]
        image_points = np.where(project[:, None, None], projected, image_points)
        valid_2d = np.where(project[:, None], valid_3d & in_front, valid_2d)

    annotated = valid_2d & (valid_3d | ~has_3d[:, None])
    hands = ((_LEFT_HAND_KEYPOINTS, columns.left_hand_valid), (_RIGHT_HAND_KEYPOINTS, columns.right_hand_valid))
    for hand_keypoints, hand_valid in hands:
        annotated[:, hand_keypoints] &= ~(columns.body_valid & ~hand_valid)[:, None]

    crop_points = apply_affine(body_matrices, image_points)  # the flip is part of the map
    joints = np.where(has_3d[:, None, None], points - points[:, SUPERVISION_ROOT_INDEX : SUPERVISION_ROOT_INDEX + 1], 0.0)
    crop_points = swap_sides(crop_points, flip, SUPERVISION_FLIP_PERMUTATION)
    annotated = swap_sides(annotated, flip, SUPERVISION_FLIP_PERMUTATION)
    joints = mirror_points(joints, flip)
    return {
        "keypoints_2d": crop_points,
        "joints_3d": joints,
        "joints_valid": annotated & joints_inside_body_input(crop_points, input_body_size),
        "has_3d_joints": has_3d,
    }


def _pose(columns: LabelColumns, flip: np.ndarray, rotation: np.ndarray, hand_pose_mean) -> dict:
    """Mean-relative pose (53, 3) in the augmented crop camera, its validity and the wrists' global orientations."""
    hands = np.stack((columns.left_hand_pose, columns.right_hand_pose), axis=1)  # (N, 2, 15, 3)
    if columns.flat_hand_mean.any():
        if hand_pose_mean is None:
            first = columns.sample_id[int(np.flatnonzero(columns.flat_hand_mean)[0])]
            raise ValueError(
                f"Sample {first!r} stores hand poses relative to the flat hand (smplx_flat_hand_mean), but SMPLest-X "
                "targets are relative to the SMPL-X mean hand pose and no mean is known: pass body_model_dir= (the "
                "folder holding smplx/SMPLX_NEUTRAL.npz) or hand_pose_mean= (2, 15, 3) to the transform."
            )
        hands = hands - np.where(columns.flat_hand_mean[:, None, None, None], hand_pose_mean, 0.0)
    pose = np.concatenate(
        (columns.global_orient[:, None], columns.body_pose, hands[:, 0], hands[:, 1], columns.jaw_pose[:, None]), axis=1
    )
    count = len(pose)
    part_valid = {
        "body": columns.body_valid,
        "lhand": columns.left_hand_valid,
        "rhand": columns.right_hand_valid,
        "face": columns.face_valid,
    }
    pose_valid = np.zeros((count, pose.shape[1]), dtype=bool)
    for part, joints in POSE_JOINT_PARTS.items():
        pose_valid[:, joints.start : joints.stop] = part_valid[part][:, None]

    pose = mirror_pose(pose, flip)
    pose_valid = swap_sides(pose_valid, flip, POSE_FLIP_PERMUTATION)
    rotated = np.flatnonzero(rotation != 0)
    if len(rotated):  # rows without rotation keep their root exactly (no round trip through matrices)
        root = axis_angle_to_matrix(torch.from_numpy(pose[rotated, 0]))
        augmentation = torch.from_numpy(rotation_about_optical_axis(rotation[rotated]))
        pose[rotated, 0] = matrix_to_axis_angle(augmentation @ root).numpy()

    # Wrist orientations along the augmented chain (after flip and rotation: the crop camera's frame).
    chain_rotations = axis_angle_to_matrix(torch.from_numpy(pose[:, :_BODY_CHAIN_JOINTS]))
    hand_root_pose = matrix_to_axis_angle(wrist_global_rotations(chain_rotations)).numpy()
    # Whose pose validity gates each wrist's global orientation target: every joint on its chain.
    hand_root_valid = np.stack([pose_valid[:, chain].all(axis=1) for chain in WRIST_CHAINS], axis=1)
    hand_root_pose = np.where(hand_root_valid[..., None], hand_root_pose, 0.0)
    return {"pose": pose, "pose_valid": pose_valid, "hand_root_pose": hand_root_pose, "hand_root_valid": hand_root_valid}


def build_labels(columns: LabelColumns, body_matrices, flip, rotation, hand_pose_mean=None, input_body_size=(256, 192)) -> dict:
    """Every `SmplestXLabels` key as a float32 (N, ...) array.

    Args:
        columns: the batch's EHPS columns.
        body_matrices: (N, 2, 3) image -> body-input pixel maps (augmentation included, from
            ``crop_affine_matrices(boxes, input_body_size, rotation, flip, scale)``).
        flip: (N,) bool; rotation: (N,) degrees — the same values the maps were built with.
        hand_pose_mean: (2, 15, 3) left/right SMPL-X mean hand pose, needed only for flat-hand rows.
        input_body_size: ``(height, width)`` of the model input.
    """
    flip = np.asarray(flip, dtype=bool)
    rotation = np.asarray(rotation, dtype=np.float64)
    keypoints = _keypoints(columns, np.asarray(body_matrices, dtype=np.float64), flip, input_body_size)
    augmentation = rotation_about_optical_axis(rotation)
    keypoints["joints_3d"] = np.einsum("nij,nkj->nki", augmentation, keypoints["joints_3d"])
    pose = _pose(columns, flip, rotation, hand_pose_mean)

    betas = columns.betas
    reset = np.abs(betas).max(axis=1) > BETA_RESET_THRESHOLD
    labels = {
        **pose,
        "betas": np.where(reset[:, None], 0.0, betas),
        "betas_valid": columns.betas_annotated & ~reset,
        "expression": columns.expression,
        "expression_valid": columns.face_valid & columns.expression_annotated,
        **keypoints,
    }
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in labels.items()}


__all__ = ["BETA_RESET_THRESHOLD", "LabelColumns", "build_labels", "rotation_about_optical_axis"]

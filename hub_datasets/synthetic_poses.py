"""Random but plausible SMPL-X parameters for the synthetic EHPS dataset: poses within joint limits, shapes, faces.

Every rotation is an axis-angle vector in SMPL-X's rest frame: metres, y up, the person faces +z, their left is
+x, T-pose with the palms down. In that frame (derived from the rest pose, and the same for any SMPL-X file):

* a knee bends with a *positive* x rotation (the shin swings backwards), a hip flexes (thigh forwards) with a
  negative x rotation and abducts (leg out to the side) with +z on the left;
* the spine bends forwards with +x;
* the left elbow bends (forearm forwards) with a *negative* y rotation, the left arm comes down along the body
  with a negative z rotation at the shoulder and swings forwards with negative y;
* left fingers curl towards the palm with a negative z rotation; the jaw opens with +x.

Right-side joints are the mirror image through the x = 0 plane, which maps an axis-angle ``(x, y, z)`` to
``(x, -y, -z)``: only left and mid-line joints are written down below.

Each component is drawn from a triangular distribution ``(low, mode, high)`` and then pulled towards the mode
by a per-person "activity" in [0.35, 1], so a batch mixes calm, near-standing people with energetic poses.
Hand poses are drawn as absolute finger curls (relative to the flat hand) and returned that way; the
generator subtracts the body model's mean hand pose before storing them (SMPL-X's ``flat_hand_mean=False``).

Example::

    >>> import numpy as np
    >>> people = sample_people(np.random.default_rng(0), 2)
    >>> people["body_pose"].shape, people["left_hand_pose_flat"].shape, people["betas"].shape
    ((2, 21, 3), (2, 15, 3), (2, 10))
    >>> bool((people["body_pose"][:, BODY_POSE_INDEX["left_knee"], 0] >= 0).all())
    True
"""

from types import MappingProxyType

import numpy as np

from smplest_hf.models.smplest_x.smplx_layout import (
    GENDERS,
    NUM_BETAS,
    NUM_BODY_POSE_JOINTS,
    NUM_EXPRESSION_COEFFS,
    NUM_HAND_POSE_JOINTS,
    SMPLX_JOINT_NAMES,
)


BODY_POSE_INDEX = MappingProxyType({name: i for i, name in enumerate(SMPLX_JOINT_NAMES[1 : 1 + NUM_BODY_POSE_JOINTS])})
"""Body-pose joint name -> row of ``body_pose`` (SMPL-X joint order without the pelvis)."""

# Left and mid-line joint -> per-axis (low, mode, high) in radians, SMPL-X rest frame (see the module docstring).
_BODY_JOINT_RANGES = {
    "left_hip": ((-1.6, -0.15, 0.45), (-0.45, 0.0, 0.45), (-0.2, 0.05, 0.75)),
    "spine1": ((-0.15, 0.05, 0.4), (-0.25, 0.0, 0.25), (-0.15, 0.0, 0.15)),
    "left_knee": ((0.0, 0.1, 2.1), (-0.05, 0.0, 0.05), (-0.05, 0.0, 0.05)),
    "spine2": ((-0.15, 0.03, 0.3), (-0.25, 0.0, 0.25), (-0.12, 0.0, 0.12)),
    "left_ankle": ((-0.35, 0.05, 0.5), (-0.25, 0.0, 0.25), (-0.2, 0.0, 0.2)),
    "spine3": ((-0.12, 0.02, 0.25), (-0.2, 0.0, 0.2), (-0.1, 0.0, 0.1)),
    "left_foot": ((-0.3, 0.0, 0.3), (-0.05, 0.0, 0.05), (-0.05, 0.0, 0.05)),
    "neck": ((-0.3, 0.05, 0.4), (-0.45, 0.0, 0.45), (-0.25, 0.0, 0.25)),
    "left_collar": ((-0.1, 0.0, 0.1), (-0.15, 0.0, 0.15), (-0.15, 0.0, 0.25)),
    "head": ((-0.3, 0.05, 0.4), (-0.45, 0.0, 0.45), (-0.25, 0.0, 0.25)),
    "left_shoulder": ((-0.8, 0.0, 0.8), (-1.3, -0.15, 0.5), (-1.45, -1.0, 0.5)),
    "left_elbow": ((-0.5, 0.0, 0.5), (-2.3, -0.3, 0.0), (-0.1, 0.0, 0.1)),
    "left_wrist": ((-0.6, 0.0, 0.6), (-0.4, 0.0, 0.4), (-0.8, -0.1, 0.6)),
}
_MIRROR_AXIS_SIGNS = np.array([1.0, -1.0, -1.0])  # axis-angle (x, y, z) -> its mirror image through x = 0

ACTIVITY_RANGE = (0.35, 1.0)
YAW_FACING_STD = 0.45  # radians: most people turn less than ~25 degrees away from the camera...
YAW_ANY_PROBABILITY = 0.25  # ...and a quarter face any direction (profiles, backs)
PITCH_STD, ROLL_STD = 0.1, 0.08  # camera tilt and roll relative to an upright person
BETAS_STD, BETAS_LIMIT = 1.0, 3.0
EXPRESSION_STD, EXPRESSION_LIMIT = 0.5, 1.5
JAW_OPEN_RANGE = (0.0, 0.35)  # radians about x; 0 = mouth closed

# Fingers in SMPL-X's hand-joint order (index, middle, pinky, ring, thumb; 3 joints each).
_FINGER_CURL_PER_SEGMENT = np.array([1.3, 1.5, 1.1])  # radians at full curl, proximal to distal
_FINGER_CURL_RANGE = (-0.1, 1.0)  # fraction of a full curl; a little hyper-extension is allowed
_FINGER_SPREAD = 0.15  # radians about y at the knuckle (fingers fanning in the palm's plane)
_THUMB_CURL_AXIS = np.array([0.3, -0.2, -0.9])  # left thumb: towards the palm and across it
_THUMB_CURL_PER_SEGMENT = np.array([0.6, 0.9, 0.8])


def _body_ranges() -> np.ndarray:
    """(3 [low, mode, high], 21, 3) ranges of ``body_pose`` with the right side mirrored from the left."""
    ranges = np.zeros((3, NUM_BODY_POSE_JOINTS, 3))
    for name, per_axis in _BODY_JOINT_RANGES.items():
        values = np.asarray(per_axis, dtype=np.float64).T  # (3 [low, mode, high], 3 axes)
        ranges[:, BODY_POSE_INDEX[name]] = values
        if name.startswith("left_"):
            mirrored = values * _MIRROR_AXIS_SIGNS
            # A negated axis turns [low, high] into [-high, -low]: the low and high rows swap there.
            flipped = _MIRROR_AXIS_SIGNS < 0
            mirrored[0, flipped], mirrored[2, flipped] = mirrored[2, flipped].copy(), mirrored[0, flipped].copy()
            ranges[:, BODY_POSE_INDEX["right_" + name[len("left_") :]]] = mirrored
    missing = [name for name in BODY_POSE_INDEX if not np.any(ranges[2, BODY_POSE_INDEX[name]] > ranges[0, BODY_POSE_INDEX[name]])]
    if missing:  # every body joint must be listed (or mirrored) above
        raise RuntimeError(f"no pose range for body joints {missing}")
    return ranges


BODY_POSE_RANGES = _body_ranges()
"""(3, 21, 3): the ``low``, ``mode`` and ``high`` of every ``body_pose`` component (radians)."""


def sample_body_pose(rng: np.random.Generator, num_people: int) -> np.ndarray:
    """(num_people, 21, 3) axis-angle body poses within ``BODY_POSE_RANGES``, pulled towards the mode by activity."""
    low, mode, high = BODY_POSE_RANGES
    shape = (num_people, NUM_BODY_POSE_JOINTS, 3)
    raw = rng.triangular(np.broadcast_to(low, shape), np.broadcast_to(mode, shape), np.broadcast_to(high, shape))
    activity = rng.uniform(*ACTIVITY_RANGE, size=(num_people, 1, 1))
    return mode + activity * (raw - mode)  # stays in [low, high]: a convex combination of mode and raw


def sample_hand_pose_flat(rng: np.random.Generator, num_people: int, side: str) -> np.ndarray:
    """(num_people, 15, 3) finger rotations relative to the *flat* hand: a random curl per finger.

    ``side`` is ``"left"`` or ``"right"`` (the mirror image of a left hand).
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}.")
    curls = rng.uniform(*_FINGER_CURL_RANGE, size=(num_people, 5, 1))
    jitter = rng.uniform(0.8, 1.2, size=(num_people, 5, 3))  # segments of one finger bend a little differently
    pose = np.zeros((num_people, 5, 3, 3))
    pose[:, :4, :, 2] = -curls[:, :4] * _FINGER_CURL_PER_SEGMENT * jitter[:, :4]
    pose[:, :4, 0, 1] = rng.uniform(-_FINGER_SPREAD, _FINGER_SPREAD, size=(num_people, 4))
    thumb_curl = curls[:, 4] * _THUMB_CURL_PER_SEGMENT * jitter[:, 4]  # (num_people, 3 segments)
    pose[:, 4] = thumb_curl[..., None] * _THUMB_CURL_AXIS
    pose = pose.reshape(num_people, NUM_HAND_POSE_JOINTS, 3)
    return pose if side == "left" else pose * _MIRROR_AXIS_SIGNS


def sample_orientation_angles(rng: np.random.Generator, num_people: int) -> np.ndarray:
    """(num_people, 3) yaw, pitch, roll (radians) of a person relative to standing upright facing the camera."""
    facing = rng.normal(0.0, YAW_FACING_STD, size=num_people)
    anywhere = rng.uniform(-np.pi, np.pi, size=num_people)
    yaw = np.where(rng.uniform(size=num_people) < YAW_ANY_PROBABILITY, anywhere, np.clip(facing, -np.pi, np.pi))
    pitch = np.clip(rng.normal(0.0, PITCH_STD, size=num_people), -3 * PITCH_STD, 3 * PITCH_STD)
    roll = np.clip(rng.normal(0.0, ROLL_STD, size=num_people), -3 * ROLL_STD, 3 * ROLL_STD)
    return np.stack((yaw, pitch, roll), axis=1)


def orientation_matrices(angles: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll -> (N, 3, 3) global orientations in the camera frame (x right, y down, z forward).

    A half turn about x takes SMPL-X's upright, +z-facing body to an upright person facing an OpenCV camera;
    then yaw turns them about the camera's vertical axis, pitch and roll tilt them (``R = Rz Rx Ry Rx(pi)``).
    """
    yaw, pitch, roll = (angles[:, k] for k in range(3))

    def about(axis, angle):
        c, s = np.cos(angle), np.sin(angle)
        matrix = np.zeros((len(angle), 3, 3))
        i, j = [(1, 2), (2, 0), (0, 1)][axis]  # the plane the rotation turns
        matrix[:, axis, axis] = 1.0
        matrix[:, i, i], matrix[:, i, j], matrix[:, j, i], matrix[:, j, j] = c, -s, s, c
        return matrix

    face_camera = about(0, np.full(len(yaw), np.pi))
    return about(2, roll) @ about(0, pitch) @ about(1, yaw) @ face_camera


def sample_people(rng: np.random.Generator, num_people: int, genders=GENDERS) -> dict:
    """Everything random about ``num_people`` bodies, drawn from ``rng`` in a fixed order.

    ``genders``: the body models to pick from, uniformly (those the body-model directory has).

    Returns a dict of float64 arrays (first axis: person) — ``orientation_angles`` (N, 3), ``body_pose``
    (N, 21, 3), ``left_hand_pose_flat`` / ``right_hand_pose_flat`` (N, 15, 3) relative to the flat hand,
    ``jaw_pose`` (N, 3), ``betas`` (N, 10), ``expression`` (N, 10) — and ``gender`` (N,) strings.
    """
    if not genders or any(gender not in GENDERS for gender in genders):
        raise ValueError(f"genders must be a non-empty subset of {GENDERS}, got {genders!r}.")
    people = {"gender": np.asarray(genders, dtype=object)[rng.integers(0, len(genders), size=num_people)]}
    people["orientation_angles"] = sample_orientation_angles(rng, num_people)
    people["body_pose"] = sample_body_pose(rng, num_people)
    people["left_hand_pose_flat"] = sample_hand_pose_flat(rng, num_people, "left")
    people["right_hand_pose_flat"] = sample_hand_pose_flat(rng, num_people, "right")
    jaw = np.zeros((num_people, 3))
    jaw[:, 0] = rng.uniform(*JAW_OPEN_RANGE, size=num_people)
    jaw[:, 1:] = rng.uniform(-0.05, 0.05, size=(num_people, 2))  # a little sideways play
    people["jaw_pose"] = jaw
    people["betas"] = np.clip(rng.normal(0.0, BETAS_STD, (num_people, NUM_BETAS)), -BETAS_LIMIT, BETAS_LIMIT)
    people["expression"] = np.clip(
        rng.normal(0.0, EXPRESSION_STD, (num_people, NUM_EXPRESSION_COEFFS)), -EXPRESSION_LIMIT, EXPRESSION_LIMIT
    )
    return people


__all__ = [
    "BODY_POSE_INDEX",
    "BODY_POSE_RANGES",
    "orientation_matrices",
    "sample_body_pose",
    "sample_hand_pose_flat",
    "sample_orientation_angles",
    "sample_people",
]

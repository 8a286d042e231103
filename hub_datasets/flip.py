"""What a horizontal image flip does to SMPL-X labels: left/right swaps and mirrored rotations.

Mirroring the camera frame through its y-z plane, ``M = diag(-1, 1, 1)``, turns a person into their mirror
image: every joint trades places with its partner on the other side, and every rotation ``R`` becomes
``M R M``. For an axis-angle vector ``(x, y, z)`` that is ``(x, -y, -z)``: ``M R(a, phi) M = R(M a, -phi)``
because ``M`` reverses orientation, and ``-phi * M a = phi * (a_x, -a_y, -a_z)``. The identity holds for the
global orientation (in the camera frame) and, because the SMPL-X rest skeleton is itself mirror-symmetric, for
every local joint rotation too — which is what the original SMPLest-X applies to all 53 posed joints.

Hand poses stored relative to the SMPL-X *mean* hand pose mirror the same way as long as the right mean is the
mirror image of the left one (true of the SMPL-X model files and of the synthetic body model).

The swaps are fixed permutations (one gather, no loop over joint pairs); `flip` arguments are per-sample
booleans so a batch mixes flipped and unflipped samples.

>>> import numpy as np
>>> pose = np.zeros((1, 53, 3)); pose[0, 1] = (0.1, 0.2, 0.3)  # L_Hip
>>> mirror_pose(pose, np.array([True]))[0, 2].tolist()  # becomes R_Hip, y and z negated
[0.1, -0.2, -0.3]
"""

import numpy as np

from smplest_hf.models.smplest_x.smplx_layout import NUM_POSE_JOINTS, NUM_SUPERVISION_JOINTS, POSE_FLIP_PAIRS, SUPERVISION_FLIP_PAIRS


def _permutation(count: int, pairs) -> np.ndarray:
    """(count,) index array that swaps every (i, j) pair and leaves the other indices in place."""
    permutation = np.arange(count)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    permutation[pairs[:, 0]], permutation[pairs[:, 1]] = pairs[:, 1], pairs[:, 0]
    return permutation


POSE_FLIP_PERMUTATION = _permutation(NUM_POSE_JOINTS, POSE_FLIP_PAIRS)
"""(53,) ``pose[:, POSE_FLIP_PERMUTATION]`` swaps left and right posed joints (body, whole hands)."""

SUPERVISION_FLIP_PERMUTATION = _permutation(NUM_SUPERVISION_JOINTS, SUPERVISION_FLIP_PAIRS)
"""(137,) ``joints[:, SUPERVISION_FLIP_PERMUTATION]`` swaps left and right supervision joints (face included)."""

AXIS_ANGLE_MIRROR = np.array([1.0, -1.0, -1.0])
"""Axis-angle ``(x, y, z)`` of ``R`` times this is the axis-angle of ``M R M``, ``M = diag(-1, 1, 1)``."""


def swap_sides(values: np.ndarray, flip: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Rows of flipped samples permuted along axis 1: (N, J, ...) values, (N,) bool flip, (J,) permutation."""
    flip = np.asarray(flip, dtype=bool).reshape((-1,) + (1,) * (values.ndim - 1))
    return np.where(flip, values[:, permutation], values)


def mirror_pose(pose: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """(N, 53, 3) axis-angle poses (``smplx_layout.POSE_JOINT_NAMES`` order) -> mirrored where ``flip`` (N,) is set.

    Left and right joints swap and every rotation becomes its mirror image ``(x, -y, -z)``. An involution:
    mirroring twice gives the input back exactly.
    """
    mirrored = pose[:, POSE_FLIP_PERMUTATION] * AXIS_ANGLE_MIRROR
    return np.where(np.asarray(flip, dtype=bool)[:, None, None], mirrored, pose)


def mirror_points(points: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """(N, J, 3) camera-frame points -> x negated and left/right supervision joints swapped where ``flip`` is set."""
    flip = np.asarray(flip, dtype=bool)
    mirrored = points[:, SUPERVISION_FLIP_PERMUTATION] * np.array([-1.0, 1.0, 1.0])
    return np.where(flip[:, None, None], mirrored, points)


__all__ = [
    "AXIS_ANGLE_MIRROR",
    "POSE_FLIP_PERMUTATION",
    "SUPERVISION_FLIP_PERMUTATION",
    "mirror_points",
    "mirror_pose",
    "swap_sides",
]

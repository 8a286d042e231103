"""Joint names, kinematic tree and sizes of SMPL (the 6890-vertex body model 3DPW's ground truth uses) — the one
place they are defined.

SMPL's 24 joints are SMPL-X's first 22 (pelvis ... right wrist, same names, same order, same parents) followed by
one joint per hand, in the palm near the knuckles, whose child would be the fingers (SMPL has no finger joints).
So a row index below 22 names the same joint in both models, which is what the 3DPW evaluation relies on.
"""

from .smplx_layout import SMPLX_JOINT_NAMES, SMPLX_VERTEX_JOINT_NAMES


NUM_SMPL_BODY_JOINTS = 22  # the joints SMPL shares with SMPL-X (pelvis ... right wrist)
SMPL_JOINT_NAMES = SMPLX_JOINT_NAMES[:NUM_SMPL_BODY_JOINTS] + ("left_hand", "right_hand")
"""The 24 kinematic joints of SMPL in model-file order (names as in the ``smplx`` package)."""

SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
"""The parent of each SMPL joint (row 0 of ``kintree_table``; the files store the root's as uint32 max)."""

NUM_SMPL_JOINTS = len(SMPL_JOINT_NAMES)  # 24
NUM_SMPL_BODY_POSE_JOINTS = NUM_SMPL_JOINTS - 1  # 23: the rows of SMPL's `body_pose` (hands included)
NUM_SMPL_VERTICES = 6890
NUM_SMPL_FACES = 13776
NUM_SMPL_POSE_FEATURES = 9 * NUM_SMPL_BODY_POSE_JOINTS  # 207 pose-corrective blend shapes

SMPL_VERTEX_JOINT_VERTEX_IDS = dict(zip(SMPLX_VERTEX_JOINT_NAMES, (
    332, 6260, 2800, 4071, 583,
    3216, 3226, 3387, 6617, 6624, 6787,
    2746, 2319, 2445, 2556, 2673,
    6191, 5782, 5905, 6016, 6133,
)))  # fmt: skip
"""The SMPL vertex each of ``SMPLX_VERTEX_JOINT_NAMES`` (nose, eyes, ears, toes, heels, fingertips) sits on
(smplx's ``vertex_ids['smplh']``, which its ``SMPL`` class reads extra joints from)."""


__all__ = [
    "NUM_SMPL_BODY_JOINTS",
    "NUM_SMPL_BODY_POSE_JOINTS",
    "NUM_SMPL_FACES",
    "NUM_SMPL_JOINTS",
    "NUM_SMPL_POSE_FEATURES",
    "NUM_SMPL_VERTICES",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "SMPL_VERTEX_JOINT_VERTEX_IDS",
]

"""SMPL-X as SMPLest-X uses it — joints, kinematic tree, parameters, mesh sizes, genders — the one place
each fact is defined.

Four joint sets appear in the model, the losses, the data pipeline and the evaluation:

* ``SMPLX_JOINT_NAMES`` (55): the kinematic joints of the SMPL-X model, in the model file's order
  (names as in the ``smplx`` package).
* ``SMPLX_OUTPUT_JOINT_NAMES`` (144): everything ``smplx`` returns with the face contour on — the 55 joints,
  21 joints read off single vertices (face points, feet, fingertips), 51 face landmarks and 17 contour points.
* ``POSE_JOINT_NAMES`` (53): the joints that carry pose parameters in SMPLest-X — root, 21 body joints,
  15 left-hand, 15 right-hand joints and the jaw (the original's ``orig_joints_name``). Eyes are never posed.
* ``SUPERVISION_JOINT_NAMES`` (137): the joints the original supervises and projects to 2D — 25 body,
  2 x 20 hand and 72 face points, a fixed selection of the 144 output joints (the original's ``joints_name``
  and ``joint_idx``).

Besides the joint sets: the kinematic tree (``SMPLX_PARENTS``, ``kinematic_chain``), the parameters SMPLest-X
predicts (``PARAMETER_NAMES``, ``POSE_PARAMETER_JOINTS``, ``NUM_BETAS``, ``NUM_EXPRESSION_COEFFS``) and the one
layout every output, file and dataset holds them in (``PARAMETER_SHAPES``), the sizes of the mesh and of the
official model files, and the body models' ``GENDERS``.

Indices are derived from names here rather than typed in, and ``tests/test_smplx_layout.py`` checks them
against the original's literal tables. Part ranges are ``range`` objects (they index numpy arrays and torch
tensors alike); index arrays are ``int64`` numpy arrays (constants: do not modify them).
"""

import re
from types import MappingProxyType

import numpy as np


def _index_array(values) -> np.ndarray:
    # Left writable on purpose: torch warns when indexed with a read-only numpy array. Treat as constants.
    return np.asarray(values, dtype=np.int64)


def mirror_name(name: str) -> str:
    """The name of the joint on the other side: 'L_Hip' <-> 'R_Hip', 'left_eye4' <-> 'right_eye4'; mid-line names
    are returned unchanged."""
    for prefix, other in (("L_", "R_"), ("R_", "L_"), ("left_", "right_"), ("right_", "left_")):
        if name.startswith(prefix):
            return other + name[len(prefix) :]
    return name  # a joint on the mid-line is its own mirror image


def _flip_pairs(names) -> tuple:
    """Index pairs (i, j), i < j, of left/right mirror joints in `names`, ordered by i."""
    position = {name: index for index, name in enumerate(names)}
    pairs = []
    for index, name in enumerate(names):
        partner = position.get(mirror_name(name))
        if partner is not None and partner > index:
            pairs.append((index, partner))
    return tuple(pairs)


def _smplx_name(name: str) -> str:
    """The ``smplx`` name of a joint named in the original's style.

    'Pelvis' -> 'pelvis', 'Spine_1' -> 'spine1', 'L_Index_2' -> 'left_index2', 'L_Big_toe' -> 'left_big_toe';
    the fourth joint of a finger is its tip, which smplx names after the finger: 'R_Pinky_4' -> 'right_pinky'.
    """
    words = name.split("_")
    side = {"L": "left", "R": "right"}.get(words[0])
    if side is not None:
        words[0] = side
    if words[-1].isdigit():
        number = words.pop()
        if number != "4":
            words[-1] += number
    return "_".join(word.lower() for word in words)


# ------------------------------------------------------------------------------------------- SMPL-X joints
SMPLX_FINGER_NAMES = ("index", "middle", "pinky", "ring", "thumb")
"""The fingers in the order SMPL-X numbers their joints (three per finger, knuckle first)."""

SMPLX_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "jaw", "left_eye_smplhf", "right_eye_smplhf",
    *(f"{side}_{finger}{k}" for side in ("left", "right") for finger in SMPLX_FINGER_NAMES for k in (1, 2, 3)),
)  # fmt: skip
"""The 55 kinematic joints of SMPL-X in model-file order: 22 body, jaw, 2 eyeballs, 15 left-, 15 right-hand."""

NUM_SMPLX_JOINTS = len(SMPLX_JOINT_NAMES)
NUM_BODY_POSE_JOINTS = 21  # body joints below the root, i.e. the rows of `body_pose`
NUM_HAND_POSE_JOINTS = 15  # joints per hand, i.e. the rows of `left_hand_pose` / `right_hand_pose`

SMPLX_VERTEX_JOINT_NAMES = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
    "left_thumb", "left_index", "left_middle", "left_ring", "left_pinky",
    "right_thumb", "right_index", "right_middle", "right_ring", "right_pinky",
)  # fmt: skip
"""The 21 joints smplx reads off single mesh vertices (face points, feet, fingertips), in output order."""

SMPLX_VERTEX_JOINT_VERTEX_IDS = _index_array((
    9120, 9929, 9448, 616, 6,
    5770, 5780, 8846, 8463, 8474, 8635,
    5361, 4933, 5058, 5169, 5286,
    8079, 7669, 7794, 7905, 8022,
))  # fmt: skip
"""(21,) the SMPL-X vertex each of ``SMPLX_VERTEX_JOINT_NAMES`` sits on (smplx's ``vertex_ids['smplx']``)."""

SMPLX_FACE_LANDMARK_NAMES = (
    "right_eye_brow1", "right_eye_brow2", "right_eye_brow3", "right_eye_brow4", "right_eye_brow5",
    "left_eye_brow5", "left_eye_brow4", "left_eye_brow3", "left_eye_brow2", "left_eye_brow1",
    "nose1", "nose2", "nose3", "nose4",
    "right_nose_2", "right_nose_1", "nose_middle", "left_nose_1", "left_nose_2",
    "right_eye1", "right_eye2", "right_eye3", "right_eye4", "right_eye5", "right_eye6",
    "left_eye4", "left_eye3", "left_eye2", "left_eye1", "left_eye6", "left_eye5",
    "right_mouth_1", "right_mouth_2", "right_mouth_3", "mouth_top", "left_mouth_3", "left_mouth_2", "left_mouth_1",
    "left_mouth_5", "left_mouth_4", "mouth_bottom", "right_mouth_4", "right_mouth_5",
    "right_lip_1", "right_lip_2", "lip_top", "left_lip_2", "left_lip_1", "left_lip_3", "lip_bottom", "right_lip_3",
)  # fmt: skip
"""The 51 static face landmarks (barycentric points on fixed faces, ``lmk_faces_idx`` in the model file)."""

SMPLX_FACE_CONTOUR_NAMES = (
    *(f"right_contour_{i}" for i in range(1, 9)),
    "contour_middle",
    *(f"left_contour_{i}" for i in range(8, 0, -1)),
)
"""The 17 face-contour landmarks, whose faces depend on the head's turn (``dynamic_lmk_faces_idx``)."""

SMPLX_OUTPUT_JOINT_NAMES = SMPLX_JOINT_NAMES + SMPLX_VERTEX_JOINT_NAMES + SMPLX_FACE_LANDMARK_NAMES + SMPLX_FACE_CONTOUR_NAMES
"""The 144 joints smplx returns with ``use_face_contour=True``, in its order."""

NUM_SMPLX_OUTPUT_JOINTS = len(SMPLX_OUTPUT_JOINT_NAMES)

# ----------------------------------------------------------------------------------------- kinematic tree
# Child -> parent for the mid-line and the left side; the right side mirrors the left, and fingers are chains
# hanging from the wrist (see `_parent_name`).
_PARENT_NAMES = {
    "left_hip": "pelvis", "spine1": "pelvis", "left_knee": "left_hip", "spine2": "spine1", "left_ankle": "left_knee",
    "spine3": "spine2", "left_foot": "left_ankle", "neck": "spine3", "left_collar": "spine3", "head": "neck",
    "left_shoulder": "left_collar", "left_elbow": "left_shoulder", "left_wrist": "left_elbow",
    "jaw": "head", "left_eye_smplhf": "head",
}  # fmt: skip
_FINGER_JOINT = re.compile(rf"(left|right)_({'|'.join(SMPLX_FINGER_NAMES)})([123])")


def _parent_name(name: str):
    """The joint `name` hangs from (None for the root): a finger's knuckle from the wrist, its other joints from
    the joint before; a right-side joint from the mirror image of its left twin's parent."""
    if name == "pelvis":
        return None
    finger_joint = _FINGER_JOINT.fullmatch(name)
    if finger_joint is not None:
        side, finger, k = finger_joint.group(1), finger_joint.group(2), int(finger_joint.group(3))
        return f"{side}_wrist" if k == 1 else f"{side}_{finger}{k - 1}"
    if name in _PARENT_NAMES:
        return _PARENT_NAMES[name]
    return mirror_name(_PARENT_NAMES[mirror_name(name)])


SMPLX_PARENTS = tuple(-1 if parent is None else SMPLX_JOINT_NAMES.index(parent) for parent in map(_parent_name, SMPLX_JOINT_NAMES))
"""(55) the parent of each of ``SMPLX_JOINT_NAMES`` (-1 for the pelvis): row 0 of the model files' ``kintree_table``."""

SMPLX_BODY_PARENTS = SMPLX_PARENTS[: 1 + NUM_BODY_POSE_JOINTS]
"""(22) parents of the pelvis and the 21 body joints, the first 22 joints, which hang only from each other."""


def kinematic_chain(name: str) -> tuple:
    """Indices into ``SMPLX_JOINT_NAMES`` of the joints from the pelvis down to joint `name`, inclusive.

    >>> kinematic_chain("left_wrist")
    (0, 3, 6, 9, 13, 16, 18, 20)
    """
    chain = [SMPLX_JOINT_NAMES.index(name)]
    while SMPLX_PARENTS[chain[-1]] != -1:
        chain.append(SMPLX_PARENTS[chain[-1]])
    return tuple(reversed(chain))


WRIST_CHAINS = (kinematic_chain("left_wrist"), kinematic_chain("right_wrist"))
"""The joints from the pelvis down to the left and to the right wrist (8 each): the rotations whose product is a
wrist's global orientation. Body joints are the first 22 of ``SMPLX_JOINT_NAMES`` and of ``POSE_JOINT_NAMES``
alike, so these index either."""

# ----------------------------------------------------------------------------------- pose-parameter joints
POSE_JOINT_NAMES = (
    "Pelvis", "L_Hip", "R_Hip", "Spine_1", "L_Knee", "R_Knee", "Spine_2", "L_Ankle", "R_Ankle", "Spine_3",
    "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow",
    "L_Wrist", "R_Wrist",
    *(f"{side}_{finger.capitalize()}_{k}" for side in ("L", "R") for finger in SMPLX_FINGER_NAMES for k in (1, 2, 3)),
    "Jaw",
)  # fmt: skip
"""The 53 joints with pose parameters: root + 21 body, 15 left hand, 15 right hand (SMPL-X finger order), jaw."""

NUM_POSE_JOINTS = len(POSE_JOINT_NAMES)

POSE_JOINT_PARTS = MappingProxyType({
    "body": range(POSE_JOINT_NAMES.index("Pelvis"), POSE_JOINT_NAMES.index("R_Wrist") + 1),
    "lhand": range(POSE_JOINT_NAMES.index("L_Index_1"), POSE_JOINT_NAMES.index("L_Thumb_3") + 1),
    "rhand": range(POSE_JOINT_NAMES.index("R_Index_1"), POSE_JOINT_NAMES.index("R_Thumb_3") + 1),
    "face": range(POSE_JOINT_NAMES.index("Jaw"), POSE_JOINT_NAMES.index("Jaw") + 1),
})  # fmt: skip
"""Ranges of ``POSE_JOINT_NAMES``: body (root + 21), lhand (15), rhand (15), face (jaw)."""

POSE_ROOT_INDEX = POSE_JOINT_NAMES.index("Pelvis")
POSE_FLIP_PAIRS = _flip_pairs(POSE_JOINT_NAMES)
"""Left/right pairs of ``POSE_JOINT_NAMES`` indices, swapped when an image is mirrored."""

POSE_JOINT_SMPLX_INDICES = _index_array([SMPLX_JOINT_NAMES.index(_smplx_name(name)) for name in POSE_JOINT_NAMES])
"""(53,) index of each pose joint among the 55 ``SMPLX_JOINT_NAMES``."""

# ------------------------------------------------------------------------------------------- parameters
NUM_BETAS = 10
"""Shape coefficients SMPLest-X predicts (the first 10 of the model files' shape space)."""
NUM_EXPRESSION_COEFFS = 10
"""Expression coefficients SMPLest-X predicts (the first 10 of the model files' expression space)."""

POSE_PARAMETER_JOINTS = MappingProxyType({
    "global_orient": 1,
    "body_pose": NUM_BODY_POSE_JOINTS,
    "left_hand_pose": NUM_HAND_POSE_JOINTS,
    "right_hand_pose": NUM_HAND_POSE_JOINTS,
    "jaw_pose": 1,
})  # fmt: skip
"""The pose parameters SMPLest-X predicts -> how many joints each rotates (one axis-angle vector per joint), in
the order of ``PARAMETER_NAMES``. Together they pose the 53 ``POSE_JOINT_NAMES``; the eyes are never posed."""

PARAMETER_NAMES = (*POSE_PARAMETER_JOINTS, "betas", "expression")
"""The SMPL-X parameters SMPLest-X predicts, in the order of its outputs and of the body model's ``forward``."""

GENDERS = ("neutral", "male", "female")
"""The SMPL-X body models (``SMPLX_{GENDER}.npz``); SMPLest-X predicts parameters of the neutral one."""

PREDICTION_MODEL_SETTINGS = MappingProxyType(
    {"gender": "neutral", "num_betas": NUM_BETAS, "num_expression_coeffs": NUM_EXPRESSION_COEFFS, "use_pca": False, "flat_hand_mean": False}
)
"""The `smplx.SMPLX` arguments under which predicted parameters are meant (written beside exported parameters):
the neutral model, full axis-angle hand poses relative to the mean hand (no PCA, not flat)."""

PARAMETER_SHAPES = MappingProxyType({
    **{name: (3,) if joints == 1 else (joints, 3) for name, joints in POSE_PARAMETER_JOINTS.items()},
    "leye_pose": (3,),
    "reye_pose": (3,),
    "betas": (NUM_BETAS,),
    "expression": (NUM_EXPRESSION_COEFFS,),
    "transl": (3,),
})  # fmt: skip
"""The pose layout, the one place it is stated: the shape of one person's SMPL-X parameters (the arguments of
``smplx.SMPLX.forward``) everywhere SMPLest-X holds them.

Rotations are axis-angle, one 3-vector per joint: a parameter that rotates several joints is per joint, (J, 3)
(``body_pose`` (21, 3), ``left_hand_pose`` / ``right_hand_pose`` (15, 3)); one that rotates a single joint is
(3,) (``global_orient``, ``jaw_pose``, ``leye_pose``, ``reye_pose``). Leading axes count people or frames: model
outputs (N, ...), pipeline people (...) (``transl`` is their ``camera_translation``), image parameter files
``.npz`` (1, ...), per-track files ``.npz`` (T, ...), dataset columns ``smplx_<name>`` (...).

The files stay directly loadable: ``smplx.SMPLX(..., use_pca=False).forward`` reshapes every pose to (B, J, 3)
itself (checked with smplx 0.1.28 in ``tests/test_export.py``), so ``torch.from_numpy`` of each array is enough. The
flat layout other tools use is a reshape: ``body_pose.reshape(-1, 63)``, hands ``.reshape(-1, 45)``, and back
``.reshape(-1, 21, 3)`` / ``.reshape(-1, 15, 3)``. Only interchange formats whose specification fixes another
layout keep it: AMASS ``poses`` (T, 165), all 55 joints flat (``export.amass``)."""

# ------------------------------------------------------------------------------------------- mesh and files
NUM_SMPLX_VERTICES = 10475
NUM_SMPLX_FACES = 20908
NUM_MANO_VERTICES = 778  # vertices of each hand (`MANO_SMPLX_vertex_ids.pkl`)
NUM_FLAME_VERTICES = 5023  # vertices of the face (`SMPL-X__FLAME_vertex_ids.npy`)
FILE_SHAPE_SPACE = 300  # shape directions in an official model file's `shapedirs`...
FILE_EXPRESSION_SPACE = 100  # ...followed by this many expression directions

# ------------------------------------------------------------------------------------ supervision joints
_SUPERVISION_BODY_NAMES = (
    "Pelvis", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Neck", "L_Shoulder", "R_Shoulder",
    "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Big_toe", "L_Small_toe", "L_Heel", "R_Big_toe", "R_Small_toe",
    "R_Heel", "L_Ear", "R_Ear", "L_Eye", "R_Eye", "Nose",
)  # fmt: skip
_SUPERVISION_FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")  # 4 joints each, the 4th is the tip
_SUPERVISION_HAND_NAMES = tuple(
    f"{side}_{finger}_{k}" for side in ("L", "R") for finger in _SUPERVISION_FINGERS for k in (1, 2, 3, 4)
)
# The original names its 72 face points Face_1..Face_72: jaw, head, the two eye vertices, then every
# landmark and contour point of the 144 output joints in smplx's order.
_SUPERVISION_FACE_SOURCES = ("jaw", "head", "left_eye", "right_eye") + SMPLX_FACE_LANDMARK_NAMES + SMPLX_FACE_CONTOUR_NAMES

SUPERVISION_JOINT_NAMES = (
    _SUPERVISION_BODY_NAMES
    + _SUPERVISION_HAND_NAMES
    + tuple(f"Face_{k}" for k in range(1, len(_SUPERVISION_FACE_SOURCES) + 1))
)
"""The 137 supervision joints (original names): 25 body, 20 left hand, 20 right hand, 72 face."""

NUM_SUPERVISION_JOINTS = len(SUPERVISION_JOINT_NAMES)

SUPERVISION_JOINT_SOURCE_NAMES = (
    tuple(_smplx_name(name) for name in _SUPERVISION_BODY_NAMES + _SUPERVISION_HAND_NAMES) + _SUPERVISION_FACE_SOURCES
)
"""(137) the ``SMPLX_OUTPUT_JOINT_NAMES`` entry each supervision joint is taken from. The eye vertices appear
twice (as body L_Eye/R_Eye and as face Face_3/Face_4), exactly as in the original."""

SUPERVISION_JOINT_INDICES = _index_array([SMPLX_OUTPUT_JOINT_NAMES.index(name) for name in SUPERVISION_JOINT_SOURCE_NAMES])
"""(137,) index of each supervision joint among the 144 output joints: ``joints = smplx_joints[:, indices]``."""

SUPERVISION_JOINT_PARTS = MappingProxyType({
    "body": range(SUPERVISION_JOINT_NAMES.index("Pelvis"), SUPERVISION_JOINT_NAMES.index("Nose") + 1),
    "lhand": range(SUPERVISION_JOINT_NAMES.index("L_Thumb_1"), SUPERVISION_JOINT_NAMES.index("L_Pinky_4") + 1),
    "rhand": range(SUPERVISION_JOINT_NAMES.index("R_Thumb_1"), SUPERVISION_JOINT_NAMES.index("R_Pinky_4") + 1),
    "hand": range(SUPERVISION_JOINT_NAMES.index("L_Thumb_1"), SUPERVISION_JOINT_NAMES.index("R_Pinky_4") + 1),
    "face": range(SUPERVISION_JOINT_NAMES.index("Face_1"), SUPERVISION_JOINT_NAMES.index("Face_72") + 1),
})  # fmt: skip
"""Ranges of ``SUPERVISION_JOINT_NAMES``: body (25), lhand (20), rhand (20), hand (both, 40), face (72)."""

SUPERVISION_ROOT_INDEX = SUPERVISION_JOINT_NAMES.index("Pelvis")
SUPERVISION_LEFT_WRIST_INDEX = SUPERVISION_JOINT_NAMES.index("L_Wrist")
SUPERVISION_RIGHT_WRIST_INDEX = SUPERVISION_JOINT_NAMES.index("R_Wrist")
SUPERVISION_NECK_INDEX = SUPERVISION_JOINT_NAMES.index("Neck")

# Face points have no left/right in their Face_k names, so mirror partners are found through their smplx
# names (unique inside the face part; body and hands keep their own L_/R_ names).
SUPERVISION_FLIP_PAIRS = _flip_pairs(
    SUPERVISION_JOINT_NAMES[: SUPERVISION_JOINT_PARTS["face"].start]
    + SUPERVISION_JOINT_SOURCE_NAMES[SUPERVISION_JOINT_PARTS["face"].start :]
)
"""Left/right pairs of supervision-joint indices, swapped when an image is mirrored."""

# ----------------------------------------------------------------------------------- evaluation joint sets
J14_JOINT_NAMES = (
    "R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "R_Wrist", "R_Elbow", "R_Shoulder", "L_Shoulder",
    "L_Elbow", "L_Wrist", "Neck", "Head_top",
)  # fmt: skip
"""The 14 LSP joints of the ``SMPLX_to_J14.pkl`` regressor rows (body PA-MPJPE on EHF and similar benchmarks)."""

MANO_JOINT_NAMES = ("Wrist",) + tuple(f"{finger}_{k}" for finger in _SUPERVISION_FINGERS for k in (1, 2, 3, 4))
"""The 21 hand joints in MANO evaluation order: wrist, then thumb, index, middle, ring, pinky (4 each, tip last)."""

HAND_EVALUATION_JOINT_INDICES = MappingProxyType({
    side: _index_array([SMPLX_OUTPUT_JOINT_NAMES.index(_smplx_name(f"{prefix}_{name}")) for name in MANO_JOINT_NAMES])
    for side, prefix in (("left", "L"), ("right", "R"))
})  # fmt: skip
"""{"left", "right"}: (21,) index of each ``MANO_JOINT_NAMES`` joint among the 144 output joints. Indices below
``NUM_SMPLX_JOINTS`` are joint-regressor rows, the tips are mesh vertices (``SMPLX_VERTEX_JOINT_VERTEX_IDS``):
the original's hand-evaluation regressor applies exactly those rows to a mesh."""

__all__ = [
    "FILE_EXPRESSION_SPACE",
    "FILE_SHAPE_SPACE",
    "GENDERS",
    "HAND_EVALUATION_JOINT_INDICES",
    "J14_JOINT_NAMES",
    "MANO_JOINT_NAMES",
    "NUM_BETAS",
    "NUM_BODY_POSE_JOINTS",
    "NUM_EXPRESSION_COEFFS",
    "NUM_FLAME_VERTICES",
    "NUM_HAND_POSE_JOINTS",
    "NUM_MANO_VERTICES",
    "NUM_POSE_JOINTS",
    "NUM_SMPLX_FACES",
    "NUM_SMPLX_JOINTS",
    "NUM_SMPLX_OUTPUT_JOINTS",
    "NUM_SMPLX_VERTICES",
    "NUM_SUPERVISION_JOINTS",
    "PARAMETER_NAMES",
    "PARAMETER_SHAPES",
    "PREDICTION_MODEL_SETTINGS",
    "POSE_FLIP_PAIRS",
    "POSE_JOINT_NAMES",
    "POSE_JOINT_PARTS",
    "POSE_JOINT_SMPLX_INDICES",
    "POSE_PARAMETER_JOINTS",
    "POSE_ROOT_INDEX",
    "SMPLX_BODY_PARENTS",
    "SMPLX_FACE_CONTOUR_NAMES",
    "SMPLX_FACE_LANDMARK_NAMES",
    "SMPLX_FINGER_NAMES",
    "SMPLX_JOINT_NAMES",
    "SMPLX_OUTPUT_JOINT_NAMES",
    "SMPLX_PARENTS",
    "SMPLX_VERTEX_JOINT_NAMES",
    "SMPLX_VERTEX_JOINT_VERTEX_IDS",
    "SUPERVISION_FLIP_PAIRS",
    "SUPERVISION_JOINT_INDICES",
    "SUPERVISION_JOINT_NAMES",
    "SUPERVISION_JOINT_PARTS",
    "SUPERVISION_JOINT_SOURCE_NAMES",
    "SUPERVISION_LEFT_WRIST_INDEX",
    "SUPERVISION_NECK_INDEX",
    "SUPERVISION_RIGHT_WRIST_INDEX",
    "SUPERVISION_ROOT_INDEX",
    "WRIST_CHAINS",
    "kinematic_chain",
    "mirror_name",
]

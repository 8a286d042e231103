"""The one schema of an EHPS (expressive human pose and shape) sample on the Hub.

One row is one person in one image. Every converter (HumanData, the synthetic generator) writes exactly
``EHPS_FEATURES``; every reader (the training transform, the evaluation) reads it. The dataset card of every
converted dataset carries the table in ``field_table_markdown()``, rendered from ``FIELD_DOCS`` below.

Conventions
-----------
* **Missing is explicit.** Each optional annotation has a boolean ``*_valid`` flag. Under a ``False`` flag the
  values are zeros of the right shape (so batches stack and ``loss * valid`` works) and mean nothing. Variable
  length fields (``smplx_betas``, ``smplx_expression``, ``smplx_betas_neutral``) are empty when absent.
* **Units and frames.** Pixels for 2D values (origin at the top-left of the full image, x right, y down);
  metres for 3D values. ``keypoints_3d`` are in the frame the source gives them (HumanData's
  ``keypoints3d_cam`` when present: camera frame). Pose parameters are axis-angle vectors in radians.
* **SMPL-X parameters as annotated.** Values are stored exactly as the source gives them: hand poses are
  relative to the flat hand when ``smplx_flat_hand_mean`` is true and relative to the model's mean hand pose
  otherwise (SMPLest-X trains on the latter; the transform converts). ``gender`` names the body model the
  parameters belong to ("neutral", "male" or "female"); sources without gender are neutral fits.
* **Keypoint convention** ``KEYPOINT_CONVENTION = "smplx_144"``: the 144 joints ``smplx`` returns with the face
  contour on, in its order (``smplest_hf.models.smplest_x.smplx_layout.SMPLX_OUTPUT_JOINT_NAMES``). It is a lossless superset of
  the 137 joints SMPLest-X supervises — ``to_supervision_keypoints`` gathers them with
  ``SUPERVISION_JOINT_INDICES`` — with no joint stored twice, and it is what a body model outputs, so
  synthetic data stores its exact joints directly. (HumanData's 190-joint ``human_data`` convention starts
  with the same 144 joints; its 46 extra joints — other datasets' heads, hips and OpenPose points — are not
  kept.) ``keypoints_2d[..., 2]`` is a confidence and ``keypoints_3d[..., 3]`` a validity, both ``0`` for a
  joint the source does not annotate.

Example::

    >>> from hub_datasets.schema import EHPS_FEATURES, NUM_KEYPOINTS, to_supervision_keypoints
    >>> EHPS_FEATURES["keypoints_2d"].shape == (NUM_KEYPOINTS, 3) == (144, 3)
    True
    >>> import numpy as np
    >>> to_supervision_keypoints(np.zeros((2, 144, 3))).shape
    (2, 137, 3)
"""

from types import MappingProxyType

from datasets import Array2D, Features, Image, List, Value

from smplest_hf.models.smplest_x.smplx_layout import (
    NUM_BODY_POSE_JOINTS,
    NUM_HAND_POSE_JOINTS,
    NUM_SMPLX_OUTPUT_JOINTS,
    PARAMETER_SHAPES,
    SMPLX_OUTPUT_JOINT_NAMES,
    SUPERVISION_JOINT_INDICES,
)


SCHEMA_VERSION = "1.1"  # 1.1: optional MANO hand roots (smplx_lhand_root, smplx_rhand_root + _valid)
"""Bumped when a field changes meaning or shape; written into every dataset card."""

KEYPOINT_CONVENTION = "smplx_144"
KEYPOINT_NAMES = SMPLX_OUTPUT_JOINT_NAMES
NUM_KEYPOINTS = NUM_SMPLX_OUTPUT_JOINTS  # 144


def _floats(length=None):
    return List(Value("float32"), length=-1 if length is None else length)


# (name, feature, documentation) in column order: the one place a field is defined.
_FIELDS = (
    # ------------------------------------------------------------------------------------------ identity
    ("sample_id", Value("string"), "Unique id `{dataset_name}/{split}/{source_index:08d}`."),
    ("dataset_name", Value("string"), "Source dataset (for per-dataset mixing and metrics)."),
    ("source_index", Value("int64"), "Row of this person in the source annotation file (HumanData: npz row)."),
    # --------------------------------------------------------------------------------------------- image
    ("image", Image(), "The full image, stored as the source file's bytes (decoded once, by the reader)."),
    ("image_path", Value("string"), "The image's path relative to the source image root."),
    ("image_height", Value("int32"), "Image height in pixels."),
    ("image_width", Value("int32"), "Image width in pixels."),
    # --------------------------------------------------------------------------------------------- boxes
    ("bbox_xywh", _floats(4), "Person box: top-left x, y, width, height (pixels). Always present."),
    ("lhand_bbox_xywh", _floats(4), "Left-hand box (xywh, pixels); zeros when `lhand_bbox_valid` is false."),
    ("lhand_bbox_valid", Value("bool"), "The left-hand box is annotated (HumanData: box confidence > 0)."),
    ("rhand_bbox_xywh", _floats(4), "Right-hand box (xywh, pixels)."),
    ("rhand_bbox_valid", Value("bool"), "The right-hand box is annotated."),
    ("face_bbox_xywh", _floats(4), "Face box (xywh, pixels)."),
    ("face_bbox_valid", Value("bool"), "The face box is annotated."),
    # ---------------------------------------------------------------------------------------- SMPL-X
    ("gender", Value("string"), "Body model of the parameters: `neutral`, `male` or `female`."),
    ("smplx_valid", Value("bool"), "Global orient, body pose and betas are all annotated (a full body mesh)."),
    ("smplx_body_valid", Value("bool"), "`smplx_global_orient` and `smplx_body_pose` are annotated."),
    ("smplx_lhand_valid", Value("bool"), "`smplx_left_hand_pose` is annotated (not the all-zero placeholder)."),
    ("smplx_rhand_valid", Value("bool"), "`smplx_right_hand_pose` is annotated."),
    ("smplx_face_valid", Value("bool"), "`smplx_jaw_pose` and `smplx_expression` are annotated."),
    ("smplx_eyes_valid", Value("bool"), "`smplx_leye_pose` and `smplx_reye_pose` are annotated."),
    ("smplx_betas_valid", Value("bool"), "`smplx_betas` is annotated (`smplx_num_betas` > 0)."),
    ("smplx_transl_valid", Value("bool"), "`smplx_transl` is annotated."),
    ("smplx_global_orient", _floats(3), "Root orientation, axis-angle (3)."),
    ("smplx_body_pose", Array2D((NUM_BODY_POSE_JOINTS, 3), "float32"), "Body joint rotations, axis-angle (21, 3)."),
    ("smplx_left_hand_pose", Array2D((NUM_HAND_POSE_JOINTS, 3), "float32"), "Left-hand joint rotations (15, 3)."),
    ("smplx_right_hand_pose", Array2D((NUM_HAND_POSE_JOINTS, 3), "float32"), "Right-hand joint rotations (15, 3)."),
    ("smplx_flat_hand_mean", Value("bool"), "Hand poses are relative to the flat hand (else to the mean hand)."),
    (
        "smplx_lhand_root_valid",
        Value("bool"),
        "`smplx_lhand_root` is annotated (hand-only sets; an all-zero root is their placeholder for no hand).",
    ),
    (
        "smplx_lhand_root",
        _floats(3),
        "Left-hand MANO global orientation, axis-angle (3), as the source gives it (HumanData `lhand_root`).",
    ),
    ("smplx_rhand_root_valid", Value("bool"), "`smplx_rhand_root` is annotated."),
    ("smplx_rhand_root", _floats(3), "Right-hand MANO global orientation, axis-angle (3) (HumanData `rhand_root`)."),
    ("smplx_jaw_pose", _floats(3), "Jaw rotation, axis-angle (3)."),
    ("smplx_leye_pose", _floats(3), "Left-eye rotation (3); SMPLest-X does not pose the eyes."),
    ("smplx_reye_pose", _floats(3), "Right-eye rotation (3)."),
    ("smplx_betas", _floats(), "Shape coefficients, as many as annotated (often 10); empty when absent."),
    ("smplx_num_betas", Value("int32"), "Length of `smplx_betas`."),
    (
        "smplx_betas_neutral",
        _floats(),
        "Shape refitted to the neutral model (HumanData `betas_neutral`); empty when absent.",
    ),
    ("smplx_expression", _floats(), "Expression coefficients (often 10); empty when absent."),
    ("smplx_num_expression", Value("int32"), "Length of `smplx_expression`."),
    ("smplx_transl", _floats(3), "Translation of the body model in the camera frame (metres)."),
    # ---------------------------------------------------------------------------------------- keypoints
    (
        "keypoints_2d",
        Array2D((NUM_KEYPOINTS, 3), "float32"),
        "x, y (pixels) and confidence of the 144 `smplx_144` joints.",
    ),
    ("keypoints_2d_valid", Value("bool"), "The source has 2D keypoints (per-joint confidence still applies)."),
    ("keypoints_3d", Array2D((NUM_KEYPOINTS, 4), "float32"), "x, y, z (metres) and validity of the 144 joints."),
    ("keypoints_3d_valid", Value("bool"), "The source has 3D keypoints (per-joint validity still applies)."),
    # ------------------------------------------------------------------------------------------- camera
    ("camera_intrinsics_valid", Value("bool"), "`focal_length` and `principal_point` are known."),
    ("focal_length", _floats(2), "fx, fy in pixels."),
    ("principal_point", _floats(2), "cx, cy in pixels."),
    ("camera_extrinsics_valid", Value("bool"), "`camera_rotation` and `camera_translation` are given."),
    ("camera_rotation", Array2D((3, 3), "float32"), "World-to-camera rotation R (3, 3) as the source gives it."),
    ("camera_translation", _floats(3), "World-to-camera translation T (3)."),
)

EHPS_FEATURES = Features({name: feature for name, feature, _ in _FIELDS})
"""The ``datasets.Features`` of every EHPS dataset (column order as in ``FIELD_DOCS``)."""

FIELD_DOCS = MappingProxyType({name: doc for name, _, doc in _FIELDS})
"""Column name -> one-line meaning, units and shape."""

SMPLX_PARAMETER_SHAPES = MappingProxyType({
    # betas / expression are variable-length columns here (`smplx_num_betas`), not fixed-size.
    **{f"smplx_{name}": shape for name, shape in PARAMETER_SHAPES.items() if name not in ("betas", "expression")},
    "smplx_lhand_root": (3,),
    "smplx_rhand_root": (3,),
})  # fmt: skip
"""Per-sample shapes of the fixed-size SMPL-X columns: the pose layout of ``smplx_layout.PARAMETER_SHAPES``
(per joint: ``smplx_body_pose`` (21, 3); flat is a ``.reshape(63)``), as in model outputs and parameter files."""


def _feature_type_name(feature) -> str:
    if isinstance(feature, Array2D):
        return f"Array2D{tuple(feature.shape)} {feature.dtype}"
    if isinstance(feature, List):
        inner = feature.feature.dtype
        return f"List[{inner}]" + ("" if feature.length == -1 else f" ({feature.length})")
    if isinstance(feature, Image):
        return "Image"
    return feature.dtype


def field_table_markdown() -> str:
    """The schema as a Markdown table (column, type, meaning) — the text dataset cards embed."""
    rows = ["| column | type | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | {_feature_type_name(feature)} | {doc} |" for name, feature, doc in _FIELDS]
    return "\n".join(rows)


def check_features(features, where: str) -> None:
    """Raise ``ValueError`` naming the columns of ``features`` that differ from ``EHPS_FEATURES``."""
    if features is None:
        raise ValueError(f"{where}: the dataset declares no features; expected the EHPS schema {SCHEMA_VERSION}.")
    missing = [name for name in EHPS_FEATURES if name not in features]
    extra = [name for name in features if name not in EHPS_FEATURES]
    different = [name for name in EHPS_FEATURES if name in features and features[name] != EHPS_FEATURES[name]]
    if missing or extra or different:
        parts = [
            f"missing columns {missing}" if missing else "",
            f"unexpected columns {extra}" if extra else "",
            f"columns of another type {different}" if different else "",
        ]
        raise ValueError(
            f"{where} is not an EHPS dataset (schema {SCHEMA_VERSION}): " + "; ".join(p for p in parts if p) + "."
        )


def to_supervision_keypoints(keypoints):
    """(..., 144, C) keypoints in ``smplx_144`` -> (..., 137, C) in SMPLest-X's supervision order (numpy or torch)."""
    return keypoints[..., SUPERVISION_JOINT_INDICES, :]


__all__ = [
    "EHPS_FEATURES",
    "FIELD_DOCS",
    "KEYPOINT_CONVENTION",
    "KEYPOINT_NAMES",
    "NUM_KEYPOINTS",
    "SCHEMA_VERSION",
    "SMPLX_PARAMETER_SHAPES",
    "check_features",
    "field_table_markdown",
    "to_supervision_keypoints",
]

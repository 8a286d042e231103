"""Evaluation metrics of SMPLer-X / SMPLest-X, batched, in millimetres, and the Mean Primary Error (MPE).

Every metric reproduces the per-sample formula of the original evaluators (SMPLer-X ``data/humandata.py``,
``data/EHF/EHF.py``, ``data/AGORA/AGORA.py``, ``data/UBody/UBody.py``, ``data/PW3D/PW3D.py``; SMPLest-X
``datasets/humandata.py``), vectorised over the batch:

* Meshes come in metres, errors go out in millimetres: ``mean_i ||x_i - y_i|| * 1000`` per sample.
* Non-PA errors align only a translation, at a root *regressed from the posed mesh* with the neutral SMPL-X
  ``J_regressor`` (not the kinematic joints): the pelvis (row 0) for the whole mesh and the J14 joints, the wrist
  (rows 20/21) for each hand, the neck (row 12) for the face. Both roots are computed on the full meshes.
* PA errors use a similarity (Procrustes with scale, Umeyama) fitted on all the points of the scored set (the
  whole mesh, one part's vertices, or the regressed joints; masks never change the fit), mapping the prediction
  onto the target (not symmetric), as the original ``rigid_align``.
* A dataset's value is the mean of per-sample values. Each metric returns the per-sample values and a validity
  flag per sample (:class:`PerSampleErrors`); :class:`MetricAccumulator` keeps sums and counts, so a mean over
  many batches (or processes) equals the mean over all samples at once.

Masks reproduce the two ways the originals drop ground truth: per-point validity (UBody's in-image test — the
alignment still uses all points, the error is the mean over valid points, a sample without a valid point is
skipped) and per-sample part flags (SMPLest-X's ``lhand_valid`` / ``rhand_valid``). "Hands" is the mean of the
hands that are available in that sample — ``(l + r) / 2`` when both are, as in every original evaluator.
Where the original would produce NaN (no valid hand or point at all) the sample is skipped instead.

Example (index sets with the real sizes but random content, so it runs without the SMPL-X files; with them,
use ``MeshMetrics.from_body_model(SmplxBodyModel.from_directory(DIR))``)::

    >>> import torch
    >>> from smplest_hf.evaluation.metrics import MeshMetrics, MetricAccumulator, SmplxEvaluationSets, mean_primary_error
    >>> ids = torch.randperm(10475)
    >>> def rows(count):  # convex combinations of vertices, as regressor rows are
    ...     return torch.softmax(torch.randn(count, 10475, dtype=torch.float64), dim=1)
    >>> sets = SmplxEvaluationSets(joint_regressor=rows(55), j14_regressor=rows(14), left_hand_vertex_ids=ids[:778],
    ...                            right_hand_vertex_ids=ids[778:1556], face_vertex_ids=ids[1556:6579])
    >>> metrics = MeshMetrics(sets, ["pve_all", "pa_pve_all", "pve_hands"])   # index sets held once
    >>> target = torch.randn(2, 10475, 3, dtype=torch.float64) * 0.3          # (N, 10475, 3) metres
    >>> accumulator = MetricAccumulator()
    >>> accumulator.update(metrics(target + 0.01, target))                   # a 1 cm shift: gone after alignment
    >>> {name: round(value, 6) for name, value in accumulator.compute().items()}
    {'pve_all': 0.0, 'pa_pve_all': 0.0, 'pve_hands': 0.0}
    >>> mean_primary_error({"agora_val": 70.0, "ubody": 50.0})                # mm
    60.0
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Optional

import torch

from ..models.smplest_x.smpl_layout import NUM_SMPL_VERTICES
from ..models.smplest_x.smplx_layout import HAND_EVALUATION_JOINT_INDICES, NUM_SMPLX_JOINTS, SMPLX_JOINT_NAMES, SMPLX_VERTEX_JOINT_VERTEX_IDS

MILLIMETRES_PER_METRE = 1000.0

# Rows of the neutral SMPL-X `J_regressor` the originals align at (their `J_regressor_idx`).
PELVIS_ROW = SMPLX_JOINT_NAMES.index("pelvis")
NECK_ROW = SMPLX_JOINT_NAMES.index("neck")
LEFT_WRIST_ROW = SMPLX_JOINT_NAMES.index("left_wrist")
RIGHT_WRIST_ROW = SMPLX_JOINT_NAMES.index("right_wrist")

LSP14_JOINT_NAMES = (
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "neck", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)  # fmt: skip
"""The 14 LSP joints 3DPW is scored on, taken from SMPL's 24 (or SMPL-X's 55) kinematic joints."""

LSP14_ROWS = tuple(SMPLX_JOINT_NAMES.index(name) for name in LSP14_JOINT_NAMES)
"""(14) rows of LSP14 in the SMPL-X `J_regressor` *and* the SMPL one: the first 22 joints coincide
(the originals' ``[1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]``)."""

SMPL_PELVIS_ROW = 0  # SMPL's root joint, the 3DPW target's alignment root

SX_HAND_OUTLIER_MM = 100.0
"""SMPLest-X drops a hand's PA-MPJPE at and above this value (and more, see :func:`apply_sx_hand_outlier_rule`)."""


# =============================================================================================== alignment
def similarity_transform(
    source: torch.Tensor, target: torch.Tensor, *, with_scale: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares similarity taking ``source`` onto ``target`` (Umeyama), as the original's ``rigid_transform_3D``.

    ``H = (A - mean A)^T (B - mean B) / n = U S V^T``; ``R = V U^T``, and when ``det R < 0`` the last column of
    ``V`` and the last singular value change sign (a proper rotation, never a reflection); the scale is
    ``sum(S) / sum(var(A))`` with the population variance of the *source* points; ``t = mean B - c R mean A``.

    Args:
        source: (..., P, 3) points to move (the prediction).
        target: (..., P, 3) points to reach (the ground truth).
        with_scale: ``False`` fixes the scale at 1 (a rigid fit with the same rotation).

    Returns:
        scale (...,), rotation (..., 3, 3), translation (..., 3) with ``aligned = scale * source @ rotation^T + t``.
    """
    _check_same_points(source, target, "source", "target")
    num_points = source.shape[-2]
    source_mean = source.mean(dim=-2, keepdim=True)
    target_mean = target.mean(dim=-2, keepdim=True)
    source_centred = source - source_mean
    covariance = source_centred.transpose(-1, -2) @ (target - target_mean) / num_points
    left, singular_values, right_transposed = torch.linalg.svd(covariance)
    rotation = right_transposed.transpose(-1, -2) @ left.transpose(-1, -2)
    # Reflection fix decided on det(R), as the original (equivalent to the sign of det(H) for a full-rank H).
    sign = torch.where(torch.linalg.det(rotation) < 0, -1.0, 1.0).to(singular_values.dtype)
    last_sign = torch.ones_like(singular_values)
    last_sign[..., -1] = sign
    singular_values = singular_values * last_sign
    right_transposed = right_transposed * last_sign.unsqueeze(-1)  # scales the last row of V^T
    rotation = right_transposed.transpose(-1, -2) @ left.transpose(-1, -2)
    if with_scale:
        source_variance = source_centred.square().sum(dim=(-2, -1)) / num_points  # sum of per-axis variances
        scale = singular_values.sum(dim=-1) / source_variance
    else:
        scale = torch.ones_like(singular_values[..., 0])
    translation = target_mean.squeeze(-2) - scale.unsqueeze(-1) * (rotation @ source_mean.transpose(-1, -2)).squeeze(-1)
    return scale, rotation, translation


def procrustes_align(source: torch.Tensor, target: torch.Tensor, *, with_scale: bool = True) -> torch.Tensor:
    """(..., P, 3) ``source`` moved by its best similarity onto ``target`` (the original's ``rigid_align``)."""
    scale, rotation, translation = similarity_transform(source, target, with_scale=with_scale)
    return scale[..., None, None] * source @ rotation.transpose(-1, -2) + translation.unsqueeze(-2)


def align_at_root(points: torch.Tensor, points_root: torch.Tensor, target_root: torch.Tensor) -> torch.Tensor:
    """(..., P, 3) ``points`` translated so that ``points_root`` (..., 3) lands on ``target_root`` (..., 3)."""
    return points - points_root.unsqueeze(-2) + target_root.unsqueeze(-2)


def regress(regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Joints regressed from posed vertices: (J, V) or (V,) regressor, (..., V, 3) vertices -> (..., J, 3) or (..., 3)."""
    if regressor.shape[-1] != vertices.shape[-2]:
        raise ValueError(
            f"A regressor with {regressor.shape[-1]} vertex columns cannot be applied to meshes of "
            f"{vertices.shape[-2]} vertices (shape {tuple(vertices.shape)})."
        )
    return torch.matmul(regressor.to(vertices), vertices)


def point_errors_mm(points: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(..., P) Euclidean distance of each point to its target, metres in, millimetres out."""
    return torch.linalg.vector_norm(points - target, dim=-1) * MILLIMETRES_PER_METRE


# ======================================================================================= per-sample results
@dataclass(frozen=True)
class PerSampleErrors:
    """One metric for a batch: ``values`` (N,) in mm, NaN where ``valid`` (N,) bool is False.

    A dataset's figure is ``values[valid].mean()`` over all its samples; keep ``sum()`` and ``count()`` to
    combine batches exactly.
    """

    values: torch.Tensor
    valid: torch.Tensor

    def sum(self) -> float:
        """Sum of the valid values, in float64."""
        return float(torch.where(self.valid, self.values, 0.0).double().sum())

    def count(self) -> int:
        """Number of valid samples."""
        return int(self.valid.sum())

    def mean(self) -> float:
        """Mean over the valid samples (NaN when there is none)."""
        count = self.count()
        return self.sum() / count if count else math.nan


def per_sample_mean(
    point_errors: torch.Tensor, point_valid: Optional[torch.Tensor] = None, sample_valid: Optional[torch.Tensor] = None
) -> PerSampleErrors:
    """(N, P) point errors -> per-sample mean over the valid points (all points when ``point_valid`` is None).

    A sample counts only if it has at least one valid point and ``sample_valid`` (N,) allows it.
    """
    if point_valid is None:
        values = point_errors.mean(dim=-1)
        valid = torch.ones_like(values, dtype=torch.bool)
    else:
        point_valid = point_valid.to(device=point_errors.device, dtype=torch.bool)
        count = point_valid.sum(dim=-1)
        values = torch.where(point_valid, point_errors, 0.0).sum(dim=-1) / count.clamp(min=1)
        valid = count > 0
    if sample_valid is not None:
        valid = valid & sample_valid.to(device=valid.device, dtype=torch.bool)
    return PerSampleErrors(torch.where(valid, values, math.nan), valid)


def mean_of_available(*parts: PerSampleErrors) -> PerSampleErrors:
    """Per sample, the mean of the parts that are valid there (e.g. "Hands" from the left and right hand).

    This is the originals' ``(l + r) / 2`` when both hands are valid, SMPLest-X's flag-weighted
    ``(l * lv + r * rv) / (lv + rv)`` and UBody's "mean of the hands with a visible point".
    """
    valid = torch.stack([part.valid for part in parts])
    values = torch.where(valid, torch.stack([part.values for part in parts]), 0.0)
    count = valid.sum(dim=0)
    any_valid = count > 0
    return PerSampleErrors(torch.where(any_valid, values.sum(dim=0) / count.clamp(min=1), math.nan), any_valid)


def apply_sx_hand_outlier_rule(
    left: PerSampleErrors, right: PerSampleErrors, threshold_mm: float = SX_HAND_OUTLIER_MM
) -> tuple[PerSampleErrors, PerSampleErrors, PerSampleErrors]:
    """SMPLest-X's filter on hand PA-MPJPE (``datasets/humandata.py::evaluate``), reproduced as it runs.

    Inputs are the per-hand values with ``valid`` = the hand-valid flags. Per sample: a valid left hand below
    the threshold is kept; one *above* it ends the sample (no right-hand and no "Hands" entry); then the same for
    the right hand; "Hands" is the flag-weighted mean of *both raw values* unless the sample ended. A value of
    exactly ``threshold_mm`` is kept in neither hand list but does not end the sample.

    Returns:
        (left, right, hands) as kept by that rule.
    """
    left_stops = left.valid & (left.values > threshold_mm)
    kept_left = left.valid & (left.values < threshold_mm)
    kept_right = right.valid & ~left_stops & (right.values < threshold_mm)
    stops = left_stops | (right.valid & (right.values > threshold_mm))
    hands = mean_of_available(left, right)
    kept_hands = hands.valid & ~stops
    return (
        PerSampleErrors(torch.where(kept_left, left.values, math.nan), kept_left),
        PerSampleErrors(torch.where(kept_right, right.values, math.nan), kept_right),
        PerSampleErrors(torch.where(kept_hands, hands.values, math.nan), kept_hands),
    )


# ============================================================================================ pure metrics
def vertex_error_at_root(
    predicted_vertices: torch.Tensor,
    target_vertices: torch.Tensor,
    root_regressor: torch.Tensor,
    vertex_ids: Optional[torch.Tensor] = None,
    vertex_valid: Optional[torch.Tensor] = None,
    sample_valid: Optional[torch.Tensor] = None,
) -> PerSampleErrors:
    """MPVPE after aligning only a translation at a regressed root (pelvis / wrist / neck).

    ``err(Vp[ids] - r·Vp + r·Vg, Vg[ids])``: the root row ``r`` (V,) is applied to the *full* meshes.

    Args:
        predicted_vertices, target_vertices: (N, V, 3) meshes in metres, same topology.
        root_regressor: (V,) one row of the joint regressor.
        vertex_ids: (K,) the part's vertices (None: all).
        vertex_valid: (N, V) bool per-vertex validity of the target (None: all valid).
        sample_valid: (N,) bool, e.g. a hand-valid flag (None: all valid).
    """
    predicted_vertices, target_vertices = _promote(predicted_vertices, target_vertices)
    _check_meshes(predicted_vertices, target_vertices)
    predicted_root = regress(root_regressor, predicted_vertices)
    target_root = regress(root_regressor, target_vertices)
    predicted_part, target_part, part_valid = _select(predicted_vertices, target_vertices, vertex_ids, vertex_valid)
    aligned = align_at_root(predicted_part, predicted_root, target_root)
    return per_sample_mean(point_errors_mm(aligned, target_part), part_valid, sample_valid)


def vertex_error_procrustes(
    predicted_vertices: torch.Tensor,
    target_vertices: torch.Tensor,
    vertex_ids: Optional[torch.Tensor] = None,
    vertex_valid: Optional[torch.Tensor] = None,
    sample_valid: Optional[torch.Tensor] = None,
) -> PerSampleErrors:
    """PA-MPVPE: a similarity fitted on the part's vertices (all of them, valid or not), then the masked mean.

    Shapes as :func:`vertex_error_at_root`.
    """
    predicted_vertices, target_vertices = _promote(predicted_vertices, target_vertices)
    _check_meshes(predicted_vertices, target_vertices)
    predicted_part, target_part, part_valid = _select(predicted_vertices, target_vertices, vertex_ids, vertex_valid)
    aligned = procrustes_align(predicted_part, target_part)
    return per_sample_mean(point_errors_mm(aligned, target_part), part_valid, sample_valid)


def joint_error_at_root(
    predicted_vertices: torch.Tensor,
    target_vertices: torch.Tensor,
    joint_regressor: torch.Tensor,
    root_regressor: torch.Tensor,
    target_joint_regressor: Optional[torch.Tensor] = None,
    target_root_regressor: Optional[torch.Tensor] = None,
    joint_valid: Optional[torch.Tensor] = None,
    sample_valid: Optional[torch.Tensor] = None,
) -> PerSampleErrors:
    """MPJPE: the predicted *mesh* is translated root onto root, then joints are regressed from both meshes.

    ``err(J·(Vp - r·Vp + rg·Vg), Jg·Vg)``. The target may have another topology (3DPW: SMPL) with its own
    regressors; by default it uses the prediction's.

    Args:
        predicted_vertices: (N, V, 3); target_vertices: (N, Vg, 3), metres.
        joint_regressor: (J, V); root_regressor: (V,) for the prediction.
        target_joint_regressor: (J, Vg); target_root_regressor: (Vg,) (None: the prediction's).
        joint_valid: (N, J) bool; sample_valid: (N,) bool.
    """
    predicted_vertices, target_vertices = _promote(predicted_vertices, target_vertices)
    target_joint_regressor = joint_regressor if target_joint_regressor is None else target_joint_regressor
    target_root_regressor = root_regressor if target_root_regressor is None else target_root_regressor
    _check_batch(predicted_vertices, target_vertices)
    aligned_mesh = align_at_root(
        predicted_vertices, regress(root_regressor, predicted_vertices), regress(target_root_regressor, target_vertices)
    )
    predicted_joints = regress(joint_regressor, aligned_mesh)
    target_joints = regress(target_joint_regressor, target_vertices)
    _check_same_points(predicted_joints, target_joints, "predicted joints", "target joints")
    return per_sample_mean(point_errors_mm(predicted_joints, target_joints), joint_valid, sample_valid)


def joint_error_procrustes(
    predicted_vertices: torch.Tensor,
    target_vertices: torch.Tensor,
    joint_regressor: torch.Tensor,
    target_joint_regressor: Optional[torch.Tensor] = None,
    joint_valid: Optional[torch.Tensor] = None,
    sample_valid: Optional[torch.Tensor] = None,
) -> PerSampleErrors:
    """PA-MPJPE: joints regressed from the unaligned meshes, a similarity fitted on all of them, masked mean.

    Shapes as :func:`joint_error_at_root`.
    """
    predicted_vertices, target_vertices = _promote(predicted_vertices, target_vertices)
    target_joint_regressor = joint_regressor if target_joint_regressor is None else target_joint_regressor
    _check_batch(predicted_vertices, target_vertices)
    predicted_joints = regress(joint_regressor, predicted_vertices)
    target_joints = regress(target_joint_regressor, target_vertices)
    aligned = procrustes_align(predicted_joints, target_joints)
    return per_sample_mean(point_errors_mm(aligned, target_joints), joint_valid, sample_valid)


def hand_joint_regressor(joint_regressor: torch.Tensor, side: str) -> torch.Tensor:
    """(21, V) the original's ``make_hand_regressor``: wrist and finger joints from ``joint_regressor`` rows,
    fingertips as one-hot vertices, in MANO order (wrist, thumb 1-3 + tip, index, middle, ring, pinky)."""
    if side not in HAND_EVALUATION_JOINT_INDICES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}.")
    rows = []
    for output_index in HAND_EVALUATION_JOINT_INDICES[side].tolist():
        if output_index < NUM_SMPLX_JOINTS:
            rows.append(joint_regressor[output_index])
        else:
            one_hot = torch.zeros_like(joint_regressor[0])
            one_hot[int(SMPLX_VERTEX_JOINT_VERTEX_IDS[output_index - NUM_SMPLX_JOINTS])] = 1.0
            rows.append(one_hot)
    return torch.stack(rows)


# ===================================================================================== index sets and masks
@dataclass(frozen=True)
class SmplxEvaluationSets:
    """The regressors and vertex-id sets the metrics need, from the SMPL-X model files (see ``body_model.py``).

    Attributes:
        joint_regressor: (55, V) the *neutral* SMPL-X ``J_regressor`` (used for every mesh, any gender).
        j14_regressor: (14, V) ``SMPLX_to_J14.pkl``.
        left_hand_vertex_ids, right_hand_vertex_ids: (778,) ``MANO_SMPLX_vertex_ids.pkl``.
        face_vertex_ids: (5023,) ``SMPL-X__FLAME_vertex_ids.npy``.
        smpl_joint_regressor: (24, 6890) neutral SMPL ``J_regressor``; only for SMPL targets (3DPW).
        smplx_to_smpl: (6890, V) SMPL-X -> SMPL vertex matrix (``smplx2smpl.pkl['matrix']``); only for the
            SMPLest-X variant of 3DPW.
    """

    joint_regressor: torch.Tensor
    j14_regressor: torch.Tensor
    left_hand_vertex_ids: torch.Tensor
    right_hand_vertex_ids: torch.Tensor
    face_vertex_ids: torch.Tensor
    smpl_joint_regressor: Optional[torch.Tensor] = None
    smplx_to_smpl: Optional[torch.Tensor] = None

    def __post_init__(self):
        if self.joint_regressor.ndim != 2 or self.joint_regressor.shape[0] < NUM_SMPLX_JOINTS:
            raise ValueError(
                f"joint_regressor must be the ({NUM_SMPLX_JOINTS}, V) SMPL-X J_regressor, got shape "
                f"{tuple(self.joint_regressor.shape)}."
            )
        num_vertices = self.joint_regressor.shape[1]
        if self.j14_regressor.ndim != 2 or self.j14_regressor.shape[1] != num_vertices:
            raise ValueError(
                f"j14_regressor must be (14, {num_vertices}) like the SMPL-X J_regressor, got "
                f"{tuple(self.j14_regressor.shape)}."
            )
        for name in ("left_hand_vertex_ids", "right_hand_vertex_ids", "face_vertex_ids"):
            ids = getattr(self, name)
            if ids.ndim != 1 or ids.dtype.is_floating_point or ids.numel() == 0:
                raise ValueError(f"{name} must be a non-empty 1-D integer tensor, got {ids.dtype} {tuple(ids.shape)}.")
            if int(ids.min()) < 0 or int(ids.max()) >= num_vertices:
                raise ValueError(f"{name} holds ids outside [0, {num_vertices}) (min {int(ids.min())}, max {int(ids.max())}).")
        if self.smpl_joint_regressor is not None and self.smpl_joint_regressor.ndim != 2:
            raise ValueError(f"smpl_joint_regressor must be (24, 6890), got {tuple(self.smpl_joint_regressor.shape)}.")
        if self.smplx_to_smpl is not None and (
            self.smplx_to_smpl.ndim != 2 or self.smplx_to_smpl.shape[1] != num_vertices
        ):
            raise ValueError(
                f"smplx_to_smpl must be (6890, {num_vertices}), got {tuple(self.smplx_to_smpl.shape)}."
            )

    @property
    def num_vertices(self) -> int:
        return self.joint_regressor.shape[1]

    def to(self, device=None, dtype=None) -> "SmplxEvaluationSets":
        """A copy with the regressors in ``dtype`` and everything on ``device`` (ids stay int64)."""
        moved = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                value = value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device=device)
            moved[field.name] = value
        return SmplxEvaluationSets(**moved)

    @classmethod
    def from_body_model(cls, body_model, smpl_joint_regressor=None, smplx_to_smpl=None) -> "SmplxEvaluationSets":
        """Read the sets off a *neutral* :class:`~smplest_hf.models.smplest_x.body_model.SmplxBodyModel` (``joint_regressor``,
        ``j14_regressor``, ``hand_vertex_ids``, ``face_vertex_ids``); the SMPL arrays are for 3DPW only."""
        return cls(
            joint_regressor=_body_model_joint_regressor(body_model),
            j14_regressor=torch.as_tensor(body_model.j14_regressor),
            left_hand_vertex_ids=torch.as_tensor(body_model.hand_vertex_ids["left"], dtype=torch.int64),
            right_hand_vertex_ids=torch.as_tensor(body_model.hand_vertex_ids["right"], dtype=torch.int64),
            face_vertex_ids=torch.as_tensor(body_model.face_vertex_ids, dtype=torch.int64),
            smpl_joint_regressor=None if smpl_joint_regressor is None else torch.as_tensor(smpl_joint_regressor),
            smplx_to_smpl=None if smplx_to_smpl is None else torch.as_tensor(smplx_to_smpl),
        )


@dataclass(frozen=True)
class EvaluationMasks:
    """Which ground truth exists, per sample. Every field is optional (None: all valid).

    Attributes:
        vertex_valid: (N, V) bool per target vertex (UBody: the vertex projects inside the image).
        j14_valid: (N, 14) bool per J14 joint.
        left_hand_joint_valid, right_hand_joint_valid: (N, 21) bool per hand joint (MANO order).
        left_hand_valid, right_hand_valid: (N,) bool, the hand's GT exists (SMPLest-X ``lhand_valid``).
        face_valid: (N,) bool, the face GT exists (the originals never drop it; for other datasets).
    """

    vertex_valid: Optional[torch.Tensor] = None
    j14_valid: Optional[torch.Tensor] = None
    left_hand_joint_valid: Optional[torch.Tensor] = None
    right_hand_joint_valid: Optional[torch.Tensor] = None
    left_hand_valid: Optional[torch.Tensor] = None
    right_hand_valid: Optional[torch.Tensor] = None
    face_valid: Optional[torch.Tensor] = None

    def check(self, batch_size: int, num_vertices: int) -> None:
        """Raise ``ValueError`` naming the field whose shape does not fit the batch."""
        expected = {
            "vertex_valid": (batch_size, num_vertices),
            "j14_valid": (batch_size, 14),
            "left_hand_joint_valid": (batch_size, 21),
            "right_hand_joint_valid": (batch_size, 21),
            "left_hand_valid": (batch_size,),
            "right_hand_valid": (batch_size,),
            "face_valid": (batch_size,),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != shape:
                raise ValueError(f"EvaluationMasks.{name} must have shape {shape}, got {tuple(value.shape)}.")


# ================================================================================================ registry
MetricFunction = Callable[[torch.Tensor, torch.Tensor, SmplxEvaluationSets, EvaluationMasks], PerSampleErrors]

GROUND_TRUTH_MESHES = ("smplx", "smpl")
"""What a metric scores against: an SMPL-X mesh (10475 vertices) or an SMPL mesh (6890 vertices, 3DPW)."""


@dataclass(frozen=True)
class Metric:
    """One evaluation metric: everything known about it, in one registry entry (:data:`METRICS`).

    Attributes:
        name: registry key, e.g. ``"pa_pve_hands"``.
        title: short column title for tables (``"PA-PVE hands"``; "(SX)" marks the SMPLest-X variant).
        ground_truth: the mesh it scores against, one of :data:`GROUND_TRUTH_MESHES`.
        compute: ``fn(predicted_vertices, target_vertices, sets, masks) -> PerSampleErrors``.
        unit: of its values.
        needs_sets: the optional :class:`SmplxEvaluationSets` fields it reads (the SMPL model's); calling it
            without them raises ``ValueError`` naming the field.
    """

    name: str
    title: str
    ground_truth: str
    compute: MetricFunction
    unit: str = "mm"
    needs_sets: tuple = ()

    def __post_init__(self):
        if self.ground_truth not in GROUND_TRUTH_MESHES:
            raise ValueError(f"Metric {self.name!r}: ground_truth must be one of {GROUND_TRUTH_MESHES}, got {self.ground_truth!r}.")

    def __call__(
        self, predicted: torch.Tensor, target: torch.Tensor, sets: SmplxEvaluationSets, masks: EvaluationMasks
    ) -> PerSampleErrors:
        """(N, V, 3) predicted and (N, Vg, 3) target meshes in metres -> per-sample errors in :attr:`unit`."""
        for name in self.needs_sets:
            if getattr(sets, name) is None:
                raise ValueError(
                    f"Metric {self.name!r} scores an {self.ground_truth.upper()} ground truth and needs "
                    f"SmplxEvaluationSets.{name}; pass it when building the sets (from the SMPL model files)."
                )
        return self.compute(predicted, target, sets, masks)


def _pve_all(predicted, target, sets, masks):
    return vertex_error_at_root(predicted, target, sets.joint_regressor[PELVIS_ROW], None, masks.vertex_valid)


def _pa_pve_all(predicted, target, sets, masks):
    return vertex_error_procrustes(predicted, target, None, masks.vertex_valid)


def _hand_root_row(side):
    return LEFT_WRIST_ROW if side == "left" else RIGHT_WRIST_ROW


def _pve_hand(side):
    def metric(predicted, target, sets, masks):
        return vertex_error_at_root(
            predicted,
            target,
            sets.joint_regressor[_hand_root_row(side)],
            getattr(sets, f"{side}_hand_vertex_ids"),
            masks.vertex_valid,
            getattr(masks, f"{side}_hand_valid"),
        )

    return metric


def _pa_pve_hand(side):
    def metric(predicted, target, sets, masks):
        return vertex_error_procrustes(
            predicted,
            target,
            getattr(sets, f"{side}_hand_vertex_ids"),
            masks.vertex_valid,
            getattr(masks, f"{side}_hand_valid"),
        )

    return metric


def _pve_face(predicted, target, sets, masks):
    return vertex_error_at_root(
        predicted, target, sets.joint_regressor[NECK_ROW], sets.face_vertex_ids, masks.vertex_valid, masks.face_valid
    )


def _pa_pve_face(predicted, target, sets, masks):
    return vertex_error_procrustes(predicted, target, sets.face_vertex_ids, masks.vertex_valid, masks.face_valid)


def _mpjpe_j14(predicted, target, sets, masks):
    return joint_error_at_root(
        predicted, target, sets.j14_regressor, sets.joint_regressor[PELVIS_ROW], joint_valid=masks.j14_valid
    )


def _pa_mpjpe_j14(predicted, target, sets, masks):
    return joint_error_procrustes(predicted, target, sets.j14_regressor, joint_valid=masks.j14_valid)


def _pa_mpjpe_hand(side, drop_wrist=False):
    def metric(predicted, target, sets, masks):
        regressor = hand_joint_regressor(sets.joint_regressor, side)
        joint_valid = getattr(masks, f"{side}_hand_joint_valid")
        if drop_wrist:  # SMPLest-X scores 20 joints: its hand regressor output minus the wrist row
            regressor = regressor[1:]
            joint_valid = None if joint_valid is None else joint_valid[:, 1:]
        return joint_error_procrustes(
            predicted, target, regressor, joint_valid=joint_valid, sample_valid=getattr(masks, f"{side}_hand_valid")
        )

    return metric


def _combined(left_metric, right_metric):
    def metric(predicted, target, sets, masks):
        return mean_of_available(left_metric(predicted, target, sets, masks), right_metric(predicted, target, sets, masks))

    return metric


def _sx_hand_pa_mpjpe(which):
    position = ("left", "right", "hands").index(which)

    def metric(predicted, target, sets, masks):
        left = _pa_mpjpe_hand("left", drop_wrist=True)(predicted, target, sets, masks)
        right = _pa_mpjpe_hand("right", drop_wrist=True)(predicted, target, sets, masks)
        return apply_sx_hand_outlier_rule(left, right)[position]

    return metric


def _lsp14_rows(regressor):
    return regressor[list(LSP14_ROWS)]


def _mpjpe_lsp14(predicted, target, sets, masks):
    smpl_regressor = sets.smpl_joint_regressor
    return joint_error_at_root(
        predicted,
        target,
        _lsp14_rows(sets.joint_regressor),
        sets.joint_regressor[PELVIS_ROW],
        target_joint_regressor=_lsp14_rows(smpl_regressor),
        target_root_regressor=smpl_regressor[SMPL_PELVIS_ROW],
    )


def _pa_mpjpe_lsp14(predicted, target, sets, masks):
    smpl_regressor = sets.smpl_joint_regressor
    return joint_error_procrustes(
        predicted, target, _lsp14_rows(sets.joint_regressor), target_joint_regressor=_lsp14_rows(smpl_regressor)
    )


def _prediction_as_smpl(predicted, target, sets):
    """SMPLest-X's 3DPW path: pelvis onto the SMPL pelvis, then SMPL-X -> SMPL vertices."""
    smpl_regressor, conversion = sets.smpl_joint_regressor, sets.smplx_to_smpl
    predicted, target = _promote(predicted, target)
    _check_batch(predicted, target)
    aligned = align_at_root(
        predicted, regress(sets.joint_regressor[PELVIS_ROW], predicted), regress(smpl_regressor[SMPL_PELVIS_ROW], target)
    )
    return torch.matmul(conversion.to(aligned), aligned), target, smpl_regressor


def _pve_smpl(predicted, target, sets, masks):
    as_smpl, target, _ = _prediction_as_smpl(predicted, target, sets)
    _check_same_points(as_smpl, target, "converted prediction", "SMPL target")
    return per_sample_mean(point_errors_mm(as_smpl, target))


def _pa_pve_smpl(predicted, target, sets, masks):
    as_smpl, target, _ = _prediction_as_smpl(predicted, target, sets)
    _check_same_points(as_smpl, target, "converted prediction", "SMPL target")
    return per_sample_mean(point_errors_mm(procrustes_align(as_smpl, target), target))


def _mpjpe_lsp14_sx(predicted, target, sets, masks):
    as_smpl, target, smpl_regressor = _prediction_as_smpl(predicted, target, sets)
    regressor = _lsp14_rows(smpl_regressor)
    return per_sample_mean(point_errors_mm(regress(regressor, as_smpl), regress(regressor, target)))


def _pa_mpjpe_lsp14_sx(predicted, target, sets, masks):
    as_smpl, target, smpl_regressor = _prediction_as_smpl(predicted, target, sets)
    regressor = _lsp14_rows(smpl_regressor)
    target_joints = regress(regressor, target)
    return per_sample_mean(point_errors_mm(procrustes_align(regress(regressor, as_smpl), target_joints), target_joints))


_SMPL_SETS = ("smpl_joint_regressor",)
_SMPL_CONVERSION_SETS = ("smpl_joint_regressor", "smplx_to_smpl")

METRICS: Mapping[str, Metric] = MappingProxyType({metric.name: metric for metric in (
    # SMPL-X ground truth (EHF, AGORA, UBody, EgoBody, ARCTIC, RenBody, SynHand): both originals
    Metric("pve_all", "PVE all", "smplx", _pve_all),
    Metric("pa_pve_all", "PA-PVE all", "smplx", _pa_pve_all),
    Metric("pve_left_hand", "PVE L-hand", "smplx", _pve_hand("left")),
    Metric("pve_right_hand", "PVE R-hand", "smplx", _pve_hand("right")),
    Metric("pve_hands", "PVE hands", "smplx", _combined(_pve_hand("left"), _pve_hand("right"))),
    Metric("pa_pve_left_hand", "PA-PVE L-hand", "smplx", _pa_pve_hand("left")),
    Metric("pa_pve_right_hand", "PA-PVE R-hand", "smplx", _pa_pve_hand("right")),
    Metric("pa_pve_hands", "PA-PVE hands", "smplx", _combined(_pa_pve_hand("left"), _pa_pve_hand("right"))),
    Metric("pve_face", "PVE face", "smplx", _pve_face),
    Metric("pa_pve_face", "PA-PVE face", "smplx", _pa_pve_face),
    Metric("mpjpe_j14", "MPJPE body", "smplx", _mpjpe_j14),  # SMPLest-X only
    Metric("pa_mpjpe_j14", "PA-MPJPE body", "smplx", _pa_mpjpe_j14),
    Metric("pa_mpjpe_left_hand", "PA-MPJPE L-hand", "smplx", _pa_mpjpe_hand("left")),  # SMPLer-X: 21 joints
    Metric("pa_mpjpe_right_hand", "PA-MPJPE R-hand", "smplx", _pa_mpjpe_hand("right")),
    Metric("pa_mpjpe_hands", "PA-MPJPE hands", "smplx", _combined(_pa_mpjpe_hand("left"), _pa_mpjpe_hand("right"))),
    # SMPLest-X: 20 joints and its outlier rule
    Metric("pa_mpjpe_left_hand_sx", "PA-MPJPE L-hand (SX)", "smplx", _sx_hand_pa_mpjpe("left")),
    Metric("pa_mpjpe_right_hand_sx", "PA-MPJPE R-hand (SX)", "smplx", _sx_hand_pa_mpjpe("right")),
    Metric("pa_mpjpe_hands_sx", "PA-MPJPE hands (SX)", "smplx", _sx_hand_pa_mpjpe("hands")),
    # SMPL ground truth (3DPW). SMPLer-X PW3D: SMPL-X joints of the mesh against SMPL joints
    Metric("mpjpe_lsp14", "MPJPE (LSP-14)", "smpl", _mpjpe_lsp14, needs_sets=_SMPL_SETS),
    Metric("pa_mpjpe_lsp14", "PA-MPJPE (LSP-14)", "smpl", _pa_mpjpe_lsp14, needs_sets=_SMPL_SETS),
    # SMPLest-X: the prediction converted to SMPL vertices
    Metric("pve_smpl", "PVE (SMPL)", "smpl", _pve_smpl, needs_sets=_SMPL_CONVERSION_SETS),
    Metric("pa_pve_smpl", "PA-PVE (SMPL)", "smpl", _pa_pve_smpl, needs_sets=_SMPL_CONVERSION_SETS),
    Metric("mpjpe_lsp14_sx", "MPJPE (LSP-14, SX)", "smpl", _mpjpe_lsp14_sx, needs_sets=_SMPL_CONVERSION_SETS),
    Metric("pa_mpjpe_lsp14_sx", "PA-MPJPE (LSP-14, SX)", "smpl", _pa_mpjpe_lsp14_sx, needs_sets=_SMPL_CONVERSION_SETS),
)})  # fmt: skip
"""Metric name -> :class:`Metric`, the one registry: title, ground truth, unit and computation of each metric."""

SMPLX_TARGET_METRICS = tuple(name for name, metric in METRICS.items() if metric.ground_truth == "smplx")
"""Names of the metrics of an SMPL-X (10475-vertex) ground truth, in registry order."""

SMPL_TARGET_METRICS = tuple(name for name, metric in METRICS.items() if metric.ground_truth == "smpl")
"""Names of the metrics of an SMPL (6890-vertex) ground truth, in registry order."""


class MeshMetrics:
    """Holds the index sets once and computes named metrics for a batch.

    Args:
        sets: the regressors and vertex ids.
        metric_names: names from :data:`METRICS` (default: every SMPL-X-target metric).
    """

    def __init__(self, sets: SmplxEvaluationSets, metric_names: Sequence[str] = SMPLX_TARGET_METRICS):
        unknown = [name for name in metric_names if name not in METRICS]
        if unknown:
            raise ValueError(f"Unknown metric name(s) {unknown}; known: {sorted(METRICS)}.")
        self.sets = sets
        self.metric_names = tuple(metric_names)
        self._moved_sets: dict = {}

    @classmethod
    def from_body_model(cls, body_model, metric_names: Sequence[str] = SMPLX_TARGET_METRICS, **extra_sets) -> "MeshMetrics":
        """From a :class:`~smplest_hf.models.smplest_x.body_model.SmplxBodyModel`; ``extra_sets``: ``smpl_joint_regressor``,
        ``smplx_to_smpl`` for SMPL targets."""
        return cls(SmplxEvaluationSets.from_body_model(body_model, **extra_sets), metric_names)

    def __call__(
        self,
        predicted_vertices: torch.Tensor,
        target_vertices: torch.Tensor,
        masks: Optional[EvaluationMasks] = None,
    ) -> dict[str, PerSampleErrors]:
        """(N, V, 3) predicted and (N, Vg, 3) target meshes in metres -> {metric name: per-sample errors in mm}."""
        masks = EvaluationMasks() if masks is None else masks
        masks.check(target_vertices.shape[0], target_vertices.shape[-2])
        sets = self._sets_for(predicted_vertices)
        return {name: METRICS[name](predicted_vertices, target_vertices, sets, masks) for name in self.metric_names}

    def _sets_for(self, vertices: torch.Tensor) -> SmplxEvaluationSets:
        # Cast the regressors once per device/dtype rather than at every call.
        key = (vertices.device, vertices.dtype)
        if key not in self._moved_sets:
            self._moved_sets[key] = self.sets.to(device=vertices.device, dtype=vertices.dtype)
        return self._moved_sets[key]


class MetricAccumulator:
    """Sums and counts per metric, so the dataset mean is exact however the samples were batched or sharded.

    ``update`` takes a :class:`MeshMetrics` result; ``compute`` gives {name: mean in mm} (NaN for a metric with no
    valid sample); ``merge`` adds another accumulator (e.g. from another process).
    """

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def update(self, results: Mapping[str, PerSampleErrors]) -> None:
        for name, errors in results.items():
            self.sums[name] = self.sums.get(name, 0.0) + errors.sum()
            self.counts[name] = self.counts.get(name, 0) + errors.count()

    def merge(self, other: "MetricAccumulator") -> None:
        for name in other.sums:
            self.sums[name] = self.sums.get(name, 0.0) + other.sums[name]
            self.counts[name] = self.counts.get(name, 0) + other.counts[name]

    def compute(self) -> dict[str, float]:
        return {name: (self.sums[name] / count if count else math.nan) for name, count in self.counts.items()}


def mean_primary_error(per_benchmark: Mapping[str, float]) -> float:
    """MPE: the unweighted mean of each benchmark's primary error (mm), as the papers define it.

    The papers' set is AGORA-val, EgoBody-EgoSet, UBody, EHF (primary: ``pve_all``) and 3DPW (primary:
    ``mpjpe_lsp14``); which benchmarks and metrics enter is the caller's (the benchmark registry's) choice.

    Raises:
        ValueError: no benchmark, or a primary error that is not a finite number (named).
    """
    if not per_benchmark:
        raise ValueError("mean_primary_error needs at least one benchmark's primary error, got none.")
    values = []
    for name, value in per_benchmark.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            raise ValueError(f"The primary error of benchmark {name!r} is {value!r}; MPE needs a finite number (mm).")
        values.append(number)
    return sum(values) / len(values)


# ================================================================================================ helpers
def _body_model_joint_regressor(body_model) -> torch.Tensor:
    # The originals align every mesh, gendered ground truth included, with the *neutral* model's J_regressor.
    gender = getattr(body_model, "gender", "neutral")
    if gender != "neutral":
        raise ValueError(
            f"The metrics use the neutral SMPL-X J_regressor for every mesh, as the original evaluation does; got a "
            f"{gender!r} body model. Build the sets from SmplxBodyModel.from_directory(directory, gender='neutral')."
        )
    regressor = getattr(body_model, "joint_regressor", None)
    if regressor is None:
        raise ValueError(
            f"{type(body_model).__name__} has no `joint_regressor` (the SMPL-X J_regressor, (55, V)); pass "
            "SmplxEvaluationSets built from the model files instead."
        )
    return torch.as_tensor(regressor)


def _promote(predicted: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not (predicted.is_floating_point() and target.is_floating_point()):
        raise ValueError(f"Meshes must be floating point, got {predicted.dtype} and {target.dtype}.")
    dtype = torch.promote_types(predicted.dtype, target.dtype)
    return predicted.to(dtype), target.to(device=predicted.device, dtype=dtype)


def _check_batch(predicted: torch.Tensor, target: torch.Tensor) -> None:
    if predicted.ndim != 3 or target.ndim != 3 or predicted.shape[-1] != 3 or target.shape[-1] != 3:
        raise ValueError(
            f"Meshes must be (N, V, 3); got predicted {tuple(predicted.shape)} and target {tuple(target.shape)}."
        )
    if predicted.shape[0] != target.shape[0]:
        raise ValueError(f"Batch sizes differ: {predicted.shape[0]} predicted vs {target.shape[0]} target meshes.")


def _check_meshes(predicted: torch.Tensor, target: torch.Tensor) -> None:
    _check_batch(predicted, target)
    if predicted.shape[1] != target.shape[1]:
        raise ValueError(
            f"This metric compares vertex by vertex: the predicted meshes have {predicted.shape[1]} vertices, the "
            f"target meshes {target.shape[1]} (an SMPL target needs the 3DPW metrics: {SMPL_TARGET_METRICS})."
        )


def _check_same_points(source: torch.Tensor, target: torch.Tensor, source_name: str, target_name: str) -> None:
    if source.shape != target.shape or source.shape[-1] != 3 or source.ndim < 2:
        raise ValueError(
            f"{source_name} and {target_name} must both be (..., P, 3) with the same shape, got "
            f"{tuple(source.shape)} and {tuple(target.shape)}."
        )


def _select(predicted, target, vertex_ids, vertex_valid):
    if vertex_valid is not None and tuple(vertex_valid.shape) != tuple(target.shape[:2]):
        raise ValueError(f"vertex_valid must be (N, V) = {tuple(target.shape[:2])}, got {tuple(vertex_valid.shape)}.")
    if vertex_ids is None:
        return predicted, target, vertex_valid
    vertex_ids = vertex_ids.to(predicted.device)
    part_valid = None if vertex_valid is None else vertex_valid.to(predicted.device)[:, vertex_ids]
    return predicted[:, vertex_ids], target[:, vertex_ids], part_valid


__all__ = [
    "GROUND_TRUTH_MESHES",
    "METRICS",
    "SMPLX_TARGET_METRICS",
    "SMPL_TARGET_METRICS",
    "EvaluationMasks",
    "MeshMetrics",
    "Metric",
    "MetricAccumulator",
    "PerSampleErrors",
    "SmplxEvaluationSets",
    "align_at_root",
    "apply_sx_hand_outlier_rule",
    "hand_joint_regressor",
    "joint_error_at_root",
    "joint_error_procrustes",
    "mean_of_available",
    "mean_primary_error",
    "per_sample_mean",
    "point_errors_mm",
    "procrustes_align",
    "regress",
    "similarity_transform",
    "vertex_error_at_root",
    "vertex_error_procrustes",
]

"""Rotation conversions used by the model head, the losses and the exporters.

Conventions (shared with the original SMPLest-X so pretrained weights decode to the same poses):

* 6D rotation: six numbers viewed as a 3x2 matrix in row-major order; its two *columns* are Gram-Schmidt
  orthonormalised into the first two columns of the rotation matrix, the third is their cross product.
* Rotation matrix -> axis-angle goes through a quaternion with the case analysis of torchgeometry's
  ``rotation_matrix_to_quaternion`` (same branch thresholds, so near-degenerate matrices land on the same
  axis-angle as in the original), and NaNs are replaced by zeros as the original does.
* Axis-angle -> matrix is the quaternion form of Rodrigues' formula with the original's ``+1e-8`` guard, so
  the training losses compare exactly what the original compares.

All functions are batched over arbitrary leading dimensions and differentiable.
"""

import torch
from torch.nn import functional as F


def rotation_6d_to_matrix(rotation_6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) 6D rotations -> (..., 3, 3) rotation matrices."""
    as_3x2 = rotation_6d.reshape(*rotation_6d.shape[:-1], 3, 2)
    first_column, second_column = as_3x2[..., 0], as_3x2[..., 1]
    basis_1 = F.normalize(first_column, dim=-1)
    projection = (basis_1 * second_column).sum(dim=-1, keepdim=True)
    basis_2 = F.normalize(second_column - projection * basis_1, dim=-1)
    # An explicit dim: the original's torch.cross without dim crossed along the batch axis for batches of 3.
    basis_3 = torch.cross(basis_1, basis_2, dim=-1)
    return torch.stack((basis_1, basis_2, basis_3), dim=-1)


def matrix_to_quaternion(rotation_matrix: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z).

    Picks one of four numerically stable formulas from the diagonal, with torchgeometry's thresholds.
    """
    m = rotation_matrix.transpose(-1, -2)  # the case analysis below is written on the transpose
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]

    trace_0 = 1 + m00 - m11 - m22
    trace_1 = 1 - m00 + m11 - m22
    trace_2 = 1 - m00 - m11 + m22
    trace_3 = 1 + m00 + m11 + m22
    candidate_0 = torch.stack((m12 - m21, trace_0, m01 + m10, m20 + m02), dim=-1)
    candidate_1 = torch.stack((m20 - m02, m01 + m10, trace_1, m12 + m21), dim=-1)
    candidate_2 = torch.stack((m01 - m10, m20 + m02, m12 + m21, trace_2), dim=-1)
    candidate_3 = torch.stack((trace_3, m12 - m21, m20 - m02, m01 - m10), dim=-1)

    small_z = m22 < eps
    x_dominates_y = m00 > m11
    x_below_minus_y = m00 < -m11
    use_0 = small_z & x_dominates_y
    use_1 = small_z & ~x_dominates_y
    use_2 = ~small_z & x_below_minus_y

    quaternion = torch.where(
        use_0[..., None],
        candidate_0,
        torch.where(use_1[..., None], candidate_1, torch.where(use_2[..., None], candidate_2, candidate_3)),
    )
    trace = torch.where(use_0, trace_0, torch.where(use_1, trace_1, torch.where(use_2, trace_2, trace_3)))
    return quaternion / torch.sqrt(trace)[..., None] * 0.5


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3) axis-angle vectors (angle in radians times unit axis)."""
    vector = quaternion[..., 1:]
    sin_squared = (vector * vector).sum(dim=-1)
    sin_half_angle = torch.sqrt(sin_squared)
    cos_half_angle = quaternion[..., 0]
    # Keep the angle in [-pi, pi]: a quaternion and its negation are the same rotation.
    angle = 2.0 * torch.where(
        cos_half_angle < 0.0,
        torch.atan2(-sin_half_angle, -cos_half_angle),
        torch.atan2(sin_half_angle, cos_half_angle),
    )
    scale = torch.where(sin_squared > 0.0, angle / sin_half_angle, torch.full_like(sin_half_angle, 2.0))
    return vector * scale[..., None]


def matrix_to_axis_angle(rotation_matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle; NaNs (degenerate inputs) become 0 as in the original."""
    axis_angle = quaternion_to_axis_angle(matrix_to_quaternion(rotation_matrix))
    return torch.nan_to_num(axis_angle, nan=0.0)


def rotation_6d_to_axis_angle(rotation_6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) 6D rotations -> (..., 3) axis-angle."""
    return matrix_to_axis_angle(rotation_6d_to_matrix(rotation_6d))


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (quaternion form of Rodrigues' formula)."""
    # The 1e-8 keeps the zero rotation differentiable; it is the original's guard, kept for loss parity.
    angle = torch.linalg.vector_norm(axis_angle + 1e-8, dim=-1, keepdim=True)
    axis = axis_angle / angle
    half_angle = angle * 0.5
    quaternion = torch.cat((torch.cos(half_angle), torch.sin(half_angle) * axis), dim=-1)
    return quaternion_to_matrix(quaternion)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z), not necessarily unit -> (..., 3, 3) rotation matrices."""
    w, x, y, z = F.normalize(quaternion, dim=-1).unbind(-1)
    ww, xx, yy, zz = w * w, x * x, y * y, z * z
    wx, wy, wz = w * x, w * y, w * z
    xy, xz, yz = x * y, x * z, y * z
    rows = (
        ww + xx - yy - zz, 2 * xy - 2 * wz, 2 * wy + 2 * xz,
        2 * wz + 2 * xy, ww - xx + yy - zz, 2 * yz - 2 * wx,
        2 * xz - 2 * wy, 2 * wx + 2 * yz, ww - xx - yy + zz,
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*quaternion.shape[:-1], 3, 3)


def matrix_to_rotation_6d(rotation_matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 6) 6D rotations (inverse of :func:`rotation_6d_to_matrix`)."""
    return rotation_matrix[..., :, :2].reshape(*rotation_matrix.shape[:-2], 6)

"""Camera projection and rotation conversions: the one home of this maths for the model, the losses, the
processor, the pipelines, the video filters and the exporters.

Projection (`project_points`): the project's OpenCV pinhole, camera frame x right, y down, z forward; a point
``(X, Y, Z)`` lands on pixel ``(X / Z * fx + cx, Y / Z * fy + cy)`` (pixel centres at integers). The model's crop
keypoints and the processor's full-image keypoints add the original's ``KEYPOINT_DEPTH_EPSILON`` to the depth
first; the rasteriser and the camera placement divide by the true depth.

Rotation conventions (shared with the original SMPLest-X so pretrained weights decode to the same poses):

* 6D rotation: six numbers viewed as a 3x2 matrix in row-major order; its two *columns* are Gram-Schmidt
  orthonormalised into the first two columns of the rotation matrix, the third is their cross product.
* Rotation matrix -> axis-angle goes through a quaternion with the case analysis of torchgeometry's
  ``rotation_matrix_to_quaternion`` (same branch thresholds, so near-degenerate matrices land on the same
  axis-angle as in the original), and NaNs are replaced by zeros as the original does.
* Axis-angle -> matrix is the quaternion form of Rodrigues' formula with the original's ``+1e-8`` guard, so
  the training losses compare exactly what the original compares.
* Quaternions are (w, x, y, z); axis-angle vectors are the angle in radians times the unit axis.

All functions are batched over arbitrary leading dimensions; on tensors they are differentiable and keep the
dtype. `project_points` (plain arithmetic) and the quaternion functions also take NumPy arrays: their formulas
are written once against whichever array library holds the input, the quaternion functions reading anything
that is not a tensor as float64 NumPy. The NumPy callers (the video filters, the animation exporter, the camera
placement) thus keep NumPy's float64 arithmetic, whose last bits differ from torch's in cos, arctan2 and sums.

```python
>>> import torch
>>> from smplest_hf.models.smplest_x.geometry import axis_angle_to_quaternion, project_points
>>> project_points(torch.tensor([[0.5, -0.25, 2.0]]), torch.tensor([100.0, 100.0]), torch.tensor([32.0, 24.0]))
tensor([[57.0000, 11.5000]])
>>> axis_angle_to_quaternion([0.0, 0.0, 3.141592653589793]).round(6)  # NumPy in, NumPy float64 out
array([0., 0., 0., 1.])

```
"""

import math

import numpy as np
import torch
from torch.nn import functional as F

# The original's depth guard when projecting joints to keypoints: `X / (Z + 1e-4)`.
KEYPOINT_DEPTH_EPSILON = 1e-4


def _namespace(array):
    """(array library, array): torch for a tensor (kept as it is), else NumPy with the input read as float64."""
    if isinstance(array, torch.Tensor):
        return torch, array
    return np, np.asarray(array, dtype=np.float64)


def _sqrt(xp, squares):
    """`xp.sqrt(squares)` whose gradient at 0 is 0 rather than NaN (the where keeps sqrt's infinite slope out)."""
    positive = squares > 0.0
    return xp.where(positive, xp.sqrt(xp.where(positive, squares, 1.0)), 0.0)


# ------------------------------------------------------------------------------------------------ projection
def project_points(points, focal_length, principal_point, depth_epsilon: float = 0.0):
    """Pinhole projection of camera-frame points: ``X / (Z + depth_epsilon) * f + c``, in that operation order.

    Args:
        points: (..., 3) camera-frame points (tensor or NumPy array).
        focal_length: (..., 2) `(fx, fy)` in pixels, broadcastable against `points[..., :2]`: (2,) for one
            camera, (N, 1, 2) for one camera per row of (N, K, 3) points, (V, 2) for one per point.
        principal_point: (..., 2) `(cx, cy)` in pixels, broadcast like `focal_length`.
        depth_epsilon: added to the depth before dividing; `KEYPOINT_DEPTH_EPSILON` for the model's and the
            processor's keypoints, 0 (the true depth, not even a `+ 0.0`) for meshes.

    Returns:
        (..., 2) pixels `(u, v)` (column, row), same array type and dtype as the inputs' arithmetic gives.
    """
    depth = points[..., 2:]
    if depth_epsilon:
        depth = depth + depth_epsilon
    return points[..., :2] / depth * focal_length + principal_point


# ------------------------------------------------------------------------------------------------ rotations
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


def quaternion_to_axis_angle(quaternion):
    """(..., 4) quaternions (w, x, y, z), any length -> (..., 3) axis-angle with angles in [0, pi].

    Takes tensors or NumPy arrays (see the module docstring). A quaternion and its negation give the same vector.
    """
    xp, quaternion = _namespace(quaternion)
    vector = quaternion[..., 1:]
    sin_half_angle = _sqrt(xp, (vector * vector).sum(-1))  # times |q|, as is w: their ratio is what counts
    cos_half_angle = quaternion[..., 0]
    # For w < 0 turn through a negative angle about v (the rotation of -q, the same one), so |angle| <= pi.
    # Two arctan2 calls rather than negating q first: torch's arctan2 rounds differently on strided and
    # contiguous inputs, and these are the layouts the model's outputs were computed with.
    negative = cos_half_angle < 0.0
    angle = 2.0 * xp.where(
        negative, xp.arctan2(-sin_half_angle, -cos_half_angle), xp.arctan2(sin_half_angle, cos_half_angle)
    )
    # angle / sin(a/2) -> 2 as the angle -> 0; the inner where keeps 0 / 0 out (no NaN gradient, no warning).
    has_axis = sin_half_angle > 0.0
    scale = xp.where(has_axis, angle / xp.where(has_axis, sin_half_angle, 1.0), 2.0)
    return vector * scale[..., None]


def axis_angle_to_quaternion(axis_angle):
    """(..., 3) axis-angle -> (..., 4) unit quaternions (w, x, y, z); tensors or NumPy arrays (module docstring).

    Exact at the zero rotation (no guard term, unlike `axis_angle_to_matrix`).
    """
    xp, axis_angle = _namespace(axis_angle)
    half_angle = _sqrt(xp, (axis_angle * axis_angle).sum(-1))[..., None] / 2
    # sin(a/2) / a = sinc(a / (2 pi)) / 2 with the normalised sinc: exact and finite at a = 0.
    return xp.concatenate((xp.cos(half_angle), axis_angle * (xp.sinc(half_angle / math.pi) / 2)), -1)


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


# ------------------------------------------------------------------------------------------- quaternion signs
def align_quaternion_signs(quaternions, reference):
    """Negate the quaternions (..., 4) whose dot product with `reference` (..., 4) is negative (q and -q are one
    rotation; aligned, they can be blended). Tensors or NumPy arrays."""
    xp, quaternions = _namespace(quaternions)
    dot = (quaternions * reference).sum(-1)[..., None]
    return xp.where(dot < 0, -quaternions, quaternions)


def continuous_quaternions(quaternions, axis: int = 0):
    """A sequence of quaternions (..., 4) along `axis` with signs flipped so consecutive ones have a non-negative
    dot product (the sign pattern that interpolates along the short way). Tensors or NumPy arrays."""
    xp, quaternions = _namespace(quaternions)
    quaternions = xp.moveaxis(quaternions, axis, 0)
    flips = xp.where((quaternions[1:] * quaternions[:-1]).sum(-1)[..., None] < 0, -1.0, 1.0)
    signs = xp.concatenate((xp.ones_like(flips[:1]), xp.cumprod(flips, 0)))
    return xp.moveaxis(quaternions * signs, 0, axis)

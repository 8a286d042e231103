import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from smplest_hf.models.smplest_x.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_axis_angle,
    rotation_6d_to_matrix,
)


def _random_rotations(count, seed=0):
    return Rotation.random(count, random_state=seed)


def test_6d_to_matrix_is_gram_schmidt_of_the_columns():
    rotation_6d = torch.randn(50, 6, dtype=torch.float64)
    matrices = rotation_6d_to_matrix(rotation_6d).numpy()
    # Independent construction: the 6 numbers are a row-major 3x2 matrix; QR of it gives the same two columns.
    as_3x2 = rotation_6d.numpy().reshape(50, 3, 2)
    for matrix, columns in zip(matrices, as_3x2):
        first = columns[:, 0] / np.linalg.norm(columns[:, 0])
        second = columns[:, 1] - first.dot(columns[:, 1]) * first
        second /= np.linalg.norm(second)
        np.testing.assert_allclose(matrix[:, 0], first, atol=1e-12)
        np.testing.assert_allclose(matrix[:, 1], second, atol=1e-12)
        np.testing.assert_allclose(matrix[:, 2], np.cross(first, second), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(matrices), 1.0, atol=1e-12)


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_matrix_to_axis_angle_matches_scipy(batch):
    # batch 3 is where the original's dim-less torch.cross went wrong.
    rotations = _random_rotations(batch, seed=batch)
    matrices = torch.from_numpy(rotations.as_matrix())
    ours = matrix_to_axis_angle(matrices).numpy()
    np.testing.assert_allclose(ours, rotations.as_rotvec(), atol=1e-6)


def test_6d_round_trip_and_batch_of_three():
    rotations = _random_rotations(3, seed=7)
    rotation_6d = matrix_to_rotation_6d(torch.from_numpy(rotations.as_matrix()))
    np.testing.assert_allclose(rotation_6d_to_axis_angle(rotation_6d).numpy(), rotations.as_rotvec(), atol=1e-6)


def test_axis_angle_to_matrix_matches_scipy_and_handles_zero():
    rotvecs = _random_rotations(32, seed=3).as_rotvec()
    matrices = axis_angle_to_matrix(torch.from_numpy(rotvecs)).numpy()
    np.testing.assert_allclose(matrices, Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-7)
    identity = axis_angle_to_matrix(torch.zeros(2, 3, requires_grad=True))
    np.testing.assert_allclose(identity.detach().numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-7)
    identity.sum().backward()  # finite gradient at the zero rotation


def test_near_pi_rotations_and_leading_dimensions():
    axes = np.random.default_rng(0).normal(size=(4, 5, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    rotvecs = axes * (np.pi - 1e-4)
    matrices = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(4, 5, 3, 3)
    recovered = matrix_to_axis_angle(torch.from_numpy(matrices)).numpy()
    assert recovered.shape == (4, 5, 3)
    # Near pi the sign of the axis is ambiguous: compare rotations, not vectors.
    np.testing.assert_allclose(Rotation.from_rotvec(recovered.reshape(-1, 3)).as_matrix().reshape(4, 5, 3, 3), matrices, atol=1e-5)

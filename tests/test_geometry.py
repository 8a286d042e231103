import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from smplest_hf.models.smplest_x.geometry import (
    KEYPOINT_DEPTH_EPSILON,
    align_quaternion_signs,
    axis_angle_to_matrix,
    axis_angle_to_quaternion,
    continuous_quaternions,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    matrix_to_rotation_6d,
    project_points,
    quaternion_to_axis_angle,
    quaternion_to_matrix,
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


# ------------------------------------------------------------------------------------------------ projection
def _pinhole_loop(points, focal, principal, depth_epsilon):
    """The pinhole formula written out point by point in float64: u = fx X / (Z + eps) + cx, v likewise."""
    pixels = np.empty(points.shape[:-1] + (2,))
    for index in np.ndindex(points.shape[:-1]):
        x, y, z = points[index]
        (fx, fy), (cx, cy) = focal[index[:-1]], principal[index[:-1]]
        pixels[index] = (fx * x / (z + depth_epsilon) + cx, fy * y / (z + depth_epsilon) + cy)
    return pixels


def _people_and_cameras(seed, people=4, points=9):
    rng = np.random.default_rng(seed)
    xyz = np.concatenate((rng.uniform(-1, 1, (people, points, 2)), rng.uniform(2, 20, (people, points, 1))), axis=-1)
    return xyz, rng.uniform(300, 5000, (people, 2)), rng.uniform(50, 900, (people, 2))


@pytest.mark.parametrize("depth_epsilon", [0.0, KEYPOINT_DEPTH_EPSILON])
def test_projection_is_the_pinhole_formula(depth_epsilon):
    points, focal, principal = _people_and_cameras(0)
    expected = _pinhole_loop(points, focal, principal, depth_epsilon)
    as_tensors = [torch.from_numpy(array) for array in (points, focal[:, None], principal[:, None])]
    pixels = project_points(*as_tensors, depth_epsilon=depth_epsilon)
    assert pixels.shape == (4, 9, 2) and pixels.dtype == torch.float64
    np.testing.assert_allclose(pixels.numpy(), expected, rtol=1e-12, atol=1e-9)
    float32 = project_points(*(tensor.float() for tensor in as_tensors), depth_epsilon=depth_epsilon)
    assert float32.dtype == torch.float32
    np.testing.assert_allclose(float32.numpy(), expected, rtol=1e-5, atol=1e-3)
    # NumPy in, NumPy out, with the very same arithmetic.
    np.testing.assert_array_equal(project_points(points, focal[:, None], principal[:, None], depth_epsilon), pixels.numpy())


def test_depth_epsilon_moves_points_towards_the_principal_point():
    point, focal, principal = torch.tensor([0.5, -0.25, 2.0]), torch.tensor([100.0, 80.0]), torch.tensor([32.0, 24.0])
    np.testing.assert_allclose(project_points(point, focal, principal).numpy(), [57.0, 14.0])
    np.testing.assert_allclose(project_points(point, focal, principal, depth_epsilon=2.0).numpy(), [44.5, 19.0])


def test_batched_projection_equals_per_sample_projection():
    points, focal, principal = (torch.from_numpy(array).float() for array in _people_and_cameras(1, people=5, points=137))
    batched = project_points(points, focal[:, None], principal[:, None], depth_epsilon=KEYPOINT_DEPTH_EPSILON)
    for person in range(5):
        single = project_points(points[person], focal[person], principal[person], depth_epsilon=KEYPOINT_DEPTH_EPSILON)
        assert torch.equal(batched[person], single)
    # One camera per point (the rasteriser's layout) is the same arithmetic again.
    per_point = project_points(points.reshape(-1, 3), focal.repeat_interleave(137, 0), principal.repeat_interleave(137, 0))
    assert torch.equal(per_point.reshape(5, 137, 2), project_points(points, focal[:, None], principal[:, None]))


# ------------------------------------------------------------------------------------------------ quaternions
def _scipy_wxyz(rotations):
    xyzw = rotations.as_quat()
    return np.concatenate((xyzw[:, 3:], xyzw[:, :3]), axis=1)


def _same_rotation_quaternions(ours, theirs, atol):
    """q and -q are one rotation: compare up to the sign."""
    sign = np.sign((ours * theirs).sum(-1, keepdims=True))
    np.testing.assert_allclose(ours * sign, theirs, atol=atol)


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_quaternion_axis_angle_matrix_round_trips_match_scipy(dtype, atol):
    rotations = _random_rotations(256, seed=11)
    rotvecs, matrices, quaternions = rotations.as_rotvec(), rotations.as_matrix(), _scipy_wxyz(rotations)

    quaternion = axis_angle_to_quaternion(torch.from_numpy(rotvecs).to(dtype))
    assert quaternion.dtype == dtype
    _same_rotation_quaternions(quaternion.double().numpy(), quaternions, atol)
    np.testing.assert_allclose(quaternion_to_axis_angle(quaternion).double().numpy(), rotvecs, atol=atol * 4)
    np.testing.assert_allclose(quaternion_to_matrix(quaternion).double().numpy(), matrices, atol=atol)

    from_matrix = matrix_to_quaternion(torch.from_numpy(matrices).to(dtype))
    _same_rotation_quaternions(from_matrix.double().numpy(), quaternions, atol * 4)
    np.testing.assert_allclose(quaternion_to_axis_angle(from_matrix).double().numpy(), rotvecs, atol=atol * 4)
    # axis_angle_to_matrix carries the original's 1e-8 guard: 1e-7 is as close as it gets in float64.
    np.testing.assert_allclose(axis_angle_to_matrix(quaternion_to_axis_angle(from_matrix)).double().numpy(), matrices, atol=max(atol * 10, 1e-7))


def test_quaternion_to_axis_angle_folds_angles_into_pi_and_ignores_sign_and_length():
    rotations = _random_rotations(64, seed=12)
    quaternions = _scipy_wxyz(rotations)
    for variant in (quaternions, -quaternions, 3.5 * quaternions):
        np.testing.assert_allclose(quaternion_to_axis_angle(torch.from_numpy(variant)).numpy(), rotations.as_rotvec(), atol=1e-12)
    # A 3 pi / 2 turn about z is the -pi / 2 turn.
    turned = axis_angle_to_quaternion(torch.tensor([0.0, 0.0, 1.5 * np.pi], dtype=torch.float64))
    np.testing.assert_allclose(quaternion_to_axis_angle(turned).numpy(), [0.0, 0.0, -0.5 * np.pi], atol=1e-12)


def test_zero_rotation_is_exact_and_has_a_finite_gradient():
    zero = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    quaternion = axis_angle_to_quaternion(zero)
    assert quaternion.tolist() == [[1.0, 0.0, 0.0, 0.0]] * 2
    quaternion_to_axis_angle(quaternion).sum().backward()
    assert zero.grad.tolist() == [[1.0, 1.0, 1.0]] * 2  # the round trip is the identity map
    identity = torch.tensor([[1.0, 0.0, 0.0, 0.0]], requires_grad=True)
    quaternion_to_axis_angle(identity).sum().backward()
    assert identity.grad.tolist() == [[0.0, 2.0, 2.0, 2.0]]  # d(2 v)/dv at the identity


def test_numpy_inputs_give_float64_numpy_with_the_tensor_formula():
    rotvecs = _random_rotations(100, seed=13).as_rotvec()
    quaternion = axis_angle_to_quaternion(rotvecs.astype(np.float32))  # read as float64
    assert isinstance(quaternion, np.ndarray) and quaternion.dtype == np.float64
    np.testing.assert_allclose(quaternion, axis_angle_to_quaternion(torch.from_numpy(rotvecs.astype(np.float32)).double()).numpy(), atol=1e-15)
    back = quaternion_to_axis_angle(quaternion.tolist())  # lists too
    assert isinstance(back, np.ndarray) and back.dtype == np.float64
    np.testing.assert_allclose(back, rotvecs, atol=1e-6)
    np.testing.assert_allclose(Rotation.from_rotvec(back).as_matrix(), Rotation.from_rotvec(rotvecs).as_matrix(), atol=1e-6)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_quaternion_signs_are_aligned_and_made_continuous(as_tensor):
    rng = np.random.default_rng(14)
    # A slowly turning sequence (T=30, 2 joints) whose quaternions get random signs.
    rotvecs = np.linspace(0, 3 * np.pi, 30)[:, None, None] * np.array([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0]])
    smooth = _scipy_wxyz(Rotation.from_rotvec(rotvecs.reshape(-1, 3))).reshape(30, 2, 4)
    smooth = np.asarray(continuous_quaternions(smooth))
    signs = rng.choice([-1.0, 1.0], size=(30, 2, 1))
    signs[0] = 1.0
    flipped = smooth * signs
    wrap = torch.from_numpy if as_tensor else np.asarray
    restored = continuous_quaternions(wrap(flipped))
    assert type(restored) is type(wrap(flipped))
    np.testing.assert_array_equal(np.asarray(restored), smooth)
    assert ((smooth[1:] * smooth[:-1]).sum(-1) > 0).all()
    # Along another axis: joints first.
    np.testing.assert_array_equal(np.asarray(continuous_quaternions(wrap(flipped.transpose(1, 0, 2)), axis=1)), smooth.transpose(1, 0, 2))
    aligned = align_quaternion_signs(wrap(flipped), wrap(smooth))
    np.testing.assert_array_equal(np.asarray(aligned), smooth)

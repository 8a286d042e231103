"""SmplxBodyModel: values against an independent numpy SMPL-X, against smplx built as the original builds it,
buffers that never reach a state dict, and clear errors for missing or malformed files."""

import io
import os
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from smplest_hf.models.smplest_x import smplx_layout as joint_sets
from smplest_hf.models.smplest_x.body_model import BodyModelFileError, SmplxBodyModel, SmplxBodyModelOutput, clear_body_model_cache


NUM_VERTICES = 10475


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def model_dir(synthetic_body_model_dir):
    return synthetic_body_model_dir


@pytest.fixture(scope="module")
def model_arrays(model_dir):
    """The neutral model file's arrays as numpy float64 — the input of the independent reference."""
    with np.load(model_dir / "smplx" / "SMPLX_NEUTRAL.npz", allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files if archive[key].dtype.kind in "fiu"}


@pytest.fixture(scope="module")
def body_model_64(model_dir):
    return SmplxBodyModel.from_directory(model_dir, dtype=torch.float64)


@pytest.fixture(scope="module")
def body_model_32(model_dir):
    return SmplxBodyModel.from_directory(model_dir)


def random_parameters(batch_size, seed=0, dtype=torch.float64):
    """Random axis-angle poses with the head turned by several angles, so that every branch of the face-contour
    look-up (turned left, right, beyond +-39 degrees) is used."""
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape, scale=1.0):
        return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).to(dtype)

    global_orient = normal(batch_size, 3, scale=0.3)
    yaw = torch.linspace(-1.4, 1.4, batch_size, dtype=torch.float64)  # about -80..80 degrees
    global_orient[:, 1] += yaw.to(dtype)
    return dict(
        global_orient=global_orient,
        body_pose=normal(batch_size, 21, 3, scale=0.3),
        left_hand_pose=normal(batch_size, 15, 3, scale=0.3),
        right_hand_pose=normal(batch_size, 15, 3, scale=0.3),
        jaw_pose=normal(batch_size, 3, scale=0.2),
        betas=normal(batch_size, 10),
        expression=normal(batch_size, 10),
        transl=normal(batch_size, 3),
    )


# ------------------------------------------------------------------------- independent numpy SMPL-X (float64)
def _rodrigues(axis_angle):
    """(..., 3) -> (..., 3, 3), the textbook formula."""
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    axis = axis_angle / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    cross = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*axis.shape[:-1], 3, 3)
    sin, cos = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def numpy_smplx(arrays, parameters, flat_hand_mean=False):
    """SMPL-X forward in plain numpy: returns (vertices (N, V, 3), joints (N, 144, 3))."""
    from smplx.vertex_ids import vertex_ids  # the extra joints' vertices, from smplx itself

    p = {key: value.detach().double().numpy() for key, value in parameters.items()}
    batch_size = p["betas"].shape[0]
    hand_mean = np.zeros((2, 15, 3)) if flat_hand_mean else np.stack([arrays["hands_meanl"], arrays["hands_meanr"]]).reshape(2, 15, 3)
    pose = np.concatenate(
        [p["global_orient"][:, None], p["body_pose"], p["jaw_pose"][:, None], np.zeros((batch_size, 2, 3)),
         p["left_hand_pose"] + hand_mean[0], p["right_hand_pose"] + hand_mean[1]],
        axis=1,
    )  # fmt: skip
    shapedirs = arrays["shapedirs"].astype(np.float64)
    expression_start = 300 if shapedirs.shape[2] >= 400 else 10
    v_shaped = (
        arrays["v_template"]
        + np.einsum("vck,nk->nvc", shapedirs[:, :, :10], p["betas"])
        + np.einsum("vck,nk->nvc", shapedirs[:, :, expression_start : expression_start + 10], p["expression"])
    )
    rest_joints = np.einsum("jv,nvc->njc", arrays["J_regressor"], v_shaped)
    rotations = _rodrigues(pose)  # (N, 55, 3, 3)
    pose_feature = (rotations[:, 1:] - np.eye(3)).reshape(batch_size, -1)
    v_posed = v_shaped + np.einsum("np,vcp->nvc", pose_feature, arrays["posedirs"])

    parents = arrays["kintree_table"][0].astype(np.int64)
    world = np.zeros((batch_size, 55, 4, 4))
    for joint in range(55):
        local = np.zeros((batch_size, 4, 4))
        local[:, :3, :3] = rotations[:, joint]
        offset = rest_joints[:, joint] - (rest_joints[:, parents[joint]] if joint else 0)
        local[:, :3, 3], local[:, 3, 3] = offset, 1
        world[:, joint] = local if joint == 0 else world[:, parents[joint]] @ local
    posed_joints = world[:, :, :3, 3]
    skinning = world.copy()
    skinning[:, :, :3, 3] -= np.einsum("njab,njb->nja", world[:, :, :3, :3], rest_joints)
    blended = np.einsum("vj,njab->nvab", arrays["weights"], skinning)
    vertices = np.einsum("nvab,nvb->nva", blended[:, :, :3, :3], v_posed) + blended[:, :, :3, 3]

    ids = vertex_ids["smplx"]
    extra_names = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"]
    extra_names += [side + tip for side in "lr" for tip in ("thumb", "index", "middle", "ring", "pinky")]
    extra_joints = vertices[:, [ids[name] for name in extra_names]]

    faces = arrays["f"].astype(np.int64)

    def on_faces(face_ids, barycentric):  # (N, L) face ids, (N, L, 3) weights -> (N, L, 3) points
        corners = vertices[np.arange(batch_size)[:, None, None], faces[face_ids]]  # (N, L, 3 corners, 3)
        return np.einsum("nlk,nlkc->nlc", barycentric, corners)

    static = on_faces(
        np.broadcast_to(arrays["lmk_faces_idx"], (batch_size, 51)),
        np.broadcast_to(arrays["lmk_bary_coords"], (batch_size, 51, 3)),
    )
    # Contour: the neck's world rotation -> head turn about y in whole degrees -> row of the look-up table.
    neck = world[:, joint_sets.SMPLX_JOINT_NAMES.index("neck"), :3, :3]
    turn = np.degrees(np.arctan2(-neck[:, 2, 0], np.hypot(neck[:, 0, 0], neck[:, 1, 0])))
    degrees = np.round(np.minimum(-turn, 39)).astype(np.int64)
    row = np.where(degrees >= 0, degrees, np.where(degrees < -39, 78, 39 - degrees))
    contour = on_faces(arrays["dynamic_lmk_faces_idx"][row], arrays["dynamic_lmk_bary_coords"][row])

    joints = np.concatenate([posed_joints, extra_joints, static, contour], axis=1)
    return vertices + p["transl"][:, None], joints + p["transl"][:, None]


# ------------------------------------------------------------------------------------------------- values
def test_forward_matches_independent_numpy_smplx_float64(body_model_64, model_arrays):
    parameters = random_parameters(5, seed=1)
    expected_vertices, expected_joints = numpy_smplx(model_arrays, parameters)
    output = body_model_64(**parameters)
    assert isinstance(output, SmplxBodyModelOutput)
    assert output.vertices.shape == (5, NUM_VERTICES, 3) and output.vertices.dtype == torch.float64
    np.testing.assert_allclose(output.vertices.numpy(), expected_vertices, rtol=0, atol=1e-7)
    np.testing.assert_allclose(output.smplx_joints[:, :55].numpy(), expected_joints[:, :55], rtol=0, atol=1e-7)
    np.testing.assert_allclose(output.smplx_joints.numpy(), expected_joints, rtol=0, atol=1e-7)
    # The 137 supervision joints are the original's selection of the 144.
    np.testing.assert_array_equal(output.joints.numpy(), output.smplx_joints.numpy()[:, joint_sets.SUPERVISION_JOINT_INDICES])


def test_head_turns_use_several_contour_rows(body_model_64, model_arrays):
    # Guards the test above: its poses must reach different rows of the contour table (incl. the clamps).
    parameters = random_parameters(5, seed=1)
    neck_chain = body_model_64.neck_kinematic_chain.tolist()
    assert neck_chain == [12, 9, 6, 3, 0] or len(neck_chain) >= 2
    output = body_model_64(**parameters)
    turned_left = output.smplx_joints[0, -17:]
    turned_right = output.smplx_joints[-1, -17:]
    assert not torch.allclose(turned_left - output.smplx_joints[0, :1], turned_right - output.smplx_joints[-1, :1])


def test_forward_float32_is_close_to_the_float64_reference(body_model_32, model_arrays):
    parameters = random_parameters(3, seed=2, dtype=torch.float32)
    expected_vertices, expected_joints = numpy_smplx(model_arrays, parameters)
    output = body_model_32(**parameters)
    assert output.vertices.dtype == torch.float32
    scale = np.abs(expected_vertices).max()
    np.testing.assert_allclose(output.vertices.numpy(), expected_vertices, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(output.smplx_joints.numpy(), expected_joints, rtol=0, atol=1e-5 * scale)


def test_forward_equals_smplx_built_as_the_original_builds_it(model_dir, body_model_32):
    # human_models.py: smplx.create(path, 'smplx', gender='NEUTRAL', use_pca=False, use_face_contour=True, create_*=False),
    # called with axis-angle tensors, zero eye poses and transl.
    smplx = pytest.importorskip("smplx")
    creates = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "leye_pose", "reye_pose",
               "betas", "expression", "transl")  # fmt: skip
    layer = smplx.create(str(model_dir), "smplx", gender="NEUTRAL", use_pca=False, use_face_contour=True,
                         **{f"create_{name}": False for name in creates})  # fmt: skip
    p = random_parameters(4, seed=3, dtype=torch.float32)
    zero = torch.zeros(4, 3)
    with torch.no_grad():
        original = layer(betas=p["betas"], body_pose=p["body_pose"].reshape(4, -1), global_orient=p["global_orient"],
                         right_hand_pose=p["right_hand_pose"].reshape(4, -1), transl=p["transl"],
                         left_hand_pose=p["left_hand_pose"].reshape(4, -1), jaw_pose=p["jaw_pose"], leye_pose=zero,
                         reye_pose=zero, expression=p["expression"])  # fmt: skip
        ours = body_model_32(**p)
    torch.testing.assert_close(ours.vertices, original.vertices, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.smplx_joints, original.joints, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.joints, original.joints[:, list(joint_sets.SUPERVISION_JOINT_INDICES)], rtol=0, atol=1e-5)


def test_flat_hand_mean_uses_hand_poses_as_given(model_dir, body_model_64, model_arrays):
    flat = SmplxBodyModel.from_directory(model_dir, dtype=torch.float64, flat_hand_mean=True)
    parameters = random_parameters(2, seed=4)
    expected_vertices, _ = numpy_smplx(model_arrays, parameters, flat_hand_mean=True)
    np.testing.assert_allclose(flat(**parameters).vertices.numpy(), expected_vertices, rtol=0, atol=1e-7)
    # Offsets from the mean (default) + the mean == the same absolute hand pose.
    shifted = dict(parameters)
    shifted["left_hand_pose"] = parameters["left_hand_pose"] - torch.from_numpy(model_arrays["hands_meanl"]).double().reshape(15, 3)
    shifted["right_hand_pose"] = parameters["right_hand_pose"] - torch.from_numpy(model_arrays["hands_meanr"]).double().reshape(15, 3)
    torch.testing.assert_close(body_model_64(**shifted).vertices, flat(**parameters).vertices)


def test_translation_is_optional_and_only_shifts(body_model_64):
    parameters = random_parameters(2, seed=5)
    transl = parameters.pop("transl")
    untranslated = body_model_64(**parameters)
    translated = body_model_64(**parameters, transl=transl)
    torch.testing.assert_close(translated.vertices, untranslated.vertices + transl[:, None])
    torch.testing.assert_close(translated.joints, untranslated.joints + transl[:, None])


def test_flat_pose_vectors_are_accepted(body_model_64):
    parameters = random_parameters(2, seed=6)
    flat = {**parameters, "body_pose": parameters["body_pose"].reshape(2, 63),
            "left_hand_pose": parameters["left_hand_pose"].reshape(2, 45), "right_hand_pose": parameters["right_hand_pose"].reshape(2, 45)}  # fmt: skip
    torch.testing.assert_close(body_model_64(**flat).vertices, body_model_64(**parameters).vertices)


def test_empty_batch_gives_empty_outputs(body_model_32):
    parameters = {key: value[:0] for key, value in random_parameters(1, dtype=torch.float32).items()}
    output = body_model_32(**parameters)
    assert output.vertices.shape == (0, NUM_VERTICES, 3)
    assert output.joints.shape == (0, 137, 3) and output.smplx_joints.shape == (0, 144, 3)


def test_gradients_reach_every_input(body_model_32):
    parameters = {key: value.requires_grad_() for key, value in random_parameters(2, dtype=torch.float32).items()}
    output = body_model_32(**parameters)
    (output.vertices.square().mean() + output.joints.square().mean()).backward()
    for name, value in parameters.items():
        assert value.grad is not None and value.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "change, message",
    [
        ({"body_pose": torch.zeros(2, 20, 3)}, "body_pose"),
        ({"global_orient": torch.zeros(2, 2, 3)}, "global_orient"),
        ({"betas": torch.zeros(2, 11)}, "betas"),
        ({"expression": torch.zeros(3, 10)}, "batch size"),
        ({"transl": torch.zeros(2)}, "transl"),
    ],
)
def test_bad_inputs_are_named(body_model_32, change, message):
    parameters = {**random_parameters(2, dtype=torch.float32), **change}
    with pytest.raises(ValueError, match=message):
        body_model_32(**parameters)


def test_numpy_inputs_are_rejected_clearly(body_model_32):
    parameters = random_parameters(1, dtype=torch.float32)
    parameters["betas"] = parameters["betas"].numpy()
    with pytest.raises(TypeError, match="betas"):
        body_model_32(**parameters)


# --------------------------------------------------------------------------------- buffers and state dict
def test_state_dict_is_empty_even_inside_a_parent_module(model_dir):
    body_model = SmplxBodyModel.from_directory(model_dir)
    _ = body_model.j14_regressor, body_model.hand_vertex_ids, body_model.face_vertex_ids  # lazily added buffers too
    assert body_model.state_dict() == {}
    assert len(list(body_model.buffers())) > 10 and sum(b.numel() for b in body_model.buffers()) > NUM_VERTICES * 3

    parent = nn.Module()
    parent.linear = nn.Linear(2, 2)
    parent.body_model = body_model
    assert set(parent.state_dict()) == {"linear.weight", "linear.bias"}
    buffer = io.BytesIO()
    torch.save(parent.state_dict(), buffer)
    assert buffer.tell() < 10_000


def test_to_float64_moves_every_buffer(model_dir, model_arrays):
    body_model = SmplxBodyModel.from_directory(model_dir)  # float32
    _ = body_model.j14_regressor  # one lazy buffer before the move ...
    body_model = body_model.to(torch.float64)
    for name, buffer in body_model.named_buffers():
        assert buffer.dtype in (torch.float64, torch.int64), name
    assert body_model.v_template.dtype == torch.float64 and body_model.faces.dtype == torch.int64
    assert body_model.face_vertex_ids.dtype == torch.int64  # ... and one after it
    assert body_model.j14_regressor.dtype == torch.float64
    parameters = random_parameters(1, seed=7)
    assert body_model(**parameters).vertices.dtype == torch.float64


def test_faces_and_indices_are_int64(body_model_32, model_arrays):
    assert body_model_32.faces.shape == (20908, 3) and body_model_32.faces.dtype == torch.int64
    np.testing.assert_array_equal(body_model_32.faces.numpy(), model_arrays["f"].astype(np.int64))


# ------------------------------------------------------------------------------------- evaluation files
def test_j14_regression_equals_the_file_regressor(body_model_64, model_dir):
    with open(model_dir / "smplx" / "SMPLX_to_J14.pkl", "rb") as file:
        regressor = pickle.load(file, encoding="latin1")
    assert body_model_64.j14_regressor.shape == (14, NUM_VERTICES) == regressor.shape
    vertices = body_model_64(**random_parameters(2, seed=8)).vertices
    j14 = body_model_64.regress_j14(vertices)
    assert j14.shape == (2, 14, 3)
    np.testing.assert_allclose(j14.numpy(), np.einsum("jv,nvc->njc", regressor, vertices.numpy()), rtol=1e-10, atol=1e-10)
    # Each row is one joint: regressing a mesh translated by t moves every J14 joint by t (rows sum to 1).
    np.testing.assert_allclose(regressor.sum(axis=1), np.ones(14), atol=1e-6)
    with pytest.raises(ValueError, match="vertices"):
        body_model_64.regress_j14(vertices[:, :100])


def test_smplx_joint_regression_at_rest_is_the_rest_joints(body_model_64, model_arrays):
    vertices = body_model_64.v_template[None]
    np.testing.assert_allclose(
        body_model_64.regress_smplx_joints(vertices)[0].numpy(), model_arrays["J_regressor"] @ model_arrays["v_template"], atol=1e-10
    )


def test_hand_and_face_vertex_ids_equal_the_files(body_model_32, model_dir):
    with open(model_dir / "smplx" / "MANO_SMPLX_vertex_ids.pkl", "rb") as file:
        hands = pickle.load(file, encoding="latin1")
    ids = body_model_32.hand_vertex_ids
    assert set(ids) == {"left", "right"}
    for side in ("left", "right"):
        assert ids[side].dtype == torch.int64 and ids[side].shape == (778,)
        np.testing.assert_array_equal(ids[side].numpy(), hands[f"{side}_hand"])
    face = np.load(model_dir / "smplx" / "SMPL-X__FLAME_vertex_ids.npy")
    assert body_model_32.face_vertex_ids.dtype == torch.int64
    np.testing.assert_array_equal(body_model_32.face_vertex_ids.numpy(), face)


@pytest.fixture
def linked_model_dir(model_dir, tmp_path):
    """A body-model dir whose model files link to the session's, with the evaluation files left to each test."""
    (tmp_path / "smplx").mkdir()
    for gender in ("NEUTRAL", "MALE", "FEMALE"):
        (tmp_path / "smplx" / f"SMPLX_{gender}.npz").symlink_to(model_dir / "smplx" / f"SMPLX_{gender}.npz")
    return tmp_path


def test_missing_evaluation_files_fail_only_when_used(linked_model_dir):
    body_model = SmplxBodyModel.from_directory(linked_model_dir)
    assert body_model(**random_parameters(1, dtype=torch.float32)).vertices.shape == (1, NUM_VERTICES, 3)
    expected = str(linked_model_dir / "smplx" / "SMPLX_to_J14.pkl")
    with pytest.raises(BodyModelFileError, match="SMPLX_to_J14.pkl") as error:
        body_model.j14_regressor
    assert expected in str(error.value) and "expose" in str(error.value).lower()
    with pytest.raises(BodyModelFileError, match="MANO_SMPLX_vertex_ids.pkl"):
        body_model.hand_vertex_ids
    with pytest.raises(BodyModelFileError, match="SMPL-X__FLAME_vertex_ids.npy"):
        body_model.face_vertex_ids


class _RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (os.getpid, ())  # harmless, but a class no numpy-array pickle contains


def test_pickles_other_than_numpy_arrays_are_refused(linked_model_dir):
    path = linked_model_dir / "smplx" / "SMPLX_to_J14.pkl"
    path.write_bytes(pickle.dumps({"regressor": _RunsCodeWhenUnpickled()}))
    with pytest.raises(BodyModelFileError, match="refusing to load `posix.getpid`|refusing to load `os.getpid`") as error:
        SmplxBodyModel.from_directory(linked_model_dir).j14_regressor
    assert "SMPLX_to_J14.pkl" in str(error.value)


def test_numpy1_pickles_load(linked_model_dir):
    # Files pickled by numpy 1 / Python 2 name `numpy.core.multiarray`; numpy 2 renamed it `numpy._core`.
    regressor = np.random.default_rng(0).random((14, NUM_VERTICES))
    payload = pickle.dumps(regressor, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in payload
    (linked_model_dir / "smplx" / "SMPLX_to_J14.pkl").write_bytes(payload)
    body_model = SmplxBodyModel.from_directory(linked_model_dir, dtype=torch.float64)
    np.testing.assert_array_equal(body_model.j14_regressor.numpy(), regressor)


@pytest.mark.parametrize(
    "file_name, content, message",
    [
        ("SMPLX_to_J14.pkl", pickle.dumps(np.zeros((14, 100))), "shape"),
        ("SMPLX_to_J14.pkl", b"not a pickle", "not a pickle"),
        ("MANO_SMPLX_vertex_ids.pkl", pickle.dumps({"left_hand": np.arange(778)}), "right_hand"),
        ("MANO_SMPLX_vertex_ids.pkl", pickle.dumps({"left_hand": np.arange(778), "right_hand": np.arange(778) + 10475}), "vertex indices"),
    ],
)
def test_malformed_evaluation_files_are_named(linked_model_dir, file_name, content, message):
    (linked_model_dir / "smplx" / file_name).write_bytes(content)
    body_model = SmplxBodyModel.from_directory(linked_model_dir)
    with pytest.raises(BodyModelFileError, match=message) as error:
        body_model.j14_regressor if file_name.startswith("SMPLX_to") else body_model.hand_vertex_ids
    assert file_name in str(error.value)


# ------------------------------------------------------------------------------------ directories, genders
@pytest.mark.parametrize("gender", ["neutral", "male", "FEMALE"])
def test_every_gender_loads(model_dir, gender):
    body_model = SmplxBodyModel.from_directory(model_dir, gender=gender)
    assert body_model.gender == gender.lower()
    assert body_model.model_file.name == f"SMPLX_{gender.upper()}.npz"
    assert body_model(**random_parameters(1, dtype=torch.float32)).vertices.shape == (1, NUM_VERTICES, 3)


def test_unknown_gender_is_rejected(model_dir):
    with pytest.raises(ValueError, match="gender"):
        SmplxBodyModel.from_directory(model_dir, gender="kid")


def test_directory_from_environment(model_dir, monkeypatch):
    monkeypatch.setenv("SMPLX_MODEL_DIR", str(model_dir))
    assert SmplxBodyModel.from_directory().smplx_directory == model_dir / "smplx"


def test_no_directory_and_no_environment_explains_what_to_do(monkeypatch):
    monkeypatch.delenv("SMPLX_MODEL_DIR", raising=False)
    with pytest.raises(BodyModelFileError) as error:
        SmplxBodyModel.from_directory()
    message = str(error.value)
    for hint in ("SMPLX_MODEL_DIR", "body_model_dir", "--body-model", "https://smpl-x.is.tue.mpg.de", "make-synthetic-body-model"):
        assert hint in message


def test_the_smplx_folder_itself_is_accepted(model_dir):
    assert SmplxBodyModel.from_directory(model_dir / "smplx").model_file == model_dir / "smplx" / "SMPLX_NEUTRAL.npz"


def test_missing_directory_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(BodyModelFileError, match="does not exist") as error:
        SmplxBodyModel.from_directory(missing)
    assert str(missing) in str(error.value)


def test_directory_without_smplx_folder_is_named(tmp_path):
    with pytest.raises(BodyModelFileError) as error:
        SmplxBodyModel.from_directory(tmp_path)
    assert str(tmp_path / "smplx" / "SMPLX_NEUTRAL.npz") in str(error.value)


def test_missing_gender_file_is_named(tmp_path, model_dir):
    (tmp_path / "smplx").mkdir()
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.npz").symlink_to(model_dir / "smplx" / "SMPLX_NEUTRAL.npz")
    (tmp_path / "smplx" / "SMPLX_MALE.pkl").write_bytes(b"")
    with pytest.raises(BodyModelFileError) as error:
        SmplxBodyModel.from_directory(tmp_path, gender="male")
    message = str(error.value)
    assert str(tmp_path / "smplx" / "SMPLX_MALE.npz") in message and ".pkl" in message
    assert "https://smpl-x.is.tue.mpg.de" in message


# ----------------------------------------------------------------------------------- malformed model files
@pytest.fixture(scope="module")
def small_valid_arrays(model_arrays):
    """The neutral model's arrays with the big blend-shape bases zeroed, so that variants compress to little."""
    arrays = dict(model_arrays)
    arrays["posedirs"] = np.zeros(arrays["posedirs"].shape, np.float32)
    arrays["shapedirs"] = np.zeros(arrays["shapedirs"].shape[:2] + (20,), np.float32)
    return arrays


def _write_model(tmp_path, arrays=None, raw=None):
    path = tmp_path / "smplx" / "SMPLX_NEUTRAL.npz"
    path.parent.mkdir(exist_ok=True)
    if raw is not None:
        path.write_bytes(raw)
    else:
        np.savez_compressed(path, **arrays)
    clear_body_model_cache()
    return path


def test_small_valid_variant_loads(tmp_path, small_valid_arrays):
    # The base of the malformed variants below is itself valid (and uses the 10 shape + 10 expression layout).
    _write_model(tmp_path, small_valid_arrays)
    assert SmplxBodyModel.from_directory(tmp_path).expression_dirs.shape == (NUM_VERTICES, 3, 10)


@pytest.mark.parametrize(
    "variant, message",
    [
        (lambda a: {**a, "v_template": a["v_template"][:6890]}, r"`v_template` has shape \(6890, 3\)"),
        (lambda a: {k: v for k, v in a.items() if k != "posedirs"}, "lacks the SMPL-X arrays.*posedirs"),
        (lambda a: {**a, "weights": a["weights"][:, :24]}, "`weights` has shape"),
        (lambda a: {**a, "v_template": np.full_like(a["v_template"], np.nan)}, "NaN"),
        (lambda a: {**a, "f": a["f"].astype(np.float32)}, "`f` holds float32, expected integers"),
        (lambda a: {**a, "f": np.full_like(a["f"], 20000)}, "vertex indices"),
        (lambda a: {**a, "kintree_table": np.stack([np.arange(55)[::-1], np.arange(55)])}, "kintree_table"),
        (lambda a: {**a, "shapedirs": a["shapedirs"][:, :, :12]}, "shapedirs.*at least 20"),
        (lambda a: {**a, "hands_meanl": np.array([{"a": 1}], dtype=object)}, "hands_meanl"),
    ],
    ids=["vertex-count", "missing-key", "joint-count", "nan", "float-faces", "face-range", "tree", "few-components", "object-array"],
)
def test_malformed_model_file_is_named(tmp_path, small_valid_arrays, variant, message):
    path = _write_model(tmp_path, variant(small_valid_arrays))
    with pytest.raises(BodyModelFileError, match=message) as error:
        SmplxBodyModel.from_directory(tmp_path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("raw", [b"this is not a zip archive", b""], ids=["text", "empty"])
def test_model_file_that_is_not_an_npz_is_named(tmp_path, raw):
    path = _write_model(tmp_path, raw=raw)
    with pytest.raises(BodyModelFileError, match="not a readable .npz") as error:
        SmplxBodyModel.from_directory(tmp_path)
    assert str(path) in str(error.value)


def test_single_npy_instead_of_npz_is_named(tmp_path):
    path = tmp_path / "smplx" / "SMPLX_NEUTRAL.npz"
    path.parent.mkdir()
    with open(path, "wb") as file:
        np.save(file, np.zeros(3))
    with pytest.raises(BodyModelFileError, match="single array") as error:
        SmplxBodyModel.from_directory(tmp_path)
    assert str(path) in str(error.value)


def test_replaced_file_is_read_again(tmp_path, small_valid_arrays):
    _write_model(tmp_path, small_valid_arrays)
    first = SmplxBodyModel.from_directory(tmp_path).v_template.clone()
    moved = {**small_valid_arrays, "v_template": small_valid_arrays["v_template"] + 1.0}
    path = tmp_path / "smplx" / "SMPLX_NEUTRAL.npz"
    np.savez_compressed(path, **moved)
    os.utime(path, ns=(1, 1))  # a different modification time even on coarse-clock file systems
    torch.testing.assert_close(SmplxBodyModel.from_directory(tmp_path).v_template, first + 1.0)


@pytest.mark.parametrize("keep", [0.5, 0.99])  # zip directory gone / one member cut short
def test_a_truncated_model_file_is_named_and_its_file_closed(model_dir, tmp_path, keep):
    import gc
    import warnings

    (tmp_path / "smplx").mkdir()
    data = (model_dir / "smplx" / "SMPLX_NEUTRAL.npz").read_bytes()
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.npz").write_bytes(data[: int(len(data) * keep)])
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        with pytest.raises(BodyModelFileError, match="SMPLX_NEUTRAL.npz"):
            SmplxBodyModel.from_directory(tmp_path)
        gc.collect()  # an unclosed file warns when collected
    assert [w for w in warned if issubclass(w.category, ResourceWarning)] == []

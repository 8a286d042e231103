"""The synthetic SMPL-X-format body model: the official layout and array formats, loadable by
`smplest_hf.models.smplest_x.body_model` and by the `smplx` package alike, a sound mesh, a body that looks like a person
with its joints and vertex ids on the right body parts, and deterministic, fast writing."""

import pickle
import time

import numpy as np
import pytest
import torch

from smplest_hf import cli
from smplest_hf.models.smplest_x import smplx_layout as joint_sets
from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
from smplest_hf.synthetic import __main__ as synthetic_main
from smplest_hf.synthetic import body_model_files, build_synthetic_body_model


NUM_VERTICES, NUM_FACES = 10475, 20908
NAMES = joint_sets.SMPLX_JOINT_NAMES
# SMPL-X's kinematic tree as published in its model files (row 0 of `kintree_table`), typed in here as the
# expectation; the root's parent is stored as uint32's largest value.
OFFICIAL_PARENTS = [
    4294967295, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
]  # fmt: skip
EXPECTED_ARRAYS = {  # key -> (shape, dtype kinds)
    "v_template": ((NUM_VERTICES, 3), "f"),
    "f": ((NUM_FACES, 3), "iu"),
    "J_regressor": ((55, NUM_VERTICES), "f"),
    "kintree_table": ((2, 55), "iu"),
    "weights": ((NUM_VERTICES, 55), "f"),
    "posedirs": ((NUM_VERTICES, 3, 486), "f"),
    "shapedirs": ((NUM_VERTICES, 3, 400), "f"),
    "lmk_faces_idx": ((51,), "iu"),
    "lmk_bary_coords": ((51, 3), "f"),
    "dynamic_lmk_faces_idx": ((79, 17), "iu"),
    "dynamic_lmk_bary_coords": ((79, 17, 3), "f"),
    "hands_meanl": ((45,), "f"),
    "hands_meanr": ((45,), "f"),
    "hands_componentsl": ((45, 45), "f"),
    "hands_componentsr": ((45, 45), "f"),
}
VERTEX_JOINT_IDS = dict(zip(joint_sets.SMPLX_VERTEX_JOINT_NAMES, joint_sets.SMPLX_VERTEX_JOINT_VERTEX_IDS.tolist()))
FINGERS = ("thumb", "index", "middle", "ring", "pinky")


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def smplx_dir(synthetic_body_model_dir):
    return synthetic_body_model_dir / "smplx"


def _load(path):
    with np.load(path, allow_pickle=False) as archive:  # nothing pickled inside
        return {key: archive[key] for key in archive.files}


@pytest.fixture(scope="module")
def models(smplx_dir):
    return {gender: _load(smplx_dir / f"SMPLX_{gender.upper()}.npz") for gender in ("neutral", "male", "female")}


@pytest.fixture(scope="module")
def neutral(models):
    return models["neutral"]


@pytest.fixture(scope="module")
def joints(neutral):
    """(55, 3) rest joints as the model file regresses them."""
    return neutral["J_regressor"] @ neutral["v_template"]


@pytest.fixture(scope="module")
def hand_ids(smplx_dir):
    with open(smplx_dir / "MANO_SMPLX_vertex_ids.pkl", "rb") as file:
        return pickle.load(file)


@pytest.fixture(scope="module")
def face_ids(smplx_dir):
    return np.load(smplx_dir / "SMPL-X__FLAME_vertex_ids.npy", allow_pickle=False)


def joint(joints, name):
    return joints[NAMES.index(name)]


def triangle_areas(vertices, faces):
    corners = vertices[faces]
    return 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)


def connected_components(faces, count):
    """Component label of every vertex (union-find over the faces' edges)."""
    parent = np.arange(count)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in np.concatenate((faces[:, [0, 1]], faces[:, [1, 2]])):
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_a] = root_b
    return np.array([find(i) for i in range(count)])


# ------------------------------------------------------------------------------------------ layout, format
def test_official_layout_and_array_formats(smplx_dir, models):
    names = sorted(path.name for path in smplx_dir.iterdir())
    assert names == ["MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy", "SMPLX_FEMALE.npz", "SMPLX_MALE.npz",
                     "SMPLX_NEUTRAL.npz", "SMPLX_to_J14.pkl"]  # fmt: skip
    for gender, arrays in models.items():
        for key, (shape, kinds) in EXPECTED_ARRAYS.items():
            assert arrays[key].shape == shape, (gender, key)
            assert arrays[key].dtype.kind in kinds, (gender, key)
            if kinds == "f":
                assert np.isfinite(arrays[key]).all(), (gender, key)
        np.testing.assert_array_equal(arrays["kintree_table"][0], OFFICIAL_PARENTS)
        np.testing.assert_array_equal(arrays["kintree_table"][1], np.arange(55))
        np.testing.assert_allclose(arrays["weights"].sum(axis=1), 1.0, atol=1e-12)
        assert arrays["weights"].min() >= 0
        np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0, atol=1e-12)
        assert arrays["J_regressor"].min() >= 0  # every joint is a convex combination of vertices
        assert 0 <= arrays["f"].min() and arrays["f"].max() < NUM_VERTICES
        assert arrays["lmk_faces_idx"].max() < NUM_FACES and arrays["dynamic_lmk_faces_idx"].max() < NUM_FACES
        for key in ("lmk_bary_coords", "dynamic_lmk_bary_coords"):
            assert arrays[key].min() >= -1e-12
            np.testing.assert_allclose(arrays[key].sum(axis=-1), 1.0, atol=1e-9)
        for key in ("hands_componentsl", "hands_componentsr"):
            np.testing.assert_allclose(arrays[key] @ arrays[key].T, np.eye(45), atol=1e-10)  # an orthonormal basis
    for key in EXPECTED_ARRAYS:  # the genders share everything but their rest shape
        if key != "v_template":
            assert np.array_equal(models["male"][key], models["neutral"][key]), key
            assert np.array_equal(models["female"][key], models["neutral"][key]), key


def test_auxiliary_files(smplx_dir, hand_ids, face_ids):
    with open(smplx_dir / "SMPLX_to_J14.pkl", "rb") as file:
        j14 = pickle.load(file)
    assert isinstance(j14, np.ndarray) and j14.shape == (14, NUM_VERTICES) and j14.dtype.kind == "f"
    assert set(hand_ids) == {"left_hand", "right_hand"}
    for ids in hand_ids.values():
        assert ids.shape == (778,) and ids.dtype.kind in "iu" and len(np.unique(ids)) == 778
    assert not set(hand_ids["left_hand"].tolist()) & set(hand_ids["right_hand"].tolist())
    assert face_ids.shape == (5023,) and face_ids.dtype.kind in "iu" and len(np.unique(face_ids)) == 5023
    assert max(ids.max() for ids in (*hand_ids.values(), face_ids)) < NUM_VERTICES


# --------------------------------------------------------------------------------------------------- mesh
def test_mesh_is_sound_and_consistently_oriented(neutral, face_ids):
    vertices, faces = neutral["v_template"], neutral["f"].astype(np.int64)
    assert (
        (faces[:, 0] != faces[:, 1]).all()
        and (faces[:, 1] != faces[:, 2]).all()
        and (faces[:, 0] != faces[:, 2]).all()
    )
    assert triangle_areas(vertices, faces).min() > 1e-9  # no degenerate (zero-area) faces
    assert len(np.unique(faces)) == NUM_VERTICES  # every vertex is used

    # Consistent orientation: no directed edge twice; manifold: no undirected edge in more than two faces.
    directed = np.concatenate((faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]))
    assert len(np.unique(directed, axis=0)) == len(directed)
    undirected, uses = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    assert uses.max() == 2
    # The only hole is the mouth: 32 boundary edges, all on the face.
    boundary = undirected[uses == 1]
    assert len(boundary) == 32 and np.isin(boundary, face_ids).all()
    mouth = vertices[np.unique(boundary)]
    assert np.ptp(mouth[:, 1]) < 0.02 and np.ptp(mouth[:, 0]) < 0.07 and mouth[:, 2].min() > 0.07

    # Three pieces: the body and two eyeballs of 546 vertices each, as in SMPL-X.
    labels = connected_components(faces, NUM_VERTICES)
    sizes = sorted(np.unique(labels, return_counts=True)[1].tolist())
    assert sizes == [546, 546, NUM_VERTICES - 2 * 546]
    # Outward normals: each piece encloses a positive signed volume (the mouth slit hardly matters).
    corners = vertices[faces]
    signed = np.einsum("fi,fi->f", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])) / 6.0
    for label in np.unique(labels):
        volume = signed[labels[faces[:, 0]] == label].sum()
        assert volume > 0
    body_volume = signed[labels[faces[:, 0]] == np.bincount(labels).argmax()].sum()
    assert 0.04 < body_volume < 0.10  # cubic metres: a 1.72 m adult (about 65 kg of water)


# ------------------------------------------------------------------------------------------ loading
def random_parameters(batch_size, seed):
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape, scale):
        return torch.randn(*shape, generator=generator, dtype=torch.float64) * scale

    return dict(
        global_orient=normal(batch_size, 3, scale=0.4), body_pose=normal(batch_size, 21, 3, scale=0.3),
        left_hand_pose=normal(batch_size, 15, 3, scale=0.3), right_hand_pose=normal(batch_size, 15, 3, scale=0.3),
        jaw_pose=normal(batch_size, 3, scale=0.2), betas=normal(batch_size, 10, scale=1.0),
        expression=normal(batch_size, 10, scale=1.0), transl=normal(batch_size, 3, scale=0.5),
    )  # fmt: skip


def test_smplest_and_smplx_load_it_and_agree(synthetic_body_model_dir, smplx_dir):
    smplx = pytest.importorskip("smplx")
    ours = SmplxBodyModel.from_directory(synthetic_body_model_dir, dtype=torch.float64)
    layer = smplx.SMPLX(model_path=str(smplx_dir), gender="neutral", ext="npz", use_pca=False, use_face_contour=True,
                        num_betas=10, num_expression_coeffs=10, dtype=torch.float64)  # fmt: skip
    p = random_parameters(3, seed=0)
    zero = torch.zeros(3, 3, dtype=torch.float64)
    with torch.no_grad():
        theirs = layer(betas=p["betas"], expression=p["expression"], global_orient=p["global_orient"],
                       body_pose=p["body_pose"].reshape(3, -1), left_hand_pose=p["left_hand_pose"].reshape(3, -1),
                       right_hand_pose=p["right_hand_pose"].reshape(3, -1), jaw_pose=p["jaw_pose"], leye_pose=zero,
                       reye_pose=zero, transl=p["transl"])  # fmt: skip
        mine = ours(**p)
    assert theirs.vertices.shape == (3, NUM_VERTICES, 3) and theirs.joints.shape == (3, 144, 3)
    torch.testing.assert_close(mine.vertices, theirs.vertices, rtol=0, atol=1e-6)  # smplx adds 1e-8 to angles
    torch.testing.assert_close(mine.smplx_joints, theirs.joints, rtol=0, atol=1e-6)
    # and the pose really changed the body: far from the rest mesh
    assert (mine.vertices - p["transl"][:, None] - ours.v_template).abs().max() > 0.2


# ------------------------------------------------------------------------------------------ anatomy
def test_skeleton_is_a_standing_person_in_smplx_coordinates(joints, neutral):
    height = lambda name: joint(joints, name)[1]  # noqa: E731
    assert height("head") > height("neck") > height("spine3") > height("spine2") > height("spine1") > height("pelvis")
    for side in ("left", "right"):
        assert (
            height("pelvis")
            > height(f"{side}_hip")
            > height(f"{side}_knee")
            > height(f"{side}_ankle")
            > height(f"{side}_foot") - 0.1
        )
    assert -0.45 < height("pelvis") < -0.25  # SMPL-X's origin is in the chest, the pelvis about 0.35 m below
    vertices = neutral["v_template"]
    assert (
        1.6 < np.ptp(vertices[:, 1]) < 1.85
        and -1.35 < vertices[:, 1].min() < -1.15
        and 0.35 < vertices[:, 1].max() < 0.55
    )
    # Left is +x, and the body is its own mirror image.
    for name in NAMES:
        if name.startswith("left_"):
            mirror = "right_" + name[len("left_") :]
            assert joint(joints, name)[0] > 0.02 > -0.02 > joint(joints, mirror)[0], name
            np.testing.assert_allclose(joint(joints, name) * (-1, 1, 1), joint(joints, mirror), atol=1e-9)
    # T-pose: arm joints out along x at shoulder height, the wrist at the end of the arm, hands beyond it.
    shoulder, elbow, wrist = (joint(joints, f"left_{name}") for name in ("shoulder", "elbow", "wrist"))
    assert 0.12 < shoulder[0] < elbow[0] - 0.2 < wrist[0] - 0.4 and abs(wrist[1] - shoulder[1]) < 0.1
    arm = np.flatnonzero(vertices[:, 1] > -0.1)
    assert abs(wrist[0] + 0.19 - vertices[arm, 0].max()) < 0.03  # a hand's length beyond the wrist
    for finger in ("index", "middle", "pinky", "ring", "thumb"):
        chain = np.array([joint(joints, f"left_{finger}{k}") for k in (1, 2, 3)])
        assert (chain[:, 0] > wrist[0]).all() and (np.diff(chain[:, 0]) > 0).all(), finger
    # Eyes in front of the head joint, between the ears' height and the top; jaw below the eyes.
    eye, head = joint(joints, "left_eye_smplhf"), joint(joints, "head")
    assert eye[2] > head[2] + 0.05 and eye[1] > head[1] and joint(joints, "jaw")[1] < eye[1]


def test_smplx_vertex_joints_are_on_the_right_body_parts(neutral, joints):
    vertices = neutral["v_template"]
    at = {name: vertices[index] for name, index in VERTEX_JOINT_IDS.items()}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        for finger in FINGERS:
            tip, last_joint = at[f"{side}_{finger}"], joint(joints, f"{side}_{finger}3")
            direction = last_joint - joint(joints, f"{side}_{finger}2")
            assert (tip - last_joint) @ direction > 0  # beyond the finger's last joint ...
            distances = np.linalg.norm(joints - tip, axis=1)
            assert NAMES[int(np.argmin(distances))] == f"{side}_{finger}3"  # ... and closest to it
            assert 0.01 < distances.min() < 0.03
        ankle = joint(joints, f"{side}_ankle")
        big, small, heel = at[f"{side}_big_toe"], at[f"{side}_small_toe"], at[f"{side}_heel"]
        floor = vertices[:, 1].min()
        assert big[2] > ankle[2] + 0.15 and small[2] > ankle[2] + 0.1 and heel[2] < ankle[2] - 0.03
        assert max(big[1], small[1], heel[1]) < floor + 0.04
        assert sign * small[0] > sign * big[0]  # the big toe is on the inside of the foot
        eye_centre, eye_vertex = joint(joints, f"{side}_eye_smplhf"), at[f"{side}_eye"]
        assert 0.008 < np.linalg.norm(eye_vertex - eye_centre) < 0.015 and eye_vertex[2] > eye_centre[2]  # the pupil
        ear = at[f"{side}_ear"]
        assert sign * ear[0] > 0.07 and abs(ear[1] - eye_centre[1]) < 0.04 and ear[2] < eye_centre[2] - 0.05
    nose = at["nose"]
    assert (
        abs(nose[0]) < 0.003
        and nose[2] > at["left_eye"][2] + 0.02
        and joint(joints, "jaw")[1] < nose[1] < at["left_eye"][1]
    )
    head = vertices[vertices[:, 1] > joint(joints, "neck")[1]]
    assert nose[2] == pytest.approx(head[:, 2].max(), abs=0.003)  # the tip of the nose is the front-most point


def test_hand_and_face_vertex_sets_lie_on_the_hands_and_head(neutral, joints, hand_ids, face_ids):
    vertices = neutral["v_template"]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        ids = hand_ids[f"{side}_hand"]
        beyond = sign * (vertices[ids, 0] - joint(joints, f"{side}_wrist")[0])
        assert beyond.min() > 0 and beyond.max() > 0.17  # from the wrist to the finger tips
        assert {VERTEX_JOINT_IDS[f"{side}_{finger}"] for finger in FINGERS} <= set(ids.tolist())
    assert vertices[face_ids, 1].min() > joint(joints, "neck")[1]
    assert {VERTEX_JOINT_IDS[name] for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")} <= set(
        face_ids.tolist()
    )
    # The face set is the whole head: every vertex above the mouth, the eyeballs included, belongs to it.
    mouth = np.mean([vertices[VERTEX_JOINT_IDS["nose"], 1], joint(joints, "jaw")[1]]) - 0.03
    assert set(np.flatnonzero(vertices[:, 1] > mouth).tolist()) <= set(face_ids.tolist())


def test_face_landmarks_sit_on_the_face_in_order(neutral, face_ids):
    vertices, faces = neutral["v_template"], neutral["f"].astype(np.int64)
    static = np.einsum("lk,lkc->lc", neutral["lmk_bary_coords"], vertices[faces[neutral["lmk_faces_idx"]]])
    contour = np.einsum(
        "rlk,rlkc->rlc", neutral["dynamic_lmk_bary_coords"], vertices[faces[neutral["dynamic_lmk_faces_idx"]]]
    )
    assert np.isin(faces[neutral["lmk_faces_idx"]], face_ids).all()
    assert np.isin(faces[neutral["dynamic_lmk_faces_idx"]], face_ids).all()
    at = dict(zip(joint_sets.SMPLX_FACE_LANDMARK_NAMES, static))
    for name, point in at.items():  # left landmarks on the left (+x), right ones on the right
        if name.startswith("left_"):
            assert point[0] > 0.005 and np.allclose(point * (-1, 1, 1), at["right_" + name[5:]], atol=0.004), name
    assert at["right_eye_brow3"][1] > at["right_eye2"][1] > at["right_eye6"][1] > at["nose4"][1] > at["nose_middle"][1]
    assert at["nose_middle"][1] > at["mouth_top"][1] > at["lip_top"][1] > at["lip_bottom"][1] > at["mouth_bottom"][1]
    assert at["nose4"][2] > at["nose1"][2] and at["left_mouth_1"][0] > at["left_mouth_2"][0] > at["mouth_top"][0]
    # Contour: right ear -> chin -> left ear along the jaw, below the mouth in the middle; a head turned
    # further to one side moves that side's points towards the chin.
    middle = contour[0, 8]
    assert (
        middle[1] < at["mouth_bottom"][1] - 0.02
        and abs(middle[0]) < 0.01
        and middle[1] < contour[0, :, 1].min() + 0.003
    )
    assert contour[0, 0, 0] < -0.06 and contour[0, -1, 0] > 0.06 and (contour[0, :, 1] < at["right_eye6"][1]).all()
    assert contour[39, 0, 0] > contour[0, 0, 0] + 0.005  # turned 39 degrees right: right end nearer the chin
    assert contour[78, -1, 0] < contour[0, -1, 0] - 0.005  # turned 39 degrees left: left end nearer the chin


def test_j14_regressor_gives_the_lsp_joints(smplx_dir, neutral, joints):
    with open(smplx_dir / "SMPLX_to_J14.pkl", "rb") as file:
        j14 = pickle.load(file) @ neutral["v_template"]
    smplx_names = ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
                   "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck"]  # fmt: skip
    for row, (name, smplx_name) in enumerate(zip(joint_sets.J14_JOINT_NAMES, smplx_names)):
        np.testing.assert_allclose(j14[row], joint(joints, smplx_name), atol=1e-9, err_msg=name)
    head_top = j14[joint_sets.J14_JOINT_NAMES.index("Head_top")]
    assert (
        abs(head_top[0]) < 1e-9
        and neutral["v_template"][:, 1].max() - 0.01 < head_top[1] <= neutral["v_template"][:, 1].max()
    )


def test_bending_the_left_elbow_moves_only_the_left_forearm_and_hand(
    synthetic_body_model_dir, neutral, joints, hand_ids
):
    body_model = SmplxBodyModel.from_directory(synthetic_body_model_dir, dtype=torch.float64)
    zeros = {name: torch.zeros(1, *shape, dtype=torch.float64) for name, shape in
             (("global_orient", (3,)), ("left_hand_pose", (15, 3)), ("right_hand_pose", (15, 3)), ("jaw_pose", (3,)),
              ("betas", (10,)), ("expression", (10,)))}  # fmt: skip
    body_pose = torch.zeros(1, 21, 3, dtype=torch.float64)
    rest = body_model(body_pose=body_pose, **zeros).vertices[0].numpy()
    body_pose[0, NAMES.index("left_elbow") - 1] = torch.tensor([0.0, -np.pi / 2, 0.0])  # forearm forwards (+z)
    bent = body_model(body_pose=body_pose, **zeros).vertices[0].numpy()
    moved = np.linalg.norm(bent - rest, axis=1) > 1e-9
    elbow, wrist = joint(joints, "left_elbow"), joint(joints, "left_wrist")
    assert rest[moved, 0].min() > elbow[0] - 0.1  # nothing moves before the lower upper arm
    assert moved[neutral["v_template"][:, 0] > elbow[0] + 0.05].all()  # the forearm and hand all move
    hand = hand_ids["left_hand"]
    # the hand turned by 90 degrees about the elbow: the finger tips now point forwards
    tip = VERTEX_JOINT_IDS["left_middle"]
    assert abs(bent[tip, 0] - elbow[0]) < 0.03 and bent[tip, 2] - elbow[2] > 0.4
    np.testing.assert_allclose(
        np.linalg.norm(bent[hand] - elbow, axis=1), np.linalg.norm(rest[hand] - elbow, axis=1), atol=0.01
    )
    assert wrist[0] > elbow[0]


def test_blend_shapes(models, joints, face_ids):
    neutral = models["neutral"]
    shapedirs, vertices = neutral["shapedirs"].astype(np.float64), neutral["v_template"]
    # Shape 0 is size: +1 makes a taller body; magnitudes decay along the 300 shape components.
    taller = vertices + shapedirs[:, :, 0]
    assert 0.05 < np.ptp(taller[:, 1]) - np.ptp(vertices[:, 1]) < 0.2
    magnitude = np.linalg.norm(shapedirs[:, :, :300], axis=(0, 1))
    assert magnitude[10] > 3 * magnitude[299] > 0
    # Shape 1 is girth: +1 makes the waist wider.
    waist = np.abs(vertices[:, 1] + 0.2) < 0.02
    assert np.ptp((vertices + shapedirs[:, :, 1])[waist, 0]) > np.ptp(vertices[waist, 0]) + 0.02
    # Expressions move only the face (never the eyeballs, which keep their shape), and expression 0 opens the mouth.
    expression = shapedirs[:, :, 300:]
    moving = np.abs(expression).max(axis=(1, 2)) > 0
    assert moving.sum() > 1000 and np.isin(np.flatnonzero(moving), face_ids).all()
    landmarks = dict(zip(joint_sets.SMPLX_FACE_LANDMARK_NAMES, range(51)))
    faces = neutral["f"].astype(np.int64)[neutral["lmk_faces_idx"]]
    lip_top, lip_bottom = faces[landmarks["lip_top"]], faces[landmarks["lip_bottom"]]
    assert expression[lip_bottom, 1, 0].mean() < -0.002 and abs(expression[lip_top, 1, 0]).mean() < 1e-3
    # Pose correctives are small.
    assert 0 < np.abs(neutral["posedirs"]).max() <= 0.0041

    # Male and female: same mesh, different proportions.
    def shoulder_width(model):
        shoulders = (model["J_regressor"] @ model["v_template"])[
            [NAMES.index("left_shoulder"), NAMES.index("right_shoulder")]
        ]
        return shoulders[0, 0] - shoulders[1, 0]

    assert shoulder_width(models["male"]) > shoulder_width(models["neutral"]) > shoulder_width(models["female"])
    hips = lambda model: np.ptp(model["v_template"][np.abs(model["v_template"][:, 1] + 0.42) < 0.02, 0])  # noqa: E731
    assert hips(models["female"]) > hips(models["neutral"]) > hips(models["male"])
    assert np.ptp(models["male"]["v_template"][:, 1]) > np.ptp(models["female"]["v_template"][:, 1]) + 0.03


# ------------------------------------------------------------------------------------ determinism, speed
def test_cli_writes_the_same_bytes_for_the_same_seed_in_under_ten_seconds(tmp_path, smplx_dir, capsys):
    body_model_files._rigged_mesh.cache_clear()  # time everything, the mesh included
    start, start_cpu = time.perf_counter(), time.process_time()
    assert cli.main(["make-synthetic-body-model", str(tmp_path / "again"), "--seed", "0"]) == 0
    elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    # CPU time, not wall time: test machines are shared, and waiting for a core is not our cost.
    assert elapsed_cpu < 10.0, f"writing took {elapsed_cpu:.1f} s of CPU time ({elapsed:.1f} s wall)"
    assert "--body-model" in capsys.readouterr().out
    for path in smplx_dir.iterdir():
        assert (tmp_path / "again" / "smplx" / path.name).read_bytes() == path.read_bytes(), path.name
    assert not list((tmp_path / "again" / "smplx").glob("*.tmp"))  # no temporary files left behind


def test_another_seed_changes_only_the_random_blend_shapes(neutral):
    other = build_synthetic_body_model(1, genders=("neutral",))["models"]["neutral"]
    for key in ("v_template", "f", "J_regressor", "weights", "lmk_faces_idx"):
        np.testing.assert_array_equal(other[key], neutral[key])
    np.testing.assert_array_equal(other["shapedirs"][:, :, :10], neutral["shapedirs"][:, :, :10])  # hand-made
    assert not np.allclose(other["shapedirs"][:, :, 10:300], neutral["shapedirs"][:, :, 10:300])
    assert not np.allclose(other["posedirs"], neutral["posedirs"])


def test_module_entry_point_parses_arguments_and_reports_unwritable_folders(tmp_path, capsys):
    # (writing itself is the same function the CLI test above runs)
    with pytest.raises(SystemExit) as exit_info:
        synthetic_main.main(["--help"])
    assert exit_info.value.code == 0 and "--seed" in capsys.readouterr().out
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert synthetic_main.main([str(blocker / "model")]) == 2
    assert str(blocker) in capsys.readouterr().err


def test_unknown_genders_are_refused():
    with pytest.raises(ValueError, match="genders"):
        build_synthetic_body_model(0, genders=("neutral", "child"))

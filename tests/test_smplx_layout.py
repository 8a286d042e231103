"""The SMPL-X layout: derived indices equal the original SMPLest-X tables and SMPL-X's model files, and the sets
are self-consistent."""

import numpy as np
import pytest

from smplest_hf.models.smplest_x import smplx_layout as js


# The original's literal tables (human_models/human_models.py), typed in here only as test expectations.
ORIGINAL_SUPERVISION_INDICES = (
    0, 1, 2, 4, 5, 7, 8, 12, 16, 17, 18, 19, 20, 21, 60, 61, 62, 63, 64, 65, 59, 58, 57, 56, 55,
    37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70,
    52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75,
    22, 15, 57, 56, *range(76, 144),
)  # fmt: skip
ORIGINAL_SUPERVISION_FLIP_PAIRS = (
    (1, 2), (3, 4), (5, 6), (8, 9), (10, 11), (12, 13), (14, 17), (15, 18), (16, 19), (20, 21), (22, 23),
    *((25 + i, 45 + i) for i in range(20)),
    (67, 68), (69, 78), (70, 77), (71, 76), (72, 75), (73, 74), (83, 87), (84, 86),
    (88, 97), (89, 96), (90, 95), (91, 94), (92, 99), (93, 98),
    (100, 106), (101, 105), (102, 104), (107, 111), (108, 110), (112, 116), (113, 115), (117, 119),
    (120, 136), (121, 135), (122, 134), (123, 133), (124, 132), (125, 131), (126, 130), (127, 129),
)  # fmt: skip
ORIGINAL_POSE_FLIP_PAIRS = (
    (1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), *((22 + i, 37 + i) for i in range(15)),
)  # fmt: skip
ORIGINAL_LEFT_HAND_REGRESSOR_ROWS = (20, 37, 38, 39, "v5361", 25, 26, 27, "v4933", 28, 29, 30, "v5058",
                                     34, 35, 36, "v5169", 31, 32, 33, "v5286")  # fmt: skip
ORIGINAL_RIGHT_HAND_REGRESSOR_ROWS = (21, 52, 53, 54, "v8079", 40, 41, 42, "v7669", 43, 44, 45, "v7794",
                                      49, 50, 51, "v7905", 46, 47, 48, "v8022")  # fmt: skip

# SMPL-X's kinematic tree as published in its model files (row 0 of `kintree_table`, the root's parent as -1).
MODEL_FILE_PARENTS = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)  # fmt: skip
# The SMPL-X parameters of SMPLest-X's outputs, in its order (the original's `smplx_layer(...)` arguments).
ORIGINAL_PARAMETERS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression")


def test_smplx_names_match_the_smplx_package():
    joint_names = pytest.importorskip("smplx.joint_names")
    assert js.SMPLX_OUTPUT_JOINT_NAMES == tuple(joint_names.JOINT_NAMES)
    assert js.SMPLX_JOINT_NAMES == js.SMPLX_OUTPUT_JOINT_NAMES[:55]
    assert (js.NUM_SMPLX_JOINTS, js.NUM_SMPLX_OUTPUT_JOINTS) == (55, 144)


def test_vertex_joint_ids_match_the_smplx_selector():
    selector_module = pytest.importorskip("smplx.vertex_joint_selector")
    from smplx.vertex_ids import vertex_ids

    selector = selector_module.VertexJointSelector(vertex_ids=vertex_ids["smplx"])
    np.testing.assert_array_equal(js.SMPLX_VERTEX_JOINT_VERTEX_IDS, selector.extra_joints_idxs.numpy())
    assert len(js.SMPLX_VERTEX_JOINT_NAMES) == len(js.SMPLX_VERTEX_JOINT_VERTEX_IDS) == 21


def test_supervision_set_equals_the_original_tables():
    assert js.NUM_SUPERVISION_JOINTS == len(js.SUPERVISION_JOINT_NAMES) == 137
    assert tuple(js.SUPERVISION_JOINT_INDICES.tolist()) == ORIGINAL_SUPERVISION_INDICES
    assert js.SUPERVISION_FLIP_PAIRS == ORIGINAL_SUPERVISION_FLIP_PAIRS
    assert (js.SUPERVISION_ROOT_INDEX, js.SUPERVISION_NECK_INDEX) == (0, 7)
    assert (js.SUPERVISION_LEFT_WRIST_INDEX, js.SUPERVISION_RIGHT_WRIST_INDEX) == (12, 13)
    parts = {name: (part.start, part.stop) for name, part in js.SUPERVISION_JOINT_PARTS.items()}
    assert parts == {"body": (0, 25), "lhand": (25, 45), "rhand": (45, 65), "hand": (25, 65), "face": (65, 137)}


def test_pose_set_equals_the_original_tables():
    assert js.NUM_POSE_JOINTS == len(js.POSE_JOINT_NAMES) == 53
    assert js.POSE_JOINT_SMPLX_INDICES.tolist() == [*range(22), *range(25, 55), 22]
    assert js.POSE_FLIP_PAIRS == ORIGINAL_POSE_FLIP_PAIRS
    parts = {name: (part.start, part.stop) for name, part in js.POSE_JOINT_PARTS.items()}
    assert parts == {"body": (0, 22), "lhand": (22, 37), "rhand": (37, 52), "face": (52, 53)}
    assert js.POSE_ROOT_INDEX == 0
    # The model's outputs are sliced from this order: 21 body rows after the root, 15 per hand.
    assert len(js.POSE_JOINT_PARTS["body"]) == 1 + js.NUM_BODY_POSE_JOINTS
    assert len(js.POSE_JOINT_PARTS["lhand"]) == len(js.POSE_JOINT_PARTS["rhand"]) == js.NUM_HAND_POSE_JOINTS


def test_hand_evaluation_joints_equal_the_original_hand_regressor():
    for side, rows in (("left", ORIGINAL_LEFT_HAND_REGRESSOR_ROWS), ("right", ORIGINAL_RIGHT_HAND_REGRESSOR_ROWS)):
        indices = js.HAND_EVALUATION_JOINT_INDICES[side]
        resolved = []
        for index in indices.tolist():
            if index < js.NUM_SMPLX_JOINTS:
                resolved.append(index)
            else:  # a fingertip: one of the vertex joints
                vertex_joint = index - js.NUM_SMPLX_JOINTS
                resolved.append(f"v{js.SMPLX_VERTEX_JOINT_VERTEX_IDS[vertex_joint]}")
        assert tuple(resolved) == rows
    assert len(js.MANO_JOINT_NAMES) == 21


@pytest.mark.parametrize(
    "flip_pairs, names",
    [
        (js.POSE_FLIP_PAIRS, js.POSE_JOINT_NAMES),
        (js.SUPERVISION_FLIP_PAIRS, js.SUPERVISION_JOINT_NAMES[:65]),  # body and hands carry L_/R_ names
    ],
)
def test_flip_pairs_map_left_names_to_right_names(flip_pairs, names):
    for first, second in flip_pairs:
        if second >= len(names):
            continue
        left, right = sorted((names[first], names[second]))
        assert left.startswith("L_") and right == "R_" + left[2:], (names[first], names[second])
    # Every L_ joint has its partner.
    paired = {index for pair in flip_pairs for index in pair}
    assert {i for i, name in enumerate(names) if name.startswith(("L_", "R_"))} <= paired


def test_face_flip_pairs_mirror_the_smplx_source_names():
    sources = js.SUPERVISION_JOINT_SOURCE_NAMES
    face = js.SUPERVISION_JOINT_PARTS["face"]
    face_pairs = [pair for pair in js.SUPERVISION_FLIP_PAIRS if pair[0] in face]
    assert all(pair[1] in face for pair in face_pairs)
    for first, second in face_pairs:
        left, right = sorted((sources[first], sources[second]))
        assert left.startswith("left_") and right == "right_" + left[5:], (sources[first], sources[second])
    sided = {i for i in face if sources[i].startswith(("left_", "right_"))}
    assert sided == {index for pair in face_pairs for index in pair}


@pytest.mark.parametrize("flip_pairs, size", [(js.POSE_FLIP_PAIRS, 53), (js.SUPERVISION_FLIP_PAIRS, 137)])
def test_flip_pairs_are_disjoint_and_in_range(flip_pairs, size):
    flat = [index for pair in flip_pairs for index in pair]
    assert len(flat) == len(set(flat))
    assert all(0 <= index < size for index in flat)
    assert all(first < second for first, second in flip_pairs)


@pytest.mark.parametrize(
    "parts, size",
    [
        ({k: v for k, v in js.SUPERVISION_JOINT_PARTS.items() if k != "hand"}, 137),
        (dict(js.POSE_JOINT_PARTS), 53),
    ],
)
def test_parts_partition_the_set(parts, size):
    covered = sorted(index for part in parts.values() for index in part)
    assert covered == list(range(size))
    assert list(js.SUPERVISION_JOINT_PARTS["hand"]) == [*js.SUPERVISION_JOINT_PARTS["lhand"], *js.SUPERVISION_JOINT_PARTS["rhand"]]


def test_supervision_indices_are_valid_and_unique_except_the_eye_vertices():
    indices = js.SUPERVISION_JOINT_INDICES
    assert indices.dtype == np.int64 and indices.shape == (137,)
    assert indices.min() >= 0 and indices.max() < js.NUM_SMPLX_OUTPUT_JOINTS
    values, counts = np.unique(indices, return_counts=True)
    # The original takes the two eye vertices twice: as body L_Eye/R_Eye and as face points Face_3/Face_4.
    assert values[counts > 1].tolist() == [js.SMPLX_OUTPUT_JOINT_NAMES.index("right_eye"), js.SMPLX_OUTPUT_JOINT_NAMES.index("left_eye")]
    assert counts.max() == 2 and len(values) == 135
    for name, source, index in zip(js.SUPERVISION_JOINT_NAMES, js.SUPERVISION_JOINT_SOURCE_NAMES, indices):
        assert js.SMPLX_OUTPUT_JOINT_NAMES[index] == source, name


def test_pose_joints_are_the_smplx_joints_without_the_eyeballs():
    smplx_names = [js.SMPLX_JOINT_NAMES[i] for i in js.POSE_JOINT_SMPLX_INDICES]
    assert set(js.SMPLX_JOINT_NAMES) - set(smplx_names) == {"left_eye_smplhf", "right_eye_smplhf"}
    for name, smplx_name in zip(js.POSE_JOINT_NAMES, smplx_names):
        side = {"L": "left", "R": "right"}.get(name.split("_")[0])
        if side is not None:
            assert smplx_name.startswith(side + "_"), (name, smplx_name)


def test_j14_names():
    assert len(js.J14_JOINT_NAMES) == 14 and len(set(js.J14_JOINT_NAMES)) == 14


# ------------------------------------------------------------------------------- kinematic tree, parameters
def test_parents_equal_the_model_files_tree():
    assert js.SMPLX_PARENTS == MODEL_FILE_PARENTS
    assert js.SMPLX_BODY_PARENTS == MODEL_FILE_PARENTS[:22]
    assert all(parent < child for child, parent in enumerate(js.SMPLX_PARENTS))  # parents precede children
    named = {js.SMPLX_JOINT_NAMES[child]: js.SMPLX_JOINT_NAMES[parent] for child, parent in enumerate(js.SMPLX_PARENTS) if parent >= 0}
    assert named["right_elbow"] == "right_shoulder" and named["right_eye_smplhf"] == "head"
    assert named["right_thumb1"] == "right_wrist" and named["left_pinky3"] == "left_pinky2"


def test_kinematic_chains_walk_from_the_pelvis_to_the_joint():
    names = {side: tuple(js.SMPLX_JOINT_NAMES[i] for i in chain) for side, chain in zip(("left", "right"), js.WRIST_CHAINS)}
    assert names["left"] == ("pelvis", "spine1", "spine2", "spine3", "left_collar", "left_shoulder", "left_elbow", "left_wrist")
    assert names["right"] == tuple(js.mirror_name(name) for name in names["left"])
    assert js.kinematic_chain("pelvis") == (0,)
    assert js.kinematic_chain("left_index3") == js.kinematic_chain("left_wrist") + (25, 26, 27)
    # The chains index the pose joints too: their first 22 are the SMPL-X body joints in the same order.
    assert [js.POSE_JOINT_NAMES[i] for i in js.WRIST_CHAINS[1]][-3:] == ["R_Shoulder", "R_Elbow", "R_Wrist"]


def test_parameter_names_and_sizes():
    assert js.PARAMETER_NAMES == ORIGINAL_PARAMETERS
    assert dict(js.POSE_PARAMETER_JOINTS) == {"global_orient": 1, "body_pose": 21, "left_hand_pose": 15, "right_hand_pose": 15, "jaw_pose": 1}
    assert sum(js.POSE_PARAMETER_JOINTS.values()) == js.NUM_POSE_JOINTS  # the pose parameters pose the 53 joints
    assert (js.NUM_BETAS, js.NUM_EXPRESSION_COEFFS) == (10, 10)
    assert js.GENDERS == ("neutral", "male", "female")
    assert (js.NUM_SMPLX_VERTICES, js.NUM_SMPLX_FACES, js.NUM_MANO_VERTICES, js.NUM_FLAME_VERTICES) == (10475, 20908, 778, 5023)
    assert js.SMPLX_FINGER_NAMES == ("index", "middle", "pinky", "ring", "thumb")


def test_layout_is_read_only_where_python_allows():
    with pytest.raises(TypeError):
        js.POSE_PARAMETER_JOINTS["leye_pose"] = 1
    assert isinstance(js.SMPLX_PARENTS, tuple) and isinstance(js.PARAMETER_NAMES, tuple)

"""The EHPS schema: one Features object, documented field by field, in the declared keypoint convention."""

import numpy as np
import pytest
import torch
from datasets import Array2D, Features, Value

from hub_datasets.schema import (
    EHPS_FEATURES,
    FIELD_DOCS,
    KEYPOINT_CONVENTION,
    KEYPOINT_NAMES,
    NUM_KEYPOINTS,
    SMPLX_PARAMETER_SHAPES,
    check_features,
    field_table_markdown,
    to_supervision_keypoints,
)
from smplest_hf.models.smplest_x.smplx_layout import SUPERVISION_JOINT_NAMES, SUPERVISION_JOINT_SOURCE_NAMES


def test_every_column_is_documented_in_order():
    assert list(FIELD_DOCS) == list(EHPS_FEATURES)
    table = field_table_markdown().splitlines()
    assert len(table) == 2 + len(EHPS_FEATURES)
    assert table[2].startswith("| `sample_id` | string |")
    assert "| `keypoints_2d` | Array2D(144, 3) float32 |" in field_table_markdown()


def test_optional_annotations_have_flags():
    flags = {name for name, feature in EHPS_FEATURES.items() if name.endswith("_valid")}
    assert all(EHPS_FEATURES[name] == Value("bool") for name in flags)
    for part in ("lhand_bbox", "rhand_bbox", "face_bbox", "smplx", "smplx_body", "smplx_lhand", "smplx_rhand",
                 "smplx_face", "smplx_eyes", "smplx_betas", "smplx_transl", "keypoints_2d", "keypoints_3d",
                 "camera_intrinsics", "camera_extrinsics"):  # fmt: skip
        assert f"{part}_valid" in flags
    for name, shape in SMPLX_PARAMETER_SHAPES.items():
        feature = EHPS_FEATURES[name]
        assert (feature.shape if isinstance(feature, Array2D) else (feature.length,)) == shape


def test_keypoint_convention_gathers_the_137_supervision_joints_by_name():
    assert KEYPOINT_CONVENTION == "smplx_144" and NUM_KEYPOINTS == len(KEYPOINT_NAMES) == 144
    names = np.array(KEYPOINT_NAMES, dtype=object)[:, None]  # a "keypoint array" holding each joint's name
    gathered = to_supervision_keypoints(names)[:, 0].tolist()
    assert gathered == list(SUPERVISION_JOINT_SOURCE_NAMES) and len(gathered) == len(SUPERVISION_JOINT_NAMES)
    batch = torch.arange(2 * 144 * 3, dtype=torch.float32).reshape(2, 144, 3)
    assert to_supervision_keypoints(batch).shape == (2, 137, 3)


def test_check_features_names_what_differs():
    check_features(EHPS_FEATURES, "ok")
    changed = Features({**EHPS_FEATURES, "keypoints_2d": Array2D((137, 3), "float32"), "extra": Value("int32")})
    del changed["gender"]
    with pytest.raises(
        ValueError,
        match=r"'x' is not an EHPS dataset .*missing columns \['gender'\]; unexpected "
        r"columns \['extra'\]; columns of another type \['keypoints_2d'\]",
    ):
        check_features(changed, "'x'")

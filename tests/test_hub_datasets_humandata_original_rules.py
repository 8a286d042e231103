"""HumanData files read as SMPLest-X's HumanData loader reads them: per-person gender in the parameter dict, AGORA
kids (`betas_extra`) left out, MANO hand roots kept, `smpl` / `smplh`-only files carried onto SMPL-X, and NaN or
infinite parameters and boxes refused before anything is written.

Every file is written by `write_official_humandata` (mmhuman3d's `HumanData.dump` layout: bookkeeping keys, the
parameter dicts as pickled 0-d object arrays, `image_path` a plain string array), one change per case."""

import numpy as np
import pytest
from test_hub_datasets_humandata import (
    NUM_SAMPLES,
    assert_rows_match,
    expected_rows,
    load_rows,
    write_official_humandata,
)

from smplest_hf.exit_codes import BAD_INPUT
from hub_datasets import HumanDataError, convert_humandata
from hub_datasets.__main__ import main as cli_main
from smplest_hf.models.smplest_x.smplx_layout import SMPLX_JOINT_NAMES


# SMPL's 24 joints in its own order (Loper et al. 2015; the `smplx` package's SMPL joint names), written out here
# so the 23 -> 21 body-joint mapping is checked against the model definitions, not against our converter.
SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip


def _floats(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _source_smplx(directory):
    """The SMPL-X parameters `write_official_humandata` writes by default (to extend them case by case)."""
    return write_official_humandata(directory / "defaults")[2]["smplx"]


def test_gender_per_person_comes_from_the_parameter_dict(tmp_path):
    """SMPLest-X passes smplx['gender'][i] to the body model; meta['gender'] (the fallback) is not what it reads."""
    genders = np.array(["female", "male", "neutral", "female", "male", "male", "female"])  # a plain str array
    smplx = dict(_source_smplx(tmp_path), gender=genders)
    npz, image_root, _ = write_official_humandata(tmp_path, smplx=smplx)  # meta['gender'] differs in most rows
    convert_humandata(npz, image_root, tmp_path / "out", num_shards=1)
    assert load_rows(tmp_path / "out", tmp_path / "cache")["gender"] == genders.tolist()
    assert "`gender` from `smplx['gender']`" in (tmp_path / "out" / "README.md").read_text()

    bad = dict(smplx, gender=np.array(["female"] * 5 + ["kid", "male"]))
    npz, image_root, _ = write_official_humandata(tmp_path / "bad", smplx=bad)
    with pytest.raises(HumanDataError, match=r"toyset\.npz: smplx\['gender'\]\[5\] is 'kid'"):
        convert_humandata(npz, image_root, tmp_path / "bad_out")


def test_kid_rows_are_left_out_and_counted(tmp_path, capsys):
    """A non-zero `betas_extra` marks an AGORA kid; SMPLest-X's loader skips those rows, so the conversion does,
    keeping the other rows' values and source indices and saying how many rows were left out and why."""
    betas_extra = np.zeros((NUM_SAMPLES, 1), np.float32)
    betas_extra[[1, 4]] = [[0.3], [1.0]]
    smplx = dict(_source_smplx(tmp_path), betas_extra=betas_extra)
    npz, image_root, source = write_official_humandata(tmp_path, smplx=smplx)
    report = convert_humandata(npz, image_root, tmp_path / "out", shard_size=2)
    kept = [0, 2, 3, 5, 6]
    assert (report.num_rows, report.num_dropped, report.num_skipped) == (5, 2, 0)
    assert report.dropped[0]["count"] == 2 and report.dropped[0]["first_row"] == 1
    assert "kids (`betas_extra` != 0)" in report.dropped[0]["reason"]
    rows = load_rows(tmp_path / "out", tmp_path / "cache")
    assert_rows_match(rows, expected_rows(source), indices=kept)  # includes source_index == kept
    assert rows["sample_id"] == [f"toyset/train/{i:08d}" for i in kept]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| train | 5 | 3 | 0 |" in card
    assert "- 2 source rows left out: kids (`betas_extra` != 0)" in card and "(the first: row 1)" in card

    assert cli_main(["convert-humandata", str(npz), str(image_root), str(tmp_path / "cli"), "--num-shards", "1"]) == 0
    assert "2 source rows left out: kids" in capsys.readouterr().out

    all_kids = dict(_source_smplx(tmp_path), betas_extra=np.ones((NUM_SAMPLES, 1), np.float32))
    npz, image_root, _ = write_official_humandata(tmp_path / "kids", smplx=all_kids)
    with pytest.raises(HumanDataError, match=r"all 7 rows are left out: kids"):
        convert_humandata(npz, image_root, tmp_path / "kids_out")


def test_hand_roots_of_hand_only_sets_are_kept(tmp_path):
    """`lhand_root` / `rhand_root` (MANO global orientations) become columns; an all-zero root is the hand-only
    sets' placeholder for an absent hand, so its flag is false."""
    lhand_root = _floats(1, NUM_SAMPLES, 1, 3)  # (1, 3) per person, as the hand-only preparations store it
    rhand_root = _floats(2, NUM_SAMPLES, 3)
    lhand_root[2] = 0
    rhand_root[[0, 5]] = 0
    smplx = dict(_source_smplx(tmp_path), lhand_root=lhand_root, rhand_root=rhand_root)
    npz, image_root, source = write_official_humandata(tmp_path, smplx=smplx)
    convert_humandata(npz, image_root, tmp_path / "out", num_shards=1)
    rows = load_rows(tmp_path / "out", tmp_path / "cache")
    np.testing.assert_array_equal(np.asarray(rows["smplx_lhand_root"], np.float32), lhand_root[:, 0])
    np.testing.assert_array_equal(np.asarray(rows["smplx_rhand_root"], np.float32), rhand_root)
    assert rows["smplx_lhand_root_valid"] == [True, True, False, True, True, True, True]
    assert rows["smplx_rhand_root_valid"] == [False, True, True, True, True, False, True]
    assert_rows_match(rows, expected_rows(source))  # everything else as without the roots

    without = write_official_humandata(tmp_path / "none")
    convert_humandata(*without[:2], tmp_path / "none_out", num_shards=1)
    rows = load_rows(tmp_path / "none_out", tmp_path / "cache")
    assert rows["smplx_lhand_root_valid"] == rows["smplx_rhand_root_valid"] == [False] * NUM_SAMPLES
    np.testing.assert_array_equal(np.asarray(rows["smplx_lhand_root"]), 0)


def test_smpl_only_files_are_carried_onto_smplx(tmp_path):
    """SMPL body pose (23 joints) -> SMPL-X body pose = its first 21 joints; no betas, hands or face."""
    assert SMPL_JOINT_NAMES[1:22] == SMPLX_JOINT_NAMES[1:22]  # the 21 shared body joints, in the same order
    smpl = {
        "global_orient": _floats(3, NUM_SAMPLES, 3),
        "body_pose": _floats(4, NUM_SAMPLES, 23, 3),
        "betas": _floats(5, NUM_SAMPLES, 10),
        "transl": _floats(6, NUM_SAMPLES, 3),
    }
    npz, image_root, _ = write_official_humandata(tmp_path, smplx=None, smpl=smpl)
    convert_humandata(npz, image_root, tmp_path / "out", num_shards=1)
    rows = load_rows(tmp_path / "out", tmp_path / "cache")
    body_pose = np.asarray(rows["smplx_body_pose"], np.float32)
    np.testing.assert_array_equal(body_pose, smpl["body_pose"][:, :21])
    for index, name in enumerate(SMPLX_JOINT_NAMES[1:22]):  # joint by joint, by name
        np.testing.assert_array_equal(body_pose[:, index], smpl["body_pose"][:, SMPL_JOINT_NAMES.index(name) - 1])
    np.testing.assert_array_equal(np.asarray(rows["smplx_global_orient"], np.float32), smpl["global_orient"])
    np.testing.assert_array_equal(np.asarray(rows["smplx_transl"], np.float32), smpl["transl"])
    assert rows["smplx_body_valid"] == rows["smplx_transl_valid"] == [True] * NUM_SAMPLES
    for flag in ("smplx_valid", "smplx_betas_valid", "smplx_lhand_valid", "smplx_rhand_valid", "smplx_face_valid"):
        assert rows[flag] == [False] * NUM_SAMPLES, flag
    assert rows["smplx_betas"] == [[]] * NUM_SAMPLES and rows["smplx_num_betas"] == [0] * NUM_SAMPLES
    # No smpl['gender']: meta['gender'] (male, female, neutral, m, F, male, female).
    assert rows["gender"] == ["male", "female", "neutral", "male", "female", "male", "female"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "carried over from the file's `smpl` parameters" in card and "`smpl.betas`" in card

    # With SMPL-X parameters in the file too, those are converted (the original loaders' order) and `smpl` is not.
    both, image_root, source = write_official_humandata(tmp_path / "both", smpl=smpl)
    convert_humandata(both, image_root, tmp_path / "both_out", num_shards=1)
    assert_rows_match(load_rows(tmp_path / "both_out", tmp_path / "cache"), expected_rows(source))
    assert "HumanData keys not converted: `smpl`" in (tmp_path / "both_out" / "README.md").read_text()


def test_smplh_only_files_keep_their_hands(tmp_path):
    """SMPL-H: 21 body joints as SMPL-X's, hand poses kept (an all-zero hand is still 'no hand'), betas dropped."""
    smplh = {
        "global_orient": _floats(7, NUM_SAMPLES, 3),
        "body_pose": _floats(8, NUM_SAMPLES, 63),  # flat rows
        "left_hand_pose": _floats(9, NUM_SAMPLES, 15, 3),
        "right_hand_pose": _floats(10, NUM_SAMPLES, 45),
        "betas": _floats(11, NUM_SAMPLES, 16),  # AMASS-style SMPL-H shape: another model's, not carried over
        "transl": _floats(12, NUM_SAMPLES, 3),
        "gender": np.array(["male"] * NUM_SAMPLES),
    }
    smplh["left_hand_pose"][3] = 0
    npz, image_root, _ = write_official_humandata(tmp_path, smplx=None, smplh=smplh)
    convert_humandata(npz, image_root, tmp_path / "out", num_shards=1)
    rows = load_rows(tmp_path / "out", tmp_path / "cache")
    body_pose = np.asarray(rows["smplx_body_pose"], np.float32)
    np.testing.assert_array_equal(body_pose, smplh["body_pose"].reshape(-1, 21, 3))
    np.testing.assert_array_equal(np.asarray(rows["smplx_left_hand_pose"], np.float32), smplh["left_hand_pose"])
    np.testing.assert_array_equal(
        np.asarray(rows["smplx_right_hand_pose"], np.float32), smplh["right_hand_pose"].reshape(-1, 15, 3)
    )
    assert rows["smplx_lhand_valid"] == [True, True, True, False, True, True, True]
    assert rows["smplx_rhand_valid"] == [True] * NUM_SAMPLES
    assert rows["smplx_betas_valid"] == rows["smplx_face_valid"] == [False] * NUM_SAMPLES
    assert rows["gender"] == ["male"] * NUM_SAMPLES  # smplh['gender'], not meta's
    assert "SMPL-H's hand poses" in (tmp_path / "out" / "README.md").read_text()


@pytest.mark.parametrize(
    "key, row, value, message",
    [
        (
            "body_pose", 3, np.nan,
            r"toyset\.npz: smplx\['body_pose'\] holds NaN or infinite values in 1 rows, the first row 3",
        ),  # fmt: skip
        ("betas", 2, np.inf, r"smplx\['betas'\] holds NaN or infinite values in 1 rows, the first row 2"),
        ("transl", 6, -np.inf, r"smplx\['transl'\] .* the first row 6"),
    ],
)
def test_non_finite_parameters_are_refused_before_writing(tmp_path, key, row, value, message):
    smplx = _source_smplx(tmp_path)
    changed = smplx[key].copy()
    changed.reshape(NUM_SAMPLES, -1)[row, 1] = value
    npz, image_root, _ = write_official_humandata(tmp_path, smplx=dict(smplx, **{key: changed}))
    with pytest.raises(HumanDataError, match=message):
        convert_humandata(npz, image_root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_non_finite_smpl_parameters_name_the_smpl_dict(tmp_path):
    body_pose = _floats(4, NUM_SAMPLES, 23, 3)
    body_pose[5, 22] = np.nan  # in SMPL's right-hand joint, which SMPL-X does not use: still a broken row
    smpl = {"global_orient": _floats(3, NUM_SAMPLES, 3), "body_pose": body_pose}
    npz, image_root, _ = write_official_humandata(tmp_path, smplx=None, smpl=smpl)
    with pytest.raises(HumanDataError, match=r"smpl\['body_pose'\] holds NaN .* the first row 5"):
        convert_humandata(npz, image_root, tmp_path / "out")


@pytest.mark.parametrize("key, row", [("bbox_xywh", 5), ("lhand_bbox_xywh", 2), ("rhand_bbox_xywh", 0)])
def test_non_finite_boxes_are_refused_in_one_line(tmp_path, capsys, key, row):
    source = write_official_humandata(tmp_path / "defaults")[2]
    box = source[key].copy()
    box[row, 2] = np.nan
    box[row + 1, 4] = np.inf  # a second bad row: the message names the first
    npz, image_root, _ = write_official_humandata(tmp_path, **{key: box})
    out = tmp_path / "out"
    assert cli_main(["convert-humandata", str(npz), str(image_root), str(out)]) == BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"toyset.npz: '{key}' holds NaN or infinite values in 2 rows, the first row {row}" in err
    assert not out.exists()

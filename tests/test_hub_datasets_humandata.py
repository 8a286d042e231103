"""HumanData -> EHPS conversion: a file written in mmhuman3d's dump format converts, loads back (map-style and
streaming) with the source values exactly, resumes after failures, and refuses bad input with a clear message."""

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smplest_hf.exit_codes import BAD_INPUT
from hub_datasets import EHPS_FEATURES, HumanDataError, convert_humandata, load_ehps_dataset, to_supervision_keypoints
from hub_datasets.__main__ import main as cli_main
from hub_datasets.humandata import parse_humandata, read_humandata
from hub_datasets.sharding import ShardingError


NUM_SAMPLES = 7
IMAGE_HEIGHT, IMAGE_WIDTH = 24, 32
# Joints the fictional source does not annotate: the mask is 0 there (the last 4 of 144, and 3 body joints).
UNANNOTATED = [3, 9, 20, 140, 141, 142, 143, *range(150, 190)]


def _image_bytes(seed: int, fmt: str = "JPEG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (IMAGE_HEIGHT, IMAGE_WIDTH, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def write_official_humandata(directory, *, num_samples=NUM_SAMPLES, seed=0, compressed=False, name="toyset", **changes):
    """A HumanData .npz as mmhuman3d's `HumanData.dump` writes it (bookkeeping keys, dicts as pickled 0-d object
    arrays, lists of str), plus its images. Returns (npz path, image root, the source dict for expectations).

    Optional annotations vary: left-hand boxes partly unannotated, no face boxes, no eye poses, some right-hand
    poses all zero, per-sample genders in several spellings, shared principal point, per-sample extrinsics.
    """
    directory = Path(directory)
    rng = np.random.default_rng(seed)
    image_root = directory / "images"
    image_paths = []
    for index in range(num_samples):
        relative = f"seq_{index % 2}/frame_{index:04d}.jpg"
        (image_root / relative).parent.mkdir(parents=True, exist_ok=True)
        (image_root / relative).write_bytes(_image_bytes(seed * 1000 + index))
        image_paths.append(relative)

    def floats(*shape):
        return rng.normal(size=shape).astype(np.float32)

    mask = np.ones(190, dtype=np.float32)
    mask[UNANNOTATED] = 0
    keypoints2d = floats(num_samples, 190, 3)
    keypoints2d[..., 2] = rng.uniform(0.2, 1.0, (num_samples, 190))
    keypoints2d[:, mask == 0] = 0  # HumanData stores zeros where the mask is 0
    keypoints3d = floats(num_samples, 190, 4)
    keypoints3d[..., 3] = 1.0
    keypoints3d[:, mask == 0] = 0
    lhand_bbox = np.concatenate([rng.uniform(0, 20, (num_samples, 4)), np.ones((num_samples, 1))], 1).astype(np.float32)
    lhand_bbox[::3, 4] = 0  # confidence 0: not annotated
    right_hand_pose = floats(num_samples, 15, 3)
    right_hand_pose[1] = 0  # the all-zero placeholder of "no right hand"
    smplx = {
        "global_orient": floats(num_samples, 3),
        "body_pose": floats(num_samples, 21, 3),
        "left_hand_pose": floats(num_samples, 45),  # flat rows, as some converters store them
        "right_hand_pose": right_hand_pose,
        "jaw_pose": floats(num_samples, 3),
        "betas": floats(num_samples, 10),
        "expression": floats(num_samples, 10),
        "transl": floats(num_samples, 3),
    }
    genders = np.array(["male", "female", "neutral", "m", "F", "male", "female"] * 3)[:num_samples]
    source = {
        "__key_strict__": False,
        "__data_len__": num_samples,
        "__keypoints_compressed__": compressed,
        "__key_strs__": np.array(["image_path", "bbox_xywh", "keypoints2d", "smplx", "meta"]),
        "config": name,
        "image_path": image_paths,
        "bbox_xywh": np.concatenate([rng.uniform(0, 30, (num_samples, 4)), np.ones((num_samples, 1))], 1).astype(
            np.float32
        ),
        "lhand_bbox_xywh": lhand_bbox,
        "rhand_bbox_xywh": np.concatenate([rng.uniform(0, 20, (num_samples, 4)), np.ones((num_samples, 1))], 1).astype(
            np.float32
        ),
        "keypoints2d": keypoints2d,
        "keypoints2d_mask": mask,
        "keypoints3d": keypoints3d,
        "keypoints3d_mask": mask,
        "smplx": smplx,
        "meta": {
            "gender": genders,
            "focal_length": rng.uniform(500, 1500, (num_samples, 2)),
            "principal_point": np.array([IMAGE_WIDTH / 2, IMAGE_HEIGHT / 2]),
            "height": [IMAGE_HEIGHT] * num_samples,
            "width": [IMAGE_WIDTH] * num_samples,
            "R": floats(num_samples, 3, 3),
            "T": floats(num_samples, 3),
            "track_id": list(range(num_samples)),
        },
        "misc": {"flat_hand_mean": False, "bbox_source": "keypoints", "kps3d_root_aligned": False},
    }
    for key, value in changes.items():
        if value is None:
            source.pop(key, None)
        else:
            source[key] = value
    stored = dict(source)
    if compressed:  # keep only the masked-in joints, as HumanData.compress_keypoints_by_mask does
        for key in ("keypoints2d", "keypoints3d"):
            if key in source:
                stored[key] = source[key][:, source[f"{key}_mask"] > 0]
    for key in ("smplx", "meta", "misc"):
        if key in stored:
            holder = np.empty((), dtype=object)
            holder[()] = stored[key]
            stored[key] = holder
    path = directory / f"{name}.npz"
    np.savez_compressed(path, **stored)
    return path, image_root, source


def expected_rows(source) -> dict:
    """The EHPS columns the source should become, computed directly from the HumanData arrays."""
    n = len(source["image_path"])
    mask = source["keypoints2d_mask"] > 0
    kp2d, kp3d = source["keypoints2d"], source["keypoints3d"]
    smplx, meta = source["smplx"], source["meta"]
    gender_names = {"male": "male", "m": "male", "female": "female", "f": "female", "neutral": "neutral"}
    rows = {
        "source_index": list(range(n)),
        "image_path": list(source["image_path"]),
        "bbox_xywh": source["bbox_xywh"][:, :4],
        "lhand_bbox_xywh": source["lhand_bbox_xywh"][:, :4],
        "lhand_bbox_valid": source["lhand_bbox_xywh"][:, 4] > 0,
        "face_bbox_xywh": np.zeros((n, 4)),
        "face_bbox_valid": np.zeros(n, bool),
        "gender": [gender_names[g.lower()] for g in meta["gender"]],
        "smplx_global_orient": smplx["global_orient"],
        "smplx_body_pose": smplx["body_pose"],
        "smplx_left_hand_pose": smplx["left_hand_pose"].reshape(n, 15, 3),
        "smplx_right_hand_pose": smplx["right_hand_pose"],
        "smplx_rhand_valid": [bool(np.any(p)) for p in smplx["right_hand_pose"]],
        "smplx_lhand_valid": [True] * n,
        "smplx_leye_pose": np.zeros((n, 3)),
        "smplx_eyes_valid": [False] * n,
        "smplx_valid": [True] * n,
        "smplx_face_valid": [True] * n,
        "smplx_betas": smplx["betas"],
        "smplx_num_betas": [10] * n,
        "smplx_betas_neutral": [[]] * n,
        "smplx_expression": smplx["expression"],
        "smplx_transl": smplx["transl"],
        "smplx_flat_hand_mean": [False] * n,
        "keypoints_2d": np.concatenate([kp2d[:, :144, :2], np.where(mask[:144], kp2d[:, :144, 2], 0)[..., None]], -1),
        "keypoints_3d": np.concatenate([kp3d[:, :144, :3], np.where(mask[:144], kp3d[:, :144, 3], 0)[..., None]], -1),
        "keypoints_2d_valid": [True] * n,
        "keypoints_3d_valid": [True] * n,
        "camera_intrinsics_valid": [True] * n,
        "focal_length": meta["focal_length"].astype(np.float32),
        "principal_point": np.tile(meta["principal_point"].astype(np.float32), (n, 1)),
        "camera_extrinsics_valid": [True] * n,
        "camera_rotation": meta["R"],
        "camera_translation": meta["T"],
        "image_height": [IMAGE_HEIGHT] * n,
        "image_width": [IMAGE_WIDTH] * n,
    }
    return rows


def assert_rows_match(rows: dict, expected: dict, indices=None):
    """Every expected column equals the loaded one exactly (float32 values compared bit for bit)."""
    for name, values in expected.items():
        values = values if indices is None else [values[i] for i in indices]
        loaded = rows[name]
        if name in ("gender", "image_path"):
            assert list(loaded) == list(values), name
        elif name == "smplx_betas_neutral":
            assert [list(v) for v in loaded] == [list(v) for v in values], name
        else:
            np.testing.assert_array_equal(
                np.asarray(loaded, dtype=np.float32), np.asarray(values, dtype=np.float32), err_msg=name
            )


def load_rows(out_dir, cache_dir, streaming=False) -> dict:
    dataset = load_ehps_dataset(
        out_dir, split="train", streaming=streaming, decode_images=False, cache_dir=str(cache_dir)
    )
    items = list(dataset) if streaming else [dataset[i] for i in range(len(dataset))]
    return {name: [item[name] for item in items] for name in EHPS_FEATURES}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("humandata")
    npz, image_root, source = write_official_humandata(directory)
    report = convert_humandata(npz, image_root, directory / "out", shard_size=3)
    return directory, npz, image_root, source, report


def test_conversion_matches_the_source_exactly_map_style_and_streaming(converted, tmp_path):
    directory, _, image_root, source, report = converted
    assert (report.num_rows, report.num_skipped, report.num_shards, report.dataset_name) == (7, 0, 3, "toyset")
    assert sorted(os.listdir(directory / "out" / "data")) == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    expected = expected_rows(source)
    for streaming in (False, True):
        rows = load_rows(directory / "out", tmp_path / "cache", streaming=streaming)
        assert_rows_match(rows, expected)
        assert rows["sample_id"] == [f"toyset/train/{i:08d}" for i in range(NUM_SAMPLES)]
        assert set(rows["dataset_name"]) == {"toyset"}
        # Images are the source files' bytes, untouched.
        assert [image["bytes"] for image in rows["image"]] == [
            (image_root / p).read_bytes() for p in source["image_path"]
        ]


def test_dataset_card_has_configs_and_documents_the_source(converted):
    directory = converted[0]
    card = (directory / "out" / "README.md").read_text()
    header = card.split("---")[1]
    assert "configs:" in header and "path: data/train-*" in header and "split: train" in header
    assert "| train | 7 | 3 | 0 |" in card
    assert "`keypoints2d` (mask `keypoints2d_mask`)" in card
    assert "`track_id`" in card  # meta fields without a column are listed, not silently lost
    assert "| `smplx_betas` | List[float32] |" in card  # the schema table
    assert "license:" not in header and "keep the licence of the source dataset" in card  # the user must set it


def test_compressed_keypoints_and_missing_optional_keys(tmp_path):
    """Mask-compressed keypoints decompress to the same values; absent keys become false flags, not zeros alone."""
    npz, image_root, source = write_official_humandata(
        tmp_path, compressed=True, keypoints3d=None, keypoints3d_mask=None, rhand_bbox_xywh=None,
        meta={"gender": "female"}, misc=None,
    )  # fmt: skip
    convert_humandata(npz, image_root, tmp_path / "out", num_shards=1)
    rows = load_rows(tmp_path / "out", tmp_path / "cache")
    mask = source["keypoints2d_mask"][:144] > 0
    expected_2d = np.concatenate(
        [source["keypoints2d"][:, :144, :2], np.where(mask, source["keypoints2d"][:, :144, 2], 0)[..., None]], -1
    )
    np.testing.assert_array_equal(np.asarray(rows["keypoints_2d"], np.float32), expected_2d)
    assert rows["keypoints_3d_valid"] == [False] * NUM_SAMPLES
    np.testing.assert_array_equal(np.asarray(rows["keypoints_3d"]), 0)
    assert rows["rhand_bbox_valid"] == [False] * NUM_SAMPLES
    assert rows["camera_intrinsics_valid"] == [False] * NUM_SAMPLES
    assert rows["camera_extrinsics_valid"] == [False] * NUM_SAMPLES
    assert rows["gender"] == ["female"] * NUM_SAMPLES  # one gender for the whole file


def test_supervision_keypoints_follow_the_original_humandata_mapping(converted, tmp_path):
    """The 137 training joints taken from our 144 equal the original loader's 190->137 table (`SMPLX_137_MAPPING`
    in SMPLest-X main/constants.py), except Face_3/Face_4: the original loader puts right/left eye there while
    its model predicts left/right eye; we follow the model (smplest_hf.models.smplest_x.smplx_layout), so GT and prediction agree."""
    original_loader_mapping = np.array([
        0, 1, 2, 4, 5, 7, 8, 12, 16, 17, 18, 19, 20, 21, 60, 61, 62, 63, 64, 65, 59, 58, 57, 56, 55, 37, 38, 39, 66,
        25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70, 52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45,
        73, 49, 50, 51, 74, 46, 47, 48, 75, 22, 15, 56, 57, *range(76, 144)])  # fmt: skip
    source = converted[3]
    ours = to_supervision_keypoints(
        np.asarray(load_rows(converted[0] / "out", tmp_path / "cache")["keypoints_2d"], np.float32)
    )
    original = source["keypoints2d"][:, original_loader_mapping, :2]
    same = np.ones(137, bool)
    same[[67, 68]] = False
    np.testing.assert_array_equal(ours[:, same, :2], original[:, same])
    np.testing.assert_array_equal(ours[:, [67, 68], :2], original[:, [68, 67]])


def test_pickled_entries_are_read_without_running_code(tmp_path):
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    npz, image_root, _ = write_official_humandata(tmp_path)
    content = dict(np.load(npz, allow_pickle=True))
    holder = np.empty((), dtype=object)
    holder[()] = {"gender": "male", "note": Payload()}
    content["meta"] = holder
    np.savez(npz, **content)
    with pytest.raises(HumanDataError, match=r"'meta'.*posix.mkdir.*--trust-pickle"):
        read_humandata(npz)
    assert not marker.exists()
    read_humandata(npz, trust_pickle=True)  # the explicit opt-in runs it: documented as "trust like code"
    assert marker.exists()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"bbox_xywh": None}, r"toyset\.npz: required key 'bbox_xywh' is missing"),
        (
            {"keypoints2d": np.zeros((6, 190, 3), np.float32)},
            r"'keypoints2d' has shape \(6, 190, 3\), expected \(7, joints",
        ),
        ({"lhand_bbox_xywh": np.zeros((7, 3), np.float32)}, r"'lhand_bbox_xywh' has shape \(7, 3\)"),
        ({"__data_len__": 9}, r"'__data_len__' says 9 samples but 'image_path' has 7"),
        ({"vertices_world": np.zeros(3)}, r"unknown keys \['vertices_world'\].*--allow-unknown-keys"),
        ({"keypoints2d_convention": "coco_wholebody"}, r"'coco_wholebody' keypoint convention"),
    ],
)
def test_file_level_errors_name_the_key(tmp_path, changes, message):
    npz, image_root, _ = write_official_humandata(tmp_path, **changes)
    with pytest.raises(HumanDataError, match=message):
        convert_humandata(npz, image_root, tmp_path / "out")
    assert not (tmp_path / "out" / "data").exists() or not os.listdir(tmp_path / "out" / "data")


def test_malformed_smplx_and_meta_values_are_reported(tmp_path):
    _, _, source = write_official_humandata(tmp_path)
    for smplx_change, meta_change, message in (
        (
            {"body_pose": np.zeros((7, 20, 3), np.float32)},
            {},
            r"smplx\['body_pose'\] has shape \(7, 20, 3\), expected \(7, 21, 3\)",
        ),
        ({"left_hand_pose": np.zeros((7, 12), np.float32)}, {}, r"smplx\['left_hand_pose'\] has shape \(7, 12\)"),
        # (`betas_extra` is known now: AGORA's kid weight, see test_hub_datasets_humandata_original_rules.py)
        ({"betas_child": np.zeros((7, 1))}, {}, r"unknown keys \['smplx.betas_child'\]"),
        ({}, {"gender": ["male"] * 6 + ["x"]}, r"meta\['gender'\]\[6\] is 'x'"),
        ({}, {"focal_length": np.ones((5, 2))}, r"meta\['focal_length'\] has shape \(5, 2\)"),
        ({}, {"height": [24] * 3}, r"meta\['height'\] should hold 1 or 7 numbers, found 3"),
    ):
        content = dict(source, smplx=dict(source["smplx"], **smplx_change), meta=dict(source["meta"], **meta_change))
        with pytest.raises(HumanDataError, match=message):
            parse_humandata(content, "file.npz")


def test_unknown_keys_can_be_dropped_explicitly(tmp_path):
    npz, image_root, _ = write_official_humandata(tmp_path, vertices_world=np.zeros(3))
    report = convert_humandata(npz, image_root, tmp_path / "out", allow_unknown_keys=True)
    assert report.num_rows == NUM_SAMPLES
    assert "unknown keys dropped: `vertices_world`" in (tmp_path / "out" / "README.md").read_text()


def test_bad_images_stop_or_skip_and_never_leave_half_shards(tmp_path):
    npz, image_root, source = write_official_humandata(tmp_path)
    paths = source["image_path"]
    (image_root / paths[4]).unlink()  # 7 samples, at most 3 per shard: shards [0, 2) [2, 4) [4, 7)
    out = tmp_path / "out"
    with pytest.raises(HumanDataError, match=rf"sample 4 \(image_path '{paths[4]}'\): image file .* does not exist"):
        convert_humandata(npz, image_root, out, shard_size=3)
    assert sorted(os.listdir(out / "data")) == [f"train-0000{i}-of-00003.parquet" for i in (0, 1)]  # shard 2 stopped
    assert not os.listdir(out / ".conversion" / "tmp")
    resumed = convert_humandata(npz, image_root, out, shard_size=3, on_bad_sample="skip")  # resume, now skipping
    assert (resumed.shards_reused, resumed.shards_written, resumed.num_rows, resumed.num_skipped) == (2, 1, 6, 1)

    parallel = tmp_path / "parallel"
    with pytest.raises(HumanDataError, match=r"sample 4 "):
        convert_humandata(npz, image_root, parallel, shard_size=3, num_proc=2)
    assert set(os.listdir(parallel / "data")) <= {f"train-0000{i}-of-00003.parquet" for i in (0, 1)}
    assert not os.listdir(parallel / ".conversion" / "tmp")

    report = convert_humandata(npz, image_root, tmp_path / "skipping", shard_size=3, on_bad_sample="skip")
    assert report.num_rows == NUM_SAMPLES - 1 and report.skipped[0]["source_index"] == 4
    rows = load_rows(tmp_path / "skipping", tmp_path / "cache")
    kept = [i for i in range(NUM_SAMPLES) if i != 4]
    assert_rows_match(rows, expected_rows(source), indices=kept)
    assert "| train | 6 | 3 | 1 |" in (tmp_path / "skipping" / "README.md").read_text()

    (image_root / paths[2]).write_bytes(_image_bytes(0)[:200])  # truncated JPEG
    with pytest.raises(HumanDataError, match=r"sample 2 .* unreadable or corrupt"):
        convert_humandata(npz, image_root, tmp_path / "corrupt", shard_size=3)
    Image.new("RGB", (10, 10)).save(image_root / paths[2], format="JPEG")  # readable, but not the size meta says
    with pytest.raises(HumanDataError, match=r"sample 2 .* image is 10x10 \(HxW\) but meta height/width say 24x32"):
        convert_humandata(npz, image_root, tmp_path / "resized", shard_size=3)


def test_resume_writes_only_missing_shards_and_matches_a_fresh_run(tmp_path):
    """A run stopped by a missing image keeps its finished shards; after the fix the rerun (2 processes) writes
    only the rest, and the result equals an uninterrupted single-process run."""
    npz, image_root, source = write_official_humandata(tmp_path)
    missing = image_root / source["image_path"][6]
    saved = missing.read_bytes()
    missing.unlink()
    out = tmp_path / "out"
    with pytest.raises(HumanDataError):
        convert_humandata(npz, image_root, out, shard_size=2)  # shards [0,1) [1,3) [3,5) done, [5,7) fails
    assert len(os.listdir(out / "data")) == 3
    (out / "data" / "train-00000-of-00004.parquet").unlink()  # a lost shard is rewritten too
    (out / ".conversion" / "tmp" / "train-00003-of-00004.parquet.123.tmp").write_bytes(b"half a shard")  # a killed run
    missing.write_bytes(saved)
    report = convert_humandata(npz, image_root, out, shard_size=2, num_proc=2)
    assert (report.shards_reused, report.shards_written, report.num_rows) == (2, 2, NUM_SAMPLES)
    assert not os.listdir(out / ".conversion" / "tmp")
    assert_rows_match(load_rows(out, tmp_path / "cache"), expected_rows(source))

    with pytest.raises(ShardingError, match=r"other settings \(num_shards: 4 -> 3"):
        convert_humandata(npz, image_root, out, shard_size=3)


def test_a_second_split_joins_the_card(converted, tmp_path):
    directory, npz, image_root, source, _ = converted
    out = tmp_path / "out"
    shutil.copytree(directory / "out", out)
    convert_humandata(npz, image_root, out, split="test", num_shards=1, dataset_name="toy_test")
    header = (out / "README.md").read_text().split("---")[1]
    assert "split: test" in header and "path: data/test-*" in header and "split: train" in header
    test_rows = load_ehps_dataset(out, split="test", decode_images=False, cache_dir=str(tmp_path / "cache"))
    assert test_rows[0]["sample_id"] == "toy_test/test/00000000"


def test_cli_converts_and_reports_bad_input_in_one_line(converted, tmp_path, capsys):
    directory, npz, image_root, _, _ = converted
    assert cli_main(["convert-humandata", str(npz), str(image_root), str(tmp_path / "out"), "--num-shards", "2"]) == 0
    assert "toyset train: 7 rows in 2 shards" in capsys.readouterr().out

    for argv, message in (
        (
            ["convert-humandata", str(tmp_path / "nope.npz"), str(image_root), str(tmp_path / "o")],
            "nope.npz: no such HumanData file",
        ),
        (["convert-humandata", str(npz), str(tmp_path / "no_images"), str(tmp_path / "o")], "is not a directory"),
        (
            ["convert-humandata", str(image_root / "seq_0" / "frame_0000.jpg"), str(image_root), str(tmp_path / "o")],
            "is not a readable .npz archive",
        ),
        (["convert-humandata", str(npz), str(image_root), str(tmp_path / "o"), "--split", "a/b"], "split name 'a/b'"),
        (["push", str(tmp_path / "empty"), "org/name"], "is not a directory"),
    ):
        assert cli_main(argv) == BAD_INPUT
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["convert-humandata", str(npz)])  # argparse: missing arguments
    assert exit_info.value.code == 2


def test_flat_hand_mean_changes_what_an_all_zero_hand_means(tmp_path):
    """Relative to the mean hand an all-zero pose is the "no annotation" placeholder; relative to the flat hand
    it is a real flat hand. The flag comes from misc['flat_hand_mean'] unless overridden."""
    _, _, source = write_official_humandata(tmp_path)
    mean_relative = parse_humandata(source, "f.npz").columns
    assert mean_relative["smplx_rhand_valid"].tolist() == [True, False] + [True] * 5
    assert not mean_relative["smplx_flat_hand_mean"].any()
    flat = parse_humandata(dict(source, misc={"flat_hand_mean": True}), "f.npz").columns
    assert flat["smplx_rhand_valid"].all() and flat["smplx_flat_hand_mean"].all()
    overridden = parse_humandata(source, "f.npz", flat_hand_mean=True).columns
    assert overridden["smplx_rhand_valid"].all()

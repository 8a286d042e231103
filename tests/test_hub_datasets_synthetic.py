"""Synthetic EHPS dataset: written in the schema, deterministic per seed whatever the process count, ground truth
exact (the body model re-run on the stored parameters reproduces the stored keypoints and boxes, and re-rendering
them reproduces the stored image), plausible placements and poses, and a CLI that reports bad arguments."""

import io

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from hub_datasets import EHPS_FEATURES, load_ehps_dataset, synthesize_dataset, synthesize_rows
from hub_datasets.__main__ import main as cli_main
from hub_datasets.sharding import ShardingError
from smplest_hf.exit_codes import BAD_INPUT
from hub_datasets.synthetic import encode_jpeg, people_counts, sample_scene, scene_background
from hub_datasets.synthetic_poses import BODY_POSE_INDEX, sample_people
from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
from smplest_hf.models.smplest_x.smplx_layout import SMPLX_OUTPUT_JOINT_NAMES
from smplest_hf.export.rasterizer import render_meshes


NUM_SAMPLES = 16
IMAGE_SIZE = (256, 192)  # (H, W): small, the renderer's cost is mostly per triangle anyway
SHARD_SIZE = 8
TORSO_JOINTS = [SMPLX_OUTPUT_JOINT_NAMES.index(name) for name in ("pelvis", "spine1", "spine2", "spine3")]


def _synthesize(out_dir, body_model_dir, **changes):
    options = dict(num_samples=NUM_SAMPLES, seed=0, body_model_dir=body_model_dir, image_size=IMAGE_SIZE,
                   shard_size=SHARD_SIZE)  # fmt: skip
    options.update(changes)
    return synthesize_dataset(out_dir, options.pop("num_samples"), options.pop("seed"), **options)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, synthetic_body_model_dir):
    out_dir = tmp_path_factory.mktemp("synthetic") / "seed0"
    report = _synthesize(out_dir, synthetic_body_model_dir)
    assert (report.num_images, report.num_rows, report.num_shards, report.shards_written) == (16, 16, 2, 2)
    return out_dir


@pytest.fixture(scope="module")
def rows(dataset_dir):
    """The dataset as numpy arrays per column (images as encoded bytes)."""
    return _load(dataset_dir, decode_images=False).with_format("numpy")[:]


@pytest.fixture(scope="module")
def body_models(synthetic_body_model_dir):
    return {gender: SmplxBodyModel.from_directory(synthetic_body_model_dir, gender) for gender in ("neutral", "male", "female")}


def _load(directory, **kwargs):
    # A private datasets cache: `load_dataset(local_dir)` caches by directory *name* and finds a stale copy when
    # another run wrote a directory of the same name (seen with datasets 5.2), so never share the user's cache.
    return load_ehps_dataset(directory, split=kwargs.pop("split", "train"), cache_dir=str(directory) + "_hf_cache", **kwargs)


def _shards(directory):
    return sorted((directory / "data").glob("*.parquet"))


def _rerun_body_model(rows, body_models):
    """Vertices (N, V, 3) and 144 joints (N, 144, 3) from the stored parameters, float64 numpy."""
    count = len(rows["gender"])
    vertices, joints = np.zeros((count, 10475, 3)), np.zeros((count, 144, 3))
    for gender, model in body_models.items():
        index = np.flatnonzero(rows["gender"] == gender)
        if not len(index):
            continue
        inputs = [torch.as_tensor(rows[f"smplx_{name}"][index]) for name in
                  ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression",
                   "transl")]  # fmt: skip
        with torch.no_grad():
            output = model(*inputs)
        vertices[index], joints[index] = output.vertices.double().numpy(), output.smplx_joints.double().numpy()
    return vertices, joints


def _project(points, focal, principal):
    """Pinhole projection written out independently of the generator: u = fx X / Z + cx, v = fy Y / Z + cy."""
    u = focal[:, None, 0] * points[..., 0] / points[..., 2] + principal[:, None, 0]
    v = focal[:, None, 1] * points[..., 1] / points[..., 2] + principal[:, None, 1]
    return np.stack((u, v), axis=-1)


def _render_image_people(rows, body_models, vertices, image_rows):
    """Re-render the people of one image from their stored parameters (one shared camera)."""
    first = image_rows[0]
    return render_meshes(vertices[image_rows], body_models["neutral"].faces.numpy(), rows["focal_length"][first],
                         rows["principal_point"][first], IMAGE_SIZE)  # fmt: skip


# ------------------------------------------------------------------------------------------- schema
def test_rows_follow_the_schema_with_every_annotation_marked_valid(dataset_dir, rows):
    dataset = _load(dataset_dir)
    assert dataset.features == EHPS_FEATURES and dataset.num_rows == NUM_SAMPLES
    image = dataset[3]["image"]
    assert image.size == (IMAGE_SIZE[1], IMAGE_SIZE[0]) and image.format == "JPEG"

    assert list(rows["sample_id"]) == [f"synthetic/train/{i:08d}" for i in range(NUM_SAMPLES)]
    assert list(rows["source_index"]) == list(range(NUM_SAMPLES))
    assert list(rows["image_path"]) == [f"train/{i:08d}.jpg" for i in range(NUM_SAMPLES)]
    assert set(rows["dataset_name"]) == {"synthetic"} and set(rows["gender"]) <= {"neutral", "male", "female"}
    assert (rows["image_height"] == IMAGE_SIZE[0]).all() and (rows["image_width"] == IMAGE_SIZE[1]).all()
    for name in EHPS_FEATURES:
        if name.endswith("_valid") and not name.endswith(("bbox_valid", "_root_valid")):
            assert rows[name].all(), name
    # MANO hand roots belong to hand-only sets; a whole body's hands are oriented by its body pose.
    assert not rows["smplx_lhand_root_valid"].any() and not rows["smplx_rhand_root_valid"].any()
    assert not rows["smplx_flat_hand_mean"].any()  # hands relative to the mean hand, as SMPLest-X trains
    assert (rows["smplx_num_betas"] == 10).all() and (rows["smplx_num_expression"] == 10).all()
    assert rows["smplx_betas_neutral"].shape == (NUM_SAMPLES, 0)
    assert (rows["smplx_leye_pose"] == 0).all() and (rows["smplx_reye_pose"] == 0).all()
    assert (rows["camera_rotation"] == np.eye(3)).all() and (rows["camera_translation"] == 0).all()
    assert (rows["keypoints_3d"][..., 3] == 1).all()
    card = (dataset_dir / "README.md").read_text()
    assert "kind: `synthetic`" in card and "seed: `0`" in card and "JPEG quality 90" in card
    # Our own generated data: a licence we can state (converted data keeps its source's; see the HumanData test).
    assert "license: apache-2.0" in card.split("---")[1] and "no third-party images" in card


# ------------------------------------------------------------------------------------------- exact ground truth
def test_stored_keypoints_and_boxes_are_what_the_stored_parameters_give(rows, body_models):
    vertices, joints = _rerun_body_model(rows, body_models)
    focal, principal = rows["focal_length"], rows["principal_point"]
    height, width = IMAGE_SIZE

    np.testing.assert_allclose(rows["keypoints_3d"][..., :3], joints, atol=2e-5)  # metres, camera frame
    keypoints_2d = _project(joints, focal, principal)
    np.testing.assert_allclose(rows["keypoints_2d"][..., :2], keypoints_2d, atol=2e-3)  # pixels
    inside = (keypoints_2d >= -0.5).all(-1) & (keypoints_2d[..., 0] <= width - 0.5) & (keypoints_2d[..., 1] <= height - 0.5)
    np.testing.assert_array_equal(rows["keypoints_2d"][..., 2], inside.astype(np.float32))

    def clipped_box(points):
        lower = np.clip(points.min(1), -0.5, [width - 0.5, height - 0.5])
        upper = np.clip(points.max(1), -0.5, [width - 0.5, height - 0.5])
        return np.concatenate((lower, upper - lower), axis=1)

    projected = _project(vertices, focal, principal)
    np.testing.assert_allclose(rows["bbox_xywh"], clipped_box(projected), atol=2e-3)
    model = body_models["neutral"]
    for part, ids in (("lhand", model.hand_vertex_ids["left"]), ("rhand", model.hand_vertex_ids["right"]),
                      ("face", model.face_vertex_ids)):  # fmt: skip
        expected = clipped_box(projected[:, ids.numpy()])
        valid = (expected[:, 2:] > 0).all(1)
        np.testing.assert_array_equal(rows[f"{part}_bbox_valid"], valid)
        np.testing.assert_allclose(rows[f"{part}_bbox_xywh"][valid], expected[valid], atol=2e-3)
        assert (rows[f"{part}_bbox_xywh"][~valid] == 0).all()
    assert rows["face_bbox_valid"].mean() > 0.8  # faces are almost always in view


def test_the_image_shows_the_stored_person_inside_the_box(rows, body_models, synthetic_body_model_dir):
    vertices, joints = _rerun_body_model(rows, body_models)
    focal, principal = rows["focal_length"], rows["principal_point"]
    torso = np.rint(_project(joints[:, TORSO_JOINTS], focal, principal)).astype(int)
    differences = []
    for row in range(0, NUM_SAMPLES, 2):  # half of them: rendering is the slow part of this file
        # Re-render the stored person with the scene's look (colour, light, background) drawn from its seed.
        scene = sample_scene(0, row, 1, IMAGE_SIZE, ("neutral", "male", "female"))
        render = render_meshes(vertices[row : row + 1], body_models["neutral"].faces.numpy(), focal[row], principal[row],
                               IMAGE_SIZE, background=scene_background(scene, IMAGE_SIZE), colors=scene.colors,
                               light_direction=scene.light_direction, ambient=scene.ambient)  # fmt: skip
        x, y, w, h = rows["bbox_xywh"][row]
        pixel_rows, pixel_columns = np.nonzero(render.mask)
        assert len(pixel_rows) > 0.02 * render.mask.size  # a person, not a speck
        # Pixel centres covered by the mesh lie in the box of the projected mesh.
        assert pixel_columns.min() >= x - 1e-3 and pixel_columns.max() <= x + w + 1e-3
        assert pixel_rows.min() >= y - 1e-3 and pixel_rows.max() <= y + h + 1e-3
        for column, pixel_row in torso[row]:  # torso joints project onto the person
            if 0 <= column < IMAGE_SIZE[1] and 0 <= pixel_row < IMAGE_SIZE[0]:
                assert render.mask[pixel_row, column]
        # The stored image is that rendering: compared after the same JPEG round trip, only pixels whose
        # coverage flips with float rounding of the re-run body model may differ.
        stored = np.asarray(Image.open(io.BytesIO(rows["image"][row]["bytes"])).convert("RGB")).astype(int)
        expected = np.asarray(Image.open(io.BytesIO(encode_jpeg(render.image))).convert("RGB")).astype(int)
        differences.append(np.abs(stored - expected).mean())
    assert max(differences) < 0.5, differences


# ------------------------------------------------------------------------------------------- plausibility
def test_people_are_mostly_in_view_upright_and_plausibly_sized(rows, body_models):
    vertices, joints = _rerun_body_model(rows, body_models)
    focal, principal = rows["focal_length"], rows["principal_point"]
    projected = _project(vertices, focal, principal)
    height, width = IMAGE_SIZE
    lower, upper = projected.min(1), projected.max(1)
    visible_area = (np.clip(upper, -0.5, [width - 0.5, height - 0.5]) - np.clip(lower, -0.5, [width - 0.5, height - 0.5])).prod(1)
    assert (visible_area / (upper - lower).prod(1)).min() > 0.75  # at most ~8 % of the box leaves each side
    in_view = ((projected >= -0.5) & (projected <= [width - 0.5, height - 0.5])).all(-1).mean(1)
    assert in_view.min() > 0.6 and in_view.mean() > 0.9, in_view  # vertices: a hand out of view is 7 % of them
    box_height = rows["bbox_xywh"][:, 3] / height
    assert 0.3 < box_height.min() and box_height.max() <= 1.0
    assert 1.0 < joints[:, 0, 2].min() and joints[:, 0, 2].max() < 20  # pelvis depth in metres
    head, pelvis = SMPLX_OUTPUT_JOINT_NAMES.index("head"), SMPLX_OUTPUT_JOINT_NAMES.index("pelvis")
    assert (joints[:, head, 1] < joints[:, pelvis, 1]).all()  # upright: the head is above the pelvis (y down)
    assert np.all((rows["focal_length"] >= 0.8 * max(IMAGE_SIZE)) & (rows["focal_length"] <= 1.8 * max(IMAGE_SIZE)))
    assert np.abs(rows["principal_point"] - [(width - 1) / 2, (height - 1) / 2]).max() <= 0.03 * max(IMAGE_SIZE)


def test_pose_sampler_respects_joint_limits():
    people = sample_people(np.random.default_rng(0), 2000)
    body = people["body_pose"]
    for side, sign in (("left", -1), ("right", 1)):
        assert (body[:, BODY_POSE_INDEX[f"{side}_knee"], 0] >= 0).all()  # knees bend backwards only
        assert (sign * body[:, BODY_POSE_INDEX[f"{side}_elbow"], 1] >= 0).all()  # elbows bend forwards only
    assert body[:, BODY_POSE_INDEX["left_knee"], 0].max() > 1.0  # ...and some bend a lot
    # Left and right are mirror images: the same distribution with y and z negated.
    left, right = body[:, BODY_POSE_INDEX["left_shoulder"]], body[:, BODY_POSE_INDEX["right_shoulder"]]
    np.testing.assert_allclose(left.mean(0) * [1, -1, -1], right.mean(0), atol=0.05)
    left_curl = people["left_hand_pose_flat"][:, :12, 2]  # index, middle, pinky, ring: curl towards the palm
    assert (left_curl <= 0.2).all() and left_curl.mean() < -0.3
    assert (np.abs(people["betas"]) <= 3).all() and 0.8 < people["betas"].std() < 1.1
    assert 0.4 < people["expression"].std() < 0.55 and (people["jaw_pose"][:, 0] >= 0).all()
    assert set(people["gender"]) == {"neutral", "male", "female"}


# ------------------------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_whatever_the_process_count_other_seed_other_data(dataset_dir, tmp_path, synthetic_body_model_dir):
    torch.ones(256, 256) @ torch.ones(256, 256)  # the parent used torch's thread pool before forking workers
    _synthesize(tmp_path / "again", synthetic_body_model_dir, num_proc=2)
    for first, second in zip(_shards(dataset_dir), _shards(tmp_path / "again"), strict=True):
        assert first.name == second.name and first.read_bytes() == second.read_bytes()

    _synthesize(tmp_path / "seed1", synthetic_body_model_dir, num_samples=4, seed=1, shard_size=4)
    other = pq.read_table(_shards(tmp_path / "seed1")[0]).to_pydict()
    ours = pq.read_table(_shards(dataset_dir)[0]).to_pydict()
    assert other["image"][0]["bytes"] != ours["image"][0]["bytes"]
    assert not np.allclose(other["smplx_body_pose"][0], ours["smplx_body_pose"][0])

    # A range of images made on its own equals those rows of the dataset (per-image random streams).
    second_shard = synthesize_rows(0, 8, 16, synthetic_body_model_dir, image_size=IMAGE_SIZE)
    stored = pq.read_table(_shards(dataset_dir)[1]).to_pydict()
    assert second_shard["sample_id"] == stored["sample_id"]
    np.testing.assert_array_equal(np.stack(second_shard["keypoints_2d"]), np.asarray(stored["keypoints_2d"], np.float32))
    assert [image["bytes"] for image in second_shard["image"]] == [image["bytes"] for image in stored["image"]]


def test_resume_keeps_finished_shards_and_refuses_other_settings(dataset_dir, synthetic_body_model_dir):
    before = [path.read_bytes() for path in _shards(dataset_dir)]
    report = _synthesize(dataset_dir, synthetic_body_model_dir)
    assert (report.shards_written, report.shards_reused, report.num_rows) == (0, 2, NUM_SAMPLES)
    assert [path.read_bytes() for path in _shards(dataset_dir)] == before
    with pytest.raises(ShardingError, match="max_people: 1 -> 2"):
        _synthesize(dataset_dir, synthetic_body_model_dir, max_people=2)


# ------------------------------------------------------------------------------------------- several people
def test_several_people_share_their_image_and_each_has_its_own_box(tmp_path, synthetic_body_model_dir, body_models):
    counts = people_counts(3, 0, 5, 3)
    assert counts.max() > 1 and counts.min() >= 1
    report = _synthesize(tmp_path / "group", synthetic_body_model_dir, num_samples=5, seed=3, max_people=3, shard_size=5)
    assert report.num_rows == counts.sum()
    rows = _load(tmp_path / "group", decode_images=False).with_format("numpy")[:]
    assert list(rows["source_index"]) == list(range(counts.sum()))
    assert list(rows["image_path"]) == [f"train/{i:08d}.jpg" for i, count in enumerate(counts) for _ in range(count)]
    vertices, _ = _rerun_body_model(rows, body_models)
    start = 0
    for count in counts:
        image_rows = list(range(start, start + count))
        start += count
        assert len({rows["image"][r]["bytes"] for r in image_rows}) == 1  # one image, one row per person
        assert len({tuple(rows["focal_length"][r]) for r in image_rows}) == 1
        render = _render_image_people(rows, body_models, vertices, image_rows)
        for person, row in enumerate(image_rows):
            pixel_rows, pixel_columns = np.nonzero(render.person_index == person)
            x, y, w, h = rows["bbox_xywh"][row]
            assert len(pixel_rows) > 0  # nobody is hidden completely
            assert x - 1e-3 <= pixel_columns.min() and pixel_columns.max() <= x + w + 1e-3
            assert y - 1e-3 <= pixel_rows.min() and pixel_rows.max() <= y + h + 1e-3


# ------------------------------------------------------------------------------------------- CLI
def test_cli_writes_a_dataset_and_reports_bad_arguments(tmp_path, synthetic_body_model_dir, capsys):
    out_dir = tmp_path / "cli"
    common = ["synthesize", str(out_dir), "--body-model", str(synthetic_body_model_dir)]
    assert cli_main([*common, "--num-samples", "2", "--seed", "5", "--image-size", "64", "96", "--split", "val"]) == 0
    assert "synthetic val: 2 images, 2 rows in 1 shards" in capsys.readouterr().out
    assert _load(out_dir, split="val").num_rows == 2
    capsys.readouterr()

    for arguments, message in (
        (["--num-samples", "0", "--seed", "0"], "num_samples must be a positive integer"),
        (["--num-samples", "2", "--seed", "-1"], "seed must be a non-negative integer"),
        (["--num-samples", "2", "--seed", "0", "--max-people", "20"], "max_people must be an integer in [1, 8]"),
        (["--num-samples", "2", "--seed", "0", "--image-size", "10", "96"], "image_size must be (height, width)"),
        (["--num-samples", "2", "--seed", "0", "--num-proc", "0"], "num_proc must be a positive integer"),
        (["--num-samples", "2", "--seed", "0", "--split", "no/slash"], "split name 'no/slash'"),
    ):
        assert cli_main([*common, *arguments]) == BAD_INPUT, arguments
        error = capsys.readouterr().err
        assert error.startswith("error: ") and message in error and error.count("\n") == 1, repr(error)
    missing = tmp_path / "no_model"
    assert cli_main(["synthesize", str(out_dir), "--num-samples", "2", "--seed", "0", "--body-model", str(missing)]) == BAD_INPUT
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse: a required option is missing
        cli_main(["synthesize", str(out_dir), "--num-samples", "2"])
    assert exit_info.value.code == 2 and "--seed" in capsys.readouterr().err

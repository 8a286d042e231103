"""AGORA-val, UBody and EgoBody-EgoSet from their official file formats: the stand-ins' layouts, the rows each
format reads (against the stand-in's own files, read here with json / numpy), which annotations survive the
originals' selection rules (counted here independently), and a ground-truth mesh of the wrong size refused by name."""

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hub_datasets.benchmarks import get_format
from hub_datasets.schema import EHPS_FEATURES
from smplest_hf.models.smplest_x.smplx_layout import SMPLX_OUTPUT_JOINT_NAMES

IDENTITY_COLUMNS = ("sample_id", "dataset_name", "source_index")  # filled by the conversion driver
UBODY_SAMPLES, AGORA_SAMPLES, EGOBODY_SAMPLES = 3, 2, 2


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory, synthetic_body_model_dir):
    """{name: folder} of the three stand-ins, written once for the module."""
    root = tmp_path_factory.mktemp("benchmark_stand_ins")
    folders = {}
    for name, count in (("ubody", UBODY_SAMPLES), ("agora_val", AGORA_SAMPLES), ("egobody_egoset", EGOBODY_SAMPLES)):
        folders[name] = root / name
        folders[name].mkdir()
        get_format(name).write_stand_in(folders[name], count, 0, Path(synthetic_body_model_dir))
    return folders


def read_rows(name, folder):
    rows = list(get_format(name).read_rows(folder))
    for row in rows:
        expected = set(EHPS_FEATURES) - set(IDENTITY_COLUMNS) | set(get_format(name).extra_features)
        assert expected <= set(row), expected - set(row)
    return rows


# ============================================================================================== UBody
UBODY_ANNOTATION_KEYS = {"id", "image_id", "bbox", "iscrowd", "num_keypoints", "valid_label", "keypoints", "foot_kpts",
                         "face_kpts", "lefthand_kpts", "righthand_kpts", "lefthand_valid", "righthand_valid",
                         "face_valid", "lefthand_box", "righthand_box", "face_box"}  # fmt: skip
UBODY_FIT_KEYS = {"root_pose", "body_pose", "shape", "trans", "lhand_pose", "rhand_pose", "jaw_pose", "expr"}


def original_box_survives(box, width, height):
    """SMPLer-X's process_bbox is not None: its sanitising, written here anew."""
    x, y, w, h = box
    x1, y1 = max(0, x), max(0, y)
    x2, y2 = min(width - 1, x1 + max(0, w - 1)), min(height - 1, y1 + max(0, h - 1))
    return w * h > 0 and x2 > x1 and y2 > y1


def ubody_selection(folder):
    """[(scene, annotation, fit, frame path)] the original evaluates, and the number of every-100th candidates."""
    test_videos = set(np.load(folder / "splits/intra_scene_test_list.npy").tolist())
    selected, candidates = [], 0
    for scene in sorted(p.name for p in (folder / "images").iterdir()):
        annotations = json.loads((folder / "annotations" / scene / "keypoint_annotation.json").read_text())
        fits = json.loads((folder / "annotations" / scene / "smplx_annotation.json").read_text())
        images = {image["id"]: image for image in annotations["images"]}
        for count, annotation in enumerate(annotations["annotations"]):
            if (count + 1) % 100 != 0:
                continue
            candidates += 1
            image = images[annotation["image_id"]]
            name = image["file_name"].lstrip("/")
            video = name.split("/")[-2]
            if "_Trim" in video:
                video = video[: video.index("_Trim")]
            frame = folder / "images" / scene / name
            if (
                video in test_videos and frame.exists() and not annotation["iscrowd"]
                and annotation["num_keypoints"] > 0 and annotation["valid_label"] != 0 and str(annotation["id"]) in fits
                and original_box_survives(annotation["bbox"], image["width"], image["height"])
            ):  # fmt: skip
                selected.append((scene, annotation, fits[str(annotation["id"])], frame))
    return selected, candidates


def test_ubody_stand_in_has_the_official_layout(stand_ins):
    folder = stand_ins["ubody"]
    assert set(get_format("ubody").required_files(folder)) == {
        "splits/intra_scene_test_list.npy", "images",
        *(f"annotations/{scene}/{file}" for scene in ("ConductMusic", "TalkShow")
          for file in ("keypoint_annotation.json", "smplx_annotation.json")),
    }  # fmt: skip
    test_videos = np.load(folder / "splits/intra_scene_test_list.npy")  # a plain unicode array: no pickle
    assert test_videos.dtype.kind == "U" and len(test_videos) == 4
    for scene in ("ConductMusic", "TalkShow"):
        annotations = json.loads((folder / "annotations" / scene / "keypoint_annotation.json").read_text())
        assert set(annotations["images"][0]) == {"id", "file_name", "height", "width"}
        assert all(UBODY_ANNOTATION_KEYS <= set(a) for a in annotations["annotations"])
        assert all(len(a["face_kpts"]) == 68 * 3 and len(a["lefthand_kpts"]) == 21 * 3 for a in annotations["annotations"])
        fits = json.loads((folder / "annotations" / scene / "smplx_annotation.json").read_text())
        for fit in fits.values():
            assert UBODY_FIT_KEYS <= set(fit["smplx_param"]) and set(fit["cam_param"]) == {"focal", "princpt"}
            assert len(fit["smplx_param"]["body_pose"]) == 63 and len(fit["smplx_param"]["lhand_pose"]) == 45
    frames = sorted((folder / "images").rglob("*.png"))
    assert frames and all(len(frame.stem) == 6 and frame.stem.isdigit() for frame in frames)
    assert any("_Trim" in frame.parent.name for frame in frames)


def test_ubody_rows_are_the_every_100th_test_annotations_that_pass_the_filters(stand_ins):
    folder = stand_ins["ubody"]
    selected, candidates = ubody_selection(folder)
    rows = read_rows("ubody", folder)
    # Every rule of the original drops one candidate of the stand-in.
    assert len(selected) == UBODY_SAMPLES and candidates == UBODY_SAMPLES + 7
    assert len(rows) == len(selected)
    names = {name: index for index, name in enumerate(SMPLX_OUTPUT_JOINT_NAMES)}
    for row, (scene, annotation, fit, frame) in zip(rows, selected):
        parameters = fit["smplx_param"]
        assert row["image"]["bytes"] == frame.read_bytes()
        assert row["image_path"] == f"{scene}/{annotation_file_name(folder, scene, annotation)}"
        assert (row["image_height"], row["image_width"]) == (240, 320)
        np.testing.assert_array_equal(row["bbox_xywh"], np.float32(annotation["bbox"]))
        assert row["gender"] == "neutral" and row["smplx_valid"] and row["smplx_transl_valid"]
        for column, key in (("smplx_global_orient", "root_pose"), ("smplx_body_pose", "body_pose"),
                            ("smplx_left_hand_pose", "lhand_pose"), ("smplx_right_hand_pose", "rhand_pose"),
                            ("smplx_jaw_pose", "jaw_pose"), ("smplx_betas", "shape"), ("smplx_expression", "expr"),
                            ("smplx_transl", "trans")):  # fmt: skip
            np.testing.assert_array_equal(np.ravel(row[column]), np.float32(parameters[key]), err_msg=column)
        assert row["smplx_lhand_valid"] == parameters.get("lhand_valid", annotation["lefthand_valid"])
        assert row["smplx_rhand_valid"] == parameters.get("rhand_valid", annotation["righthand_valid"])
        assert row["smplx_face_valid"] == parameters.get("face_valid", annotation["face_valid"])
        assert not row["smplx_flat_hand_mean"]
        np.testing.assert_array_equal(row["focal_length"], np.float32(fit["cam_param"]["focal"]))
        np.testing.assert_array_equal(row["principal_point"], np.float32(fit["cam_param"]["princpt"]))
        # COCO-WholeBody points land on the SMPL-X joints of the same names.
        np.testing.assert_array_equal(row["keypoints_2d"][names["nose"]], np.float32(annotation["keypoints"][0:3]))
        np.testing.assert_array_equal(row["keypoints_2d"][names["right_heel"]], np.float32(annotation["foot_kpts"][15:18]))
        np.testing.assert_array_equal(row["keypoints_2d"][names["left_wrist"]], np.float32(annotation["lefthand_kpts"][0:3]))
        np.testing.assert_array_equal(row["keypoints_2d"][names["right_pinky"]], np.float32(annotation["righthand_kpts"][60:63]))
        np.testing.assert_array_equal(row["keypoints_2d"][names["right_contour_1"]], np.float32(annotation["face_kpts"][0:3]))
        np.testing.assert_array_equal(row["keypoints_2d"][names["right_eye_brow1"]], np.float32(annotation["face_kpts"][51:54]))
    # The stand-in exercises the flags and the in-image rule: a missing left hand, a fit's own invalid right hand
    # and face, and a person whose box starts at the frame's left edge.
    assert [row["smplx_lhand_valid"] for row in rows].count(False) >= 1
    assert any(not row["smplx_rhand_valid"] and not row["smplx_face_valid"] for row in rows)
    assert any(row["bbox_xywh"][0] == 0 for row in rows)


def annotation_file_name(folder, scene, annotation):
    images = json.loads((folder / "annotations" / scene / "keypoint_annotation.json").read_text())["images"]
    return next(image["file_name"] for image in images if image["id"] == annotation["image_id"]).lstrip("/")


def test_ubody_missing_annotation_file_is_named(stand_ins, tmp_path):
    folder = tmp_path / "ubody"
    shutil.copytree(stand_ins["ubody"], folder)
    (folder / "annotations/TalkShow/smplx_annotation.json").unlink()
    required = get_format("ubody").required_files(folder)
    assert [path for path in required if not (folder / path).exists()] == ["annotations/TalkShow/smplx_annotation.json"]


# ============================================================================================== AGORA
AGORA_ANNOTATION_KEYS = {"id", "image_id", "is_valid", "kid", "gender", "bbox", "lhand_bbox", "rhand_bbox", "face_bbox",
                         "smplx_verts_path", "smplx_param_path", "smplx_joints_2d_path", "smplx_joints_3d_path"}  # fmt: skip


def agora_crop(folder, images, annotation):
    stem = Path(images[annotation["image_id"]]["file_name_3840x2160"]).stem
    return folder / "3840x2160/validation_crop" / f"{stem}_ann_id_{annotation['id']}.png"


def test_agora_stand_in_has_the_official_layout(stand_ins):
    folder = stand_ins["agora_val"]
    annotation_file = json.loads((folder / "AGORA_validation.json").read_text())
    images = {image["id"]: image for image in annotation_file["images"]}
    assert all(set(image) == {"id", "file_name_3840x2160", "file_name_1280x720"} for image in images.values())
    annotations = annotation_file["annotations"]
    assert len(annotations) == AGORA_SAMPLES + 2
    for annotation in annotations:
        assert AGORA_ANNOTATION_KEYS <= set(annotation)
        assert all(len(annotation[key]) == 4 for key in ("bbox", "lhand_bbox", "rhand_bbox", "face_bbox"))
        assert np.asarray(json.loads((folder / annotation["smplx_verts_path"]).read_text())).shape == (10475, 3)
        assert np.asarray(json.loads((folder / annotation["smplx_joints_2d_path"]).read_text())).shape == (127, 2)
        with open(folder / annotation["smplx_param_path"], "rb") as file:
            parameters = pickle.load(file)
        assert parameters["transl"].shape == (1, 3)
        assert parameters["betas"].shape == ((1, 11) if annotation["kid"] else (1, 10))
        assert Image.open(agora_crop(folder, images, annotation)).size == (384, 512)
    side = json.loads(agora_crop(folder, images, annotations[0]).with_suffix(".json").read_text())
    assert set(side) == {"bbox", "img2bb_trans", "resized_height", "resized_width"}
    assert np.asarray(side["img2bb_trans"]).shape == (2, 3) and (side["resized_width"], side["resized_height"]) == (384, 512)


def test_agora_rows_are_the_valid_annotations_with_crops_and_their_own_meshes(stand_ins):
    folder = stand_ins["agora_val"]
    annotation_file = json.loads((folder / "AGORA_validation.json").read_text())
    images = {image["id"]: image for image in annotation_file["images"]}
    annotations = annotation_file["annotations"]
    expected = [a for a in annotations if a["is_valid"] and agora_crop(folder, images, a).with_suffix(".json").exists()]
    # The stand-in has a kid (kept), an invalid person and one without a crop side file (both dropped).
    assert len(expected) == AGORA_SAMPLES and any(a["kid"] for a in expected)
    assert any(not a["is_valid"] for a in annotations)
    rows = read_rows("agora_val", folder)
    assert len(rows) == len(expected)
    for row, annotation in zip(rows, expected):
        crop = agora_crop(folder, images, annotation)
        assert row["image"]["bytes"] == crop.read_bytes()
        assert row["image_path"] == str(crop.relative_to(folder))
        np.testing.assert_array_equal(row["bbox_xywh"], [0, 0, 384, 512])
        assert row["gender"] == annotation["gender"] and not row["smplx_valid"]
        vertices = np.asarray(json.loads((folder / annotation["smplx_verts_path"]).read_text()), np.float32)
        np.testing.assert_array_equal(row["smplx_vertices"], vertices)
        # Hand boxes: the annotation's 4K box through the crop's affine (a scale and a shift).
        transform = np.asarray(json.loads(crop.with_suffix(".json").read_text())["img2bb_trans"])
        x, y, w, h = annotation["lhand_bbox"]
        corner = transform[:, :2] @ [x, y] + transform[:, 2]
        np.testing.assert_allclose(row["lhand_bbox_xywh"][:2], corner, atol=1e-3)
        np.testing.assert_allclose(row["lhand_bbox_xywh"][2:], [w * transform[0, 0] - 1, h * transform[1, 1] - 1], atol=1e-3)


def test_agora_mesh_with_the_wrong_vertex_count_is_refused_by_name(stand_ins, tmp_path):
    folder = tmp_path / "agora"
    shutil.copytree(stand_ins["agora_val"], folder)
    mesh = folder / "gt_verts/smplx/0.json"
    mesh.write_text(json.dumps(json.loads(mesh.read_text())[:-1]))
    with pytest.raises(ValueError, match=r"gt_verts/smplx/0\.json.*\(10474, 3\)"):
        read_rows("agora_val", folder)


# ============================================================================================== EgoBody
EGOBODY_FILE = "preprocessed_datasets/egobody_egocentric_test_230425_043_fix_betas.npz"


def test_egobody_stand_in_is_humandata_as_the_original_loader_reads_it(stand_ins):
    folder = stand_ins["egobody_egoset"]
    plain = np.load(folder / EGOBODY_FILE)  # the loader reads image_path without allow_pickle
    assert plain["image_path"].dtype.kind == "U" and len(plain["image_path"]) == EGOBODY_SAMPLES + 1
    content = np.load(folder / EGOBODY_FILE, allow_pickle=True)
    count = EGOBODY_SAMPLES + 1
    assert {"bbox_xywh", "keypoints2d_smplx", "keypoints2d_smplx_mask", "keypoints3d_smplx", "keypoints3d_smplx_mask",
            "__keypoints_compressed__", "smplx", "meta", "config"} <= set(content.files)  # fmt: skip
    assert content["bbox_xywh"].shape == (count, 5) and content["keypoints2d_smplx"].shape == (count, 190, 3)
    assert content["keypoints3d_smplx"].shape == (count, 190, 4) and not content["__keypoints_compressed__"]
    smplx = content["smplx"].item()
    assert smplx["body_pose"].shape == (count, 21, 3) and smplx["left_hand_pose"].shape == (count, 15, 3)
    assert smplx["betas_neutral"].shape == (count, 10) and "gender" not in smplx
    assert set(content["meta"].item()["gender"]) == {"male", "female"}
    assert (folder / "EgoBody" / str(content["image_path"][0])).is_file()


def test_egobody_rows_are_the_file_rows_without_nan_keypoints(stand_ins):
    folder = stand_ins["egobody_egoset"]
    content = np.load(folder / EGOBODY_FILE, allow_pickle=True)
    smplx, meta = content["smplx"].item(), content["meta"].item()
    kept = np.flatnonzero(~np.isnan(content["keypoints3d_smplx"][:, :144]).any(axis=(1, 2)))
    assert len(kept) == EGOBODY_SAMPLES  # the stand-in's last row has a NaN joint
    rows = read_rows("egobody_egoset", folder)
    assert len(rows) == len(kept)
    for row, index in zip(rows, kept):
        image_path = str(content["image_path"][index])
        assert row["image_path"] == image_path
        assert row["image"]["bytes"] == (folder / "EgoBody" / image_path).read_bytes()
        np.testing.assert_array_equal(row["bbox_xywh"], content["bbox_xywh"][index, :4])
        assert row["gender"] == meta["gender"][index]
        np.testing.assert_array_equal(row["smplx_betas_neutral"], smplx["betas_neutral"][index])
        for column, key in (("smplx_global_orient", "global_orient"), ("smplx_body_pose", "body_pose"),
                            ("smplx_left_hand_pose", "left_hand_pose"), ("smplx_transl", "transl"),
                            ("smplx_expression", "expression")):  # fmt: skip
            np.testing.assert_array_equal(row[column], smplx[key][index], err_msg=column)
        np.testing.assert_array_equal(row["keypoints_3d"], content["keypoints3d_smplx"][index, :144])


# ============================================================================== converted and evaluated
DEMO_MODEL_DIR = Path(__file__).resolve().parents[1] / "smplest_hf" / "demo_model"


@pytest.fixture(scope="module")
def evaluated(stand_ins, tmp_path_factory, synthetic_body_model_dir):
    """The demo model evaluated on each converted stand-in: {name: BenchmarkResult}."""
    import datasets

    from hub_datasets.benchmarks.conversion import convert_benchmark
    from smplest_hf.evaluation import evaluate

    root = tmp_path_factory.mktemp("converted")
    with pytest.MonkeyPatch.context() as patch:  # a datasets cache of this module's own, never a stale one
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", root / "datasets_cache")
        specs = [f"{name}={convert_benchmark(name, folder, root / name).out_dir}" for name, folder in stand_ins.items()]
        report = evaluate(str(DEMO_MODEL_DIR), specs, body_model_dir=synthetic_body_model_dir, batch_size=2, progress=False)
    return {result.name: result for result in report.benchmarks}


class IndependentPve:
    """PVE (all) of the demo model, one sample at a time: the crop of the person box, the model's mesh, pelvis
    alignment with row 0 of the neutral SMPL-X joint regressor (read from the file), optionally in-image points."""

    def __init__(self, body_model_dir):
        from smplest_hf import SmplestXForHumanMeshRecovery, SmplestXImageProcessor
        from smplest_hf.models.smplest_x.body_model import SmplxBodyModel

        self.model = SmplestXForHumanMeshRecovery.from_pretrained(DEMO_MODEL_DIR, body_model_dir=body_model_dir).eval()
        self.processor = SmplestXImageProcessor.from_pretrained(DEMO_MODEL_DIR)
        self.neutral = SmplxBodyModel.from_directory(body_model_dir, "neutral")
        with np.load(Path(body_model_dir) / "smplx" / "SMPLX_NEUTRAL.npz") as files:
            self.pelvis = files["J_regressor"][0].astype(np.float64)
        self.errors = []

    def neutral_mesh(self, pose: dict, betas, lhand_valid, rhand_valid, face_valid) -> np.ndarray:
        """(V, 3) neutral SMPL-X mesh, SMPLer-X's rules: betas zeroed if any |beta| > 3, a missing hand at the mean
        pose, a missing face with zero jaw and expression."""
        import torch

        betas = np.asarray(betas, np.float32)
        betas = np.zeros_like(betas) if np.abs(betas).max() > 3 else betas

        def tensor(value, keep=True):
            return torch.tensor(np.asarray(value, np.float32).reshape(1, -1) * keep)

        with torch.no_grad():
            return self.neutral(
                global_orient=tensor(pose["global_orient"]), body_pose=tensor(pose["body_pose"]).reshape(1, 21, 3),
                left_hand_pose=tensor(pose["left_hand_pose"], lhand_valid).reshape(1, 15, 3),
                right_hand_pose=tensor(pose["right_hand_pose"], rhand_valid).reshape(1, 15, 3),
                jaw_pose=tensor(pose["jaw_pose"], face_valid), betas=tensor(betas),
                expression=tensor(pose["expression"], face_valid), transl=tensor(pose["transl"]),
            ).vertices[0].double().numpy()  # fmt: skip

    def add(self, image_bytes: bytes, box, bbox_ratio: float, target: np.ndarray, in_image: bool = False) -> None:
        import io

        import torch

        picture = Image.open(io.BytesIO(image_bytes)).convert("RGB")
        inputs = self.processor([picture], boxes=[[list(box)]], bbox_ratio=bbox_ratio, return_tensors="pt")
        with torch.no_grad():
            predicted = self.model(inputs["pixel_values"]).vertices[0].double().numpy()
        valid = self.in_image(target, inputs["processed_boxes"][0].numpy(), picture.size) if in_image else None
        error = np.linalg.norm((predicted - self.pelvis @ predicted) - (target - self.pelvis @ target), axis=1)
        if valid is None:
            self.errors.append(error.mean() * 1000)
        elif valid.any():
            self.errors.append(error[valid].mean() * 1000)

    def in_image(self, points: np.ndarray, box: np.ndarray, image_size) -> np.ndarray:
        """UBody's test: the point through the virtual crop camera, scaled to the crop, mapped into the image."""
        config = self.model.config
        (fx, fy), (cx, cy) = config.focal_length, config.principal_point
        (body_height, body_width), (crop_height, crop_width) = config.input_body_size, config.input_image_size
        x = (points[:, 0] / (points[:, 2] + 1e-4) * fx + cx) * crop_width / body_width
        y = (points[:, 1] / (points[:, 2] + 1e-4) * fy + cy) * crop_height / body_height
        image_x, image_y = box[0] + x * box[2] / crop_width, box[1] + y * box[3] / crop_height
        width, height = image_size
        return (image_x > 0) & (image_x < width) & (image_y > 0) & (image_y < height)

    @property
    def mean(self) -> float:
        return float(np.mean(self.errors))


def test_agora_converted_and_evaluated_pve_matches_an_independent_computation(stand_ins, evaluated, synthetic_body_model_dir):
    folder = stand_ins["agora_val"]
    annotation_file = json.loads((folder / "AGORA_validation.json").read_text())
    images = {image["id"]: image for image in annotation_file["images"]}
    reference = IndependentPve(synthetic_body_model_dir)
    for annotation in annotation_file["annotations"]:
        crop = agora_crop(folder, images, annotation)
        if annotation["is_valid"] and crop.with_suffix(".json").exists():
            target = np.asarray(json.loads((folder / annotation["smplx_verts_path"]).read_text()), np.float64)
            reference.add(crop.read_bytes(), [0, 0, 384, 512], 1.0, target)
    result = evaluated["agora_val"]
    assert result.num_samples == len(reference.errors) == AGORA_SAMPLES
    assert result.primary_metric == "pve_all"
    assert result.primary_error == pytest.approx(reference.mean, rel=1e-4)


def test_ubody_converted_and_evaluated_pve_matches_an_independent_computation(stand_ins, evaluated, synthetic_body_model_dir):
    reference = IndependentPve(synthetic_body_model_dir)
    selected, _ = ubody_selection(stand_ins["ubody"])
    for _, annotation, fit, frame in selected:
        parameters = fit["smplx_param"]
        pose = {"global_orient": parameters["root_pose"], "body_pose": parameters["body_pose"],
                "left_hand_pose": parameters["lhand_pose"], "right_hand_pose": parameters["rhand_pose"],
                "jaw_pose": parameters["jaw_pose"], "expression": parameters["expr"], "transl": parameters["trans"]}  # fmt: skip
        target = reference.neutral_mesh(
            pose, parameters["shape"], parameters.get("lhand_valid", annotation["lefthand_valid"]),
            parameters.get("rhand_valid", annotation["righthand_valid"]), parameters.get("face_valid", annotation["face_valid"]),
        )  # fmt: skip
        reference.add(frame.read_bytes(), annotation["bbox"], 1.25, target, in_image=True)
    result = evaluated["ubody"]
    assert result.num_samples == UBODY_SAMPLES and result.primary_metric == "pve_all"
    # The person moved half out of its frame has no point in view of the evaluator's camera: skipped, as the original.
    assert result.counts["pve_all"] == len(reference.errors) == UBODY_SAMPLES - 1
    assert result.primary_error == pytest.approx(reference.mean, rel=1e-4)


def test_egobody_converted_and_evaluated_pve_matches_an_independent_computation(stand_ins, evaluated, synthetic_body_model_dir):
    folder = stand_ins["egobody_egoset"]
    content = np.load(folder / EGOBODY_FILE, allow_pickle=True)
    smplx = content["smplx"].item()
    reference = IndependentPve(synthetic_body_model_dir)
    for index in np.flatnonzero(~np.isnan(content["keypoints3d_smplx"][:, :144]).any(axis=(1, 2))):
        pose = {key: smplx[key][index] for key in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose",
                                                   "jaw_pose", "expression", "transl")}  # fmt: skip
        # A hand pose of all zeros is "not annotated" in HumanData (the mean hand either way).
        hands = [bool(np.any(smplx[key][index])) for key in ("left_hand_pose", "right_hand_pose")]
        target = reference.neutral_mesh(pose, smplx["betas_neutral"][index], *hands, True)
        image = (folder / "EgoBody" / str(content["image_path"][index])).read_bytes()
        reference.add(image, content["bbox_xywh"][index, :4], 1.2 * 0.833, target)
    result = evaluated["egobody_egoset"]
    assert result.num_samples == len(reference.errors) == EGOBODY_SAMPLES
    assert result.primary_error == pytest.approx(reference.mean, rel=1e-4)

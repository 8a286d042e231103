"""Benchmark formats, EHF and 3DPW-test: synthetic stand-ins in the official layout -> `convert-benchmark` -> rows.

Every expectation is read from the stand-in's own files here, independently of the converter: JSON with `json`,
PLY meshes with a numpy header parse, EHF's camera rotation from the release's Rodrigues vector by the formula.
"""

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from PIL import Image

from hub_datasets.__main__ import main as hub_datasets_main
from hub_datasets.benchmarks.conversion import (
    STAND_IN_MARKER,
    BenchmarkSourceError,
    convert_benchmark,
    ehps_row_defaults,
    synthesize_benchmark,
)
from hub_datasets.schema import EHPS_FEATURES

NUM_SMPLX_VERTICES = 10475
# EHF's camera, from the release (fact sheet A2): Rodrigues vector, and the rotation matrix it names.
EHF_ROTATION_VECTOR = np.array([-2.98747896, 0.01172457, -0.05704687])
EHF_ROTATION_PUBLISHED = np.array(
    [[0.999245, -0.004880, 0.038552], [-0.010720, -0.988204, 0.152765], [0.037351, -0.153063, -0.987510]]
)
EHF_FOCAL, EHF_PRINCIPAL, EHF_WIDTH = 1498.22426237, (790.263706, 578.90334), 1600
DEMO_MODEL_DIR = Path(__file__).resolve().parents[1] / "smplest_hf" / "demo_model"


# ========================================================================================== helpers
def rodrigues(vector: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(vector)
    k = vector / angle
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def parse_binary_ply(path: Path) -> np.ndarray:
    """(V, 3) float32 vertices of a binary little-endian PLY whose vertex element is float x, y, z only."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().splitlines()
    assert header[:2] == ["ply", "format binary_little_endian 1.0"]
    count = int(next(line for line in header if line.startswith("element vertex")).split()[2])
    assert [line for line in header if line.startswith("property float")] == [f"property float {a}" for a in "xyz"]
    return np.frombuffer(data, "<f4", count * 3, offset=end).reshape(count, 3)


def write_ascii_ply(path: Path, vertices: np.ndarray) -> None:
    lines = ["ply", "format ascii 1.0", "comment written by the test", f"element vertex {len(vertices)}",
             "property float x", "property float y", "property float z", "property uchar red", "end_header"]  # fmt: skip
    lines += [f"{x!r} {y!r} {z!r} 7" for x, y, z in vertices.astype(np.float64).tolist()]
    path.write_text("\n".join(lines) + "\n")


def read_rows(out_dir: Path) -> list:
    (shard,) = sorted((out_dir / "data").glob("test-*.parquet"))
    return pq.read_table(shard).to_pylist()


def card_yaml(out_dir: Path) -> dict:
    text = (out_dir / "README.md").read_text()
    return yaml.safe_load(text.split("---\n")[1])


def copy_without_marker(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    (target / STAND_IN_MARKER).unlink()
    return target


# ========================================================================================== fixtures
@pytest.fixture(scope="module")
def ehf(tmp_path_factory, synthetic_body_model_dir):
    root = tmp_path_factory.mktemp("ehf")
    source = synthesize_benchmark("ehf", root / "EHF" / "data", 3, seed=0, body_model_dir=synthetic_body_model_dir)
    # Distinct folder names: `datasets` caches local folders of the same name and layout under one entry.
    report = convert_benchmark("ehf", source, root / "ehf_converted")
    return {"root": root, "source": source, "out": report.out_dir, "report": report}


@pytest.fixture(scope="module")
def pw3d(tmp_path_factory, synthetic_body_model_dir):
    root = tmp_path_factory.mktemp("pw3d")
    source = synthesize_benchmark("3dpw", root / "PW3D" / "data", 3, seed=0, body_model_dir=synthetic_body_model_dir)
    report = convert_benchmark("3dpw", source, root / "pw3d_converted")
    return {"root": root, "source": source, "out": report.out_dir, "report": report}


# ========================================================================================== EHF
def test_ehf_stand_in_is_in_the_official_layout(ehf):
    source = ehf["source"]
    content = json.loads((source / "EHF.json").read_text())
    assert set(content) == {"images", "annotations"}
    assert [image["file_name"] for image in content["images"]] == ["01_img.jpg", "02_img.jpg", "03_img.jpg"]
    assert sorted(p.name for p in source.iterdir()) == sorted(
        ["EHF.json", STAND_IN_MARKER] + [f"0{i}_{kind}" for i in (1, 2, 3) for kind in ("img.jpg", "align.ply")]
    )
    for image, annotation in zip(content["images"], content["annotations"]):
        assert set(image) == {"id", "file_name", "height", "width"}
        assert set(annotation) == {"id", "image_id", "body_bbox", "lefthand_bbox", "righthand_bbox", "face_bbox"}
        assert annotation["image_id"] == image["id"]
        with Image.open(source / image["file_name"]) as picture:
            assert picture.size == (image["width"], image["height"]) == (320, 240)  # not the official 1600 x 1200
        for key in ("body_bbox", "lefthand_bbox", "righthand_bbox", "face_bbox"):
            x, y, w, h = annotation[key]
            assert w > 0 and h > 0 and x >= -0.5 and y >= -0.5 and x + w <= 319.5 and y + h <= 239.5, key
        frame = image["file_name"].split("_")[0]
        assert parse_binary_ply(source / f"{frame}_align.ply").shape == (NUM_SMPLX_VERTICES, 3)
    assert json.loads((source / STAND_IN_MARKER).read_text())["benchmark"] == "ehf"


def test_ehf_rows_hold_the_rotated_scans_boxes_and_camera_of_the_files(ehf):
    source, rows = ehf["source"], read_rows(ehf["out"])
    content = json.loads((source / "EHF.json").read_text())
    rotation = rodrigues(EHF_ROTATION_VECTOR)
    np.testing.assert_allclose(rotation, EHF_ROTATION_PUBLISHED, atol=2e-6)
    assert ehf["report"].num_rows == len(rows) == 3 and ehf["report"].split == "test"
    scale = 320 / EHF_WIDTH
    for index, (row, image, annotation) in enumerate(zip(rows, content["images"], content["annotations"])):
        assert row["sample_id"] == f"ehf/test/{index:08d}" and row["dataset_name"] == "ehf"
        assert row["image"]["bytes"] == (source / image["file_name"]).read_bytes()
        assert (row["image_path"], row["image_height"], row["image_width"]) == (image["file_name"], 240, 320)
        scan = parse_binary_ply(source / image["file_name"].replace("_img.jpg", "_align.ply"))
        expected = (rotation @ scan.astype(np.float64).T).T
        np.testing.assert_allclose(np.asarray(row["smplx_vertices"]), expected, atol=2e-6, rtol=0)
        for column, key in (("bbox_xywh", "body_bbox"), ("lhand_bbox_xywh", "lefthand_bbox"),
                            ("rhand_bbox_xywh", "righthand_bbox"), ("face_bbox_xywh", "face_bbox")):  # fmt: skip
            np.testing.assert_array_equal(row[column], np.float32(annotation[key]))
        assert row["lhand_bbox_valid"] and row["rhand_bbox_valid"] and row["face_bbox_valid"]
        assert row["gender"] == "male" and not row["smplx_valid"] and not row["smplx_body_valid"]
        assert row["camera_intrinsics_valid"] and row["camera_extrinsics_valid"]
        np.testing.assert_allclose(row["focal_length"], [EHF_FOCAL * scale] * 2, rtol=1e-6)
        np.testing.assert_allclose(row["principal_point"], np.array(EHF_PRINCIPAL) * scale, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(row["camera_rotation"]), rotation, atol=1e-6)
    # The scans are the rendered people: the scanner-frame mesh, moved by the release's camera, projects into the
    # annotated body box.
    translation = np.array([-0.03609917, 0.43416458, 2.37101226])
    camera = rotation @ scan.astype(np.float64).T + translation[:, None]
    pixels = camera[:2] / camera[2] * EHF_FOCAL * scale + (np.array(EHF_PRINCIPAL) * scale)[:, None]
    x, y, w, h = content["annotations"][-1]["body_bbox"]
    np.testing.assert_allclose([pixels[0].min(), pixels[1].min(), np.ptp(pixels[0]), np.ptp(pixels[1])], [x, y, w, h], atol=1e-3)


def test_conversion_records_its_source_in_the_card_and_resumes(ehf, tmp_path):
    stand_in = card_yaml(ehf["out"])
    assert stand_in["ehps_benchmark"]["test"]["source"] == "synthetic stand-in"
    assert (stand_in["ehps_benchmark"]["test"]["name"], stand_in["ehps_benchmark"]["test"]["num_rows"]) == ("ehf", 3)
    assert stand_in["ehps_benchmark"]["test"]["stand_in"]["seed"] == 0 and stand_in["license"] == "apache-2.0"

    official = copy_without_marker(ehf["source"], tmp_path / "official")
    report = convert_benchmark("ehf", official, tmp_path / "out")
    card = card_yaml(tmp_path / "out")
    assert report.source_kind == card["ehps_benchmark"]["test"]["source"] == "official release"
    assert "license" not in card  # the benchmark's own licence applies: not stated for the user
    again = convert_benchmark("ehf", official, tmp_path / "out")
    assert (again.shards_written, again.shards_reused, again.num_rows) == (0, 1, 3)
    assert read_rows(tmp_path / "out") == [dict(row) for row in read_rows(ehf["out"])]


def test_missing_files_are_all_named_before_any_output(ehf, tmp_path):
    source = copy_without_marker(ehf["source"], tmp_path / "EHF")
    (source / "02_img.jpg").unlink()
    (source / "03_align.ply").unlink()
    with pytest.raises(BenchmarkSourceError, match=r"lacks 2 file\(s\).*02_img\.jpg, 03_align\.ply.*SMPL-X website"):
        convert_benchmark("ehf", source, tmp_path / "out")
    (source / "EHF.json").unlink()
    with pytest.raises(BenchmarkSourceError, match=r"lacks 1 file\(s\).*: EHF\.json\. They come from"):
        convert_benchmark("ehf", source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_scan_of_the_wrong_vertex_count_is_refused_by_name_and_ascii_scans_are_read(ehf, tmp_path):
    source = copy_without_marker(ehf["source"], tmp_path / "EHF")
    first = parse_binary_ply(source / "01_align.ply")
    write_ascii_ply(source / "01_align.ply", first)  # the same mesh, ASCII, with an extra property
    report = convert_benchmark("ehf", source, tmp_path / "ascii")
    assert report.num_rows == 3
    np.testing.assert_array_equal(
        np.asarray(read_rows(tmp_path / "ascii")[0]["smplx_vertices"]), np.asarray(read_rows(ehf["out"])[0]["smplx_vertices"])
    )
    write_ascii_ply(source / "03_align.ply", parse_binary_ply(source / "03_align.ply")[:-1])
    with pytest.raises(ValueError, match=r"03_align\.ply' has 10474 vertices.*10475"):
        convert_benchmark("ehf", source, tmp_path / "out")
    assert not (tmp_path / "out" / "data").exists() or not any((tmp_path / "out" / "data").iterdir())


def test_ehf_end_to_end_pve_matches_an_independent_computation(ehf, synthetic_body_model_dir):
    from smplest_hf import SmplestXForHumanMeshRecovery, SmplestXImageProcessor
    from smplest_hf.evaluation import evaluate

    report = evaluate(str(DEMO_MODEL_DIR), [f"ehf={ehf['out']}"], body_model_dir=synthetic_body_model_dir,
                      batch_size=2, progress=False)  # fmt: skip
    (result,) = report.benchmarks
    assert result.num_samples == 3

    # Independently: the model on the 1.2x box crops, the ground truth from the PLY files and the EHF rotation,
    # both pelvis-aligned by row 0 of the neutral SMPL-X joint regressor, mean vertex distance in mm.
    model = SmplestXForHumanMeshRecovery.from_pretrained(DEMO_MODEL_DIR, body_model_dir=synthetic_body_model_dir).eval()
    processor = SmplestXImageProcessor.from_pretrained(DEMO_MODEL_DIR)
    with np.load(Path(synthetic_body_model_dir) / "smplx" / "SMPLX_NEUTRAL.npz") as files:
        pelvis_weights = files["J_regressor"][0].astype(np.float64)
    content = json.loads((ehf["source"] / "EHF.json").read_text())
    rotation = rodrigues(EHF_ROTATION_VECTOR)
    errors = []
    for image, annotation in zip(content["images"], content["annotations"]):
        picture = Image.open(io.BytesIO((ehf["source"] / image["file_name"]).read_bytes())).convert("RGB")
        inputs = processor([picture], boxes=[[annotation["body_bbox"]]], bbox_ratio=1.2, return_tensors="pt")
        with torch.no_grad():
            predicted = model(inputs["pixel_values"]).vertices[0].double().numpy()
        scan = parse_binary_ply(ehf["source"] / image["file_name"].replace("_img.jpg", "_align.ply"))
        target = scan.astype(np.float64) @ rotation.T
        predicted, target = predicted - pelvis_weights @ predicted, target - pelvis_weights @ target
        errors.append(np.linalg.norm(predicted - target, axis=1).mean() * 1000)
    assert result.primary_metric == "pve_all"
    assert result.primary_error == pytest.approx(float(np.mean(errors)), rel=1e-4)


# ========================================================================================== 3DPW
def test_3dpw_stand_in_is_in_the_official_layout(pw3d):
    source = pw3d["source"]
    content = json.loads((source / "3DPW_test.json").read_text())
    assert set(content) == {"images", "annotations"}
    assert sorted(p.name for p in source.iterdir()) == sorted(["3DPW_test.json", "imageFiles", STAND_IN_MARKER])
    for image in content["images"]:
        assert set(image) == {"id", "file_name", "sequence", "width", "height", "cam_param"}
        assert set(image["cam_param"]) == {"focal", "princpt"} and len(image["cam_param"]["focal"]) == 2
        assert re.fullmatch(r"image_\d{5}\.jpg", image["file_name"])
        with Image.open(source / "imageFiles" / image["sequence"] / image["file_name"]) as picture:
            assert picture.size == (image["width"], image["height"]) == (240, 320)
    assert len({image["sequence"] for image in content["images"]}) == 2
    people_per_image = np.bincount([annotation["image_id"] for annotation in content["annotations"]])
    assert set(people_per_image) <= {1, 2}
    for annotation in content["annotations"]:
        assert set(annotation) == {"id", "image_id", "bbox", "smpl_param"}
        params = annotation["smpl_param"]
        assert set(params) == {"pose", "shape", "trans", "gender"} and params["gender"] in ("male", "female")
        assert (len(params["pose"]), len(params["shape"]), len(params["trans"])) == (72, 10, 3)
        assert params["pose"][66:] == [0.0] * 6  # SMPL's hand joints: no SMPL-X counterpart, unrotated
        assert params["trans"][2] > 0  # in front of the camera


def test_3dpw_rows_hold_the_smpl_parameters_camera_and_box_of_the_file(pw3d):
    source, rows = pw3d["source"], read_rows(pw3d["out"])
    content = json.loads((source / "3DPW_test.json").read_text())
    images = {image["id"]: image for image in content["images"]}
    assert len(rows) == len(content["annotations"]) == pw3d["report"].num_rows
    for row, annotation in zip(rows, content["annotations"]):
        image, params = images[annotation["image_id"]], annotation["smpl_param"]
        path = f"imageFiles/{image['sequence']}/{image['file_name']}"
        assert row["image_path"] == path and row["image"]["bytes"] == (source / path).read_bytes()
        assert (row["image_height"], row["image_width"]) == (320, 240)
        pose = np.float32(params["pose"])
        np.testing.assert_array_equal(row["smpl_global_orient"], pose[:3])
        np.testing.assert_array_equal(np.asarray(row["smpl_body_pose"]), pose[3:].reshape(23, 3))
        np.testing.assert_array_equal(row["smpl_betas"], np.float32(params["shape"]))
        np.testing.assert_array_equal(row["smpl_transl"], np.float32(params["trans"]))
        assert row["gender"] == params["gender"]
        np.testing.assert_array_equal(row["bbox_xywh"], np.float32(annotation["bbox"]))
        np.testing.assert_array_equal(row["focal_length"], np.float32(image["cam_param"]["focal"]))
        np.testing.assert_array_equal(row["principal_point"], np.float32(image["cam_param"]["princpt"]))
        assert row["camera_intrinsics_valid"] and not row["camera_extrinsics_valid"] and not row["smplx_valid"]
    card = card_yaml(pw3d["out"])["ehps_benchmark"]["test"]
    assert (card["name"], card["num_rows"], card["source"]) == ("3dpw", len(rows), "synthetic stand-in")


def test_3dpw_missing_frames_and_sequences_are_named(pw3d, tmp_path):
    source = copy_without_marker(pw3d["source"], tmp_path / "PW3D")
    shutil.rmtree(source / "imageFiles" / "synthetic_seq_01")
    (source / "imageFiles" / "synthetic_seq_00" / "image_00001.jpg").unlink()
    with pytest.raises(BenchmarkSourceError) as error:
        convert_benchmark("3dpw", source, tmp_path / "out")
    message = str(error.value)
    assert "imageFiles/synthetic_seq_00/image_00001.jpg" in message and "imageFiles/synthetic_seq_01/" in message
    assert "image_00000.jpg" not in message and "3DPW" in message.split("They come from")[1]
    assert not (tmp_path / "out").exists()


def test_3dpw_end_to_end_mpjpe_matches_an_independent_computation(pw3d, synthetic_body_model_dir):
    import pickle

    import smplx

    from smplest_hf import SmplestXForHumanMeshRecovery, SmplestXImageProcessor
    from smplest_hf.evaluation import evaluate

    report = evaluate(str(DEMO_MODEL_DIR), [f"3dpw={pw3d['out']}"], body_model_dir=synthetic_body_model_dir,
                      batch_size=3, progress=False)  # fmt: skip
    (result,) = report.benchmarks
    content = json.loads((pw3d["source"] / "3DPW_test.json").read_text())
    assert result.num_samples == len(content["annotations"]) and result.primary_metric == "mpjpe_lsp14"

    # Independently (the original's recipe): the model on the 1.2x box crops; the ground truth from the JSON's
    # parameters through the `smplx` package's gendered SMPL; LSP-14 joints by the neutral SMPL-X regressor on the
    # prediction and the neutral SMPL one on the ground truth, pelvises (row 0 of each) aligned; mm.
    model = SmplestXForHumanMeshRecovery.from_pretrained(DEMO_MODEL_DIR, body_model_dir=synthetic_body_model_dir).eval()
    processor = SmplestXImageProcessor.from_pretrained(DEMO_MODEL_DIR)
    body_models = Path(synthetic_body_model_dir)
    with np.load(body_models / "smplx" / "SMPLX_NEUTRAL.npz") as files:
        smplx_regressor = files["J_regressor"].astype(np.float64)
    with open(body_models / "smpl" / "SMPL_NEUTRAL.pkl", "rb") as file:
        smpl_regressor = np.asarray(pickle.load(file, encoding="latin1")["J_regressor"], np.float64)
    lsp14 = [1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]
    images = {image["id"]: image for image in content["images"]}
    errors = []
    for annotation in content["annotations"]:
        image, params = images[annotation["image_id"]], annotation["smpl_param"]
        path = pw3d["source"] / "imageFiles" / image["sequence"] / image["file_name"]
        inputs = processor([Image.open(path).convert("RGB")], boxes=[[annotation["bbox"]]], bbox_ratio=1.2,
                           return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            predicted = model(inputs["pixel_values"]).vertices[0].double().numpy()
            smpl = smplx.create(str(body_models), model_type="smpl", gender=params["gender"])
            pose = torch.tensor([params["pose"]], dtype=torch.float32)
            target = smpl(global_orient=pose[:, :3], body_pose=pose[:, 3:], betas=torch.tensor([params["shape"]]),
                          transl=torch.tensor([params["trans"]])).vertices[0].double().numpy()  # fmt: skip
        predicted = predicted - smplx_regressor[0] @ predicted + smpl_regressor[0] @ target
        joint_errors = smplx_regressor[lsp14] @ predicted - smpl_regressor[lsp14] @ target
        errors.append(np.linalg.norm(joint_errors, axis=1).mean() * 1000)
    assert result.primary_error == pytest.approx(float(np.mean(errors)), rel=1e-4)


# ========================================================================================== driver and CLI
def test_row_defaults_cover_every_column_but_identity_and_image():
    identity_and_image = {"sample_id", "dataset_name", "source_index", "image", "image_path", "image_height",
                          "image_width", "bbox_xywh"}  # fmt: skip
    defaults = ehps_row_defaults()
    assert set(defaults) == set(EHPS_FEATURES) - identity_and_image
    assert not any(value for name, value in defaults.items() if name.endswith("_valid"))


def test_stand_in_is_all_or_nothing(tmp_path):
    with pytest.raises(ValueError, match="absent"):
        synthesize_benchmark("ehf", tmp_path / "out" / "ehf", 1, body_model_dir=tmp_path / "absent")
    assert list((tmp_path / "out").iterdir()) == []  # no half-written stand-in, no staging folder left
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("")
    with pytest.raises(ValueError, match="not an empty folder"):
        synthesize_benchmark("ehf", tmp_path / "taken", 1)


def test_cli_commands_exit_codes_and_one_line_errors(ehf, synthetic_body_model_dir, tmp_path, capsys):
    out = tmp_path / "stand_in"
    assert hub_datasets_main(["synthesize-benchmark", "ehf", str(out), "--num-samples", "1", "--seed", "3",
                              "--body-model", str(synthetic_body_model_dir)]) == 0  # fmt: skip
    assert (out / "01_img.jpg").is_file() and json.loads((out / STAND_IN_MARKER).read_text())["seed"] == 3
    assert hub_datasets_main(["convert-benchmark", "ehf", str(out), str(tmp_path / "converted")]) == 0
    assert "ehf test: 1 rows (synthetic stand-in)" in capsys.readouterr().out

    (out / "01_align.ply").unlink()
    failures = {
        "convert-missing": ["convert-benchmark", "ehf", str(out), str(tmp_path / "other")],
        "unknown-name": ["convert-benchmark", "ehf2", str(out), str(tmp_path / "other")],
        "synthesize-taken": ["synthesize-benchmark", "3dpw", str(out)],
    }
    expected = {"convert-missing": "01_align.ply", "unknown-name": "known: agora_val", "synthesize-taken": "not an empty folder"}
    for case, argv in failures.items():
        capsys.readouterr()
        assert hub_datasets_main(argv) == 2, case  # smplest_hf.exit_codes.BAD_INPUT
        error = capsys.readouterr().err.strip()
        assert error.startswith("error: ") and "\n" not in error and expected[case] in error, (case, error)

"""Placing people in a known camera: camera specs, the translation solve, the pipeline option, EXIF, the CLI."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from smplest_hf.inference.camera_placement import (
    FULL_FRAME_DIAGONAL_MM,
    CameraSpec,
    place_people_in_camera,
    project,
    solve_translation,
)
from smplest_hf.cli import main as cli_main
from smplest_hf.inference.image_io import load_image, read_focal_length_35mm
from smplest_hf.inference.pipeline import SmplestXPipeline

BOXES = [[20, 10, 110, 220], [170, 40, 100, 190]]


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def pipeline(tiny_model_dir, synthetic_body_model_dir):
    return SmplestXPipeline(tiny_model_dir, body_model_dir=synthetic_body_model_dir, detector="none", batch_size=4, dtype="float32")


def _jpeg_with_focal(path, focal_35mm, size=(320, 240)):
    exif = Image.Exif()
    if focal_35mm is not None:
        exif.get_ifd(0x8769)[0xA405] = focal_35mm  # Exif sub-IFD, FocalLengthIn35mmFilm
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, exif=exif)
    return path


# ------------------------------------------------------------------------------------------------ specs
def test_camera_specs_parse_print_and_give_intrinsics():
    for text in ("box", "exif", "fov:60", "focal:1500", "focal:1500,1400", "focal:1500,1400,960,540"):
        assert str(CameraSpec.parse(text)) == text
        assert CameraSpec.parse(str(CameraSpec.parse(text))) == CameraSpec.parse(text)
    assert CameraSpec.parse(None).is_box and CameraSpec.parse(" FOV:60 ") == CameraSpec("fov", (60.0,))
    height, width = 480, 640
    assert CameraSpec.parse("box").intrinsics((height, width)) is None
    np.testing.assert_allclose(CameraSpec.parse("focal:1500,1400").intrinsics((height, width)), [1500, 1400, 319.5, 239.5])
    np.testing.assert_allclose(CameraSpec.parse("focal:1500,1400,300,200").intrinsics((height, width)), [1500, 1400, 300, 200])
    # A field of view of 90 degrees across the long side: a point at 45 degrees lands on the edge pixel boundary.
    fx, fy, cx, cy = CameraSpec.parse("fov:90").intrinsics((height, width))
    assert fx == fy and project(np.array([1.0, 0.0, 1.0]), [fx, fy, cx, cy])[0] == pytest.approx(cx + width / 2)
    # A lens whose 35 mm-equivalent focal length is the full-frame diagonal has a focal length of one image diagonal.
    fx, fy, _, _ = CameraSpec.parse("exif").intrinsics((height, width), focal_length_35mm=FULL_FRAME_DIAGONAL_MM)
    assert fx == fy == pytest.approx(math.hypot(height, width))
    with pytest.raises(ValueError, match="photo.jpg has no EXIF 35 mm-equivalent focal length.*fov:DEGREES"):
        CameraSpec.parse("exif").intrinsics((height, width), None, image_name="photo.jpg")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pinhole", "Unknown camera 'pinhole'"),
        ("fov", "needs one angle"),
        ("fov:wide", "needs one angle"),
        ("fov:180", "between 0 and 180"),
        ("focal:1,2,3", "1, 2 or 4 numbers"),
        ("focal:-5", "must be positive"),
        ("focal:nan", "1, 2 or 4 numbers"),
        ("exif:26", "takes no value"),
    ],
)
def test_bad_camera_specs_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        CameraSpec.parse(text)


# ------------------------------------------------------------------------------------------------ solve
def test_translation_is_recovered_exactly_from_an_exact_projection():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(3, 400, 3)) * 0.4
    translations = np.array([[0.3, -0.2, 4.0], [1.0, 0.5, 8.0], [-2.0, 0.1, 3.0]])
    intrinsics = np.array([[800.0, 820.0, 320.0, 240.0], [1500.0, 1500.0, 100.0, 50.0], [300.0, 300.0, 0.0, 0.0]])
    pixels = project(points + translations[:, None], intrinsics[:, None])
    np.testing.assert_allclose(solve_translation(points, pixels, intrinsics), translations, atol=1e-9)
    np.testing.assert_allclose(solve_translation(points[1], pixels[1], intrinsics[1]), translations[1], atol=1e-9)

    # Inexact pixels: the least-squares solution of the depth-multiplied equations, as numpy's lstsq finds it.
    noisy = pixels + rng.normal(size=pixels.shape) * 3.0
    for index in range(3):
        (fx, fy), offset = intrinsics[index, :2], noisy[index] - intrinsics[index, 2:]
        zero = np.zeros(len(offset))
        design = np.concatenate((np.stack((zero + fx, zero, -offset[:, 0]), 1), np.stack((zero, zero + fy, -offset[:, 1]), 1)))
        target = np.concatenate((offset[:, 0] * points[index, :, 2] - fx * points[index, :, 0],
                                 offset[:, 1] * points[index, :, 2] - fy * points[index, :, 1]))  # fmt: skip
        expected, *_ = np.linalg.lstsq(design, target, rcond=None)
        np.testing.assert_allclose(solve_translation(points, noisy, intrinsics)[index], expected, rtol=1e-9, atol=1e-9)


def test_placing_people_in_their_own_box_camera_changes_nothing(people_of_image):
    person = people_of_image[0]
    own = np.concatenate((person["focal_length"], person["principal_point"]))
    (placed,) = place_people_in_camera([person], own)
    np.testing.assert_allclose(placed["camera_translation"], person["camera_translation"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(placed["vertices"], person["vertices"], atol=1e-5)
    np.testing.assert_allclose(placed["keypoints_2d"], person["keypoints_2d"], atol=2e-2)
    for name in ("body_pose", "betas", "box"):
        np.testing.assert_array_equal(placed[name], person[name])


@pytest.fixture(scope="module")
def people_of_image(pipeline, image):
    return pipeline(image, boxes=BOXES)


def test_placed_people_share_the_camera_and_stay_on_their_pixels(people_of_image, pipeline, image):
    intrinsics = CameraSpec.parse("fov:70").intrinsics(image.shape[:2])
    placed = place_people_in_camera(people_of_image, intrinsics)
    for before, after in zip(people_of_image, placed):
        np.testing.assert_allclose(np.concatenate((after["focal_length"], after["principal_point"])), intrinsics, rtol=1e-6)
        # Same mesh shape, moved as a whole; the keypoints are the joints seen by the new camera.
        np.testing.assert_allclose(after["vertices"] - after["camera_translation"], before["vertices"] - before["camera_translation"], atol=1e-5)
        np.testing.assert_allclose(after["keypoints_2d"], project(after["joints"].astype(np.float64), intrinsics), atol=1e-3)
        # A 70-degree lens sees the person much closer than the box camera (~20x longer focal) did...
        assert after["camera_translation"][2] < before["camera_translation"][2] / 5
        # ...and draws it in the same place: same centre, similar extent. Not on exactly the same pixels: the wide
        # lens enlarges the parts nearer to it (that perspective is what the placement is for).
        box_drawn = project(before["vertices"].astype(np.float64), np.concatenate((before["focal_length"], before["principal_point"])))
        drawn = project(after["vertices"].astype(np.float64), intrinsics)
        np.testing.assert_allclose(drawn.mean(0), box_drawn.mean(0), atol=1.0)  # measured 0.4-0.6 px
        extent_ratio = np.ptp(drawn, axis=0) / np.ptp(box_drawn, axis=0)
        assert ((extent_ratio > 0.8) & (extent_ratio < 1.25)).all(), extent_ratio

    # The pipeline option gives the same results.
    direct = SmplestXPipeline(pipeline.model, processor=pipeline.processor, detector="none", camera="fov:70")(image, boxes=BOXES)
    for expected, person in zip(placed, direct):
        for name in ("camera_translation", "vertices", "keypoints_2d", "focal_length", "principal_point"):
            np.testing.assert_allclose(person[name], expected[name], rtol=1e-5, atol=1e-4)


def test_a_camera_needs_a_body_model(tiny_model_dir, monkeypatch):
    monkeypatch.delenv("SMPLX_MODEL_DIR", raising=False)
    with pytest.raises(ValueError, match="needs a body model"):
        SmplestXPipeline(tiny_model_dir, detector="none", camera="fov:60")
    with pytest.raises(ValueError, match="needs their meshes"):
        place_people_in_camera([{"camera_translation": np.zeros(3)}], [500, 500, 10, 10])


# ------------------------------------------------------------------------------------------------ EXIF
def test_exif_focal_length_is_read_from_files_and_pil_images(tmp_path):
    path = _jpeg_with_focal(tmp_path / "phone.jpg", 26)
    assert read_focal_length_35mm(path) == 26.0
    assert load_image(path).focal_length_35mm == 26.0
    with Image.open(path) as opened:
        assert load_image(opened).focal_length_35mm == 26.0
    assert load_image(_jpeg_with_focal(tmp_path / "plain.jpg", None)).focal_length_35mm is None
    assert load_image(np.zeros((4, 4, 3), np.uint8)).focal_length_35mm is None


def test_cli_camera_exif_places_people_and_reports_missing_exif(tiny_model_dir, synthetic_body_model_dir, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    _jpeg_with_focal(photos / "phone.jpg", 26)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"phone.jpg": BOXES}))
    common = ["--model", tiny_model_dir, "--body-model", synthetic_body_model_dir, "--boxes", boxes, "--camera", "exif"]
    assert cli_main(["infer", str(photos), str(tmp_path / "out"), *map(str, common)]) == 0
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["camera"] == "exif"
    expected = 26 / FULL_FRAME_DIAGONAL_MM * math.hypot(320, 240)
    for index in range(2):
        camera = json.loads((tmp_path / "out" / "params" / f"phone_{index}.json").read_text())
        np.testing.assert_allclose(camera["focal_length"], [expected, expected], rtol=1e-5)
        np.testing.assert_allclose(camera["principal_point"], [159.5, 119.5], rtol=1e-6)

    # One photo without EXIF: one line naming it, exit 2, before anything is written.
    _jpeg_with_focal(photos / "scan.jpg", None)
    boxes.write_text(json.dumps({"phone.jpg": BOXES, "scan.jpg": BOXES}))
    capsys.readouterr()
    assert cli_main(["infer", str(photos), str(tmp_path / "out2"), *map(str, common)]) == 2
    error = capsys.readouterr().err.strip()
    assert "scan.jpg" in error and "no EXIF" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out2").exists()


def test_cli_camera_errors_are_one_line(tiny_model_dir, synthetic_body_model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SMPLX_MODEL_DIR", raising=False)
    photo = _jpeg_with_focal(tmp_path / "photo.jpg", 26)
    cases = [
        (["--camera", "fov:200", "--body-model", synthetic_body_model_dir], "between 0 and 180"),
        (["--camera", "fov:60", "--outputs", "params"], "needs an SMPL-X body model"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        code = cli_main(["infer", str(photo), str(tmp_path / "out"), "--model", str(tiny_model_dir), "--detector", "none", *map(str, extra)])
        error = capsys.readouterr().err.strip()
        assert code == 2 and message in error and len(error.splitlines()) == 1, error
        assert not (tmp_path / "out").exists()


def test_module_docstring_example_runs():
    import doctest

    import smplest_hf.inference.camera_placement as module

    result = doctest.testmod(module, verbose=False)
    assert result.failed == 0 and result.attempted > 0

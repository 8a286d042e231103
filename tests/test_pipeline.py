"""SmplestXPipeline, person detection and image reading: checked against independent computations.

The model is the tiny preset with random weights saved to a temporary folder; the body model is the synthetic
SMPL-X-format model; the detector is a tiny random RT-DETR saved to a folder, so the real transformers
object-detection code path runs (its boxes are random: tests assert on the filtering, not on what it finds).
"""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from smplest_hf import (
    SmplestXForHumanMeshRecovery,
    SmplestXImageProcessor,
)
from smplest_hf.models.smplest_x.body_model import BodyModelFileError
from smplest_hf.inference.detection import PersonDetector, box_iou_xyxy, select_person_boxes
from smplest_hf.inference.image_io import ImageReadError, load_image
from smplest_hf.inference.pipeline import SmplestXPipeline, resolve_dtype

PIXEL_FIELDS = ("keypoints_2d", "focal_length", "principal_point", "box", "detection_box")
PARAMETERS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression")


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def pipeline(tiny_model_dir, synthetic_body_model_dir):
    return SmplestXPipeline(tiny_model_dir, body_model_dir=synthetic_body_model_dir, detector="none", batch_size=2, dtype="float32")


def write_tiny_detector(directory, labels=("person", "car", "dog")):
    """A random RT-DETR small enough for CPU tests (ResNet backbone native to transformers: no timm)."""
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig
    from transformers.models.rt_detr.image_processing_pil_rt_detr import (
        RTDetrImageProcessorPil,
    )

    backbone = RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], layer_type="basic",
                                  out_features=["stage2", "stage3", "stage4"])  # fmt: skip
    config = RTDetrConfig(
        backbone_config=backbone, encoder_hidden_dim=16, encoder_in_channels=[16, 24, 32], encoder_ffn_dim=32,
        encoder_attention_heads=2, d_model=16, num_queries=30, decoder_in_channels=[16, 16, 16], decoder_ffn_dim=32,
        decoder_layers=1, decoder_attention_heads=2, num_denoising=0, anchor_image_size=None,
        id2label=dict(enumerate(labels)), label2id={name: index for index, name in enumerate(labels)},
    )  # fmt: skip
    torch.manual_seed(0)
    RTDetrForObjectDetection(config).save_pretrained(directory)
    RTDetrImageProcessorPil(size={"height": 128, "width": 128}).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_detector_dir(tmp_path_factory):
    return write_tiny_detector(tmp_path_factory.mktemp("tiny_detector"))


def random_image(seed, size=(240, 320)):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def project(points, focal, center):
    """Pinhole projection with the model's 1e-4 depth guard, written out independently."""
    depth = points[:, 2] + 1e-4
    return np.stack((points[:, 0] / depth * focal[0] + center[0], points[:, 1] / depth * focal[1] + center[1]), axis=1)


# ------------------------------------------------------------------------------------------------ pipeline
def test_batched_people_equal_one_by_one(pipeline):
    images = [random_image(0), random_image(1), random_image(2)]
    boxes = [
        [[10, 20, 100, 200], [150, 30, 80, 180], [40, 60, 120, 90]],
        [],  # nobody: a valid empty result in the middle of a batch
        [[0, 0, 320, 240], [200, 100, 60, 120]],
    ]
    batched = pipeline(images, boxes=boxes)  # batch_size 2: chunks cross image boundaries
    assert [len(people) for people in batched] == [3, 0, 2]
    one_by_one = SmplestXPipeline(pipeline.model, processor=pipeline.processor, detector="none", batch_size=1)
    for image, image_boxes, people in zip(images, boxes, batched):
        for box, person in zip(image_boxes, people):
            alone = one_by_one(image, boxes=[box])[0]
            assert set(alone) == set(person)
            for name, value in person.items():
                if value is None:
                    assert alone[name] is None
                else:
                    # float32 rounding differs between batch shapes: 1e-5 m in 3D, 1e-3 px in the image.
                    atol = 1e-3 if name in PIXEL_FIELDS else 1e-5
                    np.testing.assert_allclose(alone[name], value, rtol=1e-5, atol=atol, err_msg=name)


def test_person_fields_match_independent_computations(pipeline):
    box = [60.0, 20.0, 90.0, 200.0]
    person = pipeline(random_image(3), boxes=[box])[0]
    # Processed box: the processor's expansion; camera: the original's focal/principal-point formula.
    expected_box = SmplestXImageProcessor().process_boxes([[box]], [(240, 320)])[0][0]
    np.testing.assert_allclose(person["box"], expected_box, rtol=1e-6)
    x, y, w, h = person["box"].astype(np.float64)
    np.testing.assert_allclose(person["focal_length"], [5000 / 192 * w, 5000 / 256 * h], rtol=1e-6)
    np.testing.assert_allclose(person["principal_point"], [96 / 192 * w + x, 128 / 256 * h + y], rtol=1e-6)
    np.testing.assert_array_equal(person["detection_box"], np.float32(box))
    assert person["score"] is None
    # Mesh: the body model run directly on the returned parameters, translated by camera_translation.
    body = pipeline.model.body_model(
        **{name: torch.from_numpy(person[name])[None] for name in PARAMETERS},
        transl=torch.from_numpy(person["camera_translation"])[None],
    )
    np.testing.assert_allclose(person["vertices"], body.vertices[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(person["joints"], body.joints[0].numpy(), atol=1e-5)
    # Keypoints: the joints seen by the full-image camera.
    expected = project(person["joints"].astype(np.float64), person["focal_length"], person["principal_point"])
    np.testing.assert_allclose(person["keypoints_2d"], expected, rtol=1e-4, atol=1e-2)


def test_single_image_and_whole_image_mode(pipeline):
    people = pipeline(random_image(4, (200, 150)))  # detector "none", no boxes: the whole image is one person
    assert isinstance(people, list) and len(people) == 1
    expected_box = SmplestXImageProcessor().process_boxes(None, [(200, 150)])[0][0]
    np.testing.assert_allclose(people[0]["box"], expected_box, rtol=1e-6)
    np.testing.assert_array_equal(people[0]["detection_box"], [0, 0, 150, 200])


def test_shrunk_image_results_are_in_original_pixels(pipeline):
    shrinking = SmplestXPipeline(pipeline.model, processor=pipeline.processor, detector="none", max_pixels=200 * 150)
    image = np.kron(random_image(5, (150, 200)), np.ones((4, 4, 1), dtype=np.uint8))  # 600 x 800, shrunk 4x
    box = [200.0, 80.0, 240.0, 480.0]
    loaded = shrinking.load_images([image])[0]
    assert loaded.pixels.shape == (150, 200, 3) and loaded.scale == 4.0 and loaded.original_size == (600, 800)
    person = shrinking(image, boxes=[box])[0]
    np.testing.assert_allclose(person["detection_box"], box, atol=1e-4)  # round trip through the shrunk image
    expected_box = SmplestXImageProcessor().process_boxes([[box]], [(600, 800)])[0][0]
    np.testing.assert_allclose(person["box"], expected_box, atol=4.0)  # within one shrunk pixel
    w, h = person["box"][2:].astype(np.float64)
    np.testing.assert_allclose(person["focal_length"], [5000 / 192 * w, 5000 / 256 * h], rtol=1e-5)
    expected = project(person["joints"].astype(np.float64), person["focal_length"], person["principal_point"])
    np.testing.assert_allclose(person["keypoints_2d"], expected, rtol=1e-4, atol=1e-2)


def test_xyxy_boxes(pipeline):
    xyxy = SmplestXPipeline(pipeline.model, processor=pipeline.processor, detector="none", box_format="xyxy")
    person = xyxy(random_image(6), boxes=[[60, 20, 150, 220]])[0]
    np.testing.assert_array_equal(person["detection_box"], [60, 20, 90, 200])


def test_transformers_pipeline_task_matches(pipeline, tiny_model_dir, synthetic_body_model_dir):
    from transformers import pipeline as transformers_pipeline

    from smplest_hf.inference.hf_pipeline import HumanMeshRecoveryPipeline

    # The saved config names the task's class as remote code (`custom_pipelines`); with trust_remote_code=False
    # the installed class is passed explicitly.
    recover = transformers_pipeline(
        "human-mesh-recovery", model=str(tiny_model_dir), image_processor=pipeline.processor, device="cpu",
        trust_remote_code=False, pipeline_class=HumanMeshRecoveryPipeline,
        model_kwargs={"body_model_dir": synthetic_body_model_dir},
    )  # fmt: skip
    image, boxes = random_image(13), [[10, 20, 100, 200], [150, 30, 80, 180]]
    for theirs, ours in zip(recover(image, boxes=boxes), pipeline(image, boxes=boxes)):
        for name in ("body_pose", "camera_translation", "focal_length", "vertices", "keypoints_2d"):
            np.testing.assert_allclose(theirs[name], ours[name], rtol=1e-5, atol=1e-3 if name in PIXEL_FIELDS else 1e-5)


def test_without_body_model_only_parameters(pipeline, monkeypatch):
    monkeypatch.delenv("SMPLX_MODEL_DIR", raising=False)
    model = SmplestXForHumanMeshRecovery(pipeline.model.config).eval()
    parameters_only = SmplestXPipeline(model, detector="none")
    assert not parameters_only.has_body_model and parameters_only.faces is None
    person = parameters_only(random_image(7))[0]
    assert "vertices" not in person and person["body_pose"].shape == (21, 3)


def test_bad_settings_are_rejected(tiny_model_dir, tiny_detector_dir, tmp_path):
    with pytest.raises(ValueError, match="needs a GPU"):
        resolve_dtype("float16", torch.device("cpu"))
    with pytest.raises(ValueError, match="Unknown dtype"):
        resolve_dtype("float64", torch.device("cpu"))
    with pytest.raises(ValueError, match="rt_detr model, not an SMPLest-X model"):
        SmplestXPipeline(tiny_detector_dir, detector="none")
    with pytest.raises(ValueError, match="does not exist"):
        SmplestXPipeline(tmp_path / "missing", detector="none")
    with pytest.raises(ValueError, match="no config.json"):
        SmplestXPipeline(tmp_path, detector="none")
    with pytest.raises(BodyModelFileError, match="smplx"):
        SmplestXPipeline(tiny_model_dir, body_model_dir=tmp_path, detector="none")
    with pytest.raises(ValueError, match="batch_size"):
        SmplestXPipeline(tiny_model_dir, detector="none", batch_size=0)


# ------------------------------------------------------------------------------------------------ detection
def reference_greedy_nms(boxes, scores, threshold, iou_limit, min_size, max_people):
    """Plain-Python greedy NMS, one box at a time, for comparison."""
    def iou(a, b):
        width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
        return width * height / union if union > 0 else 0.0

    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    kept = []
    for i in order:
        if scores[i] < threshold or min(boxes[i][2] - boxes[i][0], boxes[i][3] - boxes[i][1]) < min_size:
            continue
        if all(iou(boxes[i], boxes[j]) <= iou_limit for j in kept):
            kept.append(i)
    return kept[:max_people] if max_people else kept


@pytest.mark.parametrize("seed", range(5))
def test_select_person_boxes_matches_reference(seed):
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 200, (40, 2))
    boxes = np.concatenate((corners, corners + rng.uniform(2, 80, (40, 2))), axis=1)
    scores = rng.uniform(0, 1, 40)
    for threshold, iou_limit, min_size, max_people in [(0.0, 0.5, 0, None), (0.3, 0.3, 20, 5), (0.9, 0.0, 0, 2)]:
        kept = select_person_boxes(boxes, scores, threshold, iou_limit, max_people, min_size)
        assert kept.tolist() == reference_greedy_nms(boxes.tolist(), scores.tolist(), threshold, iou_limit, min_size, max_people)


def test_box_iou_by_hand():
    iou = box_iou_xyxy([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6], [0, 0, 0, 0]])
    np.testing.assert_allclose(iou, [[1 / 7, 1.0, 0.0, 0.0]])


def test_detector_keeps_filtered_people(tiny_detector_dir, pipeline):
    images = [random_image(8, (200, 300)), random_image(9, (256, 256))]
    detector = PersonDetector.from_pretrained(tiny_detector_dir, threshold=0.0, nms_iou=0.6, max_people=4, min_box_size=0)
    found = detector(images)
    # Reference: the raw detector output, person class only, filtered by the plain-Python NMS.
    model, processor = detector.model, detector.image_processor
    with torch.no_grad():
        raw = processor.post_process_object_detection(
            model(**processor(images=images, return_tensors="pt")), threshold=0.0, target_sizes=[i.shape[:2] for i in images]
        )
    for detection, people, image in zip(raw, found, images):
        is_person = detection["labels"].numpy() == 0
        assert 0 < is_person.sum() < len(is_person)  # the random detector finds people and other classes
        boxes, scores = detection["boxes"].numpy()[is_person], detection["scores"].numpy()[is_person]
        boxes = np.clip(boxes, 0, [image.shape[1], image.shape[0]] * 2)  # clipped to the image
        kept = reference_greedy_nms(boxes.tolist(), scores.tolist(), 0.0, 0.6, 1, 4)
        xywh = np.concatenate((boxes[kept, :2], boxes[kept, 2:] - boxes[kept, :2]), axis=1)
        np.testing.assert_allclose(people.boxes, xywh, atol=1e-4)
        np.testing.assert_allclose(people.scores, scores[kept], atol=1e-6)
        assert len(people.boxes) == min(4, len(kept))

    # Through the pipeline: every kept box becomes a person (boxes clipped to the image by the processor).
    pipe = SmplestXPipeline(pipeline.model, processor=pipeline.processor, detector=detector, batch_size=3)
    results = pipe(images)
    for people, expected in zip(results, found):
        assert [person["score"] for person in people] == pytest.approx(expected.scores.tolist())
        np.testing.assert_allclose([person["detection_box"] for person in people], expected.boxes, atol=1e-4)

    # Nobody above the threshold: a valid empty result.
    detector.threshold = 1.01
    assert pipe(images[:1]) == [[]]


def test_detector_without_person_class_is_rejected(tmp_path):
    directory = write_tiny_detector(tmp_path, labels=("car", "dog"))
    with pytest.raises(ValueError, match="has no 'person' class"):
        PersonDetector.from_pretrained(directory)


# ------------------------------------------------------------------------------------------------ image reading
def test_image_modes_become_8_bit_rgb(tmp_path):
    gray = np.arange(12 * 16, dtype=np.uint8).reshape(12, 16)
    loaded = load_image(Image.fromarray(gray, mode="L"))
    np.testing.assert_array_equal(loaded.pixels, np.repeat(gray[:, :, None], 3, axis=2))

    rgba = np.random.default_rng(0).integers(0, 256, (12, 16, 4), dtype=np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    alpha = rgba[:, :, 3:].astype(np.float64) / 255
    expected = rgba[:, :, :3] * alpha + 255 * (1 - alpha)  # over white
    assert np.abs(load_image(tmp_path / "rgba.png").pixels.astype(np.float64) - expected).max() <= 1

    sixteen = (np.arange(12 * 16).reshape(12, 16) % 256 * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    np.testing.assert_array_equal(load_image(tmp_path / "sixteen.png").pixels[:, :, 0], sixteen // 257)
    np.testing.assert_array_equal(load_image(sixteen).pixels[:, :, 1], sixteen // 257)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(random_image(10, (20, 40)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    loaded = load_image(tmp_path / "rotated.jpg")
    assert loaded.pixels.shape[:2] == (40, 20) and loaded.original_size == (40, 20)


def test_large_jpeg_is_decoded_shrunk(tmp_path):
    Image.fromarray(np.kron(random_image(11, (60, 80)), np.ones((20, 20, 1), np.uint8))).save(tmp_path / "big.jpg")
    loaded = load_image(tmp_path / "big.jpg", max_pixels=120 * 160)
    assert loaded.original_size == (1200, 1600)
    assert loaded.pixels.shape[0] * loaded.pixels.shape[1] <= 120 * 160
    assert loaded.scale == pytest.approx(1600 / loaded.pixels.shape[1])
    assert math.isclose(loaded.pixels.shape[1] / loaded.pixels.shape[0], 4 / 3, rel_tol=0.02)


def test_unreadable_images_raise_clear_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image")
    Image.fromarray(random_image(12)).save(tmp_path / "good.png")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "good.png").read_bytes()[:2000])
    Image.new("1", (20000, 9000)).save(tmp_path / "huge.png")  # 180 MP, 1 bit per pixel on disk
    cases = {
        tmp_path / "missing.png": "does not exist",
        tmp_path: "is a folder",
        tmp_path / "empty.png": r"is empty \(0 bytes\)",
        tmp_path / "notes.png": "is not an image file",
        tmp_path / "truncated.png": "is corrupt or truncated",
        tmp_path / "huge.png": "too large to decode safely",
    }
    for path, message in cases.items():
        with pytest.raises(ImageReadError, match=message) as error:
            load_image(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ImageReadError, match="no pixels"):
        load_image(np.zeros((0, 5, 3), np.uint8))


def test_top_level_pipeline_is_the_pipeline_and_is_imported_lazily():
    import subprocess
    import sys

    import smplest_hf

    assert smplest_hf.SmplestXPipeline is SmplestXPipeline
    with pytest.raises(AttributeError, match="no attribute 'SmplestXPipelin'"):
        smplest_hf.SmplestXPipelin  # noqa: B018 - a misspelt name is an AttributeError, as for any module
    code = (
        "import sys, smplest_hf; print(sorted(m for m in sys.modules if m.startswith('smplest_hf.')));"
        "from smplest_hf import SmplestXPipeline; print('smplest_hf.inference.pipeline' in sys.modules)"
    )
    loaded, pipeline_imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "inference" not in loaded and "export" not in loaded and "video" not in loaded
    assert pipeline_imported == "True"

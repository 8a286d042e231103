"""SmplestXImageProcessor and smplest_hf.models.smplest_x.cropping against independent re-computations of the original pipeline.

The references below are written from the facts of the original SMPLest-X inference, box by box and with
OpenCV, never through the code under test:

- box: clip (x2 measured from the clipped x1), grow the short side to 384/512 around the centre, times 1.2;
- crop: `cv2.getAffineTransform` of the three points (centre, centre + half-height down, centre + half-width
  right) in float32, `cv2.warpAffine(INTER_LINEAR)` of the float32 image to 512x384, / 255, then
  `torch.nn.functional.interpolate(mode="nearest")` to 256x192 (what the original model does to its input);
- camera: focal = (5000 / 192 * w, 5000 / 256 * h), principal point = (96 / 192 * w + x, 128 / 256 * h + y).

Tolerance of crop comparisons: OpenCV >= 4.11 interpolates float images with float weights; the processor
differs from it only by float32 rounding of weights and sums, measured at <= 5e-5 on [0, 1] pixel values for
random-noise images (the worst case: every neighbour differs by up to 255). We allow 2e-4 (0.05 / 255), small
enough that a half-pixel shift or a wrong sampling grid (errors of ~0.1-0.5 on noise) fails loudly. OpenCV
builds that quantise source positions to 1/32 pixel differ by up to |gradient| / 64 (~4 / 255 on noise); the
tolerance then widens to 5 / 255 (detected, not assumed).
"""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

cv2 = pytest.importorskip("cv2")

from transformers import AutoImageProcessor  # noqa: E402

import smplest_hf  # noqa: E402,F401  (registers the Auto classes)
from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery, SmplestXImageProcessor  # noqa: E402
from smplest_hf.models.smplest_x.cropping import (  # noqa: E402
    crop_affine_matrices,
    crop_nearest_downsampled,
    nearest_downsample_indices,
    warp_affine_bilinear,
)
from smplest_hf.models.smplest_x.modeling_smplest_x import SmplestXMeshRecoveryOutput  # noqa: E402

CROP_HEIGHT, CROP_WIDTH = 512, 384
INPUT_HEIGHT, INPUT_WIDTH = 256, 192
FOCAL, PRINCIPAL_POINT = (5000.0, 5000.0), (96.0, 128.0)


def _opencv_quantises_positions() -> bool:
    """True for OpenCV builds whose bilinear warp snaps source positions to 1/32 pixel."""
    ramp = np.tile(np.arange(64, dtype=np.float32) * 4, (8, 1))
    shifted = cv2.warpAffine(ramp, np.float32([[1, 0, -0.01], [0, 1, 0]]), (64, 8), flags=cv2.INTER_LINEAR)
    return not np.allclose(shifted[4, 10:50], ramp[4, 10:50] + 0.04, atol=1e-3)


CROP_ATOL = 5 / 255 if _opencv_quantises_positions() else 2e-4


# ------------------------------------------------------------------------------------- independent references
def reference_process_bbox(box_xywh, image_width, image_height, ratio=1.2):
    """The original's box processing for one xywh box, scalar maths; None when the box is rejected."""
    x, y, w, h = (float(value) for value in box_xywh)
    left, top = max(0.0, x), max(0.0, y)
    right = min(image_width - 1.0, left + max(0.0, w - 1.0))
    bottom = min(image_height - 1.0, top + max(0.0, h - 1.0))
    if not (w * h > 0 and right > left and bottom > top):
        return None
    width, height = right - left, bottom - top
    center_x, center_y = left + width / 2, top + height / 2
    target = CROP_WIDTH / CROP_HEIGHT
    if width > target * height:
        height = width / target
    elif width < target * height:
        width = height * target
    width, height = width * ratio, height * ratio
    return np.array([center_x - width / 2, center_y - height / 2, width, height], dtype=np.float32)


def reference_crop_matrix(center, size, rotation=0.0, scale=1.0, out_shape=(CROP_HEIGHT, CROP_WIDTH)):
    """`cv2.getAffineTransform` from the three box points to the three crop points (float32, as the original)."""
    out_height, out_width = out_shape
    half_w, half_h = size[0] * scale / 2, size[1] * scale / 2
    angle = np.deg2rad(rotation)
    cos, sin = np.cos(angle), np.sin(angle)
    down = np.array([-half_h * sin, half_h * cos])  # R (0, h/2)
    right = np.array([half_w * cos, half_w * sin])  # R (w/2, 0)
    center = np.asarray(center, dtype=np.float64)
    source = np.float32([center, center + down, center + right])
    target = np.float32([[out_width / 2, out_height / 2], [out_width / 2, out_height], [out_width, out_height / 2]])
    return cv2.getAffineTransform(source, target)


def reference_pixel_values(image, box, rotation=0.0, flip=False, scale=1.0):
    """(3, 256, 192): float32 image, optional mirror, OpenCV 512x384 crop, / 255, torch nearest to 256x192."""
    image = np.asarray(image, dtype=np.float32)
    center_x, center_y = box[0] + box[2] / 2, box[1] + box[3] / 2
    if flip:
        image = np.ascontiguousarray(image[:, ::-1])
        center_x = image.shape[1] - center_x - 1
    matrix = reference_crop_matrix((center_x, center_y), box[2:], rotation, scale)
    crop = cv2.warpAffine(image, matrix, (CROP_WIDTH, CROP_HEIGHT), flags=cv2.INTER_LINEAR)
    crop = torch.from_numpy(crop.reshape(CROP_HEIGHT, CROP_WIDTH, -1)).permute(2, 0, 1)[None] / 255
    return F.interpolate(crop, size=(INPUT_HEIGHT, INPUT_WIDTH), mode="nearest")[0]


def noise_image(height, width, seed=0, channels=3):
    """Random uint8 noise: the hardest case for interpolation comparisons (no two neighbours alike)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


# Boxes on a 240x320 image: inside, sticking out left/top, right/bottom, tiny, wide, whole image.
BOXES_XYWH = np.array(
    [[100.0, 40.0, 80.0, 150.0], [-30.5, -20.25, 120.0, 90.0], [250.0, 180.0, 200.0, 150.0],
     [60.0, 70.0, 3.0, 2.0], [10.0, 100.0, 290.0, 40.0], [0.0, 0.0, 320.0, 240.0]]
)  # fmt: skip


@pytest.fixture(scope="module")
def processor():
    return SmplestXImageProcessor()


# --------------------------------------------------------------------------------------------------- boxes
def test_box_processing_matches_the_original_for_xywh_and_xyxy(processor):
    rng = np.random.default_rng(3)
    random_boxes = np.column_stack([rng.uniform(-50, 300, 40), rng.uniform(-50, 220, 40), rng.uniform(5, 200, 40), rng.uniform(5, 200, 40)])
    boxes = np.concatenate([BOXES_XYWH, random_boxes])
    boxes = boxes[[reference_process_bbox(box, 320, 240) is not None for box in boxes]]
    expected = np.stack([reference_process_bbox(box, 320, 240) for box in boxes])

    (from_xywh,) = processor.process_boxes([boxes], [(240, 320)])
    xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
    (from_xyxy,) = processor.process_boxes([xyxy], [(240, 320)], box_format="xyxy")
    assert from_xywh.dtype == np.float32 and from_xywh.shape == (len(boxes), 4)
    np.testing.assert_allclose(from_xywh, expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(from_xyxy, expected, rtol=0, atol=1e-3)


def test_box_expansion_values():
    processor = SmplestXImageProcessor()
    # Tall box inside the image: clipped to (w - 1, h - 1), width grown to 3:4, both sides times 1.2.
    (tall,) = processor.process_boxes([[[100, 50, 101, 401]]], [(480, 640)])
    np.testing.assert_allclose(tall[0], [150 - 0.6 * 300, 250 - 0.6 * 400, 1.2 * 300, 1.2 * 400], atol=1e-4)
    # Wide box: height grown instead.
    (wide,) = processor.process_boxes([[[10, 100, 401, 101]]], [(480, 640)])
    np.testing.assert_allclose(wide[0], [210 - 0.6 * 400, 150 - 0.6 * 400 * 4 / 3, 480, 1.2 * 400 * 4 / 3], atol=1e-4)
    # The original's clipping keeps the width of a box sticking out on the left and moves it right.
    (shifted,) = processor.process_boxes([[[-20, 10, 301, 401]]], [(480, 640)], bbox_ratio=1.0)
    np.testing.assert_allclose(shifted[0], [0, 10, 300, 400], atol=1e-4)
    # bbox_ratio is honoured.
    (ratio_125,) = SmplestXImageProcessor(bbox_ratio=1.25).process_boxes([[[100, 50, 301, 401]]], [(480, 640)])
    np.testing.assert_allclose(ratio_125[0, 2:], [375, 500], atol=1e-4)


# --------------------------------------------------------------------------------------------------- crops
def test_crops_equal_opencv_crop_then_nearest_downsampling(processor):
    image = noise_image(240, 320)
    inputs = processor(image, boxes=[BOXES_XYWH], return_tensors="pt")
    pixel_values = inputs["pixel_values"]
    assert pixel_values.shape == (len(BOXES_XYWH), 3, INPUT_HEIGHT, INPUT_WIDTH) and pixel_values.dtype == torch.float32
    for index, box in enumerate(BOXES_XYWH):
        processed = reference_process_bbox(box, 320, 240)
        np.testing.assert_allclose(inputs["processed_boxes"][index].numpy(), processed, atol=1e-4)
        expected = reference_pixel_values(image, processed)
        difference = (pixel_values[index] - expected).abs()
        assert difference.max() <= CROP_ATOL, (index, difference.max().item())
    # The crops really contain image content (and black outside the image for the boxes that stick out).
    assert pixel_values.std() > 0.2
    assert (pixel_values[1, :, :8, :8] == 0).all()


def test_direct_downsampled_crop_equals_full_crop_rows_and_columns():
    """crop_nearest_downsampled == warp_affine_bilinear (== cv2.warpAffine) then torch nearest, for any sizes."""
    image = noise_image(90, 120, seed=1)
    boxes = np.array([[10.0, 5.0, 60.0, 80.0], [-20.0, 30.0, 100.0, 70.0]])
    matrices = crop_affine_matrices(boxes, output_size=(101, 77), rotation=[0.0, 25.0])
    full = warp_affine_bilinear(image, matrices, (101, 77))
    for matrix, crop in zip(matrices, full):
        expected = cv2.warpAffine(image.astype(np.float32), matrix, (77, 101), flags=cv2.INTER_LINEAR)
        assert np.abs(crop - expected).max() <= CROP_ATOL * 255
    for output_size in ((37, 29), (50, 38), (101, 77)):
        direct = crop_nearest_downsampled(image, matrices, crop_size=(101, 77), output_size=output_size)
        expected = F.interpolate(torch.from_numpy(full).permute(0, 3, 1, 2), size=output_size, mode="nearest")
        np.testing.assert_array_equal(direct, expected.numpy())


def test_nearest_downsample_indices_match_torch():
    for input_length, output_length in ((512, 256), (384, 192), (500, 256), (383, 192), (7, 100), (1000, 333)):
        grid = torch.arange(input_length, dtype=torch.float32)[None, None, :, None]
        expected = F.interpolate(grid, size=(output_length, 1), mode="nearest")[0, 0, :, 0].numpy()
        np.testing.assert_array_equal(nearest_downsample_indices(input_length, output_length), expected)


@pytest.mark.parametrize(
    ("rotation", "flip", "scale"), [(0.0, True, 1.0), (30.0, False, 1.0), (-47.5, True, 1.3), (12.0, False, 0.8)]
)
def test_rotation_flip_scale_match_the_original_augmentation(rotation, flip, scale):
    image = noise_image(240, 320, seed=2)
    box = reference_process_bbox([90.0, 30.0, 110.0, 170.0], 320, 240)
    matrix = crop_affine_matrices(box[None], rotation=rotation, flip=flip, scale=scale)
    pixel_values = crop_nearest_downsampled(image, matrix)[0] / 255
    expected = reference_pixel_values(image, box, rotation=rotation, flip=flip, scale=scale)
    assert np.abs(pixel_values - expected.numpy()).max() <= CROP_ATOL
    if not flip:  # without a mirror the map itself is the original's 3-point transform
        reference = reference_crop_matrix(box[:2] + box[2:] / 2, box[2:], rotation, scale)
        np.testing.assert_allclose(matrix[0], reference, rtol=1e-5, atol=1e-3)


def test_per_box_augmentation_parameters_are_vectorised():
    image = noise_image(120, 160, seed=4)
    boxes = np.array([[20.0, 10.0, 60.0, 80.0], [70.0, 30.0, 50.0, 70.0]])
    rotations, flips, scales = np.array([10.0, -20.0]), np.array([True, False]), np.array([1.1, 0.9])
    batched = crop_nearest_downsampled(image, crop_affine_matrices(boxes, rotation=rotations, flip=flips, scale=scales))
    for index in range(2):
        single = crop_affine_matrices(boxes[index], rotation=rotations[index], flip=flips[index], scale=scales[index])
        np.testing.assert_array_equal(batched[index], crop_nearest_downsampled(image, single)[0])


# --------------------------------------------------------------------------------- batches and image types
def test_multiple_images_with_different_box_counts(processor):
    images = [noise_image(240, 320, seed=5), noise_image(100, 150, seed=6), noise_image(60, 90, seed=7)]
    boxes = [BOXES_XYWH[:2], [], None]
    inputs = processor(images, boxes=boxes)
    assert inputs["pixel_values"].shape == (3, 3, INPUT_HEIGHT, INPUT_WIDTH)
    np.testing.assert_array_equal(inputs["image_indices"], [0, 0, 2])
    np.testing.assert_array_equal(inputs["pixel_values"][:2], processor(images[0], boxes=BOXES_XYWH[:2])["pixel_values"])
    # boxes=None for an image (or for all images) is one person filling the whole image.
    whole = reference_process_bbox([0, 0, 90, 60], 90, 60)
    np.testing.assert_allclose(inputs["processed_boxes"][2], whole, atol=1e-4)
    assert np.abs(inputs["pixel_values"][2] - reference_pixel_values(images[2], whole).numpy()).max() <= CROP_ATOL
    all_whole = processor(images, boxes=None)
    np.testing.assert_array_equal(all_whole["image_indices"], [0, 1, 2])
    np.testing.assert_array_equal(all_whole["pixel_values"][2], inputs["pixel_values"][2])
    # A 4D batch works like a list; no boxes at all gives an empty batch of the right shape.
    batch = np.stack([noise_image(60, 90, seed=8), noise_image(60, 90, seed=9)])
    assert processor(batch, boxes=[[[5, 5, 40, 40]], [[10, 10, 30, 40], [0, 0, 20, 20]]])["pixel_values"].shape[0] == 3
    assert processor(images[1], boxes=[[]], return_tensors="pt")["pixel_values"].shape == (0, 3, INPUT_HEIGHT, INPUT_WIDTH)


def test_image_types_give_the_same_crops(processor):
    rgb = noise_image(60, 80, seed=10)
    box = [[10.0, 5.0, 40.0, 50.0]]
    expected = processor(rgb, boxes=box)["pixel_values"]

    def crops(image, **kwargs):
        return processor(image, boxes=box, **kwargs)["pixel_values"]

    np.testing.assert_array_equal(crops(Image.fromarray(rgb)), expected)
    np.testing.assert_array_equal(crops(torch.from_numpy(rgb).permute(2, 0, 1)), expected)  # (C, H, W) tensor
    np.testing.assert_array_equal(crops(rgb.astype(np.float32)), expected)  # float in [0, 255]
    np.testing.assert_allclose(crops(rgb.astype(np.float32) / 255, do_rescale=False), expected, atol=1e-6)
    np.testing.assert_allclose(crops(rgb.astype(np.uint16) * 257), expected, atol=1e-5)  # 16-bit full range
    opaque = np.concatenate([rgb, np.full((60, 80, 1), 255, np.uint8)], axis=2)
    np.testing.assert_allclose(crops(opaque), expected, atol=1e-6)
    np.testing.assert_allclose(crops(Image.fromarray(opaque)), expected, atol=1e-6)

    gray = rgb[:, :, 0]
    gray_expected = np.repeat(crops(gray)[:, :1], 3, axis=1)
    np.testing.assert_array_equal(crops(gray), gray_expected)  # grayscale repeated to RGB
    np.testing.assert_array_equal(crops(Image.fromarray(gray)), gray_expected)
    np.testing.assert_allclose(crops(Image.fromarray(gray.astype(np.uint16) * 257)), gray_expected, atol=1e-5)
    np.testing.assert_array_equal(crops(torch.from_numpy(np.repeat(rgb[:, :, :1], 3, 2)).permute(2, 0, 1)), gray_expected)

    # A fully transparent image is composited onto white: a crop inside the image is all ones.
    transparent = np.concatenate([rgb, np.zeros((60, 80, 1), np.uint8)], axis=2)
    np.testing.assert_allclose(processor(transparent, boxes=[[30, 25, 10, 10]])["pixel_values"][:, :, 100:150, 80:110], 1.0, atol=1e-6)


def test_normalisation_is_applied_per_channel():
    image = noise_image(60, 80, seed=11)
    plain = SmplestXImageProcessor()(image, boxes=[[10, 5, 40, 50]])["pixel_values"]
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    normalised = SmplestXImageProcessor(do_normalize=True, image_mean=mean, image_std=std)(image, boxes=[[10, 5, 40, 50]])
    expected = (plain - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(normalised["pixel_values"], expected, atol=1e-6)


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ([[10, 10, 0, 50]], "Box 0 of image 0"),  # empty
        ([[5, 5, 20, 20], [10, float("nan"), 20, 50]], "Box 1 of image 0"),  # not finite
        ([[700, 10, 50, 50]], "outside the image"),  # right of the image
        ([[10, -90, 50, 50]], "outside the image"),  # above the image
        ([[10, 10, -20, 50]], "Box 0 of image 0"),  # negative width
        ([[10, 10, 20]], r"shape \(K, 4\)"),
        ([[[1, 2, 3, 4]], [[1, 2, 3, 4]]], r"boxes for 2 images but 1 image\(s\)"),
    ],
)
def test_invalid_boxes_raise_clear_errors(processor, boxes, message):
    with pytest.raises(ValueError, match=message):
        processor(noise_image(48, 64), boxes=boxes)


def test_invalid_arguments_and_images_raise_clear_errors(processor):
    image = noise_image(48, 64)
    with pytest.raises(ValueError, match="box_format"):
        processor(image, boxes=[[1, 2, 3, 4]], box_format="cxcywh")
    with pytest.raises(ValueError, match=r"Box 0 of image 0, \[30.0, 10.0, 20.0, 40.0\] \(xyxy\)"):
        processor(image, boxes=[[30, 10, 20, 40]], box_format="xyxy")  # x_max < x_min
    with pytest.raises(ValueError, match="dtype int64"):
        processor(image.astype(np.int64), boxes=[[1, 2, 30, 40]])
    with pytest.raises(ValueError, match="channel"):
        processor(np.zeros((48, 64, 5), np.uint8), boxes=[[1, 2, 30, 40]])
    with pytest.raises(ValueError, match="Empty image"):
        processor(np.zeros((0, 64, 3), np.uint8), boxes=None)


# ------------------------------------------------------------------------------------------ post-processing
def fake_outputs(joints_crop_camera, camera_translation, with_joints=True):
    """Model outputs holding known 3D points (crop camera) and their crop projections (body-input pixels)."""
    count = len(joints_crop_camera)
    depth = joints_crop_camera[..., 2:] + 1e-4
    keypoints = joints_crop_camera[..., :2] / depth * torch.tensor(FOCAL) + torch.tensor(PRINCIPAL_POINT)
    zeros = torch.zeros
    return SmplestXMeshRecoveryOutput(
        global_orient=zeros(count, 3), body_pose=zeros(count, 21, 3), left_hand_pose=zeros(count, 15, 3),
        right_hand_pose=zeros(count, 15, 3), jaw_pose=zeros(count, 3), betas=zeros(count, 10),
        expression=zeros(count, 10), camera_translation=camera_translation,
        vertices=joints_crop_camera.clone() if with_joints else None, joints=joints_crop_camera if with_joints else None,
        keypoints_2d=keypoints,
    )  # fmt: skip


def test_post_processing_projects_joints_with_the_full_image_camera(processor):
    rng = np.random.default_rng(12)
    boxes = [BOXES_XYWH[:3], None]
    sizes = [(240, 320), (100, 150)]
    camera_translation = torch.tensor(rng.uniform([-0.3, -0.3, 15], [0.3, 0.3, 50], (4, 3)), dtype=torch.float32)
    joints = camera_translation[:, None] + torch.tensor(rng.uniform(-0.9, 0.9, (4, 137, 3)), dtype=torch.float32)
    outputs = fake_outputs(joints, camera_translation)
    results = processor.post_process_mesh_recovery(outputs, boxes=boxes, target_sizes=sizes)
    assert [len(people) for people in results] == [3, 1]

    people = results[0] + results[1]
    for index, person in enumerate(people):
        image_size = sizes[0] if index < 3 else sizes[1]
        box = reference_process_bbox(BOXES_XYWH[index] if index < 3 else [0, 0, 150, 100], image_size[1], image_size[0])
        focal = np.array([FOCAL[0] / INPUT_WIDTH * box[2], FOCAL[1] / INPUT_HEIGHT * box[3]])
        center = np.array([PRINCIPAL_POINT[0] / INPUT_WIDTH * box[2] + box[0], PRINCIPAL_POINT[1] / INPUT_HEIGHT * box[3] + box[1]])
        np.testing.assert_allclose(person["focal_length"].numpy(), focal, rtol=1e-5)
        np.testing.assert_allclose(person["principal_point"].numpy(), center, rtol=1e-5)
        np.testing.assert_allclose(person["box"].numpy(), box, atol=1e-4)
        torch.testing.assert_close(person["joints"], joints[index])  # same frame: only the intrinsics change
        torch.testing.assert_close(person["camera_translation"], camera_translation[index])

        # 2D keypoints = the full-image-camera projection of the 3D joints with the returned intrinsics ...
        points = joints[index].double().numpy()
        projected = points[:, :2] / (points[:, 2:] + 1e-4) * focal + center
        np.testing.assert_allclose(person["keypoints_2d"].numpy(), projected, atol=1e-2)
        # ... and the crop keypoints (body-input pixel u = crop pixel 2u) mapped back by the inverse 3-point affine.
        to_image = cv2.invertAffineTransform(reference_crop_matrix(box[:2] + box[2:] / 2, box[2:]).astype(np.float64))
        crop_points = 2 * outputs.keypoints_2d[index].double().numpy()
        mapped_back = crop_points @ to_image[:, :2].T + to_image[:, 2]
        assert np.abs(person["keypoints_2d"].numpy() - mapped_back).max() < 0.5

    # Without 3D joints the crop keypoints are mapped back; processed_boxes + image_indices identify the crops too.
    inputs = processor([noise_image(240, 320), noise_image(100, 150)], boxes=boxes)
    no_joints = processor.post_process_mesh_recovery(
        fake_outputs(joints, camera_translation, with_joints=False), processed_boxes=inputs["processed_boxes"],
        image_indices=inputs["image_indices"], target_sizes=sizes,
    )  # fmt: skip
    for with_joints, without in zip(people, no_joints[0] + no_joints[1]):
        assert "joints" not in without
        torch.testing.assert_close(without["keypoints_2d"], with_joints["keypoints_2d"], atol=1e-2, rtol=0)


def test_crop_pixels_and_post_processing_agree_on_where_a_point_is():
    """A bright dot at a sub-pixel image point, found in the crop, maps back onto that image point."""
    processor = SmplestXImageProcessor()
    height, width, dot = 240, 320, np.array([137.3, 88.6])
    ys, xs = np.mgrid[0:height, 0:width]
    image = 255 * np.exp(-((xs - dot[0]) ** 2 + (ys - dot[1]) ** 2) / (2 * 4.0**2))
    boxes = [[100.0, 40.0, 80.0, 150.0], [70.0, 20.0, 200.0, 200.0]]
    pixel_values = processor(image.astype(np.float32), boxes=boxes)["pixel_values"][:, 0].astype(np.float64)
    grid_y, grid_x = np.mgrid[0:INPUT_HEIGHT, 0:INPUT_WIDTH]
    mass = pixel_values.sum(axis=(1, 2))
    crop_dot = np.stack([(pixel_values * grid_x).sum((1, 2)) / mass, (pixel_values * grid_y).sum((1, 2)) / mass], axis=1)
    # Points in the crop camera that project onto the dot's crop position, at two depths.
    depth = torch.tensor([[20.0], [35.0]], dtype=torch.float64)
    xy = (torch.from_numpy(crop_dot) - torch.tensor(PRINCIPAL_POINT)) / torch.tensor(FOCAL) * (depth + 1e-4)
    joints = torch.cat([xy, depth], dim=1)[:, None].float()
    results = processor.post_process_mesh_recovery(fake_outputs(joints, joints[:, 0]), boxes=boxes, target_sizes=[(height, width)])
    for person in results[0]:
        assert np.abs(person["keypoints_2d"][0].numpy() - dot).max() < 0.1


def test_post_processing_rejects_mismatched_boxes(processor):
    outputs = fake_outputs(torch.ones(2, 5, 3) * 20, torch.ones(2, 3))
    with pytest.raises(ValueError, match="2 people but the boxes describe 1"):
        processor.post_process_mesh_recovery(outputs, boxes=[[[1, 2, 30, 40]]], target_sizes=[(48, 64)])
    with pytest.raises(ValueError, match="target_sizes"):
        processor.post_process_mesh_recovery(outputs, boxes=[[[1, 2, 30, 40]]])
    with pytest.raises(ValueError, match="image_indices"):
        processor.post_process_mesh_recovery(outputs, processed_boxes=np.ones((2, 4)), image_indices=[0, 3], target_sizes=[(48, 64)])


def test_tiny_model_with_synthetic_body_model_end_to_end(request, processor):
    synthetic = pytest.importorskip("smplest_hf.synthetic")
    if not hasattr(synthetic, "write_synthetic_body_model"):
        pytest.skip("smplest_hf.synthetic.write_synthetic_body_model is not available yet")
    body_model_dir = request.getfixturevalue("synthetic_body_model_dir")
    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).eval().attach_body_model(body_model_dir)
    boxes = [[[200.0, 60.0, 180.0, 400.0], [20.0, 30.0, 150.0, 300.0]]]
    inputs = processor(noise_image(480, 640), boxes=boxes, return_tensors="pt")
    with torch.no_grad():
        outputs = model(inputs["pixel_values"])
    people = processor.post_process_mesh_recovery(outputs, boxes=boxes, target_sizes=[(480, 640)])[0]
    for index, person in enumerate(people):
        box = reference_process_bbox(boxes[0][index], 640, 480)
        to_image = cv2.invertAffineTransform(reference_crop_matrix(box[:2] + box[2:] / 2, box[2:]).astype(np.float64))
        mapped_back = 2 * outputs.keypoints_2d[index].double().numpy() @ to_image[:, :2].T + to_image[:, 2]
        # An untrained model may put joints at or behind the camera plane; compare those in front of it.
        in_front = person["joints"][:, 2].numpy() > 0.5
        assert in_front.any()
        assert np.abs(person["keypoints_2d"].numpy() - mapped_back)[in_front].max() < 0.5
        assert person["vertices"].shape == (10475, 3)


# ------------------------------------------------------------------------------------------------------ hub
def test_save_and_load_round_trip_and_auto_class(tmp_path):
    processor = SmplestXImageProcessor(bbox_ratio=1.25, focal_length=(4000.0, 4500.0))
    processor.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is SmplestXImageProcessor
    assert loaded.to_dict() == processor.to_dict()
    assert loaded.bbox_ratio == 1.25 and list(loaded.focal_length) == [4000.0, 4500.0]
    image, boxes = noise_image(60, 80, seed=13), [[10.0, 5.0, 40.0, 50.0]]
    np.testing.assert_array_equal(loaded(image, boxes=boxes)["pixel_values"], processor(image, boxes=boxes)["pixel_values"])
    assert type(SmplestXImageProcessor.from_pretrained(tmp_path)) is SmplestXImageProcessor

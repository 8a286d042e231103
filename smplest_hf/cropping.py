"""Person-crop geometry shared by inference and training: boxes -> affine crops -> full-image cameras.

Pure NumPy functions, vectorised over N boxes. Conventions:

- boxes are `(x, y, w, h)` in image pixels (COCO "xywh"); sizes are `(height, width)`;
- a 2x3 affine matrix `M` maps image pixel coordinates to crop pixel coordinates, and an output pixel
  `(x, y)` of a warp takes the image value at `M^-1 [x, y, 1]` (OpenCV's `warpAffine` convention: integer
  coordinates are pixel centres, no half-pixel shift);
- the person crop is 512x384, and the encoder sees its nearest-downsampled 256x192 version, i.e. crop pixels
  `(2i, 2j)`. Because the crop matrix for a 256x192 output is exactly the 512x384 one divided by 2, body-input
  pixel `u` and crop pixel `2u` are the same image point; `crop_nearest_downsampled` samples those points
  directly, without building the 512x384 crop.

The defaults come from [`SmplestXConfig`]'s class defaults, the single source of the crop and camera constants.
"""

import numpy as np

from .configuration_smplest_x import SmplestXConfig

CROP_SIZE = tuple(SmplestXConfig.input_image_size)  # (height, width) of the affine crop, (512, 384)
BODY_INPUT_SIZE = tuple(SmplestXConfig.input_body_size)  # (height, width) the encoder sees, (256, 192)
BBOX_RATIO = SmplestXConfig.bbox_ratio


def boxes_xyxy_to_xywh(boxes) -> np.ndarray:
    """(N, 4) `(x_min, y_min, x_max, y_max)` -> (N, 4) `(x, y, w, h)` with `w = x_max - x_min`."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate((boxes[..., :2], boxes[..., 2:4] - boxes[..., :2]), axis=-1)


def clip_boxes_xywh(boxes, image_size) -> tuple[np.ndarray, np.ndarray]:
    """Clip xywh boxes to the image the way the original SMPLest-X does before cropping.

    `x1 = max(0, x)`, `y1 = max(0, y)`, `x2 = min(W - 1, x1 + max(0, w - 1))`, `y2 = min(H - 1, y1 + max(0, h - 1))`;
    the clipped box is `(x1, y1, x2 - x1, y2 - y1)` and is valid only if `w * h > 0`, `x2 > x1` and `y2 > y1`.

    Args:
        boxes: (N, 4) xywh boxes in pixels.
        image_size: (2,) `(height, width)` shared by all boxes, or (N, 2) one per box.

    Returns:
        clipped: (N, 4) float64 xywh boxes (invalid rows are returned as computed, not meaningful).
        valid: (N,) bool, False for boxes that are empty after clipping or not finite.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    image_size = np.broadcast_to(np.asarray(image_size, dtype=np.float64), (len(boxes), 2))
    height, width = image_size[:, 0], image_size[:, 1]
    x, y, w, h = boxes.T
    x1 = np.maximum(0.0, x)
    y1 = np.maximum(0.0, y)
    x2 = np.minimum(width - 1, x1 + np.maximum(0.0, w - 1))
    y2 = np.minimum(height - 1, y1 + np.maximum(0.0, h - 1))
    clipped = np.stack((x1, y1, x2 - x1, y2 - y1), axis=-1)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(boxes).all(axis=1) & (w * h > 0) & (x2 > x1) & (y2 > y1)
    return clipped, valid


def expand_boxes_to_aspect(boxes, aspect_ratio: float = CROP_SIZE[1] / CROP_SIZE[0], ratio: float = BBOX_RATIO) -> np.ndarray:
    """Grow each box's short side around its centre to `aspect_ratio` (width / height), then scale both sides.

    Args:
        boxes: (N, 4) xywh boxes (already clipped).
        aspect_ratio: target width / height, 384 / 512 for the default crop.
        ratio: enlargement applied to both sides after the aspect correction (`bbox_ratio`, 1.2).

    Returns:
        (N, 4) float64 xywh boxes with the same centres, `w / h == aspect_ratio`.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x, y, w, h = boxes.T
    center_x, center_y = x + w / 2, y + h / 2
    too_wide = w > aspect_ratio * h
    new_h = np.where(too_wide, w / aspect_ratio, h) * ratio
    new_w = np.where(too_wide, w, h * aspect_ratio) * ratio
    return np.stack((center_x - new_w / 2, center_y - new_h / 2, new_w, new_h), axis=-1)


def crop_affine_matrices(boxes, output_size=CROP_SIZE, rotation=0.0, flip=False, scale=1.0) -> np.ndarray:
    """Affine maps from the image to crops of `output_size` around each box, in closed form.

    Equals OpenCV's `getAffineTransform` from the three image points (centre, centre + R(0, h/2),
    centre + R(w/2, 0)) to the output's (centre, centre + (0, H/2), centre + (W/2, 0)), where R rotates by
    `rotation` degrees (x' = x cos - y sin, y' = x sin + y cos) and `w, h` are the box sides times `scale`.
    So the box centre lands on the output centre, the box fills the output, and the content is rotated by
    `-rotation` degrees. `flip=True` first mirrors the image (x -> W - 1 - x) and crops around the mirrored
    centre, as the original augmentation does; the result does not depend on the image width W.

    Args:
        boxes: (N, 4) xywh boxes (normally the expanded boxes).
        output_size: `(height, width)` of the crop.
        rotation: scalar or (N,) rotation in degrees.
        flip: scalar or (N,) bool, horizontal flip.
        scale: scalar or (N,) factor on the box sides (>1 zooms out).

    Returns:
        (N, 2, 3) float64 matrices mapping image pixels to crop pixels.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    count = len(boxes)
    rotation = np.broadcast_to(np.asarray(rotation, dtype=np.float64), (count,))
    flip = np.broadcast_to(np.asarray(flip, dtype=bool), (count,))
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (count,))
    out_height, out_width = output_size
    center = boxes[:, :2] + boxes[:, 2:] / 2
    # Linear part L = diag(W / w, H / h) R^T, then J = diag(-1, 1) on the right for a mirrored image.
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta), np.sin(theta)
    sign = np.where(flip, -1.0, 1.0)
    scale_x = out_width / (boxes[:, 2] * scale)
    scale_y = out_height / (boxes[:, 3] * scale)
    linear = np.empty((count, 2, 2))
    linear[:, 0, 0] = scale_x * cos * sign
    linear[:, 0, 1] = scale_x * sin
    linear[:, 1, 0] = -scale_y * sin * sign
    linear[:, 1, 1] = scale_y * cos
    output_center = np.array([out_width / 2, out_height / 2])
    translation = output_center - np.einsum("nij,nj->ni", linear, center)
    return np.concatenate((linear, translation[:, :, None]), axis=2)


def invert_affine_matrices(matrices) -> np.ndarray:
    """(..., 2, 3) affine maps -> (..., 2, 3) inverse maps (crop -> image for a crop matrix)."""
    matrices = np.asarray(matrices, dtype=np.float64)
    a, b, tx = matrices[..., 0, 0], matrices[..., 0, 1], matrices[..., 0, 2]
    c, d, ty = matrices[..., 1, 0], matrices[..., 1, 1], matrices[..., 1, 2]
    det = a * d - b * c
    inverse = np.empty_like(matrices)
    inverse[..., 0, 0], inverse[..., 0, 1] = d / det, -b / det
    inverse[..., 1, 0], inverse[..., 1, 1] = -c / det, a / det
    inverse[..., 0, 2] = -(inverse[..., 0, 0] * tx + inverse[..., 0, 1] * ty)
    inverse[..., 1, 2] = -(inverse[..., 1, 0] * tx + inverse[..., 1, 1] * ty)
    return inverse


def apply_affine(matrices, points) -> np.ndarray:
    """Map points with affine matrices: (N, 2, 3) and (N, K, 2) -> (N, K, 2) (a (2, 3) matrix and (K, 2) also work)."""
    matrices = np.asarray(matrices, dtype=np.float64)
    points = np.asarray(points, dtype=np.float64)
    return np.einsum("...ij,...kj->...ki", matrices[..., :2], points) + matrices[..., None, :, 2]


def _sample_bilinear(image: np.ndarray, inverse: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray) -> np.ndarray:
    """Bilinear samples of `image` (H, W, C) at `inverse @ [x, y, 1]` for x in grid_x (w,), y in grid_y (h,).

    `inverse` is (N, 2, 3); returns (N, h, w, C) float32. Neighbours outside the image count as 0 (OpenCV's
    BORDER_CONSTANT with value 0), so pixels near the border fade to black as in `cv2.warpAffine`.
    """
    height, width, channels = image.shape
    flat_image = np.ascontiguousarray(image).reshape(height * width, channels)
    # Source coordinates in float64: (N, h, w).
    source_x = inverse[:, 0, 0, None, None] * grid_x[None, None, :] + (inverse[:, 0, 1, None] * grid_y[None, :] + inverse[:, 0, 2, None])[:, :, None]
    source_y = inverse[:, 1, 0, None, None] * grid_x[None, None, :] + (inverse[:, 1, 1, None] * grid_y[None, :] + inverse[:, 1, 2, None])[:, :, None]
    left = np.floor(source_x)
    top = np.floor(source_y)
    weight_x = (source_x - left).astype(np.float32)[..., None]
    weight_y = (source_y - top).astype(np.float32)[..., None]
    left = left.astype(np.int64)
    top = top.astype(np.int64)
    output = np.zeros(source_x.shape + (channels,), dtype=np.float32)
    for offset_y, factor_y in ((0, 1 - weight_y), (1, weight_y)):
        row = top + offset_y
        row_inside = (row >= 0) & (row < height)
        for offset_x, factor_x in ((0, 1 - weight_x), (1, weight_x)):
            column = left + offset_x
            inside = row_inside & (column >= 0) & (column < width)
            index = np.where(inside, row * width + column, 0)
            values = flat_image[index].astype(np.float32) * inside[..., None]
            output += factor_y * factor_x * values
    return output


def _as_hwc(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"Expected an (H, W) or (H, W, C) image, got shape {image.shape}.")
    return image


def warp_affine_bilinear(image, matrices, output_size) -> np.ndarray:
    """`cv2.warpAffine(image, M, (w, h), INTER_LINEAR, BORDER_CONSTANT, 0)` in NumPy, for N matrices at once.

    Args:
        image: (H, W, C) or (H, W) uint8 / uint16 / float image.
        matrices: (N, 2, 3) or (2, 3) image -> output affine maps.
        output_size: `(height, width)` of the output.

    Returns:
        (N, height, width, C) float32 (or (height, width, C) for a single (2, 3) matrix), in the input's value
        range; `output[y, x] = image(M^-1 [x, y, 1])`, bilinear, 0 outside the image.
    """
    image = _as_hwc(image)
    matrices = np.asarray(matrices, dtype=np.float64)
    single = matrices.ndim == 2
    height, width = output_size
    crops = _sample_bilinear(
        image, invert_affine_matrices(matrices.reshape(-1, 2, 3)), np.arange(width, dtype=np.float64),
        np.arange(height, dtype=np.float64),
    )  # fmt: skip
    return crops[0] if single else crops


def nearest_downsample_indices(input_length: int, output_length: int) -> np.ndarray:
    """Indices `torch.nn.functional.interpolate(mode="nearest")` reads: floor(i * input / output), clipped."""
    return np.minimum(np.floor(np.arange(output_length) * (input_length / output_length)), input_length - 1)


def crop_nearest_downsampled(image, matrices, crop_size=CROP_SIZE, output_size=BODY_INPUT_SIZE) -> np.ndarray:
    """The `crop_size` affine crop, nearest-downsampled to `output_size`, without building the full crop.

    Equals `warp_affine_bilinear(image, matrices, crop_size)[:, rows][:, :, cols]` with the rows/columns that
    `F.interpolate(..., output_size, mode="nearest")` reads, i.e. crop pixels (2i, 2j) for 512x384 -> 256x192.
    Only those pixels are interpolated, so the cost is that of an `output_size` warp.

    Args:
        image: (H, W, C) or (H, W) image.
        matrices: (N, 2, 3) or (2, 3) image -> crop maps for a crop of `crop_size` (from `crop_affine_matrices`).
        crop_size / output_size: `(height, width)`.

    Returns:
        (N, out_height, out_width, C) float32 (or without N for a single matrix).
    """
    image = _as_hwc(image)
    matrices = np.asarray(matrices, dtype=np.float64)
    single = matrices.ndim == 2
    rows = nearest_downsample_indices(crop_size[0], output_size[0])
    columns = nearest_downsample_indices(crop_size[1], output_size[1])
    crops = _sample_bilinear(image, invert_affine_matrices(matrices.reshape(-1, 2, 3)), columns, rows)
    return crops[0] if single else crops


def crop_to_full_image_camera(
    boxes,
    focal_length=tuple(SmplestXConfig.focal_length),
    principal_point=tuple(SmplestXConfig.principal_point),
    input_size=BODY_INPUT_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """The full-image pinhole camera equivalent to the model's virtual crop camera, per processed box.

    The model predicts a translation for a camera with `focal_length` and `principal_point` in body-input
    pixels (`input_size`, 256x192). Scaling that camera by the box size and shifting it by the box corner gives a
    camera in image pixels under which the same 3D points project onto the right image pixels:
    focal = (fx / W_in * w, fy / H_in * h), principal point = (cx / W_in * w + x, cy / H_in * h + y).

    Args:
        boxes: (N, 4) processed (expanded) xywh boxes.
        focal_length / principal_point: `(x, y)` crop-camera intrinsics in body-input pixels.
        input_size: `(height, width)` of the body input.

    Returns:
        focal: (N, 2) `(fx, fy)` and principal_point: (N, 2) `(cx, cy)`, float64, in image pixels.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    input_height, input_width = input_size
    pixels_per_input = boxes[:, 2:] / np.array([input_width, input_height], dtype=np.float64)
    focal = np.asarray(focal_length, dtype=np.float64) * pixels_per_input
    center = np.asarray(principal_point, dtype=np.float64) * pixels_per_input + boxes[:, :2]
    return focal, center


__all__ = [
    "BBOX_RATIO",
    "BODY_INPUT_SIZE",
    "CROP_SIZE",
    "apply_affine",
    "boxes_xyxy_to_xywh",
    "clip_boxes_xywh",
    "crop_affine_matrices",
    "crop_nearest_downsampled",
    "crop_to_full_image_camera",
    "expand_boxes_to_aspect",
    "invert_affine_matrices",
    "nearest_downsample_indices",
    "warp_affine_bilinear",
]

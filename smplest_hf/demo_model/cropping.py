"""Person-crop geometry shared by inference and training: boxes -> affine crops -> full-image cameras.

Pure NumPy functions, vectorised over N boxes. Conventions:

- boxes are `(x, y, w, h)` in image pixels (COCO "xywh"); sizes are `(height, width)`;
- a 2x3 affine matrix `M` maps image pixel coordinates to crop pixel coordinates, and an output pixel
  `(x, y)` of a warp takes the image value at `M^-1 [x, y, 1]` (OpenCV's `warpAffine` convention: integer
  coordinates are pixel centres, no half-pixel shift; neighbours outside the image count as 0);
- the person crop is 512x384, and the encoder sees its nearest-downsampled 256x192 version, i.e. crop pixels
  `(2i, 2j)` (what `torch.nn.functional.interpolate(mode="nearest")` reads). `crop_nearest_downsampled`
  interpolates only those pixels, so no 512x384 crop is ever built. Body-input pixel `u` and crop pixel `2u`
  are the same image point, so the crop matrix for the 256x192 input is the 512x384 one divided by 2.

The defaults come from [`SmplestXConfig`]'s class defaults, the single source of the crop and camera constants.

```python
>>> import numpy as np
>>> from smplest_hf.models.smplest_x.cropping import clip_boxes_xywh, expand_boxes_to_aspect, crop_affine_matrices
>>> from smplest_hf.models.smplest_x.cropping import crop_nearest_downsampled
>>> image = np.zeros((480, 640, 3), dtype=np.uint8)
>>> clipped, valid = clip_boxes_xywh([[100, 50, 200, 400]], image.shape[:2])
>>> clipped.tolist()  # the original's clipping: width and height lose one pixel
[[100.0, 50.0, 199.0, 399.0]]
>>> boxes = expand_boxes_to_aspect(clipped)  # 3:4 aspect, 1.2x larger, same centre
>>> boxes.round(2).tolist()
[[19.95, 10.1, 359.1, 478.8]]
>>> crop_nearest_downsampled(image, crop_affine_matrices(boxes)).shape  # (N, C, 256, 192)
(1, 3, 256, 192)

```
"""

import numpy as np

from .configuration_smplest_x import SmplestXConfig

CROP_SIZE = tuple(SmplestXConfig.input_image_size)  # (height, width) of the affine crop, (512, 384)
BODY_INPUT_SIZE = tuple(SmplestXConfig.input_body_size)  # (height, width) the encoder sees, (256, 192)
BBOX_RATIO = SmplestXConfig.bbox_ratio


# ------------------------------------------------------------------------------------------------------ boxes
def boxes_xyxy_to_xywh(boxes) -> np.ndarray:
    """(N, 4) `(x_min, y_min, x_max, y_max)` -> (N, 4) `(x, y, w, h)` with `w = x_max - x_min`."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate((boxes[..., :2], boxes[..., 2:4] - boxes[..., :2]), axis=-1)


def clip_boxes_xywh(boxes, image_size) -> tuple[np.ndarray, np.ndarray]:
    """Clip xywh boxes to the image the way the original SMPLest-X does before cropping.

    `x1 = max(0, x)`, `y1 = max(0, y)`, `x2 = min(W - 1, x1 + max(0, w - 1))`, `y2 = min(H - 1, y1 + max(0, h - 1))`;
    the clipped box is `(x1, y1, x2 - x1, y2 - y1)` and is valid only if `w * h > 0`, `x2 > x1` and `y2 > y1`.
    Note that `x2` is measured from the clipped `x1`: a box sticking out on the left keeps its width and moves
    right, exactly as in the original (reproduced so that crops match it). Stricter than the original, a box
    must also overlap the image (`x + w > 0`, `y + h > 0`): the original would move a box lying entirely left of
    or above the image into it and crop a person who is not there.

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
        valid = np.isfinite(boxes).all(axis=1) & (w * h > 0) & (x2 > x1) & (y2 > y1) & (x + w > 0) & (y + h > 0)
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
    # A box already at the target aspect keeps both sides untouched (no round trip through the ratio).
    new_h = np.where(w > aspect_ratio * h, w / aspect_ratio, h) * ratio
    new_w = np.where(w < aspect_ratio * h, h * aspect_ratio, w) * ratio
    return np.stack((center_x - new_w / 2, center_y - new_h / 2, new_w, new_h), axis=-1)


# ---------------------------------------------------------------------------------------------- affine maps
def crop_affine_matrices(boxes, output_size=CROP_SIZE, rotation=0.0, flip=False, scale=1.0) -> np.ndarray:
    """Affine maps from the image to crops of `output_size` around each box, in closed form.

    Equals OpenCV's `getAffineTransform` from the three image points (centre, centre + R(0, h/2),
    centre + R(w/2, 0)) to the output's (centre, centre + (0, H/2), centre + (W/2, 0)), where R rotates by
    `rotation` degrees (x' = x cos - y sin, y' = x sin + y cos) and `w, h` are the box sides times `scale`.
    So the box centre lands on the output centre, the box fills the output, and the content is rotated by
    `-rotation` degrees. `flip=True` equals mirroring the image first (x -> W - 1 - x) and cropping around the
    mirrored centre, as the original augmentation does; the composed map does not depend on the image width W.

    Args:
        boxes: (N, 4) xywh boxes (normally the expanded boxes), positive sides.
        output_size: `(height, width)` of the crop.
        rotation: scalar or (N,) rotation in degrees.
        flip: scalar or (N,) bool, horizontal flip.
        scale: scalar or (N,) positive factor on the box sides (>1 zooms out).

    Returns:
        (N, 2, 3) float64 matrices mapping image pixels to crop pixels.

    Raises:
        ValueError: for boxes or scales that are not finite and positive (the map would be singular).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    count = len(boxes)
    rotation = np.broadcast_to(np.asarray(rotation, dtype=np.float64), (count,))
    flip = np.broadcast_to(np.asarray(flip, dtype=bool), (count,))
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (count,))
    source_size = boxes[:, 2:] * scale[:, None]
    if not (np.isfinite(boxes).all() and np.isfinite(rotation).all() and (source_size > 0).all()):
        bad = int(np.flatnonzero(~(np.isfinite(boxes).all(1) & np.isfinite(rotation) & (source_size > 0).all(1)))[0])
        raise ValueError(
            f"Cannot build a crop for box {bad} {boxes[bad].tolist()} (scale {scale[bad]}, rotation {rotation[bad]}): "
            "boxes must be finite with positive width and height, scales positive."
        )
    out_height, out_width = output_size
    center = boxes[:, :2] + boxes[:, 2:] / 2
    # Linear part L = diag(W / w, H / h) R^T, times diag(-1, 1) on the right for a mirrored image.
    theta = np.deg2rad(rotation)
    cos, sin = np.cos(theta), np.sin(theta)
    sign = np.where(flip, -1.0, 1.0)
    scale_x = out_width / source_size[:, 0]
    scale_y = out_height / source_size[:, 1]
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


# ------------------------------------------------------------------------------------------------- sampling
def _as_hwc(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        return image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"Expected an (H, W) or (H, W, C) image, got shape {image.shape}.")
    return image


def _sample_range(inverse_row: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray, length: int) -> tuple[int, int]:
    """First and last image pixel (clipped to [0, length - 1]) any sample of any map can read along one axis.

    An affine coordinate is extreme at the grid's corners, so four corners per map bound all samples.
    """
    corner_x, corner_y = np.array([grid_x[0], grid_x[-1]]), np.array([grid_y[0], grid_y[-1]])
    corners = inverse_row[:, 0, None, None] * corner_x + (inverse_row[:, 1, None] * corner_y + inverse_row[:, 2, None])[:, :, None]
    start, stop = np.floor(corners.min()), np.floor(corners.max()) + 1
    return int(np.clip(start, 0, length - 1)), int(np.clip(stop, 0, length - 1))


def _padded_coordinates(inverse_row, grid_x, grid_y, roi_start: int, padded_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, h, w) left-neighbour indices in the padded ROI (int32) and fractions towards the right one (float32).

    Coordinates (float64) are shifted into the padded ROI, where image pixel `roi_start` has index 1, and clipped
    to it: a point past the border then reads two padding zeros (or one zero with weight 1 next to a pixel with
    weight 0), which is what a constant-0 border gives.
    """
    row_term = inverse_row[:, 1, None] * grid_y + (inverse_row[:, 2, None] - (roi_start - 1))
    local = inverse_row[:, 0, None, None] * grid_x + row_term[:, :, None]
    np.clip(local, 0.0, padded_length - 2, out=local)
    left = np.floor(local)
    fraction = np.subtract(local, left, out=local).astype(np.float32)
    return left.astype(np.int32), fraction


def _sample_bilinear(image: np.ndarray, inverse: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray) -> np.ndarray:
    """Bilinear samples of `image` (H, W, C) at `inverse @ [x, y, 1]` for x in grid_x (w,), y in grid_y (h,).

    `inverse` is (N, 2, 3); returns (N, C, h, w) float32. Neighbours outside the image count as 0 (OpenCV's
    BORDER_CONSTANT with value 0), so pixels near the border fade to black as in `cv2.warpAffine`.

    Speed: only the region the samples touch is copied, channel-planar, into a buffer with a zero margin, so the
    four neighbour reads need neither bounds masks nor a per-pixel channel loop; coordinates stay float64 until
    the interpolation weights are formed, and the accumulation reuses its buffers.
    """
    height, width, channels = image.shape
    count = len(inverse)
    output = np.empty((count, channels, len(grid_y), len(grid_x)), dtype=np.float32)
    if output.size == 0:
        return output

    x_start, x_stop = _sample_range(inverse[:, 0], grid_x, grid_y, width)
    y_start, y_stop = _sample_range(inverse[:, 1], grid_x, grid_y, height)
    roi_height, roi_width = y_stop - y_start + 1, x_stop - x_start + 1
    # One zero pixel before and two after (a clipped point's right neighbour), channels first.
    padded_height, padded_width = roi_height + 3, roi_width + 3
    padded = np.zeros((channels, padded_height, padded_width), dtype=image.dtype)
    padded[:, 1 : roi_height + 1, 1 : roi_width + 1] = np.moveaxis(image[y_start : y_stop + 1, x_start : x_stop + 1], -1, 0)
    planes = padded.reshape(channels, -1)

    column, fraction_x = _padded_coordinates(inverse[:, 0], grid_x, grid_y, x_start, padded_width)
    row, fraction_y = _padded_coordinates(inverse[:, 1], grid_x, grid_y, y_start, padded_height)
    top_left = np.multiply(row, np.int32(padded_width), out=row)
    top_left += column
    one = np.float32(1)
    neighbours = (
        (top_left, (one - fraction_y) * (one - fraction_x)),
        (top_left + 1, (one - fraction_y) * fraction_x),
        (top_left + padded_width, fraction_y * (one - fraction_x)),
        (top_left + (padded_width + 1), fraction_y * fraction_x),
    )
    gathered = np.empty(top_left.shape, dtype=image.dtype)
    product = np.empty(top_left.shape, dtype=np.float32)
    for channel in range(channels):
        plane, accumulator = planes[channel], output[:, channel]
        for neighbour, (index, weight) in enumerate(neighbours):
            plane.take(index, out=gathered)
            if neighbour == 0:
                np.multiply(gathered, weight, out=accumulator)
            else:
                accumulator += np.multiply(gathered, weight, out=product)
    return output


def warp_affine_bilinear(image, matrices, output_size) -> np.ndarray:
    """`cv2.warpAffine(image, M, (w, h), INTER_LINEAR, BORDER_CONSTANT, 0)` on a float image, for N matrices at once.

    Args:
        image: (H, W, C) or (H, W) uint8 / uint16 / float image (values are interpolated as float32, like
            OpenCV on a float32 image: no rounding to the input dtype).
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
    crops = np.ascontiguousarray(crops.transpose(0, 2, 3, 1))
    return crops[0] if single else crops


def nearest_downsample_indices(input_length: int, output_length: int) -> np.ndarray:
    """Source indices `torch.nn.functional.interpolate(mode="nearest")` reads: `min(floor(i * scale), input - 1)`.

    `scale = input / output` in float32, as PyTorch computes it, so non-integer ratios pick the same pixels.
    """
    scale = np.float32(input_length) / np.float32(output_length)
    indices = np.floor(np.arange(output_length, dtype=np.float32) * scale)
    return np.minimum(indices, input_length - 1).astype(np.float64)


def crop_nearest_downsampled(image, matrices, crop_size=CROP_SIZE, output_size=BODY_INPUT_SIZE) -> np.ndarray:
    """The `crop_size` affine crop, nearest-downsampled to `output_size`, without building the full crop.

    Equals `warp_affine_bilinear(image, matrices, crop_size)` followed by
    `torch.nn.functional.interpolate(..., output_size, mode="nearest")`, i.e. crop pixels (2i, 2j) for
    512x384 -> 256x192. Only those pixels are interpolated, so the cost is that of an `output_size` warp.

    Args:
        image: (H, W, C) or (H, W) image, any numeric dtype (interpolated as float32, not rounded).
        matrices: (N, 2, 3) or (2, 3) image -> crop maps for a crop of `crop_size` (from `crop_affine_matrices`).
        crop_size / output_size: `(height, width)`.

    Returns:
        (N, C, out_height, out_width) float32, channels first like `pixel_values` (without N for a single matrix),
        in the image's value range.
    """
    image = _as_hwc(image)
    matrices = np.asarray(matrices, dtype=np.float64)
    single = matrices.ndim == 2
    rows = nearest_downsample_indices(crop_size[0], output_size[0])
    columns = nearest_downsample_indices(crop_size[1], output_size[1])
    crops = _sample_bilinear(image, invert_affine_matrices(matrices.reshape(-1, 2, 3)), columns, rows)
    return crops[0] if single else crops


# --------------------------------------------------------------------------------------------------- camera
def crop_to_full_image_camera(
    boxes,
    focal_length=tuple(SmplestXConfig.focal_length),
    principal_point=tuple(SmplestXConfig.principal_point),
    input_size=BODY_INPUT_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """The full-image pinhole camera equivalent to the model's virtual crop camera, per processed box.

    The model predicts a translation for a camera with `focal_length` and `principal_point` in body-input
    pixels (`input_size`, 256x192). Body-input pixel `u` is image point `u * (w / W_in) + x` (see the module
    docstring), so scaling that camera by the box size and shifting it by the box corner gives the camera in
    image pixels under which the same 3D points project onto the right image pixels, as the original inference:
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

"""SmplestXImageProcessor: person boxes -> 256x192 crops for the model, model outputs -> full-image results.

Preprocessing reproduces the original SMPLest-X inference pipeline (see `cropping.py` for the geometry):

    box (xywh or xyxy) -> clip to the image -> grow to the crop's 3:4 aspect and enlarge by `bbox_ratio` (1.2)
    -> 512x384 affine crop, bilinear, 0 outside the image -> / 255 -> nearest downsample to 256x192

The last two steps are fused: only the crop pixels (2i, 2j) that the model sees are interpolated.

Post-processing maps each person back to the image: the SMPL-X parameters are returned as they are, together
with the full-image camera (focal length and principal point scaled and shifted from the virtual crop camera by
the processed box) in which the predicted vertices and joints project onto the right image pixels.

```python
>>> from PIL import Image
>>> from smplest_hf import SmplestXImageProcessor
>>> processor = SmplestXImageProcessor()
>>> image = Image.new("RGB", (640, 480))
>>> inputs = processor(image, boxes=[[[100, 50, 200, 400]]], return_tensors="pt")
>>> inputs["pixel_values"].shape
torch.Size([1, 3, 256, 192])

```
"""

import numpy as np
import torch
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import ChannelDimension, SizeDict, is_pil_image
from transformers.processing_utils import ImagesKwargs, Unpack
from transformers.utils import TensorType, logging

from .configuration_smplest_x import SmplestXConfig
from .cropping import (
    apply_affine,
    boxes_xyxy_to_xywh,
    clip_boxes_xywh,
    crop_affine_matrices,
    crop_nearest_downsampled,
    crop_to_full_image_camera,
    expand_boxes_to_aspect,
    invert_affine_matrices,
)
from .geometry import KEYPOINT_DEPTH_EPSILON, project_points
from .smplx_layout import PARAMETER_NAMES

logger = logging.get_logger(__name__)

BOX_FORMATS = ("xywh", "xyxy")
_SIXTEEN_BIT_PIL_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class SmplestXImageProcessorKwargs(ImagesKwargs, total=False):
    r"""
    bbox_ratio (`float`, *optional*, defaults to 1.2):
        Enlargement of each aspect-corrected box before cropping (the original's `bbox_ratio`).
    focal_length (`list[float]`, *optional*, defaults to `(5000.0, 5000.0)`):
        `(fx, fy)` of the model's virtual crop camera, in body-input pixels (used by post-processing).
    principal_point (`list[float]`, *optional*, defaults to `(96.0, 128.0)`):
        `(cx, cy)` of the virtual crop camera, in body-input pixels (used by post-processing).
    """

    bbox_ratio: float | None
    focal_length: list[float] | tuple[float, ...] | None
    principal_point: list[float] | tuple[float, ...] | None


class SmplestXImageProcessor(PilBackend):
    r"""
    Crops people out of images for [`SmplestXForHumanMeshRecovery`] and maps its outputs back to the images.

    NumPy only (no torchvision, no OpenCV). Defaults are the model's (`SmplestXConfig` defaults):

    - `crop_size` (`{"height": 512, "width": 384}`): the affine crop around each expanded box.
    - `size` (`{"height": 256, "width": 192}`): what the model sees, the crop nearest-downsampled (every second
      pixel, as the original model's `F.interpolate`).
    - `bbox_ratio` (1.2), `do_rescale` (True, `rescale_factor` 1/255), `do_normalize` (False: the original uses no
      mean/std normalisation; set `image_mean`/`image_std` to add one).
    - `focal_length`, `principal_point`: the virtual crop camera, for `post_process_mesh_recovery`.

    Images: PIL images, NumPy arrays or torch tensors, `(H, W)`, `(H, W, C)` or `(C, H, W)`, C in {1, 3, 4}
    (grayscale is repeated to RGB, alpha is composited onto white). Integer images are read in the 8-bit range
    (uint16 is scaled by 255 / 65535); float images are used as given, so with `do_rescale=True` they are
    expected in [0, 255] (pass `do_rescale=False` for float images already in [0, 1]).
    """

    valid_kwargs = SmplestXImageProcessorKwargs
    model_input_names = ["pixel_values"]

    size = {"height": SmplestXConfig.input_body_size[0], "width": SmplestXConfig.input_body_size[1]}
    crop_size = {"height": SmplestXConfig.input_image_size[0], "width": SmplestXConfig.input_image_size[1]}
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = False
    image_mean = None
    image_std = None
    bbox_ratio = SmplestXConfig.bbox_ratio
    focal_length = tuple(SmplestXConfig.focal_length)
    principal_point = tuple(SmplestXConfig.principal_point)

    def __init__(self, **kwargs: Unpack[SmplestXImageProcessorKwargs]):
        super().__init__(**kwargs)
        # Lists of floats, as JSON gives them back, so that a saved and reloaded processor compares equal.
        self.focal_length = [float(value) for value in self.focal_length]
        self.principal_point = [float(value) for value in self.principal_point]

    # ------------------------------------------------------------------------------------------ preprocessing
    def preprocess(
        self,
        images,
        boxes=None,
        box_format: str = "xywh",
        **kwargs: Unpack[SmplestXImageProcessorKwargs],
    ) -> BatchFeature:
        r"""
        Crop every person box of every image.

        Args:
            images: one image or a list of images (see the class docstring for the accepted types).
            boxes (`list[list[list[float]]]` or `np.ndarray`, *optional*): per image, the person boxes `(K_i, 4)` in
                pixels (`None` for an image, or `boxes=None`, means the whole image is one person). For a single
                image, a plain `(K, 4)` list or array is accepted too.
            box_format (`str`, *optional*, defaults to `"xywh"`): `"xywh"` (COCO: x, y, width, height) or `"xyxy"`
                (x_min, y_min, x_max, y_max).
            return_tensors (`str`, *optional*): `"pt"` for torch tensors, `None` / `"np"` for NumPy arrays.

        Returns:
            [`BatchFeature`] with, for the `N` boxes of all images in order:
            - `pixel_values` `(N, 3, 256, 192)` float32, RGB in [0, 1];
            - `processed_boxes` `(N, 4)` float32, the expanded xywh box each crop was cut from;
            - `image_indices` `(N,)` int64, the image each row comes from.
        """
        return super().preprocess(images, boxes, box_format, **kwargs)

    def _preprocess_image_like_inputs(
        self,
        images,
        boxes,
        box_format: str,
        input_data_format: str | ChannelDimension | None = None,
        **kwargs,
    ) -> BatchFeature:
        images = self._prepare_images_structure(images)
        float_full_scale = 1 / kwargs["rescale_factor"] if kwargs.get("do_rescale") else 1.0
        images = [self.process_image(image, input_data_format, float_full_scale) for image in images]
        return self._preprocess(images, boxes=boxes, box_format=box_format, **kwargs)

    def _prepare_images_structure(self, images, expected_ndims: int = 3) -> list:
        """One image or a list of images -> a flat list (a 4D array or tensor is a batch)."""
        images = self.fetch_images(images)
        if is_pil_image(images) or (isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim in (2, 3)):
            return [images]
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            return list(images)
        if isinstance(images, (list, tuple)):
            for index, image in enumerate(images):
                if not (is_pil_image(image) or (isinstance(image, (np.ndarray, torch.Tensor)) and image.ndim in (2, 3))):
                    raise ValueError(
                        f"Image {index} must be a PIL image or a 2D/3D array or tensor, got {type(image).__name__}"
                        f"{' of shape ' + str(tuple(image.shape)) if hasattr(image, 'shape') else ''}."
                    )
            return list(images)
        raise ValueError(f"Expected an image or a list of images, got {type(images).__name__}.")

    def process_image(self, image, input_data_format=None, float_full_scale: float = 255.0) -> np.ndarray:
        """One raw image -> (H, W, 3) RGB array: uint8 as given, anything else float32 in the 8-bit range.

        `float_full_scale` is the value of "white" for float images (255 when they will be rescaled by 1/255):
        it is what a fully transparent pixel becomes, and alpha is divided by it.
        """
        full_scale = 255.0
        if is_pil_image(image):
            if image.mode in _SIXTEEN_BIT_PIL_MODES:  # PIL's convert("RGB") would clip these to 255, not scale them
                array = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
            elif image.mode == "F":
                array = np.asarray(image, dtype=np.float32)
            elif image.mode in ("RGB", "RGBA", "L", "LA"):
                array = np.asarray(image)
            elif "A" in image.getbands() or image.info.get("transparency") is not None:
                array = np.asarray(image.convert("RGBA"))
            else:
                array = np.asarray(image.convert("RGB"))
            layout = ChannelDimension.LAST
        else:
            is_tensor = isinstance(image, torch.Tensor)
            array = image.detach().cpu().numpy() if is_tensor else np.asarray(image)
            layout = ChannelDimension(input_data_format) if input_data_format is not None else None
            if layout is None and array.ndim == 3:
                channels_first, channels_last = array.shape[0] in (1, 3, 4), array.shape[2] in (1, 3, 4)
                # Tensors are usually (C, H, W), arrays (H, W, C); the other layout is used when it is the only fit.
                prefer_first = channels_first and (is_tensor or not channels_last)
                if not (channels_first or channels_last):
                    raise ValueError(f"Cannot find the channel axis of an image of shape {array.shape}: expected 1, 3 or 4 channels.")
                layout = ChannelDimension.FIRST if prefer_first else ChannelDimension.LAST
        if array.ndim == 2:
            array = array[:, :, None]
        elif layout == ChannelDimension.FIRST:
            array = np.moveaxis(array, 0, -1)

        if array.dtype == np.uint16:
            array = array.astype(np.float32) * np.float32(255 / 65535)
        elif np.issubdtype(array.dtype, np.floating):
            full_scale = float_full_scale
            if full_scale > 1 and array.size and float(np.nanmax(array)) <= 1.0:
                logger.warning_once(
                    "A float image has all values in [0, 1] but do_rescale=True divides it by 255: pass "
                    "do_rescale=False if the image is already scaled."
                )
            array = array.astype(np.float32, copy=False)
        elif array.dtype != np.uint8:
            raise ValueError(
                f"Unsupported image dtype {array.dtype} (image of shape {array.shape}): expected uint8, uint16 or "
                "float; convert 8-bit images stored in wider integers with `image.astype(np.uint8)`."
            )
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise ValueError(f"Empty image of shape {array.shape}: height and width must be positive.")

        channels = array.shape[2]
        if channels in (1, 2):  # grayscale (+ alpha)
            array = np.concatenate((np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1:]), axis=2)
        elif channels not in (3, 4):
            raise ValueError(f"Expected 1, 2, 3 or 4 channels, got an image of shape {array.shape}.")
        if array.shape[2] == 4:  # composite onto white, as transformers' convert_to_rgb
            alpha = array[:, :, 3:].astype(np.float32) / np.float32(full_scale)
            array = array[:, :, :3].astype(np.float32) * alpha + np.float32(full_scale) * (1 - alpha)
        return array

    def _preprocess(
        self,
        images: list[np.ndarray],
        boxes,
        box_format: str,
        size: SizeDict,
        crop_size: SizeDict,
        bbox_ratio: float,
        do_rescale: bool,
        rescale_factor: float,
        do_normalize: bool,
        image_mean,
        image_std,
        return_tensors: str | TensorType | None = None,
        **kwargs,
    ) -> BatchFeature:
        output_size = (size.height, size.width)
        crop_shape = (crop_size.height, crop_size.width)
        image_sizes = [image.shape[:2] for image in images]
        processed_boxes = self.process_boxes(boxes, image_sizes, box_format=box_format, bbox_ratio=bbox_ratio, crop_size=crop_shape)

        # One vectorised crop call per image (all its boxes at once); crops come out channels first.
        crops = [
            crop_nearest_downsampled(
                image, crop_affine_matrices(image_boxes, output_size=crop_shape), crop_size=crop_shape,
                output_size=output_size,
            )
            for image, image_boxes in zip(images, processed_boxes)
            if len(image_boxes)
        ]  # fmt: skip
        pixel_values = np.concatenate(crops) if crops else np.zeros((0, 3, *output_size), dtype=np.float32)
        if do_rescale:
            pixel_values *= np.float32(rescale_factor)
        if do_normalize:
            mean = np.asarray(image_mean, np.float32).reshape(-1, 1, 1)
            std = np.asarray(image_std, np.float32).reshape(-1, 1, 1)
            pixel_values = (pixel_values - mean) / std
        data = {
            "pixel_values": np.ascontiguousarray(pixel_values, dtype=np.float32),
            "processed_boxes": np.concatenate(processed_boxes).astype(np.float32).reshape(-1, 4),
            "image_indices": np.repeat(np.arange(len(images)), [len(b) for b in processed_boxes]).astype(np.int64),
        }
        return BatchFeature(data=data, tensor_type=return_tensors)

    def process_boxes(
        self,
        boxes,
        image_sizes,
        box_format: str = "xywh",
        bbox_ratio: float | None = None,
        crop_size: tuple[int, int] | None = None,
    ) -> list[np.ndarray]:
        """Person boxes -> the expanded xywh boxes the crops are cut from, per image.

        Args:
            boxes: as in `preprocess` (per image `(K_i, 4)` or `None` for the whole image; `None` for all whole images).
            image_sizes: `(height, width)` of each image.
            box_format: `"xywh"` or `"xyxy"`.
            bbox_ratio / crop_size: default to the processor's.

        Returns:
            list over images of `(K_i, 4)` float32 xywh boxes (float32, as the original pipeline stores them).

        Raises:
            ValueError: naming the image and the box, for malformed boxes and boxes empty after clipping.
        """
        if box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}.")
        bbox_ratio = self.bbox_ratio if bbox_ratio is None else bbox_ratio
        if crop_size is None:
            crop_size = (self.crop_size.height, self.crop_size.width)
        image_sizes = [tuple(int(v) for v in image_size) for image_size in image_sizes]
        per_image_boxes = _split_boxes_per_image(boxes, len(image_sizes))

        processed = []
        for index, (image_boxes, (height, width)) in enumerate(zip(per_image_boxes, image_sizes)):
            if image_boxes is None:  # the whole image is one person
                image_boxes = np.array([[0.0, 0.0, width, height]])
                given = image_boxes
            else:
                given = as_box_array(image_boxes, index)
                image_boxes = boxes_xyxy_to_xywh(given) if box_format == "xyxy" else given
            clipped, valid = clip_boxes_xywh(image_boxes, (height, width))
            if not valid.all():
                bad = int(np.flatnonzero(~valid)[0])
                raise ValueError(
                    f"Box {bad} of image {index}, {given[bad].tolist()} ({box_format}), is empty, not finite or "
                    f"outside the image (height {height}, width {width}); boxes need a finite, positive width and "
                    "height and must overlap the image."
                )
            expanded = expand_boxes_to_aspect(clipped, aspect_ratio=crop_size[1] / crop_size[0], ratio=bbox_ratio)
            processed.append(expanded.astype(np.float32))
        return processed

    # ---------------------------------------------------------------------------------------- post-processing
    def post_process_mesh_recovery(
        self,
        outputs,
        boxes=None,
        target_sizes=None,
        box_format: str = "xywh",
        processed_boxes=None,
        image_indices=None,
    ) -> list[list[dict[str, torch.Tensor]]]:
        r"""
        Per-person SMPL-X results in each image's coordinates.

        The crops are identified either as in `preprocess` (`boxes` + `target_sizes`, the original image sizes) or
        directly by the `processed_boxes` and `image_indices` that `preprocess` returned.

        Args:
            outputs ([`SmplestXMeshRecoveryOutput`]): model outputs for the `N` crops, in preprocessing order.
            boxes (*optional*): the boxes given to `preprocess` (`None` = whole images).
            target_sizes (`list[tuple[int, int]]` or `torch.Tensor` of shape `(num_images, 2)`, *optional*):
                `(height, width)` of each original image; needed unless `processed_boxes` is given.
            box_format (`str`, *optional*, defaults to `"xywh"`): format of `boxes`.
            processed_boxes (`(N, 4)`, *optional*) / image_indices (`(N,)`, *optional*): from `preprocess`.

        Returns:
            `list[list[dict]]`: per image, per person, float32 torch tensors on the outputs' device:
            - `global_orient` (3,), `body_pose` (21, 3), `left_hand_pose` / `right_hand_pose` (15, 3), `jaw_pose` (3,),
              `betas` (10,), `expression` (10,): SMPL-X parameters, axis-angle, in the pose layout of
              `smplx_layout.PARAMETER_SHAPES`;
            - `camera_translation` (3,): SMPL-X translation (metres), the same in the crop and the full-image camera;
            - `focal_length` (2,) `(fx, fy)` and `principal_point` (2,) `(cx, cy)`: the full-image camera, in pixels;
            - `box` (4,): the processed xywh box the crop was cut from;
            - when the model has a body model: `vertices` (10475, 3) and `joints` (137, 3) in the full-image camera
              frame (metres; the crop camera and the full-image camera share their frame, only the intrinsics
              differ), and `keypoints_2d` (137, 2) in image pixels: `joints` projected with the full-image camera,
              `X / (Z + 1e-4) * fx + cx` (the model's depth guard), which is where the crop keypoints land when mapped
              back through the crop's inverse affine map. Outputs with crop `keypoints_2d` but no `joints` get those
              keypoints mapped back.

        Raises:
            ValueError: when the boxes do not describe as many crops as `outputs` holds, or indices are out of range.
        """
        num_people = outputs.global_orient.shape[0]
        if processed_boxes is not None:
            all_boxes = _to_numpy(processed_boxes).astype(np.float32).reshape(-1, 4)
            indices = np.zeros(len(all_boxes), dtype=np.int64) if image_indices is None else _to_numpy(image_indices).astype(np.int64).reshape(-1)
            num_images = len(target_sizes) if target_sizes is not None else (int(indices.max()) + 1 if len(indices) else 0)
        else:
            if target_sizes is None:
                raise ValueError("post_process_mesh_recovery needs `target_sizes` (the images' (height, width)) or `processed_boxes`.")
            target_sizes = [tuple(size) for size in _to_numpy(target_sizes).reshape(-1, 2).tolist()]
            per_image = self.process_boxes(boxes, target_sizes, box_format=box_format)
            all_boxes = np.concatenate(per_image).reshape(-1, 4)
            indices = np.repeat(np.arange(len(per_image)), [len(b) for b in per_image])
            num_images = len(per_image)
        if len(indices) and (indices.min() < 0 or indices.max() >= num_images):
            raise ValueError(
                f"image_indices must lie in [0, {num_images}) (one per image of target_sizes), got {sorted(set(indices.tolist()))}."
            )
        if len(all_boxes) != num_people or len(indices) != num_people:
            raise ValueError(
                f"The outputs hold {num_people} people but the boxes describe {len(all_boxes)} crops "
                f"({len(indices)} image indices); pass the same boxes as to preprocess."
            )

        device = outputs.global_orient.device
        focal, principal_point = crop_to_full_image_camera(
            all_boxes, focal_length=self.focal_length, principal_point=self.principal_point,
            input_size=(self.size.height, self.size.width),
        )  # fmt: skip
        per_person = {
            name: getattr(outputs, name) for name in (*PARAMETER_NAMES, "camera_translation") if getattr(outputs, name) is not None
        }
        per_person["focal_length"] = torch.as_tensor(focal, dtype=torch.float32, device=device)
        per_person["principal_point"] = torch.as_tensor(principal_point, dtype=torch.float32, device=device)
        per_person["box"] = torch.as_tensor(all_boxes, dtype=torch.float32, device=device)
        if outputs.vertices is not None:
            # The crop camera and the full-image camera share their frame: only the intrinsics change.
            per_person["vertices"] = outputs.vertices
        if outputs.joints is not None:
            per_person["joints"] = outputs.joints
            # The model's depth guard, so crop and full-image keypoints agree exactly.
            per_person["keypoints_2d"] = project_points(
                outputs.joints.float(), per_person["focal_length"][:, None], per_person["principal_point"][:, None],
                depth_epsilon=KEYPOINT_DEPTH_EPSILON,
            )  # fmt: skip
        elif outputs.keypoints_2d is not None:
            # No 3D joints: map the crop keypoints (body-input pixels) back through the inverse of the crop map for
            # the body-input size, which is the same as projecting the joints with the full-image camera.
            to_image = invert_affine_matrices(crop_affine_matrices(all_boxes, output_size=(self.size.height, self.size.width)))
            keypoints = apply_affine(to_image, _to_numpy(outputs.keypoints_2d).astype(np.float64))
            per_person["keypoints_2d"] = torch.as_tensor(keypoints, dtype=torch.float32, device=device)

        results = [[] for _ in range(num_images)]
        for person, image_index in enumerate(indices.tolist()):
            results[image_index].append({name: value[person].detach().float() for name, value in per_person.items()})
        return results


def _to_numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy() if value.is_floating_point() else value.detach().cpu().numpy()
    return np.asarray(value)


def _is_box_list(value) -> bool:
    """True for a (K, 4)-like value (including an empty list), False for one box or deeper nesting."""
    if value is None:
        return False
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.ndim == 2 or (value.ndim == 1 and value.shape[0] == 0)
    if isinstance(value, (list, tuple)):
        return len(value) == 0 or all(isinstance(box, (list, tuple, np.ndarray, torch.Tensor)) and np.ndim(box) == 1 for box in value)
    return False


def _split_boxes_per_image(boxes, num_images: int) -> list:
    """`preprocess`'s `boxes` argument -> one entry per image (`None` = whole image)."""
    if boxes is None:
        return [None] * num_images
    if isinstance(boxes, (np.ndarray, torch.Tensor)) and boxes.ndim == 3:
        boxes = list(boxes)
    elif num_images == 1 and _is_box_list(boxes):
        boxes = [boxes]
    if not isinstance(boxes, (list, tuple)) or not all(b is None or _is_box_list(b) for b in boxes):
        raise ValueError(
            "boxes must be a list with one (K, 4) list/array of boxes (or None) per image, e.g. [[[x, y, w, h]]] "
            f"for one box in one image; got {boxes!r}."
        )
    if len(boxes) != num_images:
        raise ValueError(
            f"Got boxes for {len(boxes)} images but {num_images} image(s); pass one (K, 4) list of boxes (or None for "
            "the whole image) per image."
        )
    return list(boxes)


def as_box_array(image_boxes, image_index: int) -> np.ndarray:
    """One image's boxes as `preprocess` reads them (also the pipeline's given boxes) -> (K, 4) float64
    (a floating tensor is read through float32, like every tensor here).

    Raises:
        ValueError: boxes that are not (K, 4), naming the image.
    """
    array = _to_numpy(image_boxes).astype(np.float64)
    if array.size == 0:
        return array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"The boxes of image {image_index} must have shape (K, 4), got {array.shape}: {array.tolist()}.")
    return array


__all__ = ["SmplestXImageProcessor"]

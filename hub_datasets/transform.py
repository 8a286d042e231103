"""The training transform: EHPS rows -> model inputs and `SmplestXLabels`, augmented as in SMPLest-X.

One call turns a batch of EHPS rows (``hub_datasets.schema``) into, per row, ``pixel_values`` (3, 256, 192)
float32 in [0, 1] (then mean/std-normalised when built from a normalising image processor) and every key of
``smplest_hf.models.smplest_x.losses.SmplestXLabels`` (see ``labels.py`` for how each is made), as flat columns: ``pixel_values``, ``pose``, ``pose_valid``, ..., plus ``sample_id`` and
``processed_box`` (the expanded xywh box the crop was cut from, before the augmentation scale).

The crop is the inference crop (``smplest_hf.models.smplest_x.cropping``, as ``SmplestXImageProcessor``): clip the person box to
the image, grow it to the crop's 3:4 aspect and enlarge it by ``bbox_ratio``, affine-crop 512x384 bilinearly and
read the 256x192 pixels the model sees (nearest downsampling) — with the augmentation's scale, rotation and flip
folded into the same affine map, so pixels and labels go through one map. The images are decoded once per row:
``image`` may be a PIL image, ``{"bytes", "path"}`` (``load_ehps_dataset(..., decode_images=False)``, the fast
path, decoded like the original's OpenCV loader: EXIF orientation ignored) or an (H, W, 3) uint8 array.

Person boxes: the boxes HumanData stores already carry the 1.2x padding of the original's preprocessing, so the
original trains with ``bbox_ratio * 0.833`` (~1.0); that is the default here (``TRAINING_BBOX_RATIO_FACTOR``).
Pass ``bbox_ratio=config.bbox_ratio`` for datasets whose boxes are tight (as a detector's are at inference).

Reproducibility: the augmentation of a row is drawn from ``(seed, epoch, sample_id)`` (and the row's dataset
index when ``.map(..., with_indices=True)`` passes it), so it does not depend on batching, workers or order;
``set_epoch`` redraws. DataLoader workers copy the transform when they start: call ``set_epoch`` before each
epoch's iterator is created (the default ``persistent_workers=False`` recreates them).

```python
>>> from hub_datasets import load_ehps_dataset, TrainingTransform, collate_training_batch
>>> dataset = load_ehps_dataset("hub/agora", split="train", decode_images=False)          # doctest: +SKIP
>>> transform = TrainingTransform(seed=0)  # or image_processor=processor, to crop and normalise as it does
>>> dataset.set_transform(transform)                                                      # doctest: +SKIP
>>> loader = torch.utils.data.DataLoader(dataset, batch_size=32, num_workers=8,
...                                      collate_fn=collate_training_batch)                # doctest: +SKIP
>>> batch = next(iter(loader)); batch["pixel_values"].shape                               # doctest: +SKIP
torch.Size([32, 3, 256, 192])
>>> streamed = load_ehps_dataset("hub/agora", streaming=True, decode_images=False)        # doctest: +SKIP
>>> streamed = streamed.map(transform, batched=True, remove_columns=list(streamed.features))  # doctest: +SKIP
```
"""

import io
import os
from typing import Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image as PILImage

from smplest_hf.models.smplest_x.body_model import resolve_smplx_directory
from smplest_hf.models.smplest_x.configuration_smplest_x import SmplestXConfig
from smplest_hf.models.smplest_x.cropping import clip_boxes_xywh, crop_affine_matrices, crop_nearest_downsampled, expand_boxes_to_aspect
from smplest_hf.models.smplest_x.image_processing_smplest_x import SmplestXImageProcessor
from smplest_hf.models.smplest_x.losses import LABEL_SHAPES
from smplest_hf.models.smplest_x.smplx_layout import NUM_HAND_POSE_JOINTS

from .augmentation import AugmentationConfig, AugmentationParameters
from .labels import LabelColumns, build_labels


TRAINING_BBOX_RATIO_FACTOR = 0.833
"""The original multiplies ``bbox_ratio`` by this for its HumanData boxes, which already carry 1.2x padding."""

LABEL_NAMES = tuple(LABEL_SHAPES)
"""The label columns a transform returns (the keys of ``SmplestXLabels``)."""


# ---------------------------------------------------------------------------------------------------- images
def decode_image(value, sample_id: str = "?") -> np.ndarray:
    """One ``image`` cell -> (H, W, 3) uint8 RGB.

    Accepts a PIL image, ``{"bytes": ..., "path": ...}``, raw bytes, a path, or an (H, W) / (H, W, 3) uint8 array.
    Encoded images are decoded without applying EXIF orientation (as the original's ``cv2.imread`` with
    ``IMREAD_IGNORE_ORIENTATION``: annotations refer to the stored pixel grid); alpha is dropped.
    """
    if isinstance(value, np.ndarray):
        array = value
    else:
        if isinstance(value, dict):
            source = value.get("bytes") or value.get("path")
        else:
            source = value
        try:
            if isinstance(source, (bytes, bytearray, memoryview)):
                image = PILImage.open(io.BytesIO(source))
            elif isinstance(source, (str, os.PathLike)):
                image = PILImage.open(source)
            elif isinstance(source, PILImage.Image):
                image = source
            else:
                raise TypeError(f"unsupported image value of type {type(source).__name__}")
            array = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        except (OSError, TypeError, ValueError) as error:
            raise ValueError(f"Sample {sample_id!r}: cannot decode its image ({error}).") from None
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"Sample {sample_id!r}: expected an (H, W, 3) uint8 image, got {array.dtype} {array.shape}.")
    return array


def _channel_normalization(image_mean, image_std) -> tuple:
    """A processor's ``image_mean`` / ``image_std`` (per channel, or one value) -> two (3, 1, 1) float32 arrays."""
    if image_mean is None or image_std is None:
        raise ValueError("The image processor has do_normalize=True but no image_mean/image_std; set both (3 values each).")
    mean, std = (np.broadcast_to(np.asarray(v, np.float32).reshape(-1), (3,)).reshape(3, 1, 1).copy() for v in (image_mean, image_std))
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise ValueError(f"image_std must be positive and both finite, got image_mean={image_mean}, image_std={image_std}.")
    return mean, std


def _read_hand_pose_mean(body_model_dir) -> np.ndarray:
    """(2, 15, 3) left/right mean hand poses from ``smplx/SMPLX_NEUTRAL.npz`` (only those two arrays are read)."""
    path = resolve_smplx_directory(body_model_dir) / "SMPLX_NEUTRAL.npz"
    with np.load(path, allow_pickle=False) as arrays:
        means = [np.asarray(arrays[key], dtype=np.float64) for key in ("hands_meanl", "hands_meanr")]
    return np.stack(means).reshape(2, NUM_HAND_POSE_JOINTS, 3)


# --------------------------------------------------------------------------------------------- transforms
class TrainingTransform:
    """EHPS rows -> ``pixel_values`` + ``SmplestXLabels`` columns, with the original SMPLest-X augmentation.

    The crop geometry comes from one of two sources, named by keyword (neither: ``SmplestXConfig()``'s):

    Args:
        image_processor: a ``SmplestXImageProcessor``: its ``crop_size``, ``size`` and ``bbox_ratio``, and its
            mean/std normalisation when ``do_normalize`` is set, so training sees the pixels inference will (what
            ``examples/train.py`` uses: the processor saved with the model).
        config: a ``SmplestXConfig``: its ``input_image_size``, ``input_body_size`` and ``bbox_ratio``; pixels
            stay in [0, 1].
        augment: draw scale, rotation, flip and colour per row (``False``: the plain inference crop).
        seed, epoch: the augmentation streams (see the module docstring).
        augmentation: an ``AugmentationConfig`` of ranges and probabilities (default: the original's).
        bbox_ratio: box enlargement before cropping; default ``config.bbox_ratio * 0.833`` for HumanData boxes.
        hand_pose_mean: (2, 15, 3) SMPL-X mean hand poses, or ``body_model_dir`` to read them from
            ``smplx/SMPLX_NEUTRAL.npz``; needed only for rows with ``smplx_flat_hand_mean``.

    Call it on a batch (dict of columns, as ``set_transform`` / ``map(batched=True)`` give): returns a dict of
    columns with the batch's length. ``transform_batch(batch, parameters)`` applies given augmentation.
    """

    def __init__(
        self,
        *,
        image_processor: Optional[SmplestXImageProcessor] = None,
        config: Optional[SmplestXConfig] = None,
        augment: bool = True,
        seed: int = 0,
        epoch: int = 0,
        augmentation: Optional[AugmentationConfig] = None,
        bbox_ratio: Optional[float] = None,
        hand_pose_mean=None,
        body_model_dir: Optional[Union[str, os.PathLike]] = None,
    ):
        normalization = None  # (mean, std), each (3, 1, 1) float32: the processor's, after scaling to [0, 1]
        if image_processor is not None:
            if config is not None:
                raise ValueError("give image_processor or config, not both: the crop geometry comes from one of them.")
            if not isinstance(image_processor, SmplestXImageProcessor):
                raise TypeError(f"image_processor must be a SmplestXImageProcessor, got {type(image_processor).__name__}.")
            crop_size = (image_processor.crop_size["height"], image_processor.crop_size["width"])
            body_size = (image_processor.size["height"], image_processor.size["width"])
            config_ratio = image_processor.bbox_ratio
            if image_processor.do_normalize:
                normalization = _channel_normalization(image_processor.image_mean, image_processor.image_std)
        else:
            config = SmplestXConfig() if config is None else config
            if not isinstance(config, SmplestXConfig):
                raise TypeError(f"config must be a SmplestXConfig, got {type(config).__name__}.")
            crop_size, body_size, config_ratio = config.input_image_size, config.input_body_size, config.bbox_ratio
        self.normalization = normalization
        self.crop_size = tuple(int(v) for v in crop_size)
        self.input_body_size = tuple(int(v) for v in body_size)
        self.bbox_ratio = float(config_ratio) * TRAINING_BBOX_RATIO_FACTOR if bbox_ratio is None else float(bbox_ratio)
        if not (np.isfinite(self.bbox_ratio) and self.bbox_ratio > 0):
            raise ValueError(f"bbox_ratio must be a positive number, got {self.bbox_ratio}.")
        augmentation = AugmentationConfig() if augmentation is None else augmentation
        if not isinstance(augmentation, AugmentationConfig):
            raise TypeError(f"augmentation must be an AugmentationConfig, got {type(augmentation).__name__}.")
        self.augment = bool(augment)
        self.augmentation = augmentation
        self.seed = int(seed)
        self.set_epoch(epoch)
        if hand_pose_mean is not None and body_model_dir is not None:
            raise ValueError("give hand_pose_mean or body_model_dir, not both.")
        if body_model_dir is not None:
            hand_pose_mean = _read_hand_pose_mean(body_model_dir)
        if hand_pose_mean is not None:
            hand_pose_mean = np.asarray(hand_pose_mean, dtype=np.float64)
            if hand_pose_mean.size != 2 * NUM_HAND_POSE_JOINTS * 3:
                raise ValueError(f"hand_pose_mean must hold (2, 15, 3) values (left, right), got shape {hand_pose_mean.shape}.")
            hand_pose_mean = hand_pose_mean.reshape(2, NUM_HAND_POSE_JOINTS, 3)
        self.hand_pose_mean = hand_pose_mean

    def set_epoch(self, epoch: int) -> None:
        """Redraw the augmentation of every row for a new epoch."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch}.")
        self.epoch = int(epoch)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(augment={self.augment}, seed={self.seed}, epoch={self.epoch}, "
            f"bbox_ratio={self.bbox_ratio:g}, crop_size={self.crop_size}, input_body_size={self.input_body_size})"
        )

    def sample_parameters(self, batch: dict, indices: Optional[Sequence[int]] = None) -> AugmentationParameters:
        """The augmentation of each row of ``batch`` (identity when ``augment=False``)."""
        sample_ids = _column(batch, "sample_id")
        if not self.augment:
            return AugmentationParameters.identity(len(sample_ids))
        return AugmentationParameters.sample(sample_ids, self.seed, self.epoch, self.augmentation, indices)

    def __call__(self, batch: dict, indices: Optional[Sequence[int]] = None) -> dict:
        return self.transform_batch(batch, self.sample_parameters(batch, indices))

    def transform_batch(self, batch: dict, parameters: AugmentationParameters) -> dict:
        """Apply ``parameters`` (one entry per row) to a batch of EHPS rows; see the module docstring for the output."""
        sample_ids = [str(value) for value in _column(batch, "sample_id")]
        count = len(sample_ids)
        if len(parameters) != count:
            raise ValueError(f"got augmentation parameters for {len(parameters)} rows, the batch has {count}.")
        missing = [name for name in _READ_COLUMNS if name not in batch]
        if missing:
            raise ValueError(
                f"The batch lacks the EHPS columns {missing}: the transform reads rows in the schema of "
                "hub_datasets.schema.EHPS_FEATURES (was a transform already applied, or were columns removed?)."
            )
        images = [decode_image(value, sample_id) for value, sample_id in zip(batch["image"], sample_ids)]
        stored_sizes = np.stack((np.asarray(batch["image_height"]), np.asarray(batch["image_width"])), axis=-1).reshape(count, 2)
        image_sizes = np.array([image.shape[:2] for image in images], dtype=np.int64).reshape(count, 2)
        for row in np.flatnonzero((image_sizes != stored_sizes).any(axis=1)):
            raise ValueError(
                f"Sample {sample_ids[row]!r}: the decoded image is {tuple(image_sizes[row].tolist())} (height, width) but "
                f"the row says {tuple(stored_sizes[row].tolist())}. If `datasets` decoded it, it applied the EXIF "
                "orientation; load with decode_images=False (or cast `image` to datasets.Image(decode=False)) so "
                "the stored pixel grid is used."
            )

        boxes = self.process_boxes(batch["bbox_xywh"], image_sizes, sample_ids)
        crop_matrices = crop_affine_matrices(boxes, self.crop_size, parameters.rotation, parameters.flip, parameters.scale)
        body_matrices = crop_affine_matrices(boxes, self.input_body_size, parameters.rotation, parameters.flip, parameters.scale)

        pixel_values = np.empty((count, 3, *self.input_body_size), dtype=np.float32)
        for row, image in enumerate(images):  # images differ in size: one vectorised crop each
            pixel_values[row] = crop_nearest_downsampled(image, crop_matrices[row], self.crop_size, self.input_body_size)
        # The original multiplies the 8-bit-range crop by the colour factors and clips to [0, 255], then / 255.
        pixel_values *= (parameters.color_scale / 255.0).astype(np.float32)[:, :, None, None]
        np.clip(pixel_values, 0.0, 1.0, out=pixel_values)
        if self.normalization is not None:
            mean, std = self.normalization
            pixel_values -= mean
            pixel_values /= std

        labels = build_labels(
            LabelColumns.from_batch(batch), body_matrices, parameters.flip, parameters.rotation, self.hand_pose_mean,
            self.input_body_size,
        )  # fmt: skip
        return {"pixel_values": pixel_values, **labels, "sample_id": sample_ids, "processed_box": boxes.astype(np.float32)}

    def process_boxes(self, boxes, image_sizes, sample_ids: Sequence[str]) -> np.ndarray:
        """(N, 4) stored person boxes -> (N, 4) float64 expanded boxes (float32 values, as at inference).

        Raises ValueError naming the first sample whose box is empty or outside its image after clipping.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        clipped, valid = clip_boxes_xywh(boxes, image_sizes)
        if not valid.all():
            row = int(np.flatnonzero(~valid)[0])
            raise ValueError(
                f"Sample {sample_ids[row]!r}: its person box {boxes[row].tolist()} (xywh) is empty or outside its "
                f"{tuple(int(v) for v in np.asarray(image_sizes)[row])} image after clipping; the original skips such "
                "rows: drop them first with `dataset.filter(hub_datasets.transform.has_valid_person_box, batched=True)`."
            )
        expanded = expand_boxes_to_aspect(clipped, self.crop_size[1] / self.crop_size[0], self.bbox_ratio)
        return expanded.astype(np.float32).astype(np.float64)


_READ_COLUMNS = (
    "image", "image_height", "image_width", "bbox_xywh", "keypoints_2d", "keypoints_2d_valid", "keypoints_3d",
    "keypoints_3d_valid", "camera_intrinsics_valid", "focal_length", "principal_point", "smplx_global_orient",
    "smplx_body_pose", "smplx_left_hand_pose", "smplx_right_hand_pose", "smplx_jaw_pose", "smplx_flat_hand_mean",
    "smplx_body_valid", "smplx_lhand_valid", "smplx_rhand_valid", "smplx_face_valid", "smplx_betas",
    "smplx_betas_valid", "smplx_betas_neutral", "smplx_expression",
)  # fmt: skip


def _column(batch: dict, name: str):
    if not isinstance(batch, dict) or name not in batch:
        raise ValueError(
            f"Expected a batch of EHPS rows (a dict of columns with {name!r}); got "
            f"{type(batch).__name__}{' with columns ' + str(sorted(batch)[:8]) if isinstance(batch, dict) else ''}. "
            "Use the transform with set_transform / with_transform or map(batched=True)."
        )
    return batch[name]


def has_valid_person_box(batch: dict) -> list:
    """For ``dataset.filter(has_valid_person_box, batched=True)``: rows whose box survives clipping to the image."""
    sizes = np.stack((np.asarray(batch["image_height"]), np.asarray(batch["image_width"])), axis=-1)
    return clip_boxes_xywh(np.asarray(batch["bbox_xywh"], dtype=np.float64).reshape(-1, 4), sizes.reshape(-1, 2))[1].tolist()


# ----------------------------------------------------------------------------------------------- collation
def collate_training_batch(samples: Sequence[dict], metadata: bool = False) -> dict:
    """Rows of a transformed dataset -> ``{"pixel_values": (N, 3, H, W), "labels": {key: (N, ...)}}`` tensors.

    Everything is float32 (masks as 0/1), ready for ``model(pixel_values=..., labels=...)``. With
    ``metadata=True`` a third entry ``"metadata"`` holds ``sample_id`` (list) and ``processed_box`` (N, 4).

    >>> import numpy as np
    >>> row = {name: np.zeros(shape, np.float32) for name, shape in LABEL_SHAPES.items()}
    >>> row["pixel_values"] = np.zeros((3, 256, 192), np.float32)
    >>> batch = collate_training_batch([row, row])
    >>> batch["pixel_values"].shape, batch["labels"]["pose"].shape
    (torch.Size([2, 3, 256, 192]), torch.Size([2, 53, 3]))
    """
    if not samples:
        raise ValueError("collate_training_batch got no samples.")
    missing = [name for name in ("pixel_values", *LABEL_NAMES) if name not in samples[0]]
    if missing:
        raise ValueError(f"The rows lack {missing}: collate rows produced by TrainingTransform.")

    def stack(name):
        return torch.from_numpy(np.stack([np.asarray(sample[name], dtype=np.float32) for sample in samples]))

    batch = {"pixel_values": stack("pixel_values"), "labels": {name: stack(name) for name in LABEL_NAMES}}
    if metadata:
        batch["metadata"] = {
            "sample_id": [sample.get("sample_id") for sample in samples],
            "processed_box": stack("processed_box") if "processed_box" in samples[0] else None,
        }
    return batch


__all__ = [
    "LABEL_NAMES",
    "TRAINING_BBOX_RATIO_FACTOR",
    "TrainingTransform",
    "collate_training_batch",
    "decode_image",
    "has_valid_person_box",
]

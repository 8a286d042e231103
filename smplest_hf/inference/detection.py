"""Person detection with any transformers object-detection model, plus the box filtering the pipeline applies.

`PersonDetector` wraps an `AutoModelForObjectDetection` and its `AutoImageProcessor`: it runs the detector on a
batch of images, keeps the "person" class (found by name in the model's `id2label`), and filters the boxes
with `select_person_boxes`: score threshold -> minimum size -> non-maximum suppression -> at most `max_people`.

The default detector is RT-DETR (ResNet-50, COCO + Objects365, Apache-2.0): a pure-transformers model, so no
timm, torchvision or detectron2 is needed.

```python
>>> from smplest_hf.inference.detection import PersonDetector
>>> detector = PersonDetector.from_pretrained("PekingU/rtdetr_r50vd_coco_o365", threshold=0.5)  # doctest: +SKIP
>>> boxes = detector([image_array])  # per image: (K, 4) xywh boxes and (K,) scores, best first  # doctest: +SKIP
```
"""

from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_DETECTOR = "PekingU/rtdetr_r50vd_coco_o365"
PERSON_LABEL = "person"


@dataclass
class PersonBoxes:
    """Detected people in one image, best score first.

    Attributes:
        boxes: (K, 4) float32 xywh boxes in the pixels of the image given to the detector.
        scores: (K,) float32 detector confidences.
    """

    boxes: np.ndarray
    scores: np.ndarray


def box_iou_xyxy(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(A, 4) and (B, 4) `(x_min, y_min, x_max, y_max)` boxes -> (A, B) intersection over union (0 for empty unions)."""
    boxes_a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    boxes_b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=-1)
    area_a = np.prod(np.clip(boxes_a[:, 2:] - boxes_a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(boxes_b[:, 2:] - boxes_b[:, :2], 0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def non_max_suppression(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS: indices of the kept boxes, best score first.

    A box is dropped when its IoU with a *kept* higher-scoring box exceeds `iou_threshold` (ties in score keep
    the earlier box). The IoU matrix is computed once; the loop only visits boxes still alive, each step
    suppressing a whole row at once.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    iou = box_iou_xyxy(boxes_xyxy[order], boxes_xyxy[order])
    alive = np.ones(len(order), dtype=bool)
    for position in range(len(order)):
        if alive[position]:
            later = slice(position + 1, None)
            alive[later] &= iou[position, later] <= iou_threshold
    return order[alive]


def select_person_boxes(
    boxes_xyxy,
    scores,
    threshold: float = 0.5,
    nms_iou: float = 0.5,
    max_people: int | None = None,
    min_box_size: float = 0.0,
) -> np.ndarray:
    """Indices of the boxes to keep, best score first: score >= threshold, both sides >= min_box_size pixels,
    greedy NMS at `nms_iou`, then the `max_people` best (None = all).

    Args:
        boxes_xyxy: (K, 4) boxes of one class in pixels. scores: (K,).
    """
    boxes_xyxy = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    sizes = boxes_xyxy[:, 2:] - boxes_xyxy[:, :2]
    candidates = np.flatnonzero((scores >= threshold) & (sizes >= min_box_size).all(axis=1) & np.isfinite(boxes_xyxy).all(axis=1))
    kept = candidates[non_max_suppression(boxes_xyxy[candidates], scores[candidates], nms_iou)]
    return kept if max_people is None else kept[:max_people]


def person_label_ids(id2label: dict, person_label: str = PERSON_LABEL) -> list[int]:
    """Class ids whose name is `person_label` (case-insensitive)."""
    return sorted(int(index) for index, name in id2label.items() if str(name).strip().lower() == person_label.lower())


class PersonDetector:
    """People in images from a transformers object-detection model.

    Args:
        model: an `AutoModelForObjectDetection` model (e.g. RT-DETR, DETR, Conditional/Deformable DETR, YOLOS).
        image_processor: its image processor (must have `post_process_object_detection`).
        threshold: minimum detector score of a person box.
        nms_iou: boxes overlapping a better person box by more than this IoU are dropped.
        max_people: keep at most this many people per image (best scores first); None keeps all.
        min_box_size: drop boxes whose width or height is below this many pixels (too small to recover a body);
            boxes are clipped to the image first, and boxes under 1 pixel are always dropped.
        person_label: the class name to keep (looked up in `model.config.id2label`).
    """

    def __init__(
        self,
        model,
        image_processor,
        threshold: float = 0.5,
        nms_iou: float = 0.5,
        max_people: int | None = None,
        min_box_size: float = 16.0,
        person_label: str = PERSON_LABEL,
    ):
        if not hasattr(image_processor, "post_process_object_detection"):
            raise ValueError(
                f"{type(image_processor).__name__} has no post_process_object_detection: the detector must be a "
                "transformers object-detection model (AutoModelForObjectDetection)."
            )
        id2label = getattr(model.config, "id2label", None) or {}
        self.label_ids = person_label_ids(id2label, person_label)
        if not self.label_ids:
            names = ", ".join(repr(name) for name in list(id2label.values())[:8])
            raise ValueError(
                f"The detector {getattr(model.config, '_name_or_path', '') or type(model).__name__} has no {person_label!r} "
                f"class (its classes: {names}{', ...' if len(id2label) > 8 else ''}); use a detector trained on people "
                "(e.g. COCO) or give the person class name."
            )
        if not 0.0 <= nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be in [0, 1], got {nms_iou}.")
        if max_people is not None and max_people < 1:
            raise ValueError(f"max_people must be at least 1 or None, got {max_people}.")
        self.model = model.eval()
        self.name = getattr(model.config, "_name_or_path", "") or type(model).__name__
        self.image_processor = image_processor
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)
        self.max_people = max_people
        self.min_box_size = float(min_box_size)

    @classmethod
    def from_pretrained(cls, name_or_path: str = DEFAULT_DETECTOR, device=None, dtype=None, **kwargs) -> "PersonDetector":
        """Load a Hub id or local folder with `AutoModelForObjectDetection` / `AutoImageProcessor`; `kwargs` as in
        the constructor."""
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        try:
            model = AutoModelForObjectDetection.from_pretrained(name_or_path, dtype=dtype or torch.float32)
            image_processor = AutoImageProcessor.from_pretrained(name_or_path)
        except (OSError, ValueError) as error:
            message = " ".join(str(error).split())
            raise ValueError(
                f"Cannot load the person detector {str(name_or_path)!r} ({message}); give another object-detection "
                "model, person boxes, or no detector (whole images)."
            ) from None
        return cls(model.to(device or "cpu"), image_processor, **kwargs)

    @torch.no_grad()
    def __call__(self, images: list[np.ndarray]) -> list[PersonBoxes]:
        """(H, W, 3) uint8 RGB images -> per image the kept person boxes (xywh, image pixels), best first."""
        if not images:
            return []
        parameter = next(self.model.parameters())
        inputs = self.image_processor(images=list(images), return_tensors="pt")
        inputs = {
            name: value.to(parameter.device, parameter.dtype if value.is_floating_point() else value.dtype)
            for name, value in inputs.items()
        }
        outputs = self.model(**inputs)
        for name in ("logits", "pred_boxes"):  # post-processing in float32 whatever the detector's dtype
            if getattr(outputs, name, None) is not None:
                setattr(outputs, name, getattr(outputs, name).float())
        # Threshold 0 here: our own threshold is applied after keeping only the person class.
        detections = self.image_processor.post_process_object_detection(
            outputs, threshold=0.0, target_sizes=[image.shape[:2] for image in images]
        )
        results = []
        for detection, image in zip(detections, images):
            labels = detection["labels"].cpu().numpy()
            is_person = np.isin(labels, self.label_ids)
            height, width = image.shape[:2]
            # Clipped to the image (DETR-style boxes may reach past it); boxes under a pixel cannot be cropped.
            boxes = np.clip(detection["boxes"].float().cpu().numpy()[is_person], 0, [width, height, width, height])
            scores = detection["scores"].float().cpu().numpy()[is_person]
            kept = select_person_boxes(
                boxes, scores, threshold=self.threshold, nms_iou=self.nms_iou, max_people=self.max_people,
                min_box_size=max(self.min_box_size, 1.0),
            )  # fmt: skip
            boxes = boxes[kept]
            xywh = np.concatenate((boxes[:, :2], boxes[:, 2:] - boxes[:, :2]), axis=1).astype(np.float32)
            results.append(PersonBoxes(boxes=xywh.reshape(-1, 4), scores=scores[kept].astype(np.float32)))
        return results


__all__ = [
    "DEFAULT_DETECTOR",
    "PersonBoxes",
    "PersonDetector",
    "box_iou_xyxy",
    "non_max_suppression",
    "person_label_ids",
    "select_person_boxes",
]

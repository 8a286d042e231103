"""SmplestXPipeline: images in, per-person SMPL-X parameters, meshes, joints and 2D keypoints out.

    decode (image_io) -> people: detector boxes | given boxes | whole image
    -> SmplestXImageProcessor crops of every person of every image
    -> SmplestXForHumanMeshRecovery in chunks of `batch_size` people (+ SMPL-X body model when available)
    -> post_process_mesh_recovery: full-image camera, image-pixel keypoints -> original-image coordinates

```python
>>> from smplest_hf.inference.pipeline import SmplestXPipeline
>>> pipe = SmplestXPipeline("path/to/model", body_model_dir="human_model_files", detector="none")  # doctest: +SKIP
>>> people = pipe("photo.jpg")                                        # doctest: +SKIP
>>> people[0]["vertices"].shape, people[0]["keypoints_2d"].shape     # doctest: +SKIP
((10475, 3), (137, 2))
```

Videos go through this pipeline with `smplest_hf.video.pipeline.process_video` (tracking and smoothing).

Each person is a dict of NumPy float32 arrays: the SMPL-X parameters in the pose layout of
`smplx_layout.PARAMETER_SHAPES` (`global_orient` (3,), `body_pose` (21, 3), `left_hand_pose` / `right_hand_pose`
(15, 3), `jaw_pose` (3,), `betas` (10,), `expression` (10,); flat is `body_pose.reshape(63)`),
`camera_translation` (3,) (the SMPL-X `transl`, metres, camera frame), the full-image pinhole camera
`focal_length` (2,) / `principal_point` (2,) in original-image pixels, `box` (4,) the xywh box the crop was cut
from, `detection_box` (4,) the person box before expansion (xywh) and `score` (detector confidence, None for
given boxes or whole images); with a body model also `vertices` (10475, 3) and `joints` (137, 3) in the camera
frame (OpenCV axes: x right, y down, z forward, metres) and `keypoints_2d` (137, 2) in original-image pixels.
"""

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from .detection import DEFAULT_DETECTOR, PersonDetector
from .image_io import DEFAULT_MAX_PIXELS, LoadedImage, load_image
from ..models.smplest_x.modeling_smplest_x import DTYPES
from ..models.smplest_x.smplx_layout import PARAMETER_NAMES

# Where the small trained demo model ships inside the package (added by the training work); `smplest-x infer`
# uses it when no --model is given.
BUNDLED_MODEL_DIR = Path(__file__).resolve().parents[1] / "demo_model"
STAGES = ("decode", "detect", "crop", "model", "postprocess")
# Model outputs the post-processing reads; the others (part roots and cameras) are training-only.
_OUTPUT_FIELDS = (*PARAMETER_NAMES, "camera_translation", "vertices", "joints", "keypoints_2d")
# Per-person values in pixels that change when the image was shrunk for decoding (see `_to_original_pixels`).
_PIXEL_POINTS = ("principal_point", "keypoints_2d")
_PIXEL_LENGTHS = ("focal_length",)


def resolve_device(device=None) -> torch.device:
    """None -> "cuda" when available, else "cpu"; anything torch.device accepts otherwise."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def native_bfloat16(device: torch.device) -> str | None:
    """Why `device` multiplies bfloat16 matrices natively (a short phrase), or None when it does not: CPUs with
    AMX or AVX512-BF16, CUDA GPUs of compute capability 8.0 (Ampere) or newer. Elsewhere bfloat16 is emulated and
    slower than float32."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return f"CUDA compute capability {major}.{minor}" if major >= 8 else None
    if device.type == "cpu":
        if torch.cpu._is_amx_tile_supported():
            return "CPU has AMX"
        if torch.cpu._is_avx512_bf16_supported():
            return "CPU has AVX512-BF16"
    return None


def choose_dtype(dtype, device: torch.device) -> tuple[torch.dtype, str]:
    """`resolve_dtype` plus the reason for the choice, for run summaries: "requested" unless `dtype` is "auto"."""
    if isinstance(dtype, str) and dtype.lower() == "auto":
        reason = native_bfloat16(device)
        if reason is not None:
            return torch.bfloat16, f"auto: {reason} (native bfloat16 matrix units)"
        return torch.float32, f"auto: no native bfloat16 matrix units on {device.type}"
    return resolve_dtype(dtype, device), "requested"


def resolve_dtype(dtype, device: torch.device) -> torch.dtype:
    """"auto", "float32"/"bfloat16"/"float16" (or fp32/bf16/fp16, or a torch dtype) -> torch dtype.

    None is float32; "auto" is bfloat16 where `native_bfloat16(device)`, else float32. float16 needs a GPU (CPUs
    compute it slowly and overflow-prone); bfloat16 runs anywhere.
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype.lower() == "auto":
            return choose_dtype(dtype, device)[0]
        if dtype.lower() not in DTYPES:
            raise ValueError(f"Unknown dtype {dtype!r}; choose auto, float32, bfloat16 or float16.")
        dtype = DTYPES[dtype.lower()]
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype must be float32, bfloat16 or float16, got {dtype}.")
    if dtype == torch.float16 and device.type == "cpu":
        raise ValueError("dtype float16 needs a GPU; on CPU use bfloat16 or float32.")
    return dtype


def default_model_location() -> Path:
    """The bundled demo model folder; ValueError when this installation does not have one."""
    if (BUNDLED_MODEL_DIR / "config.json").is_file():
        return BUNDLED_MODEL_DIR
    raise ValueError(
        f"No model given and no bundled demo model in {str(BUNDLED_MODEL_DIR)!r}; pass a model folder or Hub id "
        "(--model DIR_OR_REPO)."
    )


def check_model_location(name_or_path) -> None:
    """Fail early, in one line, when `name_or_path` is not an SMPLest-X model (missing folder, no config.json,
    another kind of model). Hub ids are checked by downloading only their config.json."""
    from transformers import PreTrainedConfig

    from ..models.smplest_x.configuration_smplest_x import SmplestXConfig

    path = Path(name_or_path).expanduser()
    looks_local = path.exists() or str(name_or_path).startswith((".", "/", "~")) or str(name_or_path).count("/") > 1
    if looks_local:
        if not path.is_dir():
            raise ValueError(f"Model folder {str(path)!r} does not exist.")
        config_file = path / "config.json"
        if not config_file.is_file():
            raise ValueError(f"{str(path)!r} is not a model folder: it has no config.json (save one with model.save_pretrained).")
        try:
            config = json.loads(config_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{str(config_file)!r} is not valid JSON ({error}).") from None
    else:
        try:
            config, _ = PreTrainedConfig.get_config_dict(str(name_or_path))
        except (OSError, ValueError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"Cannot load model {str(name_or_path)!r}: {first_line}") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type != SmplestXConfig.model_type:
        raise ValueError(
            f"{str(name_or_path)!r} is a {model_type or 'unknown'!s} model, not an SMPLest-X model "
            f"(config.json model_type must be {SmplestXConfig.model_type!r})."
        )


class SmplestXPipeline:
    """Whole-body SMPL-X recovery for every person in images.

    Args:
        model: a model folder or Hub id, or a `SmplestXForHumanMeshRecovery`.
        processor: a `SmplestXImageProcessor`; default: the one saved with the model, else one with the model's
            crop and camera settings.
        body_model_dir: folder containing `smplx/SMPLX_NEUTRAL.npz` (or an `SmplxBodyModel`); default: a body model
            already attached to `model`, else `$SMPLX_MODEL_DIR`, else none (parameters only, no mesh/keypoints).
        detector: a Hub id or folder of a transformers object-detection model, a `PersonDetector`, or "none"
            (each image is one person: pre-cropped inputs). Default: RT-DETR R50 (downloaded on first use).
        device: "cpu", "cuda", "cuda:1", ... (default: cuda when available).
        dtype: "auto" (default), "float32", "bfloat16" or "float16" (GPU only). "auto" is bfloat16 where the
            hardware multiplies it natively (`native_bfloat16`: AMX / AVX512-BF16 CPUs, CUDA 8.0+), else float32;
            a model passed as an object keeps its own dtype (and attention kernel) under "auto". Either way the
            precision-critical parts (`modeling_smplest_x.FLOAT32_PARAMETERS`), the body model and all geometry
            stay float32. `dtype_reason` says why the pipeline runs in `dtype`. When the pipeline chooses the
            dtype it also chooses the attention kernel (`choose_attention_implementation`: eager for bfloat16 on
            CPU, where the sdpa flash kernel is slower than float32's).
        batch_size: people per model forward pass (and images per detector pass).
        threshold, nms_iou, max_people, min_box_size: person-box filtering (see `PersonDetector`).
        max_pixels: images larger than this are shrunk for processing; results are still in original pixels.
        box_format: "xywh" (default) or "xyxy", for boxes given to `__call__`.
        camera: the camera the people are expressed in (`camera_placement.CameraSpec` or its text): "box" (default,
            each person in their own crop camera scaled to their box, as SMPLest-X), "exif", "fov:DEGREES" or
            "focal:FX[,FY[,CX,CY]]": every person of an image placed in that one camera (needs a body model).
    """

    def __init__(
        self,
        model,
        processor=None,
        body_model_dir=None,
        detector=DEFAULT_DETECTOR,
        device=None,
        dtype="auto",
        batch_size: int = 8,
        threshold: float = 0.5,
        nms_iou: float = 0.5,
        max_people: int | None = None,
        min_box_size: float = 16.0,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        box_format: str = "xywh",
        camera=None,
    ):
        from .camera_placement import CameraSpec
        from ..models.smplest_x.image_processing_smplest_x import BOX_FORMATS
        from ..models.smplest_x.modeling_smplest_x import SmplestXForHumanMeshRecovery

        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be one of {BOX_FORMATS}, got {box_format!r}.")
        self.device = resolve_device(device)
        # A model object under "auto" keeps its dtype and attention kernel; otherwise the pipeline picks both.
        self._keeps_model_precision = isinstance(model, SmplestXForHumanMeshRecovery) and isinstance(dtype, str) and dtype.lower() == "auto"
        if self._keeps_model_precision:
            self.dtype, self.dtype_reason = model.dtype, "auto: the given model's own dtype"
        else:
            self.dtype, self.dtype_reason = choose_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.max_pixels = max_pixels
        self.box_format = box_format
        self.model = self._load_model(model, body_model_dir)
        self.processor = processor if processor is not None else self._load_processor(model)
        self.camera = CameraSpec.parse(camera)
        if not self.camera.is_box and not self.has_body_model:
            raise ValueError(
                f"camera {self.camera.kind!r} places each person's mesh in the photo's camera and needs a body model: "
                "pass body_model_dir (--body-model DIR) or set SMPLX_MODEL_DIR."
            )
        if detector is None or (isinstance(detector, str) and detector.lower() == "none"):
            self.detector = None
        elif isinstance(detector, PersonDetector):
            self.detector = detector
        else:
            self.detector = PersonDetector.from_pretrained(
                # The detector in reduced precision on GPU only: on CPU its float32 boxes are the tested path.
                detector, device=self.device, dtype=self.dtype if self.device.type == "cuda" else torch.float32,
                threshold=threshold, nms_iou=nms_iou,
                max_people=max_people, min_box_size=min_box_size,
            )  # fmt: skip
        self.timings = dict.fromkeys(STAGES, 0.0)

    # ----------------------------------------------------------------------------------------- loading
    def _load_model(self, model, body_model_dir):
        from ..models.smplest_x.attention_implementation import choose_attention_implementation
        from ..models.smplest_x.modeling_smplest_x import SmplestXForHumanMeshRecovery

        if isinstance(model, (str, os.PathLike)):
            check_model_location(model)
            model = SmplestXForHumanMeshRecovery.from_pretrained(str(model), dtype=self.dtype)
        elif not isinstance(model, SmplestXForHumanMeshRecovery):
            raise TypeError(f"model must be a model folder, a Hub id or a SmplestXForHumanMeshRecovery, got {type(model).__name__}.")
        model = model.to(device=self.device, dtype=self.dtype).eval()  # an attached body model stays float32
        if not self._keeps_model_precision:
            model.set_attn_implementation(choose_attention_implementation("auto", self.device.type, self.dtype))
        if body_model_dir is not None:
            model.attach_body_model(body_model_dir)
        elif model.body_model is None and os.environ.get("SMPLX_MODEL_DIR"):
            model.attach_body_model(os.environ["SMPLX_MODEL_DIR"])
        return model

    def _load_processor(self, model):
        from ..models.smplest_x.image_processing_smplest_x import SmplestXImageProcessor

        if isinstance(model, (str, os.PathLike)):
            try:
                return SmplestXImageProcessor.from_pretrained(str(model))
            except OSError:  # no preprocessor_config.json saved with the model: use the model's settings
                pass
        config = self.model.config
        return SmplestXImageProcessor(
            size={"height": config.input_body_size[0], "width": config.input_body_size[1]},
            crop_size={"height": config.input_image_size[0], "width": config.input_image_size[1]},
            bbox_ratio=config.bbox_ratio, focal_length=list(config.focal_length),
            principal_point=list(config.principal_point),
        )  # fmt: skip

    @property
    def has_body_model(self) -> bool:
        return self.model.body_model is not None

    @property
    def faces(self) -> np.ndarray | None:
        """(20908, 3) int64 triangle vertex indices of the SMPL-X mesh, or None without a body model."""
        return None if not self.has_body_model else self.model.body_model.faces.cpu().numpy()

    # ------------------------------------------------------------------------------------------- running
    def load_images(self, images) -> list[LoadedImage]:
        """Paths / PIL images / arrays -> `LoadedImage`s (8-bit RGB, shrunk above `max_pixels`)."""
        start = time.perf_counter()
        loaded = [
            image if isinstance(image, LoadedImage) else load_image(image, self.max_pixels, name=f"image {index}")
            for index, image in enumerate(images)
        ]
        self.timings["decode"] += time.perf_counter() - start
        return loaded

    def __call__(self, images, boxes=None):
        """Recover every person in one image or a list of images.

        Args:
            images: a path, PIL image, NumPy array or tensor, or a list of them.
            boxes: None (detector, or whole images with `detector="none"`), or per image a (K, 4) list/array of
                person boxes in original-image pixels, in `box_format` (K may be 0; None for an image = the whole
                image). For a single image a plain (K, 4) list is accepted.

        Returns:
            For a single image, its list of people; for a list, one list of people per image (see the module
            docstring for each person's fields). An image with nobody in it gives an empty list.
        """
        single = not isinstance(images, (list, tuple))
        images = [images] if single else list(images)
        if single and boxes is not None:
            boxes = [boxes]
        self.timings = dict.fromkeys(STAGES, 0.0)
        results = self.run(self.load_images(images), boxes)
        return results[0] if single else results

    @torch.no_grad()
    def run(self, images: list[LoadedImage], boxes=None, geometry: bool = True) -> list[list[dict]]:
        """`__call__` on already decoded images; adds each stage's seconds to `self.timings`. `geometry=False`
        skips the body model (parameters and cameras only), e.g. when the parameters are smoothed first."""
        if boxes is not None and len(boxes) != len(images):
            raise ValueError(f"Got boxes for {len(boxes)} images but {len(images)} images.")
        person_boxes, scores = self._find_people(images, boxes)

        start = time.perf_counter()
        inputs = self.processor(
            [image.pixels for image in images], boxes=person_boxes, box_format="xywh", return_tensors="pt"
        )
        self.timings["crop"] += time.perf_counter() - start

        start = time.perf_counter()
        outputs = self._forward(inputs["pixel_values"], geometry)
        self._synchronize()
        self.timings["model"] += time.perf_counter() - start

        start = time.perf_counter()
        results = self._post_process(images, inputs, outputs, person_boxes, scores)
        if geometry and not self.camera.is_box:
            results = [self._place_in_camera(image, people) for image, people in zip(images, results)]
        self.timings["postprocess"] += time.perf_counter() - start
        return results

    def _place_in_camera(self, image: LoadedImage, people: list[dict]) -> list[dict]:
        """One image's people re-expressed in `self.camera` (see `camera_placement`)."""
        from .camera_placement import place_people_in_camera

        intrinsics = self.camera.intrinsics(image.original_size, image.focal_length_35mm, image_name=image.name)
        return place_people_in_camera(people, intrinsics)

    def _find_people(self, images: list[LoadedImage], boxes):
        """Per image: (K, 4) float64 xywh boxes in working (possibly shrunk) pixels, and (K,) scores or None."""
        start = time.perf_counter()
        person_boxes, scores = [], []
        if boxes is not None:
            from ..models.smplest_x.cropping import boxes_xyxy_to_xywh
            from ..models.smplest_x.image_processing_smplest_x import as_box_array

            for index, (image, image_boxes) in enumerate(zip(images, boxes)):
                if image_boxes is None:
                    person_boxes.append(_whole_image_box(image))
                else:
                    given = as_box_array(image_boxes, index)
                    given = boxes_xyxy_to_xywh(given) if self.box_format == "xyxy" else given
                    person_boxes.append(_to_working_pixels(given, image.scale))
                scores.append(None)
        elif self.detector is None:
            person_boxes = [_whole_image_box(image) for image in images]
            scores = [None] * len(images)
        else:
            for first in range(0, len(images), self.batch_size):
                for detection in self.detector([image.pixels for image in images[first : first + self.batch_size]]):
                    person_boxes.append(detection.boxes.astype(np.float64))
                    scores.append(detection.scores)
        self._synchronize()
        self.timings["detect"] += time.perf_counter() - start
        return person_boxes, scores

    def _forward(self, pixel_values: torch.Tensor, geometry: bool = True) -> dict[str, torch.Tensor]:
        """All crops through the model in chunks of `batch_size`; float32 CPU tensors of `_OUTPUT_FIELDS`."""
        chunks = defaultdict(list)
        for first in range(0, pixel_values.shape[0], self.batch_size):
            batch = pixel_values[first : first + self.batch_size].to(self.device)  # the model casts what it needs
            outputs = self.model(batch, return_geometry=geometry)
            for name in _OUTPUT_FIELDS:
                value = getattr(outputs, name)
                if value is not None:
                    chunks[name].append(value.float().cpu())
        return {name: torch.cat(values) for name, values in chunks.items()}

    @torch.no_grad()
    def add_geometry(self, people: list[dict]) -> None:
        """Set `vertices`, `joints` and `keypoints_2d` of each person (in place) from its parameters and camera,
        as `run` computes them: the body model in chunks of `batch_size` people, joints projected with the
        person's full-image camera. Does nothing without a body model."""
        from ..models.smplest_x.geometry import KEYPOINT_DEPTH_EPSILON, project_points
        from ..models.smplest_x.modeling_smplest_x import run_body_model

        if not people or not self.has_body_model:
            return
        device = self.model.device  # the body model's too
        for first in range(0, len(people), self.batch_size):
            chunk = people[first : first + self.batch_size]

            def stacked(name, chunk=chunk):
                return torch.from_numpy(np.stack([np.asarray(person[name], np.float32) for person in chunk])).to(device)

            parameters = {name: stacked(name) for name in (*PARAMETER_NAMES, "camera_translation")}
            body = run_body_model(self.model.body_model, parameters)
            focal_length, principal_point = stacked("focal_length")[:, None], stacked("principal_point")[:, None]
            keypoints = project_points(body.joints.float(), focal_length, principal_point, depth_epsilon=KEYPOINT_DEPTH_EPSILON)
            for index, person in enumerate(chunk):
                person["vertices"] = body.vertices[index].float().cpu().numpy()
                person["joints"] = body.joints[index].float().cpu().numpy()
                person["keypoints_2d"] = keypoints[index].cpu().numpy()

    def _post_process(self, images, inputs, outputs, person_boxes, scores) -> list[list[dict]]:
        from ..models.smplest_x.modeling_smplest_x import SmplestXMeshRecoveryOutput

        if inputs["pixel_values"].shape[0] == 0:
            return [[] for _ in images]
        people = self.processor.post_process_mesh_recovery(
            SmplestXMeshRecoveryOutput(**outputs),
            processed_boxes=inputs["processed_boxes"],
            image_indices=inputs["image_indices"],
            target_sizes=[image.pixels.shape[:2] for image in images],
        )
        results = []
        for image, image_people, image_boxes, image_scores in zip(images, people, person_boxes, scores):
            image_results = []
            for index, person in enumerate(image_people):
                result = {name: value.numpy().astype(np.float32) for name, value in person.items()}
                result["detection_box"] = image_boxes[index].astype(np.float32)
                result["score"] = None if image_scores is None else float(image_scores[index])
                image_results.append(_to_original_pixels(result, image.scale))
            results.append(image_results)
        return results

    def _synchronize(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _whole_image_box(image: LoadedImage) -> np.ndarray:
    height, width = image.pixels.shape[:2]
    return np.array([[0.0, 0.0, width, height]])


def _to_working_pixels(boxes_xywh: np.ndarray, scale: float) -> np.ndarray:
    """Original-image xywh boxes -> boxes on the shrunk image (inverse of `_to_original_pixels`)."""
    if scale == 1.0:
        return boxes_xywh
    corner = (boxes_xywh[:, :2] + 0.5) / scale - 0.5
    return np.concatenate((corner, boxes_xywh[:, 2:] / scale), axis=1)


def _to_original_pixels(person: dict, scale: float) -> dict:
    """Pixel quantities on a shrunk image -> on the original image.

    Shrinking by `scale` maps original pixel centre `u` to `(u + 0.5) / scale - 0.5`, so points go back with
    `(p + 0.5) * scale - 0.5` and lengths with `* scale`. The 3D results (vertices, joints, translation) do not
    change: scaling the image and the camera intrinsics together leaves the camera frame as it is.
    """
    if scale == 1.0:
        return person
    person = dict(person)
    for name in _PIXEL_POINTS:
        if name in person:
            person[name] = ((person[name] + 0.5) * scale - 0.5).astype(np.float32)
    for name in _PIXEL_LENGTHS:
        person[name] = (person[name] * scale).astype(np.float32)
    for name in ("box", "detection_box"):
        corner = (person[name][:2] + 0.5) * scale - 0.5
        person[name] = np.concatenate((corner, person[name][2:] * scale)).astype(np.float32)
    return person


__all__ = [
    "BUNDLED_MODEL_DIR",
    "STAGES",
    "SmplestXPipeline",
    "check_model_location",
    "default_model_location",
    "resolve_device",
    "choose_dtype",
    "native_bfloat16",
    "resolve_dtype",
]

"""`transformers.pipeline("human-mesh-recovery", ...)`: SMPLest-X as a transformers pipeline task.

Every saved SMPLest-X model names this class in its config (`custom_pipelines`) and carries this file, so the task
works wherever transformers is installed, with or without `smplest_hf`:

```python
>>> from transformers import pipeline
>>> recover = pipeline("human-mesh-recovery", model="path/or/repo", trust_remote_code=True,
...                    model_kwargs={"body_model_dir": "human_model_files"})      # doctest: +SKIP
>>> people = recover("photo.jpg", boxes=[[100, 50, 200, 400]])                  # doctest: +SKIP
>>> people[0]["vertices"].shape                                                 # doctest: +SKIP
(10475, 3)
```

A transformers `Pipeline` holds one model, so this task recovers the people in the boxes it is given (or the whole
image as one person) without a detector; `smplest_hf.SmplestXPipeline` adds detection, batching and exports.
This file is saved beside the weights for `trust_remote_code=True`: it imports only transformers, NumPy and files
of its own folder.
"""

import os

import numpy as np
from transformers import Pipeline
from transformers.image_utils import get_image_size, is_pil_image, load_image

from .modeling_smplest_x import SmplestXMeshRecoveryOutput

TASK = "human-mesh-recovery"

# `config.custom_pipelines`, as transformers' `Pipeline.save_pretrained` would write it for this class: the task,
# the pipeline class ("file.Class" in the saved folder) and the Auto class that loads the model.
CUSTOM_PIPELINES = {
    TASK: {"impl": f"{__name__.split('.')[-1]}.HumanMeshRecoveryPipeline", "pt": ["AutoModel"], "type": "image"}
}


def _image_size(image) -> tuple[int, int]:
    """(height, width) of a PIL image or a (H, W), (H, W, C) or (C, H, W) array or tensor."""
    if is_pil_image(image):
        return image.height, image.width
    array = np.asarray(image)
    return array.shape[:2] if array.ndim == 2 else get_image_size(array)


class HumanMeshRecoveryPipeline(Pipeline):
    """One image (path, URL, PIL image, array or tensor) and optional `boxes` -> a list of per-person dicts of NumPy
    arrays: the fields of `SmplestXImageProcessor.post_process_mesh_recovery`, in the image's pixels (`vertices`,
    `joints` and `keypoints_2d` only when the model has a body model: `model_kwargs={"body_model_dir": DIR}`).

    Paths and URLs are read by transformers' `load_image` (EXIF orientation applied, RGB); arrays and PIL images
    go to the image processor as they are.
    """

    _load_processor = False
    _load_image_processor = True
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, boxes=None, box_format=None, **kwargs):
        preprocess_parameters = {}
        if boxes is not None:
            preprocess_parameters["boxes"] = boxes
        if box_format is not None:
            preprocess_parameters["box_format"] = box_format
        return preprocess_parameters, {}, {}

    def preprocess(self, image, boxes=None, box_format="xywh"):
        if isinstance(image, (str, os.PathLike)):
            image = load_image(str(image))
        inputs = self.image_processor(image, boxes=None if boxes is None else [boxes], box_format=box_format, return_tensors="pt")
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        return {**inputs, "target_size": _image_size(image)}

    def _forward(self, model_inputs):
        outputs = self.model(model_inputs["pixel_values"])
        # A plain dict: the pipeline base rebuilds a ModelOutput as a bare `ModelOutput` without its None fields
        # (no `vertices` without a body model); postprocess restores the typed output.
        return {"outputs": dict(outputs), **{name: model_inputs[name] for name in ("processed_boxes", "image_indices", "target_size")}}

    def postprocess(self, model_outputs):
        people = self.image_processor.post_process_mesh_recovery(
            SmplestXMeshRecoveryOutput(**model_outputs["outputs"]), processed_boxes=model_outputs["processed_boxes"],
            image_indices=model_outputs["image_indices"], target_sizes=[model_outputs["target_size"]],
        )[0]  # fmt: skip
        return [{name: value.float().cpu().numpy() for name, value in person.items()} for person in people]


__all__ = ["CUSTOM_PIPELINES", "TASK", "HumanMeshRecoveryPipeline"]

"""`transformers.pipeline("human-mesh-recovery", ...)`: SMPLest-X as a transformers pipeline task.

The transformers `Pipeline` holds one model, so this task recovers the people in the boxes it is given (or the
whole image as one person) without a detector; `SmplestXPipeline` adds detection, batching across images and
exports. Importing `smplest_hf.inference.hf_pipeline` registers the task (kept out of `import smplest_hf` because
`transformers.pipelines` is slow to import).

```python
>>> import smplest_hf.inference.hf_pipeline
>>> from transformers import pipeline
>>> recover = pipeline("human-mesh-recovery", model="path/to/model", device="cpu", trust_remote_code=False,
...                    model_kwargs={"body_model_dir": "human_model_files"})      # doctest: +SKIP
>>> people = recover("photo.jpg", boxes=[[100, 50, 200, 400]])                  # doctest: +SKIP
>>> people[0]["vertices"].shape                                                 # doctest: +SKIP
(10475, 3)
```
"""

from transformers import AutoModel, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .image_io import load_image

TASK = "human-mesh-recovery"


class HumanMeshRecoveryPipeline(Pipeline):
    """One image (path, PIL, array) and optional xywh `boxes` -> a list of per-person dicts of NumPy arrays (the
    fields of `SmplestXImageProcessor.post_process_mesh_recovery`, in the image's pixels)."""

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
        pixels = load_image(image, max_pixels=None).pixels
        inputs = self.image_processor(pixels, boxes=None if boxes is None else [boxes], box_format=box_format, return_tensors="pt")
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        return {**inputs, "target_size": pixels.shape[:2]}

    def _forward(self, model_inputs):
        outputs = self.model(model_inputs["pixel_values"])
        return {"outputs": outputs, **{name: model_inputs[name] for name in ("processed_boxes", "image_indices", "target_size")}}

    def postprocess(self, model_outputs):
        people = self.image_processor.post_process_mesh_recovery(
            model_outputs["outputs"], processed_boxes=model_outputs["processed_boxes"],
            image_indices=model_outputs["image_indices"], target_sizes=[model_outputs["target_size"]],
        )[0]  # fmt: skip
        return [{name: value.cpu().numpy() for name, value in person.items()} for person in people]


PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=HumanMeshRecoveryPipeline, pt_model=AutoModel, type="image")

__all__ = ["TASK", "HumanMeshRecoveryPipeline"]

"""The model card (README.md) written next to every saved or pushed SMPLest-X model."""

from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

# The Hub knows `transformers` (our weights, config and code are a transformers model loaded with
# trust_remote_code=True), and shows the matching snippet; it has no entry for this package.
LIBRARY_NAME = "transformers"
# `pipeline_tag` must come from the Hub's closed task list, which has no mesh-recovery task: `image-to-3d` is the
# closest one (image in, 3D out). The task we register with transformers (`config.custom_pipelines`) is
# `human-mesh-recovery`, so that name is a tag, the first one.
PIPELINE_TAG = "image-to-3d"
TAGS = ["human-mesh-recovery", "smplx", "whole-body", "pose-estimation", "3d-human", "smplest-x"]
MINIMUM_TRANSFORMERS_VERSION = "5.23"

_CARD_TEMPLATE = """---
{card_data}
---

# {model_name}

SMPLest-X expressive whole-body human pose and shape estimator ({size_description}): one RGB person crop in,
SMPL-X body, hand and face parameters out (global orientation, 21 body joints, 2 x 15 finger joints, jaw, 10 shape
and 10 expression coefficients, camera translation).

## Use

The code is saved beside the weights, so transformers (>= {min_transformers}) runs the model with
`trust_remote_code=True`, without the `smplest_hf` package:

```python
from transformers import pipeline

recover = pipeline("human-mesh-recovery", model="{repo_id}", trust_remote_code=True)
people = recover("photo.jpg", boxes=[[x, y, width, height]])  # per person: SMPL-X parameters and camera
```

With the `smplest_hf` package installed its own classes load the model (no remote code runs), and
`smplest_hf.SmplestXPipeline("{repo_id}")` adds person detection, video and exports:

```python
import smplest_hf  # registers the model with the transformers Auto classes
from transformers import AutoImageProcessor, AutoModel

model = AutoModel.from_pretrained("{repo_id}")
processor = AutoImageProcessor.from_pretrained("{repo_id}")
inputs = processor(image, boxes=[[[x, y, width, height]]], return_tensors="pt")
outputs = model(**inputs)
```

With SMPL-X model files, `model_kwargs={{"body_model_dir": DIR}}` (pipeline) or
`AutoModel.from_pretrained(..., body_model_dir=DIR)` also returns vertices, joints and 2D keypoints.

## Architecture

| field | value |
|---|---|
| encoder | ViT, width {hidden_size}, depth {num_hidden_layers}, {num_attention_heads} heads, patch {patch_size}, {num_task_tokens} task tokens |
| decoder | {decoder_num_layers} cross-attention layers, {decoder_num_attention_heads} heads x {decoder_attention_head_dim} |
| input | {body_h}x{body_w} crop (nearest-downsampled from a {image_h}x{image_w} affine crop, box ratio {bbox_ratio}) |
| camera | focal {focal}, principal point {principal_point} (body-input pixels) |
| parameters | {num_parameters:,} |

{extra}

## Licence of the body model

This card covers the network weights only. The SMPL-X body model files are licensed separately by the Max Planck
Institute for Intelligent Systems (https://smpl-x.is.tue.mpg.de); they are never stored with these weights. Use of
official SMPLest-X weights is subject to the licence of the original release (https://github.com/SMPLCap/SMPLest-X).
"""


def hub_repo_id(name_or_path) -> str | None:
    """`name_or_path` if it names a Hub repository (`org/name`, not an existing local path), else None: cards
    record where a model or its data came from only when others can find it, never a local path."""
    if name_or_path is None or Path(str(name_or_path)).expanduser().exists():
        return None
    try:
        validate_repo_id(str(name_or_path))
    except HFValidationError:
        return None
    return str(name_or_path)


def build_model_card(model, repo_id: str | None = None, model_name: str | None = None, extra: str = "",
                     base_model: str | None = None, datasets: list[str] | None = None) -> ModelCard:  # fmt: skip
    """A ModelCard with the hub metadata (library, pipeline tag, tags, licence, and where known `base_model`, the
    model this one was fine-tuned from, and `datasets`, what it was trained on: Hub repo ids, local paths are
    left out) and the model's architecture table."""
    config = model.config
    name = model_name or getattr(config, "name_or_path", None) or "SMPLest-X"
    name = Path(str(name)).name or "SMPLest-X"
    datasets = [found for found in map(hub_repo_id, datasets or []) if found is not None]
    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
        pipeline_tag=PIPELINE_TAG,
        license="other",
        license_name="smplest-x-and-smpl-x",
        license_link="https://github.com/SMPLCap/SMPLest-X/blob/main/LICENSE.txt",
        tags=TAGS,
        model_name=name,
        base_model=hub_repo_id(base_model),
        datasets=list(dict.fromkeys(datasets)) or None,
    )
    text = _CARD_TEMPLATE.format(
        card_data=card_data.to_yaml(),
        model_name=name,
        repo_id=repo_id or "path/to/this/model",
        size_description=f"encoder width {config.hidden_size}",
        min_transformers=MINIMUM_TRANSFORMERS_VERSION,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        patch_size=config.patch_size,
        num_task_tokens=config.num_task_tokens,
        decoder_num_layers=config.decoder_num_layers,
        decoder_num_attention_heads=config.decoder_num_attention_heads,
        decoder_attention_head_dim=config.decoder_attention_head_dim,
        body_h=config.input_body_size[0],
        body_w=config.input_body_size[1],
        image_h=config.input_image_size[0],
        image_w=config.input_image_size[1],
        bbox_ratio=config.bbox_ratio,
        focal=tuple(config.focal_length),
        principal_point=tuple(config.principal_point),
        num_parameters=sum(parameter.numel() for parameter in model.parameters()),
        extra=extra,
    )
    return ModelCard(text)

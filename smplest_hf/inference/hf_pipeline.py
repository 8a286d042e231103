"""Registers the `human-mesh-recovery` pipeline task with transformers for models built in this process.

Saved models name their pipeline in `config.custom_pipelines` and carry its code, so
`pipeline("human-mesh-recovery", model=DIR_OR_REPO, trust_remote_code=True)` needs no import at all. A model object
that was never saved has no such entry: importing this module registers the task for it.

```python
>>> import smplest_hf.inference.hf_pipeline
>>> from transformers import pipeline
>>> recover = pipeline("human-mesh-recovery", model=model, image_processor=processor)   # doctest: +SKIP
```
"""

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from ..models.smplest_x.pipeline_smplest_x import TASK, HumanMeshRecoveryPipeline

PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=HumanMeshRecoveryPipeline, pt_model=AutoModel, type="image")

__all__ = ["TASK", "HumanMeshRecoveryPipeline"]

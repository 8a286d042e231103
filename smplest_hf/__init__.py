"""smplest_hf: SMPLest-X whole-body human mesh recovery, native to the Hugging Face ecosystem.

Importing the package registers the model with the transformers Auto classes:

```python
import smplest_hf
from transformers import AutoModel, AutoImageProcessor

model = AutoModel.from_pretrained("path/or/repo")            # SmplestXForHumanMeshRecovery
processor = AutoImageProcessor.from_pretrained("path/or/repo")  # SmplestXImageProcessor
```
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel

from .models.smplest_x.configuration_smplest_x import PRESET_NAMES, SmplestXConfig
from .models.smplest_x.image_processing_smplest_x import SmplestXImageProcessor
from .models.smplest_x.modeling_smplest_x import SmplestXForHumanMeshRecovery, SmplestXMeshRecoveryOutput, SmplestXPreTrainedModel

__version__ = "0.1.0"

AutoConfig.register(SmplestXConfig.model_type, SmplestXConfig, exist_ok=True)
AutoModel.register(SmplestXConfig, SmplestXForHumanMeshRecovery, exist_ok=True)
AutoImageProcessor.register(SmplestXConfig, image_processor_classes={"pil": SmplestXImageProcessor}, exist_ok=True)

# Saved models also carry `auto_map` and a flat copy of the code, so `trust_remote_code=True` loads them on
# machines without this package.
SmplestXConfig.register_for_auto_class()
SmplestXForHumanMeshRecovery.register_for_auto_class("AutoModel")
SmplestXImageProcessor.register_for_auto_class("AutoImageProcessor")



def __getattr__(name: str):
    # The pipeline brings detection, image reading and exporters with it: imported on first use, so that
    # `import smplest_hf` (which every remote-code-free Auto load needs) stays light.
    if name == "SmplestXPipeline":
        from .inference.pipeline import SmplestXPipeline

        return SmplestXPipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PRESET_NAMES",
    "SmplestXConfig",
    "SmplestXForHumanMeshRecovery",
    "SmplestXImageProcessor",
    "SmplestXMeshRecoveryOutput",
    "SmplestXPipeline",
    "SmplestXPreTrainedModel",
]

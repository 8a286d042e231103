"""EHPS datasets on the Hugging Face Hub: one schema, HumanData conversion, push/load, and dataset mixing.

```python
>>> from hub_datasets import convert_humandata, load_ehps_dataset, balanced_mix
>>> convert_humandata("annot/agora.npz", "images/agora", "hub/agora", num_proc=8)        # doctest: +SKIP
>>> agora = load_ehps_dataset("hub/agora", split="train")                                 # doctest: +SKIP
>>> train = balanced_mix([agora, ubody], total_length=100_000, seed=0)                    # doctest: +SKIP
```

Modules: ``schema`` (the Features every dataset shares), ``humandata`` (HumanData ``.npz`` converter),
``sharding`` (resumable parallel Parquet shards in the Hub layout), ``card`` (dataset cards), ``hub`` (push and
load), ``mixing`` (balanced and weighted mixing), ``synthetic`` (rendered synthetic data with exact ground truth;
``synthetic_poses``, ``synthetic_backgrounds``), ``transform`` (the training transform: crops, augmentation
and loss labels; with ``augmentation``, ``flip``, ``labels``); CLI: ``python -m hub_datasets``.
"""

from .hub import load_ehps_dataset, push_dataset
from .humandata import ConversionReport, HumanDataError, convert_humandata, read_humandata
from .mixing import balanced_index_plan, balanced_mix, weighted_index_plan, weighted_mix
from .schema import EHPS_FEATURES, KEYPOINT_CONVENTION, KEYPOINT_NAMES, NUM_KEYPOINTS, to_supervision_keypoints
from .synthetic import SynthesisReport, synthesize_dataset, synthesize_rows
from .transform import TrainingTransform, collate_training_batch


__all__ = [
    "EHPS_FEATURES",
    "KEYPOINT_CONVENTION",
    "KEYPOINT_NAMES",
    "NUM_KEYPOINTS",
    "ConversionReport",
    "SynthesisReport",
    "TrainingTransform",
    "HumanDataError",
    "balanced_index_plan",
    "balanced_mix",
    "collate_training_batch",
    "convert_humandata",
    "load_ehps_dataset",
    "push_dataset",
    "read_humandata",
    "synthesize_dataset",
    "synthesize_rows",
    "to_supervision_keypoints",
    "weighted_index_plan",
    "weighted_mix",
]

"""A synthetic body model in SMPL-X's file format: a stand-in for the licensed SMPL-X files.

It has SMPL-X's vertex and face counts, kinematic tree, arrays and auxiliary files, looks like a person (a
T-pose with five-fingered hands, feet with toes and a face), and places the vertices smplx reads joints from
(nose, eyes, ears, toes, heels, finger tips) and the hand and face vertex sets on the right body parts — so
everything that reads SMPL-X files (``smplest_hf.models.smplest_x.body_model``, the ``smplx`` package) runs on it, and
renders, hand/face metrics and training on synthetic images are meaningful. It is not SMPL-X: use the real
files for real results.

```python
>>> import tempfile
>>> from smplest_hf.synthetic import write_synthetic_body_model
>>> from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
>>> with tempfile.TemporaryDirectory() as folder:
...     directory = write_synthetic_body_model(folder, seed=0)  # about two seconds
...     print(SmplxBodyModel.from_directory(directory).v_template.shape)
torch.Size([10475, 3])

```

Also ``python -m smplest_hf.synthetic DIR [--seed S]`` and ``smplest-x make-synthetic-body-model DIR``.

Modules: ``skeleton`` (joints and proportions), ``mesh_parts`` (rings, tubes, ray-cast surfaces), ``torso``,
``limbs``, ``hands``, ``head`` (parts of the mesh), ``body_mesh`` (assembly and vertex ids), ``rigging``
(skinning weights, regressors, vertex sets), ``blend_shapes`` and ``body_model_files`` (writing).
"""

from .body_model_files import build_synthetic_body_model, write_synthetic_body_model
from .cache import cached_synthetic_body_model_dir


__all__ = ["build_synthetic_body_model", "cached_synthetic_body_model_dir", "write_synthetic_body_model"]

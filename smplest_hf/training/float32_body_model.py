"""The SMPL-X body model as training attaches it: float32 under mixed precision, invisible to DDP/FSDP/DeepSpeed.

`model.attach_body_model(body_model)` makes the body model a submodule of the network. For training that has
two costs, both avoided by attaching `Float32BodyModel(body_model)` instead:

* autocast: the model passes float32 parameters to the body model, but under `accelerate`'s bf16/fp16 autocast
  the skinning matrix products still run in half precision (centimetre-level vertex errors, in the joint losses
  weighted 100);
* wrappers: its ~70 MB of (non-persistent) buffers are module buffers, so DDP broadcasts them from rank 0 at every
  forward, and FSDP / DeepSpeed cast them to the training dtype.

>>> import torch
>>> from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
>>> body = Float32BodyModel(SmplxBodyModel.from_directory("human_model_files"))   # doctest: +SKIP
>>> model = model.attach_body_model(body)                                           # doctest: +SKIP
>>> list(body.buffers())                                                            # doctest: +SKIP
[]
"""

import torch
from torch import nn


class Float32BodyModel(nn.Module):
    """Runs `body_model` in float32 with autocast disabled; holds it outside the module tree.

    The wrapped model keeps the device it had when wrapped or last moved with `.to(device)` on this wrapper
    (as `attach_body_model` does); a parent's `.to()` / `.half()` / wrapper never reaches it.
    """

    def __init__(self, body_model: nn.Module):
        super().__init__()
        # Through __dict__, not nn.Module.__setattr__: not a submodule, so no parameters or buffers are exposed.
        self.__dict__["wrapped"] = body_model.float()

    def to(self, *args, **kwargs) -> "Float32BodyModel":
        """Move the body model to a device; any dtype asked for is ignored (it stays float32)."""
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None:
            self.wrapped.to(device=device)
        return self

    @property
    def device(self) -> torch.device:
        return self.wrapped.v_template.device

    def forward(self, **parameters):
        device_type = self.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            return self.wrapped(**{name: value.float() if value is not None else None for name, value in parameters.items()})


__all__ = ["Float32BodyModel"]

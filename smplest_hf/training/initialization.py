"""Initialisations for training a new model from scratch: rotation readouts at the rest pose
(`init_readouts_at_rest_pose`) and width-scaled layer initialisation for narrow models
(`init_layers_for_width`). Neither is in the original, which starts from a ViTPose encoder.

Rotation readouts: start them at a plausible pose instead of random rotations.

A new model's readout layers output small random 6D vectors, which Gram-Schmidt turns into *random* rotations:
joints start anywhere on SO(3), up to 180 degrees from any real pose. The joint losses (weight 100) cannot see a
joint turned about its own bone, and the rotation-matrix L1 loss has almost no gradient near 180 degrees, so a
small model trained briefly keeps many joints twisted half a turn: its meshes are worse than the mean pose.
Biasing the readouts to the SMPL-X rest pose (as HMR-style models start from mean parameters) starts every
joint within ~20 degrees of it. The original SMPLest-X does not do this (it trains far longer from a ViTPose
encoder); `model.init_readouts_at_rest_pose` switches it on for new models.

>>> import torch
>>> from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
>>> model = init_readouts_at_rest_pose(SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).eval())
>>> bool(model(torch.rand(1, 3, 256, 192)).body_pose.norm(dim=-1).max() < 0.6)   # radians
True
"""

import torch

from ..models.smplest_x.geometry import matrix_to_rotation_6d

# In the crop camera (x right, y down, z forward) an upright person facing the camera has the root rotation
# "half a turn about x" (SMPL-X bodies are y-up, facing +z).
UPRIGHT_FACING_CAMERA = torch.diag(torch.tensor([1.0, -1.0, -1.0]))


def init_readouts_at_rest_pose(model):
    """Set the rotation readouts' biases so an untrained model predicts the rest pose (body joints, fingers relative
    to the mean hand, jaw: identity) standing upright and facing the camera (root, hand and face roots).
    Weights are left as initialised. Returns the model."""
    identity = matrix_to_rotation_6d(torch.eye(3))
    upright = matrix_to_rotation_6d(UPRIGHT_FACING_CAMERA)
    biases = {}
    for name, num_tokens, num_outputs in model.decoder.readout_layout:
        if name in ("body_root_pose", "hand_root_pose", "face_root_pose"):
            biases[name] = upright.repeat(num_outputs // 6)
        elif name in ("body_pose", "hand_pose", "jaw_pose"):
            biases[name] = identity.repeat(num_outputs // 6)
    with torch.no_grad():
        for name, bias in biases.items():
            model.decoder.readouts[name].bias.copy_(bias)
    return model


REFERENCE_HIDDEN_SIZE = 768
"""ViT-B's width, for which the usual `initializer_range` 0.02 was chosen."""


def init_layers_for_width(model, reference_hidden_size: int = REFERENCE_HIDDEN_SIZE):
    """Re-draw the encoder's and decoder's linear weights with std `initializer_range * sqrt(reference / hidden)`.

    A fixed std of 0.02 suits ViT-B (768 wide). In a narrow model (the tiny preset is 64 wide) the attention
    logits then start ~12x smaller than in ViT-B, so every task token attends almost uniformly — it sees the average
    of the image, not where the limbs are — and a model trained from scratch settles on the mean pose before its
    attention sharpens. Scaling the std with `1 / sqrt(width)` starts the logits at ViT-B's scale. The readout
    layers keep their std (so `init_readouts_at_rest_pose` still starts near the rest pose), as do the patch
    embedding, position embeddings and task tokens. Biases are left as they are. Returns the model.

    >>> import torch
    >>> from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery
    >>> model = init_layers_for_width(SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")))
    >>> round(model.encoder.layers[0].attention.qkv.weight.std().item(), 2)    # 0.02 * sqrt(768 / 64)
    0.07
    """
    std = model.config.initializer_range * (reference_hidden_size / model.config.hidden_size) ** 0.5
    readouts = {id(module) for module in model.decoder.readouts.modules()}
    with torch.no_grad():
        for part in (model.encoder, model.decoder):
            for module in part.modules():
                if isinstance(module, torch.nn.Linear) and id(module) not in readouts:
                    torch.nn.init.trunc_normal_(module.weight, mean=0.0, std=std)
    return model


__all__ = ["REFERENCE_HIDDEN_SIZE", "UPRIGHT_FACING_CAMERA", "init_layers_for_width", "init_readouts_at_rest_pose"]

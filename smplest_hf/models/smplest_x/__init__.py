"""SMPLest-X: configuration, network, image processor, training objective and the SMPL-X facts they share.

Everything in this folder imports only from this folder (relative imports), because `save_pretrained` copies
the modeling, configuration and image-processing files together with the files they import, so that
`trust_remote_code=True` loads a saved model on machines without `smplest_hf`.

- `configuration_smplest_x`, `modeling_smplest_x`, `image_processing_smplest_x`: the transformers classes.
- `smplx_layout`: every SMPL-X fact (joint names and sets, kinematic parents, part vertex sets, parameter
  names and sizes, genders), once.
- `body_model`: the SMPL-X body model through the `smplx` package; `geometry`: rotations and projection;
  `cropping`: person boxes -> crops -> full-image cameras; `losses`: the training objective.
- `model_card`: the README written beside saved models; `convert_original_checkpoint`: official checkpoints.
"""

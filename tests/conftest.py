"""Shared fixtures: everything offline, the synthetic SMPL-X-format body model built once per session."""

import os

# Read at import by huggingface_hub: tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest


@pytest.fixture(scope="session")
def synthetic_body_model_dir(tmp_path_factory):
    """A directory in the official layout (`<dir>/smplx/SMPLX_NEUTRAL.npz`, ...) holding the synthetic body model."""
    from smplest_hf.synthetic import write_synthetic_body_model

    return write_synthetic_body_model(tmp_path_factory.mktemp("body_model"), seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The tiny preset with random weights (seed 0), saved as a model directory."""
    import torch

    from smplest_hf import SmplestXConfig, SmplestXForHumanMeshRecovery

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny_model")
    SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).save_pretrained(directory)
    return directory

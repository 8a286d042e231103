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


@pytest.fixture(scope="session")
def local_hub(tmp_path_factory):
    """A local Hub endpoint on 127.0.0.1 (tests/local_hub.py) that the unmodified ``huggingface_hub`` talks to.

    ``local_hub.api()`` is an ``HfApi`` for it with the test token; inside ``with local_hub.active():`` code that
    builds its own ``HfApi()`` or uses ``ModelCard.push_to_hub`` goes there too (endpoint, ``HF_TOKEN`` and
    offline mode patched, restored on exit). Pushed files are in ``local_hub.repo_dir(repo_id, repo_type)``.
    """
    from local_hub import LocalHub

    with LocalHub(tmp_path_factory.mktemp("local_hub")) as hub:
        yield hub


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory, synthetic_body_model_dir):
    """A small synthetic EHPS dataset: 64 training and 16 held-out people (128 x 96 images; crops are upsampled)."""
    from hub_datasets.synthetic import synthesize_dataset

    root = tmp_path_factory.mktemp("synthetic_data")
    synthesize_dataset(root, 64, seed=0, body_model_dir=synthetic_body_model_dir, image_size=(128, 96))
    synthesize_dataset(root, 16, seed=1, body_model_dir=synthetic_body_model_dir, image_size=(128, 96), split="test")
    return root

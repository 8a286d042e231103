"""Re-save the bundled demo model (`smplest_hf/demo_model/`) with the current code: `python examples/refresh_demo_model.py`.

The demo model is a normal saved model: `config.json` with `auto_map` and `custom_pipelines`, the processor config,
the flat code files (copies of `smplest_hf/models/smplest_x/*.py`) that `trust_remote_code=True` runs, and a model
card. Run this after changing the model's code (tests/test_hub.py fails while the copies are stale). It never changes
the weights: `model.safetensors` must come out byte-identical, or nothing is written. The card keeps its text (how
the model was trained, its results); only the metadata the library sets (library, pipeline tag, tags) is updated.
"""

import shutil
import sys
import tempfile
from pathlib import Path

import torch
from huggingface_hub import ModelCard

BUNDLED_MODEL_DIR = Path(__file__).resolve().parents[1] / "smplest_hf" / "demo_model"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"


def refresh_demo_model(directory=BUNDLED_MODEL_DIR) -> list[str]:
    """Re-save the model in `directory` in place (code, configs, card metadata); returns the files written.

    Raises:
        RuntimeError: when re-saving would change `model.safetensors` (then nothing is written).
    """
    from smplest_hf import SmplestXForHumanMeshRecovery, SmplestXImageProcessor

    directory = Path(directory)
    model = SmplestXForHumanMeshRecovery.from_pretrained(directory, dtype=torch.float32)
    processor = SmplestXImageProcessor.from_pretrained(directory)
    card = ModelCard.load(directory / CARD_FILE)
    with tempfile.TemporaryDirectory() as staging:
        staging = Path(staging)
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        if (staging / WEIGHTS_FILE).read_bytes() != (directory / WEIGHTS_FILE).read_bytes():
            raise RuntimeError(f"Re-saving {directory} would change its {WEIGHTS_FILE}; nothing was written.")
        # The card's text is the demo's own; the metadata the library writes into every card comes from a fresh one.
        fresh = ModelCard.load(staging / CARD_FILE).data
        card.data.library_name, card.data.pipeline_tag = fresh.library_name, fresh.pipeline_tag
        card.data.tags = list(dict.fromkeys([*fresh.tags, *(card.data.tags or [])]))
        card.save(staging / CARD_FILE)
        written = sorted(path.name for path in staging.iterdir() if path.name != WEIGHTS_FILE)
        for stale in directory.glob("*.py"):
            if stale.name not in written:
                stale.unlink()
        for name in written:
            shutil.copyfile(staging / name, directory / name)
    return written


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else BUNDLED_MODEL_DIR
    print(f"refreshed {target}: {', '.join(refresh_demo_model(target))}")

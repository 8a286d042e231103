"""`smplest-x demo`: the README's first command, offline, with the bundled model, samples and boxes."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from smplest_hf.cli import main

DEMO_DATA = Path(__file__).resolve().parents[1] / "smplest_hf" / "demo_data"


def test_demo_writes_results_for_every_bundled_person(tmp_path, synthetic_body_model_dir, capsys):
    output_dir = tmp_path / "demo"
    assert main(["demo", str(output_dir), "--body-model", str(synthetic_body_model_dir)]) == 0
    assert str(output_dir) in capsys.readouterr().out
    boxes = json.loads((DEMO_DATA / "boxes.json").read_text())
    summary = json.loads((output_dir / "results.json").read_text())
    assert summary["images"] == len(boxes) and summary["people"] == sum(map(len, boxes.values()))
    for name in boxes:
        stem = Path(name).stem
        overlay = next((output_dir / "overlays").glob(f"{stem}*"))
        with Image.open(DEMO_DATA / name) as image, Image.open(overlay) as drawn:
            assert drawn.size == image.size
            # The meshes are drawn: the overlay differs from the input somewhere inside the boxes.
            assert np.abs(np.asarray(drawn.convert("RGB"), dtype=np.int16) - np.asarray(image, dtype=np.int16)).max() > 50
        params = sorted((output_dir / "params").glob(f"{stem}*.npz"))
        assert len(params) == len(boxes[name])
        with np.load(params[0], allow_pickle=False) as person:
            assert person["body_pose"].shape == (1, 21, 3) and person["betas"].shape == (1, 10)


def test_demo_without_the_body_model_files_fails_in_one_line(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "out"), "--body-model", str(tmp_path / "missing")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("smplest-x") and "\n" not in error
    assert not (tmp_path / "out").exists()

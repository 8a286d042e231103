"""Regenerate the bundled demo images (`smplest_hf/demo_data/`): `python examples/make_demo_samples.py`.

Synthetic people (the synthetic body model, rendered by `smplest_hf.export.rasterizer`) from a seed the demo model never
trained on (its training data use small seeds; see `smplest_hf/demo_model/README.md`). Writes `sample_*.jpg` and
`boxes.json` (the ground-truth person boxes, COCO xywh, so the demo needs no detector and no network).
"""

import json
from pathlib import Path

from smplest_hf.export.atomic import write_bytes_atomic

SAMPLE_SEED = 90210  # held out: not a training or validation seed of the demo model
SAMPLE_IMAGE_SIZE = (480, 640)
NUM_SAMPLES = 3


def main() -> None:
    from hub_datasets.synthetic import synthesize_rows

    directory = Path(__file__).resolve().parents[1] / "smplest_hf" / "demo_data"
    rows = synthesize_rows(SAMPLE_SEED, 0, NUM_SAMPLES, image_size=SAMPLE_IMAGE_SIZE, max_people=3, split="demo")
    boxes, image_bytes = {}, {}
    for path, image, box in zip(rows["image_path"], rows["image"], rows["bbox_xywh"]):
        name = f"sample_{len(image_bytes) if path not in image_bytes else list(image_bytes).index(path)}.jpg"
        image_bytes.setdefault(path, (name, image["bytes"]))
        boxes.setdefault(image_bytes[path][0], []).append([round(float(v), 1) for v in box])
    for name, data in image_bytes.values():
        write_bytes_atomic(directory / name, data)
    write_bytes_atomic(directory / "boxes.json", (json.dumps(boxes, indent=1) + "\n").encode())
    print(f"wrote {len(image_bytes)} images with {sum(map(len, boxes.values()))} people to {directory}")


if __name__ == "__main__":
    main()

"""The dataset card (``README.md``) of an EHPS dataset directory: Hub YAML ``configs:`` + a documented body.

The card is rebuilt from what is on disk — the complete splits under ``data/`` and the run records under
``.conversion/`` — so converting another split into the same directory, or resuming, always leaves a card
that lists every split. The body embeds the schema table (``schema.field_table_markdown``) and, per split,
the source and what was not converted or skipped.

``DATASET_CARD_TEMPLATE`` is the template every EHPS dataset card follows; fill the placeholders in braces::

    >>> print(render_dataset_card_body(title="AGORA", splits_table="| split | rows |", provenance="..."))  # doctest: +SKIP
"""

import json
import os
from pathlib import Path

from huggingface_hub import DatasetCardData

from .schema import KEYPOINT_CONVENTION, SCHEMA_VERSION, field_table_markdown
from .sharding import DATA_DIR, STATE_DIR, completed_splits, read_split_records


DATASET_CARD_TEMPLATE = """\
# {title}

Expressive human pose and shape (EHPS) annotations — SMPL-X parameters, 2D/3D keypoints, boxes and cameras —
with their images, one row per person, in the **EHPS schema {schema_version}** of
`smplest_hf` (`hub_datasets.schema`). Converted with `python -m hub_datasets`.

## Use

```python
from datasets import load_dataset
dataset = load_dataset("<this repo or directory>", split="train")            # or streaming=True
# or, with the schema checked and split across distributed ranks:
from hub_datasets import load_ehps_dataset
dataset = load_ehps_dataset("<this repo or directory>", split="train", streaming=True, rank=0, world_size=8)
```

## Splits

{splits_table}

## Source and conversion

{provenance}

## Licence

The images and annotations keep the licence of the source dataset. Read it and set `license:` in this card's
YAML header before publishing; do not publish data whose licence does not allow redistribution.

## Schema

Missing annotations are explicit: each optional field has a `*_valid` flag, and values under a false flag are
zeros (or empty lists) with no meaning. Keypoints use the `{keypoint_convention}` convention: the 144 joints
`smplx` returns with the face contour, in its order; `hub_datasets.schema.to_supervision_keypoints` selects
the 137 joints SMPLest-X trains on.

{field_table}
"""


def render_dataset_card_body(*, title: str, splits_table: str, provenance: str) -> str:
    """The card body (Markdown below the YAML header) for a dataset."""
    return DATASET_CARD_TEMPLATE.format(
        title=title,
        schema_version=SCHEMA_VERSION,
        splits_table=splits_table,
        provenance=provenance,
        keypoint_convention=KEYPOINT_CONVENTION,
        field_table=field_table_markdown(),
    )


def _split_provenance(split: str, settings: dict, skipped: list) -> str:
    lines = [f"**{split}** — dataset `{settings.get('dataset_name')}`"]
    if settings.get("kind") == "humandata":
        report = settings.get("humandata", {})
        lines[0] += f", from HumanData file `{settings.get('source_file')}`."
        for name in ("keypoints_2d", "keypoints_3d"):
            used = report.get(name)
            lines.append(
                f"- `{name}` from `{used['key']}`" + (f" (mask `{used['mask']}`)" if used.get("mask") else " (no mask)")
                if used
                else f"- `{name}`: none in the source (`{name}_valid` is false)."
            )
        lines.append(f"- hand poses relative to the {'flat' if report.get('flat_hand_mean') else 'mean'} hand.")
        for key, what in (
            ("not_converted", "HumanData keys not converted"),
            ("meta_not_converted", "`meta` fields not converted"),
            ("dropped_unknown", "unknown keys dropped"),
        ):
            if report.get(key):
                lines.append(f"- {what}: {', '.join(f'`{k}`' for k in report[key])}.")
    else:
        lines[0] += "."
        lines += [
            f"- {key}: `{value}`" for key, value in sorted(settings.items()) if key not in ("num_shards", "num_samples")
        ]
    if skipped:
        lines.append(
            f"- {len(skipped)} samples skipped, e.g. sample {skipped[0]['source_index']}: {skipped[0]['reason']}."
        )
    return "\n".join(lines)


def write_dataset_card(out_dir, *, pretty_name: str = None, tags=()) -> Path:
    """(Re)write ``out_dir/README.md`` for every complete split in ``out_dir/data``; returns its path."""
    out_dir = Path(out_dir)
    splits = completed_splits(out_dir)
    if not splits:
        raise ValueError(f"{out_dir / DATA_DIR} holds no complete split (data/<split>-NNNNN-of-NNNNN.parquet).")
    table = ["| split | rows | shards | skipped |", "|---|---|---|---|"]
    provenance, names = [], []
    for split in sorted(splits, key=lambda s: (s != "train", s)):
        records = read_split_records(out_dir, split, splits[split])
        settings_path = out_dir / STATE_DIR / f"{split}.json"
        settings = json.loads(settings_path.read_text()) if settings_path.is_file() else {}
        skipped = [item for record in records for item in record["skipped"]]
        rows = sum(record["num_rows"] or 0 for record in records)
        table.append(f"| {split} | {rows} | {splits[split]} | {len(skipped)} |")
        provenance.append(_split_provenance(split, settings, skipped))
        if settings.get("dataset_name") and settings["dataset_name"] not in names:
            names.append(settings["dataset_name"])
    title = pretty_name or (", ".join(names) if names else out_dir.name)
    card_data = DatasetCardData(
        pretty_name=title,
        tags=["smpl-x", "human-mesh-recovery", "ehps", "3d-human-pose", *tags],
        configs=[{
            "config_name": "default",
            "data_files": [{"split": split, "path": f"{DATA_DIR}/{split}-*"} for split in sorted(splits)],
        }],
    )  # fmt: skip
    body = render_dataset_card_body(title=title, splits_table="\n".join(table), provenance="\n\n".join(provenance))
    path = out_dir / "README.md"
    tmp = out_dir / STATE_DIR / f"README.md.{os.getpid()}.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(f"---\n{card_data.to_yaml()}\n---\n\n{body}")
    os.replace(tmp, path)
    return path


__all__ = ["DATASET_CARD_TEMPLATE", "render_dataset_card_body", "write_dataset_card"]

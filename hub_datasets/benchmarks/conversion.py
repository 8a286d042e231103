"""The one driver of every benchmark format: official files -> EHPS dataset, and synthetic stand-ins.

``convert_benchmark("ehf", "EHF/data", "hub/ehf")`` checks that every file the format needs is there (one error
naming all missing ones, before any work), reads the rows (``BenchmarkFormat.read_rows``), and writes them in the
registry's split as a sharded EHPS dataset — ``EHPS_FEATURES`` plus the format's ground-truth columns — with the
shared writer (``hub_datasets.sharding.write_shards``: resumable, each shard whole or absent) and a dataset card.

The card records where the rows came from, in its YAML header under ``ehps_benchmark`` (see
``hub_datasets.card.BENCHMARK_CARD_KEY``), one entry per split::

    ehps_benchmark:
      test: {name: ehf, title: EHF, split: test, num_rows: 100, source: official release, release: "..."}

``source`` is ``"official release"``, or ``"synthetic stand-in"`` when the source folder holds the marker file
(``STAND_IN_MARKER``) that ``synthesize_benchmark`` leaves: an evaluator reads this entry to decide whether a
result may be reported under the benchmark's name.

``synthesize_benchmark("ehf", "stand_ins/ehf", num_samples=4, seed=0)`` writes a small synthetic copy of a
benchmark in its official layout (``BenchmarkFormat.write_stand_in``, with the cached synthetic body model by
default), all or nothing: it is built in a temporary folder beside ``out_dir`` and renamed into place.

The source is read twice: once to count the rows and check each one (a bad file anywhere stops the run before a
shard is written), once to write them; at most one shard's rows are held in memory.

Formats fill a row from ``ehps_row_defaults()`` (every annotation absent) with what their files give; the
identity columns (``sample_id``, ``dataset_name``, ``source_index``) are the driver's: the benchmark's name and
the row's position in the format's reading order.
"""

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
from datasets import Features

from smplest_hf.evaluation.benchmarks import OFFICIAL_RELEASE_SOURCE as OFFICIAL_RELEASE

from ..card import BENCHMARK_CARD_KEY, STAND_IN_SOURCE as SYNTHETIC_STAND_IN, write_dataset_card
from ..schema import EHPS_FEATURES, NUM_KEYPOINTS, SMPLX_PARAMETER_SHAPES
from ..sharding import ShardRows, number_of_shards, shard_bounds, write_shards
from . import get_format
from .format import BenchmarkFormat


STAND_IN_MARKER = "SYNTHETIC_STAND_IN.json"
"""Written by ``synthesize_benchmark`` into every stand-in: conversion records such a source as synthetic."""
DEFAULT_SHARD_SIZE = 1000  # rows per shard
DEFAULT_STAND_IN_SAMPLES = 8
_MAX_NAMED_MISSING = 20  # a whole missing image tree is named by its folders; beyond this, counted
IDENTITY_COLUMNS = ("sample_id", "dataset_name", "source_index")


class BenchmarkSourceError(ValueError):
    """A benchmark folder lacks files, or holds a file the format refuses; the message names them."""


@dataclass
class BenchmarkConversionReport:
    """What ``convert_benchmark`` wrote."""

    out_dir: Path
    name: str
    split: str
    num_rows: int
    num_shards: int
    shards_written: int
    shards_reused: int
    source_kind: str  # OFFICIAL_RELEASE or SYNTHETIC_STAND_IN


def ehps_row_defaults() -> dict:
    """Every EHPS column but the identity and image ones, as "not annotated": false flags, zeros, empty lists,
    ``gender`` neutral. A format updates it with what its files give."""
    row = {name: False for name in EHPS_FEATURES if name.endswith("_valid")}
    row.update({name: np.zeros(shape, np.float32) for name, shape in SMPLX_PARAMETER_SHAPES.items()})
    row.update({f"{part}_bbox_xywh": np.zeros(4, np.float32) for part in ("lhand", "rhand", "face")})
    row.update({name: np.zeros(0, np.float32) for name in ("smplx_betas", "smplx_betas_neutral", "smplx_expression")})
    row.update(
        gender="neutral",
        smplx_flat_hand_mean=False,
        smplx_num_betas=0,
        smplx_num_expression=0,
        keypoints_2d=np.zeros((NUM_KEYPOINTS, 3), np.float32),
        keypoints_3d=np.zeros((NUM_KEYPOINTS, 4), np.float32),
        focal_length=np.zeros(2, np.float32),
        principal_point=np.zeros(2, np.float32),
        camera_rotation=np.zeros((3, 3), np.float32),
        camera_translation=np.zeros(3, np.float32),
    )
    return row


def source_kind(source_dir) -> str:
    """``SYNTHETIC_STAND_IN`` if ``source_dir`` holds the stand-in marker, else ``OFFICIAL_RELEASE``."""
    return SYNTHETIC_STAND_IN if (Path(source_dir) / STAND_IN_MARKER).is_file() else OFFICIAL_RELEASE


def check_source(benchmark_format: BenchmarkFormat, source_dir) -> Path:
    """``source_dir`` as a Path if it holds every file ``benchmark_format`` needs; else one
    ``BenchmarkSourceError`` naming every missing file and the release they come from."""
    source = Path(source_dir)
    where = f"{benchmark_format.title} folder {str(source)!r}"
    if not source.is_dir():
        raise BenchmarkSourceError(f"{where} does not exist or is not a directory. Get it from {benchmark_format.release}")
    missing = [path for path in benchmark_format.required_files(source) if not (source / path).exists()]
    if missing:
        named = ", ".join(missing[:_MAX_NAMED_MISSING])
        more = f" and {len(missing) - _MAX_NAMED_MISSING} more" if len(missing) > _MAX_NAMED_MISSING else ""
        raise BenchmarkSourceError(
            f"{where} lacks {len(missing)} file(s) the conversion reads: {named}{more}. They come from "
            f"{benchmark_format.release}"
        )
    return source


def _complete_rows(benchmark_format: BenchmarkFormat, source: Path, features: Features):
    """The format's rows with the identity columns filled in; a row lacking a column is refused by name."""
    expected = [name for name in features if name not in IDENTITY_COLUMNS]
    for index, row in enumerate(benchmark_format.read_rows(source)):
        missing = [name for name in expected if name not in row]
        if missing:
            raise BenchmarkSourceError(
                f"{benchmark_format.name} format: row {index} of {str(source)!r} lacks the column(s) {missing}."
            )
        yield {
            **{name: row[name] for name in expected},
            "sample_id": f"{benchmark_format.name}/{benchmark_format.split}/{index:08d}",
            "dataset_name": benchmark_format.name,
            "source_index": index,
        }


def _rows_to_columns(rows: list) -> ShardRows:
    """``write_shards`` worker: a shard's rows (dicts) as columns."""
    return ShardRows(columns={name: [row[name] for row in rows] for name in rows[0]})


class _RowFeed:
    """Hands out consecutive shards of one pass over the rows; shards a resumed run already has are skipped over."""

    def __init__(self, rows, num_rows: int, num_shards: int):
        self.rows, self.position = rows, 0
        self.num_rows, self.num_shards = num_rows, num_shards

    def shard(self, index: int) -> list:
        start, stop = shard_bounds(self.num_rows, self.num_shards, index)
        if start < self.position:
            raise RuntimeError(f"shard {index} asked for after a later one")  # write_shards goes in order
        for _ in islice(self.rows, start - self.position):
            pass
        self.position = stop
        return list(islice(self.rows, stop - start))


def convert_benchmark(name: str, source_dir, out_dir, *, shard_size: int = DEFAULT_SHARD_SIZE) -> BenchmarkConversionReport:
    """Convert benchmark `name`'s official files in `source_dir` into an EHPS dataset in `out_dir`.

    Args:
        name: the evaluation registry's name (``"ehf"``, ``"3dpw"``, ``"agora_val"``, ``"ubody"``,
            ``"egobody_egoset"``).
        source_dir: the folder as the original evaluation reads it (see the format's ``release``).
        out_dir: the dataset directory (``data/`` shards and ``README.md``); other splits there are kept, and a
            rerun of the same conversion resumes.
        shard_size: rows per shard.

    Raises ``BenchmarkSourceError`` (a ``ValueError``) naming missing or malformed files before a shard is written.
    """
    benchmark_format = get_format(name)
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer (rows per shard), got {shard_size!r}.")
    source = check_source(benchmark_format, source_dir)
    kind = source_kind(source)
    features = Features({**EHPS_FEATURES, **benchmark_format.extra_features})
    num_rows = sum(1 for _ in _complete_rows(benchmark_format, source, features))
    if num_rows == 0:
        raise BenchmarkSourceError(f"{benchmark_format.title} folder {str(source)!r} holds no annotated person.")
    num_shards = number_of_shards(num_rows, shard_size=shard_size)
    feed = _RowFeed(_complete_rows(benchmark_format, source, features), num_rows, num_shards)
    provenance = {
        "name": benchmark_format.name,
        "title": benchmark_format.title,
        "split": benchmark_format.split,
        "num_rows": num_rows,
        "source": kind,
        "release": benchmark_format.release,
    }
    if kind == SYNTHETIC_STAND_IN:
        provenance["stand_in"] = json.loads((source / STAND_IN_MARKER).read_text())
    settings = {"kind": "benchmark", "dataset_name": benchmark_format.name, "source_dir": str(source.resolve()),
                BENCHMARK_CARD_KEY: provenance}  # fmt: skip
    summary = write_shards(
        out_dir, benchmark_format.split, num_shards, feed.shard, _rows_to_columns, features,
        num_samples=num_rows, settings=settings, description=f"Converting {benchmark_format.title}",
    )  # fmt: skip
    write_dataset_card(out_dir, pretty_name=benchmark_format.title)
    return BenchmarkConversionReport(
        out_dir=Path(out_dir), name=benchmark_format.name, split=benchmark_format.split, num_rows=summary.num_rows,
        num_shards=num_shards, shards_written=summary.shards_written, shards_reused=summary.shards_reused,
        source_kind=kind,
    )  # fmt: skip


def synthesize_benchmark(name: str, out_dir, num_samples: int = DEFAULT_STAND_IN_SAMPLES, seed: int = 0, body_model_dir=None) -> Path:
    """Write a synthetic stand-in of benchmark `name` in its official layout into `out_dir`; returns its path.

    Args:
        num_samples: frames (images) to render; the format says how many people each holds.
        seed: same seed, same files.
        body_model_dir: the folder with ``smplx/`` (and ``smpl/``) body models; default: the synthetic body
            model cached by ``hub_datasets.synthetic.default_body_model_dir``.

    `out_dir` must not exist, or be empty: the stand-in is built in a temporary folder beside it and renamed into
    place, so it is whole or absent. It holds ``STAND_IN_MARKER``, which conversion records.
    """
    from ..synthetic import default_body_model_dir

    benchmark_format = get_format(name)
    for what, value, smallest in (("num_samples", num_samples, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
            raise ValueError(f"{what} must be an integer of at least {smallest}, got {value!r}.")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{str(out)!r} already exists and is not an empty folder; choose a new output folder.")
    default_model = body_model_dir is None
    body_model_dir = default_body_model_dir() if default_model else Path(body_model_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp's folder is private to its owner; the stand-in is an ordinary folder
    try:
        benchmark_format.write_stand_in(staging, int(num_samples), int(seed), body_model_dir)
        marker = {
            "benchmark": benchmark_format.name,
            "title": benchmark_format.title,
            "num_samples": int(num_samples),
            "seed": int(seed),
            "body_model": "synthetic (smplest_hf.synthetic, seed 0)" if default_model else str(body_model_dir.resolve()),
            "note": "Synthetic people rendered by smplest_hf, not the licensed benchmark: no result on it is the benchmark's.",
        }
        (staging / STAND_IN_MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        os.replace(staging, out)  # onto nothing or an empty folder: atomic
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


__all__ = [
    "BenchmarkConversionReport",
    "BenchmarkSourceError",
    "DEFAULT_SHARD_SIZE",
    "DEFAULT_STAND_IN_SAMPLES",
    "OFFICIAL_RELEASE",
    "STAND_IN_MARKER",
    "SYNTHETIC_STAND_IN",
    "check_source",
    "convert_benchmark",
    "ehps_row_defaults",
    "source_kind",
    "synthesize_benchmark",
]

"""Sharded Parquet in the Hub layout, written in parallel, resumably and atomically.

Layout of a dataset directory (the same as a Hub dataset repo, so it loads with ``datasets.load_dataset(dir)``
and uploads as is)::

    OUT_DIR/README.md                                   dataset card with the `configs:` YAML
    OUT_DIR/data/{split}-{i:05d}-of-{n:05d}.parquet     the shards
    OUT_DIR/.conversion/{split}.json                    run settings (checked on resume; never uploaded)
    OUT_DIR/.conversion/{split}-{i:05d}-of-{n:05d}.json per-shard record: rows written, samples skipped
    OUT_DIR/.conversion/tmp/                            shards being written

A shard is written to ``.conversion/tmp`` and renamed into ``data/`` only when complete, so a shard file that
exists is whole; a rerun keeps the finished shards and writes only the missing ones. The record is renamed into
place before its shard, so every finished shard has one.

What a failed run (an error such as a bad sample or a full disk, or an interruption: Ctrl-C, SIGTERM) leaves:

* when it finished no shard, nothing: the settings and records it wrote and the folders it created (``data/``,
  ``.conversion/``, the output directory itself) are removed, so the directory is as it was before;
* when it finished shards, those shards and the ``.conversion/`` state that lets the same command resume them
  (hours of work on a large source); temporary files go. The error says so (a note on the exception, which
  ``python -m hub_datasets`` prints on the same line).

Any converter uses ``write_shards`` with two functions: ``make_payload(shard_index)`` runs in the calling process
and returns what one shard needs (small and picklable: annotations, paths), ``build_rows(payload)`` runs in a
worker process and returns the shard's columns. Example::

    >>> def make_payload(index):
    ...     return list(range(index * 10, index * 10 + 10))
    >>> def build_rows(payload):
    ...     return ShardRows(columns={"x": payload})
    >>> summary = write_shards("out", "train", 3, make_payload, build_rows, Features({"x": Value("int64")}),
    ...                        num_samples=30)  # doctest: +SKIP
"""

import contextlib
import json
import os
import re
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Optional

from datasets import config as datasets_config
from datasets.arrow_writer import ParquetWriter
from tqdm.auto import tqdm

from smplest_hf.export.atomic import PendingFile, write_bytes_atomic, write_json_atomic


DATA_DIR = "data"
STATE_DIR = ".conversion"
TMP_DIR = "tmp"  # in STATE_DIR: shards being written (`data/` only ever holds whole shards)
_SHARD_NAME = re.compile(r"^(?P<split>[A-Za-z0-9_.]+?)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_ROWS_PER_ROW_GROUP = datasets_config.PARQUET_ROW_GROUP_SIZE_FOR_IMAGE_DATASETS  # rows hold whole images


class ShardingError(ValueError):
    """The output directory or the sharding settings do not fit the requested run."""


@dataclass
class ShardRows:
    """What ``build_rows`` returns for one shard: its columns and the samples it left out (with reasons)."""

    columns: dict
    skipped: list = field(default_factory=list)  # [{"source_index": int, "reason": str, ...}]

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


@dataclass
class ShardRunSummary:
    """The state of one split after ``write_shards``."""

    out_dir: Path
    split: str
    num_shards: int
    num_rows: int
    skipped: list
    shards_written: int
    shards_reused: int


def shard_file_name(split: str, index: int, num_shards: int) -> str:
    """``train-00003-of-00010.parquet`` — the name ``push_to_hub`` gives shard 3 of 10."""
    return f"{split}-{index:05d}-of-{num_shards:05d}.parquet"


def check_split_name(split: str) -> str:
    if not _SPLIT_NAME.match(split):
        raise ShardingError(f"split name {split!r} must be letters, digits and underscores (e.g. 'train').")
    return split


def number_of_shards(num_samples: int, shard_size: Optional[int] = None, num_shards: Optional[int] = None) -> int:
    """Shards for ``num_samples`` rows: from ``num_shards`` or from at most ``shard_size`` rows per shard."""
    if (shard_size is None) == (num_shards is None):
        raise ShardingError("give exactly one of shard_size and num_shards.")
    if num_shards is not None:
        if num_shards < 1:
            raise ShardingError(f"num_shards must be at least 1, got {num_shards}.")
        return min(num_shards, max(num_samples, 1))
    if shard_size < 1:
        raise ShardingError(f"shard_size must be at least 1, got {shard_size}.")
    return max(1, -(-num_samples // shard_size))


def shard_bounds(num_samples: int, num_shards: int, index: int) -> tuple:
    """[start, stop) of shard ``index``: contiguous ranges whose sizes differ by at most one."""
    return index * num_samples // num_shards, (index + 1) * num_samples // num_shards


def completed_splits(out_dir) -> dict:
    """{split: number of shards} for every split whose shards are all present in ``out_dir/data``."""
    found = {}
    data_dir = Path(out_dir) / DATA_DIR
    for path in data_dir.glob("*.parquet") if data_dir.is_dir() else ():
        match = _SHARD_NAME.match(path.name)
        if match:
            found.setdefault((match["split"], int(match["count"])), set()).add(int(match["index"]))
    return {split: count for (split, count), indices in found.items() if len(indices) == count}


def read_split_records(out_dir, split: str, num_shards: int) -> list:
    """The per-shard records (``{"num_rows", "skipped"}``) of a complete split, in shard order."""
    state_dir = Path(out_dir) / STATE_DIR
    records = []
    for index in range(num_shards):
        path = state_dir / (shard_file_name(split, index, num_shards)[: -len(".parquet")] + ".json")
        records.append(json.loads(path.read_text()) if path.is_file() else {"num_rows": None, "skipped": []})
    return records


def _build_and_write_shard(build_rows, payload, features, out_dir: str, split: str, index: int, num_shards: int):
    """Worker side: build one shard's rows, write them to a temp file, move record and shard into place."""
    out_dir = Path(out_dir)
    rows = build_rows(payload)
    name = shard_file_name(split, index, num_shards)
    with PendingFile(out_dir / DATA_DIR / name, folder=out_dir / STATE_DIR / TMP_DIR) as shard:
        # datasets' own Parquet writer: the same Arrow types, `huggingface` schema metadata (so Array2D and
        # Image come back on load), row-group size and content-defined chunking as `push_to_hub` writes.
        writer = ParquetWriter(features=features, path=str(shard.temporary), writer_batch_size=_ROWS_PER_ROW_GROUP)
        try:
            writer.write_batch(rows.columns)
            writer.finalize()
        finally:
            writer.close()
        record = {"num_rows": rows.num_rows, "skipped": rows.skipped}
        write_json_atomic(out_dir / STATE_DIR / (name[: -len(".parquet")] + ".json"), record, indent=1, sort_keys=True)
    return index, rows.num_rows, rows.skipped


def _worker_context():
    """fork on Linux, as ``datasets.map(num_proc=...)`` does: a spawned worker would re-import torch and
    transformers (through smplest_hf) for seconds before its first shard. Workers only run numpy, PIL and Arrow
    (which re-creates its thread pool after a fork). Elsewhere fork is unsafe or missing: spawn."""
    return get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _prepare_directory(out_dir: Path, split: str, num_shards: int, settings: dict) -> set:
    """Create the layout, check a previous run used the same settings, and return the finished shard indices."""
    (out_dir / DATA_DIR).mkdir(parents=True, exist_ok=True)
    state_dir, tmp_dir = out_dir / STATE_DIR, out_dir / STATE_DIR / TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    for leftover in [*tmp_dir.glob("*.tmp"), *state_dir.glob(".*.tmp")]:  # of a killed run: never renamed, never whole
        if leftover.name.lstrip(".").startswith((f"{split}-", f"{split}.")):
            leftover.unlink()

    done, foreign = set(), []
    for path in (out_dir / DATA_DIR).glob(f"{split}-*.parquet"):
        match = _SHARD_NAME.match(path.name)
        if match and match["split"] == split and int(match["count"]) == num_shards:
            done.add(int(match["index"]))
        elif match and match["split"] == split:
            foreign.append(path.name)
    settings_path = state_dir / f"{split}.json"
    previous = json.loads(settings_path.read_text()) if settings_path.is_file() else None
    if (done or foreign) and previous is not None and previous != settings:
        changed = sorted(key for key in set(previous) | set(settings) if previous.get(key) != settings.get(key))
        details = ", ".join(f"{key}: {previous.get(key)!r} -> {settings.get(key)!r}" for key in changed)
        raise ShardingError(
            f"{out_dir} already holds split {split!r} written with other settings ({details}). "
            f"Rerun with the same settings to resume, or use a new output directory."
        )
    if foreign:
        raise ShardingError(
            f"{out_dir / DATA_DIR} holds shards of split {split!r} from a run with another shard count "
            f"({foreign[0]}, ...), this run writes {num_shards}. Delete them or use a new output directory."
        )
    write_json_atomic(settings_path, settings, indent=1, sort_keys=True)
    return done


def write_shards(
    out_dir,
    split: str,
    num_shards: int,
    make_payload: Callable[[int], Any],
    build_rows: Callable[[Any], ShardRows],
    features,
    *,
    num_samples: int,
    num_proc: int = 1,
    settings: Optional[dict] = None,
    payload_size: Optional[Callable[[Any], int]] = None,
    description: str = "Converting",
) -> ShardRunSummary:
    """Write ``num_shards`` shards of ``split`` into ``out_dir``, skipping shards that are already there.

    Args:
        make_payload: ``index -> payload``, called in this process only for shards still to write.
        build_rows: ``payload -> ShardRows``, called in a worker (a top-level function, picklable).
        features: the ``datasets.Features`` of every shard.
        num_samples: the samples over all shards (for the progress bar).
        num_proc: worker processes; 1 runs everything here.
        settings: what must match between a run and its resumption (source file, shard count, ...).
        payload_size: samples in a payload (progress); default ``len``.

    An exception in a shard stops the run: shards in flight finish or are discarded, nothing half-written stays.
    """
    out_dir = Path(out_dir)
    check_split_name(split)
    settings = dict(settings or {}, num_shards=num_shards, num_samples=num_samples)
    before = _RunFootprint(out_dir, split)
    try:
        return _write_shards(out_dir, split, num_shards, make_payload, build_rows, features, num_samples=num_samples,
                             num_proc=num_proc, settings=settings, payload_size=payload_size, description=description)  # fmt: skip
    except BaseException as error:
        finished = before.new_shards()
        if not finished:
            before.undo()
            raise
        before.remove_temporary_files()
        _add_note(error, f"{len(finished)} shard(s) finished by this run are kept in {out_dir}: the same command "
                         f"resumes (delete the folder to start over).")  # fmt: skip
        raise


def _add_note(error: BaseException, note: str) -> None:
    """``BaseException.add_note`` (Python 3.11), also on 3.10: the note is in ``error.__notes__``."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:
        error.__notes__ = [*getattr(error, "__notes__", []), note]


class _RunFootprint:
    """What a split's run finds in ``out_dir`` before it starts, so that a failed run can be undone."""

    def __init__(self, out_dir: Path, split: str):
        self.out_dir, self.split = out_dir, split
        self.folders = [out_dir, out_dir / DATA_DIR, out_dir / STATE_DIR, out_dir / STATE_DIR / TMP_DIR]
        self.existing_folders = {folder for folder in self.folders if folder.is_dir()}
        # Shards are never rewritten (a rerun skips finished ones): their names suffice. Records and settings are small.
        self.files = {path: None if path.suffix == ".parquet" else path.read_bytes() for path in self._split_files()}

    def _split_files(self) -> list:
        """This split's shards, records and settings (the files a run of it writes)."""
        data_dir, state_dir = self.out_dir / DATA_DIR, self.out_dir / STATE_DIR
        return [
            *(data_dir.glob(f"{self.split}-*.parquet") if data_dir.is_dir() else ()),
            *(state_dir.glob(f"{self.split}-*.json") if state_dir.is_dir() else ()),
            *([state_dir / f"{self.split}.json"] if (state_dir / f"{self.split}.json").is_file() else []),
        ]

    def new_shards(self) -> list:
        """The shards of the split written since this footprint was taken."""
        data_dir = self.out_dir / DATA_DIR
        return [path for path in data_dir.glob(f"{self.split}-*.parquet") if path not in self.files] if data_dir.is_dir() else []

    def remove_temporary_files(self) -> None:
        tmp_dir, state_dir = self.out_dir / STATE_DIR / TMP_DIR, self.out_dir / STATE_DIR
        for leftover in [*tmp_dir.glob(f".{self.split}-*.tmp"), *state_dir.glob(f".{self.split}*.tmp")]:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def undo(self) -> None:
        """Remove the files this run added, restore the ones it replaced, remove the folders it created."""
        self.remove_temporary_files()
        for path in self._split_files():
            if path not in self.files:
                path.unlink()
        for path, content in self.files.items():
            if content is not None and (not path.is_file() or path.read_bytes() != content):
                write_bytes_atomic(path, content)
        for folder in reversed(self.folders):
            if folder not in self.existing_folders:
                with contextlib.suppress(OSError):  # not empty: someone else wrote there meanwhile
                    os.rmdir(folder)


def _write_shards(out_dir: Path, split: str, num_shards: int, make_payload, build_rows, features, *, num_samples: int,
                  num_proc: int, settings: dict, payload_size, description: str) -> ShardRunSummary:  # fmt: skip
    done = _prepare_directory(out_dir, split, num_shards, settings)
    pending = [index for index in range(num_shards) if index not in done]
    records = read_split_records(out_dir, split, num_shards)
    done_samples = sum((records[i]["num_rows"] or 0) + len(records[i]["skipped"]) for i in done)
    payload_size = payload_size or len

    # No bar when stderr is not a terminal (logs, pipes, tests); on an error the bar is cleared, so the error is
    # the last line the user sees.
    progress = tqdm(total=num_samples, initial=done_samples, unit="sample", desc=f"{description} {split}", disable=None)
    args = (features, str(out_dir), split)
    try:
        if num_proc <= 1 or len(pending) <= 1:
            for index in pending:
                payload = make_payload(index)
                _build_and_write_shard(build_rows, payload, *args, index, num_shards)
                progress.update(payload_size(payload))
        else:
            with ProcessPoolExecutor(max_workers=num_proc, mp_context=_worker_context()) as executor:
                waiting = iter(pending)
                in_flight = {}
                try:
                    while True:
                        # Keep at most 2 shards per worker prepared, so big sources are not held twice in memory.
                        while len(in_flight) < 2 * num_proc:
                            index = next(waiting, None)
                            if index is None:
                                break
                            payload = make_payload(index)
                            future = executor.submit(
                                _build_and_write_shard, build_rows, payload, *args, index, num_shards
                            )
                            in_flight[future] = payload_size(payload)
                        if not in_flight:
                            break
                        finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                        for future in finished:
                            size = in_flight.pop(future)
                            future.result()  # re-raises the worker's error here
                            progress.update(size)
                except BaseException:
                    for future in in_flight:
                        future.cancel()
                    raise
    except BaseException:
        progress.leave = False
        raise
    finally:
        progress.close()

    records = read_split_records(out_dir, split, num_shards)
    return ShardRunSummary(
        out_dir=out_dir,
        split=split,
        num_shards=num_shards,
        num_rows=sum(record["num_rows"] or 0 for record in records),
        skipped=[item for record in records for item in record["skipped"]],
        shards_written=len(pending),
        shards_reused=len(done),
    )


__all__ = [
    "DATA_DIR",
    "STATE_DIR",
    "ShardRows",
    "ShardRunSummary",
    "ShardingError",
    "completed_splits",
    "number_of_shards",
    "read_split_records",
    "shard_bounds",
    "shard_file_name",
    "write_shards",
]

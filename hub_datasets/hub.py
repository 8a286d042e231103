"""Push an EHPS dataset directory to the Hub, and load one (map-style or streaming, split across ranks).

A converted directory already has the Hub repo's layout (``README.md`` with ``configs:`` + ``data/*.parquet``),
so pushing is one ``upload_folder`` of exactly those files, and loading a local directory and loading the
pushed repo go through the same ``datasets.load_dataset`` code::

    >>> push_dataset("hub/ubody", "my-org/ubody-ehps", private=True)                      # doctest: +SKIP
    >>> train = load_ehps_dataset("my-org/ubody-ehps", split="train", streaming=True,
    ...                           rank=accelerator.process_index, world_size=accelerator.num_processes)  # doctest: +SKIP

Distributed reading: ``rank``/``world_size`` apply ``datasets.distributed.split_dataset_by_node`` (map-style: a
contiguous block of rows per rank; streaming: whole shards per rank when the shard count divides by the world
size, else every ``world_size``-th example). Within a rank, a ``torch.utils.data.DataLoader`` spreads a
streaming dataset's shards over its workers (write at least ranks x workers shards) and a map-style
dataset's indices through its sampler; every sample is seen by exactly one (rank, worker).
"""

from pathlib import Path
from typing import Optional

import datasets
from datasets import Image
from datasets.distributed import split_dataset_by_node
from huggingface_hub import HfApi

from .card import write_dataset_card
from .schema import check_features
from .sharding import DATA_DIR, STATE_DIR, completed_splits


PUSHED_FILES = ["README.md", f"{DATA_DIR}/*.parquet"]
"""What ``push_dataset`` uploads; run records in ``.conversion/`` stay local."""


def _check_dataset_directory(dataset_dir: Path) -> dict:
    if not dataset_dir.is_dir():
        raise FileNotFoundError(f"{str(dataset_dir)!r} is not a directory.")
    splits = completed_splits(dataset_dir)
    shards = sorted((dataset_dir / DATA_DIR).glob("*.parquet")) if (dataset_dir / DATA_DIR).is_dir() else []
    complete = {f"{split}-{i:05d}-of-{count:05d}.parquet" for split, count in splits.items() for i in range(count)}
    incomplete = sorted(path.name for path in shards if path.name not in complete)
    if incomplete:
        raise ValueError(
            f"{str(dataset_dir / DATA_DIR)!r} has shards of an unfinished or other run ({', '.join(incomplete[:3])}"
            f"{', ...' if len(incomplete) > 3 else ''}); finish the conversion (rerun it) or delete them before pushing."
        )
    if not splits:
        raise ValueError(
            f"{str(dataset_dir)!r} holds no complete split: expected {DATA_DIR}/<split>-NNNNN-of-NNNNN.parquet "
            f"(convert with `python -m hub_datasets convert-humandata ...` first)."
        )
    return splits


def push_dataset(
    dataset_dir,
    repo_id: str,
    *,
    private: Optional[bool] = None,
    token: Optional[str] = None,
    revision: Optional[str] = None,
    commit_message: Optional[str] = None,
    create_pr: bool = False,
    api: Optional[HfApi] = None,
):
    """Upload a converted dataset directory to the Hub dataset repo ``repo_id`` (created if needed).

    The card is refreshed first; only ``README.md`` and the shards of complete splits are uploaded, and shards
    left on the Hub by an earlier push (e.g. with another shard count) are deleted in the same commit, so the
    repo's ``data/<split>-*`` patterns never mix two conversions. Returns the ``CommitInfo``.

    ``api`` is the ``huggingface_hub.HfApi`` to use (default: a new one, with ``token``).
    """
    dataset_dir = Path(dataset_dir)
    splits = _check_dataset_directory(dataset_dir)
    write_dataset_card(dataset_dir)
    api = api or HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token)
    return api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(dataset_dir),
        allow_patterns=PUSHED_FILES,
        ignore_patterns=[f"{STATE_DIR}/*"],
        delete_patterns=[f"{DATA_DIR}/*.parquet"],
        commit_message=commit_message
        or f"Upload EHPS dataset ({', '.join(f'{s}: {n} shards' for s, n in sorted(splits.items()))})",
        revision=revision,
        create_pr=create_pr,
        token=token,
    )


def load_ehps_dataset(
    path_or_repo,
    split: str = "train",
    *,
    streaming: bool = False,
    rank: Optional[int] = None,
    world_size: Optional[int] = None,
    decode_images: bool = True,
    **load_kwargs,
):
    """``datasets.load_dataset`` of an EHPS dataset (a Hub repo id or a local directory in the Hub layout).

    Args:
        split: the split to load (one split: mixing and transforms work per split).
        streaming: return an ``IterableDataset`` that reads the shards lazily.
        rank, world_size: give both to keep only this rank's part (``split_dataset_by_node``).
        decode_images: ``False`` keeps ``image`` as ``{"bytes", "path"}`` so a transform decodes it once itself.
        load_kwargs: passed to ``datasets.load_dataset`` (``revision``, ``cache_dir``, ``token``, ...).

    Raises ``ValueError`` when the data is not in the EHPS schema (naming the columns that differ).
    """
    if (rank is None) != (world_size is None):
        raise ValueError("give both rank and world_size, or neither.")
    if world_size is not None and not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}.")
    local_directory = Path(path_or_repo).expanduser()
    if local_directory.is_dir():
        # A local directory is read through its shard files: `load_dataset(directory)` caches by the directory's
        # *name*, so a regenerated or different dataset in a same-named folder would load stale cached rows.
        # With explicit data files the cache key includes each file's path and modification time.
        shards = sorted((local_directory / "data").glob(f"{split}-*.parquet"))
        if not shards:
            raise ValueError(
                f"{str(local_directory)!r} has no shards of split {split!r} (expected data/{split}-NNNNN-of-NNNNN.parquet); "
                "is it a converted EHPS dataset directory?"
            )
        dataset = datasets.load_dataset(
            "parquet", data_files={split: [str(shard.resolve()) for shard in shards]}, split=split, streaming=streaming,
            **load_kwargs,
        )  # fmt: skip
    else:
        dataset = datasets.load_dataset(str(path_or_repo), split=split, streaming=streaming, **load_kwargs)
    check_features(dataset.features, f"{str(path_or_repo)!r} split {split!r}")
    if not decode_images:
        dataset = dataset.cast_column("image", Image(decode=False))
    if world_size is not None:
        dataset = split_dataset_by_node(dataset, rank=rank, world_size=world_size)
    return dataset


__all__ = ["PUSHED_FILES", "load_ehps_dataset", "push_dataset"]

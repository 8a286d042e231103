"""The contract between a benchmark's official files and the EHPS schema: one `BenchmarkFormat` per benchmark.

A format knows three things about one test set of the papers' MPE (names as in
`smplest_hf.evaluation.benchmarks`): which files of the official release the conversion needs (checked, all at
once, before any work), how to read them into EHPS rows plus the ground-truth columns the evaluator scores against,
and how to write a small synthetic stand-in *in the official layout* so that the whole path — official format ->
`python -m hub_datasets convert-benchmark` -> `smplest-x evaluate` — runs without the licensed data.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class BenchmarkFormat:
    """One benchmark's official file format.

    Attributes:
        name: the evaluation registry's key (``"ehf"``, ``"3dpw"``, ``"agora_val"``, ``"ubody"``,
            ``"egobody_egoset"``); ``title``: display name.
        split: the split the conversion writes (the registry's split of that benchmark).
        release: one line naming what to download and from where, used in errors and the dataset card.
        required_files: ``SOURCE_DIR -> [relative path, ...]``: every file or folder the conversion reads that must
            exist; a missing one is named before any work starts.
        extra_features: ground-truth columns written beside ``EHPS_FEATURES`` (``datasets`` feature types), e.g.
            ``smplx_vertices`` (10475, 3) for EHF and AGORA, the ``smpl_*`` parameters for 3DPW.
        read_rows: ``SOURCE_DIR -> iterator of row dicts`` (one person each: every EHPS column, images as
            ``{"bytes": ..., "path": ...}``, plus the ``extra_features`` columns). Raises ``ValueError`` naming the
            file and what is wrong (e.g. a ground-truth mesh with the wrong vertex count).
        write_stand_in: ``(OUT_DIR, num_samples, seed, body_model_dir) -> None``: a synthetic copy in the official
            layout (synthetic people rendered with the synthetic body models; never licensed data).
    """

    name: str
    title: str
    split: str
    release: str
    required_files: Callable[[Path], list[str]]
    read_rows: Callable[[Path], Iterator[dict]]
    write_stand_in: Callable[[Path, int, int, Path], None]
    extra_features: Mapping = field(default_factory=dict)

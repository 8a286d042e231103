"""Named evaluation benchmarks: where each test set lives, how its ground truth is built, what it reports.

Each benchmark the SMPLer-X / SMPLest-X papers evaluate on is one :class:`Benchmark`, written from the original
evaluators (``shared/reference/eval_protocol.md`` §2): the Hub dataset (EHPS schema, see ``hub_datasets``), the
metrics its original evaluator prints, its primary error, the ground-truth rule (body-model gender, betas
handling, or stored vertices), the crop's box ratio, the test subsampling and its quirks.

**MPE** (Mean Primary Error) is the unweighted mean of each benchmark's primary error; the papers' set is
:data:`PAPER_MPE_BENCHMARKS` (AGORA-val, EgoBody-EgoSet, UBody, 3DPW, EHF; MPJPE for 3DPW, PVE for the others).

**Datasets are placeholders.** The test sets are licensed, so no public Hub copy exists: every entry names a
placeholder repo id under :data:`PLACEHOLDER_NAMESPACE` (``placeholder=True``). Convert the data yourself
(``python -m hub_datasets convert-benchmark NAME SOURCE_DIR OUT_DIR`` for the papers' five, ``convert-humandata`` for HumanData files) and pass its directory or your private repo id, as
``"ubody=/data/ubody_ehps"`` on the command line or ``get_benchmark("ubody").with_dataset(path)`` in Python.

Register your own benchmark (e.g. a synthetic one) and it is evaluated like the built-in ones::

    >>> from smplest_hf.evaluation.benchmarks import Benchmark, get_benchmark, register_benchmark, unregister_benchmark
    >>> entry = register_benchmark(Benchmark(name="my_synthetic", title="My synthetic", dataset="data/my_synthetic",
    ...                                      primary_metric="pve_all", gender="per_sample"))
    >>> get_benchmark("my_synthetic=other/dir").dataset
    'other/dir'
    >>> get_benchmark("ubody").primary_metric, get_benchmark("3dpw").primary_metric
    ('pve_all', 'mpjpe_lsp14')
    >>> unregister_benchmark("my_synthetic")
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from .metrics import METRICS

PLACEHOLDER_NAMESPACE = "smplest-hf-placeholder"
"""Owner of the placeholder dataset repo ids: nothing is published there (the test sets are licensed)."""

HUMANDATA_BBOX_RATIO = 1.2 * 0.833
"""HumanData test sets: boxes are stored already padded, so the originals crop with ``bbox_ratio * 0.833``."""

PROVENANCE_CARD_KEY = "ehps_benchmark"
"""Dataset-card YAML key under which ``python -m hub_datasets convert-benchmark`` records, per split, what the rows
are: ``{name, title, split, num_rows, source, release}``. The evaluator reads it to decide whether a result may be
filed under the benchmark's name in a model card (see :func:`is_benchmark_test_split`)."""
OFFICIAL_RELEASE_SOURCE = "official release"
"""``source`` of rows converted from the benchmark's official files."""
STAND_IN_SOURCE = "synthetic stand-in"
"""``source`` of rows converted from a synthetic stand-in (``python -m hub_datasets synthesize-benchmark``)."""

GROUND_TRUTH_SOURCES = ("smplx_params", "smplx_vertices", "smpl_params")
GENDER_RULES = ("neutral", "per_sample")
BETAS_RULES = ("as_annotated", "clamped", "zero")
VISIBILITY_RULES = ("all", "in_image")

# Metric sets of the original evaluators (which rows they print), in their print order.
_VERTEX_METRICS = (
    "pve_all", "pa_pve_all", "pve_left_hand", "pve_right_hand", "pve_hands",
    "pa_pve_left_hand", "pa_pve_right_hand", "pa_pve_hands", "pve_face", "pa_pve_face",
)  # fmt: skip
SMPLER_X_METRICS = _VERTEX_METRICS + ("pa_mpjpe_j14", "pa_mpjpe_left_hand", "pa_mpjpe_right_hand", "pa_mpjpe_hands")
"""SMPLer-X ``HumanDataset.evaluate`` / ``EHF.evaluate``: 21-joint hand PA-MPJPE, hands = (L + R) / 2."""
SMPLEST_X_METRICS = _VERTEX_METRICS + (
    "mpjpe_j14", "pa_mpjpe_j14", "pa_mpjpe_left_hand_sx", "pa_mpjpe_right_hand_sx", "pa_mpjpe_hands_sx",
)  # fmt: skip
"""SMPLest-X ``HumanDataset.evaluate`` (SMPL-X ground truth), without its broken non-PA hand MPJPE."""
AGORA_METRICS = _VERTEX_METRICS
"""SMPLer-X ``AGORA.evaluate``: vertex errors only."""
UBODY_METRICS = (
    "pve_all",
    "pa_pve_all",
    "pve_hands",
    "pa_pve_hands",
    "pve_face",
    "pa_pve_face",
    "pa_mpjpe_j14",
    "pa_mpjpe_hands",
)
"""SMPLer-X ``UBody.evaluate``: hands only combined, no non-PA MPJPE."""
PW3D_METRICS = ("mpjpe_lsp14", "pa_mpjpe_lsp14")
"""SMPLer-X ``PW3D.evaluate``: LSP-14 joints of the predicted SMPL-X mesh against SMPL ground truth."""


@dataclass(frozen=True)
class Benchmark:
    """One evaluation benchmark.

    Attributes:
        name: registry key (lower case, e.g. ``"agora_val"``); ``title``: display name (``"AGORA-val"``).
        dataset: Hub dataset repo id or local directory in the EHPS schema (see ``hub_datasets``).
        split: the split evaluated; ``config``: the dataset config name (``None``: the default one).
        placeholder: ``dataset`` is a placeholder; evaluating needs ``with_dataset(...)`` first.
        metrics: metric names from :data:`smplest_hf.evaluation.metrics.METRICS`; ``primary_metric``: the one MPE uses.
        in_paper_mpe: one of the five benchmarks of the papers' MPE.
        ground_truth: ``"smplx_params"`` (SMPL-X parameters through the body model), ``"smplx_vertices"`` (a
            stored ``smplx_vertices`` (10475, 3) column, e.g. EHF's registered scans, AGORA's own meshes) or
            ``"smpl_params"`` (SMPL parameters ``smpl_global_orient`` (3,), ``smpl_body_pose`` (23, 3),
            ``smpl_betas`` (10,), ``smpl_transl`` (3,) through the SMPL body model of the ``gender`` rule: 3DPW).
        gender: ``"neutral"`` (SMPLer-X rebuilds every ground truth with the neutral model) or ``"per_sample"``
            (SMPLest-X: the sample's ``gender`` column). Either way ``smplx_betas_neutral``, when present, is used
            with the neutral model (it is a fit to it: the ``*_fix_betas`` test files).
        betas: ``"as_annotated"`` (SMPLest-X), ``"clamped"`` (SMPLer-X: all betas zero when any |beta| > 3) or
            ``"zero"`` (SMPLest-X's ARCTIC).
        bbox_ratio: enlargement of the annotated box for the crop (1.2, 1.25, or 0.9996 for HumanData).
        sample_interval: evaluate every k-th row of the split (the originals' ``*_test_sample_interval``).
        visibility: ``"all"``, or ``"in_image"`` (UBody: only ground-truth points that project into the image
            through the virtual crop camera are scored).
        source: the original evaluator reproduced; ``quirks``: what to know when comparing numbers.
    """

    name: str
    title: str
    dataset: str
    split: str = "test"
    config: str | None = None
    placeholder: bool = False
    metrics: tuple = SMPLER_X_METRICS
    primary_metric: str = "pve_all"
    in_paper_mpe: bool = False
    ground_truth: str = "smplx_params"
    gender: str = "neutral"
    betas: str = "as_annotated"
    bbox_ratio: float = 1.2
    sample_interval: int = 1
    visibility: str = "all"
    source: str = ""
    quirks: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "quirks", tuple(self.quirks))
        where = f"Benchmark {self.name!r}"
        if not self.name or self.name != self.name.strip() or "=" in self.name:
            raise ValueError(f"{where}: a name must be non-empty, without spaces around it and without '='.")
        unknown = [metric for metric in self.metrics if metric not in METRICS]
        if unknown or not self.metrics:
            raise ValueError(f"{where}: unknown metric(s) {unknown or '(none given)'}; known: {sorted(METRICS)}.")
        if self.primary_metric not in self.metrics:
            raise ValueError(
                f"{where}: primary_metric {self.primary_metric!r} is not among its metrics {list(self.metrics)}."
            )
        for field, allowed in (
            ("ground_truth", GROUND_TRUTH_SOURCES),
            ("gender", GENDER_RULES),
            ("betas", BETAS_RULES),
            ("visibility", VISIBILITY_RULES),
        ):
            if getattr(self, field) not in allowed:
                raise ValueError(f"{where}: {field} must be one of {allowed}, got {getattr(self, field)!r}.")
        # A metric compares with either an SMPL-X (10475) or an SMPL (6890) ground truth, never both.
        wants_smpl = {METRICS[metric].ground_truth == "smpl" for metric in self.metrics}
        if len(wants_smpl) > 1 or wants_smpl.pop() != (self.ground_truth == "smpl_params"):
            raise ValueError(
                f"{where}: ground_truth={self.ground_truth!r} does not fit its metrics {list(self.metrics)}: an SMPL "
                f"ground truth ('smpl_params') takes the SMPL metrics (e.g. {list(PW3D_METRICS)}) only, an SMPL-X "
                f"one only the others."
            )
        if self.ground_truth == "smpl_params" and self.visibility != "all":
            raise ValueError(f"{where}: the in-image rule is defined for SMPL-X ground truth only; use visibility='all'.")
        if not isinstance(self.sample_interval, int) or self.sample_interval < 1:
            raise ValueError(f"{where}: sample_interval must be a positive integer, got {self.sample_interval!r}.")
        if not self.bbox_ratio > 0:
            raise ValueError(f"{where}: bbox_ratio must be positive, got {self.bbox_ratio!r}.")

    def with_dataset(self, dataset: str, split: str | None = None, config: str | None = None) -> "Benchmark":
        """This benchmark read from another dataset (a local directory or a Hub repo id); no longer a placeholder."""
        if not str(dataset).strip():
            raise ValueError(f"Benchmark {self.name!r}: the dataset path or repo id is empty.")
        return dataclasses.replace(
            self, dataset=str(dataset), placeholder=False, split=split or self.split, config=config or self.config
        )


def is_benchmark_test_split(benchmark: Benchmark, provenance, num_rows: int) -> bool:
    """Whether a dataset whose card records `provenance` (its ``PROVENANCE_CARD_KEY`` entry for the evaluated split,
    a mapping or None) with `num_rows` rows in that split is `benchmark`'s own converted test split: converted by
    ``convert-benchmark`` from the official release, for this benchmark and split, and still whole."""
    if not isinstance(provenance, Mapping):
        return False
    return (
        provenance.get("name") == benchmark.name
        and provenance.get("split") == benchmark.split
        and provenance.get("source") == OFFICIAL_RELEASE_SOURCE
        and provenance.get("num_rows") == num_rows
    )


def _placeholder(name: str) -> str:
    return f"{PLACEHOLDER_NAMESPACE}/{name}"


_HUMANDATA_NOTE = "HumanData test file converted with `python -m hub_datasets convert-humandata`"

_BUILT_IN = (
    Benchmark(
        name="agora_val",
        title="AGORA-val",
        dataset=_placeholder("agora-val"),
        split="validation",
        placeholder=True,
        metrics=AGORA_METRICS,
        in_paper_mpe=True,
        ground_truth="smplx_vertices",
        bbox_ratio=1.0,
        source="SMPLer-X data/AGORA/AGORA.py (agora_benchmark='agora_model_val')",
        quirks=(
            "Ground truth is AGORA's own per-person mesh (gendered and kid models): store it as `smplx_vertices`.",
            (
                "The original crops the 4K pre-cropped person image as a whole (box [0, 0, w, h], no box processing); "
                "store that box and use bbox_ratio 1.0 (the box is still clipped to the image, one pixel narrower)."
            ),
            "Only annotations with is_valid; kids are kept (SMPLer-X).",
            "AGORA-test is scored by the AGORA server (NMVE/NMJE), not here.",
        ),
    ),
    Benchmark(
        name="egobody_egoset",
        title="EgoBody-EgoSet",
        dataset=_placeholder("egobody-egocentric-test"),
        placeholder=True,
        in_paper_mpe=True,
        betas="clamped",
        bbox_ratio=HUMANDATA_BBOX_RATIO,
        source="SMPLer-X data/EgoBody_Egocentric -> HumanDataset.evaluate",
        quirks=(
            f"egobody_egocentric_test_230425_043_fix_betas.npz ({_HUMANDATA_NOTE}); betas_neutral, neutral model.",
        ),
    ),
    Benchmark(
        name="ubody",
        title="UBody",
        dataset=_placeholder("ubody-intra-scene-test"),
        placeholder=True,
        metrics=UBODY_METRICS,
        in_paper_mpe=True,
        betas="clamped",
        bbox_ratio=1.25,
        visibility="in_image",
        source="SMPLer-X data/UBody/UBody.py",
        quirks=(
            (
                "Intra-scene test videos only, every 100th annotation counted over each scene's annotations before "
                "filtering: the split must already hold exactly the evaluated rows."
            ),
            (
                "Only ground-truth points that project into the image (ground-truth translation, virtual crop camera) "
                "are scored; a hand or the face with no visible point is skipped for that sample."
            ),
            "A hand with no annotation has a zero (mean) hand pose in the ground truth.",
        ),
    ),
    Benchmark(
        name="3dpw",
        title="3DPW-test",
        dataset=_placeholder("3dpw-test"),
        placeholder=True,
        metrics=PW3D_METRICS,
        primary_metric="mpjpe_lsp14",
        in_paper_mpe=True,
        ground_truth="smpl_params",
        gender="per_sample",
        source="SMPLer-X data/PW3D/PW3D.py",
        quirks=(
            (
                "Ground truth is the SMPL mesh (6890 vertices) of each person's gender from the `smpl_global_orient`, "
                "`smpl_body_pose`, `smpl_betas` (unclamped) and `smpl_transl` columns: the body-model folder needs "
                "`smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl` beside `smplx/`."
            ),
            (
                "LSP-14 joints of the predicted SMPL-X mesh (SMPL-X J_regressor) are compared with those the neutral "
                "SMPL J_regressor gives on the ground-truth mesh, after aligning the pelvises (SMPL-X row 0, SMPL row 0)."
            ),
        ),
    ),
    Benchmark(
        name="ehf",
        title="EHF",
        dataset=_placeholder("ehf"),
        placeholder=True,
        in_paper_mpe=True,
        ground_truth="smplx_vertices",
        source="SMPLer-X data/EHF/EHF.py",
        quirks=(
            (
                "Ground truth is the registered scan mesh (SMPL-X topology) rotated by EHF's camera rotation and not "
                "translated: store that as `smplx_vertices`."
            ),
            "All 100 frames, box ratio 1.2 (not the HumanData 0.9996).",
        ),
    ),
    Benchmark(
        name="egobody_kinect",
        title="EgoBody-Kinect",
        dataset=_placeholder("egobody-kinect-test"),
        placeholder=True,
        betas="clamped",
        bbox_ratio=HUMANDATA_BBOX_RATIO,
        source="SMPLer-X data/EgoBody_Kinect -> HumanDataset.evaluate",
        quirks=(f"egobody_kinect_test_230503_043_fix_betas.npz ({_HUMANDATA_NOTE}); not part of MPE.",),
    ),
    Benchmark(
        name="arctic",
        title="ARCTIC",
        dataset=_placeholder("arctic-p1-val"),
        split="validation",
        placeholder=True,
        metrics=SMPLEST_X_METRICS,
        gender="per_sample",
        betas="zero",
        bbox_ratio=HUMANDATA_BBOX_RATIO,
        sample_interval=10,
        source="SMPLest-X datasets/humandata.py (ARCTIC hooks)",
        quirks=(
            f"p1_val.npz ({_HUMANDATA_NOTE}), every 10th row; stored with flat_hand_mean, betas forced to 0.",
            (
                "SMPLest-X replaces the ground truth by stored vertices where `vertices3d_path` exists; convert those "
                "as `smplx_vertices` and set ground_truth='smplx_vertices' to match it. SMPLer-X uses neutral params."
            ),
        ),
    ),
    Benchmark(
        name="renbody_hires",
        title="RenBody-HiRes",
        dataset=_placeholder("renbody-hires-test"),
        placeholder=True,
        betas="clamped",
        bbox_ratio=HUMANDATA_BBOX_RATIO,
        sample_interval=10,
        source="SMPLer-X data/RenBody_HiRes -> HumanDataset.evaluate",
        quirks=(f"renbody_test_highrescam_230517_78_0_fix_betas.npz ({_HUMANDATA_NOTE}), every 10th row.",),
    ),
    Benchmark(
        name="synhand",
        title="SynHand",
        dataset=_placeholder("synhand-test"),
        placeholder=True,
        metrics=SMPLEST_X_METRICS,
        gender="per_sample",
        bbox_ratio=HUMANDATA_BBOX_RATIO,
        sample_interval=10,
        source="SMPLest-X datasets/SynHand.py -> HumanDataset.evaluate",
        quirks=(
            (
                f"synhand_20241018_test_241023_1188_fix_betas.npz ({_HUMANDATA_NOTE}), every 10th row; betas_neutral, "
                "flat_hand_mean hand poses (converted to the mean-hand convention for the ground truth)."
            ),
            "Hand PA-MPJPE uses SMPLest-X's 20 joints and its 100 mm outlier rule ('(SX)' columns).",
        ),
    ),
)

_REGISTRY: dict = {benchmark.name: benchmark for benchmark in _BUILT_IN}

PAPER_MPE_BENCHMARKS = tuple(benchmark.name for benchmark in _BUILT_IN if benchmark.in_paper_mpe)
"""The five benchmarks the papers average into MPE (AGORA-val, EgoBody-EgoSet, UBody, 3DPW, EHF)."""


def register_benchmark(benchmark: Benchmark, *, overwrite: bool = False) -> Benchmark:
    """Add ``benchmark`` to the registry under ``benchmark.name`` and return it.

    Raises:
        ValueError: the name is taken (pass ``overwrite=True`` to replace the entry).
    """
    if not isinstance(benchmark, Benchmark):
        raise TypeError(f"register_benchmark takes a Benchmark, got {type(benchmark).__name__}.")
    if benchmark.name in _REGISTRY and not overwrite:
        raise ValueError(
            f"A benchmark named {benchmark.name!r} is already registered; pass overwrite=True to replace it."
        )
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def unregister_benchmark(name: str) -> None:
    """Remove a registered benchmark (``KeyError`` naming it when absent)."""
    if name not in _REGISTRY:
        raise KeyError(f"No benchmark named {name!r} is registered.")
    del _REGISTRY[name]


def list_benchmarks() -> Mapping[str, Benchmark]:
    """Name -> benchmark, for every registered benchmark (a read-only snapshot)."""
    return dict(_REGISTRY)


def get_benchmark(spec) -> Benchmark:
    """A registered benchmark by ``"name"``, or ``"name=PATH_OR_REPO"`` to read it from another dataset.

    A :class:`Benchmark` is returned as it is.

    Raises:
        ValueError: unknown name (the message lists the registered ones).
    """
    if isinstance(spec, Benchmark):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"A benchmark is a name, 'name=PATH' or a Benchmark, got {type(spec).__name__}.")
    name, separator, dataset = spec.partition("=")
    name = name.strip()
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown benchmark {name!r}; registered: {', '.join(sorted(_REGISTRY))} "
            "(register your own with smplest_hf.evaluation.benchmarks.register_benchmark)."
        )
    benchmark = _REGISTRY[name]
    if separator:
        benchmark = benchmark.with_dataset(dataset.strip())
    return benchmark


__all__ = [
    "AGORA_METRICS",
    "HUMANDATA_BBOX_RATIO",
    "PAPER_MPE_BENCHMARKS",
    "PLACEHOLDER_NAMESPACE",
    "PW3D_METRICS",
    "SMPLER_X_METRICS",
    "SMPLEST_X_METRICS",
    "UBODY_METRICS",
    "Benchmark",
    "get_benchmark",
    "list_benchmarks",
    "register_benchmark",
    "unregister_benchmark",
]

"""Evaluate a SMPLest-X model on named benchmarks: every metric in millimetres, the Mean Primary Error (MPE), and
the results as ``results.json``, ``results.md`` and (optionally) the model card's ``model-index``.

For each benchmark of ``smplest_hf.evaluation.benchmarks``, in batches, split over processes by Accelerate::

    row ─► image + person box ─► SmplestXImageProcessor (the benchmark's box ratio) ─► model ─► predicted mesh
     └──► SMPL-X parameters ─► body model of the row's gender ─► ground-truth mesh    (or its stored vertices,
          or SMPL parameters ─► SMPL model of the row's gender ─► 6890-vertex mesh: 3DPW)
    predicted, ground truth [, in-image masks] ─► metrics.MeshMetrics ─► per-sample errors ─► gather_for_metrics

``gather_for_metrics`` drops the samples Accelerate repeats to even out the last batch, so every sample counts
once; a dataset's figure is the mean of its per-sample errors, as in the original evaluators. MPE is the mean of
the benchmarks' primary errors (``metrics.mean_primary_error``).

Everything that can go wrong without running the model is checked first, for all benchmarks: unknown names,
placeholder datasets, columns a metric needs (named, with what needs them), genders without a body-model file,
missing body-model and evaluation files (SMPL's too, ``smpl/`` beside ``smplx/``, when a benchmark has SMPL ground
truth). Only then does the first batch run.

Example (paths are yours: licensed data and body model files are never shipped)::

    >>> from smplest_hf.evaluation.run import evaluate
    >>> report = evaluate("path/to/model", ["ubody=/data/ubody_ehps", "ehf=/data/ehf_ehps"],
    ...                   body_model_dir="human_model_files", output_dir="eval")      # doctest: +SKIP
    >>> report.mpe, report.benchmarks[0].metrics["pa_pve_all"]                        # doctest: +SKIP

Multi-GPU: ``accelerate launch examples/evaluate.py MODEL --benchmarks ...`` (same arguments as
``smplest-x evaluate``). ``tests/test_evaluation.py`` runs it end to end on a synthetic benchmark.
"""

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..export.atomic import write_text_atomic
from .benchmarks import PAPER_MPE_BENCHMARKS, PROVENANCE_CARD_KEY, Benchmark, get_benchmark, is_benchmark_test_split
from ..models.smplest_x.body_model import (
    BodyModelFileError,
    SmplBodyModel,
    SmplxBodyModel,
    resolve_smpl_directory,
    resolve_smplx_directory,
    smpl_model_file,
)
from ..models.smplest_x.cropping import crop_affine_matrices, invert_affine_matrices
from ..models.smplest_x.smpl_layout import NUM_SMPL_BODY_POSE_JOINTS
from ..models.smplest_x.smplx_layout import GENDERS, NUM_BETAS, NUM_EXPRESSION_COEFFS, PARAMETER_NAMES
from .metrics import (
    METRICS,
    EvaluationMasks,
    MeshMetrics,
    MetricAccumulator,
    PerSampleErrors,
    SmplxEvaluationSets,
    hand_joint_regressor,
    mean_primary_error,
    regress,
)

RESULTS_JSON = "results.json"
RESULTS_MARKDOWN = "results.md"
MODEL_INDEX_TASK = "image-to-3d"  # the pipeline tag of our model cards

# Columns each part of the evaluation reads, with the reason given when one is missing.
_INPUT_COLUMNS = {"image": "the model's input image", "bbox_xywh": "the person box the crop is cut around"}
_SMPLX_PARAMETER_COLUMNS = {
    name: "the ground-truth mesh from SMPL-X parameters"
    for name in (
        "smplx_valid", "smplx_global_orient", "smplx_body_pose", "smplx_left_hand_pose", "smplx_right_hand_pose",
        "smplx_lhand_valid", "smplx_rhand_valid", "smplx_flat_hand_mean", "smplx_jaw_pose", "smplx_expression",
        "smplx_face_valid", "smplx_betas",
    )
}  # fmt: skip
_SMPL_PARAMETER_COLUMNS = {
    name: "the ground-truth SMPL mesh" for name in ("smpl_global_orient", "smpl_body_pose", "smpl_betas", "smpl_transl")
}
_OPTIONAL_COLUMNS = ("smplx_betas_neutral",)  # used when the dataset has it


# ============================================================================================ results
@dataclass
class BenchmarkResult:
    """One benchmark's figures: ``metrics`` {name: mean over samples, mm (NaN: no sample had it)}, ``counts``
    {name: samples averaged}, ``num_samples`` evaluated, ``num_skipped`` rows without ground truth (None when
    streaming)."""

    name: str
    title: str
    dataset: str
    split: str
    primary_metric: str
    metrics: dict
    counts: dict
    num_samples: int
    num_skipped: int | None = None
    is_benchmark_test_split: bool = False  # the whole official test split (see benchmarks.is_benchmark_test_split)

    @property
    def primary_error(self) -> float:
        return self.metrics[self.primary_metric]


@dataclass
class EvaluationReport:
    """All benchmarks of one evaluation, with MPE over them (``mpe`` is None if a primary error is missing)."""

    model: str
    benchmarks: list = field(default_factory=list)

    @property
    def mpe(self) -> float | None:
        if not self.benchmarks or not all(math.isfinite(result.primary_error) for result in self.benchmarks):
            return None
        return mean_primary_error({result.name: result.primary_error for result in self.benchmarks})

    @property
    def is_paper_mpe(self) -> bool:
        """True when the benchmarks are exactly the papers' MPE set (then ``mpe`` compares with theirs)."""
        return sorted(result.name for result in self.benchmarks) == sorted(PAPER_MPE_BENCHMARKS)

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None."""
        return {
            "model": self.model,
            "units": "mm",
            "benchmarks": {
                result.name: {
                    "title": result.title,
                    "dataset": result.dataset,
                    "split": result.split,
                    "num_samples": result.num_samples,
                    "num_skipped_without_ground_truth": result.num_skipped,
                    "is_benchmark_test_split": result.is_benchmark_test_split,
                    "primary_metric": result.primary_metric,
                    "primary_error": _finite_or_none(result.primary_error),
                    "metrics": {name: _finite_or_none(value) for name, value in result.metrics.items()},
                    "samples_per_metric": dict(result.counts),
                }
                for result in self.benchmarks
            },
            "mpe": {
                "value": self.mpe,
                "benchmarks": [result.name for result in self.benchmarks],
                "is_paper_benchmark_set": self.is_paper_mpe,
                "paper_benchmark_set": list(PAPER_MPE_BENCHMARKS),
            },
        }

    def to_markdown(self) -> str:
        """One row per benchmark with all its metrics (mm), then the MPE row."""
        columns = [name for name in METRICS if any(name in result.metrics for result in self.benchmarks)]
        header = ["benchmark", "samples", "primary error"] + [METRICS[name].title for name in columns]
        lines = [
            f"# Evaluation of `{self.model}`",
            "",
            (
                "Errors in millimetres, each the mean over the benchmark's samples; the primary error (the metric MPE "
                "averages) is named beside its value. *samples* counts those behind the primary error; a metric "
                "computed on another number of samples (a part missing or out of the image) shows it as (n = K)."
            ),
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        for result in self.benchmarks:
            primary = f"**{_format_mm(result.primary_error)}** ({METRICS[result.primary_metric].title})"
            samples = result.counts.get(result.primary_metric, result.num_samples)
            cells = [_metric_cell(result, name, samples) for name in columns]
            lines.append(f"| {result.title} | {samples} | {primary} | " + " | ".join(cells) + " |")
        mpe = "n/a" if self.mpe is None else _format_mm(self.mpe)
        lines.append(
            f"| **MPE** | {len(self.benchmarks)} benchmark{'s' if len(self.benchmarks) != 1 else ''} | **{mpe}** | "
            + " | ".join([""] * len(columns))
            + " |"
        )
        lines.append("")
        if self.is_paper_mpe:
            lines.append("MPE over the papers' five benchmarks (AGORA-val, EgoBody-EgoSet, UBody, 3DPW, EHF).")
        else:
            lines.append(
                "MPE here is the mean primary error of the benchmarks above; the papers' MPE averages AGORA-val, "
                "EgoBody-EgoSet, UBody, 3DPW (MPJPE) and EHF, so only that set compares with published numbers."
            )
        return "\n".join(lines) + "\n"

    def save(self, output_dir) -> tuple:
        """Write ``results.json`` and ``results.md`` into ``output_dir`` (each complete or not at all)."""
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        json_path, markdown_path = output_dir / RESULTS_JSON, output_dir / RESULTS_MARKDOWN
        write_text_atomic(json_path, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        write_text_atomic(markdown_path, self.to_markdown())
        return json_path, markdown_path

    def eval_results(self) -> list:
        """``huggingface_hub.EvalResult`` entries (every finite metric, and MPE) for a model card's model-index."""
        from huggingface_hub import EvalResult

        entries = []
        for result in self.benchmarks:
            dataset_type, dataset_name = _model_index_dataset(result)
            for name, value in result.metrics.items():
                if math.isfinite(value):
                    entries.append(
                        EvalResult(
                            task_type=MODEL_INDEX_TASK,
                            dataset_type=dataset_type,
                            dataset_name=dataset_name,
                            dataset_split=result.split,
                            metric_type=name,
                            metric_name=f"{METRICS[name].title} ({METRICS[name].unit})",
                            metric_value=round(value, 2),
                        )
                    )
        if self.mpe is not None:
            on_benchmarks = all(result.is_benchmark_test_split for result in self.benchmarks)
            entries.append(
                EvalResult(
                    task_type=MODEL_INDEX_TASK,
                    dataset_type="mpe" if on_benchmarks else "mpe-custom-data",
                    dataset_name=("MPE: " if on_benchmarks else "MPE over custom data: ")
                    + ", ".join(_model_index_dataset(result)[1] for result in self.benchmarks),
                    metric_type="mpe",
                    metric_name="Mean Primary Error (mm)",
                    metric_value=round(self.mpe, 2),
                )
            )
        return entries


def update_model_card(report: EvaluationReport, model_location) -> str:
    """Put ``report`` into the model card's ``model-index`` (replacing entries of the same dataset, split and
    metric, keeping the others). A local model directory's ``README.md`` is rewritten atomically; a Hub repo id
    gets the card pushed. Returns where the card went."""
    from huggingface_hub import ModelCard

    path = Path(model_location)
    if path.is_dir():
        readme = path / "README.md"
        card = ModelCard.load(readme) if readme.is_file() else ModelCard("---\n---\n")
    else:
        card = ModelCard.load(str(model_location))
    new_entries = report.eval_results()
    replaced = {(entry.dataset_type, entry.dataset_split, entry.metric_type) for entry in new_entries}
    kept = [
        entry
        for entry in (card.data.eval_results or [])
        if (entry.dataset_type, entry.dataset_split, entry.metric_type) not in replaced
    ]
    card.data.eval_results = kept + new_entries
    card.data.model_name = card.data.model_name or path.resolve().name or "SMPLest-X"
    if path.is_dir():
        write_text_atomic(readme, str(card))
        return str(readme)
    card.push_to_hub(str(model_location), commit_message="Update evaluation results (model-index)")
    return str(model_location)


# ========================================================================================= evaluation
def evaluate(
    model,
    benchmarks: Sequence,
    *,
    body_model_dir=None,
    batch_size: int = 16,
    max_samples: int | None = None,
    num_workers: int = 0,
    streaming: bool = False,
    output_dir=None,
    update_card: bool = False,
    accelerator=None,
    progress: bool = True,
    cache_dir=None,
    processor=None,
) -> EvaluationReport:
    """Evaluate ``model`` on ``benchmarks`` and return the report (on every process).

    Args:
        model: a model directory or Hub repo id, or a ``SmplestXForHumanMeshRecovery``; its predicted parameters
            are skinned with the neutral body model of ``body_model_dir`` (the model's own is neither used nor
            changed).
        benchmarks: names (``"ubody"``), ``"name=PATH_OR_REPO"`` or :class:`Benchmark` objects.
        body_model_dir: the folder containing ``smplx/`` (default: the model's attached body model, then
            ``SMPLX_MODEL_DIR``); it must also hold the evaluation files (J14 regressor, hand and face ids), and,
            for SMPL ground truth (3DPW), ``smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl`` beside ``smplx/``.
        batch_size: people per model pass, per process. max_samples: per benchmark, after subsampling.
        num_workers: DataLoader workers decoding and cropping images. streaming: read datasets lazily.
        output_dir: write ``results.json`` and ``results.md`` there (main process only).
        update_card: also write the results into the model card's ``model-index`` (``model`` must be a
            location).
        accelerator: an ``accelerate.Accelerator`` (default: a new one). progress: show a progress bar.
        cache_dir: ``datasets`` cache directory for the benchmark data.
        processor: the ``SmplestXImageProcessor`` cutting the crops (default: the one saved with the model, else
            one with the model's crop geometry); pass it for a model object trained with a normalising processor.

    Raises:
        ValueError: bad arguments, unknown or placeholder benchmarks, datasets missing columns the metrics need
            (naming them), no body model (``BodyModelFileError``) — all before the first batch runs.
    """
    from accelerate import Accelerator

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if max_samples is not None and (not isinstance(max_samples, int) or max_samples < 1):
        raise ValueError(f"max_samples must be a positive integer or None, got {max_samples!r}.")
    if update_card and not isinstance(model, (str, os.PathLike)):
        raise ValueError("update_card needs the model's location (a directory or Hub repo id), not a model object.")
    resolved = [get_benchmark(spec) for spec in benchmarks]
    if not resolved:
        raise ValueError(
            "No benchmark given; name at least one (registered: see benchmark_registry.list_benchmarks())."
        )
    names = [benchmark.name for benchmark in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"Each benchmark can be evaluated once per run; got {names}.")

    accelerator = accelerator or Accelerator()
    body_model_dir = _body_model_directory(model, body_model_dir)
    neutral_body_model = SmplxBodyModel.from_directory(body_model_dir, "neutral").to(accelerator.device)
    # SMPL ground truth (3DPW): `smpl/` beside `smplx/`; its joints come from the *neutral* SMPL J_regressor.
    neutral_smpl = None
    if any(benchmark.ground_truth == "smpl_params" for benchmark in resolved):
        neutral_smpl = SmplBodyModel.from_directory(body_model_dir.parent, "neutral").to(accelerator.device)
    sets = SmplxEvaluationSets.from_body_model(  # reads (and so checks) the evaluation files
        neutral_body_model, smpl_joint_regressor=None if neutral_smpl is None else neutral_smpl.joint_regressor
    )
    with accelerator.main_process_first():  # one process downloads and prepares each dataset, the others reuse it
        plans = [_plan(benchmark, body_model_dir, streaming, max_samples, cache_dir) for benchmark in resolved]

    model, location = _load_model(model, accelerator.device)
    processor = _processor_for(model, location) if processor is None else processor
    ground_truth = _GroundTruthMeshes(body_model_dir, neutral_body_model, neutral_smpl, accelerator.device)
    report = EvaluationReport(model=location)
    for plan in plans:
        report.benchmarks.append(
            _evaluate_benchmark(
                plan, model, processor, sets, ground_truth, accelerator, batch_size, num_workers, progress
            )
        )
    if accelerator.is_main_process:
        if output_dir is not None:
            report.save(output_dir)
        if update_card:
            update_model_card(report, location)
    accelerator.wait_for_everyone()
    return report


@dataclass
class _BenchmarkPlan:
    benchmark: Benchmark
    dataset: object
    num_skipped: int | None
    is_benchmark_test_split: bool = False


def _plan(benchmark: Benchmark, body_model_dir: Path, streaming: bool, max_samples, cache_dir) -> _BenchmarkPlan:
    """Open the benchmark's dataset and check everything its evaluation needs, without running anything."""
    import datasets

    where = f"Benchmark {benchmark.name!r} ({benchmark.dataset!r}, split {benchmark.split!r})"
    if benchmark.placeholder:
        raise ValueError(
            f"Benchmark {benchmark.name!r} has no public dataset ({benchmark.dataset!r} is a placeholder: the test "
            f"set is licensed). Convert it (python -m hub_datasets convert-benchmark NAME SOURCE_DIR OUT_DIR for the "
            f"papers' five benchmarks, convert-humandata for HumanData test files; see docs/results.md) and "
            f"pass its directory or repo id as '{benchmark.name}=PATH'."
        )
    if Path(benchmark.dataset).is_dir():
        cache_dir = _local_dataset_cache(Path(benchmark.dataset), cache_dir)
    try:
        dataset = datasets.load_dataset(
            benchmark.dataset, name=benchmark.config, split=benchmark.split, streaming=streaming, cache_dir=cache_dir
        )
    except (FileNotFoundError, ValueError, ConnectionError) as error:
        raise ValueError(f"{where} could not be loaded: {error}") from error
    required = _required_columns(benchmark)
    features = dataset.features
    if features is None:
        raise ValueError(f"{where} declares no features, so its columns cannot be checked; expected the EHPS schema.")
    missing = [name for name in required if name not in features]
    if missing:
        by_reason: dict = {}
        for name in missing:
            by_reason.setdefault(required[name], []).append(name)
        reasons = "; ".join(f"{', '.join(map(repr, columns))} for {reason}" for reason, columns in by_reason.items())
        raise ValueError(
            f"{where} lacks the column(s) its metrics {list(benchmark.metrics)} need: {reasons}. The dataset has "
            f"{sorted(features)}."
        )
    dataset = dataset.select_columns([name for name in features if name in required or name in _OPTIONAL_COLUMNS])

    num_skipped = None
    if streaming:
        if benchmark.sample_interval > 1:
            dataset = dataset.filter(lambda _, index: index % benchmark.sample_interval == 0, with_indices=True)
        if benchmark.ground_truth == "smplx_params":
            dataset = dataset.filter(bool, input_columns=["smplx_valid"])
        if max_samples is not None:
            dataset = dataset.take(max_samples)
        return _BenchmarkPlan(benchmark, dataset, None)  # row count unknown while streaming: never filed as the benchmark

    whole_split = is_benchmark_test_split(benchmark, _provenance(benchmark), len(dataset)) and max_samples is None
    rows = np.arange(0, len(dataset), benchmark.sample_interval)
    if benchmark.ground_truth == "smplx_params":
        has_ground_truth = np.asarray(dataset.data.column("smplx_valid").to_numpy(zero_copy_only=False), bool)[rows]
        num_skipped = int((~has_ground_truth).sum())
        rows = rows[has_ground_truth]
    if not len(rows):
        raise ValueError(
            f"{where} has no row to evaluate ({len(dataset)} rows, sample interval {benchmark.sample_interval}"
            + (", none of them with `smplx_valid`: the SMPL-X ground truth is missing" if num_skipped else "")
            + ")."
        )
    rows = rows[:max_samples]
    dataset = dataset.select(rows)
    if benchmark.gender == "per_sample":
        _check_gender_files(dataset, where, body_model_dir, smpl=benchmark.ground_truth == "smpl_params")
    return _BenchmarkPlan(benchmark, dataset, num_skipped, whole_split)


def _local_dataset_cache(directory: Path, cache_dir) -> str:
    """A cache folder of its own for a local dataset directory.

    `datasets` names the Arrow cache of a local folder after the folder's name and a hash that does not tell apart
    two folders of the same name and layout (e.g. `ehf/converted` and `3dpw/converted`): the second would silently
    be evaluated on the first one's cached rows. The folder's resolved path and its files' sizes and modification
    times key the cache instead, so a changed or another folder is never read from a stale cache.
    """
    import hashlib

    import datasets

    directory = directory.resolve()
    fingerprint = hashlib.sha256(str(directory).encode())
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            status = path.stat()
            fingerprint.update(f"{path.relative_to(directory)}|{status.st_size}|{status.st_mtime_ns}".encode())
    base = Path(cache_dir) if cache_dir is not None else Path(datasets.config.HF_DATASETS_CACHE)
    return str(base / "smplest_x_local_datasets" / fingerprint.hexdigest()[:20])


def _provenance(benchmark: Benchmark):
    """The dataset card's ``PROVENANCE_CARD_KEY`` entry for the evaluated split, or None (no card, no entry, or a
    card that cannot be read: such data is simply not filed under the benchmark's name)."""
    from huggingface_hub import DatasetCard

    location = Path(benchmark.dataset)
    try:
        card = DatasetCard.load(location / "README.md" if location.is_dir() else benchmark.dataset)
    except Exception:  # noqa: BLE001 - missing, unreadable or offline: no provenance
        return None
    entry = (card.data.to_dict().get(PROVENANCE_CARD_KEY) or {}).get(benchmark.split)
    return entry if isinstance(entry, dict) else None


def _required_columns(benchmark: Benchmark) -> dict:
    required = dict(_INPUT_COLUMNS)
    if benchmark.ground_truth == "smplx_vertices":
        required["smplx_vertices"] = "the ground-truth mesh ((10475, 3) vertices stored with the dataset)"
    elif benchmark.ground_truth == "smpl_params":
        required.update(_SMPL_PARAMETER_COLUMNS)
        if benchmark.gender == "per_sample":
            required["gender"] = "the SMPL model the ground-truth parameters belong to"
    else:
        required.update(_SMPLX_PARAMETER_COLUMNS)
        if benchmark.gender == "per_sample":
            required["gender"] = "the body model the ground-truth parameters belong to"
        if benchmark.visibility == "in_image":
            for name in ("smplx_transl", "smplx_transl_valid"):
                required[name] = "the in-image test of ground-truth points (it projects the translated mesh)"
    return required


def _check_gender_files(dataset, where: str, body_model_dir: Path, smpl: bool = False) -> None:
    genders = set(dataset.unique("gender"))
    unknown = sorted(genders - set(GENDERS))
    if unknown:
        raise ValueError(f"{where}: column 'gender' holds {unknown}; expected values among {list(GENDERS)}.")
    if smpl:
        for gender in sorted(genders - {"neutral"}):  # the neutral one is loaded already
            try:
                smpl_model_file(resolve_smpl_directory(body_model_dir.parent), gender)
            except BodyModelFileError as error:
                raise BodyModelFileError(f"{where} has {gender} ground truth: {error}") from error
        return
    for gender in sorted(genders - {"neutral"}):
        model_file = Path(body_model_dir) / f"SMPLX_{gender.upper()}.npz"
        if not model_file.is_file():
            raise ValueError(
                f"{where} has {gender} ground truth, but the body model file {str(model_file)!r} does not exist; add "
                "it, or evaluate with the benchmark's gender='neutral'."
            )


def _body_model_directory(model, body_model_dir) -> Path:
    if body_model_dir is None:
        attached = getattr(model, "body_model", None)
        body_model_dir = getattr(attached, "smplx_directory", None)
    return resolve_smplx_directory(body_model_dir)  # None -> SMPLX_MODEL_DIR, else a BodyModelFileError


def _load_model(model, device):
    """The model on `device` in eval mode, and its location for the report. Its body model (if any) is left as it
    is: predictions are skinned by the evaluation's own neutral body model (see `_evaluate_benchmark`)."""
    from ..models.smplest_x.modeling_smplest_x import SmplestXForHumanMeshRecovery

    if isinstance(model, (str, os.PathLike)):
        location = str(model)
        model = SmplestXForHumanMeshRecovery.from_pretrained(location)
    else:
        location = str(getattr(model.config, "name_or_path", "") or type(model).__name__)
    return model.to(device).eval(), location


def _processor_for(model, location: str):
    """The image processor saved with the model, else one with the model's crop geometry."""
    from ..models.smplest_x.image_processing_smplest_x import SmplestXImageProcessor

    if Path(location, "preprocessor_config.json").is_file():
        return SmplestXImageProcessor.from_pretrained(location)
    config = model.config
    return SmplestXImageProcessor(
        size={"height": config.input_body_size[0], "width": config.input_body_size[1]},
        crop_size={"height": config.input_image_size[0], "width": config.input_image_size[1]},
        focal_length=list(config.focal_length),
        principal_point=list(config.principal_point),
    )


def _evaluate_benchmark(plan, model, processor, sets, ground_truth, accelerator, batch_size, num_workers, progress):
    from accelerate.data_loader import prepare_data_loader
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from ..models.smplest_x.modeling_smplest_x import run_body_model

    benchmark = plan.benchmark
    loader = DataLoader(
        plan.dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_BatchBuilder(processor, benchmark),
        generator=torch.Generator().manual_seed(0),  # its iterator's seed draw must not advance the global RNG
    )
    # Sharded across processes as `accelerator.prepare_data_loader` would, but without registering the loader in
    # the accelerator (periodic evaluation during training would pile loaders up in its checkpointed state) and
    # without synchronising RNG states (the order is sequential; training's random streams stay untouched).
    loader = prepare_data_loader(
        loader, accelerator.device, num_processes=accelerator.num_processes, process_index=accelerator.process_index,
        split_batches=accelerator.split_batches, put_on_device=True, rng_types=[],
        dispatch_batches=accelerator.dispatch_batches, even_batches=accelerator.even_batches,
    )  # fmt: skip
    metrics = MeshMetrics(sets, benchmark.metrics)
    accumulator = MetricAccumulator()
    num_samples = 0
    total = len(loader) if hasattr(plan.dataset, "__len__") else None
    bar = tqdm(
        loader,
        total=total,
        desc=benchmark.name,
        unit="batch",
        disable=not (progress and accelerator.is_local_main_process),
    )
    for batch in bar:
        with torch.inference_mode():
            # Predictions use the ground truth's neutral body-model files, in float32 as the original.
            parameters = model(pixel_values=batch["pixel_values"], return_geometry=False)
            predicted = run_body_model(ground_truth.body_model("neutral"), parameters).vertices
            target = ground_truth.meshes(batch)
            masks = _in_image_masks(target, batch, sets, model.config) if benchmark.visibility == "in_image" else None
            results = metrics(predicted, target, masks)
            # (B, M, 2): per sample and metric, the value and its validity; gathered without repeated samples.
            per_sample = torch.stack(
                [torch.stack((results[name].values.double(), results[name].valid.double()), dim=-1) for name in metrics.metric_names],
                dim=1,
            )  # fmt: skip
        per_sample = accelerator.gather_for_metrics(per_sample).cpu()
        num_samples += per_sample.shape[0]
        accumulator.update(
            {
                name: PerSampleErrors(per_sample[:, index, 0], per_sample[:, index, 1] > 0.5)
                for index, name in enumerate(metrics.metric_names)
            }
        )
    if not num_samples:
        raise ValueError(f"Benchmark {benchmark.name!r} ({benchmark.dataset!r}) yielded no sample to evaluate.")
    return BenchmarkResult(
        name=benchmark.name,
        title=benchmark.title,
        dataset=benchmark.dataset,
        split=benchmark.split,
        primary_metric=benchmark.primary_metric,
        metrics=accumulator.compute(),
        counts=dict(accumulator.counts),
        num_samples=num_samples,
        num_skipped=plan.num_skipped,
        is_benchmark_test_split=plan.is_benchmark_test_split,
    )


# ============================================================================================ batches
class _BatchBuilder:
    """DataLoader ``collate_fn``: rows -> model crops plus ground-truth arrays, all tensors (so batches can be
    dispatched and moved by Accelerate); runs in the DataLoader workers."""

    def __init__(self, processor, benchmark: Benchmark):
        self.processor = processor
        self.benchmark = benchmark

    def __call__(self, rows: list) -> dict:
        # RGB as the original's cv2.imread(IMREAD_COLOR): grey is repeated, alpha dropped.
        images = [row["image"].convert("RGB") for row in rows]
        boxes = [[list(row["bbox_xywh"])] for row in rows]
        inputs = self.processor(images, boxes=boxes, bbox_ratio=self.benchmark.bbox_ratio, return_tensors="pt")
        batch = {
            "pixel_values": inputs["pixel_values"],
            "processed_boxes": inputs["processed_boxes"],
            "image_sizes": torch.tensor([(image.height, image.width) for image in images], dtype=torch.float32),
        }
        if self.benchmark.ground_truth == "smplx_vertices":
            batch["target_vertices"] = torch.from_numpy(
                np.stack([np.asarray(row["smplx_vertices"], np.float32) for row in rows])
            )
        elif self.benchmark.ground_truth == "smpl_params":
            batch.update(smpl_parameter_batch(rows, self.benchmark))
        else:
            batch.update(smplx_parameter_batch(rows, self.benchmark))
        return batch


def smplx_parameter_batch(rows: list, benchmark: Benchmark) -> dict:
    """EHPS rows -> ground-truth SMPL-X inputs by the benchmark's rules, as float32 / int64 tensors.

    * ``smplx_betas_neutral`` (when present and non-empty) replaces the betas and selects the neutral model;
      otherwise the model is the row's ``gender`` (``benchmark.gender == "per_sample"``) or neutral.
    * Betas (first 10, zero-padded) are kept, zeroed when any |beta| > 3 (``"clamped"``), or zeroed (``"zero"``).
    * Jaw and expression are zero without ``smplx_face_valid``. Hand poses stay as annotated here, with
      ``flat_hand`` and the hand-valid flags; :class:`_GroundTruthMeshes` applies them with the body model's mean.
    """
    columns = {name: [] for name in (*PARAMETER_NAMES, "transl", "gender", "flat_hand", "lhand_valid", "rhand_valid")}
    for row in rows:
        betas_neutral = row.get("smplx_betas_neutral") or []
        if len(betas_neutral):
            betas, gender = betas_neutral, "neutral"
        else:
            betas = row["smplx_betas"] or []
            gender = row["gender"] if benchmark.gender == "per_sample" else "neutral"
        if gender not in GENDERS:
            raise ValueError(f"Benchmark {benchmark.name!r}: gender {gender!r} is not one of {GENDERS}.")
        betas = _first(betas, NUM_BETAS)
        if benchmark.betas == "zero" or (benchmark.betas == "clamped" and np.abs(betas).max() > 3):
            betas = np.zeros_like(betas)
        face_valid = bool(row["smplx_face_valid"])
        transl_valid = benchmark.visibility == "in_image" and bool(row["smplx_transl_valid"])
        columns["global_orient"].append(np.asarray(row["smplx_global_orient"], np.float32))
        columns["body_pose"].append(np.asarray(row["smplx_body_pose"], np.float32))
        columns["left_hand_pose"].append(np.asarray(row["smplx_left_hand_pose"], np.float32))
        columns["right_hand_pose"].append(np.asarray(row["smplx_right_hand_pose"], np.float32))
        columns["jaw_pose"].append(np.asarray(row["smplx_jaw_pose"], np.float32) * face_valid)
        columns["expression"].append(_first(row["smplx_expression"] or [], NUM_EXPRESSION_COEFFS) * face_valid)
        columns["betas"].append(betas)
        columns["transl"].append(
            np.asarray(row["smplx_transl"], np.float32) if transl_valid else np.zeros(3, np.float32)
        )
        columns["gender"].append(GENDERS.index(gender))  # codes 0, 1, 2 in batches
        columns["flat_hand"].append(float(row["smplx_flat_hand_mean"]))
        columns["lhand_valid"].append(float(row["smplx_lhand_valid"]))
        columns["rhand_valid"].append(float(row["smplx_rhand_valid"]))
    batch = {name: torch.from_numpy(np.stack(values).astype(np.float32)) for name, values in columns.items()}
    batch["gender"] = batch["gender"].long()
    return batch


def smpl_parameter_batch(rows: list, benchmark: Benchmark) -> dict:
    """EHPS rows with SMPL ground truth (3DPW) -> ``smpl_global_orient`` (B, 3), ``smpl_body_pose`` (B, 23, 3),
    ``smpl_betas`` (B, 10) (as annotated, never clamped, as the original), ``smpl_transl`` (B, 3) float32 and
    ``smpl_gender`` (B,) int64 (the row's ``gender`` for ``benchmark.gender == "per_sample"``, else neutral)."""
    genders = [row["gender"] if benchmark.gender == "per_sample" else "neutral" for row in rows]
    unknown = sorted(set(genders) - set(GENDERS))
    if unknown:
        raise ValueError(f"Benchmark {benchmark.name!r}: gender {unknown[0]!r} is not one of {GENDERS}.")

    def stacked(name, shape):
        return torch.from_numpy(np.stack([np.asarray(row[name], np.float32).reshape(shape) for row in rows]))

    return {
        "smpl_global_orient": stacked("smpl_global_orient", (3,)),
        "smpl_body_pose": stacked("smpl_body_pose", (NUM_SMPL_BODY_POSE_JOINTS, 3)),
        "smpl_betas": torch.from_numpy(np.stack([_first(row["smpl_betas"], NUM_BETAS) for row in rows])),
        "smpl_transl": stacked("smpl_transl", (3,)),
        "smpl_gender": torch.tensor([GENDERS.index(gender) for gender in genders], dtype=torch.int64),
    }


def _first(values, size: int) -> np.ndarray:
    """The first ``size`` values as float32, zero-padded."""
    out = np.zeros(size, np.float32)
    values = np.asarray(values, np.float32).reshape(-1)[:size]
    out[: len(values)] = values
    return out


class _GroundTruthMeshes:
    """Ground-truth meshes of a batch on the evaluation device: stored vertices, or parameters through the body
    model (SMPL-X, or SMPL for 3DPW) of each row's gender (models loaded once, on first use)."""

    def __init__(self, body_model_dir: Path, neutral_body_model: SmplxBodyModel, neutral_smpl, device):
        self.body_model_dir = body_model_dir
        self.device = device
        self.body_models = {"neutral": neutral_body_model}
        self.smpl_models = {} if neutral_smpl is None else {"neutral": neutral_smpl}

    def body_model(self, gender: str) -> SmplxBodyModel:
        if gender not in self.body_models:
            self.body_models[gender] = SmplxBodyModel.from_directory(self.body_model_dir, gender).to(self.device)
        return self.body_models[gender]

    def smpl_model(self, gender: str) -> SmplBodyModel:
        if gender not in self.smpl_models:  # `smpl/` sits beside `smplx/`
            self.smpl_models[gender] = SmplBodyModel.from_directory(self.body_model_dir.parent, gender).to(self.device)
        return self.smpl_models[gender]

    def smpl_meshes(self, batch: dict) -> torch.Tensor:
        """(B, 6890, 3) float32 metres: each row's SMPL parameters through the SMPL model of its gender."""
        genders = batch["smpl_gender"]
        meshes = None
        for code in sorted(set(genders.tolist())):
            rows = torch.nonzero(genders == code).squeeze(1)
            vertices = self.smpl_model(GENDERS[code])(
                global_orient=batch["smpl_global_orient"][rows],
                body_pose=batch["smpl_body_pose"][rows],
                betas=batch["smpl_betas"][rows],
                transl=batch["smpl_transl"][rows],
            ).vertices
            if meshes is None:
                meshes = vertices.new_empty((len(genders), *vertices.shape[1:]))
            meshes[rows] = vertices
        return meshes

    def meshes(self, batch: dict) -> torch.Tensor:
        """(B, 10475, 3) float32 metres ((B, 6890, 3) for SMPL ground truth)."""
        if "target_vertices" in batch:
            return batch["target_vertices"].float()
        if "smpl_gender" in batch:
            return self.smpl_meshes(batch)
        genders = batch["gender"]
        meshes = None
        for code in sorted(set(genders.tolist())):
            rows = torch.nonzero(genders == code).squeeze(1)
            body_model = self.body_model(GENDERS[code])
            hands = []
            for side, (pose_key, valid_key) in enumerate(
                (("left_hand_pose", "lhand_valid"), ("right_hand_pose", "rhand_valid"))
            ):
                # Flat-hand annotations become offsets from this model's mean hand; a missing hand is the mean hand.
                pose = batch[pose_key][rows] - batch["flat_hand"][rows, None, None] * body_model.hand_pose_mean[side]
                hands.append(pose * batch[valid_key][rows, None, None])
            vertices = body_model(
                global_orient=batch["global_orient"][rows],
                body_pose=batch["body_pose"][rows],
                left_hand_pose=hands[0],
                right_hand_pose=hands[1],
                jaw_pose=batch["jaw_pose"][rows],
                betas=batch["betas"][rows],
                expression=batch["expression"][rows],
                transl=batch["transl"][rows],
            ).vertices
            if meshes is None:
                meshes = vertices.new_empty((len(genders), *vertices.shape[1:]))
            meshes[rows] = vertices
        return meshes


def _in_image_masks(target_vertices: torch.Tensor, batch: dict, sets: SmplxEvaluationSets, config) -> EvaluationMasks:
    """UBody's rule: a ground-truth point counts iff it projects inside the original image through the virtual
    crop camera (focal, principal point in body-input pixels, the ``1e-4`` depth guard), scaled to the crop and
    mapped back to the image by the crop's affine. ``target_vertices`` carry the ground-truth translation."""
    (fx, fy), (cx, cy) = config.focal_length, config.principal_point
    (body_height, body_width), (crop_height, crop_width) = config.input_body_size, config.input_image_size
    boxes = batch["processed_boxes"].double().cpu().numpy()
    crop_to_image = invert_affine_matrices(crop_affine_matrices(boxes, output_size=(crop_height, crop_width)))
    crop_to_image = torch.as_tensor(crop_to_image, dtype=target_vertices.dtype, device=target_vertices.device)
    image_height, image_width = batch["image_sizes"].to(target_vertices).unbind(-1)
    sets = sets.to(device=target_vertices.device, dtype=target_vertices.dtype)

    def inside(points):  # (B, P, 3) -> (B, P) bool
        depth = points[..., 2] + 1e-4
        crop_x = (points[..., 0] / depth * fx + cx) * (crop_width / body_width)
        crop_y = (points[..., 1] / depth * fy + cy) * (crop_height / body_height)
        affine = crop_to_image[:, :, None, :]  # (B, 2, 1, 3)
        image_x = affine[:, 0, :, 0] * crop_x + affine[:, 0, :, 1] * crop_y + affine[:, 0, :, 2]
        image_y = affine[:, 1, :, 0] * crop_x + affine[:, 1, :, 1] * crop_y + affine[:, 1, :, 2]
        return (image_x > 0) & (image_x < image_width[:, None]) & (image_y > 0) & (image_y < image_height[:, None])

    return EvaluationMasks(
        vertex_valid=inside(target_vertices),
        j14_valid=inside(regress(sets.j14_regressor, target_vertices)),
        left_hand_joint_valid=inside(regress(hand_joint_regressor(sets.joint_regressor, "left"), target_vertices)),
        right_hand_joint_valid=inside(regress(hand_joint_regressor(sets.joint_regressor, "right"), target_vertices)),
    )


# ============================================================================================ helpers
def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _format_mm(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def _metric_cell(result: BenchmarkResult, name: str, samples: int) -> str:
    """A metric's value, with its own sample count when that differs from the row's."""
    if name not in result.metrics:
        return "–"
    count = result.counts.get(name, samples)
    return _format_mm(result.metrics[name]) + ("" if count == samples else f" (n = {count})")


def _model_index_dataset(result: BenchmarkResult) -> tuple[str, str]:
    """(dataset type, dataset name) of a result in a model card's model-index. Only the whole official test split
    (as its converter recorded it) is filed under the benchmark's name; anything else is a custom dataset, named by
    its path or repo id and sample count, so that no card claims a benchmark result it does not have."""
    if result.is_benchmark_test_split:
        return result.name, result.title
    return result.dataset, f"{result.dataset} ({result.num_samples} samples; not the {result.title} test split)"


__all__ = [
    "RESULTS_JSON",
    "RESULTS_MARKDOWN",
    "BenchmarkResult",
    "EvaluationReport",
    "evaluate",
    "smpl_parameter_batch",
    "smplx_parameter_batch",
    "update_model_card",
]

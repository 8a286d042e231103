"""Train or fine-tune SMPLest-X with Accelerate on EHPS datasets (`hub_datasets` layout: local or on the Hub).

    accelerate launch examples/train.py --config examples/configs/b.yaml [--section.key=value ...]
    python examples/train.py --config examples/configs/tiny_synthetic.yaml --optimization.max_steps=50
    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 examples/train.py --config ...     # 2 CPU processes

The config format is documented in `smplest_hf/training/config.py`; the configs in `examples/configs/` reproduce
the original hyper-parameters (`s.yaml` ... `h.yaml`) and train the bundled demo model (`tiny_synthetic.yaml`).
A plain Accelerate loop: per optimizer step, `gradient_accumulation_steps` micro-batches of `batch_size` per
process, the full SMPLest-X loss (`model(pixel_values, labels=...)`), optional gradient clipping, AdamW, the
cosine schedule. Mixed precision, DDP, FSDP and DeepSpeed come from `accelerate launch` (and the config files
in `examples/configs/`).

Outputs in `output_dir`: `checkpoint-<step>/` (HF model directories with the training state inside; resume with
`--checkpointing.resume_from=latest`, which continues with the same data order), `model/` (the final model),
`logs/metrics.jsonl` (+ the trackers named in `logging.log_with`, e.g. tensorboard, when installed) and
`training_summary.json`. A resumed run may raise `max_steps`: its learning-rate schedule is rebuilt for the new
length. Exit status (`smplest_hf.exit_codes`): 0 done, 2 a config or data mistake (one line, before any output
where it can be found up front), 130 interrupted.
"""

import argparse
import hashlib
import logging
import shutil
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import (
    DistributedType,
    ProjectConfiguration,
    gather_object,
    send_to_device,
    set_seed,
)
from tqdm.auto import tqdm

from hub_datasets import balanced_mix, load_ehps_dataset, weighted_mix
from hub_datasets.augmentation import AugmentationConfig
from hub_datasets.transform import TrainingTransform, collate_training_batch
from smplest_hf import (
    SmplestXConfig,
    SmplestXForHumanMeshRecovery,
    SmplestXImageProcessor,
)
from smplest_hf.training import (
    EpochShuffleSampler,
    TrainingConfig,
    build_optimizer,
    checkpoint_path,
    choose_attention_implementation,
    freeze_layers,
    init_layers_for_width,
    init_readouts_at_rest_pose,
    prune_checkpoints,
    read_trainer_state,
    resolve_resume_checkpoint,
    save_model_directory,
    select_trackers,
    warmup_cosine_schedule,
)
from smplest_hf.exit_codes import BAD_INPUT, INTERRUPTED, OK
from smplest_hf.export.atomic import write_json_atomic
from smplest_hf.training.checkpointing import (
    TRAINER_STATE_FILE,
    TRAINING_STATE_DIR,
    load_training_state,
    save_training_state,
)

logger = logging.getLogger("train")
SHARDED = (DistributedType.FSDP, DistributedType.DEEPSPEED)  # weights must be gathered to be saved or hashed


# ================================================================================================ model
def resolve_body_model_dir(value, accelerator):
    """`model.body_model_dir`: `synthetic` -> the cached synthetic body model (written once, main process first)."""
    if value != "synthetic":
        return value
    from hub_datasets.synthetic import default_body_model_dir

    with accelerator.main_process_first():
        return str(default_body_model_dir())


def build_model(config: TrainingConfig):
    """The network (new from a preset, from a checkpoint, or with a ViTPose encoder), frozen as asked, and the
    image processor saved beside it."""
    options = config.model
    # "auto" is settled per device and precision in `train` (`choose_attention_implementation`); sdpa until then.
    attention = None if options.attn_implementation == "auto" else options.attn_implementation
    if options.from_pretrained is not None:
        model = SmplestXForHumanMeshRecovery.from_pretrained(
            options.from_pretrained, dtype=torch.float32, attn_implementation=attention,
            **options.config_overrides,
        )  # fmt: skip
        if options.loss_weights:  # merged, not replaced: the saved config spells out every weight
            model.config.loss_weights = {**model.config.loss_weights, **options.loss_weights}
            model.config.validate_loss_weights()
        if Path(options.from_pretrained, "preprocessor_config.json").is_file():
            processor = SmplestXImageProcessor.from_pretrained(options.from_pretrained)
        else:
            processor = processor_for(model.config)
    else:
        model_config = SmplestXConfig.from_preset(
            options.preset, **options.config_overrides, loss_weights=options.loss_weights or None,
            attn_implementation=attention,
        )  # fmt: skip
        model = SmplestXForHumanMeshRecovery(model_config)
        if options.init_layers_for_width:
            init_layers_for_width(model)
        if options.init_readouts_at_rest_pose:
            init_readouts_at_rest_pose(model)
        if options.vitpose_checkpoint is not None:
            from smplest_hf.training.vitpose_initialization import load_vitpose_into_encoder

            load_vitpose_into_encoder(model, options.vitpose_checkpoint, trust_pickle=options.trust_pickle)
        processor = processor_for(model_config, options.image_mean, options.image_std)
    if options.gradient_checkpointing:
        # Non-reentrant: the reentrant variant breaks DDP with find_unused_parameters (a variable marked ready twice).
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    o = config.optimization
    frozen = freeze_layers(
        model, encoder=o.freeze_encoder, encoder_layers=o.freeze_encoder_layers, patch_embedding=o.freeze_patch_embedding
    )
    return model, processor, frozen


def processor_for(model_config, image_mean=None, image_std=None):
    """The image processor of a new model: its crop geometry, and the normalisation training uses (if any)."""
    return SmplestXImageProcessor(
        size={"height": model_config.input_body_size[0], "width": model_config.input_body_size[1]},
        crop_size={"height": model_config.input_image_size[0], "width": model_config.input_image_size[1]},
        bbox_ratio=model_config.bbox_ratio,
        focal_length=list(model_config.focal_length),
        principal_point=list(model_config.principal_point),
        do_normalize=image_mean is not None,
        image_mean=image_mean,
        image_std=image_std,
    )


# ================================================================================================= data
def build_training_data(config: TrainingConfig, processor, accelerator):
    """-> (DataLoader, EpochShuffleSampler or None, TrainingTransform, micro-batches per epoch per process).

    The crops are cut and normalised by the rules of `processor`, the image processor saved with the model.
    """
    data = config.data
    try:
        augmentation = AugmentationConfig(**data.augmentation)
    except TypeError as error:  # an unknown field
        raise ValueError(f"data.augmentation: {error}; the fields are {[f.name for f in fields(AugmentationConfig)]}.") from None
    transform = TrainingTransform(image_processor=processor, augment=data.augment, augmentation=augmentation, seed=config.seed,
                                  bbox_ratio=data.bbox_ratio)  # fmt: skip
    batch_size = config.optimization.batch_size
    with accelerator.main_process_first():  # the first load converts Parquet to the Arrow cache: once
        if data.streaming:
            sources = [
                load_ehps_dataset(source.path, source.split, streaming=True, decode_images=False,
                                  rank=accelerator.process_index, world_size=accelerator.num_processes)
                for source in data.train
            ]  # fmt: skip
        else:
            sources = [load_ehps_dataset(source.path, source.split, decode_images=False) for source in data.train]
    intervals = [source.sample_interval for source in data.train]
    if data.streaming:
        # Split per process above, so each process reads its own shards; the loader is not sharded again.
        per_process = None if data.total_length is None else data.total_length // accelerator.num_processes
        if len(sources) == 1:
            dataset = sources[0]
            if intervals[0] > 1:
                dataset = dataset.filter(lambda _, index: index % intervals[0] == 0, with_indices=True)
        else:
            dataset = mix(sources, data, intervals, per_process)
        dataset = dataset.shuffle(seed=config.seed, buffer_size=data.shuffle_buffer_size)
        dataset = dataset.map(transform, batched=True, batch_size=batch_size, remove_columns=list(dataset.features))
        if per_process is None:
            raise ValueError("data.total_length is required with data.streaming (samples per epoch, all processes).")
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=data.num_workers,
                                             collate_fn=collate_training_batch, drop_last=True,
                                             generator=torch.Generator().manual_seed(config.seed))  # fmt: skip
        return loader, None, transform, per_process // batch_size
    if len(sources) == 1:
        dataset = sources[0]
        if intervals[0] > 1:
            dataset = dataset.select(range(0, len(dataset), intervals[0]))
    else:
        dataset = mix(sources, data, intervals, data.total_length)
    dataset.set_transform(transform)
    sampler = EpochShuffleSampler(len(dataset), seed=config.seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=data.num_workers,
        collate_fn=collate_training_batch, drop_last=True,  # the original drops the last partial batch
        # Its own generator: starting an epoch's iterator then draws no number from the global torch RNG, so a
        # resumed run (which starts one more iterator) keeps the RNG stream of the uninterrupted run.
        generator=torch.Generator().manual_seed(config.seed),
    )  # fmt: skip
    loader = accelerator.prepare_data_loader(loader)  # each process: its share of every epoch's order
    return loader, sampler, transform, len(loader)


def mix(sources, data, intervals, total_length):
    if data.mixing == "balance":
        return balanced_mix(sources, total_length, sample_intervals=intervals)
    if data.mixing == "weighted":
        if total_length is None:
            raise ValueError("data.mixing: weighted needs data.total_length (samples per epoch).")
        return weighted_mix(sources, [source.weight for source in data.train], total_length, sample_intervals=intervals)
    from datasets import concatenate_datasets

    return concatenate_datasets([s.select(range(0, len(s), k)) if k > 1 else s for s, k in zip(sources, intervals)])


# =========================================================================================== evaluation
def evaluation_benchmarks(config: TrainingConfig) -> list:
    from smplest_hf.evaluation.benchmarks import Benchmark

    options = config.evaluation
    benchmarks = list(options.benchmarks)
    if options.dataset is not None:
        benchmarks.append(Benchmark(
            name="heldout", title="Held-out split", dataset=options.dataset, split=options.split,
            metrics=tuple(options.metrics), primary_metric=options.metrics[0], gender=options.gender,
            bbox_ratio=options.bbox_ratio,
        ))  # fmt: skip
    return benchmarks


def evaluate_model(model, processor, config, accelerator, body_model_dir) -> dict:
    """Errors (mm) on the evaluation benchmarks as `{"eval/<benchmark>/<metric>": value, "eval/mpe": ...}`."""
    from smplest_hf.evaluation.run import evaluate

    network = model if accelerator.distributed_type in SHARDED else accelerator.unwrap_model(model)
    report = evaluate(
        network, evaluation_benchmarks(config), body_model_dir=body_model_dir, batch_size=config.evaluation.batch_size,
        max_samples=config.evaluation.max_samples, accelerator=accelerator, progress=False, processor=processor,
    )  # fmt: skip
    model.train()  # evaluate() switched the model to eval mode
    metrics = {
        f"eval/{result.name}/{name}": value for result in report.benchmarks for name, value in result.metrics.items()
    }
    if report.mpe is not None:
        metrics["eval/mpe"] = report.mpe
    return metrics


# ========================================================================================== checkpoints
def save_checkpoint(accelerator, model, optimizer, scheduler, processor, config, step, epoch, batches_in_epoch,
                    metrics) -> Path:  # fmt: skip
    """Write `checkpoint-<step>/` (via `.tmp`, renamed when complete) on every process; returns its path."""
    final = checkpoint_path(config.output_dir, step)
    temporary = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    save_training_state(accelerator, temporary / TRAINING_STATE_DIR, model, optimizer, scheduler)
    save_model(accelerator, model, processor, temporary, f"Checkpoint after {step} optimizer steps of `examples/train.py`.", config)
    if accelerator.is_main_process:
        state = {"step": step, "epoch": epoch, "batches_in_epoch": batches_in_epoch, "metrics": metrics,
                 "num_processes": accelerator.num_processes, "config": config.to_dict()}  # fmt: skip
        write_json_atomic(temporary / TRAINER_STATE_FILE, state, sort_keys=True)
        if final.exists():
            shutil.rmtree(final)
        temporary.rename(final)
        prune_checkpoints(config.output_dir, config.checkpointing.total_limit)
    accelerator.wait_for_everyone()
    return final


def save_model(accelerator, model, processor, directory, card_extra: str, config) -> None:
    """`save_pretrained` + processor + card into `directory` (gathering sharded weights first)."""
    state_dict = accelerator.get_state_dict(model) if accelerator.distributed_type in SHARDED else None
    save_model_directory(
        accelerator.unwrap_model(model), directory, processor, state_dict=state_dict,
        is_main_process=accelerator.is_main_process, save_function=accelerator.save, card_extra=card_extra,
        base_model=config.model.from_pretrained, datasets=[source.path for source in config.data.train],
    )  # fmt: skip


def parameter_digest(model) -> str:
    """SHA-256 of every parameter's bytes, in name order: equal digests = bit-identical weights."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(parameter.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# ================================================================================================= loop
def train(config: TrainingConfig) -> dict:
    """Run (or resume) the training described by `config`; returns the summary also written to
    `output_dir/training_summary.json`."""
    started = time.perf_counter()
    output_dir = Path(config.output_dir)
    o = config.optimization
    # Before anything is built or written: a mistyped resume path is a one-line error that leaves no output.
    resume = resolve_resume_checkpoint(config.checkpointing.resume_from, output_dir)
    accelerator = Accelerator(
        mixed_precision=o.mixed_precision,
        gradient_accumulation_steps=o.gradient_accumulation_steps,
        # The scheduler counts this process's optimizer steps, as the original's per-iteration CosineAnnealingLR.
        step_scheduler_with_optimizer=False,
        log_with=select_trackers(config.logging.log_with, output_dir / "logs"),
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        # Three readouts (face root, face camera, hand cameras) feed no loss term: DDP must not wait for them.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")  # fmt: skip
    set_seed(config.seed)  # before the model: every process builds the same initial weights
    model, processor, frozen = build_model(config)
    model.set_attn_implementation(
        choose_attention_implementation(config.model.attn_implementation, accelerator.device.type, accelerator.mixed_precision)
    )
    body_model_dir = resolve_body_model_dir(config.model.body_model_dir, accelerator)
    # The model keeps its body model float32 on its device and out of DDP/FSDP/DeepSpeed's sight (no submodule).
    model.to(accelerator.device).attach_body_model(body_model_dir)

    loader, sampler, transform, batches_per_epoch = build_training_data(config, processor, accelerator)
    steps_per_epoch = batches_per_epoch // o.gradient_accumulation_steps
    if steps_per_epoch < 1:
        raise ValueError(
            f"An epoch has {batches_per_epoch} batches per process, fewer than gradient_accumulation_steps="
            f"{o.gradient_accumulation_steps}: use a larger dataset or a smaller batch_size / accumulation."
        )
    total_steps = o.max_steps or o.epochs * steps_per_epoch
    if o.warmup_steps >= total_steps:
        raise ValueError(f"optimization.warmup_steps ({o.warmup_steps}) must be smaller than the run's {total_steps} steps.")
    optimizer = build_optimizer(
        model, o.learning_rate, weight_decay=o.weight_decay, betas=o.adam_betas, epsilon=o.adam_epsilon
    )
    scheduler = warmup_cosine_schedule(
        optimizer, total_steps, min_learning_rate=o.min_learning_rate, warmup_steps=o.warmup_steps
    )
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        # The loader was prepared on its own (its length sets the schedule): tell DeepSpeed the micro-batch here.
        accelerator.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = o.batch_size
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    step, epoch, skip = 0, 0, 0
    if resume is not None:
        state = read_trainer_state(resume)
        if state["num_processes"] != accelerator.num_processes:
            logger.warning("Resuming a %d-process run with %d processes: the data order differs from the original run.",
                           state["num_processes"], accelerator.num_processes)  # fmt: skip
        load_training_state(accelerator, resume / TRAINING_STATE_DIR, model, optimizer, scheduler)
        step, epoch, skip = state["step"], state["epoch"], state["batches_in_epoch"]
        logger.info("Resumed from %s: step %d, epoch %d, %d batches into it.", resume, step, epoch, skip)
    if skip >= steps_per_epoch * o.gradient_accumulation_steps:
        epoch, skip = epoch + 1, 0

    accelerator.init_trackers(config.logging.project_name, config=_flat(config.to_dict()))
    logger.info(
        "%d processes x %d samples x %d accumulation = %d per step; %d steps (%d per epoch); %d parameters frozen.",
        accelerator.num_processes, o.batch_size, o.gradient_accumulation_steps,
        accelerator.num_processes * o.batch_size * o.gradient_accumulation_steps, total_steps, steps_per_epoch, len(frozen),
    )  # fmt: skip
    progress = tqdm(total=total_steps, initial=step, desc="training", unit="step",
                    disable=not (config.logging.progress_bar and accelerator.is_local_main_process))  # fmt: skip
    window = {"count": 0}  # sums of loss terms since the last log line, this process
    last_metrics, history = {}, {}
    model.train()
    while step < total_steps:
        transform.set_epoch(epoch)  # before the iterator exists: DataLoader workers copy the transform
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        if sampler is not None:
            epoch_loader.set_epoch(epoch)  # the sampler's order for this epoch on every process
        elif hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(epoch)  # streaming: reshuffle the shards and the buffer
        batch_index, stopped = skip, False
        for batch in epoch_loader:
            if batch_index >= steps_per_epoch * o.gradient_accumulation_steps:
                break  # a last, incomplete accumulation cycle is dropped, so every epoch has whole steps
            batch = send_to_device(batch, accelerator.device)  # (streaming loaders are not prepared)
            with accelerator.accumulate(model):
                outputs = model(batch["pixel_values"], labels=batch["labels"])
                accelerator.backward(outputs.loss)
                grad_norm = None
                if accelerator.sync_gradients and o.max_grad_norm is not None:
                    grad_norm = accelerator.clip_grad_norm_(model.parameters(), o.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            batch_index += 1
            _accumulate(window, outputs)
            if not accelerator.sync_gradients:
                continue
            learning_rate = scheduler.get_last_lr()[0]
            scheduler.step()
            step += 1
            progress.update(1)
            logs = {}
            if step % config.logging.every_steps == 0 or step == total_steps:
                logs = _window_means(window, accelerator)
                logs.update({"train/learning_rate": learning_rate, "train/epoch": epoch + batch_index / batches_per_epoch})
                if grad_norm is not None:
                    logs["train/grad_norm"] = float(grad_norm)
                history[step] = logs["train/loss"]
                progress.set_postfix(loss=f"{logs['train/loss']:.3f}", lr=f"{learning_rate:.2e}")
            if config.evaluation.every_steps and step % config.evaluation.every_steps == 0 and step < total_steps:
                last_metrics = evaluate_model(model, processor, config, accelerator, body_model_dir)
                logs.update(last_metrics)
            if logs:
                accelerator.log(logs, step=step)
            if config.checkpointing.every_steps and step % config.checkpointing.every_steps == 0 and step < total_steps:
                save_checkpoint(accelerator, model, optimizer, scheduler, processor, config, step, epoch, batch_index, last_metrics)
            if step >= total_steps:
                stopped = True
                break
        if stopped and batch_index < steps_per_epoch * o.gradient_accumulation_steps:
            skip = batch_index  # the run ends inside this epoch: a resumed run continues from here
        else:
            epoch, skip = epoch + 1, 0  # epoch complete (or a streaming source ran out early)
    progress.close()

    if config.evaluation.at_end and evaluation_benchmarks(config):
        last_metrics = evaluate_model(model, processor, config, accelerator, body_model_dir)
        accelerator.log(last_metrics, step=step)
        logger.info("Evaluation after %d steps: %s", step, {k: round(v, 2) for k, v in last_metrics.items()})
    if config.checkpointing.save_final_state:
        save_checkpoint(accelerator, model, optimizer, scheduler, processor, config, step, epoch, skip, last_metrics)
    final_model, temporary = output_dir / "model", output_dir / "model.tmp"
    if accelerator.is_main_process and temporary.exists():
        shutil.rmtree(temporary)
    accelerator.wait_for_everyone()
    save_model(accelerator, model, processor, temporary,
               f"Trained for {step} optimizer steps with `examples/train.py` (config in training_summary.json).", config)  # fmt: skip
    if accelerator.is_main_process:  # written beside, then swapped in: `model/` is never half-written
        if final_model.exists():
            shutil.rmtree(final_model)
        temporary.rename(final_model)
    accelerator.wait_for_everyone()
    digests = (
        gather_object([parameter_digest(accelerator.unwrap_model(model))])
        if accelerator.distributed_type not in SHARDED else []
    )  # fmt: skip
    summary = {
        "steps": step, "epochs_completed": epoch, "num_processes": accelerator.num_processes,
        "samples_per_step": accelerator.num_processes * o.batch_size * o.gradient_accumulation_steps,
        "seconds": time.perf_counter() - started, "losses": history, "final_metrics": last_metrics,
        "parameter_sha256_per_process": digests, "config": config.to_dict(),
    }  # fmt: skip
    if accelerator.is_main_process:
        write_json_atomic(output_dir / "training_summary.json", summary, sort_keys=True)
    # Drop the DDP wrapper while the process group is still registered. Otherwise its Reducer holds the group's
    # last reference and destroys it with the GIL held, joining Gloo threads that may need the GIL to free a
    # finished all-gather's tensors: an intermittent hang at exit (seen under load; torch 2.13, gloo).
    del model
    accelerator.free_memory()
    accelerator.end_training()
    return summary


def _accumulate(window: dict, outputs) -> None:
    window["count"] += 1
    for name, value in {"loss": outputs.loss.detach(), **outputs.loss_terms}.items():
        window[name] = window.get(name, 0.0) + value.float()


def _window_means(window: dict, accelerator) -> dict:
    """Mean of each loss term over the micro-batches since the last log, averaged over processes; resets it."""
    count = window.pop("count")
    names = sorted(window)
    values = torch.stack([window[name] / count for name in names])
    values = accelerator.reduce(values, reduction="mean")
    window.clear()
    window["count"] = 0
    return {("train/loss" if name == "loss" else f"train/loss_{name}"): float(value) for name, value in zip(names, values)}


def _flat(values: dict, prefix: str = "") -> dict:
    """Nested config -> flat {"a.b": scalar} for trackers (lists and dicts as strings)."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value and all(isinstance(k, str) for k in value) and key not in ("config_overrides", "loss_weights"):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value if isinstance(value, (int, float, str, bool)) else str(value)  # None: 'None'
    return flat


# ================================================================================================= CLI
def check_starting_model(config: TrainingConfig, config_path) -> None:
    """One line instead of the Hub's long OSError when `model.from_pretrained` is neither a local folder nor a
    loadable model: usually an earlier stage's output that does not exist yet. A config beside this one whose
    `output_dir` is that folder (or its `model/`) is named as the stage to run first."""
    from smplest_hf.inference.pipeline import check_model_location

    start = config.model.from_pretrained
    if start is None or Path(start).expanduser().is_dir():
        return
    try:
        check_model_location(start)
        return
    except ValueError:
        pass
    wanted = Path(start).expanduser()
    for other in sorted(Path(config_path).parent.glob("*.yaml")):
        try:
            output_dir = Path(TrainingConfig.from_yaml(other).output_dir)
        except ValueError:
            continue  # an Accelerate config, not a training config
        if wanted in (output_dir, output_dir / "model"):
            raise ValueError(
                f"model.from_pretrained {start!r} does not exist yet: it is the output of an earlier stage, {other}; "
                "run that stage first (its command is at the top of that file)."
            )
    raise ValueError(
        f"model.from_pretrained {start!r} is neither a model folder here nor a model on the Hub: run the stage that "
        "writes it first, or point it at a model folder or Hub id."
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Any other --section.key=value argument overrides that key of the config file.",
    )
    parser.add_argument("--config", required=True, help="YAML training config (see examples/configs/)")
    args, overrides = parser.parse_known_args(argv)
    bad = [item for item in overrides if not item.startswith("--") or "=" not in item]
    if bad:
        parser.error(f"unrecognised arguments {bad}: overrides look like --optimization.batch_size=8")
    return args, overrides


def main(argv=None) -> dict:
    args, overrides = parse_args(argv)
    config = TrainingConfig.from_yaml(args.config, overrides)
    check_starting_model(config, args.config)
    return train(config)


def cli(argv=None) -> int:
    """`main` with the exit statuses of `smplest_hf.exit_codes`: config and data errors print one line and return
    2 (BAD_INPUT), Ctrl-C 130; a bad command line exits 2 through argparse."""
    try:
        main(argv)
    except (ValueError, FileNotFoundError) as error:  # config and data errors: one clear line, no traceback
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted; resume from the last checkpoint with --checkpointing.resume_from=latest", file=sys.stderr)
        return INTERRUPTED
    return OK


if __name__ == "__main__":
    sys.exit(cli())

"""``python -m hub_datasets``: convert HumanData to the Hub layout, push it, check it loads.

    python -m hub_datasets convert-humandata NPZ IMAGE_ROOT OUT_DIR [--split train] [--num-proc N]
                                             [--shard-size ROWS | --num-shards N] [--dataset-name NAME]
                                             [--on-bad-sample stop|skip] [--trust-pickle] [--allow-unknown-keys]
    python -m hub_datasets synthesize OUT_DIR --num-samples N --seed S [--body-model DIR] [--split train]
                                      [--image-size H W] [--max-people K] [--num-proc N] [--shard-size IMAGES]
    python -m hub_datasets convert-benchmark NAME SOURCE_DIR OUT_DIR [--shard-size ROWS]
    python -m hub_datasets synthesize-benchmark NAME OUT_DIR [--num-samples N] [--seed S] [--body-model DIR]
    python -m hub_datasets push OUT_DIR REPO_ID [--private] [--revision REV] [--create-pr]
    python -m hub_datasets inspect DIR_OR_REPO [--split train]

Exit statuses follow ``smplest_hf.exit_codes``: errors a user can fix (missing or corrupt file, missing key, bad
sample, an image path leading out of the image root, wrong settings) print one line on stderr and exit with 2;
Ctrl-C exits with 130, SIGTERM with 143; 1 is a bug (with a traceback). A run that finished shards before it
failed keeps them (its message says so) and the same command resumes; one that finished none leaves the output
directory as it was.
"""

import argparse
import sys

from smplest_hf.exit_codes import BAD_INPUT, INTERRUPTED, TERMINATED, Terminated, sigterm_raises

_TRUST_PICKLE_HELP = (
    "load the HumanData file's pickled entries (smplx/meta/misc dicts) with numpy's full unpickler. A pickle can "
    "run code: use this only for files you trust like code. Without it, those entries are read with an unpickler "
    "that rebuilds only numpy arrays and plain data, and refuses anything else."
)


def _convert_humandata(args) -> int:
    from .humandata import convert_humandata

    report = convert_humandata(
        args.npz,
        args.image_root,
        args.out_dir,
        split=args.split,
        dataset_name=args.dataset_name,
        num_proc=args.num_proc,
        shard_size=args.shard_size,
        num_shards=args.num_shards,
        on_bad_sample=args.on_bad_sample,
        verify_images=not args.no_verify_images,
        trust_pickle=args.trust_pickle,
        allow_unknown_keys=args.allow_unknown_keys,
        flat_hand_mean={"file": None, "yes": True, "no": False}[args.flat_hand_mean],
    )
    print(
        f"{report.dataset_name} {report.split}: {report.num_rows} rows in {report.num_shards} shards "
        f"({report.shards_written} written, {report.shards_reused} kept from an earlier run), "
        f"{report.num_skipped} samples skipped -> {report.out_dir}"
    )
    for item in report.dropped:
        print(f"  {item['count']} source rows left out: {item['reason']}")
    for item in report.skipped[:5]:
        print(f"  skipped sample {item['source_index']}: {item['reason']}")
    return 0


def _synthesize(args) -> int:
    from .synthetic import synthesize_dataset

    report = synthesize_dataset(
        args.out_dir,
        args.num_samples,
        args.seed,
        body_model_dir=args.body_model,
        split=args.split,
        image_size=tuple(args.image_size),
        max_people=args.max_people,
        num_proc=args.num_proc,
        shard_size=args.shard_size,
        dataset_name=args.dataset_name,
    )
    print(
        f"{report.dataset_name} {report.split}: {report.num_images} images, {report.num_rows} rows in "
        f"{report.num_shards} shards ({report.shards_written} written, {report.shards_reused} kept from an earlier "
        f"run) in {report.seconds:.1f} s ({report.images_per_second:.1f} images/s) -> {report.out_dir}"
    )
    return 0


def _convert_benchmark(args) -> int:
    from .benchmarks.conversion import convert_benchmark

    report = convert_benchmark(args.name, args.source_dir, args.out_dir, shard_size=args.shard_size)
    print(
        f"{report.name} {report.split}: {report.num_rows} rows ({report.source_kind}) in {report.num_shards} shards "
        f"({report.shards_written} written, {report.shards_reused} kept from an earlier run) -> {report.out_dir}"
    )
    return 0


def _synthesize_benchmark(args) -> int:
    from .benchmarks.conversion import synthesize_benchmark

    out_dir = synthesize_benchmark(args.name, args.out_dir, args.num_samples, args.seed, body_model_dir=args.body_model)
    print(f"{args.name}: synthetic stand-in of {args.num_samples} samples (seed {args.seed}) -> {out_dir}")
    return 0


def _push(args) -> int:
    from .hub import push_dataset

    commit = push_dataset(
        args.out_dir, args.repo_id, private=args.private, revision=args.revision, create_pr=args.create_pr
    )
    print(f"pushed {args.out_dir} -> {getattr(commit, 'commit_url', args.repo_id)}")
    return 0


def _inspect(args) -> int:
    from .hub import load_ehps_dataset

    dataset = load_ehps_dataset(args.path, split=args.split, streaming=True, decode_images=False)
    first = next(iter(dataset), None)
    if first is None:
        print(f"{args.path} split {args.split!r}: EHPS schema, no rows")
        return 0
    flags = {name: first[name] for name in dataset.features if name.endswith("_valid")}
    print(
        f"{args.path} split {args.split!r}: EHPS schema; first row {first['sample_id']} ({first['image_width']}x{first['image_height']})"
    )
    print("  " + ", ".join(f"{name}={value}" for name, value in flags.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hub_datasets", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert-humandata", help="HumanData .npz + images -> sharded Parquet (Hub layout)")
    convert.add_argument("npz", help="the HumanData .npz file")
    convert.add_argument("image_root", help="folder the file's image_path entries are relative to")
    convert.add_argument("out_dir", help="dataset directory to write (README.md + data/); reruns resume")
    convert.add_argument("--split", default="train", help="split name of these samples (default: train)")
    convert.add_argument("--dataset-name", help="name stored in every row (default: the file's config, else its name)")
    convert.add_argument("--num-proc", type=int, default=1, help="worker processes (default: 1)")
    sharding = convert.add_mutually_exclusive_group()
    sharding.add_argument("--shard-size", type=int, help="rows per shard (default: 1000)")
    sharding.add_argument("--num-shards", type=int, help="number of shards (use >= ranks x dataloader workers)")
    convert.add_argument(
        "--on-bad-sample", choices=("stop", "skip"), default="stop",
        help="missing/corrupt image: stop with its name (default) or skip it and record it in the card",
    )  # fmt: skip
    convert.add_argument(
        "--no-verify-images", action="store_true", help="read image headers only (faster, misses corrupt data)"
    )
    convert.add_argument("--trust-pickle", action="store_true", help=_TRUST_PICKLE_HELP)
    convert.add_argument(
        "--allow-unknown-keys",
        action="store_true",
        help="drop keys the converter does not know instead of refusing the file",
    )
    convert.add_argument(
        "--flat-hand-mean", choices=("file", "yes", "no"), default="file",
        help="are hand poses relative to the flat hand? 'file': misc['flat_hand_mean'] (absent = no)",
    )  # fmt: skip
    convert.set_defaults(run=_convert_humandata)

    synthesize = commands.add_parser(
        "synthesize", help="render a synthetic EHPS dataset (random SMPL-X people, exact ground truth)"
    )
    synthesize.add_argument("out_dir", help="dataset directory to write (README.md + data/); reruns resume")
    synthesize.add_argument("--num-samples", type=int, required=True, help="images to generate")
    synthesize.add_argument("--seed", type=int, required=True, help="dataset seed (same seed, same data)")
    synthesize.add_argument(
        "--body-model", help="folder with smplx/SMPLX_*.npz (default: the synthetic body model, cached)"
    )
    synthesize.add_argument("--split", default="train", help="split name (default: train)")
    synthesize.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), default=[512, 384],
        help="image height and width in pixels (default: 512 384)",
    )  # fmt: skip
    synthesize.add_argument("--max-people", type=int, default=1, help="people per image: 1 to K (default: 1)")
    synthesize.add_argument("--num-proc", type=int, default=1, help="worker processes (default: 1)")
    synthesize.add_argument(
        "--shard-size", type=int, default=500, help="images per shard (default: 500; the data depends on it)"
    )
    synthesize.add_argument("--dataset-name", default="synthetic", help="name stored in every row")
    synthesize.set_defaults(run=_synthesize)

    from .benchmarks import FORMAT_MODULES
    from .benchmarks.conversion import DEFAULT_SHARD_SIZE, DEFAULT_STAND_IN_SAMPLES

    names = ", ".join(FORMAT_MODULES)
    convert_benchmark = commands.add_parser(
        "convert-benchmark", help="a benchmark's official files -> EHPS dataset with its ground truth (Hub layout)"
    )
    convert_benchmark.add_argument("name", help=f"benchmark: {names}")
    convert_benchmark.add_argument("source_dir", help="the benchmark folder as the original evaluation reads it")
    convert_benchmark.add_argument("out_dir", help="dataset directory to write (README.md + data/); reruns resume")
    convert_benchmark.add_argument(
        "--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help=f"rows per shard (default: {DEFAULT_SHARD_SIZE})"
    )
    convert_benchmark.set_defaults(run=_convert_benchmark)

    synthesize_benchmark = commands.add_parser(
        "synthesize-benchmark", help="a small synthetic stand-in of a benchmark, in its official file layout"
    )
    synthesize_benchmark.add_argument("name", help=f"benchmark: {names}")
    synthesize_benchmark.add_argument("out_dir", help="folder to write (must not exist, or be empty)")
    synthesize_benchmark.add_argument(
        "--num-samples", type=int, default=DEFAULT_STAND_IN_SAMPLES,
        help=f"frames to render (default: {DEFAULT_STAND_IN_SAMPLES})",
    )  # fmt: skip
    synthesize_benchmark.add_argument("--seed", type=int, default=0, help="seed (same seed, same files; default: 0)")
    synthesize_benchmark.add_argument(
        "--body-model", help="folder with smplx/ (and smpl/) body models (default: the synthetic body model, cached)"
    )
    synthesize_benchmark.set_defaults(run=_synthesize_benchmark)

    push = commands.add_parser("push", help="upload a converted directory to a Hub dataset repo")
    push.add_argument("out_dir")
    push.add_argument("repo_id")
    push.add_argument("--private", action="store_true", default=None)
    push.add_argument("--revision")
    push.add_argument("--create-pr", action="store_true")
    push.set_defaults(run=_push)

    inspect = commands.add_parser("inspect", help="check a directory or repo loads in the EHPS schema")
    inspect.add_argument("path")
    inspect.add_argument("--split", default="train")
    inspect.set_defaults(run=_inspect)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with sigterm_raises():  # SIGTERM raises `Terminated`, a KeyboardInterrupt: finished shards are kept
            return args.run(args)
    except KeyboardInterrupt as interruption:
        what = "terminated (SIGTERM)" if isinstance(interruption, Terminated) else "interrupted"
        print(f"error: {_one_line(what, interruption)}", file=sys.stderr)
        return TERMINATED if isinstance(interruption, Terminated) else INTERRUPTED
    except (ValueError, OSError) as error:  # HumanDataError and ShardingError are ValueErrors
        print(f"error: {_one_line(str(error) or type(error).__name__, error)}", file=sys.stderr)
        return BAD_INPUT


def _one_line(message: str, error: BaseException) -> str:
    """The message and the exception's notes (e.g. which finished shards were kept) on one line."""
    return " ".join(" ".join([message, *getattr(error, "__notes__", [])]).split())


if __name__ == "__main__":
    sys.exit(main())

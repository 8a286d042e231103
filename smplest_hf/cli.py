"""`smplest-x` command line: one entry point, one small function per subcommand.

Errors a user can fix (bad paths, malformed files, wrong arguments) are printed as one line on stderr; a
traceback means a bug in smplest_hf. Exit statuses follow `exit_codes` (0 ok, 1 bug, 2 bad input, 3 some inputs
skipped, 130 SIGINT, 143 SIGTERM). SIGTERM is turned into an exception like Ctrl-C's KeyboardInterrupt, so a
run stopped either way removes its staging folder and leaves the output folder as it was.
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

from . import exit_codes

# A library error longer than this (e.g. torch's list of every mismatched weight) is cut, to stay one line.
_MAX_MESSAGE_CHARS = 600


class CliError(Exception):
    """An error worth one line to the user, not a traceback."""


@contextlib.contextmanager
def _loading(what: str):
    """Any error while loading a user's `what` (truncated weights, wrong shapes, a bad config value, ...) -> one
    CliError line naming it. Interruptions pass through."""
    try:
        yield
    except CliError:
        raise
    except Exception as error:  # noqa: BLE001 - third-party loaders raise anything; the message names the type
        message = " ".join(str(error).split()) or "no details"
        if len(message) > _MAX_MESSAGE_CHARS:
            message = message[:_MAX_MESSAGE_CHARS] + " ..."
        raise CliError(f"{what} could not be loaded ({type(error).__name__}: {message}).") from None


def _make_synthetic_body_model(args) -> int:
    from .synthetic import write_synthetic_body_model

    directory = write_synthetic_body_model(args.directory, seed=args.seed)
    print(f"Synthetic SMPL-X- and SMPL-format body models written to {directory}/smplx and {directory}/smpl (seed {args.seed}).")
    print(f"Use them with --body-model {directory} (SMPL-X alone also with SMPLX_MODEL_DIR={directory}).")
    return 0


def _convert_original(args) -> int:
    from .models.smplest_x.convert_original_checkpoint import run

    return run(args)


def _demo(args) -> int:
    """The bundled demo, offline: bundled model + synthetic body model + bundled sample images and boxes -> `infer`."""
    from .inference.pipeline import default_model_location
    from .synthetic import cached_synthetic_body_model_dir

    samples = Path(__file__).resolve().parent / "demo_data"
    model = default_model_location()  # one-line error when this installation has no bundled model
    body_model = args.body_model or cached_synthetic_body_model_dir()
    infer_args = build_parser().parse_args(
        ["infer", str(samples), str(args.output_dir), "--model", str(model), "--body-model", str(body_model),
         "--boxes", str(samples / "boxes.json"), "--device", args.device or "cpu", "--dtype", "float32",
         *(["--overwrite"] if args.overwrite else [])]
    )  # fmt: skip
    status = _infer(infer_args)
    print(f"Demo results (overlays, meshes, .glb scenes, SMPL-X parameters, keypoints) are in {args.output_dir}/.")
    return status


def _selftest(args) -> int:
    """Offline end-to-end smoke run: synthetic body model -> tiny random model -> processor -> mesh."""
    import numpy as np
    import torch
    from PIL import Image

    from . import SmplestXConfig, SmplestXForHumanMeshRecovery, SmplestXImageProcessor
    from .synthetic import write_synthetic_body_model

    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    body_model_dir = write_synthetic_body_model(output_dir / "synthetic_body_model", seed=0)
    torch.manual_seed(0)
    model = SmplestXForHumanMeshRecovery(SmplestXConfig.from_preset("tiny")).eval()
    model.attach_body_model(body_model_dir)
    processor = SmplestXImageProcessor()
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8))
    boxes = [[[200.0, 60.0, 180.0, 400.0]]]
    start = time.perf_counter()
    inputs = processor(image, boxes=boxes, return_tensors="pt")
    with torch.no_grad():
        outputs = model(inputs["pixel_values"])
    people = processor.post_process_mesh_recovery(outputs, boxes=boxes, target_sizes=[(480, 640)])
    elapsed = time.perf_counter() - start
    person = people[0][0]
    print(f"selftest: 1 image, 1 person, {elapsed * 1000:.0f} ms (untrained tiny model, synthetic body model)")
    for name in ("vertices", "joints", "keypoints_2d", "camera_translation", "focal_length"):
        print(f"  {name}: shape {tuple(np.asarray(person[name]).shape)}")
    print(f"Synthetic body model kept in {body_model_dir}")
    return 0


def _infer(args) -> int:
    """Images (one file or a folder) -> SMPL-X parameters, meshes, glb scenes, keypoints, overlays in OUTPUT_DIR."""

    from .inference.camera_placement import CameraSpec
    from .export.results import parse_output_kinds
    from .inference.image_files import collect_image_files, infer_image_files, keep_usable, read_boxes_file
    from .inference.image_io import check_image_file, read_focal_length_35mm
    from .video.video_io import is_video_path

    if is_video_path(args.input) and not Path(args.input).is_dir():
        return _infer_video(args)
    # Everything that can be checked cheaply is checked before the model loads and before any file is written.
    kinds = parse_output_kinds(args.outputs or "params,mesh,glb,overlay,keypoints")
    _check_output_folder(args)
    files = collect_image_files(args.input)
    camera = CameraSpec.parse(args.camera)
    skipped = []

    def check(file):
        size = check_image_file(file)
        if camera.kind == "exif":  # fail before any work, not on the 100th photo
            camera.intrinsics(size, read_focal_length_35mm(file), image_name=f"Image file {str(file)!r}")

    files = keep_usable(files, check, args.on_error, skipped)
    boxes = None
    if args.boxes:
        boxes = read_boxes_file(args.boxes, files, skipped=skipped if args.on_error == "skip" else None)
        files, boxes = [file for file, box in zip(files, boxes) if box is not None], [box for box in boxes if box is not None]
    if not files:
        raise CliError(f"No input image could be used ({len(skipped)} skipped); the first: {skipped[0]['reason']}")
    pipeline = _inference_pipeline(args, kinds, boxes, camera)
    summary = infer_image_files(
        pipeline, files, args.output_dir, kinds=kinds, boxes=boxes, overwrite=args.overwrite, on_error=args.on_error,
        skipped=skipped,
    )  # fmt: skip
    rate = summary["images"] / summary["seconds"] if summary["seconds"] else float("inf")
    people = f"{summary['people']} {'person' if summary['people'] == 1 else 'people'}"
    print(
        f"{summary['images']} image(s), {people} in {summary['seconds']:.1f} s ({rate:.2f} images/s, {summary['device']}, "
        f"{summary['dtype']}); results in {args.output_dir} ({', '.join(kinds)}; summary in results.json)."
    )
    if summary["skipped"]:
        count, first = len(summary["skipped"]), summary["skipped"][0]
        print(f"smplest-x infer: warning: skipped {count} input(s) (--on-error skip), reasons in results.json; the "
              f"first: {first['reason']}", file=sys.stderr)  # fmt: skip
        return exit_codes.SOME_SKIPPED
    return exit_codes.OK


def _check_output_folder(args) -> None:
    """Before any work: OUTPUT_DIR may take the run (absent, empty, or `--overwrite`), and `--overwrite` would not
    delete the run's own inputs along with the old outputs."""
    from .export.atomic import check_output_folder

    output_dir = check_output_folder(args.output_dir, args.overwrite).resolve()
    if args.overwrite:
        for option, value in (("input", args.input), ("--boxes", args.boxes), ("--model", args.model), ("--body-model", args.body_model)):
            if value and Path(value).expanduser().exists():
                inside = Path(value).expanduser().resolve()
                if inside == output_dir or output_dir in inside.parents:
                    raise CliError(f"--overwrite would delete the {option} {str(value)!r}: it lies in the output folder {str(args.output_dir)!r}.")


def _inference_pipeline(args, kinds, boxes, camera):
    """The `infer` pipeline for images and videos: model and body model checked (one-line errors) before loading.
    `camera`: the parsed `--camera` (`CameraSpec`)."""
    import os

    from transformers.utils import logging as transformers_logging

    from .models.smplest_x.body_model import SmplxBodyModel
    from .export.results import kinds_needing_body_model
    from .inference.pipeline import SmplestXPipeline, check_model_location, default_model_location

    model = args.model or default_model_location()
    check_model_location(model)
    body_model_dir = args.body_model or os.environ.get("SMPLX_MODEL_DIR")
    needs_body_model = kinds_needing_body_model(kinds)
    if needs_body_model and not body_model_dir:
        raise CliError(
            f"--outputs {','.join(needs_body_model)} need an SMPL-X body model: pass --body-model DIR (the folder "
            "containing smplx/SMPLX_NEUTRAL.npz) or set SMPLX_MODEL_DIR; --outputs params works without one."
        )
    if not camera.is_box and not body_model_dir:
        raise CliError(
            f"--camera {camera} places the people's meshes in the photo's camera and needs an SMPL-X body model: "
            "pass --body-model DIR or set SMPLX_MODEL_DIR."
        )
    with _loading(f"Body model {str(body_model_dir)!r}"):
        body_model = SmplxBodyModel.from_directory(body_model_dir) if body_model_dir else None
    transformers_logging.disable_progress_bar()  # ours is the one progress bar; keeps stderr to errors
    with _loading(f"Model {str(model)!r}"):
        return SmplestXPipeline(
            model, body_model_dir=body_model, detector="none" if boxes is not None else args.detector,
            device=args.device, dtype=args.dtype, batch_size=args.batch_size, threshold=args.threshold,
            max_people=args.max_people, max_pixels=args.max_pixels or None, camera=camera,
        )  # fmt: skip


def _infer_video(args) -> int:
    """A video file -> per-track SMPL-X parameter sequences, overlay video, keypoints, animated glb in OUTPUT_DIR."""

    from .inference.camera_placement import CameraSpec
    from .export.results import parse_output_kinds
    from .video.video_file import (
        DEFAULT_VIDEO_OUTPUTS,
        VIDEO_OUTPUT_KINDS,
        infer_video_file,
        read_video_boxes_file,
    )
    from .video.video_io import read_video_info

    # As for images: every cheap check (the video opens and its first frame decodes) before the model loads.
    kinds = parse_output_kinds(args.outputs or DEFAULT_VIDEO_OUTPUTS, allowed=VIDEO_OUTPUT_KINDS)
    camera = CameraSpec.parse(args.camera)
    if camera.kind == "exif" and camera.fallback is None:
        raise CliError("--camera exif reads a photo's EXIF focal length; videos have none: use --camera fov:DEGREES or focal:PIXELS.")
    _check_output_folder(args)
    max_frames = args.max_frames or None
    read_video_info(args.input, max_frames=max_frames)
    boxes = read_video_boxes_file(args.boxes) if args.boxes else None
    pipeline = _inference_pipeline(args, kinds, boxes, camera)
    summary = infer_video_file(
        pipeline, args.input, args.output_dir, kinds=kinds, boxes=boxes, smoothing=args.smooth, max_frames=max_frames,
        overwrite=args.overwrite, track_shape=args.track_shape,
    )  # fmt: skip
    print(
        f"{summary['frames']} frame(s), {len(summary['tracks'])} track(s), {summary['people']} person-frame(s) in "
        f"{summary['seconds']:.1f} s ({summary['frames_per_second'] or 0:.2f} frames/s, {summary['device']}, {summary['dtype']}, "
        f"smoothing {'on' if args.smooth else 'off'}, body shape {args.track_shape}); results in {args.output_dir} ({', '.join(kinds)}; summary in results.json)."
    )
    if summary["missing_frames"]:
        print(f"smplest-x infer: warning: {args.input!r} states {summary['frames_stated']} frames but only "
              f"{summary['frames']} decoded (truncated or damaged file); missing_frames in results.json", file=sys.stderr)  # fmt: skip
        return exit_codes.SOME_SKIPPED
    return exit_codes.OK


def _evaluate(args) -> int:
    """MODEL on named benchmarks -> results.json and results.md (all metrics, MPE last) in OUTPUT_DIR."""
    from accelerate import Accelerator

    from .evaluation.run import evaluate

    accelerator = Accelerator()
    report = evaluate(
        args.model, args.benchmarks, body_model_dir=args.body_model, batch_size=args.batch_size,
        max_samples=args.max_samples, num_workers=args.num_workers, streaming=args.streaming,
        output_dir=args.output_dir, update_card=args.update_model_card, accelerator=accelerator,
    )  # fmt: skip
    if accelerator.is_main_process:
        for result in report.benchmarks:
            print(f"{result.title}: {result.primary_metric} {result.primary_error:.2f} mm ({result.num_samples} samples)")
        print(f"MPE: {'n/a' if report.mpe is None else f'{report.mpe:.2f} mm'} over {len(report.benchmarks)} benchmark(s); "
              f"results in {args.output_dir}" + (" and the model card" if args.update_model_card else "") + ".")  # fmt: skip
    accelerator.end_training()  # under torchrun: destroys the process group before interpreter exit
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smplest-x", description="SMPLest-X whole-body human mesh recovery.", epilog=exit_codes.EXIT_STATUS_HELP
    )
    commands = parser.add_subparsers(dest="command", required=True)

    synthetic = commands.add_parser(
        "make-synthetic-body-model",
        help="write synthetic SMPL-X- and SMPL-format body models (offline stand-ins for the licensed ones)",
    )
    synthetic.add_argument("directory", help="folder to create; files go to DIRECTORY/smplx/ and DIRECTORY/smpl/")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.set_defaults(run=_make_synthetic_body_model)

    from .models.smplest_x.convert_original_checkpoint import add_arguments as add_converter_arguments

    convert = commands.add_parser(
        "convert-original",
        help="convert an official SMPLest-X checkpoint (.pth.tar) to a Hugging Face model directory",
        description="Convert an official SMPLest-X checkpoint (.pth.tar) into a Hugging Face model directory.",
        epilog=exit_codes.EXIT_STATUS_HELP,
    )
    # The converter's own arguments, so `smplest-x convert-original` and `python -m` accept the same options.
    add_converter_arguments(convert)
    convert.set_defaults(run=_convert_original)

    from .inference.camera_placement import CAMERA_SPEC_HELP
    from .inference.detection import DEFAULT_DETECTOR
    from .export.results import OUTPUT_KINDS
    from .inference.image_files import ON_ERROR_CHOICES
    from .inference.image_io import DEFAULT_MAX_PIXELS
    from .video.pipeline import TRACK_SHAPES
    from .video.video_io import DEFAULT_MAX_FRAMES

    infer = commands.add_parser(
        "infer",
        help="recover SMPL-X meshes of every person in an image or a folder of images",
        description="Detect people, recover their SMPL-X bodies and write the chosen outputs to OUTPUT_DIR. The run's "
        "outputs appear in OUTPUT_DIR all at once when it succeeds; a failed or interrupted run leaves OUTPUT_DIR as "
        "it was.",
        epilog=exit_codes.EXIT_STATUS_HELP,
    )
    infer.add_argument("input", help="an image file, a folder of images, or a video file (.mp4, .mov, .mkv, .avi, .webm, ...)")
    infer.add_argument("output_dir", help="folder for params/, meshes/, glb/, keypoints/, overlays/ and results.json")
    infer.add_argument("--model", help="SMPLest-X model folder or Hub id (default: the bundled demo model)")
    infer.add_argument("--body-model", help="folder containing smplx/SMPLX_NEUTRAL.npz (default: $SMPLX_MODEL_DIR)")
    infer.add_argument("--detector", default=DEFAULT_DETECTOR, help=f"object-detection model (Hub id or folder), or 'none' for whole images (default: {DEFAULT_DETECTOR})")
    infer.add_argument("--boxes", help='JSON person boxes [x, y, w, h] in pixels: a list for one image, {"file name": [...]} for a folder, or for a video one list per frame / {"frame number": [...]} (skips the detector)')
    infer.add_argument("--outputs", default=None, help=f"comma-separated subset of {','.join(OUTPUT_KINDS)} (images; default: all) or of {','.join(OUTPUT_KINDS)},anim (videos; default: params,overlay,keypoints,anim)")
    infer.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    infer.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                       help="auto (default): bfloat16 where the hardware has native bf16 matrix units (AMX / AVX512-BF16 "
                       "CPUs, CUDA 8.0+), else float32; float16 needs a GPU; the choice is recorded in results.json")
    infer.add_argument("--batch-size", type=int, default=8, help="people per model pass, images per detector pass (default: 8)")
    infer.add_argument("--threshold", type=float, default=0.5, help="minimum detector score of a person (default: 0.5)")
    infer.add_argument("--max-people", type=int, default=None, help="keep at most this many people per image (best scores)")
    infer.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=f"larger images are shrunk to this many pixels for processing; results stay in original pixels; 0 = never (default: {DEFAULT_MAX_PIXELS})")
    infer.add_argument("--camera", default="box", help=f"the camera people are placed in: {CAMERA_SPEC_HELP}. With a real camera all people share one 3D frame and overlays get the photo's perspective; needs a body model")
    infer.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=True, help="videos: temporal smoothing of each track's parameters (default: on)")
    infer.add_argument("--track-shape", choices=TRACK_SHAPES, default="mean", help="videos: mean (default): one body shape per tracked person, the mean of the model's per-frame betas over the whole track, in every output; per-frame: the model's betas of each frame (with --smooth, their running mean)")
    infer.add_argument("--max-frames", type=int, default=DEFAULT_MAX_FRAMES, help=f"videos: refuse videos with more frames; 0 = no limit (default: {DEFAULT_MAX_FRAMES}, 10 min at 30 fps)")
    infer.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTPUT_DIR as a whole (its old content is removed when the new results are in place; default: refuse it)")
    infer.add_argument("--on-error", choices=ON_ERROR_CHOICES, default="stop", help="images: stop: the first unusable image (unreadable, no EXIF under --camera exif, missing from --boxes) ends the run, nothing written (default); skip: leave it out, list it with its reason under 'skipped' in results.json, exit status 3. A video is one input: it is refused as a whole when it cannot be opened, and frames that do not decode (a truncated file) are counted in results.json's missing_frames, exit status 3, whatever this option says")
    infer.set_defaults(run=_infer)

    evaluation = commands.add_parser(
        "evaluate",
        help="evaluate a model on named benchmarks (all metrics in mm, MPE)",
        description="Evaluate MODEL on registered benchmarks (agora_val, egobody_egoset, ubody, 3dpw, ehf, arctic, "
        "synhand, ...; see smplest_hf.evaluation.benchmarks) and write results.json and results.md. Multi-GPU: "
        "`accelerate launch examples/evaluate.py` with the same arguments.",
    )
    evaluation.add_argument("model", help="SMPLest-X model folder or Hub id")
    evaluation.add_argument("--benchmarks", nargs="+", required=True, metavar="NAME[=PATH]", help="benchmark names; NAME=PATH reads it from a local EHPS dataset folder or Hub repo id (needed for the licensed test sets)")
    evaluation.add_argument("--body-model", help="folder containing smplx/ with the SMPL-X and evaluation files (default: $SMPLX_MODEL_DIR)")
    evaluation.add_argument("--batch-size", type=int, default=16, help="people per model pass and process (default: 16)")
    evaluation.add_argument("--max-samples", type=int, default=None, help="evaluate at most this many samples per benchmark (quick checks)")
    evaluation.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding and cropping images (default: 0)")
    evaluation.add_argument("--streaming", action="store_true", help="read the datasets lazily instead of downloading them first")
    evaluation.add_argument("--output-dir", default="evaluation", help="folder for results.json and results.md (default: evaluation)")
    evaluation.add_argument("--update-model-card", action="store_true", help="also write the results into MODEL's model card (model-index)")
    evaluation.set_defaults(run=_evaluate)

    demo = commands.add_parser(
        "demo",
        help="run the bundled demo model on the bundled sample images, offline (synthetic body model by default)",
    )
    demo.add_argument("output_dir", nargs="?", default="smplest_x_demo", help="where the results go (default: smplest_x_demo)")
    demo.add_argument("--body-model", help="folder containing smplx/ (default: the synthetic body model, cached)")
    demo.add_argument("--device", default=None, help="cpu (default), cuda, ...")
    demo.add_argument("--overwrite", action="store_true", help="replace the results of an earlier demo run in OUTPUT_DIR")
    demo.set_defaults(run=_demo)

    selftest = commands.add_parser("selftest", help="offline smoke run of the whole stack on synthetic data")
    selftest.add_argument("output_dir", nargs="?", default="smplest_x_selftest")
    selftest.set_defaults(run=_selftest)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns its exit status (`exit_codes`). Usage errors exit 2 from argparse."""
    args = build_parser().parse_args(argv)
    with exit_codes.sigterm_raises():
        try:
            return args.run(args)
        except exit_codes.Terminated:  # before KeyboardInterrupt, its base class
            return _report(args, "terminated (SIGTERM); no partial outputs left", exit_codes.TERMINATED)
        except KeyboardInterrupt:
            return _report(args, "interrupted (SIGINT); no partial outputs left", exit_codes.INTERRUPTED)
        except (CliError, ValueError, OSError) as error:
            # One line whatever the exception's text: messages from other libraries may span several.
            return _report(args, "error: " + (" ".join(str(error).split()) or type(error).__name__), exit_codes.BAD_INPUT)


def _report(args, message: str, status: int) -> int:
    print(f"smplest-x {args.command}: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

"""`smplest-x` command line: one entry point, one small function per subcommand.

Errors a user can fix (bad paths, malformed files, wrong arguments) are printed as one line on stderr with a
non-zero exit code; a traceback means a bug in smplest_hf.
"""

import argparse
import sys
import time
from pathlib import Path


class CliError(Exception):
    """An error worth one line to the user, not a traceback."""


def _make_synthetic_body_model(args) -> int:
    from .synthetic import write_synthetic_body_model

    directory = write_synthetic_body_model(args.directory, seed=args.seed)
    print(f"Synthetic SMPL-X-format body model written to {directory}/smplx (seed {args.seed}).")
    print(f"Use it with --body-model {directory} or SMPLX_MODEL_DIR={directory}.")
    return 0


def _convert_original(args) -> int:
    from .convert_original_checkpoint import main as convert_main

    return convert_main(args.converter_args)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smplest-x", description="SMPLest-X whole-body human mesh recovery.")
    commands = parser.add_subparsers(dest="command", required=True)

    synthetic = commands.add_parser(
        "make-synthetic-body-model", help="write a synthetic SMPL-X-format body model (offline stand-in for SMPL-X)"
    )
    synthetic.add_argument("directory", help="folder to create; files go to DIRECTORY/smplx/")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.set_defaults(run=_make_synthetic_body_model)

    convert = commands.add_parser(
        "convert-original",
        help="convert an official SMPLest-X checkpoint (.pth.tar) to a Hugging Face model directory",
        add_help=False,
    )
    convert.add_argument("converter_args", nargs=argparse.REMAINDER)
    convert.set_defaults(run=_convert_original)

    selftest = commands.add_parser("selftest", help="offline smoke run of the whole stack on synthetic data")
    selftest.add_argument("output_dir", nargs="?", default="smplest_x_selftest")
    selftest.set_defaults(run=_selftest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CliError, ValueError, FileNotFoundError, PermissionError, OSError) as error:
        print(f"smplest-x {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

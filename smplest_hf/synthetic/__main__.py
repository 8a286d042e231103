"""``python -m smplest_hf.synthetic DIR [--seed S]``: write the synthetic SMPL-X- and SMPL-format body models to
DIR (``DIR/smplx/``, ``DIR/smpl/``)."""

import argparse
import sys
import time

from .body_model_files import write_synthetic_body_model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smplest_hf.synthetic", description=__doc__)
    parser.add_argument("directory", help="folder to create; the files go to DIRECTORY/smplx/ and DIRECTORY/smpl/")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random blend-shape fields (default 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        directory = write_synthetic_body_model(args.directory, seed=args.seed)
    except OSError as error:
        print(f"python -m smplest_hf.synthetic: error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    print(
        f"Synthetic SMPL-X- and SMPL-format body models written to {directory}/smplx and {directory}/smpl in "
        f"{elapsed:.1f} s (seed {args.seed})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

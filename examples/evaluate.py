"""Evaluate a SMPLest-X model on named benchmarks: every metric in mm per benchmark, MPE last.

Same arguments as `smplest-x evaluate`; run it with `accelerate launch` to split the samples over GPUs:

    accelerate launch examples/evaluate.py path/or/repo-of/model \
        --benchmarks agora_val=/data/agora_val_ehps egobody_egoset=/data/egobody_ehps ubody=/data/ubody_ehps \
                     3dpw=/data/3dpw_ehps ehf=/data/ehf_ehps \
        --body-model human_model_files --batch-size 32 --output-dir eval/ --update-model-card

The test sets are licensed: convert them to the EHPS schema first (`python -m hub_datasets convert-humandata ...`)
and pass each as NAME=PATH. Your own benchmark (e.g. synthetic data) is evaluated after registering it:

    from smplest_hf.evaluation.benchmarks import Benchmark, register_benchmark
    register_benchmark(Benchmark(name="my_set", title="My set", dataset="data/my_set", gender="per_sample"))
"""

import sys

from smplest_hf.cli import main


if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))

"""The papers' MPE end to end: every benchmark's stand-in in its official format -> convert-benchmark ->
`smplest-x evaluate` over all five -> one MPE over the papers' benchmark set.

Each benchmark's primary error is checked against an independent computation in its own test module
(test_benchmark_conversion.py, test_benchmark_formats_agora_ubody_egobody.py); this test checks that the five run
together from the command line and that MPE is the unweighted mean of the five primary errors.
"""

import json

import pytest

from hub_datasets.benchmarks.conversion import convert_benchmark, synthesize_benchmark
from smplest_hf.cli import main
from smplest_hf.evaluation.benchmarks import PAPER_MPE_BENCHMARKS, get_benchmark

DEMO_MODEL = "smplest_hf/demo_model"


@pytest.mark.slow
def test_five_benchmarks_from_their_official_formats_give_the_paper_mpe(tmp_path, synthetic_body_model_dir, capsys):
    arguments = []
    for name in PAPER_MPE_BENCHMARKS:
        source = synthesize_benchmark(name, tmp_path / "official" / name, 3, seed=1, body_model_dir=synthetic_body_model_dir)
        convert_benchmark(name, source, tmp_path / "converted" / name)
        arguments.append(f"{name}={tmp_path / 'converted' / name}")
    output_dir = tmp_path / "evaluation"
    code = main(["evaluate", DEMO_MODEL, "--benchmarks", *arguments, "--body-model", str(synthetic_body_model_dir),
                 "--output-dir", str(output_dir), "--batch-size", "4"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    results = json.loads((output_dir / "results.json").read_text())
    assert results["mpe"]["is_paper_benchmark_set"] is True
    assert sorted(results["mpe"]["benchmarks"]) == sorted(PAPER_MPE_BENCHMARKS)
    primary = []
    for name in PAPER_MPE_BENCHMARKS:
        entry = results["benchmarks"][name]
        assert entry["primary_metric"] == get_benchmark(name).primary_metric
        assert entry["num_samples"] >= 1 and entry["primary_error"] > 0
        # The sample count shown is the one behind the primary error.
        assert entry["samples_per_metric"][entry["primary_metric"]] <= entry["num_samples"]
        # Stand-ins are converted with their provenance: never filed as the benchmark itself.
        assert entry["is_benchmark_test_split"] is False
        primary.append(entry["primary_error"])
    assert results["mpe"]["value"] == pytest.approx(sum(primary) / len(primary), rel=1e-9)
    table = (output_dir / "results.md").read_text()
    assert "**MPE**" in table and all(get_benchmark(name).title in table for name in PAPER_MPE_BENCHMARKS)

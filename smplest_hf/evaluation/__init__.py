"""Evaluation: the metrics (one registry entry each), the benchmark registry, and the evaluation run (MPE).

>>> from smplest_hf.evaluation import evaluate  # doctest: +SKIP
"""

from .run import BenchmarkResult, EvaluationReport, evaluate, update_model_card

__all__ = ["BenchmarkResult", "EvaluationReport", "evaluate", "update_model_card"]

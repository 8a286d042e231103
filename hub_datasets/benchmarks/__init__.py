"""The papers' five benchmarks from their official files: conversion to EHPS datasets, and synthetic stand-ins.

    python -m hub_datasets convert-benchmark NAME SOURCE_DIR OUT_DIR
    python -m hub_datasets synthesize-benchmark NAME OUT_DIR [--num-samples N] [--seed S]

``NAME`` is the evaluation registry's name (``smplest_hf.evaluation.benchmarks``). Each format lives in its own
module, imported when asked for, and exposes ``FORMAT`` (a :class:`~hub_datasets.benchmarks.format.BenchmarkFormat`).
"""

import importlib

from .format import BenchmarkFormat

FORMAT_MODULES = {
    "agora_val": "agora",
    "egobody_egoset": "egobody",
    "ubody": "ubody",
    "3dpw": "pw3d",
    "ehf": "ehf",
}
"""Benchmark name -> module of this package that holds its ``FORMAT``."""


def get_format(name: str) -> BenchmarkFormat:
    """The official file format of benchmark `name`; a ``ValueError`` listing the known names otherwise."""
    if name not in FORMAT_MODULES:
        raise ValueError(f"No converter for benchmark {name!r}; known: {', '.join(FORMAT_MODULES)}.")
    return importlib.import_module(f"{__name__}.{FORMAT_MODULES[name]}").FORMAT


__all__ = ["FORMAT_MODULES", "BenchmarkFormat", "get_format"]

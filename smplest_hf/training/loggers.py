"""Logging for training: Accelerate trackers that are installed, plus a JSON-lines file that always works.

`metrics.jsonl` (tracker `jsonl`) is the default and always works. TensorBoard, W&B, ... are not dependencies
(TensorBoard pulls grpcio and protobuf): one named in `logging.log_with` but not installed makes training warn
once, naming the package to install, and log to `metrics.jsonl` only.

>>> import json, tempfile
>>> folder = tempfile.mkdtemp()
>>> tracker = JsonlTracker(folder)
>>> tracker.log({"train/loss": 1.5}, step=3)
>>> json.loads(open(f"{folder}/metrics.jsonl").read())
{'step': 3, 'train/loss': 1.5}
"""

import json
import logging
import math
import os
from pathlib import Path

from accelerate.tracking import GeneralTracker, get_available_trackers
from accelerate.utils import LoggerType

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


class JsonlTracker(GeneralTracker):
    """One JSON object per `log` call, `{"step": N, name: value, ...}`, appended to `<logging_dir>/metrics.jsonl`.

    A resumed run appends to the same file: when steps repeat, the last line for a step is the current one.
    """

    name = "jsonl"
    requires_logging_directory = True
    main_process_only = True

    def __init__(self, logging_dir):
        super().__init__()
        self.path = Path(logging_dir) / METRICS_FILE  # its folder is made on the first write: a run that fails
        # while being set up leaves no folder behind

    @property
    def tracker(self):
        return self.path

    def store_init_configuration(self, values: dict):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        (self.path.parent / "config.json").write_text(json.dumps(values, indent=2, sort_keys=True, default=str) + "\n")

    def log(self, values: dict, step=None, **kwargs):
        record = {"step": step, **{name: _plain(value) for name, value in values.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value


def read_metrics(path) -> dict:
    """`metrics.jsonl` -> {step: {name: value}}, later lines for a step updating earlier ones."""
    records = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            records.setdefault(record.pop("step"), {}).update(record)
    return records


def select_trackers(log_with, logging_dir) -> list:
    """The trackers to give `Accelerator(log_with=...)`: the installed ones of `log_with` and a `JsonlTracker`.

    Unknown names raise ValueError listing the known ones; known but uninstalled ones are dropped with a warning.
    """
    names = [log_with] if isinstance(log_with, str) else list(log_with or [])
    known = set(LoggerType.list()) - {"all"}
    unknown = sorted(set(names) - known - {"all", "jsonl"})
    if unknown:
        raise ValueError(f"logging.log_with names unknown tracker(s) {unknown}; choose from {sorted(known | {'all'})}.")
    available = {str(tracker) for tracker in get_available_trackers()}
    selected = []
    for name in names:
        if name == "jsonl":
            continue
        if name == "all" or name in available:
            selected.append(name)
        else:
            logger.warning(
                "Tracker %r is not installed: logging to %s only (pip install %s to enable it).",
                name, Path(logging_dir) / METRICS_FILE, name,
            )  # fmt: skip
    return selected + [JsonlTracker(logging_dir)]


__all__ = ["METRICS_FILE", "JsonlTracker", "read_metrics", "select_trackers"]

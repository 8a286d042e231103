"""Files written completely or not at all, and runs whose outputs appear only when the whole run succeeded.

Every file smplest_hf writes goes through `PendingFile`: the content goes to a hidden temporary file in the
target's folder (`.NAME.RANDOM.tmp`), is flushed to disk (`fsync`), then renamed over the target with
`os.replace`. Readers see the old file or the new one, never half of one; after an error (or Ctrl-C) the previous
file is untouched and the temporary file is gone. The temporary file is created like any other new file
(`open(..., O_CREAT | O_EXCL, 0o666)`), so the result gets the user's usual permissions, `0o666 & ~umask`
(`tempfile.mkstemp` would make it readable by its owner only).

`staged_run(output_dir)` does the same for a run of many files: they are written to a hidden staging folder in
`output_dir` and moved into place only when the run succeeded, a chosen summary file last (its presence marks a
complete run); a failed run leaves nothing behind.

```python
>>> from smplest_hf.export.atomic import staged_run, write_json_atomic, write_text_atomic
>>> write_text_atomic("notes.txt", "hello\\n")                         # doctest: +SKIP
>>> with staged_run("results/", last="results.json") as staging:      # doctest: +SKIP
...     write_json_atomic(staging / "results.json", {"images": 1})
```
"""

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

STAGING_PREFIX = ".smplest_x_partial_"


class PendingFile:
    """A new hidden file beside `path` that replaces `path` on `commit()` or disappears on `discard()`.

    For writers that need a file name (FFmpeg, Parquet): they write to `temporary`. As a context manager it
    commits when the block succeeds and discards on an exception. Parent folders are created as needed.
    `folder`: where the temporary file is made instead of beside `path` (on the same file system), for a folder
    that must only ever hold complete files (a dataset's shards).
    """

    def __init__(self, path, folder=None):
        self.path = Path(path)
        folder = self.path.parent if folder is None else Path(folder)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        while True:
            temporary = folder / f".{self.path.name}.{secrets.token_hex(4)}.tmp"
            try:  # mode 0o666 reduced by the umask, as for any file the user creates
                os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                break
            except FileExistsError:  # another writer drew the same name
                continue
        self.temporary: Path | None = temporary

    def commit(self) -> Path:
        """Flush the temporary file to disk and rename it over `path`; returns `path`. On failure the temporary
        file is removed and `path` is left as it was."""
        try:
            descriptor = os.open(self.temporary, os.O_WRONLY)
            try:
                os.fsync(descriptor)  # the data is on disk before the rename makes it visible
            finally:
                os.close(descriptor)
            os.replace(self.temporary, self.path)
        except BaseException:
            self.discard()
            raise
        self.temporary = None
        return self.path

    def discard(self) -> None:
        """Remove the temporary file (nothing happens to `path`)."""
        if self.temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.temporary)
            self.temporary = None

    def __enter__(self) -> "PendingFile":
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


@contextlib.contextmanager
def atomic_file(path) -> Iterator:
    """Yield a binary file object; when the block succeeds its content replaces `path` (see `PendingFile`)."""
    with PendingFile(path) as pending, open(pending.temporary, "wb") as handle:
        yield handle


def write_bytes_atomic(path, data: bytes) -> Path:
    """`data` as the whole content of `path`, atomically; returns `path` as a `Path`."""
    with atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path, text: str) -> Path:
    """`text` as UTF-8 in `path`, atomically (written as given: no newline added)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path, content, indent: int = 2, sort_keys: bool = False) -> Path:
    """`content` as indented JSON plus a final newline, atomically. NumPy arrays and scalars become lists and
    numbers, paths strings."""
    return write_text_atomic(path, json.dumps(content, indent=indent, sort_keys=sort_keys, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot write {type(value).__name__} to JSON.")


# ---------------------------------------------------------------------------------------------- runs
@contextlib.contextmanager
def staged_run(output_dir, last: str | None = None) -> Iterator[Path]:
    """Yield a hidden staging folder inside `output_dir` for one run's files.

    When the block succeeds, every staged file is moved to the same relative path in `output_dir` (replacing
    files of an earlier run of the same name, keeping the others), the file named `last` after all others. When
    it raises, the staging folder is removed, and so is `output_dir` if this run created it and it is empty.

    Raises:
        ValueError: `output_dir` exists and is not a folder.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"Output {str(output_dir)!r} exists and is not a folder.")
    created = not output_dir.exists()
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=output_dir))
    try:
        yield staging
        _move_staged_files(staging, output_dir, last)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                output_dir.rmdir()  # only when empty
        raise
    shutil.rmtree(staging, ignore_errors=True)


def _move_staged_files(staging: Path, output_dir: Path, last: str | None) -> None:
    """Every file under `staging` to the same place under `output_dir`, `staging / last` after all others."""
    final = staging / last if last is not None else None
    files = [source for source in sorted(staging.rglob("*")) if source.is_file() and source != final]
    if final is not None and final.is_file():
        files.append(final)
    for source in files:
        target = output_dir / source.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)


__all__ = [
    "STAGING_PREFIX",
    "PendingFile",
    "atomic_file",
    "staged_run",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

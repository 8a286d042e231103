"""Files written completely or not at all, and runs whose outputs appear only when the whole run succeeded.

Every file smplest_hf writes goes through `PendingFile`: the content goes to a hidden temporary file in the
target's folder (`.NAME.RANDOM.tmp`), is flushed to disk (`fsync`), then renamed over the target with
`os.replace`. Readers see the old file or the new one, never half of one; after an error (or Ctrl-C) the previous
file is untouched and the temporary file is gone. The temporary file is created like any other new file
(`open(..., O_CREAT | O_EXCL, 0o666)`), so the result gets the user's usual permissions, `0o666 & ~umask`
(`tempfile.mkstemp` would make it readable by its owner only).

`staged_run(output_dir)` does the same for a run of many files: they are written to a hidden staging folder
beside `output_dir`, which is renamed to `output_dir` in one step only when the run succeeded (a non-empty
`output_dir` is refused unless `overwrite`, then replaced as a whole); a failed run leaves nothing behind.

```python
>>> from smplest_hf.export.atomic import staged_run, write_json_atomic, write_text_atomic
>>> write_text_atomic("notes.txt", "hello\\n")                         # doctest: +SKIP
>>> with staged_run("results/") as staging:      # doctest: +SKIP
...     write_json_atomic(staging / "results.json", {"images": 1})
```
"""

import contextlib
import json
import os
import secrets
import shutil
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
# Test hook (documented in the README's testing notes): seconds to sleep just before a run's final move, so a
# test can send a signal at that moment. Unset in normal use.
PAUSE_BEFORE_COMMIT_VARIABLE = "SMPLEST_X_TEST_PAUSE_BEFORE_COMMIT"
# Test hook: seconds to sleep in the middle of the final move (between moving the old folder aside and renaming
# the new one into place), with SIGINT/SIGTERM held back, to show that a signal then still ends complete.
PAUSE_DURING_COMMIT_VARIABLE = "SMPLEST_X_TEST_PAUSE_DURING_COMMIT"
_HELD_SIGNALS = ("SIGINT", "SIGTERM")


class OutputFolderError(ValueError):
    """The output folder cannot take a run: it is a file, or it is not empty and overwriting was not asked for."""


def check_output_folder(output_dir, overwrite: bool = False) -> Path:
    """`output_dir` as a `Path` if a run may write it: absent, an empty folder, or (with `overwrite`) any folder.

    Raises:
        OutputFolderError: `output_dir` exists and is not a folder, or is a non-empty folder and not `overwrite`.
    """
    output_dir = Path(output_dir).expanduser()
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputFolderError(f"Output {str(output_dir)!r} exists and is not a folder.")
    if output_dir.is_dir() and not overwrite and any(output_dir.iterdir()):
        raise OutputFolderError(
            f"Output folder {str(output_dir)!r} is not empty; choose a new folder, or pass --overwrite to replace "
            "its whole content with this run's outputs."
        )
    return output_dir


@contextlib.contextmanager
def staged_run(output_dir, overwrite: bool = False) -> Iterator[Path]:
    """Yield a hidden staging folder, beside `output_dir`, for one run's files; it becomes `output_dir` at the end.

    When the block succeeds the staging folder is renamed to `output_dir` in one `os.rename`: readers see no
    folder (or the old one) and then the complete run, never part of it. With `overwrite` an existing
    `output_dir` is first renamed aside and removed after the new one is in place; SIGINT and SIGTERM are held
    back during the two renames, so a signal then still leaves the complete new run. When the block raises
    (an error, Ctrl-C, SIGTERM turned into an exception) the staging folder is removed and `output_dir` is as it
    was; folders this run created to hold it are removed when empty.

    Raises:
        OutputFolderError: before anything is written, as `check_output_folder`.
    """
    output_dir = check_output_folder(output_dir, overwrite)
    created = _make_parents(output_dir.parent)
    staging = _make_hidden_folder(output_dir.parent, f"{STAGING_PREFIX}{output_dir.name}_")
    try:
        yield staging
        _pause_for_tests(PAUSE_BEFORE_COMMIT_VARIABLE)
        _swap_into_place(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:  # deepest first; only when empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; returns the created ones, deepest first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)  # mode 0o777 reduced by the umask
    return missing


def _make_hidden_folder(parent: Path, prefix: str) -> Path:
    """A new empty folder `parent / (prefix + random)` with the user's usual permissions (`tempfile.mkdtemp`
    would make it private, and the renamed output folder with it)."""
    while True:
        folder = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def _swap_into_place(staging: Path, output_dir: Path) -> None:
    """Rename `staging` to `output_dir`; an existing non-empty `output_dir` is renamed aside first and removed
    after. SIGINT/SIGTERM are held back meanwhile and delivered after: the run is then complete."""
    with _signals_held():
        if output_dir.is_dir() and any(output_dir.iterdir()):
            old = _make_hidden_folder(output_dir.parent, f"{STAGING_PREFIX}{output_dir.name}_old_")
            os.replace(output_dir, old)  # onto the new empty folder: an atomic rename
            try:
                _pause_for_tests(PAUSE_DURING_COMMIT_VARIABLE)
                os.rename(staging, output_dir)
            except BaseException:
                os.replace(old, output_dir)  # put the old folder back
                raise
            shutil.rmtree(old, ignore_errors=True)  # before the held signals come: nothing may be left behind
        else:
            os.replace(staging, output_dir)  # an empty folder is replaced, a missing one created


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM received during the block are recorded and raised again after it (their own handlers
    run then). Python handlers, not a signal mask: a mask holds back only the calling thread's signals, and
    the kernel may hand a signal to any thread (torch's, tqdm's). Only the main thread can set handlers; in
    other threads the block runs unprotected."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = {}
    try:
        for name in _HELD_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, lambda number, frame: received.append(number))
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(received):
            signal.raise_signal(number)


def _pause_for_tests(variable: str) -> None:
    seconds = os.environ.get(variable)
    if seconds:
        import time

        time.sleep(float(seconds))


__all__ = [
    "PAUSE_BEFORE_COMMIT_VARIABLE",
    "PAUSE_DURING_COMMIT_VARIABLE",
    "STAGING_PREFIX",
    "OutputFolderError",
    "PendingFile",
    "atomic_file",
    "check_output_folder",
    "staged_run",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

"""Inference over image files into an output folder, all or nothing: what `smplest-x infer` runs.

Outputs are first written to a hidden staging folder beside OUTPUT_DIR (`export.atomic.staged_run`); only when
the run succeeded is it renamed to OUTPUT_DIR, in one step. On any error (or Ctrl-C, SIGTERM) the staging folder
is removed and OUTPUT_DIR is as it was, so a failed run leaves no partial results behind. With
`on_error="skip"` an image that cannot be read is left out and listed, with its reason, under "skipped" in
`results.json` instead of stopping the run.

```python
>>> from smplest_hf.inference.image_files import collect_image_files, infer_image_files
>>> files = collect_image_files("photos/")                                          # doctest: +SKIP
>>> summary = infer_image_files(pipeline, files, "results/", kinds=("params", "overlay"))  # doctest: +SKIP
```
"""

import json
import time
from pathlib import Path

from ..export.atomic import staged_run, write_json_atomic
from ..export.results import export_image_results, parse_output_kinds
from .image_io import ImageReadError, image_file_extensions

SUMMARY_FILE = "results.json"
ON_ERROR_CHOICES = ("stop", "skip")


def collect_image_files(input_path) -> list[Path]:
    """An image file -> [it]; a folder -> its image files (by extension, not recursive, sorted by name).

    Raises ImageReadError for a missing path or a folder without images.
    """
    path = Path(input_path).expanduser()
    if not path.exists():
        raise ImageReadError(f"Input {str(path)!r} does not exist.")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ImageReadError(f"Input {str(path)!r} is not a regular file or folder (a FIFO, socket or device).")
    extensions = image_file_extensions()
    files = sorted(child for child in path.iterdir() if child.is_file() and child.suffix.lower() in extensions)
    if not files:
        raise ImageReadError(f"Folder {str(path)!r} contains no image files ({', '.join(sorted(extensions)[:6])}, ...).")
    return files


def output_stems(files: list[Path]) -> list[str]:
    """File stems for output names; files sharing a stem ("a.jpg", "a.png") get their extension appended."""
    stems = [file.stem for file in files]
    repeated = {stem for stem in stems if stems.count(stem) > 1}
    return [f"{file.stem}_{file.suffix.lstrip('.').lower()}" if file.stem in repeated else file.stem for file in files]


def read_boxes_file(path, files: list[Path], skipped: list | None = None) -> list:
    """Person boxes per input file from a JSON file.

    Format: for one input image, a list of `[x, y, width, height]` boxes (pixels); for a folder, an object mapping
    each image's file name to its list of boxes (an empty list = nobody in that image). A file without an entry
    is an error, or, when a `skipped` list is given, recorded there (see `skip_entry`) with None as its boxes.
    """
    path, content = read_boxes_json(path)
    if isinstance(content, list):
        if len(files) != 1:
            raise ValueError(
                f"Boxes file {str(path)!r} holds one list of boxes but the input has {len(files)} images; "
                'map each file name to its boxes: {"image.jpg": [[x, y, w, h], ...], ...}.'
            )
        per_file = [content]
    elif isinstance(content, dict):
        missing = [file.name for file in files if file.name not in content]
        if missing and skipped is None:
            raise ValueError(f"Boxes file {str(path)!r} has no entry for {missing[0]!r}" + (f" and {len(missing) - 1} more images." if len(missing) > 1 else "."))
        if skipped is not None:
            skipped.extend(skip_entry(file, f"Boxes file {str(path)!r} has no entry for {file.name!r}.") for file in files if file.name in missing)
        per_file = [content.get(file.name) for file in files]
    else:  # a user's file with the wrong content: ValueError, reported in one line by the CLI
        raise ValueError(f'Boxes file {str(path)!r} must hold a list of [x, y, w, h] boxes or {{"file name": boxes}}.')
    for file, boxes in zip(files, per_file):
        if boxes is not None:
            check_box_list(boxes, repr(file.name), path)
    return per_file


def skip_entry(input_path, reason) -> dict:
    """One skipped input for a run summary: its path and the one-line reason (an exception or its text)."""
    return {"input": str(input_path), "reason": " ".join(str(reason).split()) or type(reason).__name__}


def keep_usable(files: list[Path], check, on_error: str, skipped: list) -> list[Path]:
    """The `files` that `check(file)` accepts. A file it rejects (ImageReadError / ValueError) stops the run
    (`on_error="stop"`: the error propagates) or is left out and recorded in `skipped` (`"skip"`)."""
    kept = []
    for file in files:
        try:
            check(file)
        except ValueError as error:  # ImageReadError and the camera's errors are ValueErrors
            if on_error != "skip":
                raise
            skipped.append(skip_entry(file, error))
        else:
            kept.append(file)
    return kept


def read_boxes_json(path) -> tuple[Path, object]:
    """(path, parsed content) of a user's boxes file; ValueError naming the file when it is missing or not JSON."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"Boxes file {str(path)!r} does not exist.")
    if not path.is_file():
        raise ValueError(f"Boxes file {str(path)!r} is not a regular file (a folder, FIFO, socket or device).")
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"Boxes file {str(path)!r} is not valid JSON ({error}).") from None


def check_box_list(boxes, owner: str, path: Path) -> None:
    """ValueError unless `boxes` (those of `owner`, an image or frame, in file `path`) is a list of [x, y, w, h]."""
    if not isinstance(boxes, list) or not all(
        isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box) for box in boxes
    ):
        raise ValueError(f"Boxes for {owner} in {str(path)!r} must be a list of [x, y, w, h] number lists, got {boxes!r}.")


def run_settings(pipeline, boxes_given: bool) -> dict:
    """How `pipeline` ran, for a run summary: device, dtype, attention kernel, where the people came from, camera."""
    return {
        "device": str(pipeline.device),
        "dtype": str(pipeline.dtype).removeprefix("torch."),
        "dtype_reason": pipeline.dtype_reason,
        "attention": pipeline.model.config._attn_implementation,
        "detector": "given boxes" if boxes_given else ("whole image" if pipeline.detector is None else pipeline.detector.name),
        "camera": str(pipeline.camera),
    }


def stage_seconds(timings: dict, **more: float) -> dict:
    """`pipeline.timings` plus the run's own stages (`export`, ...), rounded to milliseconds (also used for the
    per-kind `export_seconds`)."""
    return {name: round(value, 3) for name, value in {**timings, **more}.items()}


def infer_image_files(
    pipeline, files: list[Path], output_dir, kinds=("params",), boxes=None, progress: bool = True,
    overwrite: bool = False, on_error: str = "stop", skipped: list | None = None,
) -> dict:  # fmt: skip
    """Run `pipeline` over image `files` in chunks of `pipeline.batch_size` images and write `kinds` outputs.

    Args:
        pipeline: a `SmplestXPipeline`.
        files: image paths (see `collect_image_files`).
        output_dir: where `params/`, `meshes/`, `glb/`, `keypoints/`, `overlays/` and `results.json` go.
        kinds: output kinds (see `export.OUTPUT_KINDS`).
        boxes: None (pipeline detector / whole image) or one list of xywh boxes per file.
        progress: show a progress bar on a terminal.
        overwrite: replace a non-empty `output_dir` as a whole (otherwise it is refused before any work).
        on_error: "stop" (an unreadable image ends the run, nothing written) or "skip" (it is left out and listed).
        skipped: inputs already left out by the caller's checks (`skip_entry` dicts), listed in the summary.

    Returns:
        The summary also written to `results.json`: settings, per image its people count and output files,
        the skipped inputs with their reasons, `stage_seconds` (decode, detect, crop, model, postprocess: see
        `SmplestXPipeline.timings`; export: writing every output) and `export_seconds`, the export split per
        output kind ({kind: seconds} for exactly `kinds`; "overlay" includes its PNG encoding; they add up to
        `stage_seconds["export"]`).
    """
    from tqdm.auto import tqdm

    kinds = parse_output_kinds(kinds)
    stems = output_stems(files)
    faces = pipeline.faces
    start = time.perf_counter()
    pipeline.timings = dict.fromkeys(pipeline.timings, 0.0)
    export_seconds = dict.fromkeys(kinds, 0.0)  # per output kind, added to by `export_image_results`
    images_summary = []
    skipped = list(skipped or [])
    with staged_run(Path(output_dir).expanduser(), overwrite=overwrite) as staging:
        bar = tqdm(total=len(files), unit="image", disable=None if progress else True, desc="smplest-x infer")
        for first in range(0, len(files), pipeline.batch_size):
            chunk = list(range(first, min(first + pipeline.batch_size, len(files))))
            chunk_size = len(chunk)
            if on_error == "skip":
                loaded = []
                for index in list(chunk):
                    try:
                        loaded.extend(pipeline.load_images([files[index]]))
                    except ImageReadError as error:
                        skipped.append(skip_entry(files[index], error))
                        chunk.remove(index)
            else:
                loaded = pipeline.load_images([files[index] for index in chunk])
            results = pipeline.run(loaded, None if boxes is None else [boxes[index] for index in chunk]) if loaded else []
            for stem, image, people in zip([stems[index] for index in chunk], loaded, results):
                written = export_image_results(staging, stem, image, people, faces, kinds, timings=export_seconds)
                images_summary.append({
                    "image": str(image.name),
                    "image_size": list(image.original_size),
                    "processed_scale": image.scale,
                    "people": len(people),
                    "files": [str(path.relative_to(staging)) for path in written],
                })  # fmt: skip
            bar.update(chunk_size)
        bar.close()
        seconds = time.perf_counter() - start
        if not images_summary:  # every image skipped: nothing to write
            raise ImageReadError(f"No input image could be used; the first: {skipped[0]['reason'] if skipped else 'none given'}")
        summary = {
            "images": len(images_summary),
            "people": sum(entry["people"] for entry in images_summary),
            "outputs": list(kinds),
            "seconds": round(seconds, 3),
            "stage_seconds": stage_seconds(pipeline.timings, export=sum(export_seconds.values())),
            "export_seconds": stage_seconds(export_seconds),
            **run_settings(pipeline, boxes_given=boxes is not None),
            "results": images_summary,
            "skipped": skipped,
        }
        write_json_atomic(staging / SUMMARY_FILE, summary)
    return summary


__all__ = [
    "SUMMARY_FILE",
    "check_box_list",
    "collect_image_files",
    "ON_ERROR_CHOICES",
    "infer_image_files",
    "keep_usable",
    "output_stems",
    "read_boxes_file",
    "read_boxes_json",
    "run_settings",
    "skip_entry",
    "stage_seconds",
]

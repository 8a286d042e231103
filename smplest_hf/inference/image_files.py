"""Inference over image files into an output folder, all or nothing: what `smplest-x infer` runs.

Outputs are first written to a hidden staging folder inside OUTPUT_DIR (`export.atomic.staged_run`); only when
every image succeeded are the files moved into place, `results.json` last. On any error (or Ctrl-C) the staging
folder is removed, and so is OUTPUT_DIR if this run created it, so a failed run leaves no partial results behind.

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


def collect_image_files(input_path) -> list[Path]:
    """An image file -> [it]; a folder -> its image files (by extension, not recursive, sorted by name).

    Raises ImageReadError for a missing path or a folder without images.
    """
    path = Path(input_path).expanduser()
    if not path.exists():
        raise ImageReadError(f"Input {str(path)!r} does not exist.")
    if path.is_file():
        return [path]
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


def read_boxes_file(path, files: list[Path]) -> list:
    """Person boxes per input file from a JSON file.

    Format: for one input image, a list of `[x, y, width, height]` boxes (pixels); for a folder, an object mapping
    each image's file name to its list of boxes (an empty list = nobody in that image).
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
        if missing:
            raise ValueError(f"Boxes file {str(path)!r} has no entry for {missing[0]!r}" + (f" and {len(missing) - 1} more images." if len(missing) > 1 else "."))
        per_file = [content[file.name] for file in files]
    else:  # a user's file with the wrong content: ValueError, reported in one line by the CLI
        raise ValueError(f'Boxes file {str(path)!r} must hold a list of [x, y, w, h] boxes or {{"file name": boxes}}.')
    for file, boxes in zip(files, per_file):
        check_box_list(boxes, repr(file.name), path)
    return per_file


def read_boxes_json(path) -> tuple[Path, object]:
    """(path, parsed content) of a user's boxes file; ValueError naming the file when it is missing or not JSON."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"Boxes file {str(path)!r} does not exist.")
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
    """How `pipeline` ran, for a run summary: device, dtype, where the people came from, camera."""
    return {
        "device": str(pipeline.device),
        "dtype": str(pipeline.dtype).removeprefix("torch."),
        "dtype_reason": pipeline.dtype_reason,
        "detector": "given boxes" if boxes_given else ("whole image" if pipeline.detector is None else pipeline.detector.name),
        "camera": str(pipeline.camera),
    }


def stage_seconds(timings: dict, **more: float) -> dict:
    """`pipeline.timings` plus the run's own stages (`export`, ...), rounded to milliseconds."""
    return {name: round(value, 3) for name, value in {**timings, **more}.items()}


def infer_image_files(pipeline, files: list[Path], output_dir, kinds=("params",), boxes=None, progress: bool = True) -> dict:
    """Run `pipeline` over image `files` in chunks of `pipeline.batch_size` images and write `kinds` outputs.

    Args:
        pipeline: a `SmplestXPipeline`.
        files: image paths (see `collect_image_files`).
        output_dir: where `params/`, `meshes/`, `glb/`, `keypoints/`, `overlays/` and `results.json` go.
        kinds: output kinds (see `export.OUTPUT_KINDS`).
        boxes: None (pipeline detector / whole image) or one list of xywh boxes per file.
        progress: show a progress bar on a terminal.

    Returns:
        The summary also written to `results.json`: settings, per image its people count and output files,
        per-stage seconds.
    """
    from tqdm.auto import tqdm

    kinds = parse_output_kinds(kinds)
    stems = output_stems(files)
    faces = pipeline.faces
    start = time.perf_counter()
    pipeline.timings = dict.fromkeys(pipeline.timings, 0.0)
    export_seconds = 0.0
    images_summary = []
    with staged_run(Path(output_dir).expanduser(), last=SUMMARY_FILE) as staging:
        bar = tqdm(total=len(files), unit="image", disable=None if progress else True, desc="smplest-x infer")
        for first in range(0, len(files), pipeline.batch_size):
            chunk = slice(first, first + pipeline.batch_size)
            loaded = pipeline.load_images(files[chunk])
            results = pipeline.run(loaded, None if boxes is None else boxes[chunk])
            export_start = time.perf_counter()
            for stem, image, people in zip(stems[chunk], loaded, results):
                written = export_image_results(staging, stem, image, people, faces, kinds)
                images_summary.append({
                    "image": str(image.name),
                    "image_size": list(image.original_size),
                    "processed_scale": image.scale,
                    "people": len(people),
                    "files": [str(path.relative_to(staging)) for path in written],
                })  # fmt: skip
            export_seconds += time.perf_counter() - export_start
            bar.update(len(loaded))
        bar.close()
        seconds = time.perf_counter() - start
        summary = {
            "images": len(files),
            "people": sum(entry["people"] for entry in images_summary),
            "outputs": list(kinds),
            "seconds": round(seconds, 3),
            "stage_seconds": stage_seconds(pipeline.timings, export=export_seconds),
            **run_settings(pipeline, boxes_given=boxes is not None),
            "results": images_summary,
        }
        write_json_atomic(staging / SUMMARY_FILE, summary)
    return summary


__all__ = [
    "SUMMARY_FILE",
    "check_box_list",
    "collect_image_files",
    "infer_image_files",
    "output_stems",
    "read_boxes_file",
    "read_boxes_json",
    "run_settings",
    "stage_seconds",
]

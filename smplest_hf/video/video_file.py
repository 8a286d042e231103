"""Inference over a video file into an output folder, all or nothing: what `smplest-x infer VIDEO` runs.

Frames stream through `SmplestXPipeline.process_video` (decoded in batches, people tracked and smoothed) and the
per-frame outputs are written as each frame is done; per-track sequences are written at the end. Everything goes
to the same hidden staging folder as the image path (`image_inference`): only a complete run is moved into
OUTPUT_DIR, `results.json` last; a failure (a corrupt frame halfway, Ctrl-C) leaves nothing behind.

Outputs (`--outputs`, default `DEFAULT_VIDEO_OUTPUTS`), for a video `clip.mp4`:

- `params`: per track `params/clip_track_<id>.npz`, the SMPL-X parameters of every frame the person was seen,
  as (T, ...) arrays in the layout `smplx.SMPLX(batch_size=T)` takes (`global_orient` (T, 3), `body_pose`
  (T, 63), `left_hand_pose` / `right_hand_pose` (T, 45), `jaw_pose`, `leye_pose`, `reye_pose` (T, 3), `betas`,
  `expression` (T, 10), `transl` (T, 3)), plus `frame_indices` (T,), `times` (T,) seconds, `fps`, the camera
  per frame (`focal_length`, `principal_point` (T, 2)), `box` / `detection_box` (T, 4) and `score` (T,) (NaN for
  given boxes); and `params/clip_track_<id>.json` describing it (camera convention, video, frames);
- `overlay`: `overlays/clip.mp4`, the shaded meshes over the video, one colour per track, same frame count and
  frame rate (H.264 when available, see `video_io`);
- `keypoints`: `keypoints/clip/<frame>.json` per frame, as for images plus `frame`, `time` and each person's
  `track_id`;
- `anim`: `anim/clip.glb`, every track as a skinned, animated SMPL-X skeleton (`export_animation`);
- `mesh`: `meshes/clip/<frame>_track_<id>.ply` per frame and person (binary PLY only: a text OBJ per frame would
  triple the size); `glb`: `glb/clip/<frame>.glb`, a static scene per frame. Both grow with the video's length
  (about 0.4 MB per person and frame), so they are not written by default.

```python
>>> from smplest_hf.video.video_file import infer_video_file
>>> summary = infer_video_file(pipeline, "clip.mp4", "results/", kinds=("params", "overlay", "anim"))  # doctest: +SKIP
>>> summary["tracks"]                                                                              # doctest: +SKIP
[{'track_id': 0, 'frames': 120, 'first_frame': 0, 'last_frame': 119}]
```
"""

import io
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..export.results import (
    CAMERA_CONVENTION,
    OUTPUT_KINDS,
    keypoints_record,
    kinds_needing_body_model,
    parse_output_kinds,
    render_overlay,
    save_json,
    save_ply,
    save_scene_glb,
    write_bytes_atomic,
)
from ..inference.image_files import (
    SUMMARY_FILE,
    _move_into_place,
    _staging_folder,
    check_box_list,
    read_boxes_json,
)
from .video_io import DEFAULT_MAX_FRAMES, VideoWriter, read_video_info

VIDEO_OUTPUT_KINDS = (*OUTPUT_KINDS, "anim")
DEFAULT_VIDEO_OUTPUTS = ("params", "overlay", "keypoints", "anim")
# Per-frame fields kept for the per-track sequences (geometry is not kept: 125 KB per person and frame).
_SEQUENCE_FIELDS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression",
                    "camera_translation", "focal_length", "principal_point", "box", "detection_box")  # fmt: skip


def read_video_boxes_file(path) -> dict[int, list]:
    """Person boxes per frame from a JSON file: a list with one list of `[x, y, width, height]` boxes per frame,
    or an object mapping frame numbers ("0", "1", ...) to lists of boxes (frames left out have nobody).
    Returns {frame index: boxes}."""
    path, content = read_boxes_json(path)
    if isinstance(content, list):
        per_frame = dict(enumerate(content))
    elif isinstance(content, dict) and all(str(key).isdigit() for key in content):
        per_frame = {int(key): value for key, value in content.items()}
    else:
        raise ValueError(f'Boxes file {str(path)!r} must hold a list with one list of [x, y, w, h] boxes per frame, or {{"frame number": boxes}}.')
    for frame, boxes in per_frame.items():
        check_box_list(boxes, f"frame {frame}", path)
    return per_frame


def track_colors(track_ids) -> np.ndarray:
    """(K, 3) RGB in [0, 1]: the same colour for a track in every frame (and in the animated glb)."""
    from ..export.rasterizer import DEFAULT_COLORS

    return DEFAULT_COLORS[np.asarray(track_ids, dtype=np.int64).reshape(-1) % len(DEFAULT_COLORS)]


def stack_track(frames: list[tuple[int, dict]]) -> dict[str, np.ndarray]:
    """[(frame index, person), ...] of one track -> (T, ...) arrays of `_SEQUENCE_FIELDS`, `score` (NaN when
    None) and `frame_indices`."""
    stacked = {name: np.stack([np.asarray(person[name], np.float32) for _, person in frames]) for name in _SEQUENCE_FIELDS}
    stacked["score"] = np.array([np.nan if person.get("score") is None else person["score"] for _, person in frames], np.float32)
    stacked["frame_indices"] = np.array([index for index, _ in frames], dtype=np.int64)
    return stacked


def save_track_npz(path, track: dict[str, np.ndarray], fps: float) -> Path:
    """A stacked track (see `stack_track`) -> `.npz` in the SMPL-X layout with (T, ...) arrays (module docstring)."""
    count = len(track["frame_indices"])
    arrays = {
        "global_orient": track["global_orient"].reshape(count, 3),
        "body_pose": track["body_pose"].reshape(count, 63),
        "left_hand_pose": track["left_hand_pose"].reshape(count, 45),
        "right_hand_pose": track["right_hand_pose"].reshape(count, 45),
        "jaw_pose": track["jaw_pose"].reshape(count, 3),
        "leye_pose": np.zeros((count, 3), np.float32),  # SMPLest-X never poses the eyes
        "reye_pose": np.zeros((count, 3), np.float32),
        "betas": track["betas"].reshape(count, 10),
        "expression": track["expression"].reshape(count, 10),
        "transl": track["camera_translation"].reshape(count, 3),
        "frame_indices": track["frame_indices"],
        "times": track["frame_indices"] / float(fps),
        "fps": np.float64(fps),
        **{name: track[name] for name in ("focal_length", "principal_point", "box", "detection_box", "score")},
    }
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    return write_bytes_atomic(path, buffer.getvalue())


def infer_video_file(
    pipeline,
    path,
    output_dir,
    kinds=DEFAULT_VIDEO_OUTPUTS,
    boxes=None,
    smoothing=True,
    tracker=None,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    progress: bool = True,
) -> dict:
    """Run `pipeline` over the video at `path` and write `kinds` outputs to `output_dir` (module docstring).

    Args:
        pipeline: a `SmplestXPipeline`.
        kinds: output kinds, a subset of `VIDEO_OUTPUT_KINDS`.
        boxes: None (pipeline detector / whole frames) or per-frame boxes (see `SmplestXPipeline.process_video`).
        smoothing, tracker: as `SmplestXPipeline.process_video`.
        max_frames: refuse longer videos (None = no limit).
        progress: show a progress bar on a terminal.

    Returns:
        The summary also written to `results.json`: video, settings, tracks, output files, per-stage seconds.
    """
    from tqdm.auto import tqdm

    from ..export.animation import save_animated_glb, video_camera
    from .smoothing import SmoothingSettings

    kinds = parse_output_kinds(kinds, allowed=VIDEO_OUTPUT_KINDS)
    missing = kinds_needing_body_model(kinds)
    if missing and not pipeline.has_body_model:
        raise ValueError(f"Outputs {','.join(missing)} need meshes: give the pipeline an SMPL-X body model.")
    path = Path(path).expanduser()
    output_dir = Path(output_dir).expanduser()
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"Output {str(output_dir)!r} exists and is not a folder.")
    info = read_video_info(path, max_frames=max_frames)
    stem, faces = path.stem, pipeline.faces
    if smoothing is True:
        smoothing = SmoothingSettings()
    start = time.perf_counter()
    render_seconds = export_seconds = 0.0
    tracks: dict[int, list] = {}
    focal_lengths, frame_count, person_frames = [], 0, 0
    written = []
    with _staging_folder(output_dir) as staging:
        overlay = VideoWriter(staging / "overlays" / f"{stem}.mp4", fps=info.fps) if "overlay" in kinds else None
        bar = tqdm(total=info.frame_count, unit="frame", disable=None if progress else True, desc="smplest-x infer")
        try:
            for frame in pipeline.process_video(path, boxes=boxes, smoothing=smoothing, tracker=tracker, max_frames=max_frames):
                people, image, size = frame.people, frame.image, frame.image.original_size
                frame_count, person_frames = frame.index + 1, person_frames + len(people)
                ids = [person["track_id"] for person in people]
                if overlay is not None:
                    render_start = time.perf_counter()
                    overlay.write(render_overlay(image.pixels, people, faces, image.scale, colors=track_colors(ids) if ids else None))
                    render_seconds += time.perf_counter() - render_start
                export_start = time.perf_counter()
                frame_name = f"{frame.index:06d}"
                if "keypoints" in kinds:
                    record = keypoints_record(people, size, image.name)
                    record = {"frame": frame.index, "time": frame.time, **record}
                    for saved, track_id in zip(record["people"], ids):
                        saved["track_id"] = track_id
                    save_json(staging / "keypoints" / stem / f"{frame_name}.json", record)
                if "mesh" in kinds:
                    for person in people:
                        save_ply(staging / "meshes" / stem / f"{frame_name}_track_{person['track_id']}.ply", person["vertices"], faces)
                if "glb" in kinds:
                    save_scene_glb(staging / "glb" / stem / f"{frame_name}.glb", people, faces if faces is not None else np.zeros((0, 3), np.int64), size, colors=track_colors(ids))
                for person in people:
                    tracks.setdefault(person["track_id"], []).append((frame.index, {name: person[name] for name in (*_SEQUENCE_FIELDS, "score")}))
                    focal_lengths.append(person["focal_length"])
                export_seconds += time.perf_counter() - export_start
                bar.update(1)
            if overlay is not None:
                written.append(overlay.close())
        except BaseException:
            if overlay is not None:
                overlay.abort()
            raise
        finally:
            bar.close()

        export_start = time.perf_counter()
        stacked = {track_id: stack_track(frames) for track_id, frames in sorted(tracks.items())}
        if "params" in kinds:
            for track_id, track in stacked.items():
                base = staging / "params" / f"{stem}_track_{track_id}"
                written.append(save_track_npz(base.with_suffix(".npz"), track, float(info.fps)))
                written.append(save_json(base.with_suffix(".json"), _track_metadata(track_id, track, info, frame_count, smoothing)))
        if "anim" in kinds:
            track_ids = list(stacked)
            camera = video_camera(focal_lengths, (info.height, info.width)) if focal_lengths else None
            written.append(save_animated_glb(
                staging / "anim" / f"{stem}.glb", list(stacked.values()), pipeline.model.body_model, float(info.fps),
                names=[f"track_{track_id}" for track_id in track_ids], colors=track_colors(track_ids), frame_count=frame_count,
                camera=camera,
            ))  # fmt: skip
        export_seconds += time.perf_counter() - export_start
        seconds = time.perf_counter() - start
        per_frame = {kind: f"{folder}/{stem}/" for kind, folder in (("keypoints", "keypoints"), ("mesh", "meshes"), ("glb", "glb")) if kind in kinds}
        summary = {
            "video": str(path),
            "frames": frame_count,
            "frames_stated": info.frame_count if info.frame_count_is_exact else None,  # by the container
            "fps": float(info.fps),
            "image_size": [info.height, info.width],
            "rotation": info.rotation,
            "people": person_frames,
            "tracks": [_track_summary(track_id, track) for track_id, track in stacked.items()],
            "outputs": list(kinds),
            "files": [str(file.relative_to(staging)) for file in written],
            "per_frame_folders": per_frame,
            "seconds": round(seconds, 3),
            "frames_per_second": round(frame_count / seconds, 3) if seconds else None,
            "stage_seconds": {
                **{name: round(value, 3) for name, value in pipeline.timings.items()},
                "render": round(render_seconds, 3),
                "export": round(export_seconds, 3),
            },
            "smoothing": asdict(smoothing) if smoothing else None,
            "device": str(pipeline.device),
            "dtype": str(pipeline.dtype).removeprefix("torch."),
            "detector": "given boxes" if boxes is not None else ("whole image" if pipeline.detector is None else pipeline.detector.name),
            "camera": str(pipeline.camera),
        }
        save_json(staging / SUMMARY_FILE, summary)
        _move_into_place(staging, output_dir)
    return summary


def _track_summary(track_id: int, track: dict) -> dict:
    frames = track["frame_indices"]
    return {"track_id": track_id, "frames": len(frames), "first_frame": int(frames[0]), "last_frame": int(frames[-1])}


def _track_metadata(track_id: int, track: dict, info, frame_count: int, smoothing) -> dict:
    frames = track["frame_indices"]
    return {
        "track_id": track_id,
        "video": info.name,
        "fps": float(info.fps),
        "video_frames": frame_count,
        "image_size": [info.height, info.width],
        "frames": len(frames),
        "first_frame": int(frames[0]),
        "last_frame": int(frames[-1]),
        "camera": CAMERA_CONVENTION + "; one camera per frame: `focal_length`, `principal_point` (T, 2) in the .npz",
        "layout": "(T, ...) arrays, row t = frame frame_indices[t]; smplx.SMPLX(batch_size=T) takes the pose, shape and transl arrays",
        "smoothed": bool(smoothing),
        "smplx": {"gender": "neutral", "num_betas": 10, "num_expression_coeffs": 10, "use_pca": False, "flat_hand_mean": False},
    }


__all__ = [
    "DEFAULT_VIDEO_OUTPUTS",
    "VIDEO_OUTPUT_KINDS",
    "infer_video_file",
    "read_video_boxes_file",
    "save_track_npz",
    "stack_track",
    "track_colors",
]

"""Inference over a video file into an output folder, all or nothing: what `smplest-x infer VIDEO` runs.

Two passes over the video (`video.pipeline`): pass 1 (`track_video`) decodes it in batches, runs the model,
tracks and smooths the people and fixes each track's body shape (`track_shape`, default "mean": one set of betas
per person, the mean over the track of the model's per-frame betas, in every output); only parameters are kept.
Pass 2 (`tracked_frames`) decodes the video again and computes each frame's meshes from those final parameters;
the per-frame outputs are written as each frame comes, by the same code as images (`export_image_results`).
Per-track sequences are written from the parameters at the end; a run with only `params` / `anim` skips pass 2.
Everything goes to a hidden staging folder as for images (`export.atomic.staged_run`): only a complete run is
moved into OUTPUT_DIR, `results.json` last; a failure (a corrupt frame halfway, Ctrl-C) leaves nothing behind.

Outputs (`--outputs`, default `DEFAULT_VIDEO_OUTPUTS`), for a video `clip.mp4`:

- `params`: per track `params/clip_track_<id>.npz`, the SMPL-X parameters of every frame the person was seen
  (with `track_shape="mean"` the same `betas` in every row), as (T, ...) arrays in the pose layout of
  `smplx_layout.PARAMETER_SHAPES` (per joint; flat is a `.reshape(T, -1)`), which `smplx.SMPLX(batch_size=T)`
  takes as is (`global_orient` (T, 3), `body_pose` (T, 21, 3), `left_hand_pose` / `right_hand_pose` (T, 15, 3),
  `jaw_pose`, `leye_pose`, `reye_pose` (T, 3), `betas`,
  `expression` (T, 10), `transl` (T, 3)), plus `frame_indices` (T,), `times` (T,) seconds, `fps`, the camera
  per frame (`focal_length`, `principal_point` (T, 2)), `box` / `detection_box` (T, 4) and `score` (T,) (NaN for
  given boxes), `gender` (the SMPL-X model the parameters are meant for); and `params/clip_track_<id>.json`
  describing it (camera convention, video, frames);
- `overlay`: `overlays/clip.mp4`, the shaded meshes over the video, one colour per track, same frame count and
  frame rate (H.264 when available, see `video_io`);
- `keypoints`: `keypoints/clip/<frame>.json` per frame, as for images plus `frame`, `time` and each person's
  `track_id`;
- `anim`: `anim/clip.glb`, every track as a skinned, animated SMPL-X skeleton (`export.animation`), and beside it
  per track `anim/clip_track_<id>_amass.npz`, the same motion as an AMASS-style SMPL-X file (`poses` (T, 165),
  `trans`, `betas`, `gender`, `mocap_frame_rate`, `surface_model_type`; `export.amass`), turned into AMASS's
  Z-up world for the SMPL-X Blender add-on and AMASS tools;
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

from ..export.atomic import staged_run, write_bytes_atomic, write_json_atomic
from ..export.results import (
    CAMERA_CONVENTION,
    OUTPUT_FOLDERS,
    OUTPUT_KINDS,
    export_image_results,
    kinds_needing_body_model,
    parse_output_kinds,
    render_overlay,
    track_colors,
)
from ..export.timing import timed
from ..inference.image_files import SUMMARY_FILE, check_box_list, read_boxes_json, run_settings, stage_seconds
from ..models.smplest_x.smplx_layout import PARAMETER_NAMES, PARAMETER_SHAPES, PREDICTION_MODEL_SETTINGS
from .video_io import DEFAULT_MAX_FRAMES, VideoWriter, read_video_info

VIDEO_OUTPUT_KINDS = (*OUTPUT_KINDS, "anim")
DEFAULT_VIDEO_OUTPUTS = ("params", "overlay", "keypoints", "anim")
# Written per frame, by `export_image_results`, into `<folder>/<video stem>/`; meshes as binary PLY only (a text
# OBJ per frame would triple the size).
_PER_FRAME_KINDS = ("keypoints", "mesh", "glb")
_VIDEO_MESH_FORMATS = ("ply",)
# Per-frame fields kept for the per-track sequences (geometry is not kept: 125 KB per person and frame).
_SEQUENCE_FIELDS = (*PARAMETER_NAMES, "camera_translation", "focal_length", "principal_point", "box", "detection_box")


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
        "body_pose": track["body_pose"].reshape(count, *PARAMETER_SHAPES["body_pose"]),
        "left_hand_pose": track["left_hand_pose"].reshape(count, *PARAMETER_SHAPES["left_hand_pose"]),
        "right_hand_pose": track["right_hand_pose"].reshape(count, *PARAMETER_SHAPES["right_hand_pose"]),
        "jaw_pose": track["jaw_pose"].reshape(count, 3),
        "leye_pose": np.zeros((count, 3), np.float32),  # SMPLest-X never poses the eyes
        "reye_pose": np.zeros((count, 3), np.float32),
        "betas": track["betas"].reshape(count, 10),
        "expression": track["expression"].reshape(count, 10),
        "transl": track["camera_translation"].reshape(count, 3),
        "frame_indices": track["frame_indices"],
        "times": track["frame_indices"] / float(fps),
        "fps": np.float64(fps),
        "gender": np.str_(PREDICTION_MODEL_SETTINGS["gender"]),
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
    overwrite: bool = False,
    track_shape: str = "mean",
) -> dict:
    """Run `pipeline` over the video at `path` and write `kinds` outputs to `output_dir` (module docstring).

    Args:
        pipeline: a `SmplestXPipeline`.
        kinds: output kinds, a subset of `VIDEO_OUTPUT_KINDS`.
        boxes: None (pipeline detector / whole frames) or per-frame boxes (see `video.pipeline.process_video`).
        smoothing, tracker, track_shape: as `video.pipeline.process_video` ("mean": one body shape per track in
            every output; "per-frame": the model's betas of each frame, smoothed as `smoothing.betas` says).
        max_frames: refuse longer videos (None = no limit).
        progress: show progress bars on a terminal (the model pass, then the per-frame outputs).
        overwrite: replace a non-empty `output_dir` as a whole (otherwise it is refused before any work).

    Returns:
        The summary also written to `results.json`: video, settings (`smoothing` as applied, `track_shape`),
        tracks, output files, `stage_seconds` (`video.pipeline.VIDEO_STAGES` and export: writing every output),
        `export_seconds` (the export split per output kind: {kind: seconds} for exactly `kinds`, adding up to
        `stage_seconds["export"]`; "overlay" is rendering and encoding the overlay video), and `missing_frames`:
        the frames the container states but that did not decode (a truncated or damaged file; 0 normally).
    """
    from tqdm.auto import tqdm

    from .pipeline import check_track_shape, track_video, tracked_frames

    kinds = parse_output_kinds(kinds, allowed=VIDEO_OUTPUT_KINDS)
    missing = kinds_needing_body_model(kinds)
    if missing and not pipeline.has_body_model:
        raise ValueError(f"Outputs {','.join(missing)} need meshes: give the pipeline an SMPL-X body model.")
    check_track_shape(track_shape)  # before any work, not after the model pass
    path = Path(path).expanduser()
    info = read_video_info(path, max_frames=max_frames)
    start = time.perf_counter()
    with staged_run(Path(output_dir).expanduser(), overwrite=overwrite) as staging:
        # Pass 1: parameters of every frame (the model, tracking, smoothing, one shape per track).
        with tqdm(total=info.frame_count, unit="frame", disable=None if progress else True, desc="smplest-x infer: model") as bar:
            tracked = track_video(pipeline, path, boxes=boxes, smoothing=smoothing, tracker=tracker, max_frames=max_frames,
                                  track_shape=track_shape, on_frames=bar.update)  # fmt: skip
        outputs = _VideoOutputs(staging, path.stem, kinds, pipeline.faces, info.fps)
        # Pass 2, only for outputs drawn or written per frame: meshes from the final parameters.
        if outputs.frame_kinds or "overlay" in kinds:
            frames = tracked_frames(pipeline, path, tracked, max_frames=max_frames)
            outputs.write_frames(frames, tracked.frame_count, progress)
        frame = coordinate_frame(pipeline.camera)
        tracks = outputs.write_tracks(tracked, pipeline.model.body_model, info, frame)
        seconds = time.perf_counter() - start
        frame_count = tracked.frame_count
        summary = {
            "video": str(path),
            "frames": frame_count,
            "frames_stated": info.frame_count if info.frame_count_is_exact else None,  # by the container
            "missing_frames": max(0, info.frame_count - frame_count) if info.frame_count_is_exact else 0,
            "fps": float(info.fps),
            "image_size": [info.height, info.width],
            "rotation": info.rotation,
            "people": sum(len(people) for people in tracked.people),
            "tracks": [_track_summary(track_id, track) for track_id, track in tracks.items()],
            "outputs": list(kinds),
            "files": [str(file.relative_to(staging)) for file in outputs.written],
            "per_frame_folders": {kind: f"{OUTPUT_FOLDERS[kind]}/{path.stem}/" for kind in _PER_FRAME_KINDS if kind in kinds},
            "seconds": round(seconds, 3),
            "frames_per_second": round(frame_count / seconds, 3) if seconds else None,
            "stage_seconds": stage_seconds(pipeline.timings, export=sum(outputs.export_seconds.values())),
            "export_seconds": stage_seconds(outputs.export_seconds),
            "smoothing": asdict(tracked.smoothing) if tracked.smoothing else None,
            "track_shape": tracked.track_shape,
            "coordinate_frame": frame,
            **run_settings(pipeline, boxes_given=boxes is not None),
        }
        write_json_atomic(staging / SUMMARY_FILE, summary)
    return summary


class _VideoOutputs:
    """The files of one video run in `staging`: per-frame outputs as pass 2 yields each frame, per-track ones from
    the parameters of pass 1.

    Per-frame outputs go through `export_image_results` (as images do), in `<folder>/<stem>/<frame>...`; the
    overlay frames are encoded into one video.
    """

    def __init__(self, staging: Path, stem: str, kinds: tuple[str, ...], faces, fps):
        self.staging, self.stem, self.kinds, self.faces, self.fps = staging, stem, kinds, faces, fps
        self.frame_kinds = tuple(kind for kind in _PER_FRAME_KINDS if kind in kinds)
        self.export_seconds = dict.fromkeys(kinds, 0.0)  # per output kind (`timing.timed`)
        self.written: list[Path] = []  # files listed in the summary (per-frame files are listed by folder)

    def write_frames(self, frames, expected_frames: int, progress: bool) -> None:
        """Write the outputs of every `VideoFrameResult` of `frames`; the overlay video is finished at the end
        (and discarded when a frame fails)."""
        from tqdm.auto import tqdm

        overlay = None
        if "overlay" in self.kinds:
            overlay = VideoWriter(self.staging / OUTPUT_FOLDERS["overlay"] / f"{self.stem}.mp4", fps=self.fps)
        bar = tqdm(total=expected_frames, unit="frame", disable=None if progress else True, desc="smplest-x infer: outputs")
        try:
            for frame in frames:
                if overlay is not None:
                    with timed(self.export_seconds, "overlay"):
                        overlay.write(render_overlay(frame.image.pixels, frame.people, self.faces, frame.image.scale))
                if self.frame_kinds:
                    export_image_results(
                        self.staging, f"{self.stem}/{frame.index:06d}", frame.image, frame.people, self.faces, self.frame_kinds,
                        video_frame=(frame.index, frame.time), mesh_formats=_VIDEO_MESH_FORMATS, timings=self.export_seconds,
                    )  # fmt: skip
                bar.update(1)
            if overlay is not None:
                with timed(self.export_seconds, "overlay"):
                    self.written.append(overlay.close())
        except BaseException:
            if overlay is not None:
                overlay.abort()
            raise
        finally:
            bar.close()

    def write_tracks(self, tracked, body_model, info, frame: str) -> dict[int, dict]:
        """Per-track parameter files, the animated glb and the AMASS-style files of `tracked` (a
        `video.pipeline.TrackedVideo`); returns {track id: `stack_track` arrays}. `frame`: `coordinate_frame(...)`,
        stated in every per-track file."""
        from ..export.amass import save_amass_npz
        from ..export.animation import save_animated_glb, video_camera

        stacked = {track_id: stack_track(frames) for track_id, frames in tracked.tracks().items()}
        if "params" in self.kinds:
            with timed(self.export_seconds, "params"):
                for track_id, track in stacked.items():
                    base = self.staging / OUTPUT_FOLDERS["params"] / f"{self.stem}_track_{track_id}"
                    self.written.append(save_track_npz(base.with_suffix(".npz"), track, float(self.fps)))
                    metadata = _track_metadata(track_id, track, info, tracked) | {"coordinate_frame": frame}
                    self.written.append(write_json_atomic(base.with_suffix(".json"), metadata))
        if "anim" in self.kinds:
            with timed(self.export_seconds, "anim"):
                track_ids = list(stacked)
                focal_lengths = [track["focal_length"] for track in stacked.values()]  # of every person in every frame
                camera = video_camera(np.concatenate(focal_lengths), (info.height, info.width)) if focal_lengths else None
                self.written.append(save_animated_glb(
                    self.staging / OUTPUT_FOLDERS["anim"] / f"{self.stem}.glb", list(stacked.values()), body_model, float(self.fps),
                    names=[f"track_{track_id}" for track_id in track_ids], colors=track_colors(track_ids),
                    frame_count=tracked.frame_count, camera=camera,
                ))  # fmt: skip
                for track_id, track in stacked.items():
                    self.written.append(save_amass_npz(
                        self.staging / OUTPUT_FOLDERS["anim"] / f"{self.stem}_track_{track_id}_amass.npz", track, float(self.fps),
                        body_model, frame,
                    ))  # fmt: skip
        return stacked


def coordinate_frame(camera) -> str:
    """Which frame a video's translations and root orientations are in, for the outputs to state: with a known
    camera (`--camera`, not the box camera) one frame for every person and frame, else one per person and frame."""
    axes = "OpenCV axes: x right, y down, z forward, metres"
    if camera.is_box:
        return (f"per person and frame: each person's own box camera (focal_length, principal_point per frame; {axes}); "
                "people and frames do not share one 3D frame (use --camera for that)")
    return f"one frame for all people and frames: the video's camera {camera} ({axes})"


def _track_summary(track_id: int, track: dict) -> dict:
    frames = track["frame_indices"]
    return {"track_id": track_id, "frames": len(frames), "first_frame": int(frames[0]), "last_frame": int(frames[-1])}


def _track_metadata(track_id: int, track: dict, info, tracked) -> dict:
    frames = track["frame_indices"]
    return {
        "track_id": track_id,
        "video": info.name,
        "fps": float(info.fps),
        "video_frames": tracked.frame_count,
        "image_size": [info.height, info.width],
        "frames": len(frames),
        "first_frame": int(frames[0]),
        "last_frame": int(frames[-1]),
        "camera": CAMERA_CONVENTION + "; one camera per frame: `focal_length`, `principal_point` (T, 2) in the .npz",
        "layout": "(T, ...) arrays, row t = frame frame_indices[t]; smplx.SMPLX(batch_size=T) takes the pose, shape and transl arrays",
        "smoothed": bool(tracked.smoothing),
        "track_shape": tracked.track_shape,
        "smplx": dict(PREDICTION_MODEL_SETTINGS),
    }


__all__ = [
    "DEFAULT_VIDEO_OUTPUTS",
    "coordinate_frame",
    "VIDEO_OUTPUT_KINDS",
    "infer_video_file",
    "read_video_boxes_file",
    "save_track_npz",
    "stack_track",
]

"""Video in, tracked and optionally smoothed people out: the one place the Space touches the video path.

TEMPORARY ADAPTER. smplest_hf's video entry on `SmplestXPipeline` and its animated-glTF writer were still being
written when the Space was; until they land, `process_video` composes the parts that exist — `video_io`
(decode/encode), `tracking.PersonTracker` (stable ids), `smoothing.TrackSmoother` (One-Euro per parameter
group), the pipeline (batched frames) and the body model (geometry of smoothed parameters). When the pipeline
gains its video entry, replace the body of `process_video` with a call to it and keep the returned
`ProcessedVideo`: nothing else in the Space changes.

Outputs written under `output_dir`: `overlay.mp4`, `params/track_<id>.npz` (SMPL-X parameters stacked over the
track's frames, shaped as `smplx.SMPLX.forward` takes a batch, plus `frame_indices` and `fps`),
`params/track_<id>.json` (frames, boxes, camera per frame), `glb/middle_frame.glb` (static preview).

```python
>>> result = process_video(pipeline, "clip.mp4", "out/", smoothing=True, max_frames=300)   # doctest: +SKIP
>>> result.frames, result.tracks, result.overlay_video.name                               # doctest: +SKIP
(20, 1, 'overlay.mp4')
```
"""

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smplest_hf.export import render_overlay, save_json, save_scene_glb, smplx_parameters, write_bytes_atomic
from smplest_hf.video_io import VideoReader, VideoWriter

# Per-frame fields kept for each track's files (besides the SMPL-X parameters).
_CAMERA_FIELDS = ("box", "detection_box", "focal_length", "principal_point")
_BODY_MODEL_INPUTS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas", "expression")


class FrameLimitExceeded(ValueError):
    """The video has more frames than the caller allows (found while decoding: the header undercounted)."""


@dataclass
class ProcessedVideo:
    frames: int
    tracks: int
    fps: float
    overlay_video: Path
    animation_glb: Path | None
    preview_glb: Path | None
    parameter_files: list[Path]


def process_video(pipeline, video_path, output_dir, smoothing: bool = True, max_frames: int = 300, progress=None) -> ProcessedVideo:
    """Decode `video_path` in batches of `pipeline.batch_size` frames, recover and track every person, smooth
    each track's parameters (One-Euro, causal) when `smoothing`, and write the overlay video and per-track files.

    Args:
        progress: optional `callable(frames_done, total_frames)`.

    Raises:
        smplest_hf.video_io.VideoReadError: unreadable or corrupt video. FrameLimitExceeded: more than `max_frames`.
    """
    from smplest_hf.smoothing import TrackSmoother
    from smplest_hf.tracking import PersonTracker

    output_dir = Path(output_dir)
    tracker, smoother = PersonTracker(), TrackSmoother() if smoothing else None
    faces = pipeline.faces
    tracks = defaultdict(list)  # track id -> [(frame index, person)]
    frames_by_index = {}
    with VideoReader(video_path, max_frames=None) as video:
        info = video.info
        fps, total = float(info.fps), info.frame_count
        with VideoWriter(output_dir / "overlay.mp4", fps=info.fps, quality=23) as writer:
            frame_index = 0
            for batch in video.batches(pipeline.batch_size):
                if frame_index + len(batch) > max_frames:
                    raise FrameLimitExceeded(f"The video has more than {max_frames} frames.")
                images = pipeline.load_images(batch)
                for image, people in zip(images, pipeline.run(images)):
                    people = _track_and_smooth(pipeline, tracker, smoother, people, frame_index / fps)
                    for track_id, person in people:
                        tracks[track_id].append((frame_index, person))
                    frames_by_index[frame_index] = [person for _, person in people]
                    writer.write(render_overlay(image.pixels, [person for _, person in people], faces, image.scale))
                    frame_index += 1
                if progress is not None:
                    progress(frame_index, max(total, frame_index))
    frames = frame_index
    parameter_files = []
    for track_id in sorted(tracks):
        parameter_files += _write_track(output_dir / "params", track_id, tracks[track_id], fps, (info.height, info.width))
    middle = frames_by_index.get(frames // 2) or next((people for people in frames_by_index.values() if people), [])
    preview = save_scene_glb(output_dir / "glb" / "middle_frame.glb", middle, faces, (info.height, info.width)) if middle else None
    return ProcessedVideo(
        frames=frames, tracks=len(tracks), fps=fps, overlay_video=output_dir / "overlay.mp4",
        animation_glb=None, preview_glb=preview, parameter_files=parameter_files,
    )  # fmt: skip


def _track_and_smooth(pipeline, tracker, smoother, people: list[dict], time: float) -> list[tuple[int, dict]]:
    """One frame's people -> [(track id, person)], smoothed (geometry recomputed) when a smoother is given."""
    boxes = np.array([person["detection_box"] for person in people], dtype=np.float64).reshape(-1, 4)
    track_ids = tracker.update(boxes)
    if smoother is None:
        return list(zip(track_ids.tolist(), people))
    smoother.keep_only(tracker.active_ids)
    smoothed = [smoother(int(track_id), person, time) for track_id, person in zip(track_ids, people)]
    if smoothed:
        _recompute_geometry(pipeline, smoothed)
    return list(zip(track_ids.tolist(), smoothed))


@torch.no_grad()
def _recompute_geometry(pipeline, people: list[dict]) -> None:
    """Vertices, joints and 2D keypoints of smoothed parameters, in place (the body model in float32)."""
    body_model = pipeline.model.body_model
    device = next(body_model.buffers()).device
    inputs = {name: torch.from_numpy(np.stack([p[name] for p in people])).to(device, torch.float32) for name in _BODY_MODEL_INPUTS}
    translation = torch.from_numpy(np.stack([p["camera_translation"] for p in people])).to(device, torch.float32)
    output = body_model(**inputs, transl=translation)
    vertices, joints = output.vertices.float().cpu().numpy(), output.joints.float().cpu().numpy()
    for index, person in enumerate(people):
        focal, centre = np.asarray(person["focal_length"], np.float64), np.asarray(person["principal_point"], np.float64)
        points = joints[index].astype(np.float64)
        depth = points[:, 2:3] + 1e-4  # the model's own depth guard
        person["vertices"], person["joints"] = vertices[index], joints[index]
        person["keypoints_2d"] = (points[:, :2] / depth * focal + centre).astype(np.float32)


def _write_track(directory: Path, track_id: int, frames: list[tuple[int, dict]], fps: float, image_size) -> list[Path]:
    """`track_<id>.npz` (stacked SMPL-X parameters) and `track_<id>.json` (frames, boxes, camera)."""
    import io

    indices = np.array([index for index, _ in frames], dtype=np.int64)
    rows = [smplx_parameters(person) for _, person in frames]
    arrays = {name: np.concatenate([row[name] for row in rows]) for name in rows[0]}  # (T, ...) per parameter
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, frame_indices=indices, fps=np.float64(fps))
    npz = write_bytes_atomic(directory / f"track_{track_id}.npz", buffer.getvalue())
    record = {
        "track": int(track_id),
        "fps": fps,
        "image_size": [int(image_size[0]), int(image_size[1])],
        "frame_indices": indices.tolist(),
        "camera": "OpenCV pinhole: x right, y down, z forward (metres); pixel (u, v) = (fx * X / Z + cx, fy * Y / Z + cy)",
        **{f"{name}_per_frame": [np.asarray(person[name], float).round(4).tolist() for _, person in frames] for name in _CAMERA_FIELDS},
        "smplx": {"gender": "neutral", "num_betas": 10, "num_expression_coeffs": 10, "use_pca": False, "flat_hand_mean": False},
    }
    return [npz, save_json(directory / f"track_{track_id}.json", record)]


__all__ = ["FrameLimitExceeded", "ProcessedVideo", "process_video"]

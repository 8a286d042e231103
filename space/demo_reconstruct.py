"""The Space's work, without any UI: load the pipeline once, check uploads, reconstruct images and videos, write
the files users download. `app.py` wires these functions to Gradio; tests call them directly too.

User mistakes (not an image, too large, too long, ...) raise `DemoInputError` with a one-line message that the
UI shows as is; anything else is a bug and is logged with its traceback.

```python
>>> from demo_settings import SpaceSettings
>>> from demo_reconstruct import load_demo_pipeline, reconstruct_image
>>> demo = load_demo_pipeline(SpaceSettings.from_env())                         # doctest: +SKIP
>>> result = reconstruct_image(demo, "examples/person_standing.jpg", "out/")    # doctest: +SKIP
>>> result.people, result.overlay.name, result.scene_glb.name                   # doctest: +SKIP
(1, 'image.png', 'image.glb')
```
"""

import contextlib
import logging
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from demo_settings import (
    AUTO_DETECTOR,
    NO_DETECTOR,
    SpaceSettings,
    model_display_name,
    model_location,
    synthetic_body_model_dir,
)

logger = logging.getLogger("smplest_space")


class DemoInputError(ValueError):
    """Something about the user's upload or choices that they can fix; the message says what and how."""


@dataclass
class DemoPipeline:
    """The loaded pipeline plus what the UI needs to know about it.

    Attributes:
        pipeline: the `SmplestXPipeline` (model, body model, detector), loaded once.
        settings: the `SpaceSettings` it was loaded with (limits included).
        notes: lines for the UI describing the setup (model, body model, detector or whole-image mode).
        lock: held while a request changes the detector's options and runs the model (one request at a time
            per pipeline: the image and video tabs share it).
    """

    pipeline: object
    settings: SpaceSettings
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def has_detector(self) -> bool:
        return self.pipeline.detector is not None


def load_demo_pipeline(settings: SpaceSettings) -> DemoPipeline:
    """Build the `SmplestXPipeline` the settings describe (see `demo_settings.py` for the defaults)."""
    from smplest_hf.inference.detection import DEFAULT_DETECTOR, PersonDetector
    from smplest_hf.inference.pipeline import SmplestXPipeline, resolve_device, resolve_dtype

    notes = []
    model = model_location(settings)
    body_model_dir = settings.body_model_dir or synthetic_body_model_dir()
    if not settings.body_model_dir:
        notes.append("Body model: the synthetic SMPL-X-format stand-in (set SMPLX_MODEL_DIR to real SMPL-X files).")
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    detector = None
    detector_name = settings.detector.strip() or AUTO_DETECTOR
    automatic = detector_name.lower() == AUTO_DETECTOR
    if detector_name.lower() != NO_DETECTOR:
        name = DEFAULT_DETECTOR if automatic else detector_name
        if automatic and not _detector_available(name):
            logger.warning("The Hub is unreachable and %s is not cached: no person detector.", name)
        else:
            try:
                detector = PersonDetector.from_pretrained(name, device=device, dtype=dtype, max_people=settings.max_people)
            except ValueError as error:
                if not automatic:
                    raise  # a detector the user asked for by name: fail at start, loudly
                logger.warning("No person detector (%s); each image is treated as one person.", error)
    if detector is None:
        notes.append("No person detector: each image or frame is treated as one person filling it.")
    else:
        notes.append(f"Person detector: {detector.name}.")
    pipeline = SmplestXPipeline(
        model, body_model_dir=body_model_dir, detector=detector or NO_DETECTOR, device=device, dtype=dtype,
        batch_size=settings.batch_size, max_pixels=int(settings.work_megapixels * 1_000_000),
    )  # fmt: skip
    notes.insert(0, f"Model: {model_display_name(model)} on {pipeline.device} ({str(pipeline.dtype).removeprefix('torch.')}).")
    return DemoPipeline(pipeline=pipeline, settings=settings, notes=notes)


def _detector_available(name: str, timeout: float = 3.0) -> bool:
    """Whether loading `name` can work without waiting for retries: a local folder, a cached Hub download, or a
    Hub that answers. (Offline, huggingface_hub retries for about half a minute before giving up.)"""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants, try_to_load_from_cache

    if Path(name).expanduser().is_dir() or isinstance(try_to_load_from_cache(name, "config.json"), str):
        return True
    if constants.HF_HUB_OFFLINE:
        return False
    endpoint = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def request_options(demo: DemoPipeline, threshold: float, multi_person: bool, camera: str = "box"):
    """Hold the pipeline for one request with this request's settings: the detector's threshold and people count,
    and the camera (`smplest_hf.inference.camera_placement.CameraSpec` text)."""
    from smplest_hf.inference.camera_placement import CameraSpec

    if not 0.0 <= float(threshold) <= 1.0:
        raise DemoInputError(f"The detection threshold must be between 0 and 1, got {threshold}.")
    try:
        camera = CameraSpec.parse(camera)
    except ValueError as error:
        raise DemoInputError(str(error)) from None
    with demo.lock:
        detector = demo.pipeline.detector
        if detector is not None:
            detector.threshold = float(threshold)
            detector.max_people = demo.settings.max_people if multi_person else 1
        demo.pipeline.camera = camera
        yield demo.pipeline


# -------------------------------------------------------------------------------------------- uploads
def check_upload(path, settings: SpaceSettings, kind: str) -> Path:
    """The uploaded file exists, is not empty and is within the upload size limit."""
    if path is None or str(path) == "":
        raise DemoInputError(f"No {kind} given: upload one or pick an example.")
    path = Path(path)
    if not path.is_file():
        raise DemoInputError(f"The uploaded {kind} {path.name!r} could not be found; upload it again.")
    size = path.stat().st_size
    if size == 0:
        raise DemoInputError(f"The uploaded {kind} {path.name!r} is empty (0 bytes).")
    if size > settings.max_upload_bytes:
        raise DemoInputError(
            f"The uploaded {kind} is {size / 2**20:.1f} MB; this demo accepts up to {settings.max_upload_mb:g} MB. "
            f"Upload a smaller {kind}."
        )
    return path


def check_image_upload(path, settings: SpaceSettings, label: str = "image"):
    """Size limits, then a cheap header check (format, pixel count) before any decoding."""
    from smplest_hf.inference.image_io import ImageReadError, check_image_file

    path = check_upload(path, settings, "image")
    try:
        height, width = check_image_file(path)
    except ImageReadError:
        raise DemoInputError(f"{label!r} is not an image this demo can read (JPEG, PNG, WebP, BMP, TIFF, ...).") from None
    megapixels = height * width / 1e6
    if megapixels > settings.max_megapixels:
        raise DemoInputError(
            f"The image is {width} x {height} pixels ({megapixels:.1f} MP); this demo accepts up to "
            f"{settings.max_megapixels:g} MP. Downscale it first."
        )
    return path


# -------------------------------------------------------------------------------------------- outputs
def new_request_folder(settings: SpaceSettings) -> Path:
    """A fresh folder for one request's files; request folders older than `keep_outputs_seconds` are removed."""
    root = Path(settings.output_dir) if settings.output_dir else Path(tempfile.gettempdir()) / "smplest_space"
    root.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - settings.keep_outputs_seconds
    for old in root.glob("request_*"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="request_", dir=root))


def write_archive(path: Path, files: list[Path], root: Path) -> Path:
    """A .zip of `files` with their paths relative to `root` (written to a temporary name, then moved)."""
    temporary = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(root).as_posix())
    temporary.replace(path)
    return path


# -------------------------------------------------------------------------------------------- images
@dataclass
class ImageReconstruction:
    """Files of one reconstructed image (paths inside the request folder).

    Attributes:
        people: how many people were found.
        overlay: PNG, the shaded meshes over the image (the input's size up to `work_megapixels`).
        scene_glb: all people in one .glb (camera frame, glTF axes), None when nobody was found.
        parameter_files: per person SMPL-X `.npz` + camera `.json`, and the keypoints `.json`.
        mesh_files: per person `.obj` and `.ply`.
        archive: a .zip of everything.
        summary: Markdown lines for the UI.
    """

    people: int
    overlay: Path
    scene_glb: Path | None
    parameter_files: list[Path]
    mesh_files: list[Path]
    archive: Path
    summary: str


def reconstruct_image(demo: DemoPipeline, image_path, output_dir, threshold: float = 0.5, multi_person: bool = True,
                      label: str | None = None, camera: str = "box") -> ImageReconstruction:  # fmt: skip
    """Recover every person in one image and write every output kind (see `ImageReconstruction`).

    `camera`: "box" (each person in their own crop camera), "exif" or "fov:DEGREES" (everyone placed in the photo's
    camera, see `smplest_hf.inference.camera_placement`).

    Raises:
        DemoInputError: missing, empty, oversize, unreadable or too large image; bad threshold; "exif" for a photo
            without an EXIF focal length.
    """
    from smplest_hf.export.results import export_image_results
    from smplest_hf.inference.image_io import ImageReadError

    label = label or Path(str(image_path)).name
    path = check_image_upload(image_path, demo.settings, label)
    output_dir = Path(output_dir)
    start = time.perf_counter()
    with request_options(demo, threshold, multi_person, camera) as pipeline:
        try:
            image = pipeline.load_images([path])[0]
        except ImageReadError:  # header fine, pixels not: truncated or corrupt
            raise DemoInputError(f"{label!r} could not be decoded: the file is corrupt or truncated.") from None
        placed_in = pipeline.camera  # read under the lock: the next request may change it
        if placed_in.kind == "exif" and image.focal_length_35mm is None:
            raise DemoInputError(f"{label!r} has no EXIF focal length (FocalLengthIn35mmFilm): choose a field of view instead.")
        people = pipeline.run([image])[0]
    seconds = time.perf_counter() - start
    image.name = label
    written = export_image_results(output_dir, "image", image, people, pipeline.faces)
    by_folder = {}
    for file in written:
        by_folder.setdefault(file.parent.name, []).append(file)
    archive = write_archive(output_dir / "smplest_x_image_results.zip", written, output_dir)
    height, width = image.original_size
    found = f"**{len(people)} {'person' if len(people) == 1 else 'people'}** found in {label} ({width} x {height})"
    summary = [f"{found} in {seconds:.2f} s."]
    if not placed_in.is_box:
        fx = placed_in.intrinsics(image.original_size, image.focal_length_35mm)[0]
        summary.append(f"Everyone is placed in one camera ({placed_in}: focal length {fx:.0f} px).")
    if image.scale != 1.0:
        summary.append(f"The image was processed at 1/{image.scale:.2f} of its size (limit {demo.settings.work_megapixels:g} MP); "
                       "parameters and keypoints are in original pixels.")  # fmt: skip
    if not people:
        summary.append("Nobody found: lower the detection threshold or try another image.")
    return ImageReconstruction(
        people=len(people),
        overlay=by_folder["overlays"][0],
        scene_glb=by_folder["glb"][0] if people else None,
        parameter_files=by_folder.get("params", []) + by_folder.get("keypoints", []),
        mesh_files=by_folder.get("meshes", []),
        archive=archive,
        summary="\n\n".join(summary),
    )


# -------------------------------------------------------------------------------------------- videos
# What the video tab writes (smplest_hf.video.video_file kinds): overlay video, per-track parameter sequences,
# the animated skinned .glb, and per-frame keypoints (in the .zip only).
VIDEO_OUTPUTS = ("overlay", "params", "anim", "keypoints")


@dataclass
class VideoReconstruction:
    """Files of one reconstructed video (paths inside the request folder), as `smplest-x infer VIDEO` writes them.

    Attributes:
        frames, tracks: frames processed and people tracks found.
        overlay_video: MP4 (H.264) of the shaded meshes over the frames, one colour per track.
        animation_glb: every track as a skinned SMPL-X skeleton animated over the video (glTF 2.0).
        parameter_files: per track the SMPL-X parameter sequence `.npz` + its `.json` description.
        archive: a .zip of everything (with per-frame keypoints and `results.json`).
        summary: Markdown lines for the UI.
    """

    frames: int
    tracks: int
    overlay_video: Path
    animation_glb: Path
    parameter_files: list[Path]
    archive: Path
    summary: str


def check_video_upload(path, settings: SpaceSettings, label: str = "video"):
    """Size limit, then open the video and check its length against the limits (before any model work)."""
    from smplest_hf.video.video_io import VideoReadError, read_video_info

    path = check_upload(path, settings, "video")
    try:
        info = read_video_info(path, max_frames=None)
    except VideoReadError:
        raise DemoInputError(f"{label!r} is not a video this demo can read (MP4, MOV, WebM, AVI, MKV, ...).") from None
    seconds = info.frame_count / float(info.fps)
    if seconds > settings.max_video_seconds + 0.5 / float(info.fps):
        raise DemoInputError(
            f"The video is {seconds:.1f} s long; this demo processes videos up to {settings.max_video_seconds:g} s. "
            "Trim it and upload it again."
        )
    if info.frame_count > settings.max_video_frames:
        raise DemoInputError(
            f"The video has {info.frame_count} frames; this demo processes up to {settings.max_video_frames} frames. "
            "Trim it or lower its frame rate."
        )
    return path, info


def reconstruct_video(demo: DemoPipeline, video_path, output_dir, threshold: float = 0.5, multi_person: bool = True,
                      smoothing: bool = True, label: str | None = None) -> VideoReconstruction:  # fmt: skip
    """Track and recover every person through a video with `smplest_hf.video.video_file.infer_video_file` (the
    pipeline's video entry: batched frames, tracking, One-Euro smoothing) and collect its files.

    Progress goes to a tqdm bar, which `gr.Progress(track_tqdm=True)` shows in the UI.

    Raises:
        DemoInputError: missing, empty, oversize, unreadable, too long or corrupt video; bad threshold.
    """
    from smplest_hf.video.video_file import infer_video_file
    from smplest_hf.video.video_io import VideoReadError

    label = label or Path(str(video_path)).name
    path, info = check_video_upload(video_path, demo.settings, label)
    output_dir = Path(output_dir)
    with request_options(demo, threshold, multi_person, camera="box") as pipeline:
        try:
            report = infer_video_file(pipeline, path, output_dir, kinds=VIDEO_OUTPUTS, smoothing=smoothing,
                                      max_frames=demo.settings.max_video_frames, progress=True)  # fmt: skip
        except VideoReadError:  # found while decoding: corrupt data, or more frames than the header said
            raise DemoInputError(
                f"{label!r} could not be processed to the end: it is corrupt or truncated, or it has more than "
                f"{demo.settings.max_video_frames} frames."
            ) from None
    files = [output_dir / name for name in report["files"]]
    by_folder = {}
    for file in files:
        by_folder.setdefault(file.parts[len(output_dir.parts)], []).append(file)
    everything = files + sorted((output_dir / "keypoints").rglob("*.json")) + [output_dir / "results.json"]
    archive = write_archive(output_dir / "smplest_x_video_results.zip", everything, output_dir)
    tracks, frames, seconds = len(report["tracks"]), report["frames"], report["seconds"]
    summary = [
        (
            f"**{tracks} {'track' if tracks == 1 else 'tracks'}** over {frames} frames of {label} "
            f"({info.width} x {info.height}, {float(info.fps):.3g} fps) in {seconds:.1f} s "
            f"({frames / max(seconds, 1e-9):.1f} frames/s); smoothing {'on' if smoothing else 'off'}."
        )
    ]
    if not tracks:
        summary.append("Nobody found: lower the detection threshold or try another video.")
    return VideoReconstruction(
        frames=frames, tracks=tracks, overlay_video=by_folder["overlays"][0], animation_glb=by_folder["anim"][0],
        parameter_files=by_folder.get("params", []), archive=archive, summary="\n\n".join(summary),
    )  # fmt: skip


__all__ = [
    "VIDEO_OUTPUTS",
    "DemoInputError",
    "DemoPipeline",
    "ImageReconstruction",
    "VideoReconstruction",
    "check_image_upload",
    "check_upload",
    "check_video_upload",
    "load_demo_pipeline",
    "new_request_folder",
    "reconstruct_image",
    "reconstruct_video",
    "request_options",
]

"""SMPLest-X Gradio demo: whole-body SMPL-X people from an image or a video.

Run locally (offline by default: the bundled demo model and the synthetic body model):

    python space/app.py                        # http://127.0.0.1:7860
    SMPLEST_X_MODEL=org/smplest-x-h SMPLX_MODEL_DIR=~/smplx python space/app.py

`build_demo()` returns the `gr.Blocks` without launching it (tests drive it with `gradio_client`); the model is
loaded once, when the demo is built. Configuration: environment variables, see `demo_settings.py`. On a ZeroGPU
Space, `spaces` is importable and the model runs inside `@spaces.GPU` functions; elsewhere on CPU or the
local GPU.

```python
>>> from app import build_demo, launch_options
>>> demo = build_demo()                                                    # doctest: +SKIP
>>> demo.queue().launch(prevent_thread_lock=True, **launch_options(demo))  # doctest: +SKIP
```
"""

try:  # first, before torch touches CUDA: ZeroGPU needs to patch it
    import spaces
except ImportError:
    spaces = None

import logging
import sys
from pathlib import Path

SPACE_DIR = Path(__file__).resolve().parent
if str(SPACE_DIR) not in sys.path:  # the sibling modules, however the app is started
    sys.path.insert(0, str(SPACE_DIR))

import gradio as gr
from demo_reconstruct import (
    DemoInputError,
    DemoPipeline,
    load_demo_pipeline,
    new_request_folder,
    reconstruct_image,
    reconstruct_video,
)
from demo_settings import SpaceSettings

logger = logging.getLogger("smplest_space")
EXAMPLES_DIR = SPACE_DIR / "examples"
IMAGE_EXAMPLES = (("person_standing.jpg", "Multiple people"), ("person_posed.jpg", "Single person"), ("group.jpg", "Multiple people"))
VIDEO_EXAMPLES = ("person_moving.mp4",)
PEOPLE_MODES = ("Multiple people", "Single person")
# The image tab's camera choices -> `smplest_hf.inference.camera_placement.CameraSpec` text ("fov" takes the slider's angle).
CAMERA_MODES = {"Per-person crop cameras (SMPLest-X)": "box", "The photo's own (EXIF focal length)": "exif", "Field of view": "fov"}
GPU_SECONDS = {"image": 60, "video": 240}  # ZeroGPU time reserved per call

INTRODUCTION = """
# SMPLest-X: whole-body 3D humans
Upload a photo or a short video (or pick an example): every person gets an SMPL-X body — pose, hands, face and
shape — shown over the picture and in 3D, with the parameters and meshes to download.
"""
FOOTER = """
Parameters: SMPL-X `.npz` in the layout `smplx.SMPLX` takes (per joint: `body_pose` (1, 21, 3); `gender` neutral,
10 betas, 10 expression coefficients, full axis-angle hands relative to the mean hand) + camera `.json` (OpenCV
axes, metres, pixels of the input).
Meshes: `.obj`/`.ply` in the camera frame; `.glb` in glTF axes (y up). SMPL-X model files are licensed
([smpl-x.is.tue.mpg.de](https://smpl-x.is.tue.mpg.de)); this demo ships a synthetic stand-in with the same layout.
"""


def _on_gpu(seconds: int):
    """`@spaces.GPU(duration=seconds)` where the `spaces` package is installed (ZeroGPU), else nothing."""
    if spaces is None:
        return lambda function: function
    return spaces.GPU(duration=seconds)


def _user_errors(function):
    """Show user mistakes as their message and anything else as a short notice (logged with its traceback),
    never a stack trace in the UI."""
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except DemoInputError as error:
            raise gr.Error(str(error), title="Cannot process this upload") from None
        except gr.Error:
            raise
        except Exception as error:
            logger.exception("Request failed")
            raise gr.Error(
                f"Something went wrong on our side ({type(error).__name__}); it has been logged. Try another input.",
                title="Internal error",
            ) from None

    return wrapper


def _payload_path(payload) -> tuple[str | None, str | None]:
    """(path, original file name) of an unprocessed Gradio file payload (dict), a path, or None."""
    if payload is None:
        return None, None
    if isinstance(payload, dict):
        path = payload.get("path")
        return path, payload.get("orig_name") or (Path(path).name if path else None)
    return str(payload), Path(str(payload)).name


def make_handlers(demo_pipeline: DemoPipeline):
    """The two event functions, bound to one loaded pipeline."""
    settings = demo_pipeline.settings

    @_user_errors
    @_on_gpu(GPU_SECONDS["image"])
    def run_image(image, threshold, people_mode, camera_mode=next(iter(CAMERA_MODES)), field_of_view=60.0):
        path, name = _payload_path(image)
        camera = CAMERA_MODES.get(camera_mode, camera_mode)
        result = reconstruct_image(
            demo_pipeline, path, new_request_folder(settings), threshold=float(threshold),
            multi_person=people_mode != "Single person", label=name or "image",
            camera=f"fov:{float(field_of_view):g}" if camera == "fov" else camera,
        )  # fmt: skip
        if result.people == 0:
            gr.Warning("Nobody was found in this image: lower the detection threshold or try another image.")
        return (
            str(result.overlay),
            str(result.scene_glb) if result.scene_glb else None,
            [str(path) for path in result.parameter_files],
            [str(path) for path in result.mesh_files + ([result.scene_glb] if result.scene_glb else [])],
            str(result.archive),
            result.summary,
        )

    @_user_errors
    @_on_gpu(GPU_SECONDS["video"])
    def run_video(video, threshold, people_mode, smoothing, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (Gradio's idiom)
        path, name = _payload_path(video)
        progress(0.0, desc="Reading the video")
        result = reconstruct_video(
            demo_pipeline, path, new_request_folder(settings), threshold=float(threshold),
            multi_person=people_mode != "Single person", smoothing=bool(smoothing), label=name or "video",
        )  # fmt: skip
        if result.tracks == 0:
            gr.Warning("Nobody was found in this video: lower the detection threshold or try another video.")
        return (
            str(result.overlay_video),
            str(result.animation_glb) if result.tracks else None,
            [str(path) for path in [*result.parameter_files, result.animation_glb]],
            str(result.archive),
            result.summary,
        )

    return run_image, run_video


def build_demo(pipeline=None, settings: SpaceSettings | None = None) -> gr.Blocks:
    """The demo's `gr.Blocks`, with the model loaded (once, here).

    Args:
        pipeline: None (load from `settings`), a `SmplestXPipeline`, a loaded `demo_reconstruct.DemoPipeline`, or a
            `SpaceSettings` (same as passing it as `settings`).
        settings: limits and, when `pipeline` is None, what to load; default `SpaceSettings.from_env()`.
    """
    from smplest_hf.inference.pipeline import SmplestXPipeline

    if isinstance(pipeline, SpaceSettings):
        pipeline, settings = None, pipeline
    settings = settings or (pipeline.settings if isinstance(pipeline, DemoPipeline) else SpaceSettings.from_env())
    if pipeline is None:
        demo_pipeline = load_demo_pipeline(settings)
    elif isinstance(pipeline, DemoPipeline):
        demo_pipeline = pipeline
    elif isinstance(pipeline, SmplestXPipeline):
        if not pipeline.has_body_model:
            raise ValueError("The demo needs meshes: give the pipeline an SMPL-X body model (body_model_dir=...).")
        demo_pipeline = DemoPipeline(pipeline=pipeline, settings=settings, notes=[f"Model on {pipeline.device}."])
    else:
        raise TypeError(f"pipeline must be None, a SmplestXPipeline, a DemoPipeline or SpaceSettings, got {type(pipeline).__name__}.")
    run_image, run_video = make_handlers(demo_pipeline)
    has_detector = demo_pipeline.has_detector
    detector_note = "" if has_detector else " (no detector loaded: each image is one person)"

    with gr.Blocks(title="SMPLest-X demo", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRODUCTION)
        gr.Markdown(" · ".join(demo_pipeline.notes) + f"  \nLimits: uploads up to {settings.max_upload_mb:g} MB, images up to "
                    f"{settings.max_megapixels:g} MP, videos up to {settings.max_video_seconds:g} s / {settings.max_video_frames} frames.",
                    elem_id="setup-notes")  # fmt: skip
        with gr.Tab("Image", id="image-tab"):
            with gr.Row():
                with gr.Column():
                    image_input = gr.Image(label="Image", type="filepath", sources=["upload", "clipboard"], height=420, elem_id="image-input")
                    image_threshold = gr.Slider(0.05, 0.95, value=0.5, step=0.05, label="Detection threshold" + detector_note, interactive=has_detector)
                    image_people = gr.Radio(list(PEOPLE_MODES), value=PEOPLE_MODES[0], label="People", interactive=has_detector)
                    with gr.Accordion("Camera", open=False):
                        image_camera = gr.Radio(list(CAMERA_MODES), value=next(iter(CAMERA_MODES)), label="Place the people in",
                                                info="A real camera puts everyone in one 3D frame with the photo's perspective.")  # fmt: skip
                        image_fov = gr.Slider(20, 120, value=60, step=1, label="Field of view (degrees across the long side)")
                    image_button = gr.Button("Reconstruct", variant="primary", elem_id="image-run")
                with gr.Column():
                    image_overlay = gr.Image(label="Overlay", type="filepath", interactive=False, height=420, elem_id="image-overlay")
                    image_summary = gr.Markdown(label="Summary", elem_id="image-summary")
            with gr.Row():
                image_scene = gr.Model3D(label="3D view (.glb, all people)", clear_color=(0.93, 0.94, 0.96, 1.0), height=420, elem_id="image-3d")
                with gr.Column():
                    image_parameters = gr.File(label="SMPL-X parameters (.npz) + camera and keypoints (.json)", file_count="multiple")
                    image_meshes = gr.File(label="Meshes (.obj, .ply, .glb)", file_count="multiple")
                    image_archive = gr.File(label="Everything (.zip)")
            gr.Examples(
                [[str(EXAMPLES_DIR / name), mode] for name, mode in IMAGE_EXAMPLES if (EXAMPLES_DIR / name).is_file()],
                inputs=[image_input, image_people], label="Examples (synthetic renders)", cache_examples=False,
                elem_id="image-examples",
            )  # fmt: skip
            image_button.click(
                run_image, [image_input, image_threshold, image_people, image_camera, image_fov],
                [image_overlay, image_scene, image_parameters, image_meshes, image_archive, image_summary],
                api_name="reconstruct_image", preprocess=False, concurrency_id="model",
            )  # fmt: skip

        with gr.Tab("Video", id="video-tab"):
            with gr.Row():
                with gr.Column():
                    video_input = gr.Video(label="Video", sources=["upload"], include_audio=True, height=420, elem_id="video-input")
                    video_threshold = gr.Slider(0.05, 0.95, value=0.5, step=0.05, label="Detection threshold" + detector_note, interactive=has_detector)
                    video_people = gr.Radio(list(PEOPLE_MODES), value=PEOPLE_MODES[0], label="People", interactive=has_detector)
                    video_smoothing = gr.Checkbox(value=True, label="Temporal smoothing (One-Euro filter per parameter group)")
                    video_button = gr.Button("Reconstruct video", variant="primary", elem_id="video-run")
                with gr.Column():
                    video_overlay = gr.Video(label="Overlay", interactive=False, height=420, elem_id="video-overlay")
                    video_summary = gr.Markdown(label="Summary", elem_id="video-summary")
            with gr.Row():
                video_scene = gr.Model3D(label="3D view (animated .glb, skinned SMPL-X skeleton per track)", clear_color=(0.93, 0.94, 0.96, 1.0), height=420, elem_id="video-3d")
                with gr.Column():
                    video_files = gr.File(label="Per-track SMPL-X sequences (.npz, .json) and the animated .glb", file_count="multiple")
                    video_archive = gr.File(label="Everything (.zip)")
            gr.Examples(
                [[str(EXAMPLES_DIR / name)] for name in VIDEO_EXAMPLES if (EXAMPLES_DIR / name).is_file()],
                inputs=[video_input], label="Examples (synthetic renders)", cache_examples=False, elem_id="video-examples",
            )  # fmt: skip
            video_button.click(
                run_video, [video_input, video_threshold, video_people, video_smoothing],
                [video_overlay, video_scene, video_files, video_archive, video_summary],
                api_name="reconstruct_video", concurrency_id="model",
            )  # fmt: skip
        gr.Markdown(FOOTER)
    demo.smplest_settings = settings  # read by launch_options
    return demo


def launch_options(demo_or_settings) -> dict:
    """Keyword arguments for `demo.launch` that enforce the settings' limits (upload size, output folder)."""
    settings = getattr(demo_or_settings, "smplest_settings", demo_or_settings)
    options = {"max_file_size": settings.max_upload_bytes}
    if settings.output_dir:
        options["allowed_paths"] = [str(Path(settings.output_dir).resolve())]
    return options


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    demo = build_demo()
    # One model run at a time (the image and video events share the "model" queue), at most 16 waiting.
    demo.queue(default_concurrency_limit=1, max_size=16)
    demo.launch(**launch_options(demo))  # host and port: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (set on Spaces)


if __name__ == "__main__":
    main()

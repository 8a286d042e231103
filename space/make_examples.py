"""Write the Space's bundled examples: synthetic people rendered with the synthetic SMPL-X-format body model.

The images come from the same generator as the synthetic training data (`hub_datasets.synthetic`: random
plausible poses, shapes and colours, a random pinhole camera, procedural backgrounds), so the bundled demo
model, trained on that data, sees the kind of picture it knows. The video is one such person moving: its
pose, orientation and position are interpolated between two random draws and every frame is rendered with
`smplest_hf.export.rasterizer` and encoded as H.264 (browser-playable, no system ffmpeg: PyAV's bundled encoder).

Nothing here is a real person or a real SMPL-X body: the pictures only show what the demo does.

    python space/make_examples.py                 # writes space/examples/
    python space/make_examples.py --out DIR --body-model DIR

Output (each file well under the Space's size budget: images < 200 KB, the video < 1 MB):
    person_standing.jpg, person_posed.jpg   one person, 512 x 384 (the model's input aspect)
    group.jpg                               three people, 384 x 640
    person_moving.mp4                       one person, 2 s at 10 fps, 384 x 288
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from smplest_hf.export.atomic import write_bytes_atomic

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
SEED = 2024  # fixed: the committed files are reproducible
# (file name, people, (height, width), scene index): the scene index picks the random draw; these were chosen
# by looking at the results (whole bodies in view, varied poses).
IMAGES = (
    ("person_standing.jpg", 1, (512, 384), 3),
    ("person_posed.jpg", 1, (512, 384), 8),
    ("group.jpg", 3, (384, 640), 5),
)
VIDEO_NAME = "person_moving.mp4"
VIDEO_SIZE = (384, 288)  # (height, width); even sides, as yuv420p needs
VIDEO_FRAMES, VIDEO_FPS = 20, 10
JPEG_QUALITY = 88


def write_example_images(directory: Path, body_model_dir) -> list[Path]:
    from hub_datasets.synthetic import (
        place_people,
        pose_people,
        render_scene,
        sample_scene,
        scene_background,
    )
    from smplest_hf.models.smplest_x.body_model import SmplxBodyModel

    faces = SmplxBodyModel.from_directory(body_model_dir).faces.numpy()
    written = []
    for name, num_people, size, index in IMAGES:
        scene = sample_scene(SEED, index, num_people, size, genders=("neutral",))
        posed = pose_people([scene], body_model_dir)
        vertices = posed["vertices"] + place_people(posed["vertices"], [scene], size)[:, None]
        image = render_scene(scene, vertices, faces, size, scene_background(scene, size)).image
        written.append(write_bytes_atomic(directory / name, _jpeg(image)))
    return written


def write_example_video(directory: Path, body_model_dir) -> Path:
    """One person turning and changing pose: joint rotations interpolated between two random draws."""
    from hub_datasets.synthetic import (
        place_people,
        pose_people,
        render_scene,
        sample_scene,
        scene_background,
    )
    from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
    from smplest_hf.models.smplest_x.geometry import axis_angle_to_matrix, matrix_to_axis_angle

    body_model = SmplxBodyModel.from_directory(body_model_dir)
    start_scene = sample_scene(SEED, 100, 1, VIDEO_SIZE, genders=("neutral",))
    end_scene = sample_scene(SEED, 101, 1, VIDEO_SIZE, genders=("neutral",))
    start, end = pose_people([start_scene], body_model_dir), pose_people([end_scene], body_model_dir)
    weights = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, VIDEO_FRAMES))  # ease in and out: no jump at the ends
    posed_names = ("body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")

    def blend(name):  # joint rotations blended linearly in axis-angle: smooth between two draws within joint limits
        return torch.from_numpy(np.stack([(1 - w) * start[name][0] + w * end[name][0] for w in weights]).astype(np.float32))

    # The body keeps its first orientation and turns about the vertical (camera y) axis by up to 40 degrees.
    turn = torch.from_numpy(np.outer(np.radians(40.0) * (weights - 0.5), [0.0, 1.0, 0.0]).astype(np.float32))
    orientation = axis_angle_to_matrix(turn) @ axis_angle_to_matrix(torch.from_numpy(start["global_orient"]))
    with torch.no_grad():
        output = body_model(
            matrix_to_axis_angle(orientation),
            *(blend(name) for name in posed_names),
            torch.from_numpy(np.repeat(start["betas"], VIDEO_FRAMES, 0)),
            torch.from_numpy(np.repeat(start["expression"], VIDEO_FRAMES, 0)),
        )
    vertices = output.vertices.numpy()
    # Placed once, from the first frame, then drifting sideways by a tenth of the person's height.
    translation = place_people(vertices[:1], [start_scene], VIDEO_SIZE)[0]
    height = float(np.ptp(vertices[0, :, 1]))
    drift = np.outer(weights - 0.5, [0.1 * height, 0.0, 0.0])
    vertices = vertices + (translation + drift)[:, None, :].astype(np.float32)
    background = scene_background(start_scene, VIDEO_SIZE)
    frames = [
        render_scene(start_scene, vertices[index : index + 1], body_model.faces.numpy(), VIDEO_SIZE, background).image
        for index in range(VIDEO_FRAMES)
    ]
    return write_bytes_atomic(directory / VIDEO_NAME, encode_h264(frames, VIDEO_FPS))


def encode_h264(frames: list[np.ndarray], fps: int, crf: int = 26) -> bytes:
    """(H, W, 3) uint8 RGB frames -> the bytes of an MP4 (H.264, yuv420p, faststart) that browsers play."""
    import av

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "video.mp4"
        with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "slow"})
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
        return path.read_bytes()


def _jpeg(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=EXAMPLES_DIR, help="folder to write (default: space/examples)")
    parser.add_argument("--body-model", default=None, help="SMPL-X-format body model folder (default: the synthetic one, cached)")
    parser.add_argument("--no-video", action="store_true", help="write the images only")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from demo_settings import synthetic_body_model_dir

    body_model_dir = args.body_model or synthetic_body_model_dir()
    written = write_example_images(args.out, body_model_dir)
    if not args.no_video:
        written.append(write_example_video(args.out, body_model_dir))
    for path in written:
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU speed of `smplest_hf.export.rasterizer.render_meshes` against a naive per-face rasteriser measured in the same run.

The mesh is the synthetic SMPL-X body model's rest mesh (10475 vertices, 20908 faces) when
`smplest_hf.synthetic` is importable, otherwise a procedural stand-in of ellipsoid body parts with about the same
vertex and face counts. People stand ~80% of the image height tall (1 person) or in a crowd of 8 at different
depths, overlapping; images are 256x192, 512x384 and 1920x1080, smooth shading over a background.

The baseline is the textbook NumPy rasteriser: a Python loop over faces, edge functions over each face's
bounding box, a z-test against the frame buffer. It is timed on an evenly spaced subsample of the faces and
extrapolated to all of them (ratio = baseline / ours, > 1 means ours is faster).

    python benchmarks/rendering.py                   # 1 thread, median of 7 runs
    python benchmarks/rendering.py --threads 2 --repeats 11 --device cuda
"""

import argparse
import functools
import statistics
import tempfile
import time

import numpy as np
import torch

from smplest_hf.export.rasterizer import render_meshes

SIZES = [(256, 192), (512, 384), (1080, 1920)]
PERSON_HEIGHT_M = 1.7


def _ellipsoid(center, radii, latitudes=16, longitudes=48):
    theta = np.linspace(0, np.pi, latitudes + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, longitudes, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack((np.sin(t) * np.cos(p), -np.cos(t), np.sin(t) * np.sin(p)), axis=-1).reshape(-1, 3)
    unit = np.concatenate(([[0.0, -1.0, 0.0]], ring, [[0.0, 1.0, 0.0]]))
    j = np.arange(longitudes)
    faces = [np.stack((np.zeros(longitudes, int), 1 + (j + 1) % longitudes, 1 + j), axis=1)]
    for i in range(latitudes - 2):
        a, b = 1 + i * longitudes + j, 1 + i * longitudes + (j + 1) % longitudes
        faces += [np.stack((a, b, b + longitudes), axis=1), np.stack((a, b + longitudes, a + longitudes), axis=1)]
    last, base = len(unit) - 1, 1 + (latitudes - 2) * longitudes
    faces.append(np.stack((np.full(longitudes, last), base + j, base + (j + 1) % longitudes), axis=1))
    return unit * radii + center, np.concatenate(faces)


def procedural_person():
    """Vertices (V, 3) in metres (y down, feet at y = 0.85, head at y = -0.85) and faces of 14 ellipsoids (~SMPL-X counts)."""
    parts = [  # centre (x, y, z), radii
        ((0.0, -0.74, 0.0), (0.09, 0.11, 0.10)),  # head
        ((0.0, -0.38, 0.0), (0.17, 0.24, 0.11)),  # chest
        ((0.0, -0.02, 0.0), (0.15, 0.14, 0.10)),  # pelvis
        *[((s * 0.27, -0.42, 0.0), (0.05, 0.15, 0.05)) for s in (-1, 1)],  # upper arms
        *[((s * 0.30, -0.13, 0.0), (0.04, 0.14, 0.04)) for s in (-1, 1)],  # forearms
        *[((s * 0.31, 0.05, 0.0), (0.03, 0.07, 0.015)) for s in (-1, 1)],  # hands
        *[((s * 0.09, 0.28, 0.0), (0.07, 0.22, 0.07)) for s in (-1, 1)],  # thighs
        *[((s * 0.09, 0.63, 0.0), (0.05, 0.2, 0.05)) for s in (-1, 1)],  # shins
        ((0.0, 0.84, 0.05), (0.15, 0.02, 0.09)),  # feet (one slab)
    ]
    vertices, faces, offset = [], [], 0
    for center, radii in parts:
        v, f = _ellipsoid(np.array(center), np.array(radii), latitudes=16, longitudes=50)
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
    return np.concatenate(vertices), np.concatenate(faces), "procedural ellipsoid person"


def synthetic_person():
    """The synthetic body model's rest mesh, turned upright for the y-down camera, or None when unavailable."""
    try:
        from smplest_hf.models.smplest_x.body_model import SmplxBodyModel
        from smplest_hf.synthetic import write_synthetic_body_model
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as directory:
        body_model = SmplxBodyModel.from_directory(write_synthetic_body_model(directory, seed=0))
        zeros = lambda *shape: torch.zeros(1, *shape)
        with torch.no_grad():
            output = body_model(zeros(3), zeros(21, 3), zeros(15, 3), zeros(15, 3), zeros(3), zeros(10), zeros(10))
        vertices = output.vertices[0].double().numpy() * np.array([1.0, -1.0, -1.0])  # SMPL-X is y up, z towards us
        vertices -= (vertices.max(0) + vertices.min(0)) / 2
        return vertices, body_model.faces.numpy(), "synthetic SMPL-X rest mesh"


def scene(vertices, size, num_people):
    """Per-person camera-frame vertices (P, V, 3) and a camera for an image of `size` (height, width)."""
    height, width = size
    focal = 0.8 * height * 3.0 / PERSON_HEIGHT_M  # a person 3 m away spans 80% of the image height
    rng = np.random.default_rng(0)
    people = []
    for person in range(num_people):
        if num_people == 1:
            offset = np.array([0.0, 0.0, 3.0])
        else:  # a crowd: spread across the view, 3 to 6 m away, overlapping
            depth = 3.0 + 3.0 * person / (num_people - 1)
            half_width = 0.45 * width / focal * depth
            offset = np.array([rng.uniform(-half_width, half_width), rng.uniform(-0.1, 0.1), depth])
        yaw = rng.uniform(-0.6, 0.6)
        rotation = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        people.append(vertices @ rotation.T + offset)
    return np.stack(people), (focal, focal), ((width - 1) / 2, (height - 1) / 2)


def naive_render(vertices, faces, focal, center, size, face_ids):
    """The baseline: a per-face loop with edge functions over each bounding box and a depth test (no shading)."""
    height, width = size
    depth = np.full(size, np.inf)
    winner = np.full(size, -1)
    for person, person_vertices in enumerate(vertices):
        projected = person_vertices[:, :2] / person_vertices[:, 2:] * focal + center
        for face in face_ids:
            corners, corner_z = projected[faces[face]], person_vertices[faces[face], 2]
            x0, y0 = np.ceil(corners.min(0)).astype(int).clip(0, [width - 1, height - 1])
            x1, y1 = np.floor(corners.max(0)).astype(int).clip(0, [width - 1, height - 1])
            if x1 < x0 or y1 < y0:
                continue
            xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
            (ax, ay), (bx, by), (cx, cy) = corners
            area = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
            if area == 0:
                continue
            w0 = ((bx - xs) * (cy - ys) - (cx - xs) * (by - ys)) / area
            w1 = ((cx - xs) * (ay - ys) - (ax - xs) * (cy - ys)) / area
            w2 = 1 - w0 - w1
            inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
            z = 1 / (w0 / corner_z[0] + w1 / corner_z[1] + w2 / corner_z[2])
            region = depth[y0 : y1 + 1, x0 : x1 + 1]
            nearer = inside & (z < region)
            region[nearer] = z[nearer]
            winner[y0 : y1 + 1, x0 : x1 + 1][nearer] = person * len(faces) + face
    return depth, winner


def _median_seconds(function, repeats):
    """Median wall-clock and median process CPU seconds of `repeats` calls after a warm-up.

    With one thread the CPU time is what the wall-clock time would be on an idle core; on a shared machine it
    is the steadier of the two (the wall clock also counts time the process waited for a core).
    """
    function()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--people", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--baseline-faces", type=int, default=1000, help="faces per person the naive loop is timed on")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    vertices, faces, source = synthetic_person() or procedural_person()
    print(f"mesh: {source}, {len(vertices)} vertices, {len(faces)} faces; device {args.device}, {args.threads} thread(s), "
          f"median of {args.repeats} runs; wall-clock ms (process CPU ms); ratio = naive / ours, on CPU times")  # fmt: skip
    print(f"{'image':>10} {'people':>6} {'covered px':>10} {'ours ms':>16} {'naive ms (extrap.)':>20} {'ratio':>6}")
    rng = np.random.default_rng(0)
    for size in SIZES:
        background = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
        for num_people in args.people:
            people, focal, center = scene(vertices, size, num_people)
            people_on_device = torch.as_tensor(people, device=args.device)
            result = render_meshes(people_on_device, faces, focal, center, background=background)
            ours, ours_cpu = _median_seconds(
                functools.partial(render_meshes, people_on_device, faces, focal, center, background=background), args.repeats
            )
            subsample = np.linspace(0, len(faces) - 1, min(args.baseline_faces, len(faces))).astype(int)
            naive, naive_cpu = _median_seconds(functools.partial(naive_render, people, faces, focal, center, size, subsample), 1)
            naive, naive_cpu = (t * len(faces) / len(subsample) for t in (naive, naive_cpu))
            print(f"{size[1]:>4}x{size[0]:<5} {num_people:>6} {int(result.mask.sum()):>10} "
                  f"{1000 * ours:>7.1f} ({1000 * ours_cpu:>6.1f}) {1000 * naive:>9.0f} ({1000 * naive_cpu:>7.0f}) "
                  f"{naive_cpu / ours_cpu:>6.0f}")  # fmt: skip

    # Agreement check with the baseline on the full mesh (small image): same silhouette up to edge ties.
    people, focal, center = scene(vertices, SIZES[0], 1)
    result = render_meshes(people, faces, focal, center, image_size=SIZES[0])
    depth, _ = naive_render(people, faces, focal, center, SIZES[0], np.arange(len(faces)))
    mismatch = (np.isfinite(depth) != result.mask).sum()
    both = np.isfinite(depth) & result.mask
    print(f"agreement with the naive rasteriser at {SIZES[0]}: {mismatch} silhouette pixels differ of {result.mask.sum()}, "
          f"max depth difference {np.abs(depth[both] - result.depth[both]).max():.2e} m")  # fmt: skip


if __name__ == "__main__":
    main()

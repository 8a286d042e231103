"""The rasteriser against independent computations: edge functions at pixel centres, analytic planes, spheres
and cubes, Lambert's law, alpha blending.

Camera everywhere: OpenCV pinhole (x right, y down, z forward), pixel = f * X / Z + c, pixel centres at integers.
"""

import numpy as np
import pytest
import torch

from smplest_hf.export import rasterizer as rendering
from smplest_hf.export.rasterizer import DEFAULT_COLORS, RenderResult, render_meshes

FOCAL = (60.0, 55.0)
CENTER = (31.3, 23.8)
SIZE = (48, 64)  # (height, width)


def _backproject(pixels, depth, focal=FOCAL, center=CENTER) -> np.ndarray:
    """(N, 2) pixel positions at camera depth `depth` -> (N, 3) camera-frame points that project onto them."""
    pixels = np.asarray(pixels, dtype=np.float64)
    depth = np.broadcast_to(np.asarray(depth, dtype=np.float64), (len(pixels),))
    x = (pixels[:, 0] - center[0]) / focal[0] * depth
    y = (pixels[:, 1] - center[1]) / focal[1] * depth
    return np.stack((x, y, depth), axis=1)


def _pixel_grid(size=SIZE):
    rows, cols = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float64)
    return cols, rows


def _inside_convex_polygon(polygon, size=SIZE, margin=1e-3):
    """Which pixel centres lie inside a convex polygon (either winding), by edge functions, and whether every
    pixel centre is at least `margin` pixels away from the boundary lines (so the answer is unambiguous)."""
    cols, rows = _pixel_grid(size)
    polygon = np.asarray(polygon, dtype=np.float64)
    signed = []
    for start, end in zip(polygon, np.roll(polygon, -1, axis=0)):
        edge = end - start
        signed.append((edge[0] * (rows - start[1]) - edge[1] * (cols - start[0])) / np.linalg.norm(edge))
    signed = np.stack(signed)
    first, second = polygon[1] - polygon[0], polygon[2] - polygon[0]
    orientation = np.sign(first[0] * second[1] - first[1] * second[0])
    inside = (signed * orientation >= 0).all(axis=0)
    return inside, np.abs(signed).min() > margin


def _render(vertices, faces, **kwargs) -> RenderResult:
    kwargs.setdefault("focal_length", FOCAL)
    kwargs.setdefault("principal_point", CENTER)
    if "background" not in kwargs:
        kwargs.setdefault("image_size", SIZE)
    return render_meshes(vertices, faces, **kwargs)


def _uv_sphere(center, radius, latitudes=64, longitudes=128):
    """A closed UV sphere: vertices (V, 3), faces (F, 3) wound counter-clockwise seen from outside."""
    theta = np.linspace(0, np.pi, latitudes + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, longitudes, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack((np.sin(t) * np.cos(p), -np.cos(t), np.sin(t) * np.sin(p)), axis=-1).reshape(-1, 3)
    unit = np.concatenate(([[0.0, -1.0, 0.0]], ring, [[0.0, 1.0, 0.0]]))
    faces = []
    j = np.arange(longitudes)
    faces.append(np.stack((np.zeros(longitudes, int), 1 + (j + 1) % longitudes, 1 + j), axis=1))
    for i in range(latitudes - 2):
        a, b = 1 + i * longitudes + j, 1 + i * longitudes + (j + 1) % longitudes
        faces += [np.stack((a, b, b + longitudes), axis=1), np.stack((a, b + longitudes, a + longitudes), axis=1)]
    last, base = len(unit) - 1, 1 + (latitudes - 2) * longitudes
    faces.append(np.stack((np.full(longitudes, last), base + j, base + (j + 1) % longitudes), axis=1))
    return unit * radius + np.asarray(center, dtype=np.float64), np.concatenate(faces)


def _square(corners_pixels, depth, **kwargs):
    """Two triangles forming the quad through 4 pixel positions (in order) back-projected to `depth` (scalar or 4)."""
    return _backproject(corners_pixels, depth, **kwargs), np.array([[0, 1, 2], [0, 2, 3]])


# ------------------------------------------------------------------------------------------------- coverage
@pytest.mark.parametrize(
    "triangle",
    [
        [(5.37, 3.61), (40.13, 10.29), (17.71, 33.87)],  # one winding
        [(5.37, 3.61), (17.71, 33.87), (40.13, 10.29)],  # the other
        [(-20.43, -7.31), (90.67, 12.23), (30.13, 70.91)],  # larger than the image: clipped to it
        [(50.5, 40.25), (63.6, 47.7), (70.2, 30.3)],  # partly off the right edge
        [(10.2, 20.5), (11.7, 20.6), (10.9, 21.4)],  # tiny: one or two pixels
        [(10.37, 20.5), (40.71, 20.5), (25.29, 5.43)],  # a horizontal edge between pixel rows
        [(30.5, 3.37), (30.5, 40.13), (5.21, 22.71)],  # a vertical edge between pixel columns
    ],
)
def test_triangle_covers_exactly_the_pixel_centres_inside_it(triangle):
    expected, unambiguous = _inside_convex_polygon(triangle)
    assert unambiguous  # the test setup keeps pixel centres off the edges
    vertices = _backproject(triangle, 3.0)
    result = _render(vertices, np.array([[0, 1, 2]]))
    np.testing.assert_array_equal(result.mask, expected)
    np.testing.assert_array_equal(result.person_index, np.where(expected, 0, -1))
    np.testing.assert_array_equal(result.face_index, np.where(expected, 0, -1))
    np.testing.assert_allclose(result.depth[expected], 3.0, rtol=1e-6)
    assert np.isinf(result.depth[~expected]).all()
    assert (result.image[~expected] == 0).all() and (result.image[expected] > 0).all()


def test_depth_is_the_plane_depth_at_pixel_centres():
    # A quad on the tilted plane n . P = d, its corners chosen in pixels and lifted onto the plane.
    normal, offset = np.array([0.3, -0.4, 1.0]), 4.0
    corners = np.array([(6.37, 4.29), (57.61, 7.83), (52.23, 41.77), (9.19, 38.47)])
    cols, rows = _pixel_grid()

    def plane_depth(u, v):  # the ray (u - cx) / fx, (v - cy) / fy, 1 scaled to hit the plane
        ray = np.stack(((u - CENTER[0]) / FOCAL[0], (v - CENTER[1]) / FOCAL[1], np.ones_like(u)), axis=-1)
        return offset / (ray @ normal)

    vertices, faces = _square(corners, plane_depth(corners[:, 0], corners[:, 1]))
    result = _render(vertices, faces)
    expected, unambiguous = _inside_convex_polygon(corners)
    assert unambiguous
    np.testing.assert_array_equal(result.mask, expected)
    np.testing.assert_allclose(result.depth[expected], plane_depth(cols, rows)[expected], rtol=2e-6)
    assert result.depth.dtype == np.float32 and result.person_index.dtype == np.int32


@pytest.mark.parametrize("near_first", [True, False])
def test_nearer_square_wins_in_either_order(near_first):
    near_square = _square([(5.2, 5.3), (40.4, 5.3), (40.4, 35.6), (5.2, 35.6)], 2.0)
    far_square = _square([(20.2, 15.3), (58.4, 15.3), (58.4, 44.6), (20.2, 44.6)], 5.0)
    people = [near_square, far_square] if near_first else [far_square, near_square]
    near_index = 0 if near_first else 1
    result = _render([people[0][0], people[1][0]], [people[0][1], people[1][1]])

    near_mask, _ = _inside_convex_polygon([(5.2, 5.3), (40.4, 5.3), (40.4, 35.6), (5.2, 35.6)])
    far_mask, _ = _inside_convex_polygon([(20.2, 15.3), (58.4, 15.3), (58.4, 44.6), (20.2, 44.6)])
    assert (near_mask & far_mask).sum() > 100  # they do overlap
    np.testing.assert_array_equal(result.person_index[near_mask], near_index)
    np.testing.assert_array_equal(result.person_index[far_mask & ~near_mask], 1 - near_index)
    np.testing.assert_allclose(result.depth[near_mask], 2.0, rtol=1e-6)
    np.testing.assert_allclose(result.depth[far_mask & ~near_mask], 5.0, rtol=1e-6)
    np.testing.assert_array_equal(result.mask, near_mask | far_mask)
    # Default colours per person: the overlap shows the near person's colour.
    assert not np.array_equal(result.image[near_mask][0], result.image[far_mask & ~near_mask][0])


def test_nearer_face_wins_within_one_mesh_regardless_of_face_order():
    near_vertices, _ = _square([(5.2, 5.3), (40.4, 5.3), (40.4, 35.6), (5.2, 35.6)], 2.0)
    far_vertices, _ = _square([(20.2, 15.3), (58.4, 15.3), (58.4, 44.6), (20.2, 44.6)], 5.0)
    vertices = np.concatenate((near_vertices, far_vertices))
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    forward = _render(vertices, faces)
    backward = _render(vertices, faces[::-1].copy())
    np.testing.assert_array_equal(forward.depth, backward.depth)
    np.testing.assert_array_equal(forward.image, backward.image)
    np.testing.assert_array_equal(backward.face_index[forward.mask], 3 - forward.face_index[forward.mask])


# ------------------------------------------------------------------------------------------ analytic shapes
def test_sphere_silhouette_and_depth_match_the_analytic_sphere():
    size, focal, center = (96, 128), (110.0, 110.0), (63.5, 47.5)
    sphere_center, radius = np.array([0.15, -0.1, 3.0]), 0.8
    vertices, faces = _uv_sphere(sphere_center, radius)
    result = render_meshes(vertices, faces, focal, center, image_size=size)

    cols, rows = _pixel_grid(size)
    ray = np.stack(((cols - center[0]) / focal[0], (rows - center[1]) / focal[1], np.ones_like(cols)), axis=-1)
    # |t r - C|^2 = R^2 has a real root where the ray meets the sphere; the nearer root gives the depth (r_z = 1).
    a, b, c = (ray * ray).sum(-1), ray @ sphere_center, sphere_center @ sphere_center - radius**2
    discriminant = b * b - a * c
    analytic = discriminant >= 0
    iou = (result.mask & analytic).sum() / (result.mask | analytic).sum()
    assert iou > 0.98, iou
    both = result.mask & analytic
    depth = (b - np.sqrt(np.where(analytic, discriminant, 0))) / a
    # The inscribed polyhedron lies within ~0.001 R inside the sphere, so along rays at most 60 degrees off the
    # surface normal its depth is at most ~0.002 R behind the sphere's and never in front of it.
    interior = both & (discriminant > 0.25 * a * radius**2)
    assert interior.sum() > 1000
    difference = result.depth[interior] - depth[interior]
    assert difference.min() > -1e-5 and difference.max() < 2e-3 * radius, (difference.min(), difference.max())


def test_cube_silhouette_is_the_convex_hull_of_its_projected_corners():
    from scipy.spatial import ConvexHull

    rotation = torch.linalg.matrix_exp(torch.tensor([[0.0, -0.4, 0.3], [0.4, 0.0, -0.5], [-0.3, 0.5, 0.0]], dtype=torch.float64)).numpy()
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64) * 0.5
    vertices = corners @ rotation.T + np.array([0.05, 0.02, 3.2])
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = np.array([tri for q in quads for tri in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))])
    result = _render(vertices, faces)

    projected = vertices[:, :2] / vertices[:, 2:] * FOCAL + CENTER
    hull = projected[ConvexHull(projected).vertices]
    expected, unambiguous = _inside_convex_polygon(hull)
    assert unambiguous
    iou = (result.mask & expected).sum() / (result.mask | expected).sum()
    assert iou > 0.98
    np.testing.assert_array_equal(result.mask, expected)  # in fact exact: no pixel centre sits on the outline


# ---------------------------------------------------------------------------------------------------- shading
@pytest.mark.parametrize("reverse_winding", [False, True])
def test_flat_shading_follows_lamberts_law_on_both_sides(reverse_winding):
    light = np.array([0.2, -0.3, -1.0])
    light_unit = light / np.linalg.norm(light)
    color, ambient = np.array([200, 150, 100], dtype=np.uint8), 0.25
    # Square A faces the light exactly; square B is tilted by 60 degrees about the vertical axis.
    normal_a = light_unit
    tilt = np.array([[np.cos(1.0472), 0, np.sin(1.0472)], [0, 1, 0], [-np.sin(1.0472), 0, np.cos(1.0472)]])
    normal_b = tilt @ light_unit

    def square_facing(normal, center):  # corners of a square centred at `center` with the given normal
        u = np.cross(normal, [0.0, 1.0, 0.0])
        u /= np.linalg.norm(u)
        v = np.cross(normal, u)
        corners = center + 0.35 * np.array([u + v, -u + v, -u - v, u - v])
        return corners, np.array([[0, 1, 2], [0, 2, 3]])  # counter-clockwise about `normal`

    vertices_a, faces = square_facing(normal_a, np.array([-0.5, 0.0, 3.0]))
    vertices_b, _ = square_facing(normal_b, np.array([0.5, 0.0, 3.0]))
    if reverse_winding:
        faces = faces[:, ::-1].copy()
    result = _render([vertices_a, vertices_b], faces, colors=color, light_direction=light, ambient=ambient, smooth=False)
    for person, normal in ((0, normal_a), (1, normal_b)):
        pixels = result.image[result.person_index == person]
        assert len(pixels) > 20
        # Seen from the camera the square shows the side facing it; that side's normal is +-normal.
        camera_side = normal if normal @ np.array([-0.5 + person, 0.0, 3.0]) < 0 else -normal
        expected = color * (ambient + (1 - ambient) * max(0.0, camera_side @ light_unit))
        np.testing.assert_allclose(pixels, np.broadcast_to(expected, pixels.shape), atol=1.0)
    assert result.image[result.person_index == 0].mean() > result.image[result.person_index == 1].mean() + 20


def test_face_turned_away_from_the_light_gets_ambient_only():
    vertices, faces = _square([(10.2, 10.3), (50.4, 10.3), (50.4, 40.6), (10.2, 40.6)], 3.0)
    color = np.array([0.5, 0.5, 0.5])
    lit = _render(vertices, faces, colors=color, light_direction=(0, 0, -1), ambient=0.3)  # light at the camera
    unlit = _render(vertices, faces, colors=color, light_direction=(0, 0, 1), ambient=0.3)  # light behind the square
    np.testing.assert_array_equal(lit.image[lit.mask], np.round(0.5 * 255 * 1.0))
    np.testing.assert_array_equal(unlit.image[unlit.mask], np.round(0.5 * 255 * 0.3))


def test_smooth_shading_of_a_sphere_matches_its_analytic_normals():
    size, focal, center = (96, 128), (110.0, 110.0), (63.5, 47.5)
    sphere_center, radius = np.array([0.0, 0.0, 3.0]), 0.8
    vertices, faces = _uv_sphere(sphere_center, radius)
    light = np.array([0.5, -0.5, -1.0])
    result = render_meshes(vertices, faces, focal, center, image_size=size, colors=np.array([255, 255, 255], np.uint8),
                           light_direction=light, ambient=0.2)  # fmt: skip
    rows, cols = np.nonzero(result.mask)
    depth = result.depth[rows, cols].astype(np.float64)
    points = np.stack(((cols - center[0]) / focal[0] * depth, (rows - center[1]) / focal[1] * depth, depth), axis=1)
    normal = (points - sphere_center) / radius
    expected = 255 * (0.2 + 0.8 * np.clip(normal @ (light / np.linalg.norm(light)), 0, None))
    error = np.abs(result.image[rows, cols, 0] - expected)
    assert np.median(error) < 1.0 and np.percentile(error, 99) < 4.0, (np.median(error), error.max())
    flat = render_meshes(vertices, faces, focal, center, image_size=size, colors=np.array([255, 255, 255], np.uint8),
                         light_direction=light, ambient=0.2, smooth=False)  # fmt: skip
    assert np.median(np.abs(flat.image[rows, cols, 0] - expected)) >= np.median(error)


# ------------------------------------------------------------------------------------------------- compositing
def test_alpha_blending_over_a_background_is_exact():
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, size=(*SIZE, 3), dtype=np.uint8)
    vertices, faces = _square([(10.2, 10.3), (50.4, 10.3), (50.4, 40.6), (10.2, 40.6)], 3.0)
    color, alpha = np.array([10, 220, 131], dtype=np.uint8), 0.3183
    result = _render(vertices, faces, background=background, colors=color, ambient=1.0, alpha=alpha)

    blended = alpha * color.astype(np.float64) + (1 - alpha) * background.astype(np.float64)
    assert (np.abs(blended[result.mask] % 1 - 0.5) > 1e-3).all()  # no rounding ties
    expected = np.where(result.mask[..., None], np.round(blended), background).astype(np.uint8)
    np.testing.assert_array_equal(result.image, expected)
    inside, _ = _inside_convex_polygon([(10.2, 10.3), (50.4, 10.3), (50.4, 40.6), (10.2, 40.6)])
    np.testing.assert_array_equal(result.mask, inside)
    np.testing.assert_array_equal(result.rgba[..., 3], np.where(inside, 255, 0))
    # The caller's background is not modified.
    assert not np.shares_memory(result.image, background)


def test_points_behind_the_camera_do_not_render():
    in_front, faces = _square([(10.2, 10.3), (50.4, 10.3), (50.4, 40.6), (10.2, 40.6)], 3.0)
    behind = in_front * np.array([1.0, 1.0, -1.0])  # mirrored behind the camera: would project inside the image
    straddling = in_front.copy()
    straddling[0, 2] = -1.0  # one corner behind the camera: the triangles using it are skipped
    assert not _render(behind, faces).mask.any()
    assert not _render(straddling, faces).mask.any()  # both triangles use corner 0
    one_triangle = _render(straddling, np.array([[0, 1, 2], [1, 2, 3]]))
    expected, _ = _inside_convex_polygon([(50.4, 10.3), (50.4, 40.6), (10.2, 40.6)])
    np.testing.assert_array_equal(one_triangle.mask, expected)


@pytest.mark.parametrize(
    "vertices, faces",
    [
        (np.zeros((0, 5, 3)), np.zeros((0, 3), dtype=np.int64)),  # no people
        (np.zeros((2, 5, 3)), np.zeros((0, 3), dtype=np.int64)),  # no faces
        ([], np.zeros((0, 3), dtype=np.int64)),  # empty list
    ],
)
def test_empty_input_gives_the_background(vertices, faces):
    background = np.random.default_rng(1).integers(0, 256, size=(*SIZE, 3), dtype=np.uint8)
    result = _render(vertices, faces, background=background)
    np.testing.assert_array_equal(result.image, background)
    assert not result.mask.any() and np.isinf(result.depth).all() and (result.person_index == -1).all()
    black = _render(vertices, faces)
    assert black.image.shape == (*SIZE, 3) and not black.image.any()


# ------------------------------------------------------------------------------------------ API properties
def test_per_person_cameras_equal_separate_renders():
    vertices_a, faces = _square([(5.2, 5.3), (25.4, 5.3), (25.4, 25.6), (5.2, 25.6)], 2.0)
    vertices_b, _ = _square([(35.2, 20.3), (60.4, 20.3), (60.4, 45.6), (35.2, 45.6)], 4.0)
    focal = np.array([[60.0, 55.0], [80.0, 70.0]])
    center = np.array([[31.3, 23.8], [20.1, 30.2]])
    together = render_meshes([vertices_a, vertices_b], faces, focal, center, image_size=SIZE)
    for person, vertices in enumerate((vertices_a, vertices_b)):
        alone = render_meshes(vertices, faces, focal[person], center[person], image_size=SIZE,
                              colors=DEFAULT_COLORS[person])  # fmt: skip
        np.testing.assert_array_equal(together.person_index == person, alone.mask)
        np.testing.assert_array_equal(together.image[alone.mask], alone.image[alone.mask])


def test_chunked_rasterising_equals_unchunked(monkeypatch):
    vertices, faces = _uv_sphere([0.1, 0.0, 3.0], 0.9, latitudes=24, longitudes=48)
    whole = _render(vertices, faces)
    monkeypatch.setattr(rendering, "_DEFAULT_MAX_SPANS", 500)  # ~10 (triangle, row) chunks
    chunked = _render(vertices, faces, max_fragments=500)  # ~10 fragment chunks
    for name in ("image", "mask", "depth", "person_index", "face_index"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))


def test_torch_and_numpy_inputs_agree_and_renders_are_deterministic():
    vertices, faces = _uv_sphere([0.1, 0.0, 3.0], 0.9, latitudes=24, longitudes=48)
    first = _render(vertices[None], faces)
    again = _render(vertices[None], faces)
    from_torch = _render(torch.tensor(vertices, dtype=torch.float32, requires_grad=True)[None], torch.tensor(faces))
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.depth, again.depth)
    assert (first.mask != from_torch.mask).sum() <= 2  # float32 vertices move edges by ~1e-6 px
    assert first.image.shape == (*SIZE, 3) and first.image.dtype == np.uint8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vertices": np.zeros((2, 4))}, "vertices of person 0 must be"),
        ({"vertices": np.zeros((1, 2, 3, 3))}, "vertices must be"),
        ({"faces": np.array([[0, 1, 9]])}, "has 4 vertices"),
        ({"vertices": [np.ones((4, 3)), np.array([[0, 0, 1], [0, 0, 1], [0, np.nan, 1], [0, 0, 1]])]}, "person 1 contain NaN"),
        ({"faces": np.array([[0.0, 1.0, 2.0]])}, "integer array"),
        ({"focal_length": (0.0, 50.0)}, "focal_length must be finite and positive"),
        ({"focal_length": np.ones((3, 2))}, "focal_length must be"),
        ({"image_size": None}, "needs image_size"),
        ({"image_size": (0, 10)}, "positive integers"),
        ({"background": np.zeros((*SIZE, 3), dtype=np.float32)}, "uint8 RGB image"),
        ({"background": np.zeros((10, 10, 3), dtype=np.uint8)}, "differs from the background"),
        ({"alpha": 1.5}, "alpha must be in"),
        ({"colors": np.array([2.0, 0.0, 0.0])}, "colors must be"),
        ({"light_direction": (0.0, 0.0, 0.0)}, "light_direction"),
    ],
)
def test_bad_input_raises_a_specific_error(kwargs, message):
    arguments = {
        "vertices": _backproject([(5.0, 5.0), (20.0, 5.0), (5.0, 20.0), (20.0, 20.0)], 2.0),
        "faces": np.array([[0, 1, 2]]),
        "focal_length": FOCAL,
        "principal_point": CENTER,
        "image_size": SIZE,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        render_meshes(**arguments)


# --------------------------------------------------------------------------------------------- a person
def test_synthetic_person_silhouette_covers_its_projected_joints(request):
    try:
        from smplest_hf.synthetic import write_synthetic_body_model  # noqa: F401  (what the fixture uses)
    except ImportError as error:
        pytest.skip(f"the synthetic body model (smplest_hf.synthetic, written in parallel) is not importable yet: {error}")
    body_model_dir = request.getfixturevalue("synthetic_body_model_dir")
    from smplest_hf.models.smplest_x.body_model import SmplxBodyModel

    body_model = SmplxBodyModel.from_directory(body_model_dir)
    zeros = lambda *shape: torch.zeros(1, *shape)
    # SMPL-X is y-up; turning it 180 degrees about x stands it upright in the y-down camera, facing the camera.
    upright = torch.tensor([[np.pi, 0.0, 0.0]])
    with torch.no_grad():
        output = body_model(upright, zeros(21, 3), zeros(15, 3), zeros(15, 3), zeros(3), zeros(10), zeros(10),
                            transl=torch.tensor([[0.0, 0.0, 7.0]]))  # fmt: skip
    vertices, joints = output.vertices[0].double().numpy(), output.smplx_joints[0, :22].double().numpy()
    size, focal, center = (256, 192), (600.0, 600.0), (95.5, 127.5)
    result = render_meshes(vertices, body_model.faces, focal, center, image_size=size)
    projected = joints[:, :2] / joints[:, 2:] * focal + center
    pixels = np.round(projected).astype(int)
    assert ((pixels >= 0) & (pixels < [size[1], size[0]])).all()
    covered = result.mask[pixels[:, 1], pixels[:, 0]]
    assert covered.mean() >= 0.95, projected[~covered]
    # Body joints lie inside the body: the surface in front of each is nearer than the joint itself.
    assert (result.depth[pixels[:, 1], pixels[:, 0]][covered] < joints[covered, 2]).all()
    # Upright: the head (joint 15) is above the pelvis (joint 0) in the image, and the person is lit from the front.
    assert projected[15, 1] < projected[0, 1]
    assert result.image[result.mask].mean() > 0.6 * 255 * DEFAULT_COLORS[0].mean()

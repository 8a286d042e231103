"""A dependency-free triangle rasteriser (torch only) for overlays and synthetic training images.

Headless rendering after a plain ``pip install``: no OpenGL, OSMesa or EGL. Meshes of several people go through
one z-buffer, are shaded with Lambert + ambient light (both sides of every face lit, so open meshes and the
insides of mouths look right) and are alpha-blended over a background image. Everything runs as a few dozen
vectorised torch operations on the device of the input vertices (GPU when they are on one).

Camera: the project's OpenCV pinhole — camera frame x right, y down, z forward (visible points have z > 0), a
point ``(X, Y, Z)`` lands on pixel ``(fx * X / Z + cx, fy * Y / Z + cy)``, and pixel ``(u, v)`` (column, row) is
the unit square *centred* on the integer coordinates ``(u, v)`` (as in ``cropping.py`` and ``cv2.warpAffine``).
A pixel is covered by a triangle when its centre lies inside the projected triangle or on its boundary.

How it is fast without a per-triangle Python loop (scanline expansion):

1. per triangle (vectorised): project, cull (behind the near plane, degenerate, off-image), and turn the edges
   into lines ``x = alpha * y + beta`` bounding each pixel row from the left or the right, plus the plane of
   ``1 / depth`` (affine in screen space over a planar triangle);
2. per (triangle, pixel row): the span ``[ceil(max(left lines)), floor(min(right lines))]`` is exactly the
   columns whose centres lie inside — no bounding-box pixels outside the triangle are visited. Triangles are
   grouped by row count (rounded up to a power of two), so spans form (triangles, rows) grids on which the
   per-triangle coefficients broadcast without per-span gathers;
3. per covered pixel: interpolate depth along its span, pack ``(float32 depth bits << 24) | triangle id`` into
   one int64 key (positive float32 bit patterns sort like the floats), and ``scatter_reduce(amin)`` the keys into
   a z-buffer over the meshes' bounding window: nearest surface wins, ties go to the lower triangle id, so the
   result is deterministic;
4. shade only the winning pixels: perspective-correct barycentrics, smooth (vertex) or flat (face) normals turned
   towards the viewer, Lambert + ambient, alpha blend.

Triangles and pixel fragments are processed in chunks of bounded size, so memory stays bounded for any image
size and mesh count (beyond the output images themselves). Triangles with a vertex at ``z <= near`` are skipped,
not clipped: a person crossing the camera plane loses those triangles rather than drawing garbage.

```python
>>> import numpy as np
>>> from smplest_hf.export.rasterizer import render_meshes
>>> vertices = np.array([[[-1.0, -1.0, 4.0], [1.0, -1.0, 4.0], [0.0, 1.0, 4.0]]])  # (people, vertices, 3)
>>> faces = np.array([[0, 1, 2]])
>>> result = render_meshes(vertices, faces, focal_length=(100.0, 100.0), principal_point=(32.0, 24.0),
...                        image_size=(48, 64))
>>> result.image.shape, bool(result.mask.any()), float(result.depth[24, 32])
((48, 64, 3), True, 4.0)

```
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..models.smplest_x.geometry import project_points

# One colour per person (RGB in [0, 1]), cycled: soft, distinguishable tones that read well over photographs.
DEFAULT_COLORS = np.array(
    [
        [0.65, 0.74, 0.86],  # light blue
        [0.90, 0.70, 0.55],  # peach
        [0.60, 0.82, 0.62],  # mint
        [0.85, 0.62, 0.80],  # lilac
        [0.93, 0.85, 0.55],  # sand
        [0.55, 0.80, 0.82],  # teal
        [0.88, 0.58, 0.58],  # rose
        [0.75, 0.75, 0.75],  # grey
    ],
    dtype=np.float32,
)
# Light from slightly above the camera (y is down, z forward): direction from the surface towards the light.
DEFAULT_LIGHT_DIRECTION = (0.0, -0.3, -1.0)

_FACE_ID_BITS = 24  # low bits of a z-buffer key hold the triangle id, the high bits the float32 depth pattern
_MAX_TRIANGLES = 1 << _FACE_ID_BITS
_EMPTY_KEY = torch.iinfo(torch.int64).max
_DEFAULT_MAX_FRAGMENTS = 1 << 20  # pixel fragments per chunk: ~50 MB of temporaries
_DEFAULT_MAX_SPANS = 1 << 17  # (triangle, row) spans per chunk: ~30 MB of temporaries

@dataclass(frozen=True)
class RenderResult:
    """What `render_meshes` produced, as NumPy arrays of the image's size `(H, W)`.

    Attributes:
        image: (H, W, 3) uint8 RGB, the shaded meshes blended over the background (black when none was given).
        mask: (H, W) bool, True where a mesh covers the pixel centre.
        depth: (H, W) float32, camera-frame z of the nearest surface at the pixel centre; `inf` where empty.
        person_index: (H, W) int32, which mesh (person) is visible; -1 where empty.
        face_index: (H, W) int32, which face of that person's mesh is visible; -1 where empty.
    """

    image: np.ndarray
    mask: np.ndarray
    depth: np.ndarray
    person_index: np.ndarray
    face_index: np.ndarray

    @property
    def rgba(self) -> np.ndarray:
        """(H, W, 4) uint8: `image` with the mask as alpha (255 on the meshes, 0 elsewhere), e.g. for PNG export."""
        return np.concatenate((self.image, self.mask[..., None].astype(np.uint8) * 255), axis=-1)


def render_meshes(
    vertices,
    faces,
    focal_length,
    principal_point,
    image_size: Sequence[int] | None = None,
    background: np.ndarray | None = None,
    colors=None,
    light_direction: Sequence[float] = DEFAULT_LIGHT_DIRECTION,
    ambient: float = 0.4,
    alpha: float = 1.0,
    smooth: bool = True,
    near: float = 1e-2,
    device: str | torch.device | None = None,
    max_fragments: int = _DEFAULT_MAX_FRAGMENTS,
) -> RenderResult:
    """Rasterise the meshes of `P` people into one image with a shared z-buffer.

    Args:
        vertices: (P, V, 3) or (V, 3) array/tensor, or a list of P (V_p, 3) arrays; camera-frame coordinates
            (x right, y down, z forward, e.g. metres). Gradients are not tracked.
        faces: (F, 3) integer vertex indices shared by all people, or (with a list of vertices) a list of P
            (F_p, 3) arrays, one per person.
        focal_length: `(fx, fy)` in pixels, or (P, 2), one camera per person (as `post_process_mesh_recovery`
            returns). Different intrinsics per person still share one z-buffer comparing camera-frame z.
        principal_point: `(cx, cy)` in pixels, or (P, 2).
        image_size: `(height, width)`; may be omitted when `background` is given.
        background: (H, W, 3) uint8 RGB image to draw over, or None for black (use `RenderResult.rgba` /
            `mask` for transparency).
        colors: (3,) or (P, 3) RGB base colour per person, floats in [0, 1] or uint8 in [0, 255];
            None cycles `DEFAULT_COLORS`.
        light_direction: (3,) direction from the surface towards a distant light, camera frame; normalised here.
        ambient: share of the colour every lit surface gets regardless of orientation; the remaining
            `1 - ambient` scales with `max(0, normal . light)`. `ambient=1` gives flat, unshaded colours.
        alpha: opacity of the meshes over the background, in [0, 1]. A covered pixel becomes
            `round(alpha * shaded + (1 - alpha) * background)` (computed in float32, rounding half to even).
        smooth: interpolate per-vertex normals (True) or use per-face normals (False).
        near: triangles with any vertex at `z <= near` are skipped.
        device: where to compute; defaults to the vertices' device (CPU for NumPy input).
        max_fragments: most pixel fragments handled at once; bounds temporary memory (~50 bytes each).

    Returns:
        [`RenderResult`] with `image`, `mask`, `depth`, `person_index`, `face_index`.

    Raises:
        ValueError: for inputs of the wrong shape, type or range, naming the argument and what is expected.
    """
    vertex_list, face_list = _as_mesh_lists(vertices, faces)
    num_people = len(vertex_list)
    height, width, background = _check_image(image_size, background)
    if device is None:
        device = vertex_list[0].device if num_people and isinstance(vertex_list[0], torch.Tensor) else "cpu"
    device = torch.device(device)
    focal = _per_person(focal_length, num_people, "focal_length", positive=True)
    center = _per_person(principal_point, num_people, "principal_point", positive=False)
    base_colors = _check_colors(colors, num_people)
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1] (mesh opacity over the background), got {alpha}.")
    if not 0.0 <= float(ambient) <= 1.0:
        raise ValueError(f"ambient must be in [0, 1] (share of unshaded light), got {ambient}.")
    light = np.asarray(light_direction, dtype=np.float64).reshape(-1)
    if light.shape != (3,) or not np.isfinite(light).all() or not np.linalg.norm(light) > 0:
        raise ValueError(f"light_direction must be a finite non-zero 3-vector (camera frame), got {light_direction!r}.")
    if int(max_fragments) < 1:
        raise ValueError(f"max_fragments must be a positive integer, got {max_fragments}.")

    # A copy: backgrounds are often read-only views (np.asarray of a PIL image), which torch refuses to share.
    background_tensor = torch.tensor(background, device=device) if background is not None else None
    face_counts = [len(f) for f in face_list]
    total_faces = sum(face_counts)
    if num_people == 0 or total_faces == 0:
        return _assemble(height, width, background_tensor, None, device)
    if total_faces >= _MAX_TRIANGLES:
        raise ValueError(f"At most {_MAX_TRIANGLES - 1} faces can be rendered in one call, got {total_faces}; split the people over several calls.")

    # One flat mesh for all people: vertex ids offset per person; per-vertex intrinsics only when they differ.
    vertex_counts = [len(v) for v in vertex_list]
    vertex_offsets = np.concatenate(([0], np.cumsum(vertex_counts)[:-1]))
    face_offsets = np.concatenate(([0], np.cumsum(face_counts)[:-1]))
    all_vertices = torch.cat([torch.as_tensor(v).detach().to(device=device, dtype=torch.float64) for v in vertex_list])
    all_faces = torch.cat([torch.as_tensor(f).to(device=device, dtype=torch.int64) + int(o) for f, o in zip(face_list, vertex_offsets)])
    finite = torch.isfinite(all_vertices).all(1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0, 0])
        person = int(np.searchsorted(vertex_offsets, bad, side="right")) - 1
        raise ValueError(f"vertices of person {person} contain NaN or infinite values (vertex {bad - int(vertex_offsets[person])}); check the body model output before rendering.")
    face_person = torch.repeat_interleave(torch.arange(num_people, device=device), torch.tensor(face_counts, device=device))
    if (focal == focal[0]).all() and (center == center[0]).all():
        camera = tuple(torch.as_tensor(c[0], device=device) for c in (focal, center))
    else:
        vertex_person = torch.repeat_interleave(torch.arange(num_people, device=device), torch.tensor(vertex_counts, device=device))
        camera = tuple(torch.as_tensor(c, device=device).index_select(0, vertex_person) for c in (focal, center))

    triangles = _setup_triangles(all_vertices, all_faces, camera, height, width, float(near))
    if triangles is None:
        return _assemble(height, width, background_tensor, None, device)
    window = triangles["window"]
    keys = torch.full((window.height * window.width,), _EMPTY_KEY, dtype=torch.int64, device=device)
    _rasterize(triangles, keys, max(int(max_fragments), width), max(_DEFAULT_MAX_SPANS, height))
    covered = (keys != _EMPTY_KEY).nonzero().squeeze(1)  # indices into the window
    if covered.numel() == 0:
        return _assemble(height, width, background_tensor, None, device)
    winner_keys = keys.index_select(0, covered)
    del keys
    kept = winner_keys & (_MAX_TRIANGLES - 1)  # index into the set-up (kept) triangles
    depth = (winner_keys >> _FACE_ID_BITS).to(torch.int32).view(torch.float32)
    row = torch.div(covered, window.width, rounding_mode="floor")
    column = covered - row * window.width + window.left
    row += window.top
    face = triangles["face"].index_select(0, kept)
    person = face_person.index_select(0, face)

    vertex_normals = _vertex_normals(all_vertices, all_faces) if smooth else None
    light_unit = torch.as_tensor(light / np.linalg.norm(light), dtype=torch.float32, device=device)
    step = max(int(max_fragments) // 4, width)  # shading temporaries (~40 bytes a pixel) stay bounded too
    intensity = torch.cat([
        _shade(triangles, kept[a : a + step], column[a : a + step], row[a : a + step], depth[a : a + step],
               vertex_normals, light_unit, float(ambient))
        for a in range(0, len(covered), step)
    ])  # fmt: skip
    color = torch.as_tensor(base_colors, device=device).index_select(0, person) * intensity[:, None]  # 0..255 scale
    fragments = {
        "pixels": row * width + column,
        "color": color,
        "depth": depth,
        "person": person,
        "face": face - torch.as_tensor(face_offsets, device=device).index_select(0, person),
        "alpha": float(alpha),
    }
    return _assemble(height, width, background_tensor, fragments, device)


# ------------------------------------------------------------------------------------------------ validation
def _as_mesh_lists(vertices, faces) -> tuple[list, list]:
    """Normalise the accepted vertex/face layouts to two equal-length lists of (V_p, 3) and (F_p, 3)."""
    if isinstance(vertices, (list, tuple)):
        vertex_list = [v if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64) for v in vertices]
    else:
        if not isinstance(vertices, torch.Tensor):
            vertices = np.asarray(vertices, dtype=np.float64)
        if vertices.ndim == 2:
            vertices = vertices[None]
        if vertices.ndim != 3:
            raise ValueError(f"vertices must be (P, V, 3), (V, 3) or a list of (V, 3) arrays, got shape {tuple(vertices.shape)}.")
        vertex_list = list(vertices)
    for index, v in enumerate(vertex_list):
        if v.ndim != 2 or v.shape[-1] != 3:
            raise ValueError(f"vertices of person {index} must be (V, 3) camera-frame points, got shape {tuple(v.shape)}.")
    if isinstance(faces, (list, tuple)) and len(faces) and np.ndim(faces[0]) == 2:
        face_list = [np.asarray(f.cpu() if isinstance(f, torch.Tensor) else f) for f in faces]
        if len(face_list) != len(vertex_list):
            raise ValueError(f"faces is a list of {len(face_list)} meshes but vertices holds {len(vertex_list)} people; give one (F, 3) array per person or one shared (F, 3) array.")
    else:
        shared = np.asarray(faces.cpu() if isinstance(faces, torch.Tensor) else faces)
        if shared.size == 0:
            shared = shared.reshape(0, 3)
        face_list = [shared] * len(vertex_list)
    for index, (f, v) in enumerate(zip(face_list, vertex_list)):
        if f.ndim != 2 or f.shape[1] != 3 or not (np.issubdtype(f.dtype, np.integer) or f.size == 0):
            raise ValueError(f"faces (person {index}) must be an (F, 3) integer array of vertex indices, got shape {f.shape} dtype {f.dtype}.")
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise ValueError(f"faces (person {index}) index vertices {int(f.min())}..{int(f.max())} but that mesh has {len(v)} vertices.")
    return vertex_list, face_list


def _check_image(image_size, background) -> tuple[int, int, np.ndarray | None]:
    if background is not None:
        background = np.asarray(background)
        if background.ndim != 3 or background.shape[2] != 3 or background.dtype != np.uint8:
            raise ValueError(f"background must be an (H, W, 3) uint8 RGB image, got shape {background.shape} dtype {background.dtype}.")
        if image_size is not None and tuple(int(s) for s in image_size) != background.shape[:2]:
            raise ValueError(f"image_size {tuple(image_size)} differs from the background's (height, width) {background.shape[:2]}; omit image_size or make them agree.")
        image_size = background.shape[:2]
    if image_size is None:
        raise ValueError("render_meshes needs image_size=(height, width) when no background image is given.")
    if len(image_size) != 2 or any(int(s) != s or int(s) < 1 for s in image_size):
        raise ValueError(f"image_size must be (height, width) positive integers, got {image_size!r}.")
    return int(image_size[0]), int(image_size[1]), background


def _per_person(value, num_people: int, name: str, positive: bool) -> np.ndarray:
    array = np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64)
    if array.shape == (2,):
        array = np.broadcast_to(array, (num_people, 2))
    if array.shape != (num_people, 2):
        raise ValueError(f"{name} must be (x, y) or one (x, y) per person, shape ({num_people}, 2); got shape {array.shape}.")
    if not np.isfinite(array).all() or (positive and not (array > 0).all()):
        raise ValueError(f"{name} must be finite{' and positive' if positive else ''}, got {array.tolist()}.")
    return np.array(array)  # a writable copy (torch warns about read-only broadcast views)


def _check_colors(colors, num_people: int) -> np.ndarray:
    """(P, 3) float32 base colours on the 0..255 scale (kept there so uint8 colours stay exact)."""
    if colors is None:
        return DEFAULT_COLORS[np.arange(num_people) % len(DEFAULT_COLORS)] * np.float32(255)
    array = np.asarray(colors.cpu() if isinstance(colors, torch.Tensor) else colors)
    scale = 1.0 if array.dtype == np.uint8 else 255.0
    array = array.astype(np.float32)
    if array.shape == (3,):
        array = np.broadcast_to(array, (num_people, 3))
    if array.shape != (num_people, 3) or not np.isfinite(array).all() or array.min() < 0 or array.max() > 255.0 / scale:
        raise ValueError(f"colors must be (3,) or ({num_people}, 3) RGB, floats in [0, 1] or uint8; got shape {array.shape}, range {array.min() if array.size else None}..{array.max() if array.size else None}.")
    return np.array(array * np.float32(scale))


# ------------------------------------------------------------------------------------------------ rasterising
@dataclass(frozen=True)
class _Window:
    """The image rows/columns any kept triangle can touch: the z-buffer covers only this window."""

    top: int
    left: int
    height: int
    width: int


def _setup_triangles(vertices, faces, camera, height, width, near) -> dict | None:
    """Project and cull all triangles; return per-triangle rasterising and shading data of the survivors.

    Args:
        vertices: (V, 3) float64 camera-frame points. faces: (F, 3) int64 vertex ids.
        camera: `(focal_length, principal_point)`, float64 tensors of shape (2,), or (V, 2) per vertex.

    The edge functions divided by the signed doubled area are the screen-space barycentric coordinates
    `lambda_i(x, y) = a_i x + b_i y + c_i` for either winding: inside <=> all three >= 0. Per-corner and
    per-edge values are (3, K) tensors (one torch call handles all three), per-triangle ones (K,).
    """
    z = vertices[:, 2]
    corner_ids = faces.T.reshape(-1)  # (3F,): all first corners, then all second, then all third
    # Depth 1 for vertices behind the near plane keeps their (unused) projections finite: their triangles are culled.
    safe_vertices = torch.cat((vertices[:, :2], torch.where(z > near, z, 1.0)[:, None]), dim=1)
    screen_x, screen_y = project_points(safe_vertices, *camera).T
    corner_x, corner_y, corner_z = (values.index_select(0, corner_ids).view(3, -1) for values in (screen_x, screen_y, z))
    area2 = (corner_x[1] - corner_x[0]) * (corner_y[2] - corner_y[0]) - (corner_x[2] - corner_x[0]) * (corner_y[1] - corner_y[0])
    row_min = corner_y.amin(0).ceil_().clamp_(min=0)
    row_max = corner_y.amax(0).floor_().clamp_(max=height - 1)
    column_min = corner_x.amin(0).ceil_().clamp_(min=0)
    column_max = corner_x.amax(0).floor_().clamp_(max=width - 1)
    keep = (
        (corner_z.amin(0) > near)
        & (area2 != 0) & torch.isfinite(area2)  # degenerate: its edge pixels belong to the neighbours
        & (row_max >= row_min) & (column_max >= column_min)  # off-image, or between pixel centres (also NaN)
    )  # fmt: skip
    kept = keep.nonzero().squeeze(1)
    if kept.numel() == 0:
        return None
    corners = torch.cat((corner_x, corner_y, corner_z, row_min[None], row_max[None], column_min[None], column_max[None], area2[None]))
    corners = corners.index_select(1, kept)  # one gather for all per-triangle arrays
    corner_x, corner_y, inverse_z = corners[0:3], corners[3:6], 1.0 / corners[6:9]
    row_min, row_max, column_min, column_max, inverse_area2 = corners[9], corners[10], corners[11], corners[12], 1.0 / corners[13]
    top, left = int(row_min.min()), int(column_min.min())
    window = _Window(top, left, int(row_max.max()) - top + 1, int(column_max.max()) - left + 1)

    # Edge i runs from corner i + 1 to corner i + 2 (opposite corner i).
    x_next, y_next = corner_x.roll(-1, 0), corner_y.roll(-1, 0)
    dx, dy = corner_x.roll(-2, 0) - x_next, corner_y.roll(-2, 0) - y_next
    edge_a, edge_b, edge_c = -dy * inverse_area2, dx * inverse_area2, (dy * x_next - dx * y_next) * inverse_area2
    # On pixel row y, edge i bounds x by the line x = alpha_i y + beta_i: from the left where a_i > 0, from the
    # right where a_i < 0 (a horizontal edge, a_i == 0, only limits the rows, which the row range already does).
    # Every triangle has one or two edges of each kind (the a_i sum to zero): slots take the first and the last
    # of them, the same edge twice when there is one.
    alpha, beta = -edge_b / edge_a, -edge_c / edge_a  # inf/NaN for horizontal edges, never selected
    slots = []
    for kind in (edge_a > 0, edge_a < 0):
        slots.append(torch.where(kind[0], 0, torch.where(kind[1], 1, 2)))
        slots.append(torch.where(kind[2], 2, torch.where(kind[1], 1, 0)))
    slots = torch.stack(slots)  # (4, K): left, left, right, right
    raster = torch.cat((
        row_min[None], (row_max - row_min + 1)[None],
        alpha.gather(0, slots), beta.gather(0, slots),
        # 1/z is affine in screen space over a planar triangle: sum_i lambda_i / z_i.
        (edge_a * inverse_z).sum(0, keepdim=True), (edge_b * inverse_z).sum(0, keepdim=True), (edge_c * inverse_z).sum(0, keepdim=True),
    ))  # fmt: skip

    # Shading: barycentrics relative to corner 0 (small numbers, so float32 is enough), lambda_0 = 1 - l1 - l2.
    shading = torch.cat((corner_x[:1], corner_y[:1], edge_a[1:2], edge_b[1:2], edge_a[2:], edge_b[2:], inverse_z)).float()
    kept_faces = faces.index_select(0, kept)
    normal = _face_normals(vertices, kept_faces)
    # With z > 0, sign(area2) = sign(v0 . n): a positive screen area means the normal points away from the camera
    # (at the origin). Such faces are seen from behind and shaded with the normal flipped (both sides lit).
    facing = torch.where(inverse_area2 > 0, -1.0, 1.0)
    normal = normal.T * (facing / _length(normal).clamp(min=1e-300))
    return {
        "face": kept,
        "window": window,
        # (13, K) float64: row_min, row_count, alpha (2 left, 2 right), beta (same), 1/z plane a, b, c
        "raster": raster,
        "shading": shading,  # (9, K) float32: x0, y0, a1, b1, a2, b2, 1/z0, 1/z1, 1/z2
        "corners": kept_faces.T.contiguous(),  # (3, K) vertex ids
        "normal": normal.float().contiguous(),  # (3, K) unit face normals facing the camera
        "facing": facing.float(),
    }


def _chunk_bounds(counts: torch.Tensor, budget: int) -> list[tuple[int, int]]:
    """Consecutive index ranges of `counts` whose sums stay within `budget` (a single larger count gets its own)."""
    cumulative = counts.cpu().cumsum(0).numpy()
    bounds, start, done = [], 0, 0
    while start < len(cumulative):
        end = max(int(np.searchsorted(cumulative, done + budget, side="right")), start + 1)
        bounds.append((start, end))
        done, start = int(cumulative[end - 1]), end
    return bounds


def _rasterize(triangles: dict, keys: torch.Tensor, max_fragments: int, max_spans: int) -> None:
    """Scatter the `(depth, triangle)` key of every covered pixel centre into `keys` (min wins), in chunks.

    Triangles are grouped by their number of pixel rows rounded up to a power of two: a group's spans form a
    (triangles, rows) grid on which per-triangle coefficients broadcast, so no per-span gathers are needed
    (padding rows are masked out and cost at most twice the elementwise work).
    """
    row_count = triangles["raster"][1]
    group = torch.ceil(torch.log2(row_count)).long()  # 1 row -> 0, 2 -> 1, 3..4 -> 2, ...
    for level in torch.unique(group).tolist():
        rows = 1 << level
        members = (group == level).nonzero().squeeze(1)
        chunk = max(max_spans // rows, 1)
        for first in range(0, len(members), chunk):
            _rasterize_group(triangles, members[first : first + chunk], rows, keys, max_fragments)


def _rasterize_group(triangles: dict, triangle: torch.Tensor, rows: int, keys: torch.Tensor, max_fragments: int) -> None:
    """Rasterise triangles (ids `triangle`) that span at most `rows` pixel rows."""
    device, window = keys.device, triangles["window"]
    raster = triangles["raster"].index_select(1, triangle)[:, :, None]  # (13, T, 1): broadcasts over rows
    row_min, row_count, alpha, beta, plane = raster[0], raster[1], raster[2:6], raster[6:10], raster[10:13]
    offset = torch.arange(rows, device=device, dtype=torch.float64)
    y = row_min + offset  # (T, R) pixel row, exact in float64
    left = torch.maximum(alpha[0] * y + beta[0], alpha[1] * y + beta[1]).ceil_().clamp_(min=window.left)
    right = torch.minimum(alpha[2] * y + beta[2], alpha[3] * y + beta[3]).floor_().clamp_(max=window.left + window.width - 1)
    live = (right >= left) & (offset < row_count)
    left = torch.where(live, left, window.left)
    count = torch.where(live, right - left + 1, 0.0).long().view(-1)
    # Inverse depth at each span's first pixel plus a per-pixel step: interpolating from the span start keeps
    # float32 accurate (no large `x * slope` cancellation).
    start_inverse_z = (plane[0] * left + plane[1] * y + plane[2]).float().view(-1)
    slope = plane[0].float().expand_as(left).reshape(-1)
    first_pixel = ((y - window.top) * window.width + (left - window.left)).long().view(-1)
    span_triangle = triangle[:, None].expand_as(left).reshape(-1)

    for span_first, span_last in _chunk_bounds(count, max_fragments):
        span_count = count[span_first:span_last]
        fragment_span = torch.repeat_interleave(span_count)
        if fragment_span.numel() == 0:
            continue
        local = torch.arange(len(fragment_span), device=device) - (torch.cumsum(span_count, 0) - span_count).index_select(0, fragment_span)
        fragment_span += span_first
        pixel = first_pixel.index_select(0, fragment_span) + local
        inverse_z = start_inverse_z.index_select(0, fragment_span) + slope.index_select(0, fragment_span) * local.to(torch.float32)
        # A positive float32's bit pattern orders like its value, so (bits << 24 | id) orders by depth, then id.
        depth_bits = torch.reciprocal(inverse_z.clamp_(min=1e-30)).view(torch.int32).to(torch.int64)
        key = (depth_bits << _FACE_ID_BITS) | span_triangle.index_select(0, fragment_span)
        keys.scatter_reduce_(0, pixel, key, reduce="amin")


# -------------------------------------------------------------------------------------------------- shading
def _length(vectors: torch.Tensor) -> torch.Tensor:
    """(N,) Euclidean lengths of the rows of an (N, 3) tensor (torch's norm over a short dim is slow on CPU)."""
    return (vectors[:, 0] * vectors[:, 0] + vectors[:, 1] * vectors[:, 1] + vectors[:, 2] * vectors[:, 2]).sqrt_()


def _face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(F, 3) `(v1 - v0) x (v2 - v0)` per face (length = twice the area), in the vertices' dtype."""
    corners = vertices.index_select(0, faces.T.reshape(-1)).view(3, -1, 3)  # (corner, face, xyz)
    u, v = (corners[1] - corners[0]).T, (corners[2] - corners[0]).T  # (3, F) each
    return torch.stack((u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]), 1)


def _vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(3, V) float32 unit area-weighted vertex normals (zero for unused vertices), one row per axis."""
    face_normal = _face_normals(vertices, faces).T  # (3, F)
    corner_ids = faces.T.reshape(-1)
    # bincount with weights sums each face's normal onto its three corners (faster than index_add_ on CPU).
    normals = torch.stack([torch.bincount(corner_ids, weights=component.repeat(3), minlength=len(vertices)) for component in face_normal])
    return (normals / _length(normals.T).clamp(min=1e-300)).float()


def _shade(triangles, kept, column, row, depth, vertex_normals, light_unit, ambient) -> torch.Tensor:
    """(M,) float32 light intensity in [ambient, 1] at covered pixels `(column, row)` showing kept triangle `kept`.

    Vectors are kept as (3, M) rows: torch's CPU kernels are much faster on those than on (M, 3) broadcasts.
    """
    normal = triangles["normal"].index_select(1, kept)  # (3, M)
    if vertex_normals is not None:
        x0, y0, a1, b1, a2, b2, *inverse_z = triangles["shading"].index_select(1, kept)
        dx, dy = column.to(torch.float32) - x0, row.to(torch.float32) - y0
        screen_weight_1, screen_weight_2 = a1 * dx + b1 * dy, a2 * dx + b2 * dy
        # Perspective-correct corner weights: lambda_i / z_i, normalised by their sum, 1 / z.
        weights = (1.0 - screen_weight_1 - screen_weight_2, screen_weight_1, screen_weight_2)
        corner_ids = triangles["corners"].index_select(1, kept)
        interpolated = sum(
            vertex_normals.index_select(1, ids) * (weight * inverse * depth) for ids, weight, inverse in zip(corner_ids, weights, inverse_z)
        )
        interpolated *= triangles["facing"].index_select(0, kept)  # turned towards the viewer, like the face
        length = _length(interpolated.T)
        # Keep the face normal where the interpolated one vanishes (opposite vertex normals).
        normal = torch.where(length > 1e-6, interpolated / length.clamp(min=1e-6), normal)
    lambert = (light_unit @ normal).clamp_(min=0)
    return ambient + (1.0 - ambient) * lambert


def _assemble(height, width, background, fragments, device) -> RenderResult:
    """Blend the shaded fragments over the background and build the NumPy result."""
    if background is None:
        image = torch.zeros((height * width, 3), dtype=torch.uint8, device=device)
    else:
        image = background.reshape(-1, 3).clone()
    depth = torch.full((height * width,), torch.inf, dtype=torch.float32, device=device)
    person_index = torch.full((height * width,), -1, dtype=torch.int32, device=device)
    face_index = torch.full((height * width,), -1, dtype=torch.int32, device=device)
    if fragments is not None:
        pixels, alpha = fragments["pixels"], fragments["alpha"]
        color = fragments["color"]
        if alpha < 1.0:
            color = alpha * color + (1.0 - alpha) * image.index_select(0, pixels).to(torch.float32)
        image.index_copy_(0, pixels, color.round_().clamp_(0, 255).to(torch.uint8))
        depth.index_copy_(0, pixels, fragments["depth"])
        person_index.index_copy_(0, pixels, fragments["person"].to(torch.int32))
        face_index.index_copy_(0, pixels, fragments["face"].to(torch.int32))
    depth = depth.reshape(height, width).cpu().numpy()
    return RenderResult(
        image=image.reshape(height, width, 3).cpu().numpy(),
        mask=np.isfinite(depth),
        depth=depth,
        person_index=person_index.reshape(height, width).cpu().numpy(),
        face_index=face_index.reshape(height, width).cpu().numpy(),
    )


__all__ = ["DEFAULT_COLORS", "DEFAULT_LIGHT_DIRECTION", "RenderResult", "render_meshes"]

"""Building blocks of the synthetic body's triangle mesh: rings of vertices joined into tubes, caps, and
surfaces found by casting rays onto a signed distance function.

Every surface is made of *rings*: closed loops of vertex indices ordered counter-clockwise around the
direction in which the surface is being built (the "travel" direction). Joining consecutive rings with
`MeshPart.strip` then gives triangles whose normals point outwards, so the whole body is consistently
oriented without any later fix-up.

>>> part = MeshPart()
>>> angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
>>> circle = np.stack([np.sin(angles), np.zeros(8), np.cos(angles)], axis=1)  # counter-clockwise around +y
>>> bottom, top = part.add(circle, joint=0), part.add(circle + [0, 1, 0], joint=0)
>>> part.strip(bottom, top, axis=(0, 1, 0))
>>> part.faces().shape
(16, 3)
"""

from typing import Callable, Dict, List, Sequence

import numpy as np


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def smoothstep(edge0: float, edge1: float, x) -> np.ndarray:
    t = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def perpendicular_frame(axis, reference) -> tuple:
    """Unit vectors (e1, e2) with e1 x e2 = axis; e1 is `reference` made perpendicular to `axis`."""
    axis = normalize(axis)
    e1 = normalize(np.asarray(reference, dtype=np.float64) - np.dot(reference, axis) * axis)
    return e1, np.cross(axis, e1)


class MeshPart:
    """A triangle mesh under construction. Each vertex carries the SMPL-X joint that moves it (its
    *segment*); named vertex groups and single marked vertices are kept for later look-ups."""

    def __init__(self, capacity: int = 12000):
        self._points = np.zeros((capacity, 3))
        self._joints = np.full(capacity, -1, dtype=np.int64)
        self.count = 0
        self._faces: List[np.ndarray] = []
        self.groups: Dict[str, np.ndarray] = {}
        self.marks: Dict[str, int] = {}

    # ----------------------------------------------------------------------------------------- vertices
    def add(self, points, joint) -> np.ndarray:
        """Append (n, 3) points moved by `joint` (an int, or one per point); returns their indices."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        count = len(points)
        if self.count + count > len(self._points):
            grow = max(len(self._points), count)
            self._points = np.concatenate((self._points, np.zeros((grow, 3))))
            self._joints = np.concatenate((self._joints, np.full(grow, -1, dtype=np.int64)))
        indices = np.arange(self.count, self.count + count)
        self._points[indices] = points
        self._joints[indices] = joint
        self.count += count
        return indices

    def positions(self, indices) -> np.ndarray:
        return self._points[np.asarray(indices)]

    def set_positions(self, indices, points) -> None:
        self._points[np.asarray(indices)] = points

    @property
    def vertices(self) -> np.ndarray:
        return self._points[: self.count]

    @property
    def joints(self) -> np.ndarray:
        return self._joints[: self.count]

    def faces(self) -> np.ndarray:
        return np.concatenate(self._faces) if self._faces else np.zeros((0, 3), dtype=np.int64)

    def add_faces(self, faces) -> None:
        self._faces.append(np.asarray(faces, dtype=np.int64).reshape(-1, 3))

    # ------------------------------------------------------------------------------------------ joining
    def strip(self, loop_a, loop_b, axis, aligned: bool = False, skip: Sequence[int] = (), center=None) -> None:
        """Triangulate the band between two rings, `loop_a` then `loop_b` along `axis`.

        Both rings run counter-clockwise around `axis`. `aligned` rings (equal size, vertices corresponding
        one to one) become quads (two triangles each, quad k between vertices k and k+1); `skip` leaves
        such quads open (a hole, e.g. the mouth). Other rings are zipped together by their angle around
        `axis` through `center` (default: the rings' mean), which gives len(a) + len(b) triangles.
        """
        loop_a, loop_b = np.asarray(loop_a), np.asarray(loop_b)
        if aligned:
            if len(loop_a) != len(loop_b):
                raise ValueError(f"aligned rings must have equal sizes, got {len(loop_a)} and {len(loop_b)}")
            keep = np.setdiff1d(np.arange(len(loop_a)), np.asarray(skip, dtype=np.int64))
            a0, a1 = loop_a[keep], loop_a[(keep + 1) % len(loop_a)]
            b0, b1 = loop_b[keep], loop_b[(keep + 1) % len(loop_b)]
            self.add_faces(np.concatenate((np.stack((a0, a1, b1), 1), np.stack((a0, b1, b0), 1))))
            return
        self.add_faces(_zip_rings(loop_a, loop_b, self.positions(loop_a), self.positions(loop_b), axis, center))

    def fan(self, loop, apex: int, at_end: bool = True) -> None:
        """Close a ring with triangles to one apex vertex: after the ring along the travel direction
        (`at_end`, e.g. a finger tip) or before it (the first vertex of a surface)."""
        loop = np.asarray(loop)
        following = np.roll(loop, -1)
        apexes = np.full(len(loop), apex)
        order = (loop, following, apexes) if at_end else (apexes, following, loop)
        self.add_faces(np.stack(order, axis=1))


def _ring_angles(points: np.ndarray, center: np.ndarray, axis: np.ndarray, reference: np.ndarray) -> np.ndarray:
    e1, e2 = perpendicular_frame(axis, reference)
    offsets = points - center
    return np.arctan2(offsets @ e2, offsets @ e1)


def _zip_rings(loop_a, loop_b, points_a, points_b, axis, center=None) -> np.ndarray:
    axis = normalize(np.asarray(axis, dtype=np.float64))
    if center is None:
        center = 0.5 * (points_a.mean(axis=0) + points_b.mean(axis=0))
    reference = points_a[0] - center
    if np.linalg.norm(reference - np.dot(reference, axis) * axis) < 1e-12:
        raise ValueError("ring vertex lies on the ring axis")
    two_pi = 2.0 * np.pi
    angles_a = np.mod(_ring_angles(points_a, center, axis, reference), two_pi)
    angles_a[0] = 0.0  # exactly: the reference direction is vertex 0 (avoids -1e-17 wrapping to 2 pi)
    angles_b = np.mod(_ring_angles(points_b, center, axis, reference), two_pi)
    for angles, name in ((angles_a, "first"), (angles_b, "second")):
        start = int(np.argmin(angles))
        ordered = np.roll(angles, -start)
        if np.any(np.diff(ordered) <= 0):
            raise ValueError(f"the {name} ring is not ordered counter-clockwise around the strip axis")
    start_b = int(np.argmin(angles_b))
    loop_b, angles_b = np.roll(loop_b, -start_b), np.roll(angles_b, -start_b)
    size_a, size_b = len(loop_a), len(loop_b)
    next_a = np.append(angles_a[1:], two_pi)  # loop_a starts at angle 0 by construction of `reference`
    next_b = np.append(angles_b[1:], angles_b[0] + two_pi)
    triangles = np.empty((size_a + size_b, 3), dtype=np.int64)
    i = j = 0
    for t in range(size_a + size_b):
        advance_a = j == size_b or (i < size_a and next_a[i] < next_b[j])
        if advance_a:
            triangles[t] = (loop_a[i], loop_a[(i + 1) % size_a], loop_b[j % size_b])
            i += 1
        else:
            triangles[t] = (loop_a[i % size_a], loop_b[(j + 1) % size_b], loop_b[j])
            j += 1
    return triangles


# ----------------------------------------------------------------------------------------------- paths
def resample_path(control_points, spacing: float, start_tangent=None, end_tangent=None):
    """Points every `spacing` metres (at least) along a smooth curve through `control_points`.

    A Catmull-Rom spline; `start_tangent`/`end_tangent` fix the curve's direction at its ends. Returns
    (centers (K, 3), tangents (K, 3)).
    """
    control = np.asarray(control_points, dtype=np.float64)
    before = control[0] - (
        normalize(start_tangent) * np.linalg.norm(control[1] - control[0])
        if start_tangent is not None
        else control[1] - control[0]
    )
    after = control[-1] + (
        normalize(end_tangent) * np.linalg.norm(control[-1] - control[-2])
        if end_tangent is not None
        else control[-1] - control[-2]
    )
    padded = np.concatenate(([before], control, [after]))
    samples_per_span = 32
    t = np.linspace(0.0, 1.0, samples_per_span, endpoint=False)[:, None]
    dense = []
    for k in range(len(control) - 1):
        p0, p1, p2, p3 = padded[k : k + 4]
        dense.append(
            0.5
            * (
                (2 * p1)
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    dense = np.concatenate(dense + [control[-1:]])
    lengths = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))))
    count = max(int(np.ceil(lengths[-1] / spacing)) + 1, 2)
    targets = np.linspace(0.0, lengths[-1], count)
    centers = np.stack([np.interp(targets, lengths, dense[:, c]) for c in range(3)], axis=1)
    tangents = np.gradient(centers, axis=0)
    if start_tangent is not None:
        tangents[0] = start_tangent
    if end_tangent is not None:
        tangents[-1] = end_tangent
    return centers, normalize(tangents)


def loop_normal(points: np.ndarray) -> np.ndarray:
    """The unit normal of a closed loop by Newell's method: the axis it runs counter-clockwise around."""
    following = np.roll(points, -1, axis=0)
    return normalize(np.cross(points, following).sum(axis=0))


def sweep(
    part: MeshPart,
    start_loop: np.ndarray,
    centers: np.ndarray,
    tangents: np.ndarray,
    radius: Callable[[int, np.ndarray], np.ndarray],
    joint: Callable[[int], int],
    blend_rings: int = 3,
) -> List[np.ndarray]:
    """Grow a tube from an existing ring along a path: ring k is centred on `centers[k]`, perpendicular to
    `tangents[k]`, with `radius(k, directions)` metres in each (n, 3) world direction and all its vertices
    moved by `joint(k)`. `centers[0]` is the start ring's centre and is not re-created.

    The first `blend_rings` rings morph from the start ring's shape and vertex spacing to the tube's
    cross-section with evenly spaced vertices, so that a tube can grow out of an irregular opening (a
    shoulder, the crotch, between two knuckles). Returns the rings, the start ring first.
    """
    start_loop = np.asarray(start_loop)
    start_points = part.positions(start_loop)
    count = len(start_loop)
    e1, e2 = perpendicular_frame(tangents[0], start_points[0] - centers[0])
    offsets = start_points - centers[0]
    start_angles = np.unwrap(np.arctan2(offsets @ e2, offsets @ e1))
    if not start_angles[-1] > start_angles[0]:
        raise ValueError("the start ring is not counter-clockwise around the path")
    start_radii = np.hypot(offsets @ e1, offsets @ e2)
    even_angles = start_angles[0] + 2 * np.pi * np.arange(count) / count
    rings = [start_loop]
    for k in range(1, len(centers)):
        # parallel transport of the frame: the least twist between consecutive rings
        e1 = normalize(e1 - np.dot(e1, tangents[k]) * tangents[k])
        e2 = np.cross(tangents[k], e1)
        mix = float(smoothstep(0.0, 1.0, k / blend_rings)) if blend_rings > 0 else 1.0
        angles = (1 - mix) * start_angles + mix * even_angles
        directions = np.cos(angles)[:, None] * e1 + np.sin(angles)[:, None] * e2
        radii = (1 - mix) * start_radii + mix * radius(k, directions)
        ring = part.add(centers[k] + radii[:, None] * directions, joint(k))
        part.strip(rings[-1], ring, tangents[k], aligned=True)
        rings.append(ring)
    return rings


def round_cap(part: MeshPart, ring, center, axis, radius: float, joint: int, steps: int = 2) -> int:
    """Close a tube's last ring with a dome of `steps` shrinking rings and an apex at `center + radius *
    axis`; the domed rings keep the last ring's angular positions. Returns the apex index."""
    ring = np.asarray(ring)
    axis = normalize(axis)
    offsets = part.positions(ring) - center
    along = offsets @ axis
    radial = offsets - along[:, None] * axis
    previous = ring
    for step in range(1, steps + 1):
        angle = 0.5 * np.pi * step / (steps + 1)
        points = center + radial * np.cos(angle) + (along + (radius - along) * np.sin(angle))[:, None] * axis
        current = part.add(points, joint)
        part.strip(previous, current, axis, aligned=True)
        previous = current
    apex = part.add(center + radius * axis, joint)[0]
    part.fan(previous, apex, at_end=True)
    return int(apex)


# ------------------------------------------------------------------------------------- implicit surfaces
class Ellipsoid:
    """Axis-aligned ellipsoid; `distance` is an approximate signed distance (exact for spheres)."""

    def __init__(self, center, radii):
        self.center = np.asarray(center, dtype=np.float64)
        self.radii = np.asarray(radii, dtype=np.float64)
        self.bound = self.radii.max()  # bounding sphere radius

    def distance(self, points):
        scaled = (points - self.center) / self.radii
        return (np.sqrt(np.einsum("...i,...i->...", scaled, scaled)) - 1.0) * self.radii.min()

    def lower_bound(self, centre_distance):
        """A value the distance never goes below, from the distance to the centre."""
        return (centre_distance / self.bound - 1.0) * self.radii.min()


class Capsule:
    """Segment from `start` to `end` with a radius changing linearly from `radius_start` to `radius_end`."""

    def __init__(self, start, end, radius_start, radius_end=None):
        self.start = np.asarray(start, dtype=np.float64)
        self.end = np.asarray(end, dtype=np.float64)
        self.radius_start = radius_start
        self.radius_end = radius_start if radius_end is None else radius_end
        self.center = 0.5 * (self.start + self.end)
        self.bound = 0.5 * np.linalg.norm(self.end - self.start) + max(self.radius_start, self.radius_end)

    def distance(self, points):
        segment = self.end - self.start
        t = np.clip(((points - self.start) @ segment) / (segment @ segment), 0.0, 1.0)
        offset = points - self.start - t[..., None] * segment
        return np.sqrt(np.einsum("...i,...i->...", offset, offset)) - (
            self.radius_start + t * (self.radius_end - self.radius_start)
        )

    def lower_bound(self, centre_distance):
        return centre_distance - self.bound


def union_distance(points: np.ndarray, shapes) -> np.ndarray:
    """Approximate signed distance to shapes combined in order: ``shapes`` is a list of (shape, fillet,
    carve) — the first shape, then each next one smoothly added (or carved out when `carve`) with a fillet
    `fillet` metres wide. Points too far from a shape for it to matter skip its evaluation."""
    points = np.asarray(points, dtype=np.float64)
    flat = points.reshape(-1, 3)
    distance = shapes[0][0].distance(flat)
    for shape, fillet, carve in shapes[1:]:
        offset = flat - shape.center
        lower = shape.lower_bound(np.sqrt(np.einsum("ij,ij->i", offset, offset)))
        near = np.flatnonzero(lower < (fillet - distance if carve else distance + fillet))
        if len(near) == 0:
            continue
        value = shape.distance(flat[near])
        if carve:
            distance[near] = smooth_subtract(distance[near], value, fillet)
        else:
            distance[near] = smooth_union(distance[near], value, fillet)
    return distance.reshape(points.shape[:-1])


def sd_ellipsoid(points, center, radii) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid (exact on spheres, good near the surface)."""
    return Ellipsoid(center, radii).distance(points)


def sd_capsule(points, start, end, radius_start, radius_end=None) -> np.ndarray:
    """Signed distance to a cone-capped segment whose radius goes linearly from start to end."""
    return Capsule(start, end, radius_start, radius_end).distance(points)


def smooth_union(a, b, k: float) -> np.ndarray:
    """Polynomial smooth minimum: the union of two shapes with a fillet about `k` metres wide."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def smooth_subtract(a, b, k: float) -> np.ndarray:
    """Shape `a` with shape `b` carved out of it, with a fillet about `k` metres wide."""
    return -smooth_union(-a, b, k)


def cast_rays(
    sdf: Callable[[np.ndarray], np.ndarray],
    origin,
    directions,
    max_distance: float,
    min_distance: float = 0.0,
    samples: int = 20,
) -> np.ndarray:
    """Distance along each ray from `origin` to the outermost crossing of the surface ``sdf == 0``.

    The rays are sampled between `min_distance` (inside the surface for every ray) and `max_distance`
    (outside); the last inside sample is found, so small concavities that a ray passes (the back of an ear,
    between toes) are wrapped over as by a sheet, and bisection then refines the crossing.
    """
    origin = np.asarray(origin, dtype=np.float64)
    steps = np.linspace(min_distance, max_distance, samples)
    values = sdf(origin + steps[None, :, None] * directions[:, None, :])  # (R, S)
    inside = values < 0
    if not inside[:, 0].all():
        raise ValueError("the rays must start inside the surface (origin + min_distance * direction)")
    if inside[:, -1].any():
        raise ValueError("the surface extends beyond max_distance")
    rows = np.arange(len(directions))
    last_inside = samples - 1 - np.argmax(inside[:, ::-1], axis=1)
    low, high = steps[last_inside], steps[last_inside + 1]
    low_value, high_value = values[rows, last_inside], values[rows, last_inside + 1]
    for _ in range(8):  # the bracket starts one sample step (about 1 cm) wide; 8 halvings leave < 0.05 mm
        middle = 0.5 * (low + high)
        value = sdf(origin + middle[:, None] * directions)
        is_inside = value < 0
        low, high = np.where(is_inside, middle, low), np.where(is_inside, high, middle)
        low_value, high_value = np.where(is_inside, value, low_value), np.where(is_inside, high_value, value)
    # then where the distance crosses zero, linearly between the bracket's ends
    return low + (high - low) * (-low_value) / np.maximum(high_value - low_value, 1e-300)


def density_angles(count: int, focus: float = 0.0, boost: float = 0.0, width: float = 1.0) -> np.ndarray:
    """`count` angles in [0, 2 pi), half a step off `focus` on both sides, spaced (1 + boost) times more
    densely around `focus` (a Gaussian bump `width` radians wide). Symmetric about `focus`."""
    table = np.linspace(-np.pi, np.pi, 4097)
    density = 1.0 + boost * np.exp(-((table / width) ** 2))
    cumulative = np.concatenate(([0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(table))))
    cumulative /= cumulative[-1]
    targets = (np.arange(count) + 0.5) / count
    # start at the focus (cumulative 0.5) and go counter-clockwise
    angles = np.interp(np.mod(targets + 0.5, 1.0), cumulative, table)
    return np.mod(angles + focus, 2 * np.pi)


def star_patch(
    part: MeshPart,
    sdf: Callable[[np.ndarray], np.ndarray],
    origin,
    end_axis,
    reference,
    rings: Sequence[tuple],
    joint: Callable[[np.ndarray], np.ndarray],
    max_distance: float,
    min_distance: float = 0.0,
    end_apex: bool = True,
    stretch=(1.0, 1.0, 1.0),
) -> List[np.ndarray]:
    """Rings on a surface that is star-shaped around `origin`, found by casting rays onto `sdf`.

    Directions are spherical coordinates about `end_axis`: ``rings`` lists, in building order, (azimuths,
    polar angles) per ring — azimuths (n,) counter-clockwise around `end_axis` from `reference`, polar
    angles (n,) from `end_axis` (decreasing from ring to ring, so the surface is built towards
    `end_axis`). Consecutive rings with the same azimuths become quads, others are zipped. With
    `end_apex` the last ring is closed by a vertex in the direction `end_axis` itself. The spherical
    coordinates live in a space scaled by 1 / `stretch` (per world axis), so that an elongated surface
    (a foot) gets rings spread evenly along it; `end_axis` and `reference` are world directions.
    Returns the ring index arrays (the apex, if any, as a last one-element array).
    """
    origin = np.asarray(origin, dtype=np.float64)
    stretch = np.asarray(stretch, dtype=np.float64)
    axis = normalize(np.asarray(end_axis) / stretch)
    e1, e2 = perpendicular_frame(axis, np.asarray(reference) / stretch)
    if np.linalg.det(np.diag(stretch)) < 0:
        raise ValueError("stretch must not mirror")
    directions = []
    for azimuths, polar in rings:
        around = np.cos(azimuths)[:, None] * e1 + np.sin(azimuths)[:, None] * e2
        directions.append(normalize((np.cos(polar)[:, None] * axis + np.sin(polar)[:, None] * around) * stretch))
    if end_apex:
        directions.append(normalize(axis * stretch)[None])
    all_directions = np.concatenate(directions)
    points = origin + cast_rays(sdf, origin, all_directions, max_distance, min_distance)[:, None] * all_directions
    point_joints = joint(points)
    indices, start = [], 0
    for ring_directions in directions:
        stop = start + len(ring_directions)
        indices.append(part.add(points[start:stop], point_joints[start:stop]))
        start = stop
    world_axis = normalize(axis * stretch)
    for k in range(1, len(rings)):
        same_azimuths = len(rings[k][0]) == len(rings[k - 1][0]) and np.allclose(rings[k][0], rings[k - 1][0])
        if same_azimuths:
            part.strip(indices[k - 1], indices[k], world_axis, aligned=True)
        else:
            part.strip(indices[k - 1], indices[k], world_axis, center=origin)
    if end_apex:
        part.fan(indices[len(rings) - 1], int(indices[-1][0]), at_end=True)
    return indices

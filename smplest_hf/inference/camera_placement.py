"""Put every person of an image into one known camera (the photo's own), instead of one camera per person.

SMPLest-X predicts each person in a virtual crop camera (focal 5000 px on the 256x192 body input). Mapped back to
the image, every person gets their own pinhole camera: the crop camera scaled and shifted by their box
(`crop_to_full_image_camera`). That draws each mesh on its person, but

- the people do not share a 3D frame: each camera has its own focal length, so distances between people (and the
  `.glb` scene of all of them) are not the photo's;
- the box camera has the focal length of a long lens (~20x the box height). A photo taken with a wide-angle lens
  shows more perspective than any translation of the box camera can reproduce: for synthetic people at focal
  lengths of 0.8-1.8x the image's long side the best translation in the box camera covers the rendered silhouette
  with IoU 0.62-0.91 only. At 1.0x: 0.53-0.87 in the box camera, 0.95-0.99 placed in the true camera (scene seeds
  7-14 but 12, a person cut by the image border: 0.66 -> 0.81; see tests/test_export.py).

When the photo's intrinsics are known (calibration, the EXIF 35 mm-equivalent focal length, or a field of view)
`place_people_in_camera` re-solves each person's translation for that camera. The mesh's shape and pose are kept;
the translation is the one under which the given camera sees the mesh's vertices where the box camera drew them
(linear least squares over every vertex: ``f (x + t_x) = (u - c) (z + t_z)``, same for y). All people then share
the camera, their depths are comparable, and the overlay is rendered with the photo's own perspective.

```python
>>> import numpy as np
>>> from smplest_hf.inference.camera_placement import CameraSpec
>>> CameraSpec.parse("fov:60").intrinsics((480, 640))  # (fx, fy, cx, cy): 60 degrees across the long side
array([554.25625842, 554.25625842, 319.5       , 239.5       ])
>>> CameraSpec.parse("focal:1000").intrinsics((480, 640))
array([1000. , 1000. ,  319.5,  239.5])

```
"""

import math
from dataclasses import dataclass

import numpy as np

from ..models.smplest_x.geometry import project_points

# The diagonal of a 36 x 24 mm film frame: "35 mm-equivalent" focal lengths are relative to it.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
CAMERA_KINDS = ("box", "exif", "fov", "focal")
CAMERA_SPEC_HELP = (
    "box (default: each person's own crop camera), exif (the photo's 35 mm-equivalent focal length), fov:DEGREES "
    "(field of view across the image's long side), or focal:FX[,FY[,CX,CY]] (pixels; default centre = image centre); "
    "exif,fov:60 (or exif,focal:...) falls back to the second camera for photos without the EXIF focal length"
)


@dataclass(frozen=True)
class CameraSpec:
    """Which camera the people of an image are placed in: see `CAMERA_SPEC_HELP`.

    `kind` is one of `CAMERA_KINDS`; `values` holds the degrees of "fov" or the (fx[, fy[, cx, cy]]) of "focal".
    `fallback`: for "exif", the camera ("fov" or "focal") of images without the EXIF focal length (else an error).
    """

    kind: str = "box"
    values: tuple[float, ...] = ()
    fallback: "CameraSpec | None" = None

    @classmethod
    def parse(cls, text) -> "CameraSpec":
        """"box" | "exif" | "fov:60" | "focal:1500" | "focal:1500,1500,960,540" | "exif,fov:60" (exif with a
        fallback) (or a `CameraSpec`, or None = box).

        Raises:
            ValueError: an unknown kind, a missing/non-numeric/non-positive value, a wrong number of values, or a
                fallback after anything but "exif" or one that is not "fov"/"focal".
        """
        if text is None:
            return cls()
        if isinstance(text, CameraSpec):
            return text
        first, comma, rest = str(text).strip().partition(",")
        if comma and first.strip().lower() == "exif":
            fallback = cls.parse(rest)
            if fallback.kind not in ("fov", "focal"):
                raise ValueError(f"Camera {text!r}: the fallback after exif must be fov:DEGREES or focal:PIXELS.")
            return cls("exif", (), fallback)
        kind, _, argument = str(text).strip().partition(":")
        kind = kind.strip().lower()
        if kind not in CAMERA_KINDS:
            raise ValueError(f"Unknown camera {text!r}: use {CAMERA_SPEC_HELP}.")
        if kind in ("box", "exif"):
            if argument:
                raise ValueError(f"Camera {kind!r} takes no value, got {text!r}.")
            return cls(kind)
        try:
            values = tuple(float(part) for part in argument.split(","))
        except ValueError:
            values = ()
        expected = (1,) if kind == "fov" else (1, 2, 4)
        if len(values) not in expected or not all(math.isfinite(value) for value in values):
            raise ValueError(f"Camera {text!r} needs {'one angle' if kind == 'fov' else '1, 2 or 4 numbers'}: "
                             f"e.g. {'fov:60' if kind == 'fov' else 'focal:1500 or focal:1500,1500,960,540'}.")  # fmt: skip
        if kind == "fov" and not 0.0 < values[0] < 180.0:
            raise ValueError(f"Camera {text!r}: the field of view must lie between 0 and 180 degrees.")
        if kind == "focal" and not all(value > 0 for value in values[:2]):
            raise ValueError(f"Camera {text!r}: focal lengths must be positive (pixels).")
        return cls(kind, values)

    def __str__(self) -> str:
        """The text `parse` reads back: "box", "exif", "fov:60", "focal:1500,1500", "exif,fov:60"."""
        own = self.kind if not self.values else f"{self.kind}:{','.join(f'{value:g}' for value in self.values)}"
        return own if self.fallback is None else f"{own},{self.fallback}"

    @property
    def is_box(self) -> bool:
        return self.kind == "box"

    def intrinsics(self, image_size, focal_length_35mm: float | None = None, image_name: str = "the image") -> np.ndarray | None:
        """(4,) float64 `(fx, fy, cx, cy)` in pixels of an image of `image_size` (height, width); None for "box".

        The principal point defaults to the image centre `((W - 1) / 2, (H - 1) / 2)` (pixel centres at integers).
        "exif" needs `focal_length_35mm` (`LoadedImage.focal_length_35mm`); it is matched along the diagonal, which
        does not depend on the photo's aspect ratio or orientation.

        Raises:
            ValueError: "exif" without a fallback, for an image without a 35 mm-equivalent focal length (names
                `image_name`).
        """
        if self.kind == "box":
            return None
        height, width = (float(size) for size in image_size)
        centre = ((width - 1.0) / 2.0, (height - 1.0) / 2.0)
        if self.kind == "exif":
            if (focal_length_35mm is None or not focal_length_35mm > 0) and self.fallback is not None:
                return self.fallback.intrinsics(image_size)
            if focal_length_35mm is None or not focal_length_35mm > 0:
                raise ValueError(
                    f"{image_name} has no EXIF 35 mm-equivalent focal length (FocalLengthIn35mmFilm); use a camera of "
                    "the form fov:DEGREES or focal:PIXELS for it instead."
                )
            focal = focal_length_35mm / FULL_FRAME_DIAGONAL_MM * math.hypot(width, height)
            return np.array([focal, focal, *centre])
        if self.kind == "fov":
            focal = (max(width, height) / 2.0) / math.tan(math.radians(self.values[0]) / 2.0)
            return np.array([focal, focal, *centre])
        fx = self.values[0]
        fy = self.values[1] if len(self.values) > 1 else fx
        cx, cy = self.values[2:4] if len(self.values) == 4 else centre
        return np.array([fx, fy, cx, cy], dtype=np.float64)


def project(points: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels with `(fx, fy, cx, cy)` pinhole cameras ((4,) or
    broadcastable (..., 4)): `geometry.project_points` (true depth, as the rasteriser draws) in this module's
    intrinsics layout."""
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    return project_points(points, intrinsics[..., :2], intrinsics[..., 2:])


def solve_translation(points: np.ndarray, pixels: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Least-squares translation `t` with `project(points + t, intrinsics) ~ pixels`.

    Args:
        points: (P, N, 3) or (N, 3) camera-frame points before translation (metres).
        pixels: (P, N, 2) or (N, 2) where they should project.
        intrinsics: (4,) `(fx, fy, cx, cy)`, or (P, 4) one camera per set.

    Returns:
        (P, 3) or (3,) float64. Multiplying the projection by the depth makes the problem linear,
        `fx t_x - (u - cx) t_z = (u - cx) z - fx x` (and the same for y): one 3x3 normal system per set. It is exact
        when the pixels are an exact projection of translated points (errors are weighted by depth otherwise).
    """
    points = np.asarray(points, dtype=np.float64)
    pixels = np.asarray(pixels, dtype=np.float64)
    single = points.ndim == 2
    if single:
        points, pixels = points[None], pixels[None]
    intrinsics = np.broadcast_to(np.asarray(intrinsics, dtype=np.float64), (points.shape[0], 4))
    fx, fy = intrinsics[:, 0], intrinsics[:, 1]
    offset = pixels - intrinsics[:, None, 2:]  # (P, N, 2): (u - cx, v - cy)
    ox, oy = offset[..., 0], offset[..., 1]
    # Residuals r_x = fx t_x - ox t_z - (ox z - fx x), r_y = fy t_y - oy t_z - (oy z - fy y); the normal equations'
    # entries are sums over the points, formed directly rather than through a (P, 2N, 3) design matrix.
    value_x = ox * points[..., 2] - fx[:, None] * points[..., 0]
    value_y = oy * points[..., 2] - fy[:, None] * points[..., 1]
    count = points.shape[1]
    normal = np.zeros((len(points), 3, 3))
    normal[:, 0, 0], normal[:, 1, 1] = count * fx**2, count * fy**2
    normal[:, 0, 2] = normal[:, 2, 0] = -fx * ox.sum(1)
    normal[:, 1, 2] = normal[:, 2, 1] = -fy * oy.sum(1)
    normal[:, 2, 2] = (ox**2).sum(1) + (oy**2).sum(1)
    right = np.stack((fx * value_x.sum(1), fy * value_y.sum(1), -(ox * value_x).sum(1) - (oy * value_y).sum(1)), axis=1)
    translation = np.linalg.solve(normal, right[..., None])[..., 0]
    return translation[0] if single else translation


def place_people_in_camera(people: list[dict], intrinsics) -> list[dict]:
    """Each person re-expressed in the camera `intrinsics` ((4,) `(fx, fy, cx, cy)`, pixels of the people's image).

    Every person needs `vertices`, `joints`, `camera_translation`, `focal_length` and `principal_point` (the
    pipeline's fields, with a body model). Returns new dicts: `camera_translation` solved as in the module docstring
    (the box camera's drawing of the vertices is the target), `vertices` and `joints` moved with it, the camera
    fields set to the given camera for everyone and `keypoints_2d` projected with it. Parameters and other fields are
    copied unchanged.

    Raises:
        ValueError: a person without vertices (no body model: there is no mesh to place).
    """
    if not people:
        return []
    if any(person.get("vertices") is None for person in people):
        raise ValueError("Placing people in a given camera needs their meshes: attach a body model (--body-model DIR).")
    intrinsics = np.asarray(intrinsics, dtype=np.float64).reshape(4)
    vertices = np.stack([np.asarray(person["vertices"], np.float64) for person in people])
    box_cameras = np.stack([np.concatenate((person["focal_length"], person["principal_point"])).astype(np.float64) for person in people])
    old = np.stack([np.asarray(person["camera_translation"], np.float64) for person in people])
    drawn = project(vertices, box_cameras[:, None])  # where the overlay in the box cameras puts each vertex
    new = solve_translation(vertices - old[:, None], drawn, intrinsics)
    placed = []
    for person, before, after in zip(people, old, new):
        shift = after - before
        joints = np.asarray(person["joints"], np.float64) + shift
        placed.append({
            **person,
            "camera_translation": after.astype(np.float32),
            "vertices": (np.asarray(person["vertices"], np.float64) + shift).astype(np.float32),
            "joints": joints.astype(np.float32),
            "keypoints_2d": project(joints, intrinsics).astype(np.float32),
            "focal_length": intrinsics[:2].astype(np.float32),
            "principal_point": intrinsics[2:].astype(np.float32),
        })  # fmt: skip
    return placed


__all__ = [
    "CAMERA_KINDS",
    "CAMERA_SPEC_HELP",
    "FULL_FRAME_DIAGONAL_MM",
    "CameraSpec",
    "place_people_in_camera",
    "project",
    "solve_translation",
]

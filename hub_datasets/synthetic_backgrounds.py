"""Procedural backgrounds for synthetic EHPS images: gradients, value noise, stripes, checkers and shapes.

A background is a two-colour linear gradient with one or two patterns (``PATTERNS``) blended over it at a random
opacity, plus luminance grain, so a model cannot tell person from background by smoothness alone (the people are
smoothly shaded meshes). Deterministic for a given generator state.

Fast without loops over pixels: each pattern is a few vectorised NumPy operations on (H, 1) and (1, W) coordinate
grids, written with ``out=`` into buffers kept per image size and process (``_Canvas``). Both details matter on
CPU: colour planes are stored channel-first, (3, H, W), because NumPy is several times slower broadcasting over a
trailing axis of 3; and reusing buffers avoids allocating fresh multi-megabyte temporaries, whose page faults
otherwise cost more than the arithmetic (5x on a busy machine).

Example::

    >>> import numpy as np
    >>> image = random_background(np.random.default_rng(0), 48, 64)
    >>> image.shape, image.dtype
    ((48, 64, 3), dtype('uint8'))
"""

import functools

import numpy as np


PATTERNS = ("noise", "stripes", "checker", "shapes", "radial")
GRAIN = 5  # luminance grain: uniform integer noise in [-GRAIN, GRAIN] grey levels, like sensor noise


class _Canvas:
    """Reusable float32 buffers for one image size: ``image`` and ``layer`` (3, H, W), ``weight`` and ``scratch``
    (H, W), and the coordinate grids ``y`` (H, 1), ``x`` (1, W) in units of the longer side."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.scale = float(max(height, width))
        self.image = np.empty((3, height, width), np.float32)
        self.layer = np.empty((3, height, width), np.float32)
        self.weight = np.empty((height, width), np.float32)
        self.scratch = np.empty((height, width), np.float32)
        self.y = np.arange(height, dtype=np.float32)[:, None] / np.float32(self.scale)
        self.x = np.arange(width, dtype=np.float32)[None, :] / np.float32(self.scale)

    def directional(self, angle: float, out: np.ndarray) -> np.ndarray:
        """``cos(angle) x + sin(angle) y`` into ``out`` (H, W)."""
        np.multiply(self.y, np.float32(np.sin(angle)), out=out)
        out += np.float32(np.cos(angle)) * self.x
        return out


@functools.lru_cache(maxsize=4)
def _canvas(height: int, width: int) -> _Canvas:
    return _Canvas(height, width)


def _colours(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.uniform(0.0, 255.0, size=(count, 3)).astype(np.float32)


def _paint(out: np.ndarray, first: np.ndarray, second: np.ndarray, weight: np.ndarray) -> None:
    """``out`` (3, H, W) = colours ``first`` and ``second`` (3,) mixed by ``weight`` (H, W) in [0, 1]."""
    for channel in range(3):
        np.multiply(weight, second[channel] - first[channel], out=out[channel])
        out[channel] += first[channel]


# ------------------------------------------------------------------------------------------- patterns
def linear_gradient(rng: np.random.Generator, canvas: _Canvas, out: np.ndarray) -> None:
    """Two random colours along a random direction."""
    ramp = canvas.directional(rng.uniform(0.0, 2.0 * np.pi), canvas.weight)
    ramp -= ramp.min()
    ramp /= max(float(ramp.max()), 1e-6)
    start, end = _colours(rng, 2)
    _paint(out, start, end, ramp)


def value_noise(rng: np.random.Generator, canvas: _Canvas, out: np.ndarray) -> None:
    """Random colours on a coarse grid, bilinearly upsampled, two octaves (weights 0.7 and 0.3)."""
    height, width = canvas.height, canvas.width
    out.fill(0.0)
    for octave, weight in ((rng.integers(2, 6), 0.7), (rng.integers(8, 20), 0.3)):
        rows, columns = int(octave), int(max(2, round(octave * width / height)))
        grid = rng.uniform(0.0, 255.0 * weight, size=(3, rows, columns)).astype(np.float32)
        # Separable bilinear interpolation with gathers and lerps (no BLAS): along x on the small grid first,
        # then along y, where the gathers copy whole rows.
        x = np.linspace(0.0, columns - 1, width, dtype=np.float32)
        x0 = np.minimum(x.astype(np.int64), columns - 2)
        fx = x - x0.astype(np.float32)
        along_x = grid[:, :, x0] * (1.0 - fx) + grid[:, :, x0 + 1] * fx  # (3, rows, W), small
        y = np.linspace(0.0, rows - 1, height, dtype=np.float32)
        y0 = np.minimum(y.astype(np.int64), rows - 2)
        fy = (y - y0.astype(np.float32))[:, None]
        for channel in range(3):
            top, bottom = canvas.weight, canvas.scratch
            np.take(along_x[channel], y0, axis=0, out=top)
            np.take(along_x[channel], y0 + 1, axis=0, out=bottom)
            bottom -= top
            bottom *= fy
            out[channel] += top
            out[channel] += bottom


def stripes(rng: np.random.Generator, canvas: _Canvas, out: np.ndarray) -> None:
    """Parallel stripes of two colours, hard or soft edged, at a random angle and period."""
    wave = canvas.directional(rng.uniform(0.0, np.pi), canvas.weight)
    wave *= np.float32(2.0 * np.pi / rng.uniform(0.02, 0.25))
    wave += np.float32(rng.uniform(0, 2 * np.pi))
    np.sin(wave, out=wave)
    if rng.uniform() < 0.5:
        np.greater(wave, 0, out=wave, casting="unsafe")  # hard edges: weight 0 or 1
    else:
        wave *= 0.5
        wave += 0.5
    first, second = _colours(rng, 2)
    _paint(out, first, second, wave)


def checker(rng: np.random.Generator, canvas: _Canvas, out: np.ndarray) -> None:
    """A checkerboard (floor tiles, calibration boards) rotated by a random angle."""
    angle, size = rng.uniform(0.0, np.pi / 2), np.float32(rng.uniform(0.03, 0.2))
    u = canvas.directional(angle, canvas.weight)
    v = canvas.directional(angle + np.pi / 2, canvas.scratch)
    for coordinate in (u, v):
        coordinate /= size
        np.floor(coordinate, out=coordinate)
    v += u  # the tile's integer coordinates summed; its parity is the colour: s - 2 floor(s / 2)
    np.multiply(v, 0.5, out=u)
    np.floor(u, out=u)
    u *= -2.0
    u += v
    first, second = _colours(rng, 2)
    _paint(out, first, second, u)


def radial_gradient(rng: np.random.Generator, canvas: _Canvas, out: np.ndarray) -> None:
    """A colour fading out from a random centre (a lamp, a vignette)."""
    centre_y = np.float32(rng.uniform(0, canvas.height / canvas.scale))
    centre_x = np.float32(rng.uniform(0, canvas.width / canvas.scale))
    distance = canvas.weight
    np.add((canvas.y - centre_y) ** 2, (canvas.x - centre_x) ** 2, out=distance)
    np.sqrt(distance, out=distance)
    distance /= np.float32(rng.uniform(0.3, 1.2))
    np.minimum(distance, 1.0, out=distance)
    inner, outer = _colours(rng, 2)
    _paint(out, inner, outer, distance)


def shapes(rng: np.random.Generator, canvas: _Canvas, out: np.ndarray) -> None:
    """3 to 9 random ellipses and rotated rectangles painted over what ``out`` holds.

    Each shape is evaluated only inside the square around its circumscribed circle, not over the whole image.
    """
    scale = canvas.scale
    for _ in range(int(rng.integers(3, 10))):
        centre_y, centre_x = rng.uniform(0, canvas.height / scale), rng.uniform(0, canvas.width / scale)
        half_a, half_b = rng.uniform(0.03, 0.3, size=2)
        angle = rng.uniform(0.0, np.pi)
        is_ellipse = rng.uniform() < 0.5
        colour = _colours(rng, 1)[0][:, None, None]
        reach = np.hypot(half_a, half_b) * scale  # pixels from the centre that can be inside
        top, bottom = max(0, int(centre_y * scale - reach)), min(canvas.height, int(centre_y * scale + reach) + 1)
        left, right = max(0, int(centre_x * scale - reach)), min(canvas.width, int(centre_x * scale + reach) + 1)
        if top >= bottom or left >= right:
            continue
        y = canvas.y[top:bottom] - np.float32(centre_y)
        x = canvas.x[:, left:right] - np.float32(centre_x)
        cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
        u, v = (cos * x + sin * y) / np.float32(half_a), (cos * y - sin * x) / np.float32(half_b)
        inside = u * u + v * v <= 1.0 if is_ellipse else (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
        window = out[:, top:bottom, left:right]
        np.copyto(window, colour, where=inside)


_LAYERS = {"noise": value_noise, "stripes": stripes, "checker": checker, "radial": radial_gradient}


def random_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a linear gradient, one or two patterns from ``PATTERNS`` blended over it, grain."""
    if height < 2 or width < 2:
        raise ValueError(f"a background needs at least 2x2 pixels, got {height}x{width}.")
    canvas = _canvas(int(height), int(width))
    image, layer = canvas.image, canvas.layer
    linear_gradient(rng, canvas, image)
    for _ in range(int(rng.integers(1, 3))):
        pattern = PATTERNS[int(rng.integers(0, len(PATTERNS)))]
        if pattern == "shapes":
            np.copyto(layer, image)
            shapes(rng, canvas, layer)
        else:
            _LAYERS[pattern](rng, canvas, layer)
        opacity = np.float32(rng.uniform(0.35, 1.0))
        layer -= image  # image += opacity * (layer - image), in place
        layer *= opacity
        image += layer
    image += rng.integers(-GRAIN, GRAIN + 1, size=(height, width), dtype=np.int16)  # same on every channel
    image += 0.5  # + 0.5, clip and truncate: round to nearest
    np.clip(image, 0, 255, out=image)
    result = np.empty((height, width, 3), np.uint8)
    np.copyto(result.transpose(2, 0, 1), image, casting="unsafe")
    return result


__all__ = [
    "PATTERNS",
    "checker",
    "linear_gradient",
    "radial_gradient",
    "random_background",
    "shapes",
    "stripes",
    "value_noise",
]

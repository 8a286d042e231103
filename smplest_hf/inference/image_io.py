"""Reading images for inference: any file PIL decodes -> an 8-bit RGB array, with bounded memory.

Every input becomes a `LoadedImage`: `pixels` (H, W, 3) uint8 RGB, plus the size of the original image and the
factor it was shrunk by. Conversions, so the model and the detector always see the same kind of array:

- grayscale, palette, CMYK -> RGB; 16-bit (PIL "I;16*", "I") -> 8-bit, scaled by 255 / 65535;
- alpha (RGBA, LA, palette transparency) -> composited onto white (as transformers' `convert_to_rgb`);
- EXIF orientation applied (what every photo viewer shows);
- more than `max_pixels` pixels -> shrunk to fit, keeping the aspect ratio. JPEGs are decoded directly at a
  reduced scale (PIL's `draft`), so memory stays near the output size; other formats are decoded in full first,
  which PIL itself refuses above its decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS` * 2, about 179 MP)
  — we report that as a clear error instead of exhausting memory.

Results computed on a shrunk image are mapped back to the original pixel grid by the pipeline (`scale`).

```python
>>> import numpy as np
>>> from smplest_hf.inference.image_io import load_image
>>> image = load_image(np.zeros((480, 640), dtype=np.uint16))   # 16-bit grayscale
>>> image.pixels.shape, image.pixels.dtype, image.original_size, image.scale
((480, 640, 3), dtype('uint8'), (480, 640), 1.0)
```
"""

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# 40 megapixels: above every phone camera's default resolution, and its 3-byte RGB copy (120 MB) plus the
# detector and crop buffers stay well inside a small machine's memory. Larger images are shrunk to this size.
DEFAULT_MAX_PIXELS = 40_000_000

# Smaller images are refused: with pixel centres at integer coordinates a 1-pixel side spans no width, so the
# whole-image person box would be empty.
MIN_IMAGE_SIDE = 2
# The first bytes of the formats people use, to tell a damaged file from one of an unknown format.
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP",
    b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
}  # fmt: skip
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# EXIF: the pointer to the Exif sub-IFD, and the 35 mm-equivalent focal length tag inside it.
_EXIF_IFD = 0x8769
_FOCAL_LENGTH_IN_35MM_FILM = 0xA405


class ImageReadError(ValueError):
    """An input image is missing, empty, unreadable or unusable; the message names the file and the problem."""


@dataclass
class LoadedImage:
    """One decoded input image.

    Attributes:
        pixels: (H, W, 3) uint8 RGB, possibly shrunk (see `scale`).
        original_size: (height, width) of the image as given, before any shrinking.
        scale: original pixels per pixel of `pixels` (1.0 when not shrunk); with pixel centres at integer
            coordinates, a point u of `pixels` is `(u + 0.5) * scale - 0.5` in the original image.
        name: the file path, or a label such as "image 0" for in-memory images.
        focal_length_35mm: the EXIF 35 mm-equivalent focal length (FocalLengthIn35mmFilm) in mm, or None; used by
            `camera_placement.CameraSpec("exif")`.
    """

    pixels: np.ndarray
    original_size: tuple[int, int]
    scale: float
    name: str
    focal_length_35mm: float | None = None


def image_file_extensions() -> frozenset[str]:
    """Lower-case file extensions (".jpg", ".png", ...) PIL can open, for picking images out of a folder."""
    Image.init()
    return frozenset(extension for extension, format_name in Image.EXTENSION.items() if format_name in Image.OPEN)


def load_image(image, max_pixels: int | None = DEFAULT_MAX_PIXELS, name: str | None = None) -> LoadedImage:
    """A path, PIL image, NumPy array or torch tensor -> `LoadedImage` (8-bit RGB, at most `max_pixels` pixels).

    Arrays may be (H, W), (H, W, C) or, for tensors, (C, H, W) with C in {1, 3, 4}; uint8, uint16 or float
    (float images in [0, 1] are taken as such, otherwise as 0-255). `max_pixels=None` never shrinks.

    Raises:
        ImageReadError: missing file, a folder, 0-byte file, not an image, corrupt/truncated data, no pixels, or
            an image too large to decode safely. The message names the file.
    """
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive number of pixels or None, got {max_pixels}.")
    if isinstance(image, (str, os.PathLike)):
        return _load_image_file(Path(image), max_pixels)
    label = name or "image"
    if isinstance(image, Image.Image):
        pil_image = image
    else:
        pil_image = Image.fromarray(_array_to_uint8_rgb(image, label))
    width, height = pil_image.size
    if width == 0 or height == 0:
        raise ImageReadError(f"{label} has no pixels (width {width}, height {height}).")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageReadError(f"{label} is {width}x{height} pixels: too small, images need at least {MIN_IMAGE_SIDE} pixels per side.")
    return _finish(pil_image, (height, width), max_pixels, label)


def check_image_file(path) -> tuple[int, int]:
    """Cheap checks of an image file without decoding its pixels: exists, not empty, a format PIL knows, not too
    large. Returns its stored (height, width). Corrupt pixel data is only found by `load_image`.

    Raises:
        ImageReadError: as `load_image`.
    """
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as pil_image:
                width, height = pil_image.size
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError, EOFError) as error:  # as load_image
        raise _read_error(path, error) from None
    _check_size(str(path), width, height, "Image file ")
    _check_png_checksums(path)
    return height, width


def _check_size(label: str, width: int, height: int, kind: str = "") -> None:
    if width == 0 or height == 0:
        raise ImageReadError(f"{kind}{label!r} has no pixels (width {width}, height {height}).")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageReadError(f"{kind}{label!r} is {width}x{height} pixels: too small, images need at least {MIN_IMAGE_SIDE} pixels per side.")


def _check_png_checksums(path: Path) -> None:
    """A PNG's chunk checksums (CRC-32), which PIL does not verify for the pixel data: ImageReadError naming the
    first damaged chunk. Other formats pass unread."""
    import zlib

    with open(path, "rb") as handle:
        if handle.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:
            return
        while header := handle.read(8):
            if len(header) < 8:
                break  # trailing bytes after IEND: PIL's business
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            data, stored = handle.read(length), handle.read(4)
            if len(data) < length or len(stored) < 4:
                raise ImageReadError(f"Image file {str(path)!r} is corrupt or truncated: PNG chunk {kind.decode('latin-1')!r} is cut short.")
            if zlib.crc32(data, zlib.crc32(kind)) != int.from_bytes(stored, "big"):
                raise ImageReadError(f"Image file {str(path)!r} is corrupt: PNG chunk {kind.decode('latin-1')!r} fails its CRC check.")
            if kind == b"IEND":
                break


def read_focal_length_35mm(path) -> float | None:
    """The EXIF 35 mm-equivalent focal length of an image file in mm (None when absent), without decoding pixels."""
    try:
        with Image.open(path) as pil_image:
            return _exif_focal_length_35mm(pil_image)
    except (OSError, SyntaxError, ValueError, EOFError):  # unreadable files are reported by check_image_file/load_image
        return None


def _check_file(path: Path) -> None:
    label = str(path)
    if not path.exists():
        raise ImageReadError(f"Image file {label!r} does not exist.")
    if path.is_dir():
        raise ImageReadError(f"{label!r} is a folder, not an image file.")
    if not path.is_file():  # opening a FIFO would wait for a writer, a device could be read forever
        raise ImageReadError(f"{label!r} is not a regular file (a FIFO, socket or device), not an image file.")
    if path.stat().st_size == 0:
        raise ImageReadError(f"Image file {label!r} is empty (0 bytes).")


def _read_error(path: Path, error: Exception) -> Exception:
    """An exception raised while opening or decoding `path` -> the ImageReadError to show the user."""
    label = str(path)
    if isinstance(error, ImageReadError):
        return error
    if isinstance(error, Image.DecompressionBombError):
        return ImageReadError(
            f"Image file {label!r} is too large to decode safely ({error}); shrink it first, e.g. to at most "
            f"{DEFAULT_MAX_PIXELS // 1_000_000} megapixels."
        )
    if isinstance(error, UnidentifiedImageError):
        try:
            with open(path, "rb") as handle:
                start = handle.read(8)
        except OSError:
            start = b""
        format_name = next((name for signature, name in _SIGNATURES.items() if start.startswith(signature)), None)
        if format_name is not None:
            return ImageReadError(f"Image file {label!r} is corrupt: it starts as a {format_name} file but cannot be decoded.")
        return ImageReadError(f"{label!r} is not an image file PIL can read (unknown or unsupported format).")
    if isinstance(error, (OSError, SyntaxError, ValueError, EOFError)):
        return ImageReadError(f"Image file {label!r} is corrupt or truncated: {error}.")
    return error


def _load_image_file(path: Path, max_pixels: int | None) -> LoadedImage:
    label = str(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            # We check the size ourselves below; PIL's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as pil_image:
                width, height = pil_image.size
                _check_size(label, width, height, "Image file ")
                if max_pixels is not None and pil_image.format == "JPEG" and width * height > max_pixels:
                    # Decode at 1/2, 1/4 or 1/8 scale directly, never holding the full-size pixels.
                    shrink = math.sqrt(width * height / max_pixels)
                    pil_image.draft("RGB", (math.ceil(width / shrink), math.ceil(height / shrink)))
                pil_image.load()
                return _finish(pil_image, (height, width), max_pixels, label, oriented=False)
    except Exception as error:
        converted = _read_error(path, error)
        if converted is error:
            raise
        raise converted from None


def _finish(pil_image: Image.Image, original_size, max_pixels, label: str, oriented: bool = True) -> LoadedImage:
    focal_length_35mm = _exif_focal_length_35mm(pil_image)
    if not oriented:
        # EXIF orientation: a portrait photo stored sideways. The original size is the displayed one.
        transposed = ImageOps.exif_transpose(pil_image)
        if transposed is not None and transposed.size != pil_image.size:
            original_size = original_size[::-1]
        pil_image = transposed if transposed is not None else pil_image
    pil_image = _to_rgb(pil_image)
    height, width = original_size
    if max_pixels is not None and pil_image.width * pil_image.height > max_pixels:
        shrink = math.sqrt(pil_image.width * pil_image.height / max_pixels)
        target = (max(1, int(pil_image.width / shrink)), max(1, int(pil_image.height / shrink)))
        pil_image = pil_image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    scale = width / pil_image.width
    return LoadedImage(pixels=np.array(pil_image, dtype=np.uint8), original_size=(height, width), scale=scale, name=label,
                       focal_length_35mm=focal_length_35mm)  # fmt: skip


def _exif_focal_length_35mm(pil_image: Image.Image) -> float | None:
    """FocalLengthIn35mmFilm (EXIF tag 0xA405, in the Exif sub-IFD or, as some writers put it, the main IFD) in mm."""
    try:
        exif = pil_image.getexif()
        value = exif.get_ifd(_EXIF_IFD).get(_FOCAL_LENGTH_IN_35MM_FILM, exif.get(_FOCAL_LENGTH_IN_35MM_FILM))
        value = float(value) if value is not None else None
    except Exception:  # noqa: BLE001 - unreadable metadata must not stop the image from loading
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def _to_rgb(pil_image: Image.Image) -> Image.Image:
    """Any PIL mode -> "RGB" (alpha composited onto white, 16-bit scaled to 8-bit)."""
    if pil_image.mode == "RGB":
        return pil_image
    if pil_image.mode in _SIXTEEN_BIT_MODES:
        # convert("L") would clip 16-bit values at 255 instead of scaling them.
        array = np.asarray(pil_image).astype(np.float64) * (255 / 65535)
        return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8)).convert("RGB")
    if pil_image.mode == "F":
        return Image.fromarray(_array_to_uint8_rgb(np.asarray(pil_image), "image"))
    if "A" in pil_image.getbands() or pil_image.info.get("transparency") is not None:
        rgba = pil_image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return pil_image.convert("RGB")


def _array_to_uint8_rgb(image, label: str) -> np.ndarray:
    """(H, W), (H, W, C) or tensor (C, H, W) array of uint8/uint16/float -> (H, W, 3) uint8."""
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu()
        array = (array.float() if array.is_floating_point() else array).numpy()
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
            array = np.moveaxis(array, 0, -1)
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise ImageReadError(f"{label} must be a file path, PIL image, NumPy array or torch tensor, got {type(image).__name__}.")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ImageReadError(f"{label} must have shape (H, W) or (H, W, C) with C in 1-4 channels, got {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageReadError(f"{label} has no pixels (shape {array.shape}).")
    if array.dtype == np.uint8:
        values = array.astype(np.float32)
    elif array.dtype == np.uint16:
        values = array.astype(np.float32) * np.float32(255 / 65535)
    elif np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageReadError(f"{label} contains NaN or infinite values.")
        if values.max(initial=0.0) <= 1.0:  # a [0, 1] float image
            values = values * 255
    else:
        raise ImageReadError(f"{label} has unsupported dtype {array.dtype}; expected uint8, uint16 or float.")
    if values.shape[2] in (2, 4):  # alpha onto white
        alpha = values[:, :, -1:] / 255
        values = values[:, :, :-1] * alpha + 255 * (1 - alpha)
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


__all__ = ["DEFAULT_MAX_PIXELS", "MIN_IMAGE_SIDE", "ImageReadError", "LoadedImage", "check_image_file", "image_file_extensions", "load_image", "read_focal_length_35mm"]

"""The COCO-style annotation files the parsed EHF, 3DPW and AGORA releases share: ``images`` + ``annotations``."""

import json
from pathlib import Path


def read_coco_annotations(path: Path, title: str, image_keys: tuple = ()) -> tuple:
    """(annotations, {image id: image entry}) of the COCO-style file `path`; one ``ValueError`` naming the file when
    it is not JSON, lacks ``images`` / ``annotations``, has an image without one of `image_keys`, or an annotation
    names no image of the file. `title` names the benchmark in the message."""
    wanted = set(image_keys)
    try:
        content = json.loads(Path(path).read_text())
        images = {image["id"]: image for image in content["images"]}
        annotations = list(content["annotations"])
        if not all(isinstance(image, dict) and wanted <= set(image) for image in images.values()):
            raise KeyError(f"an image without {' or '.join(map(repr, image_keys))}")
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as error:
        described = f"images with {', '.join(image_keys)}" if image_keys else "images"
        raise ValueError(f"{str(path)!r} is not a {title} annotation file ({described}, annotations) ({error}).") from error
    for annotation in annotations:
        if annotation.get("image_id") not in images:
            raise ValueError(f"{str(path)!r}: annotation {annotation.get('id')!r} names no image of the file.")
    return annotations, images


__all__ = ["read_coco_annotations"]

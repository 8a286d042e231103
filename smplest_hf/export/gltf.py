"""A minimal glTF 2.0 binary (.glb) writer for triangle meshes: no dependency beyond NumPy.

Axis change. Our meshes live in the OpenCV camera frame (x right, y down, z forward into the scene); glTF is
y up with cameras looking along -z. The two differ by a rotation of 180 degrees about x:

    (x, y, z)_glTF = OPENCV_TO_GLTF @ (x, y, z)_OpenCV,    OPENCV_TO_GLTF = diag(1, -1, -1)

It is a proper rotation (determinant +1), so triangle winding and handedness are unchanged, and the OpenCV
camera becomes a glTF camera at the origin with the default orientation. Vertex positions are written already
rotated (no node transform), so every viewer shows the same coordinates.

File layout (glTF 2.0 spec, "GLB File Format Specification"): 12-byte header (magic "glTF", version 2, total
length), a JSON chunk padded with spaces to 4 bytes, and a BIN chunk padded with zeros to 4 bytes. Each mesh is
one triangle primitive with POSITION (float32, with the required min/max), NORMAL (float32, unit, area-weighted)
and uint32 indices; people sharing the same faces array share one index accessor.

```python
>>> import numpy as np
>>> from smplest_hf.export.gltf import glb_bytes
>>> vertices = np.array([[0, 0, 2], [1, 0, 2], [0, 1, 2]], dtype=np.float32)   # OpenCV camera frame
>>> data = glb_bytes([vertices], np.array([[0, 2, 1]]))
>>> data[:4], len(data) % 4
(b'glTF', 0)

```
"""

import json
import math
import struct

import numpy as np

OPENCV_TO_GLTF = np.diag([1.0, -1.0, -1.0])
"""Rotation from the OpenCV camera frame (x right, y down, z forward) to glTF's (y up, camera looking down -z)."""

_GLB_MAGIC = b"glTF"
_JSON_CHUNK = 0x4E4F534A  # "JSON"
_BIN_CHUNK = 0x004E4942  # "BIN\0"
_FLOAT, _UNSIGNED_INT = 5126, 5125  # accessor componentType
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963  # bufferView target
_TRIANGLES = 4


def opencv_to_gltf(points) -> np.ndarray:
    """(..., 3) OpenCV camera-frame points -> glTF axes (y and z negated)."""
    return np.asarray(points, dtype=np.float64) @ OPENCV_TO_GLTF.T


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals of a counter-clockwise mesh ((0, 0, 1) for unused vertices)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])  # length = 2 * area
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 0, normals / np.where(length > 0, length, 1), np.array([0.0, 0.0, 1.0]))


class _BinaryBuffer:
    """Accumulates 4-byte-aligned buffer views and their accessors."""

    def __init__(self):
        self.parts, self.length = [], 0
        self.buffer_views, self.accessors = [], []

    def add(self, array: np.ndarray, accessor_type: str, component_type: int, target: int | None, with_bounds: bool = False) -> int:
        """Append `array` as a buffer view and an accessor; `target` None for data that is not a vertex attribute
        or index list (animation keyframes, inverse bind matrices). Returns the accessor index."""
        data = np.ascontiguousarray(array).tobytes()
        view = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.buffer_views.append(view)
        padding = (-len(data)) % 4
        self.parts.append(data + b"\x00" * padding)
        self.length += len(data) + padding
        accessor = {
            "bufferView": len(self.buffer_views) - 1,
            "componentType": component_type,
            "count": int(array.shape[0] if accessor_type != "SCALAR" else array.size),
            "type": accessor_type,
        }
        if with_bounds:  # POSITION accessors and animation times must carry min and max
            accessor["min"] = [float(v) for v in np.atleast_1d(array.min(axis=0))]
            accessor["max"] = [float(v) for v in np.atleast_1d(array.max(axis=0))]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def glb_bytes(
    meshes: list,
    faces,
    names: list[str] | None = None,
    colors=None,
    camera: dict | None = None,
    convert_axes: bool = True,
) -> bytes:
    """Meshes -> the bytes of a .glb file with one node per mesh (and an optional perspective camera).

    Args:
        meshes: list of (V_i, 3) vertex arrays (OpenCV camera frame unless `convert_axes=False`).
        faces: (F, 3) integer triangles shared by all meshes, or a list of one (F_i, 3) array per mesh.
        names: node/mesh names (default "mesh_<i>").
        colors: (M, 3) RGB in [0, 1] per mesh (default light grey); written as unlit-ish PBR base colours.
        camera: optional {"yfov": radians, "aspect_ratio": width / height, "znear": metres} for a camera node at
            the origin looking down -z (glTF's default camera orientation = the OpenCV camera after conversion).
        convert_axes: apply `OPENCV_TO_GLTF` to the vertices (and normals).
    """
    shared_faces = not (isinstance(faces, (list, tuple)) and len(faces) and np.ndim(faces[0]) == 2)
    face_list = [np.asarray(faces)] * len(meshes) if shared_faces else [np.asarray(f) for f in faces]
    if len(face_list) != len(meshes):
        raise ValueError(f"Got {len(face_list)} face arrays for {len(meshes)} meshes.")
    names = names or [f"mesh_{index}" for index in range(len(meshes))]
    if colors is None:
        colors = np.full((len(meshes), 3), 0.75)
    colors = np.asarray(colors, dtype=np.float64).reshape(-1, 3)
    if len(names) != len(meshes) or len(colors) != len(meshes):
        raise ValueError(f"Got {len(names)} names and {len(colors)} colours for {len(meshes)} meshes.")

    binary = _BinaryBuffer()
    gltf = {"asset": {"version": "2.0", "generator": "smplest_hf"}, "scene": 0}
    nodes, gltf_meshes, materials = [], [], []
    shared_index_accessor = None
    for index, (vertices, mesh_faces) in enumerate(zip(meshes, face_list)):
        vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
        mesh_faces = np.asarray(mesh_faces).reshape(-1, 3)
        if mesh_faces.size and (mesh_faces.min() < 0 or mesh_faces.max() >= len(vertices)):
            raise ValueError(f"Faces of mesh {index} index vertices up to {int(mesh_faces.max())} but it has {len(vertices)}.")
        if not np.isfinite(vertices).all():
            raise ValueError(f"Mesh {index} has NaN or infinite vertex positions.")
        normals = vertex_normals(vertices, mesh_faces)
        if convert_axes:
            vertices, normals = opencv_to_gltf(vertices), opencv_to_gltf(normals)
        position = binary.add(vertices.astype(np.float32), "VEC3", _FLOAT, _ARRAY_BUFFER, with_bounds=True)
        normal = binary.add(normals.astype(np.float32), "VEC3", _FLOAT, _ARRAY_BUFFER)
        if shared_faces and shared_index_accessor is not None:
            indices = shared_index_accessor
        else:
            indices = binary.add(mesh_faces.astype(np.uint32).reshape(-1), "SCALAR", _UNSIGNED_INT, _ELEMENT_ARRAY_BUFFER)
            shared_index_accessor = indices if shared_faces else None
        materials.append({
            "name": f"{names[index]}_material",
            "pbrMetallicRoughness": {"baseColorFactor": [*map(float, colors[index]), 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.8},
            "doubleSided": True,
        })  # fmt: skip
        gltf_meshes.append({
            "name": names[index],
            "primitives": [{"attributes": {"POSITION": position, "NORMAL": normal}, "indices": indices,
                            "material": index, "mode": _TRIANGLES}],
        })  # fmt: skip
        nodes.append({"name": names[index], "mesh": index})
    if camera is not None:
        perspective = {"yfov": float(camera["yfov"]), "znear": float(camera.get("znear", 0.01))}
        if camera.get("aspect_ratio"):
            perspective["aspectRatio"] = float(camera["aspect_ratio"])
        gltf["cameras"] = [{"name": "camera", "type": "perspective", "perspective": perspective}]
        nodes.append({"name": "camera", "camera": 0})
    gltf["scenes"] = [{"name": "scene", "nodes": list(range(len(nodes)))}]
    # Empty arrays are not allowed by the spec: leave out what a scene without people does not have.
    for key, value in (("nodes", nodes), ("meshes", gltf_meshes), ("materials", materials),
                       ("accessors", binary.accessors), ("bufferViews", binary.buffer_views)):  # fmt: skip
        if value:
            gltf[key] = value
    if binary.length:
        gltf["buffers"] = [{"byteLength": binary.length}]
    return _pack_glb(gltf, b"".join(binary.parts))


def camera_from_intrinsics(focal_length, image_size, znear: float = 0.01) -> dict:
    """A glTF perspective camera for pixel focal lengths `(fx, fy)` and `image_size` `(height, width)`.

    glTF has no principal point: the camera is centred, so it matches the image only when the principal point
    is at the image centre.
    """
    fx, fy = (float(v) for v in focal_length)
    height, width = (float(v) for v in image_size)
    return {"yfov": 2 * math.atan(height / (2 * fy)), "aspect_ratio": (width / fx) / (height / fy), "znear": znear}


def _pack_glb(gltf: dict, binary: bytes) -> bytes:
    json_bytes = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    json_bytes += b" " * ((-len(json_bytes)) % 4)
    chunks = struct.pack("<II", len(json_bytes), _JSON_CHUNK) + json_bytes
    if binary:
        binary += b"\x00" * ((-len(binary)) % 4)
        chunks += struct.pack("<II", len(binary), _BIN_CHUNK) + binary
    return _GLB_MAGIC + struct.pack("<II", 2, 12 + len(chunks)) + chunks


__all__ = ["OPENCV_TO_GLTF", "camera_from_intrinsics", "glb_bytes", "opencv_to_gltf", "vertex_normals"]

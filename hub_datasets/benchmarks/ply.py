"""Just enough PLY for benchmark meshes: read the vertex positions, write a triangle mesh.

Reads ``format ascii 1.0`` and ``format binary_little_endian 1.0`` files (what scanners and ``plyfile`` /
``trimesh`` write), taking ``x, y, z`` of the ``vertex`` element whatever other properties it has (normals,
colours). Elements before ``vertex`` are skipped when their size is known (ASCII always, binary when they hold
no lists); everything after it (faces) is ignored.

>>> write_ply("mesh.ply", vertices, faces)          # doctest: +SKIP
>>> read_ply_vertices("mesh.ply").shape             # doctest: +SKIP
(10475, 3)
"""

from pathlib import Path

import numpy as np


_SCALAR_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}  # fmt: skip
_FORMATS = ("ascii", "binary_little_endian")


class PlyError(ValueError):
    """A file that is not a PLY this reader understands; the message names it."""


def _read_header(file, path: Path) -> tuple:
    """(format, [(element, count, [(property, numpy type or None for a list)])]) from an open binary file."""
    if file.readline().strip() != b"ply":
        raise PlyError(f"{str(path)!r} is not a PLY file (it does not start with 'ply').")
    file_format, elements = None, []
    while True:
        line = file.readline()
        if not line:
            raise PlyError(f"{str(path)!r}: the PLY header has no 'end_header'.")
        words = line.decode("ascii", errors="replace").split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            return file_format, elements
        try:
            if words[0] == "format":
                file_format = words[1]
                if file_format not in _FORMATS:
                    raise PlyError(f"{str(path)!r}: PLY format {file_format!r} is not supported (only {_FORMATS}).")
            elif words[0] == "element":
                elements.append((words[1], int(words[2]), []))
            elif words[0] == "property":
                is_list = words[1] == "list"
                dtype = None if is_list else _SCALAR_TYPES[words[1]]
                elements[-1][2].append((words[-1], dtype))
        except (IndexError, KeyError, ValueError) as error:
            if isinstance(error, PlyError):
                raise
            raise PlyError(f"{str(path)!r}: malformed PLY header line {line.strip()!r}.") from error


def read_ply_vertices(path) -> np.ndarray:
    """(V, 3) float32 ``x, y, z`` of the PLY file's vertices (as stored, no transformation)."""
    path = Path(path)
    with open(path, "rb") as file:
        file_format, elements = _read_header(file, path)
        if file_format is None:
            raise PlyError(f"{str(path)!r}: the PLY header has no 'format' line.")
        for name, count, properties in elements:
            names = [property_name for property_name, _ in properties]
            has_lists = any(dtype is None for _, dtype in properties)
            if name != "vertex":
                if file_format == "ascii":
                    for _ in range(count):
                        file.readline()
                elif has_lists:
                    raise PlyError(f"{str(path)!r}: binary element {name!r} with lists before 'vertex' is not supported.")
                else:
                    file.seek(count * np.dtype([(n, "<" + t) for n, t in properties]).itemsize, 1)
                continue
            if not {"x", "y", "z"} <= set(names) or has_lists:
                raise PlyError(f"{str(path)!r}: the vertex element needs scalar x, y, z properties, it has {names}.")
            if file_format == "ascii":
                lines = [file.readline() for _ in range(count)]
                try:
                    table = np.array([line.split()[: len(names)] for line in lines], dtype=np.float64)
                except ValueError as error:
                    raise PlyError(f"{str(path)!r}: malformed ASCII vertex data ({error}).") from error
                if table.shape != (count, len(names)):
                    raise PlyError(f"{str(path)!r}: expected {count} vertex lines of {len(names)} values.")
                columns = [table[:, names.index(axis)] for axis in "xyz"]
            else:
                dtype = np.dtype([(n, "<" + t) for n, t in properties])
                data = file.read(count * dtype.itemsize)
                if len(data) != count * dtype.itemsize:
                    raise PlyError(f"{str(path)!r}: the file ends inside its {count} vertices.")
                table = np.frombuffer(data, dtype=dtype, count=count)
                columns = [table[axis] for axis in "xyz"]
            return np.stack(columns, axis=1).astype(np.float32)
    raise PlyError(f"{str(path)!r} has no 'vertex' element.")


def write_ply(path, vertices: np.ndarray, faces: np.ndarray = None) -> None:
    """Write a binary little-endian PLY: ``vertices`` (V, 3) as float x, y, z, ``faces`` (F, 3) as
    ``vertex_indices`` lists (uchar count, int indices)."""
    vertices = np.ascontiguousarray(vertices, dtype="<f4")
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(vertices)}",
              "property float x", "property float y", "property float z"]  # fmt: skip
    body = vertices.tobytes()
    if faces is not None:
        faces = np.asarray(faces)
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
        records = np.empty(len(faces), dtype=[("count", "u1"), ("indices", "<i4", (3,))])
        records["count"], records["indices"] = 3, faces
        body += records.tobytes()
    Path(path).write_bytes(("\n".join(header + ["end_header"]) + "\n").encode("ascii") + body)


__all__ = ["PlyError", "read_ply_vertices", "write_ply"]

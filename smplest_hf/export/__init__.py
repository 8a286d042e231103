"""Results to files: atomic writes and run staging, SMPL-X parameters, meshes, glTF scenes and animations,
and the triangle rasteriser that draws overlays."""

"""BodyNet space (camera <-> grid), voxelizer, rasterizer, isosurfaces."""

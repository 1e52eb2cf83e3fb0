"""Pictures for people: skeletons, overlays, voxel projections, panels."""

"""Fitting the body model to voxel grids and joints."""

"""SMPL-format body models: data records, safe loaders, skinning, parts, the open model, poses."""

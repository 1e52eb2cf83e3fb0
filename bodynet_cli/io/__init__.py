"""File schemas of docs/formats.md (read, validate, write), bit-packing, atomic writes, images."""

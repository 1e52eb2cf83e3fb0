"""File schemas of SPEC section 4 (read, validate, write), bit-packing, atomic writes, images."""

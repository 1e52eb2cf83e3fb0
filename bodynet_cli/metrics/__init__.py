"""The paper's metrics (voxel IoU, part IoU, segmentation mIoU, PCKh, joint and surface errors) and the real-photo
measures (photos.py)."""

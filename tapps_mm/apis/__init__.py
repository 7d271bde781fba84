"""High-level entry points: inference on one's own images."""
from tapps_mm.apis.inference import infer_images, init_pps_model, list_images, segments_of

__all__ = ['infer_images', 'init_pps_model', 'list_images', 'segments_of']

"""Numpy-only helpers shared by the model post-processing (no torch imports here)."""
from tapps_mm.models.utils.pps_merging import merge_objects_and_parts

__all__ = ['merge_objects_and_parts']

"""Helpers of the models that need no torch: the official merging, class counts from the spec."""
from tapps_mm.models.utils.pps_merging import merge_objects_and_parts
from tapps_mm.models.utils.spec_classes import mask2former_class_args, spec_class_counts, with_class_weight

__all__ = ['mask2former_class_args', 'merge_objects_and_parts', 'spec_class_counts', 'with_class_weight']

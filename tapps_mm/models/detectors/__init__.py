from tapps_mm.models.detectors.part_aware_mask2former import PartAwareMask2Former

__all__ = ['PartAwareMask2Former']

from tapps_mm.models.detectors.tapps import TAPPS, SeparatePartsBaseline

__all__ = ['TAPPS', 'SeparatePartsBaseline']

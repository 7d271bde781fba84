from tapps_mm.models.detectors.tapps import TAPPS

__all__ = ['TAPPS']

from tapps_mm.datasets.transforms.formatting import PackPPSInputs
from tapps_mm.datasets.transforms.loading import LoadPPSAnnotations

__all__ = ['LoadPPSAnnotations', 'PackPPSInputs']

from tapps_mm.datasets.transforms.augmentation import (
                                                       FixedSizeCrop,
                                                       PILResize,
                                                       PILResizeShortestEdge,
                                                       ResizeScale,
                                                       SSDPhotoMetricDistortion,
)
from tapps_mm.datasets.transforms.formatting import PackPPSInputs
from tapps_mm.datasets.transforms.loading import LoadPPSAnnotations

__all__ = ['FixedSizeCrop', 'LoadPPSAnnotations', 'PackPPSInputs', 'PILResize', 'PILResizeShortestEdge', 'ResizeScale',
           'SSDPhotoMetricDistortion']

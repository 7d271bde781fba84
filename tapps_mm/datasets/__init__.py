from tapps_mm.datasets.pps_dataset import (
    CityscapesPPSDataset,
    PascalPP107Dataset,
    PascalPPSDataset,
    PPSDataset,
    SyntheticPPSDataset,
    pps_metainfo,
)
from tapps_mm.datasets.transforms import LoadPPSAnnotations, PackPPSInputs

__all__ = ['PPSDataset', 'SyntheticPPSDataset', 'CityscapesPPSDataset', 'PascalPPSDataset', 'PascalPP107Dataset',
           'pps_metainfo', 'LoadPPSAnnotations', 'PackPPSInputs']

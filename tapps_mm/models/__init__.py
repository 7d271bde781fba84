from tapps_mm.models.data_preprocessors import PPSDataPreprocessor
from tapps_mm.models.dense_heads import JOPSDynamicPartHead, JOPSHead
from tapps_mm.models.detectors import PartAwareMask2Former
from tapps_mm.models.layers import DynamicPartQueryGenerator, PartQueryGenerator
from tapps_mm.models.seg_heads import PPSFusionHead

__all__ = ['PPSDataPreprocessor', 'JOPSHead', 'JOPSDynamicPartHead', 'PartAwareMask2Former', 'PartQueryGenerator',
           'DynamicPartQueryGenerator', 'PPSFusionHead']

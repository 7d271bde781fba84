from tapps_mm.models.dense_heads.jops_dynamic_head import JOPSDynamicPartHead
from tapps_mm.models.dense_heads.jops_head import JOPSHead
from tapps_mm.models.dense_heads.mask2former_pps_head import Mask2FormerPPSHead
from tapps_mm.models.dense_heads.separate_parts_head import SeparatePartQueriesHead

__all__ = ['JOPSHead', 'JOPSDynamicPartHead', 'Mask2FormerPPSHead', 'SeparatePartQueriesHead']

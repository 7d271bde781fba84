from tapps_mm.models.dense_heads.jops_dynamic_head import JOPSDynamicPartHead
from tapps_mm.models.dense_heads.jops_head import JOPSHead

__all__ = ['JOPSHead', 'JOPSDynamicPartHead']

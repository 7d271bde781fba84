from tapps_mm.models.seg_heads.pps_fusion_head import PPSFusionHead

__all__ = ['PPSFusionHead']

from tapps_mm.models.seg_heads.pps_fusion_head import PartMergeFusionHead, PPSFusionHead

__all__ = ['PPSFusionHead', 'PartMergeFusionHead']

"""Checkpoints from elsewhere into ours: the official TAPPS models and Mask2Former COCO-panoptic weights."""
from tapps_mm.converters.checkpoints import ConversionError, ConversionReport, convert_state_dict, load_detectron2_state
from tapps_mm.converters.key_rules import MASK2FORMER_R50, KeyRules
from tapps_mm.converters.mask2former_init_hook import Mask2FormerInitHook
from tapps_mm.converters.tapps_d2 import OFFICIAL_CHECKPOINTS, convert_coco_init, convert_tapps

__all__ = ['ConversionError', 'ConversionReport', 'KeyRules', 'MASK2FORMER_R50', 'Mask2FormerInitHook',
           'OFFICIAL_CHECKPOINTS', 'convert_coco_init', 'convert_state_dict', 'convert_tapps', 'load_detectron2_state']

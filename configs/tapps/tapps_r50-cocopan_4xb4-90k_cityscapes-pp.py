# TAPPS, R-50, COCO-panoptic init (Mask2Former), Cityscapes-PP (Tables 1b, 2; official ..._r50_cocoinit).
_base_ = './tapps_r50_4xb4-90k_cityscapes-pp.py'
# Mask2Former's own COCO-panoptic R-50 (detectron2 file, the official config's MODEL.WEIGHTS; how to get it and
# mmdet's retrained one instead: configs/tapps/README.md#coco-panoptic-initialisation)
load_from = 'checkpoints/maskformer2_R50_bs16_50ep/model_final_94dc52.pkl'
custom_hooks = [*_base_.custom_hooks, dict(type='Mask2FormerInitHook')]  # converts the .pkl on load
model = dict(backbone=dict(init_cfg=None))  # every shared weight comes from load_from

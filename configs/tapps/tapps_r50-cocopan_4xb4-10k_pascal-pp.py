# TAPPS, R-50, COCO-panoptic init, Pascal-PP (Tables 1a, 2, 3, 4 '2-layer MLP', 7 'fixed';
# official tapps_pascal_r50_cocoinit): the COCO-initialised runs train 10k iterations.
_base_ = './tapps_r50_4xb4-60k_pascal-pp.py'
# Mask2Former's own COCO-panoptic R-50 (detectron2 file, the official config's MODEL.WEIGHTS; how to get it and
# mmdet's retrained one instead: configs/tapps/README.md#coco-panoptic-initialisation)
load_from = 'checkpoints/maskformer2_R50_bs16_50ep/model_final_94dc52.pkl'
custom_hooks = [*_base_.custom_hooks, dict(type='Mask2FormerInitHook')]  # converts the .pkl on load
model = dict(backbone=dict(init_cfg=None))
max_iters = 10000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)

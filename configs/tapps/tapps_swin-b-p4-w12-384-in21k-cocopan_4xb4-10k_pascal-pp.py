# TAPPS, Swin-B (IN-21k), COCO-panoptic init, Pascal-PP (Table 2; official tapps_pascal_swinb_cocoinit).
_base_ = [
    '../_base_/models/tapps_swin-b-p4-w12-384.py', '../_base_/datasets/pascal_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
# Mask2Former's own COCO-panoptic Swin-B IN-21k 384 (detectron2 file, the official config's MODEL.WEIGHTS; how to
# get it and mmdet's retrained one instead: configs/tapps/README.md#coco-panoptic-initialisation)
load_from = 'checkpoints/maskformer2_swin_base_IN21k_384_bs16_50ep/model_final_54b88a.pkl'
custom_hooks = [*_base_.custom_hooks, dict(type='Mask2FormerInitHook')]  # converts the .pkl on load
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.custom_keys}}))
model = dict(panoptic_head=dict(spec=_base_.spec), panoptic_fusion_head=dict(spec=_base_.spec),
             test_cfg=dict(object_mask_thr=0.5))
max_iters = 10000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)

# Mask2Former (objects only, predictions without parts), R-50, ImageNet init, Pascal-PP: the part-free
# counterpart of configs/tapps/tapps_r50_4xb4-60k_pascal-pp.py (tests/test_configs/test_all_configs.py: only the
# part branch
# differs), for PQ / PQ_Th / mIoU_Th without a part head. Not a row of the TAPPS paper.
_base_ = [
    '../_base_/models/mask2former_r50.py', '../_base_/datasets/pascal_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
model = dict(panoptic_head=dict(spec=_base_.spec), panoptic_fusion_head=dict(spec=_base_.spec),
             test_cfg=dict(object_mask_thr=0.5))
max_iters = 60000
train_cfg = dict(max_iters=max_iters)
param_scheduler = dict(end=max_iters)

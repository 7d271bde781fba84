# TAPPS, R-50, ImageNet init, Pascal-PP (Tables 1a, 2, 3, 5; official tapps_pascal_r50_in1kinit).
_base_ = [
    '../_base_/models/tapps_r50.py', '../_base_/datasets/pascal_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
model = dict(panoptic_head=dict(spec=_base_.spec), panoptic_fusion_head=dict(spec=_base_.spec),
             test_cfg=dict(object_mask_thr=0.5))
max_iters = 60000
train_cfg = dict(max_iters=max_iters)
param_scheduler = dict(end=max_iters)

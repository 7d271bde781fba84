# TAPPS, R-50, ImageNet init, Cityscapes-PP (Tables 1b, 2, 5; official tapps_cityscapes_r50_in1kinit).
_base_ = [
    '../_base_/models/tapps_r50.py', '../_base_/datasets/cityscapes_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
# official: SyncBN in the backbone for Cityscapes, every stage trained
model = dict(backbone=dict(norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False),
             panoptic_head=dict(spec=_base_.spec), panoptic_fusion_head=dict(spec=_base_.spec))

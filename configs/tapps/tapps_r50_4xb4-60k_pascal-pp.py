# TAPPS, R-50, ImageNet init, Pascal-PP (Tables 1a, 2, 3, 5; official tapps_pascal_r50_in1kinit).
_base_ = [
    '../_base_/models/tapps_r50.py', '../_base_/datasets/pascal_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
num_things_classes = 20
num_stuff_classes = 39
num_classes = num_things_classes + num_stuff_classes
model = dict(
    panoptic_head=dict(spec='pascal', num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes,
                       loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(spec='pascal', num_things_classes=num_things_classes,
                              num_stuff_classes=num_stuff_classes),
    test_cfg=dict(object_mask_thr=0.5))
max_iters = 60000
train_cfg = dict(max_iters=max_iters)
param_scheduler = dict(end=max_iters)

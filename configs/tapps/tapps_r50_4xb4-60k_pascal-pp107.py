# TAPPS, R-50, ImageNet init, Pascal-PP-107 (Table 6; official tapps_pascal107_r50_in1kinit): the Pascal-PP
# files, pipelines and schedule, trained and scored with the 107-part definition.
_base_ = [
    '../_base_/models/tapps_r50.py', '../_base_/datasets/pascal_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
dataset_type = 'PascalPP107Dataset'
spec = 'pascal-107'
train_dataloader = dict(dataset=dict(type=dataset_type, spec=spec))
val_dataloader = dict(dataset=dict(type=dataset_type, spec=spec))
test_dataloader = val_dataloader
val_evaluator = dict(spec=spec)
test_evaluator = val_evaluator

num_things_classes = 20
num_stuff_classes = 39
num_classes = num_things_classes + num_stuff_classes
model = dict(
    panoptic_head=dict(spec=spec, num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes,
                       loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(spec=spec, num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes),
    test_cfg=dict(object_mask_thr=0.5))
max_iters = 60000
train_cfg = dict(max_iters=max_iters)
param_scheduler = dict(end=max_iters)

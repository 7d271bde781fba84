# TAPPS, Swin-B (IN-21k), COCO-panoptic init, Pascal-PP (Table 2; official tapps_pascal_swinb_cocoinit).
_base_ = [
    '../_base_/models/tapps_swin-b-p4-w12-384.py', '../_base_/datasets/pascal_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
load_from = 'https://download.openmmlab.com/mmdetection/v3.0/mask2former/mask2former_swin-b-p4-w12-384-in21k_8xb2-lsj-50e_coco-panoptic/mask2former_swin-b-p4-w12-384-in21k_8xb2-lsj-50e_coco-panoptic_20220329_230021-05ec7315.pth'  # noqa: E501
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.custom_keys}}))
model = dict(panoptic_head=dict(spec='pascal'), panoptic_fusion_head=dict(spec='pascal'),
             test_cfg=dict(object_mask_thr=0.5))
max_iters = 10000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)

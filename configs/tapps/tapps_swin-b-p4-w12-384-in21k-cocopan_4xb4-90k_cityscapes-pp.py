# TAPPS, Swin-B (IN-21k), COCO-panoptic init, Cityscapes-PP (Table 2; official tapps_cityscapes_swinb_cocoinit).
_base_ = [
    '../_base_/models/tapps_swin-b-p4-w12-384.py', '../_base_/datasets/cityscapes_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
# mmdet's COCO-panoptic Mask2Former Swin-B (IN-21k, 384, window 12): the official TAPPS's COCO init
load_from = 'https://download.openmmlab.com/mmdetection/v3.0/mask2former/mask2former_swin-b-p4-w12-384-in21k_8xb2-lsj-50e_coco-panoptic/mask2former_swin-b-p4-w12-384-in21k_8xb2-lsj-50e_coco-panoptic_20220329_230021-05ec7315.pth'  # noqa: E501
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.custom_keys}}))

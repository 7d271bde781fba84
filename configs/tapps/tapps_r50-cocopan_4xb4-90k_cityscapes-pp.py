# TAPPS, R-50, COCO-panoptic init (Mask2Former), Cityscapes-PP (Tables 1b, 2; official ..._r50_cocoinit).
_base_ = './tapps_r50_4xb4-90k_cityscapes-pp.py'
load_from = 'https://download.openmmlab.com/mmdetection/v3.0/mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic/mask2former_r50_8xb2-lsj-50e_coco-panoptic_20230118_125535-54df384a.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=None))  # every shared weight comes from load_from

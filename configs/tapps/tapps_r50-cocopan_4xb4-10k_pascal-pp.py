# TAPPS, R-50, COCO-panoptic init, Pascal-PP (Tables 1a, 2, 3, 4 '2-layer MLP', 7 'fixed';
# official tapps_pascal_r50_cocoinit): the COCO-initialised runs train 10k iterations.
_base_ = './tapps_r50_4xb4-60k_pascal-pp.py'
load_from = 'https://download.openmmlab.com/mmdetection/v3.0/mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic/mask2former_r50_8xb2-lsj-50e_coco-panoptic_20230118_125535-54df384a.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=None))
max_iters = 10000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)

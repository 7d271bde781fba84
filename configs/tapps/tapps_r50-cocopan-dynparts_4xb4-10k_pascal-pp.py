# Table 7 'dynamic part queries': per object, part queries that each predict a part class (or 'no part')
# and a mask (JOPSDynamicPartHead), instead of one fixed query per compatible part class.
_base_ = './tapps_r50_4xb4-60k_pascal-pp.py'
# COCO-panoptic init (as tapps_r50-cocopan_4xb4-10k_pascal-pp.py, kept one inheritance level up)
load_from = 'https://download.openmmlab.com/mmdetection/v3.0/mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic/mask2former_r50_8xb2-lsj-50e_coco-panoptic_20230118_125535-54df384a.pth'  # noqa: E501
model = dict(backbone=dict(init_cfg=None),
             panoptic_head=dict(type='JOPSDynamicPartHead', num_dynamic=10))
max_iters = 10000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)

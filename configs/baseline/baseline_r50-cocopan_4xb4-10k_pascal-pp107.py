# Baseline, R-50, COCO-panoptic init, Pascal-PP-107 (Table 6).
_base_ = '../tapps/tapps_r50_4xb4-60k_pascal-pp107.py'
load_from = 'https://download.openmmlab.com/mmdetection/v3.0/mask2former/mask2former_r50_8xb2-lsj-50e_coco-panoptic/mask2former_r50_8xb2-lsj-50e_coco-panoptic_20230118_125535-54df384a.pth'  # noqa: E501
model = dict(
    type='SeparatePartsBaseline',
    backbone=dict(init_cfg=None),
    panoptic_head=dict(type='SeparatePartQueriesHead', num_part_queries=100,
                       part_query=None, compatible_parts_train=None),  # TAPPS-only options of the inherited head
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))
max_iters = 10000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters)

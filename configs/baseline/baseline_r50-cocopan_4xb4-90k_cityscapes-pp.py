# Baseline, R-50, COCO-panoptic init, Cityscapes-PP (Table 1b).
_base_ = '../tapps/tapps_r50-cocopan_4xb4-90k_cityscapes-pp.py'
model = dict(
    panoptic_head=dict(type='SeparatePartQueriesHead', num_part_queries=100),
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))

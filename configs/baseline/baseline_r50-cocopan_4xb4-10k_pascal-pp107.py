# Baseline, R-50, COCO-panoptic init, Pascal-PP-107 (Table 6).
_base_ = '../tapps/tapps_r50-cocopan_4xb4-10k_pascal-pp107.py'
model = dict(
    panoptic_head=dict(type='SeparatePartQueriesHead', num_part_queries=100),
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))

# Baseline (separate part queries + official merging), R-50, ImageNet init, Pascal-PP (Tables 1a, 3, 5).
_base_ = '../tapps/tapps_r50_4xb4-60k_pascal-pp.py'
model = dict(
    panoptic_head=dict(type='SeparatePartQueriesHead', num_part_queries=100),
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))

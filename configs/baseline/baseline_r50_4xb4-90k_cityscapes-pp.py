# Baseline (paper sec. 4): the TAPPS network with 100 separate part queries (part-level semantic
# segmentation), merged with the official rules; R-50, ImageNet init, Cityscapes-PP (Tables 1b, 5).
_base_ = '../tapps/tapps_r50_4xb4-90k_cityscapes-pp.py'
model = dict(
    panoptic_head=dict(type='SeparatePartQueriesHead', num_part_queries=100),
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))

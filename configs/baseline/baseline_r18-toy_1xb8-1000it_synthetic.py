# Toy scale: the paper's baseline (separate part queries + official merging) with the toy TAPPS settings.
# Design, history and every tried setting: docs/toy_benchmark.md.
_base_ = '../tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'

model = dict(
    panoptic_head=dict(
        type='SeparatePartQueriesHead',
        num_part_queries=30),  # as many as the toy's object queries (100 and 100 in the paper)
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))

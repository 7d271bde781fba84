# Toy benchmark v3-600it (docs/toy_benchmark.md): the baseline with the settings of its TAPPS namesake.
_base_ = './tapps_r18-toy-large-nowarmup-lr4e-4_1xb8-600it_synthetic.py'

model = dict(
    panoptic_head=dict(type='SeparatePartQueriesHead', num_part_queries=30),
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))

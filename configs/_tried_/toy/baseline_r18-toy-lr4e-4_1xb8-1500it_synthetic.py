# Toy benchmark v6-1500it (docs/toy_benchmark.md): the baseline with the settings of its TAPPS namesake.
_base_ = './tapps_r18-toy-lr4e-4_1xb8-1500it_synthetic.py'

model = dict(
    panoptic_head=dict(type='SeparatePartQueriesHead', num_part_queries=30),
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))

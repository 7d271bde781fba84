# Toy probe "schedule" (docs/toy_benchmark.md#pre-registered-probes): the baseline with the settings of its TAPPS
# namesake (2000 iterations).
_base_ = './tapps_r18-toy_1xb8-2000it_synthetic.py'

model = dict(
    panoptic_head=dict(type='SeparatePartQueriesHead', num_part_queries=30),
    panoptic_fusion_head=dict(type='PartMergeFusionHead'))

# Table 4 '1xFC': one fully-connected adaptation layer before the part-query generator.
_base_ = './tapps_r50-cocopan_4xb4-10k_pascal-pp.py'
model = dict(panoptic_head=dict(part_query=dict(num_adapt_layers=1)))

# Table 4 '3-layer MLP': a 3-layer MLP adaptation (the default is the 2-layer MLP).
_base_ = './tapps_r50-cocopan_4xb4-10k_pascal-pp.py'
model = dict(panoptic_head=dict(part_query=dict(num_adapt_layers=3)))

# Table 4 'none': part queries straight from the object queries (no adaptation layer).
_base_ = './tapps_r50-cocopan_4xb4-10k_pascal-pp.py'
model = dict(panoptic_head=dict(part_query=dict(num_adapt_layers=0)))

# Table 4 at toy scale, 'none': part queries straight from the object queries (no adaptation layer);
# the toy TAPPS has the default 2-layer MLP.
_base_ = './tapps_r18-toy_1xb8-1000it_synthetic.py'

model = dict(panoptic_head=dict(part_query=dict(num_adapt_layers=0)))

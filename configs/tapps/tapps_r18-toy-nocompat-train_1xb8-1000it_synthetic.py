# Table 3 at toy scale: the toy TAPPS without compatible-part selection at training (kept at test).
_base_ = './tapps_r18-toy_1xb8-1000it_synthetic.py'

model = dict(panoptic_head=dict(compatible_parts_train=False))

# Table 3 (ImageNet init): no compatible parts at training, compatible parts at test.
_base_ = './tapps_r50_4xb4-60k_pascal-pp.py'
model = dict(panoptic_head=dict(compatible_parts_train=False))

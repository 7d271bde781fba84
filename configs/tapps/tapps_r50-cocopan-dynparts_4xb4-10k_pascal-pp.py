# Table 7 'dynamic part queries': per object, part queries that each predict a part class (or 'no part')
# and a mask (JOPSDynamicPartHead), instead of one fixed query per compatible part class.
_base_ = './tapps_r50-cocopan_4xb4-10k_pascal-pp.py'
model = dict(panoptic_head=dict(type='JOPSDynamicPartHead', num_dynamic=10))

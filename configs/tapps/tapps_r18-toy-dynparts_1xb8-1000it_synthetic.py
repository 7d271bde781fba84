# Table 7 alternative at toy scale: the toy TAPPS with a dynamic part branch (JOPSDynamicPartHead) instead of
# one fixed FC per part class: per object, num_dynamic part queries that each predict a part class or
# 'no part' and a mask, Hungarian-matched to the object's parts. Everything else as the toy config.
_base_ = './tapps_r18-toy_1xb8-1000it_synthetic.py'

model = dict(panoptic_head=dict(type='JOPSDynamicPartHead', num_dynamic=10))

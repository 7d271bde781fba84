# Toy probe "loss balance" (docs/toy_benchmark.md#pre-registered-probes): the toy TAPPS with its part-loss weight
# (lambda_pt of Eq. 1) doubled; nothing else changed.
_base_ = '../../tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'

model = dict(panoptic_head=dict(lambda_pt=2.0))

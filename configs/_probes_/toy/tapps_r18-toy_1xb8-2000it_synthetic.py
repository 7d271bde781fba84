# Toy probe "schedule" (docs/toy_benchmark.md#pre-registered-probes): the toy TAPPS trained twice as long (2000
# iterations; the same warm-up, the poly decay stretched to the end); nothing else changed.
_base_ = '../../tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'

max_iters = 2000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0, power=0.9, by_epoch=False, begin=50, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)

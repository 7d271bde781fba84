# Toy benchmark v6-1500it (docs/toy_benchmark.md): v5 with 1500 iterations.
_base_ = './tapps_r18-toy-lr4e-4_1xb8-1000it_synthetic.py'

max_iters = 1500
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=0, power=0.9, by_epoch=False, begin=50, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)

# Toy benchmark v3-600it (docs/toy_benchmark.md): v2 with 600 iterations.
_base_ = './tapps_r18-toy-large-nowarmup-lr4e-4_1xb8-400it_synthetic.py'

max_iters = 600
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, by_epoch=False, begin=0, end=max_iters)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)

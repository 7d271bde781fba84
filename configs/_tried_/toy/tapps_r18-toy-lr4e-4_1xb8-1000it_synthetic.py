# Toy benchmark v5-1000it (docs/toy_benchmark.md): AdamW lr 4e-4 (8e-4 since v7).
_base_ = '../../tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'

optim_wrapper = dict(optimizer=dict(lr=0.0004))

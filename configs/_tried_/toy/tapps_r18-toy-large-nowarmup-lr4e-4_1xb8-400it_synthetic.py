# Toy benchmark v2-400it (docs/toy_benchmark.md): the larger model (before v4's speed levers), no warm-up, lr 4e-4.
_base_ = '../../tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'

model = dict(
    backbone=dict(base_channels=64),
    panoptic_head=dict(in_channels=[64, 128, 256, 512], pixel_decoder=dict(encoder=dict(num_layers=2)),
                       transformer_decoder=dict(num_layers=4)),
    train_cfg=dict(num_points=512))
train_dataloader = dict(num_workers=1, persistent_workers=True)

max_iters = 400
warmup_iters = 0
optim_wrapper = dict(optimizer=dict(lr=0.0004))
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, by_epoch=False, begin=0, end=max_iters)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)

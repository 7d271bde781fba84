# Toy scale: the plain Mask2Former (objects only, predictions without parts) on the synthetic benchmark dataset,
# trainable on 2 CPU cores in minutes (random init). The toy TAPPS (configs/tapps/) adds the JOPS head to it, the
# toy baseline (configs/baseline/) the separate part queries; the toy benchmark of tools/reproduce_tables.py
# trains those two for seeds 0-4 (benchmarks/toy.py).
# - data: 64x64 images, objects twice as large, cart parts painted like robot parts, 2000 train / 500 val images
# - model: half-width ResNet-18, 1 pixel-decoder and 3 decoder layers, 128 dims, 30 queries, 256 points per mask
# - training: batch 8 x 1000 iterations, AdamW lr 8e-4, 50-iteration warm-up then poly decay, in-process loading;
#   the official kernels and init (PIL's bilinear resize, Mask2Former's xavier-uniform decoder init)
# - evaluation: an EMA of the weights (momentum 0.01: about the last 100 iterations), once at the end
# Design, history and every tried setting: docs/toy_benchmark.md.
_base_ = [
    '../_base_/models/mask2former_r50.py', '../_base_/datasets/synthetic_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
dims = 128

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(depth=18, base_channels=32, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                  init_cfg=None),
    panoptic_head=dict(
        spec=_base_.spec,
        in_channels=[32, 64, 128, 256],
        feat_channels=dims,
        out_channels=dims,
        num_queries=30,
        pixel_decoder=dict(
            encoder=dict(
                num_layers=1,
                layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims, num_heads=4),
                               ffn_cfg=dict(embed_dims=dims, feedforward_channels=256))),
            positional_encoding=dict(num_feats=dims // 2)),
        positional_encoding=dict(num_feats=dims // 2),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims, num_heads=4),
                           cross_attn_cfg=dict(embed_dims=dims, num_heads=4),
                           ffn_cfg=dict(embed_dims=dims, feedforward_channels=512)))),
    panoptic_fusion_head=dict(spec=_base_.spec),
    train_cfg=dict(num_points=256),
    test_cfg=dict(object_mask_thr=0.5))

data_root = 'data/synthetic_pp-bench/'
# how the benchmark dataset is made (its one home: benchmarks/toy.py reads it here; a missing dataset names this
# command)
generator = dict(num_train=2000, num_val=500, size=(64, 64), seed=0, object_scale=2.0, twin_parts=True)
size = 64
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPPSAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=(size, size), ratio_range=(0.75, 1.5), keep_ratio=True, resize_type='PILResize'),
    dict(type='RandomCrop', crop_size=(size, size), crop_type='absolute', allow_negative_crop=True),
    dict(type='PackPPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(size, size), keep_ratio=True),
    dict(type='PackPPSInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,  # a speed lever
                        dataset=dict(data_root=data_root, generator=generator, pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, dataset=dict(data_root=data_root, generator=generator, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 1000
warmup_iters = 50
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=0.0008),  # fp32: AMP needs a GPU
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}), clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0, power=0.9, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=250, max_keep_ckpts=2))
custom_hooks = [dict(type='RNGStateHook'), dict(type='CheckpointMatchHook'), dict(type='PerImageStatsHook'),
                dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.01, update_buffers=True,
                     priority=49)]
randomness = dict(seed=0, deterministic=False)

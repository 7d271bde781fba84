# Toy scale: TAPPS on the synthetic dataset, trainable on 2 CPU cores in minutes (random init).
# A small ResNet-18, 2 pixel-decoder and 4 masked-attention decoder layers, 128 dims, 30 queries.
_base_ = [
    '../_base_/models/tapps_r50.py', '../_base_/datasets/synthetic_pps.py',
    '../_base_/schedules/schedule_90k.py', '../_base_/default_runtime.py'
]
num_things_classes = 3
num_stuff_classes = 3
num_classes = num_things_classes + num_stuff_classes
model_spec = 'synthetic'  # shipped copy of the synthetic dataset's spec: the model needs no data
dims = 128

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(depth=18, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, init_cfg=None),
    panoptic_head=dict(
        spec=model_spec,
        in_channels=[64, 128, 256, 512],
        feat_channels=dims,
        out_channels=dims,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=30,
        pixel_decoder=dict(
            encoder=dict(
                num_layers=2,
                layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims, num_heads=4),
                               ffn_cfg=dict(embed_dims=dims, feedforward_channels=256))),
            positional_encoding=dict(num_feats=dims // 2)),
        positional_encoding=dict(num_feats=dims // 2),
        transformer_decoder=dict(
            num_layers=4,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims, num_heads=4),
                           cross_attn_cfg=dict(embed_dims=dims, num_heads=4),
                           ffn_cfg=dict(embed_dims=dims, feedforward_channels=512))),
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(spec=model_spec, num_things_classes=num_things_classes,
                              num_stuff_classes=num_stuff_classes),
    train_cfg=dict(num_points=2048),
    test_cfg=dict(object_mask_thr=0.5))

max_iters = 1600
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr=0.0004),  # fp32: AMP needs a GPU
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}), clip_grad=dict(max_norm=1.0))
param_scheduler = dict(end=max_iters)
train_cfg = dict(max_iters=max_iters, val_interval=800)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=800, max_keep_ckpts=2))
randomness = dict(seed=0, deterministic=False)

# TAPPS solver (official): AdamW lr 1e-4, weight decay 0.05, poly decay (power 0.9), backbone lr x 0.1,
# gradient clipping (full model, L2 0.01), AMP; batch 16 (4 GPUs x 4). No weight decay on any norm layer (the
# backbone's too: NormDecayOptimWrapperConstructor) nor on the query / level embeddings. 90k iterations (Cityscapes-PP);
# Pascal-PP configs set 60k (ImageNet init) or 10k (COCO init). Without a GPU, tools/train.py trains in fp32.
max_iters = 90000
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    constructor='NormDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=0.0001, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'query_embed': embed_multi,
            'query_feat': embed_multi,
            'level_embed': embed_multi,
        },
        norm_decay_mult=0.0),
    clip_grad=dict(max_norm=0.01, norm_type=2))
param_scheduler = dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=max_iters, by_epoch=False)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=20000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=16)

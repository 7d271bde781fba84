# TAPPS with a Swin-B backbone (IN-21k, 384, window 12), as the official TAPPS's Swin-B configs; the rest
# of the model is tapps_r50.py. `custom_keys` are the optimizer groups Swin needs (configs use them with
# optim_wrapper = dict(paramwise_cfg=dict(custom_keys={{_base_.custom_keys}}))): backbone lr x 0.1 and no
# weight decay on its position embeddings (the official build_optimizer); its norms get none through the
# schedule's NormDecayOptimWrapperConstructor (detectron2's WEIGHT_DECAY_NORM).
_base_ = './tapps_r50.py'
depths = [2, 2, 18, 2]
model = dict(
    backbone=dict(
        _delete_=True, type='SwinTransformer', pretrain_img_size=384, embed_dims=128, depths=depths,
        num_heads=[4, 8, 16, 32], window_size=12, mlp_ratio=4, qkv_bias=True, qk_scale=None, drop_rate=0.0,
        attn_drop_rate=0.0, drop_path_rate=0.3, patch_norm=True, out_indices=(0, 1, 2, 3), with_cp=False,
        frozen_stages=-1, init_cfg=None),  # the paper's Swin-B runs start from COCO weights (load_from)
    panoptic_head=dict(in_channels=[128, 256, 512, 1024]))
backbone_no_decay = dict(lr_mult=0.1, decay_mult=0.0)
custom_keys = {
    'backbone': dict(lr_mult=0.1, decay_mult=1.0),
    'absolute_pos_embed': backbone_no_decay,
    'relative_position_bias_table': backbone_no_decay,
    'query_embed': dict(lr_mult=1.0, decay_mult=0.0),
    'query_feat': dict(lr_mult=1.0, decay_mult=0.0),
    'level_embed': dict(lr_mult=1.0, decay_mult=0.0),
}

# Toy probe "capacity" (docs/toy_benchmark.md#pre-registered-probes): the toy TAPPS at double width, i.e. the
# transformer's (queries, pixel decoder, decoder layers, mask features: 128 -> 256 dims, their feed-forward
# layers twice as wide, the same heads); the backbone, depths and everything else unchanged. The query width is the
# capacity TAPPS shares between an object and its parts.
_base_ = '../../tapps/tapps_r18-toy_1xb8-1000it_synthetic.py'
dims = 256

model = dict(
    panoptic_head=dict(
        feat_channels=dims,
        out_channels=dims,
        pixel_decoder=dict(
            encoder=dict(layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims),
                                        ffn_cfg=dict(embed_dims=dims, feedforward_channels=512))),
            positional_encoding=dict(num_feats=dims // 2)),
        positional_encoding=dict(num_feats=dims // 2),
        transformer_decoder=dict(
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims), cross_attn_cfg=dict(embed_dims=dims),
                           ffn_cfg=dict(embed_dims=dims, feedforward_channels=1024)))))

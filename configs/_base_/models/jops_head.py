# What TAPPS adds to a Mask2Former PPS model, in one place: the JOPS head (loss weights of Eq. 1, the part-mask
# losses) and its inference (compatible parts only, a 'no part' score of 0.1). JOPSHead's defaults are the official
# part branch, 2-layer MLP part-query adaptation (part_query.num_adapt_layers=2) and compatible parts at training
# (compatible_parts_train=True): only the ablations of Tables 3 and 4 state them, so that the baseline, whose
# configs inherit the TAPPS ones, does not receive them. Used as `model = _base_.jops_model` by ./tapps_r50.py and
# the toy TAPPS config.
jops_model = dict(
    panoptic_head=dict(
        type='JOPSHead',
        lambda_obj=1.0,
        lambda_pt=1.0,
        loss_part_mask=dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=5.0),
        loss_part_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean', naive_dice=True,
                            eps=1.0, loss_weight=5.0)),
    panoptic_fusion_head=dict(
        compatible_parts_test=True,
        no_part_score=0.1))

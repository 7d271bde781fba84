# TAPPS (CVPR 2024): the Mask2Former of ./mask2former_r50.py with the JOPS head, the official hyper-parameters
# (tests/test_configs/test_all_configs.py checks that only the keys it lists differ). JOPSHead's defaults are the
# official part
# branch, 2-layer MLP part-query adaptation (part_query.num_adapt_layers=2) and compatible parts at training
# (compatible_parts_train=True): only the ablations of Tables 3 and 4 state them, so that the baseline, whose
# configs inherit the TAPPS ones, does not receive them. The loss weights of Eq. 1 and the part-mask losses
# are the baseline head's arguments too; at test, compatible parts only and a 'no part' score of 0.1.
_base_ = './mask2former_r50.py'

model = dict(
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

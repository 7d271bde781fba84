# Table 3 (ImageNet init): compatible parts neither at training nor at test - every matched parts-class
# object is supervised on all part classes, and all part classes compete at inference.
_base_ = './tapps_r50_4xb4-60k_pascal-pp.py'
model = dict(panoptic_head=dict(compatible_parts_train=False),
             panoptic_fusion_head=dict(compatible_parts_test=False))

# Table 3 (COCO-panoptic init): compatible parts neither at training nor at test.
_base_ = './tapps_r50-cocopan_4xb4-10k_pascal-pp.py'
model = dict(panoptic_head=dict(compatible_parts_train=False), panoptic_fusion_head=dict(compatible_parts_test=False))

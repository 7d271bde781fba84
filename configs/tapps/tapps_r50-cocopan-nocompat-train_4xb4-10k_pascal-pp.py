# Table 3 (COCO-panoptic init): no compatible parts at training, compatible parts at test.
_base_ = './tapps_r50-cocopan_4xb4-10k_pascal-pp.py'
model = dict(panoptic_head=dict(compatible_parts_train=False))

# TAPPS, R-50, ImageNet init, Pascal-PP-107 (Table 6; official tapps_pascal107_r50_in1kinit): the Pascal-PP
# files, pipelines and schedule, trained and scored with the 107-part definition.
_base_ = './tapps_r50_4xb4-60k_pascal-pp.py'
dataset_type = 'PascalPP107Dataset'
spec = 'pascal-107'
train_dataloader = dict(dataset=dict(type=dataset_type, spec=spec))
val_dataloader = dict(dataset=dict(type=dataset_type, spec=spec))
test_dataloader = val_dataloader
model = dict(panoptic_head=dict(spec=spec), panoptic_fusion_head=dict(spec=spec))

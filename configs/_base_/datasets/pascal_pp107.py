# Pascal-PP-107 (Table 6): the Pascal-PP files and pipelines, scored with the 107-part spec.
_base_ = './pascal_pps.py'
dataset_type = 'PascalPP107Dataset'
spec = 'pascal-107'
train_dataloader = dict(dataset=dict(type=dataset_type, spec=spec))
val_dataloader = dict(dataset=dict(type=dataset_type, spec=spec))
test_dataloader = val_dataloader
val_evaluator = dict(type='PartPQMetric', spec=spec)
test_evaluator = val_evaluator

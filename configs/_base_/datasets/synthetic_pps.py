# The synthetic dataset (tools/dataset_converters/make_synthetic_pp.py, 128x128 by default):
# Cityscapes-style augmentation at toy scale.
dataset_type = 'SyntheticPPSDataset'
data_root = 'data/synthetic_pp/'
# the spec's one home: the datasets take it, the model's heads too (the configs that add a model: _base_.spec),
# the metric and the visualiser from the dataset's metainfo. The shipped copy of the generator's spec (equal to
# the evalspec.yaml it writes beside the data, tested), so that building the model needs no data
spec = 'synthetic'
crop_size = (128, 128)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPPSAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.75, 1.5), keep_ratio=True, resize_type='PILResize'),
    dict(type='RandomCrop', crop_size=crop_size, crop_type='absolute', allow_negative_crop=True),
    dict(type='PackPPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='PackPPSInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', spec=spec, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', spec=spec, test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PartPQMetric')
test_evaluator = val_evaluator

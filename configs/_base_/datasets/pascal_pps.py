# Pascal-PP (paper sec. 4; the official Base-Pascal-PPS-LSJ.yaml and its mapper): random flip, large-scale jitter
# 0.1-2.0 of 1024x1024 (detectron2's ResizeScale, PIL's bilinear), a 1024x1024 crop placed by one uniform draw for
# both axes and padded to 1024x1024 (detectron2's FixedSizeCrop: image 128, labels void), so every training image
# is 1024x1024; test at shortest side 800 (longest at most 1333) with PIL's bilinear
# resize as detectron2. docs/fidelity.md lists every setting.
dataset_type = 'PascalPPSDataset'
data_root = 'data/pascal/'
# the spec's one home: the datasets take it, the model's heads too (the configs that add a model: _base_.spec),
# the metric and the visualiser from the dataset's metainfo
spec = 'pascal'
crop_size = (1024, 1024)  # (width, height)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPPSAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ResizeScale', min_scale=0.1, max_scale=2.0, target_size=crop_size),
    dict(type='FixedSizeCrop', crop_size=crop_size, pad_val=128, seg_pad_val=255),
    dict(type='PackPPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True, backend='pillow'),
    dict(type='PackPPSInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, split='training', spec=spec, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='validation', spec=spec, test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PartPQMetric')
test_evaluator = val_evaluator

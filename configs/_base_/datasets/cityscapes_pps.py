# Cityscapes-PP (paper sec. 4, official config): random flip, resize 0.5-2.0, crop 512x1024, SSD colour
# augmentation; test at 1024x2048.
dataset_type = 'CityscapesPPSDataset'
data_root = 'data/cityscapes/'
spec = 'cityscapes-grouped'  # the official TAPPS's eval spec (9 part classes)
crop_size = (512, 1024)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPPSAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, crop_type='absolute', allow_negative_crop=True),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackPPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='PackPPSInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', spec=spec, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', spec=spec, test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PartPQMetric', spec=spec)
test_evaluator = val_evaluator

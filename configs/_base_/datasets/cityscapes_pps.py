# Cityscapes-PP (paper sec. 4; the official Base-Cityscapes-PPS.yaml and its mapper): shortest side chosen from
# {512, 614, ..., 2048} (detectron2's ResizeShortestEdge 'choice', longest side at most 4096, PIL's bilinear:
# PILResizeShortestEdge), crop 512 high x 1024 wide (mmdet's RandomCrop reads crop_size as (width, height)),
# SSD colour augmentation (brightness +-32, contrast and saturation 0.5-1.5, hue +-18 inclusive, no channel
# swap: SSDPhotoMetricDistortion), random flip; test at shortest side 1024 (longest at most 2048) with PIL's
# bilinear resize as detectron2. docs/fidelity.md lists every setting and the test that runs it.
dataset_type = 'CityscapesPPSDataset'
data_root = 'data/cityscapes/'
# the spec's one home: the datasets take it, the model's heads too (the configs that add a model: _base_.spec),
# the metric and the visualiser from the dataset's metainfo
spec = 'cityscapes-grouped'  # the official TAPPS's eval spec (9 part classes)
crop_size = (1024, 512)  # (width, height), mmdet's order: the official (512, 1024) is (height, width)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPPSAnnotations'),
    dict(type='RandomChoiceResize', scales=[int(x * 0.1 * 1024) for x in range(5, 21)],
         resize_type='PILResizeShortestEdge', max_size=4096),
    dict(type='RandomCrop', crop_size=crop_size, crop_type='absolute', allow_negative_crop=True),
    dict(type='SSDPhotoMetricDistortion'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True, backend='pillow'),
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
val_evaluator = dict(type='PartPQMetric')
test_evaluator = val_evaluator

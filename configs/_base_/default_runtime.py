# Runtime shared by every TAPPS-MM config (mmdet 3.x conventions, iteration-based schedules).
default_scope = 'tapps_mm'
# mmengine's Runner with the project's changes as methods (tapps_mm/engine/runner.py): a checkpoint's config is
# never run on resume, failing checkpoints are named, distributed runs start over gloo without CUDA
runner_type = 'TappsRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # NumpyScalarLoggerHook: mmengine's LoggerHook, but a test run's <ts>/<ts>.json keeps integer metrics
    # (pps/num_images) as numbers, not null. log_metric_by_epoch=False: evaluations are logged with the
    # iteration as their step in scalars.json (mmengine's default is the epoch, always 0 in our iteration-based
    # loops); benchmarks/collect.py reads it
    logger=dict(type='NumpyScalarLoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic_local: checkpoints are written to a temporary file and renamed when complete (kill-safe)
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=3,
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
# keep all three when a config sets custom_hooks: a resumed run continues with the generator state it
# stopped at (RNGStateHook); every loaded checkpoint logs how many tensors reached the model
# (CheckpointMatchHook; tools/test.py makes it strict); every evaluation keeps its per-image statistics in
# the work dir, for the results pipeline's image resampling (PerImageStatsHook)
custom_hooks = [dict(type='RNGStateHook'), dict(type='CheckpointMatchHook'), dict(type='PerImageStatsHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # gloo on a machine without CUDA (TappsRunner)
)
# distributed runs: mmengine's DDP wrapper as its runner sets it up by default, without device_ids for a model on
# the CPU. Set find_unused_parameters here (mmengine reads the top-level key only without model_wrapper_cfg).
# The full import path: mmengine's Runner.wrap_model looks the type up in its root registry, not in our scope.
model_wrapper_cfg = dict(type='tapps_mm.engine.model_wrapper.CPUSafeDistributedDataParallel',
                         broadcast_buffers=False, find_unused_parameters=False)

vis_backends = [dict(type='LocalVisBackend')]
# True (or --cfg-options tensorboard=True): tools/train.py and tools/test.py also log to TensorBoard
# (mmengine's TensorboardVisBackend, in <work_dir>/<timestamp>/vis_data/; needs `pip install tensorboard`)
tensorboard = False
visualizer = dict(type='PPSLocalVisualizer', vis_backends=vis_backends, name='visualizer')  # draws objects + parts
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False

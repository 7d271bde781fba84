"""Runtime pieces for MMEngine runners: the project's runner and DDP wrapper, kill-safe checkpoints, exact
resume, checked and safe checkpoint loading, the official parameter groups of the optimizer."""
from tapps_mm.engine.checkpoint import AtomicLocalBackend, find_resume_checkpoint
from tapps_mm.engine.hooks import CheckpointMatchHook, InputShapesHook, PerImageStatsHook, RNGStateHook
from tapps_mm.engine.model_wrapper import CPUSafeDistributedDataParallel
from tapps_mm.engine.optim_constructor import NormDecayOptimWrapperConstructor
from tapps_mm.engine.runner import TappsRunner
from tapps_mm.engine.safe_load import UnsafeCheckpointError, allow_unsafe_load, load_checkpoint_file
from tapps_mm.engine.sweep_loop import InferenceSweepLoop

__all__ = ['AtomicLocalBackend', 'CPUSafeDistributedDataParallel', 'CheckpointMatchHook', 'InferenceSweepLoop',
           'InputShapesHook', 'NormDecayOptimWrapperConstructor', 'PerImageStatsHook', 'RNGStateHook', 'TappsRunner',
           'UnsafeCheckpointError', 'allow_unsafe_load', 'find_resume_checkpoint', 'load_checkpoint_file']

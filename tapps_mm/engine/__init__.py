"""Runtime pieces for MMEngine runners: kill-safe checkpoints, exact resume, checked and safe checkpoint
loading, the official parameter groups of the optimizer."""
from tapps_mm.engine.checkpoint import AtomicLocalBackend, find_resume_checkpoint
from tapps_mm.engine.hooks import CheckpointMatchHook, InputShapesHook, PerImageStatsHook, RNGStateHook
from tapps_mm.engine.optim_constructor import NormDecayOptimWrapperConstructor
from tapps_mm.engine.safe_load import UnsafeCheckpointError, allow_unsafe_load, load_checkpoint_file

__all__ = ['AtomicLocalBackend', 'CheckpointMatchHook', 'InputShapesHook', 'NormDecayOptimWrapperConstructor',
           'PerImageStatsHook', 'RNGStateHook', 'UnsafeCheckpointError', 'allow_unsafe_load', 'find_resume_checkpoint',
           'load_checkpoint_file']

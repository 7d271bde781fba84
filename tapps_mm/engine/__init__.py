"""Runtime pieces for MMEngine runners: kill-safe checkpoints, exact resume, checked checkpoint loading."""
from tapps_mm.engine.checkpoint import AtomicLocalBackend, find_resume_checkpoint
from tapps_mm.engine.hooks import CheckpointMatchHook, RNGStateHook

__all__ = ['AtomicLocalBackend', 'CheckpointMatchHook', 'RNGStateHook', 'find_resume_checkpoint']

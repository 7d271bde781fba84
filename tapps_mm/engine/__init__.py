"""Runtime pieces for MMEngine runners: kill-safe checkpoints and exact resume."""
from tapps_mm.engine.checkpoint import AtomicLocalBackend, find_resume_checkpoint
from tapps_mm.engine.hooks import RNGStateHook

__all__ = ['AtomicLocalBackend', 'RNGStateHook', 'find_resume_checkpoint']

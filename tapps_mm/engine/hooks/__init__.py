from tapps_mm.engine.hooks.rng_state_hook import RNGStateHook

__all__ = ['RNGStateHook']

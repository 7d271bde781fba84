from tapps_mm.engine.hooks.checkpoint_match_hook import CheckpointMatchHook, StateDictMatch, match_state_dict
from tapps_mm.engine.hooks.input_shapes_hook import InputShapesHook
from tapps_mm.engine.hooks.numpy_scalar_logger_hook import NumpyScalarLoggerHook
from tapps_mm.engine.hooks.per_image_stats_hook import PerImageStatsHook
from tapps_mm.engine.hooks.rng_state_hook import RNGStateHook

__all__ = ['CheckpointMatchHook', 'InputShapesHook', 'NumpyScalarLoggerHook', 'PerImageStatsHook', 'RNGStateHook',
           'StateDictMatch', 'match_state_dict']

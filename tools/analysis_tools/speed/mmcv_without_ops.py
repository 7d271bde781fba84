"""mmcv without its compiled ops, for machines where mmcv cannot be built (the GPU check): the models call
only ``point_sample`` (pure PyTorch) and ``MultiScaleDeformableAttention`` (which has mmcv's own PyTorch
path); any other compiled op raises when called."""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def use_mmcv_without_compiled_ops() -> None:
    """Let ``mmcv.ops`` import without ``mmcv._ext`` (call before anything imports mmcv.ops)."""
    def missing_op(name: str):
        if name.startswith('__'):
            raise AttributeError(name)

        def call(*args, **kwargs):
            raise RuntimeError(f'mmcv compiled op {name!r} was called, but mmcv runs without compiled ops '
                               '(tools/analysis_tools/speed/gpu_check.sh: GPU_CHECK_MMCV_OPS=cuda builds them)')
        return call

    stub = types.ModuleType('mmcv._ext')
    stub.__getattr__ = missing_op  # PEP 562: mmcv's load_ext checks hasattr for each op name
    sys.modules['mmcv._ext'] = stub
    import mmcv.ops.multi_scale_deform_attn as msda
    msda.IS_CUDA_AVAILABLE = False  # -> multi_scale_deformable_attn_pytorch for CUDA tensors too


def has_compiled_mmcv_ops() -> bool:
    """Whether mmcv's compiled extension is installed: not the stand-in of ``make install``
    (``requirements/mmcv-ext-stub``, ``COMPILED = False``), not none."""
    try:
        if importlib.util.find_spec('mmcv._ext') is None:
            return False
        return bool(getattr(importlib.import_module('mmcv._ext'), 'COMPILED', True))
    except ImportError:
        return False

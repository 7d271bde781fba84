"""Registries of scope ``tapps_mm``, children of mmdet's, so that a config with
``default_scope='tapps_mm'`` names our modules and mmdet's / mmengine's alike.

mmengine imports this module by name (``<scope>.registry``) when it switches to our scope; the
``locations`` make it import the modules that register into each registry.
"""
from tapps_mm.compat import ensure_pkg_resources, register_checkpoint_loaders

ensure_pkg_resources()  # before mmengine is imported
register_checkpoint_loaders()  # before any checkpoint is loaded

from mmdet import registry as mmdet_registry  # noqa: E402
from mmengine.registry import Registry  # noqa: E402

_SCOPE = 'tapps_mm'


def _child(name: str, parent: Registry, locations: list[str] | None = None) -> Registry:
    # mmengine imports only the current scope's locations; adding mmdet's makes its modules
    # (ResNet, Mask2Former, RandomFlip, ...) resolvable from scope 'tapps_mm' without manual imports.
    return Registry(name, parent=parent, scope=_SCOPE, locations=(locations or []) + list(parent._locations))


RUNNERS = _child('runner', mmdet_registry.RUNNERS, ['tapps_mm.engine'])
RUNNER_CONSTRUCTORS = _child('runner constructor', mmdet_registry.RUNNER_CONSTRUCTORS)
LOOPS = _child('loop', mmdet_registry.LOOPS, ['tapps_mm.engine'])
HOOKS = _child('hook', mmdet_registry.HOOKS, ['tapps_mm.engine', 'tapps_mm.converters'])
DATASETS = _child('dataset', mmdet_registry.DATASETS, ['tapps_mm.datasets'])
DATA_SAMPLERS = _child('data sampler', mmdet_registry.DATA_SAMPLERS)
TRANSFORMS = _child('transform', mmdet_registry.TRANSFORMS, ['tapps_mm.datasets'])
MODELS = _child('model', mmdet_registry.MODELS, ['tapps_mm.models'])
MODEL_WRAPPERS = _child('model_wrapper', mmdet_registry.MODEL_WRAPPERS, ['tapps_mm.engine'])
WEIGHT_INITIALIZERS = _child('weight initializer', mmdet_registry.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child('optimizer', mmdet_registry.OPTIMIZERS)
OPTIM_WRAPPERS = _child('optim_wrapper', mmdet_registry.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    mmdet_registry.OPTIM_WRAPPER_CONSTRUCTORS, ['tapps_mm.engine'])
PARAM_SCHEDULERS = _child('parameter scheduler', mmdet_registry.PARAM_SCHEDULERS)
METRICS = _child('metric', mmdet_registry.METRICS, ['tapps_mm.evaluation.metrics'])
TASK_UTILS = _child('task util', mmdet_registry.TASK_UTILS, ['tapps_mm.models'])
VISUALIZERS = _child('visualizer', mmdet_registry.VISUALIZERS, ['tapps_mm.visualization'])
VISBACKENDS = _child('vis_backend', mmdet_registry.VISBACKENDS)
LOG_PROCESSORS = _child('log_processor', mmdet_registry.LOG_PROCESSORS)

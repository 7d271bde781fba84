"""The official TAPPS's (detectron2's) parameter groups on mmengine's optimizer constructor."""
from __future__ import annotations

from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from tapps_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS

#: the norm layers mmengine's ``norm_decay_mult`` applies to
NORM_LAYERS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class NormDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's constructor, except that ``norm_decay_mult`` holds for every norm layer, also those matched by
    a ``custom_keys`` entry.

    Why: the official TAPPS (Mask2Former's ``build_optimizer``) sets the backbone's learning rate x 0.1 and the
    weight decay of *every* norm layer to ``WEIGHT_DECAY_NORM = 0``, the backbone's included. mmengine applies
    ``norm_decay_mult`` only to parameters that no custom key matches, so ``custom_keys={'backbone': ...}``
    gave the backbone's BatchNorm (SyncBN on Cityscapes-PP) and Swin's LayerNorms weight decay 0.05.
    """

    def add_params(self, params: list[dict], module: nn.Module, prefix: str = '', is_dcn_module=None) -> None:
        start = len(params)
        super().add_params(params, module, prefix, is_dcn_module)
        norm_decay_mult = self.paramwise_cfg.get('norm_decay_mult')
        if isinstance(module, NORM_LAYERS) and norm_decay_mult is not None and self.base_wd is not None:
            for group in params[start:]:  # a norm layer has no children: these are its own parameters
                group['weight_decay'] = self.base_wd * norm_decay_mult
                if 'decay_mult' in group:
                    group['decay_mult'] = norm_decay_mult


__all__ = ['NormDecayOptimWrapperConstructor', 'NORM_LAYERS']

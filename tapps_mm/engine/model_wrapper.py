"""The DDP wrapper of distributed runs (``model_wrapper_cfg`` in ``configs/_base_/default_runtime.py``)."""
from __future__ import annotations

from mmengine.model import MMDistributedDataParallel
from torch import nn

from tapps_mm.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUSafeDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper, with ``device_ids`` only for a module on a GPU.

    mmengine's runner passes ``device_ids=[LOCAL_RANK]`` to every DDP wrapper, which torch refuses for a
    module on the CPU (gloo training on a machine without CUDA: ``tools/dist_train.sh``, ``slurm_train.sh``)."""

    def __init__(self, module: nn.Module, device_ids: list | None = None, **kwargs) -> None:
        on_gpu = any(p.is_cuda for p in module.parameters())
        super().__init__(module=module, device_ids=device_ids if on_gpu else None, **kwargs)

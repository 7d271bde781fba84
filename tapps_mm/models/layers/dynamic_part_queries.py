"""Dynamic part queries from object queries (TAPPS Table 7, 'dynamic' part segmentation).

Instead of one fixed FC per part class (:class:`PartQueryGenerator`), each object query yields
``num_dynamic`` part queries that are not tied to a part class: like the object queries of Mask2Former,
each predicts a class (a part class or 'no part') and a mask, and is matched to the object's parts.
"""
from __future__ import annotations

from mmengine.model import BaseModule
from torch import Tensor, nn

from tapps_mm.models.layers.part_queries import adaptation_layers
from tapps_mm.registry import MODELS


@MODELS.register_module()
class DynamicPartQueryGenerator(BaseModule):
    """``num_adapt_layers`` x (Linear + ReLU) (as :class:`PartQueryGenerator`, Table 4), then
    ``Linear(C, C * num_dynamic)`` split into ``num_dynamic`` part queries per object query, each with a
    ``Linear(C, num_parts + 1)`` part classifier (last logit: 'no part').

    The mask of a dynamic part query is its dot product with the mask features (done by the head, so
    that only the objects that need parts pay for full-size masks).
    """

    def __init__(self, num_parts: int, embed_dims: int = 256, out_dims: int | None = None, num_dynamic: int = 10,
                 num_adapt_layers: int = 2, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_dynamic < 1:
            raise ValueError(f'DynamicPartQueryGenerator: num_dynamic must be >= 1, got {num_dynamic}')
        self.num_parts = num_parts
        self.num_dynamic = num_dynamic
        self.out_dims = out_dims or embed_dims
        self.adapt = adaptation_layers(embed_dims, num_adapt_layers, type(self).__name__)
        self.dynamic_fc = nn.Linear(embed_dims, self.out_dims * num_dynamic)
        self.cls_fc = nn.Linear(self.out_dims, num_parts + 1)

    def forward(self, queries: Tensor) -> tuple[Tensor, Tensor]:
        """Object queries [M, C] -> dynamic part queries [M, D, out_dims] and their part-class logits
        [M, D, num_parts + 1] (index ``num_parts``: 'no part')."""
        part_q = self.dynamic_fc(self.adapt(queries)).view(queries.shape[0], self.num_dynamic, self.out_dims)
        return part_q, self.cls_fc(part_q)

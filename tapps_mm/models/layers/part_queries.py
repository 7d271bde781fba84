"""Part queries from object queries (TAPPS sec. 3.3.2): adaptation layers, then one FC per part class."""
from __future__ import annotations

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from tapps_mm.registry import MODELS


def adaptation_layers(embed_dims: int, num_layers: int, owner: str) -> nn.Sequential:
    """``num_layers`` x (Linear + ReLU): the part-query adaptation of Table 4 (0 = none ... 3)."""
    if num_layers not in (0, 1, 2, 3):
        raise ValueError(f'{owner}: num_adapt_layers must be 0-3 (Table 4), got {num_layers}')
    layers = []
    for _ in range(num_layers):
        layers += [nn.Linear(embed_dims, embed_dims), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


@MODELS.register_module()
class PartQueryGenerator(BaseModule):
    """``num_adapt_layers`` x (Linear + ReLU) (Table 4: 0 = none, 1 = 1xFC, 2 = 2-layer MLP (default),
    3 = 3-layer MLP), then ``Linear(C, C * num_parts)`` split into one C-dim query per part class.

    The split FC keeps the official parameter layout, but :meth:`forward` evaluates only the requested
    (query, part) pairs: with 107 part classes, all part queries of 100 queries would cost more than
    the object masks themselves.
    """

    def __init__(self, num_parts: int, embed_dims: int = 256, out_dims: int | None = None,
                 num_adapt_layers: int = 2, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_parts = num_parts
        self.out_dims = out_dims or embed_dims
        self.adapt = adaptation_layers(embed_dims, num_adapt_layers, type(self).__name__)
        self.part_fc = nn.Linear(embed_dims, self.out_dims * num_parts)

    def all_parts(self, queries: Tensor) -> Tensor:
        """Every part query [M, num_parts, out_dims] of the queries [M, C], in one product (for the objects the
        training supervises: no grouping by part class, nothing asked of the device)."""
        return self.part_fc(self.adapt(queries)).view(len(queries), self.num_parts, self.out_dims)

    def forward(self, queries: Tensor, part_idx: Tensor) -> Tensor:
        """Part queries [M, out_dims] for the pairs (``queries[m]`` [M, C], ``part_idx[m]`` [M])."""
        adapted = self.adapt(queries)
        c = self.out_dims
        weight = self.part_fc.weight.view(self.num_parts, c, -1)
        bias = self.part_fc.bias.view(self.num_parts, c)
        # one product per part class present, on its rows gathered in one go (stable order), then put back
        order = torch.argsort(part_idx, stable=True)
        parts, counts = torch.unique_consecutive(part_idx[order], return_counts=True)
        chunks = [a @ weight[j].t() + bias[j] for j, a in zip(parts.tolist(), adapted[order].split(counts.tolist()))]
        if not chunks:  # no pairs: the FC stays in the graph all the same (unused parameters break DDP)
            return adapted.new_zeros(0, c) + (weight[:0].sum() + bias[:0].sum())
        return torch.cat(chunks)[torch.argsort(order)]

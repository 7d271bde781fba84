"""The part outputs of a part-aware head's ``predict``: one named structure per kind of part branch.

The contract: ``panoptic_head.predict(x, samples)`` returns ``(mask_cls, mask_pred, parts)`` — mmdet's
object outputs (last-layer class logits, mask logits at the batch input size) plus one of these — and the
fusion head's ``predict(mask_cls, mask_pred, samples, parts=parts)`` asks it for the parts of each sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Union

if TYPE_CHECKING:
    from torch import Tensor

#: (queries [M, C], part indices [M], one image's mask features [C, h, w]) -> part mask logits [M, h, w]
PartMaskLogits = Callable[['Tensor', 'Tensor', 'Tensor'], 'Tensor']


@dataclass
class QueryPartOutputs:
    """TAPPS: every object query predicts the parts of its own object (the JOPS head and its dynamic
    variant); part masks are computed on demand, only for the objects the fusion head keeps."""
    queries: Tensor  # [B, Q, C] normalised object queries of the last decoder layer
    mask_features: Tensor  # [B, C, h, w]
    part_mask_logits: PartMaskLogits  # the head's

    def logits(self, b: int, query_idx: Tensor, part_idx: Tensor) -> Tensor:
        """Mask logits [n, h, w] of parts ``part_idx`` [n] of queries ``query_idx`` [n] of sample ``b``."""
        return self.part_mask_logits(self.queries[b][query_idx], part_idx, self.mask_features[b])


@dataclass
class SemanticPartOutputs:
    """The baseline: separate part queries segment parts without knowing the objects."""
    cls_logits: Tensor  # [B, Qp, num_parts + 1] (last: 'no part')
    mask_logits: Tensor  # [B, Qp, H, W] at the batch input size


PartOutputs = Union[QueryPartOutputs, SemanticPartOutputs]

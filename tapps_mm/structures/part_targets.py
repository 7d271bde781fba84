"""Part supervision of the JOPS heads, as named structures built once per batch for all decoder layers.

Each image's targets are one map in which each pixel carries its object and its part packed into one number
(:func:`pack_part_code`): the binary mask of any (object, part) pair is one comparison with it, made only for
the pairs a layer supervises.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

#: the one packing constant: the data's (segment, part) target codes (``tapps_mm.datasets.pps_targets``) and
#: the heads' (object, part) code maps are ``(index + 1) * PART_BITS + part code``
PART_BITS = 256


def pack_part_code(objects: Tensor, parts: Tensor) -> Tensor:
    """Object index + 1 and part code (part index + 1, 0 = none) packed as ``object * PART_BITS + part``;
    integer tensors in, integer tensor out."""
    return objects * PART_BITS + parts


def unpack_part_code(codes: Tensor) -> tuple[Tensor, Tensor]:
    """(object index + 1, part code) of codes made by :func:`pack_part_code`."""
    return codes // PART_BITS, codes % PART_BITS


@dataclass
class PartTargets:
    """One image's part supervision."""
    code_map: Tensor  # float [H, W]: packed (GT object index + 1, part code); 0 outside objects
    annotated: Tensor  # bool [num_gt]: GT objects that carry part labels


@dataclass
class PresentPartTargets(PartTargets):
    """+ the part classes present in each GT object: what dynamic part queries are matched to."""
    present: Tensor  # bool [num_gt, num_parts]


@dataclass
class SupervisedObjects:
    """The matched queries of one decoder layer whose GT object is of a class with part masks (and, with
    ``supervise_unlabelled_objects=False``, carries part labels), over the batch (row k: image ``imgs[k]``,
    query ``queries[k]``, GT object ``gts[k]``)."""
    imgs: Tensor
    queries: Tensor
    gts: Tensor
    labels: Tensor  # GT class of ``gts``

"""The official TAPPS training criterion, restated for
``tests/test_models/test_dense_heads/test_official_training_step.py``.

What it restates (public code of tue-mps/tapps, read, not copied):

- ``tapps/data/dataset_mappers/mask_former_panoptic_parts_dataset_mapper.py`` and
  ``pascal_panoptic_parts_new_baseline_dataset_mapper.py``: the targets of an augmented image (every non-crowd
  segment of more than one pixel; for a class with parts, one mask per part id the class lists, empty or not);
  ``tapps/data/datasets/register_*_panoptic_parts.py``: those part ids (``train_sids2train_pids``);
- ``tapps/maskformer_model.py``: ``prepare_targets`` (zero padding to the batch frame) and the loss weights of
  ``from_config`` (class / mask / dice x the panoptic weight, parts x the parts weight, every decoder layer);
- ``tapps/modeling/matcher.py``: ``HungarianMatcher.memory_efficient_forward`` (per image; one set of random
  points shared by all masks; costs in float32; scipy's ``linear_sum_assignment``);
- ``tapps/modeling/criterion.py``: ``SetCriterion`` (``loss_labels``, ``loss_masks``, ``loss_masks_parts``,
  ``forward``: the matches of each decoder prediction, the mask normaliser = GT masks over the processes, the part
  normaliser = part masks of this process);
- ``tapps/modeling/transformer_decoder/part_decoder.py``: ``PartDecoder`` (3-layer MLP to ``Npc`` part
  embeddings of the matched queries, all part masks, then the GT object's part ids gathered);
- detectron2's ``projects/PointRend/point_rend/point_features.py``: ``point_sample`` and
  ``get_uncertain_point_coords_with_randomness`` (uncertainty ``-|logit|``, as the criterion's own).

Why the random numbers are not drawn here: every ``torch.rand`` of the official code is a call of a ``draw``
function that the test answers with the numbers our model drew for the same purpose (:class:`LayerDraws`), so
both sides see the same points and the comparison can be exact to float rounding.

Two official quirks the restatement keeps in mind: ``SetCriterion.forward`` evaluates the part loss once after
each of its two losses (``labels``, ``masks``) and the second value overwrites the first, so only the draws of
the second count (here: one evaluation); and it handles the last layer before the auxiliary ones (the order of
the draws, not of the values, which the replay keys by layer).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

Draw = Callable[[tuple[int, ...]], Tensor]


@dataclass(frozen=True)
class OfficialSettings:
    """The official R-50 PPS configs (``configs/{cityscapes,pascal}/pps/tapps_*_r50_in1kinit.yaml``)."""

    class_weight: float = 2.0        # MASK_FORMER.CLASS_WEIGHT (also the matcher's cost_class)
    mask_weight: float = 5.0         # MASK_WEIGHT (cost_mask)
    dice_weight: float = 5.0         # DICE_WEIGHT (cost_dice)
    no_object_weight: float = 0.1    # NO_OBJECT_WEIGHT (eos_coef)
    num_points: int = 12544          # TRAIN_NUM_POINTS
    oversample_ratio: float = 3.0    # OVERSAMPLE_RATIO
    importance_sample_ratio: float = 0.75  # IMPORTANCE_SAMPLE_RATIO
    panoptic_weight: float = 1.0     # LOSS_WEIGHT_PANOPTIC (lambda_obj)
    parts_weight: float = 1.0        # LOSS_WEIGHT_PARTS (lambda_pt)
    dec_layers: int = 10             # DEC_LAYERS: 9 decoder layers + the learnable queries


# ------------------------------------------------------------------------------------------- targets
@dataclass
class OfficialTarget:
    """One image's target dict of ``prepare_targets`` (masks zero-padded to the batch frame)."""

    labels: Tensor                                          # [G] long
    masks: Tensor                                           # [G, H, W] bool
    part_ids: list[Tensor] = field(default_factory=list)    # per object: [n] long, part id - 1
    masks_parts: list[Tensor] = field(default_factory=list)  # per object: [n, H, W] bool

    @property
    def num_masks_parts(self) -> Tensor:
        return torch.tensor([len(p) for p in self.part_ids], dtype=torch.long)


def train_part_ids(eval_sid_pid2eval_pid_flat: dict, sid2label: dict[int, int]) -> dict[int, list[int]]:
    """``train_sids2train_pids``: contiguous class -> its flat part ids (1-based), in the eval spec's order."""
    out: dict[int, list[int]] = {}
    for sid_pid, flat in eval_sid_pid2eval_pid_flat.items():
        out.setdefault(sid2label[int(sid_pid) // 100], []).append(int(flat))
    return out


def official_target(pan_seg: np.ndarray, part_seg: np.ndarray, segments: list[tuple[int, int, bool]],
                    part_ids_of: dict[int, list[int]], frame: tuple[int, int]) -> OfficialTarget:
    """The mapper's instances of one augmented image, padded as ``prepare_targets``.

    Args:
        pan_seg: [h, w] segment id per pixel (0: void).
        part_seg: [h, w] flat part id per pixel (anything else: no part).
        segments: ``segments_info`` as (id, contiguous class, iscrowd).
        part_ids_of: :func:`train_part_ids`.
        frame: (H, W) of the padded batch.
    """
    labels, masks, part_ids, masks_parts = [], [], [], []
    for seg_id, label, crowd in segments:
        mask = pan_seg == seg_id
        if mask.sum() > 1 and not crowd:
            ids = part_ids_of.get(label, [])
            part_ids.append(torch.tensor([p - 1 for p in ids], dtype=torch.long))
            masks_parts.append(_pad(np.stack([(part_seg == p) & mask for p in ids]) if ids
                                    else np.zeros((0, *mask.shape), bool), frame))
            labels.append(label)
            masks.append(mask)
    stacked = np.stack(masks) if masks else np.zeros((0, *pan_seg.shape), bool)
    return OfficialTarget(torch.tensor(labels, dtype=torch.long), _pad(stacked, frame), part_ids, masks_parts)


def _pad(masks: np.ndarray, frame: tuple[int, int]) -> Tensor:
    out = torch.zeros((masks.shape[0], *frame), dtype=torch.bool)
    out[:, :masks.shape[1], :masks.shape[2]] = torch.from_numpy(masks)
    return out


# ------------------------------------------------------------------------------------------- points
def point_sample(features: Tensor, coords: Tensor) -> Tensor:
    """[N, C, H, W] bilinearly at [N, P, 2] points of [0, 1]^2 (x, y) -> [N, C, P]; ``align_corners=False``."""
    return F.grid_sample(features, 2.0 * coords.unsqueeze(2) - 1.0, align_corners=False).squeeze(3)


def uncertain_points(logits: Tensor, num_points: int, oversample_ratio: float, importance_sample_ratio: float,
                     draw: Draw) -> Tensor:
    """PointRend's importance sampling of [N, 1, h, w] logits: of ``num_points * oversample_ratio`` uniform
    candidates keep the ``importance_sample_ratio * num_points`` with the largest ``-|logit|``, then add uniform
    points up to ``num_points``."""
    n = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    candidates = draw((n, num_sampled, 2))
    uncertainty = -point_sample(logits, candidates).abs()
    num_uncertain = int(importance_sample_ratio * num_points)
    idx = uncertainty[:, 0].topk(num_uncertain, dim=1).indices
    coords = candidates.gather(1, idx[..., None].expand(-1, -1, 2))
    if num_points > num_uncertain:
        coords = torch.cat([coords, draw((n, num_points - num_uncertain, 2))], dim=1)
    return coords


class LayerDraws:
    """The random numbers of one decoder prediction, in the order the official criterion asks for them after
    the matcher: object-mask candidates and random points, then part-mask candidates and random points.

    Args:
        match: [B, P, 2]: row b is image b's matcher points (the official draws ``(1, P, 2)`` per image).
        rest: the other draws, in order.
    """

    def __init__(self, match: Tensor, rest: list[Tensor]) -> None:
        self.match_points = match
        self.rest = list(rest)

    def match(self, b: int) -> Tensor:
        return self.match_points[b:b + 1]

    def __call__(self, shape: tuple[int, ...]) -> Tensor:
        if shape[0] == 0:  # the official draws nothing for no masks (torch.rand of 0 numbers)
            return torch.zeros(shape)
        if not self.rest:
            raise AssertionError(f'the official criterion draws {shape}, our model drew nothing more')
        got = self.rest.pop(0)
        if tuple(got.shape) != tuple(shape):
            raise AssertionError(f'the official criterion draws {shape} here, our model drew {tuple(got.shape)}')
        return got


# ------------------------------------------------------------------------------------------- matcher
@torch.no_grad()
def hungarian_match(cls_logits: Tensor, mask_logits: Tensor, target: OfficialTarget, points: Tensor,
                    s: OfficialSettings) -> tuple[Tensor, Tensor]:
    """One image: (query indices ascending, GT indices) minimising 2 x (-p(class)) + 5 x BCE + 5 x dice at
    ``points`` [1, P, 2] shared by every mask; float32."""
    cost_class = -cls_logits.float().softmax(-1)[:, target.labels]
    num_q, num_gt = mask_logits.shape[0], len(target.labels)
    out = point_sample(mask_logits[:, None].float(), points.expand(num_q, -1, -1)).squeeze(1)
    tgt = point_sample(target.masks[:, None].float(), points.expand(num_gt, -1, -1)).squeeze(1)
    pos = F.binary_cross_entropy_with_logits(out, torch.ones_like(out), reduction='none')
    neg = F.binary_cross_entropy_with_logits(out, torch.zeros_like(out), reduction='none')
    cost_mask = (pos @ tgt.T + neg @ (1 - tgt).T) / out.shape[1]
    prob = out.sigmoid()
    cost_dice = 1 - (2 * prob @ tgt.T + 1) / (prob.sum(-1)[:, None] + tgt.sum(-1)[None] + 1)
    cost = s.mask_weight * cost_mask + s.class_weight * cost_class + s.dice_weight * cost_dice
    rows, cols = linear_sum_assignment(cost.reshape(num_q, -1).numpy())
    return torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)


# ------------------------------------------------------------------------------------------- losses
def sigmoid_ce_loss(logits: Tensor, labels: Tensor, num_masks: float) -> Tensor:
    """Mean BCE over a mask's points, summed over masks, / ``num_masks``."""
    return F.binary_cross_entropy_with_logits(logits, labels, reduction='none').mean(1).sum() / num_masks


def dice_loss(logits: Tensor, labels: Tensor, num_masks: float) -> Tensor:
    """``1 - (2|p t| + 1) / (|p| + |t| + 1)`` per mask, summed, / ``num_masks``."""
    prob = logits.sigmoid().flatten(1)
    return (1 - (2 * (prob * labels).sum(-1) + 1) / (prob.sum(-1) + labels.sum(-1) + 1)).sum() / num_masks


def point_losses(pred: Tensor, gt: Tensor, num_masks: float, s: OfficialSettings, draw: Draw) -> tuple[Tensor, Tensor]:
    """(BCE, dice) of mask logits [N, h, w] against binary masks [N, H, W] at importance-sampled points (the GT
    sampled bilinearly, so soft at its edges)."""
    with torch.no_grad():
        coords = uncertain_points(pred[:, None].detach(), s.num_points, s.oversample_ratio,
                                  s.importance_sample_ratio, draw)
        labels = point_sample(gt[:, None].float(), coords).squeeze(1)
    logits = point_sample(pred[:, None], coords).squeeze(1)
    return sigmoid_ce_loss(logits, labels, num_masks), dice_loss(logits, labels, num_masks)


def official_part_masks(mlp: list[nn.Linear], num_part_classes: int, queries: Tensor, mask_features: Tensor,
                        indices: list[tuple[Tensor, Tensor]], targets: list[OfficialTarget]) -> Tensor:
    """``PartDecoder`` on the matched queries: [K, h, w] part-mask logits, rows by image, matched query
    (ascending) and the GT object's part ids. ``mlp``: the 3 linear layers (ReLU between)."""
    most = max(len(src) for src, _ in indices)
    selected = torch.stack([queries[b][torch.cat([src, src.new_zeros(most - len(src))])]
                            for b, (src, _) in enumerate(indices)])  # [B, M, C], padded with query 0
    x = selected
    for i, layer in enumerate(mlp):
        x = layer(x)
        if i < len(mlp) - 1:
            x = F.relu(x)
    embeds = torch.stack(torch.tensor_split(x, num_part_classes, dim=2), dim=2)  # [B, M, Npc, C]
    b_, m_, p_, c_ = embeds.shape
    masks = torch.einsum('bqc,bchw->bqhw', embeds.reshape(b_, m_ * p_, c_), mask_features)
    masks = masks.view(b_, m_, p_, *mask_features.shape[-2:])
    rows = [(b, e, int(p)) for b, (_, tgt) in enumerate(indices) for e, g in enumerate(tgt.tolist())
            for p in targets[b].part_ids[g]]
    if not rows:
        return masks.new_zeros(0, *mask_features.shape[-2:])
    bi, ei, pi = (torch.tensor(v, dtype=torch.long) for v in zip(*rows))
    return masks[bi, ei, pi]


def layer_losses(cls_logits: Tensor, mask_logits: Tensor, queries: Tensor, mask_features: Tensor,
                 targets: list[OfficialTarget], draws: LayerDraws, part_mlp: list[nn.Linear],
                 num_part_classes: int, s: OfficialSettings) -> tuple[dict[str, Tensor], list]:
    """Unweighted ``loss_ce``, ``loss_mask``, ``loss_dice``, ``loss_mask_parts``, ``loss_dice_parts`` of one
    decoder prediction ([B, Q, K + 1], [B, Q, h, w], [B, Q, C], [B, C, h, w]) and its matches."""
    indices = [hungarian_match(cls_logits[b].detach(), mask_logits[b].detach(), t, draws.match(b), s)
               for b, t in enumerate(targets)]
    num_masks = max(float(sum(len(t.labels) for t in targets)), 1.0)  # one process

    # loss_labels: weighted cross-entropy over every query, 'no object' where unmatched
    num_classes = cls_logits.shape[-1] - 1
    target_classes = torch.full(cls_logits.shape[:2], num_classes, dtype=torch.long)
    for b, (src, tgt) in enumerate(indices):
        target_classes[b, src] = targets[b].labels[tgt]
    empty_weight = torch.ones(num_classes + 1)
    empty_weight[-1] = s.no_object_weight
    loss_ce = F.cross_entropy(cls_logits.float().transpose(1, 2), target_classes, empty_weight)

    # loss_masks: the matched queries' masks, by image then query
    src_masks = torch.cat([mask_logits[b][src] for b, (src, _) in enumerate(indices)])
    tgt_masks = torch.cat([targets[b].masks[tgt] for b, (_, tgt) in enumerate(indices)])
    loss_mask, loss_dice = point_losses(src_masks, tgt_masks, num_masks, s, draws)

    # loss_masks_parts: the matched queries' part masks, normalised by their number here (at least 1)
    part_logits = official_part_masks(part_mlp, num_part_classes, queries, mask_features, indices, targets)
    gts = [targets[b].masks_parts[g] for b, (_, tgt) in enumerate(indices) for g in tgt.tolist()]
    part_gt = torch.cat(gts) if gts else torch.zeros_like(part_logits, dtype=torch.bool)
    loss_mask_parts, loss_dice_parts = point_losses(part_logits, part_gt, max(float(len(part_gt)), 1.0), s, draws)
    if draws.rest:
        raise AssertionError(f'our model drew {len(draws.rest)} more point sets than the official criterion')
    return dict(loss_ce=loss_ce, loss_mask=loss_mask, loss_dice=loss_dice, loss_mask_parts=loss_mask_parts,
                loss_dice_parts=loss_dice_parts), indices


def official_losses(all_cls: list[Tensor], all_masks: list[Tensor], all_queries: list[Tensor],
                    mask_features: Tensor, targets: list[OfficialTarget], draws: list[LayerDraws],
                    part_mlp: list[nn.Linear], num_part_classes: int, s: OfficialSettings = OfficialSettings()
                    ) -> tuple[dict[str, Tensor], list]:
    """The weighted loss dict of ``MaskFormer.forward`` in training: the last prediction's keys plain, the
    others suffixed ``_i`` (i = 0 for the learnable queries); and every layer's matches."""
    if len(all_cls) != s.dec_layers:
        raise AssertionError(f'{len(all_cls)} decoder predictions, the official model makes {s.dec_layers}')
    weight = dict(loss_ce=s.class_weight * s.panoptic_weight, loss_mask=s.mask_weight * s.panoptic_weight,
                  loss_dice=s.dice_weight * s.panoptic_weight, loss_mask_parts=s.mask_weight * s.parts_weight,
                  loss_dice_parts=s.dice_weight * s.parts_weight)
    losses, matches = {}, []
    last = len(all_cls) - 1
    for i, (cls_logits, mask_logits, queries, layer_draws) in enumerate(zip(all_cls, all_masks, all_queries, draws)):
        values, indices = layer_losses(cls_logits, mask_logits, queries, mask_features, targets, layer_draws,
                                       part_mlp, num_part_classes, s)
        matches.append(indices)
        suffix = '' if i == last else f'_{i}'
        losses.update({k + suffix: weight[k] * v for k, v in values.items()})
    return losses, matches

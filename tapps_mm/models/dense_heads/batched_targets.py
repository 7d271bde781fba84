"""mmdet's Mask2Former target assignment with the match costs of a decoder layer computed for the whole batch,
and its matches read back to the host once per layer.

mmdet's ``get_targets`` runs ``_get_targets_single`` once per image, and each call evaluates every match cost
(class, mask BCE, mask dice) on that image's points alone, copies that image's cost matrix to the host for the
Hungarian step, and turns the matches into indices with ``nonzero`` / ``unique`` (four more waits for the
device per image and layer). This mixin keeps mmdet's algorithm and draws, and changes only how the work is
grouped:

- the sampling points: one ``torch.rand((B, num_points, 2))`` per layer, the same numbers on CPU as mmdet's
  ``B`` draws of ``(1, num_points, 2)`` (``tests/test_models/test_dense_heads/test_batched_targets.py`` checks this
  through the matches);
- the predicted masks of all images are point-sampled in one call (GT masks stay per image: stacking
  full-resolution GT masks would cost memory at the paper's crop);
- each configured match cost runs once on all queries x all GT objects of the batch; the cost matrix goes to
  the host in one copy, and each image's block of it to scipy's ``linear_sum_assignment`` (what mmdet's
  ``HungarianAssigner`` runs);
- the matches are known on the host: each image's ``AssignResult`` and, with mmdet's ``MaskPseudoSampler``, its
  sampling result (:class:`HostMatches`: the sampler's indices, sorted as its ``nonzero`` / ``unique`` sorts them)
  are made from them with one upload per layer; the part branches read the host copy (``HostMatches.host``) instead
  of asking the device.

The costs between one image's queries and another image's GT objects are computed and discarded: a
``B``-fold larger product than needed, cheap beside the per-call overhead it removes.

The costs are computed in float32 with autocast off, as the official (detectron2) Mask2Former / TAPPS matcher
does: under AMP, mmdet's mask costs sum ``num_points`` (12544) terms in float16, which overflows to inf and
makes the Hungarian step fail ('cost matrix is infeasible').
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from mmcv.ops import point_sample
from mmdet.models.task_modules.assigners import AssignResult, HungarianAssigner
from mmdet.models.task_modules.samplers import MaskPseudoSampler
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from tapps_mm.models.dense_heads.point_losses import upload


@dataclass
class HostMatches:
    """One image's matches in one decoder layer, as mmdet's ``MaskPseudoSampler`` returns them (the fields the
    targets and the part branches read), and the same on the host."""
    pos_inds: Tensor  # [n] matched queries, ascending
    neg_inds: Tensor  # [Q - n] the other queries, ascending
    pos_assigned_gt_inds: Tensor  # [n] GT object of each matched query
    host: tuple[np.ndarray, np.ndarray]  # (pos_inds, pos_assigned_gt_inds) on the host

    @property
    def num_pos(self) -> int:
        return max(len(self.host[0]), 1)

    @property
    def avg_factor(self) -> int:  # mmdet's MaskPseudoSampler: positives only
        return self.num_pos


def hungarian(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy's ``linear_sum_assignment`` (the step mmdet's ``HungarianAssigner`` runs) of one image's [Q, G] cost
    on the host: the matched queries ascending and their GT objects, int64 (none without GT objects)."""
    if not cost.shape[1]:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, cols = linear_sum_assignment(cost)
    order = np.argsort(rows, kind='stable')
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


def host_matches(match) -> tuple[np.ndarray, np.ndarray]:
    """(matched queries ascending, their GT objects) of a sampling result on the host: read from a
    :class:`HostMatches`, copied from the device (a wait) for another sampler's result."""
    if isinstance(match, HostMatches):
        return match.host
    return match.pos_inds.cpu().numpy(), match.pos_assigned_gt_inds.cpu().numpy()


class BatchedTargetsMixin:
    """``get_targets`` of mmdet's ``Mask2FormerHead`` (same returns), batched over the images of a layer.

    Per-image results go through :meth:`_targets_from_assignment`, the hook subclasses override to see
    each image's matches (as mmdet's ``_get_targets_single``)."""

    def get_targets(self, cls_scores_list: list[Tensor], mask_preds_list: list[Tensor],
                    batch_gt_instances: list[InstanceData], batch_img_metas: list[dict],
                    return_sampling_results: bool = False) -> tuple:
        if not isinstance(self.assigner, HungarianAssigner):
            raise TypeError(f'{type(self).__name__}: train_cfg.assigner must be a HungarianAssigner (its match '
                            f'costs are batched over the images), got {type(self.assigner).__name__}')
        cls_scores = torch.stack(cls_scores_list).detach()
        coords = torch.rand((len(cls_scores_list), self.num_points, 2), device=cls_scores.device)
        costs = self._batch_costs(cls_scores, torch.stack(mask_preds_list).detach(), coords, batch_gt_instances,
                                  batch_img_metas)
        matches = [hungarian(cost) for cost in costs]
        assigned = self._assign_results(matches, batch_gt_instances, cls_scores.device)
        results = [self._targets_from_assignment(cls_score, mask_pred, gt_instances, assign_result)
                   for cls_score, mask_pred, gt_instances, assign_result
                   in zip(cls_scores_list, mask_preds_list, batch_gt_instances, assigned)]
        results = tuple(map(list, zip(*results)))
        res = tuple(results[:4]) + (sum(r.avg_factor for r in results[6]),)
        return res + (results[6],) if return_sampling_results else res

    @torch.no_grad()
    def _batch_costs(self, cls_scores: Tensor, mask_preds: Tensor, coords: Tensor,
                     batch_gt_instances: list[InstanceData], batch_img_metas: list[dict]) -> list[np.ndarray]:
        """Each image's [num_queries, num_gts] matching cost on the host, from one call per match cost and one
        copy; ``coords`` [B, num_points, 2]: each image's sampling points."""
        with torch.autocast(cls_scores.device.type, enabled=False):  # fp32 costs, as the official matcher
            pred_points = point_sample(mask_preds.float(), coords)  # [B, Q, P]: queries as channels, one grid/image
            gt_points = torch.cat([point_sample(gt.masks[None].float(), coords[b:b + 1])[0]
                                   for b, gt in enumerate(batch_gt_instances)])
            labels = torch.cat([gt.labels for gt in batch_gt_instances])
            cost = self._match_cost(cls_scores, pred_points, labels, gt_points, batch_img_metas[0]).cpu().numpy()
        return self._image_blocks(cost, cls_scores.shape[1], [len(gt) for gt in batch_gt_instances])

    def _match_cost(self, cls_scores: Tensor, pred_points: Tensor, labels: Tensor, gt_points: Tensor,
                    img_meta: dict) -> Tensor:
        """The sum of the configured match costs between all queries [B, Q, ...] and all GT objects ([G] labels,
        [G, P] points): [B * Q, G]."""
        preds = InstanceData(scores=cls_scores.float().flatten(0, 1), masks=pred_points.flatten(0, 1))
        gts = InstanceData(labels=labels, masks=gt_points)
        return sum(match_cost(pred_instances=preds, gt_instances=gts, img_meta=img_meta)
                   for match_cost in self.assigner.match_costs)

    @staticmethod
    def _image_blocks(cost: np.ndarray, num_queries: int, num_gts: list[int]) -> list[np.ndarray]:
        """Each image's block of a [B * Q, G] cost matrix (GT objects in image order)."""
        ends = list(itertools.accumulate(num_gts))
        return [cost[b * num_queries:(b + 1) * num_queries, end - n:end]
                for b, (n, end) in enumerate(zip(num_gts, ends))]

    def _assign_results(self, matches: list[tuple[np.ndarray, np.ndarray]], batch_gt_instances: list[InstanceData],
                        device: torch.device) -> list[AssignResult]:
        """mmdet's ``AssignResult`` of each image (``gt_inds``: 0 unmatched, GT index + 1 matched; no labels, which
        nothing reads) from the host matches of :func:`hungarian`, with its :class:`HostMatches` as
        ``host_matches``: one upload."""
        num_queries = self.num_queries
        parts, sizes, hosts = [], [], []
        for pos, gt in matches:
            gt_inds = np.zeros(num_queries, np.int64)
            gt_inds[pos] = gt + 1
            neg = np.flatnonzero(gt_inds == 0)
            parts += [gt_inds, pos, neg, gt]
            sizes += [num_queries, len(pos), len(neg), len(gt)]
            hosts.append((pos, gt))
        flat = upload(np.concatenate(parts) if parts else np.zeros(0, np.int64), device)
        views = iter(flat.split(sizes))
        results = []
        for gt_instances, host in zip(batch_gt_instances, hosts):
            gt_inds, pos, neg, gt = (next(views) for _ in range(4))
            result = AssignResult(num_gts=len(gt_instances), gt_inds=gt_inds, max_overlaps=None, labels=None)
            result.host_matches = HostMatches(pos, neg, gt, host)
            results.append(result)
        return results

    def _targets_from_assignment(self, cls_score: Tensor, mask_pred: Tensor, gt_instances: InstanceData,
                                 assign_result) -> tuple:
        """The second half of mmdet's ``Mask2FormerHead._get_targets_single``: sampler (the host matches, for
        mmdet's ``MaskPseudoSampler``) and targets."""
        sampling_result = getattr(assign_result, 'host_matches', None)
        if sampling_result is None or type(self.sampler) is not MaskPseudoSampler:
            sampling_result = self.sampler.sample(assign_result=assign_result,
                                                  pred_instances=InstanceData(scores=cls_score, masks=mask_pred),
                                                  gt_instances=gt_instances)
        pos_inds = sampling_result.pos_inds
        gt_labels = gt_instances.labels
        labels = gt_labels.new_full((self.num_queries,), self.num_classes, dtype=torch.long)
        labels[pos_inds] = gt_labels[sampling_result.pos_assigned_gt_inds]
        mask_weights = mask_pred.new_zeros((self.num_queries,))
        mask_weights[pos_inds] = 1.0
        mask_targets = gt_instances.masks[sampling_result.pos_assigned_gt_inds]
        return (labels, gt_labels.new_ones((self.num_queries,)), mask_targets, mask_weights, pos_inds,
                sampling_result.neg_inds, sampling_result)

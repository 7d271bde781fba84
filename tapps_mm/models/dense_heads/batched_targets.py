"""mmdet's Mask2Former target assignment with the match costs of a decoder layer computed for the whole batch.

mmdet's ``get_targets`` runs ``_get_targets_single`` once per image, and each call evaluates every match cost
(class, mask BCE, mask dice) on that image's points alone: at toy scale (8 images, 4 prediction layers,
object and part sets) these small calls are a fifth of a CPU training step. This mixin keeps mmdet's
algorithm and draws, and changes only how the work is grouped:

- the sampling points: one ``torch.rand((B, num_points, 2))`` per layer, the same numbers on CPU as mmdet's
  ``B`` draws of ``(1, num_points, 2)`` (``tests/test_models/test_dense_heads/test_batched_targets.py`` checks this
  through the matches);
- the predicted masks of all images are point-sampled in one call (GT masks stay per image: stacking
  full-resolution GT masks would cost memory at the paper's crop);
- each configured match cost runs once on all queries x all GT objects of the batch; each image's
  block of that matrix goes to mmdet's ``HungarianAssigner`` through :class:`PrecomputedCost`, so the
  Hungarian step, the sampler and the targets are mmdet's own.

The costs between one image's queries and another image's GT objects are computed and discarded: a
``B``-fold larger product than needed, cheap beside the per-call overhead it removes.

The costs are computed in float32 with autocast off, as the official (detectron2) Mask2Former / TAPPS matcher
does: under AMP, mmdet's mask costs sum ``num_points`` (12544) terms in float16, which overflows to inf and
makes the Hungarian step fail ('cost matrix is infeasible').
"""
from __future__ import annotations

import functools

import torch
from mmcv.ops import point_sample
from mmdet.models.task_modules.assigners import HungarianAssigner
from mmdet.models.utils import multi_apply
from mmengine.structures import InstanceData
from torch import Tensor

from tapps_mm.registry import TASK_UTILS


@TASK_UTILS.register_module()
class PrecomputedCost:
    """A match cost that returns the cost matrix the caller already put in ``pred_instances.costs``."""

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData, img_meta=None) -> Tensor:
        return pred_instances.costs


class BatchedTargetsMixin:
    """``get_targets`` of mmdet's ``Mask2FormerHead`` (same returns), batched over the images of a layer.

    Per-image results go through :meth:`_targets_from_assignment`, the hook subclasses override to see
    each image's matches (as mmdet's ``_get_targets_single``)."""

    @functools.cached_property
    def _cost_assigner(self) -> HungarianAssigner:
        return HungarianAssigner(match_costs=[dict(type='tapps_mm.PrecomputedCost')])

    def get_targets(self, cls_scores_list: list[Tensor], mask_preds_list: list[Tensor],
                    batch_gt_instances: list[InstanceData], batch_img_metas: list[dict],
                    return_sampling_results: bool = False) -> tuple:
        if not isinstance(self.assigner, HungarianAssigner):
            raise TypeError(f'{type(self).__name__}: train_cfg.assigner must be a HungarianAssigner (its match '
                            f'costs are batched over the images), got {type(self.assigner).__name__}')
        costs = self._batch_costs(torch.stack(cls_scores_list).detach(), torch.stack(mask_preds_list).detach(),
                                  batch_gt_instances, batch_img_metas)
        results = multi_apply(self._targets_from_cost, cls_scores_list, mask_preds_list, batch_gt_instances,
                              batch_img_metas, costs)
        res = tuple(results[:4]) + (sum(r.avg_factor for r in results[6]),)
        return res + (results[6],) if return_sampling_results else res

    @torch.no_grad()
    def _batch_costs(self, cls_scores: Tensor, mask_preds: Tensor, batch_gt_instances: list[InstanceData],
                     batch_img_metas: list[dict]) -> list[Tensor]:
        """Each image's [num_queries, num_gts] matching cost, from one call per match cost."""
        num_imgs, num_queries = cls_scores.shape[:2]
        coords = torch.rand((num_imgs, self.num_points, 2), device=cls_scores.device)
        with torch.autocast(cls_scores.device.type, enabled=False):  # fp32 costs, as the official matcher
            pred_points = point_sample(mask_preds.float(), coords)  # [B, Q, P]: queries as channels, one grid/image
            gt_points = [point_sample(gt.masks[None].float(), coords[b:b + 1])[0]
                         for b, gt in enumerate(batch_gt_instances)]
            preds = InstanceData(scores=cls_scores.float().flatten(0, 1), masks=pred_points.flatten(0, 1))
            gts = InstanceData(labels=torch.cat([gt.labels for gt in batch_gt_instances]), masks=torch.cat(gt_points))
            cost = sum(match_cost(pred_instances=preds, gt_instances=gts, img_meta=batch_img_metas[0])
                       for match_cost in self.assigner.match_costs)
        ends = torch.tensor([len(gt) for gt in batch_gt_instances]).cumsum(0).tolist()
        return [cost[b * num_queries:(b + 1) * num_queries, end - len(gt):end]
                for b, (gt, end) in enumerate(zip(batch_gt_instances, ends))]

    def _targets_from_cost(self, cls_score: Tensor, mask_pred: Tensor, gt_instances: InstanceData, img_meta: dict,
                           cost: Tensor) -> tuple:
        assign_result = self._cost_assigner.assign(InstanceData(costs=cost), gt_instances, img_meta)
        return self._targets_from_assignment(cls_score, mask_pred, gt_instances, assign_result)

    def _targets_from_assignment(self, cls_score: Tensor, mask_pred: Tensor, gt_instances: InstanceData,
                                 assign_result) -> tuple:
        """The second half of mmdet's ``Mask2FormerHead._get_targets_single``: sampler and targets."""
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

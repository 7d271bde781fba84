"""The 'dynamic' part branch of TAPPS Table 7: per object, a set of dynamic part queries that each predict
a part class (or 'no part') and a mask, matched to the object's parts like Mask2Former's object queries.

Everything else is :class:`JOPSHead`: objects, object matching, the matched parts-class objects that carry
part labels, their point-sampled targets, the per-layer loop and the PPS inference interface. Only the
part queries, the part loss and ``part_mask_logits`` change:

- training, per decoder layer and matched object: Hungarian matching (the head's Mask2Former assigner by
  default: class + point-sampled BCE + dice costs) between its ``num_dynamic`` part queries and the part
  classes present in the object; cross-entropy on all of its part queries ('no part' weight 0.1), BCE +
  dice on the point-sampled masks of the matched ones;
- inference: the score of part class j in an object is ``max_d p_d(j) * sigmoid(mask_d)``, returned as a
  logit so that ``PPSFusionHead`` compares it to its 'no part' score unchanged.

Dynamic part queries and masks are computed only for those objects (matched ones in training, the
queries the fusion head asks for at inference).
"""
from __future__ import annotations

import logging

import torch
from mmcv.ops import point_sample
from mmdet.utils import reduce_mean
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from torch import Tensor

from tapps_mm.models.dense_heads.jops_head import JOPSHead
from tapps_mm.registry import MODELS, TASK_UTILS
from tapps_mm.structures import PresentPartTargets, SupervisedObjects
from tapps_mm.structures.part_targets import unpack_part_code


@MODELS.register_module()
class JOPSDynamicPartHead(JOPSHead):
    """JOPS head whose part queries are dynamic (matched and classified) instead of one per part class.

    Args:
        num_dynamic: dynamic part queries per object query (should be >= the most parts of a class,
            otherwise the extra parts of such objects stay unmatched).
        part_query: adaptation layers of :class:`DynamicPartQueryGenerator` (``num_adapt_layers``, Table 4).
        part_assigner: Hungarian assigner of dynamic part queries to parts; default: the head's
            (object-level) assigner from ``train_cfg``.
        loss_part_cls: part classification loss (``class_weight`` defaults to 1 per part, ``no_part_weight``).
        no_part_weight: weight of the 'no part' class in ``loss_part_cls``.
        logit_eps: part scores are clamped to [eps, 1 - eps] before the logit at inference.
        **kwargs: :class:`JOPSHead` arguments; ``compatible_parts_train`` restricts the part classes an
            object's dynamic queries may predict to the parts compatible with its (GT / predicted) class.
    """

    part_query_type = 'DynamicPartQueryGenerator'

    def __init__(self, *args, num_dynamic: int = 10, part_query: dict | None = None,
                 part_assigner: dict | None = None, loss_part_cls: dict | None = None, no_part_weight: float = 0.1,
                 logit_eps: float = 1e-6, **kwargs) -> None:
        super().__init__(*args, part_query={**(part_query or {}), 'num_dynamic': num_dynamic}, **kwargs)
        most_parts = int(self.compatibility.sum(1).max()) if self.num_parts else 0
        if num_dynamic < most_parts:
            print_log(f'JOPSDynamicPartHead: num_dynamic={num_dynamic} < {most_parts} parts of a class in spec '
                      f'{self.spec.name!r}: some parts can never be matched.', logger='current', level=logging.WARNING)
        self.part_assigner = TASK_UTILS.build(part_assigner) if part_assigner else getattr(self, 'assigner', None)
        loss_part_cls = dict(loss_part_cls or dict(
            type='CrossEntropyLoss', use_sigmoid=False, reduction='mean', loss_weight=2.0))
        loss_part_cls.setdefault('class_weight', [1.0] * self.num_parts + [no_part_weight])
        self.loss_part_cls = MODELS.build(loss_part_cls)
        self.register_buffer('part_class_weight', torch.tensor(loss_part_cls['class_weight'], dtype=torch.float),
                             persistent=False)
        self.logit_eps = logit_eps

    # ----------------------------------------------------------------------------------- shared
    @staticmethod
    def _restrict(cls_logits: Tensor, allowed: Tensor) -> Tensor:
        """Part-class logits [M, D, P + 1] with the parts not ``allowed`` [M, P] set to -inf ('no part' stays)."""
        keep = torch.cat([allowed, allowed.new_ones(allowed.shape[0], 1)], 1)
        return cls_logits.masked_fill(~keep[:, None], float('-inf'))

    # ----------------------------------------------------------------------------------- inference
    def part_mask_logits(self, queries: Tensor, part_idx: Tensor, mask_features: Tensor) -> Tensor:
        """Logits [M, h, w] of ``max_d p_d(part_idx[m]) * sigmoid(mask_d)`` over the dynamic queries of
        ``queries[m]`` [M, C] (one image's features), for PPSFusionHead's comparison with 'no part'.

        Each distinct object query is expanded once. With ``compatible_parts_train`` the class softmax is
        over the parts of the query's predicted class + 'no part', the domain it was trained on (the
        predicted class is the one the fusion head uses: argmax of the same class logits)."""
        objects, inverse = torch.unique(queries, dim=0, return_inverse=True)
        part_q, cls_logits = self.part_queries(objects)
        if self.compatible_parts_train:
            labels = self.cls_embed(objects)[:, :self.num_classes].argmax(-1)
            cls_logits = self._restrict(cls_logits, self.compatibility[labels])
        probs = cls_logits.softmax(-1)[inverse, :, part_idx]  # [M, D]
        masks = torch.einsum('udc,chw->udhw', part_q, mask_features).sigmoid()
        score = (probs[..., None, None] * masks[inverse]).amax(1)
        return torch.logit(score, eps=self.logit_eps)

    # ----------------------------------------------------------------------------------- training
    # the part loss layer by layer, in each layer's turn (JOPSHead's per-layer API; matching per object)
    def _supervised_parts(self, batch_gt_instances, targets: list) -> None:
        return None

    def _layer_part_loss(self, queries: Tensor, mask_features: Tensor, batch_gt_instances, targets: list,
                         matches: list, supervised) -> dict[str, Tensor]:
        return self._part_loss(queries, mask_features, self._supervised_objects(batch_gt_instances, targets, matches),
                               targets)

    def _part_losses_of_layers(self, layers: list[dict[str, Tensor]], targets: list) -> list[dict[str, Tensor]]:
        return layers

    def loss_by_feat(self, *args, **kwargs) -> dict[str, Tensor]:
        """JOPSHead's losses, the part classification losses of all layers last (the order they are summed in)."""
        losses = super().loss_by_feat(*args, **kwargs)
        last = [k for k in losses if k.endswith('loss_part_cls')]
        return {**{k: v for k, v in losses.items() if k not in last}, **{k: losses[k] for k in last}}

    def _part_targets(self, gt_instances, part_map: Tensor | None) -> PresentPartTargets | None:
        """JOPSHead's targets + which part classes are present in each GT object, once per batch."""
        targets = super()._part_targets(gt_instances, part_map)
        if targets is None:
            return None
        present = torch.zeros(len(targets.annotated), self.num_parts, dtype=torch.bool,
                              device=targets.code_map.device)
        objects, parts = unpack_part_code(targets.code_map.unique().long())
        found = (objects > 0) & (parts > 0)
        present[objects[found] - 1, parts[found] - 1] = True
        return PresentPartTargets(targets.code_map, targets.annotated, present)

    def _present_parts(self, objects: SupervisedObjects, targets: list[PresentPartTargets]) -> Tensor:
        """[K, num_parts] bool: the part classes present in the GT object of each supervised object."""
        present = self.compatibility.new_zeros(len(objects.gts), self.num_parts)
        for b in objects.imgs.unique().tolist():
            rows = objects.imgs == b
            present[rows] = targets[b].present[objects.gts[rows]]
        return present

    @torch.no_grad()
    def _match_parts(self, cls_logits: Tensor, mask_logits: Tensor, imgs: Tensor, gts: Tensor, present: Tensor,
                     targets: list) -> Tensor:
        """Per object, Hungarian matching of its dynamic queries to its present parts (as Mask2Former matches
        objects: class cost + BCE / dice costs at ``num_points`` uniform random points, the target masks sampled
        bilinearly as mmdet's).

        Returns [M, D]: the matched part index of each dynamic query, -1 if unmatched ('no part')."""
        num_obj, num_dyn = cls_logits.shape[:2]
        assigned = torch.full((num_obj, num_dyn), -1, dtype=torch.long, device=cls_logits.device)
        if not num_obj:
            return assigned
        coords = torch.rand(num_obj, self.num_points, 2, device=mask_logits.device)
        pred_points = point_sample(mask_logits, coords)  # [M, D, N]
        # every (object, present part) target at its object's points, in one call (grouped by image inside)
        rows, present_parts = present.nonzero(as_tuple=True)
        all_points = self._mask_targets_at(targets, imgs[rows], gts[rows], present_parts, coords[rows])
        for m in range(num_obj):
            sel = rows == m
            parts, gt_points = present_parts[sel], all_points[sel]
            if not len(parts):
                continue
            res = self.part_assigner.assign(InstanceData(scores=cls_logits[m], masks=pred_points[m]),
                                            InstanceData(labels=parts, masks=gt_points))
            hit = res.gt_inds > 0
            assigned[m, hit] = parts[res.gt_inds[hit] - 1]
        return assigned

    def _part_loss(self, queries: Tensor, mask_features: Tensor, objects: SupervisedObjects,
                   targets: list) -> dict[str, Tensor]:
        """Mask BCE and dice of the matched dynamic queries, class loss of all dynamic queries of the
        supervised objects."""
        imgs, gts = objects.imgs, objects.gts
        allowed = self._select_parts(objects.labels)
        # with compatible_parts_train, incompatible part labels are no targets
        present = self._present_parts(objects, targets) & allowed

        part_q, cls_logits = self.part_queries(queries[imgs, objects.queries])
        cls_logits = self._restrict(cls_logits, allowed)
        mask_logits = self._masks_per_image(part_q, imgs, mask_features)
        assigned = self._match_parts(cls_logits, mask_logits, imgs, gts, present, targets)

        labels = torch.where(assigned >= 0, assigned, self.num_parts)
        cls_avg = max(reduce_mean(self.part_class_weight[labels].sum()).item(), 1.0)
        loss_cls = self.loss_part_cls(cls_logits.flatten(0, 1), labels.flatten(), avg_factor=cls_avg)
        m, d = (assigned >= 0).nonzero(as_tuple=True)
        loss_mask, loss_dice = self._point_mask_losses(mask_logits[m, d], imgs[m], gts[m], assigned[m, d], targets)
        return dict(loss_part_mask=loss_mask, loss_part_dice=loss_dice, loss_part_cls=loss_cls)

"""The JOPS head of TAPPS (sec. 3.3): Mask2Former's head, whose shared queries also predict the parts
of their object.

Everything object-level (pixel decoder, masked-attention decoder, class / mask predictions, Hungarian
matching on class + mask, point-sampled losses) is :class:`Mask2FormerPPSHead` (mmdet's ``Mask2FormerHead``).
This subclass adds:

- per decoder layer, the normalised queries; a :class:`PartQueryGenerator` turns a (query, part class)
  pair into a part query whose dot product with the mask features is that part's mask logits;
- the part loss (Eq. 1), as the official TAPPS computes it: for each matched query of an object of a class
  with part masks (single-part classes included), dice + BCE of its compatible parts' masks
  (``compatible_parts_train``; otherwise of all part classes) at mmdet's uncertainty-sampled points, the
  target masks sampled bilinearly like the object masks, normalised by the number of part masks on this
  process; on every decoder layer. An object without any part label is supervised too (every part mask
  empty: it learns 'no part' there) unless ``supervise_unlabelled_objects=False``. Part masks are computed
  only for the supervised pairs, never for all queries x part classes (the same values).

How the part loss is computed (the same values as layer by layer, made for a GPU): which (object, part) pairs
are supervised is decided on the host once per step, from one copy of the GT labels; each decoder layer's turn
in mmdet's loop only lists its pairs in the official order (image, matched query, part) from the host copy of
its matches (:class:`HostMatches`) and draws its random points (so the random stream is the layer-by-layer
one); after the loop, the part losses of all layers are one batched computation (part queries, masks, point
selection, targets sampled from the code maps, per-layer sums) that asks the device for nothing.
``_part_loss`` and its helpers are the same loss for one layer, which the dynamic head builds on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from mmcv.ops import point_sample
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from torch import Tensor

from tapps_mm.models.dense_heads.batched_targets import host_matches
from tapps_mm.models.dense_heads.mask2former_pps_head import Mask2FormerPPSHead
from tapps_mm.models.dense_heads.point_losses import (
    check_mean_losses,
    draw_points,
    layer_mask_losses,
    sample_code_masks,
    uncertain_points,
    upload,
)
from tapps_mm.registry import MODELS
from tapps_mm.structures import PartTargets, QueryPartOutputs, SupervisedObjects, pack_part_code


@dataclass
class LayerPartRows:
    """One decoder layer's supervised (object, part) pairs, listed in its turn of the loss loop."""
    queries: Tensor  # [B, Q, C] the layer's normalised queries
    mask_features: Tensor  # [B, C, h, w]
    rows: list[tuple[int, int, int, int]]  # (image, matched query, GT object, part index), in the official order
    candidates: Tensor | None  # the layer's draws of its point selection (None without rows)
    random: Tensor | None


@MODELS.register_module()
class JOPSHead(Mask2FormerPPSHead):
    """Mask2Former head + joint object-part queries.

    Args:
        spec: PPS spec name or eval-spec YAML (:class:`Mask2FormerPPSHead`): also the parts and their
            compatibility.
        part_query: config of the part-query generator (``num_adapt_layers``: Table 4; default the official
            2-layer MLP).
        compatible_parts_train: supervise only the parts compatible with the matched GT class (Table 3;
            default on, as the official code).
        lambda_obj / lambda_pt: weights of the object and part losses (Eq. 1).
        loss_part_mask / loss_part_dice: point-sampled BCE and dice of part masks (mmdet losses reducing by
            mean with an ``avg_factor``).
        supervise_unlabelled_objects: also supervise the part masks (all empty) of objects that carry no part
            label (official). ``False`` skips them: where part labels are missing rather than absent (objects
            too small to annotate), this avoids teaching 'no part' on them.
    """

    #: the part-query generator this head builds (subclasses with another part branch change it)
    part_query_type = 'PartQueryGenerator'

    def __init__(self, *args, part_query: dict | None = None, compatible_parts_train: bool = True,
                 lambda_obj: float = 1.0, lambda_pt: float = 1.0, loss_part_mask: dict | None = None,
                 loss_part_dice: dict | None = None, supervise_unlabelled_objects: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.num_parts = self.spec.num_parts
        self.part_queries = MODELS.build(self._part_query_cfg(part_query or {}))
        self.register_buffer('compatibility', torch.from_numpy(self.spec.compatibility), persistent=False)
        self.register_buffer('label_has_part_masks', torch.from_numpy(self.spec.label_has_part_masks),
                             persistent=False)
        self.compatible_parts_train = compatible_parts_train
        self.supervise_unlabelled_objects = supervise_unlabelled_objects
        self.lambda_obj = lambda_obj
        self.lambda_pt = lambda_pt
        self.loss_part_mask = MODELS.build(loss_part_mask or dict(
            type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=5.0))
        self.loss_part_dice = MODELS.build(loss_part_dice or dict(
            type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean', naive_dice=True, eps=1.0,
            loss_weight=5.0))
        check_mean_losses(type(self).__name__, loss_part_mask=self.loss_part_mask,
                          loss_part_dice=self.loss_part_dice)
        # the same choices as _select_parts, on the host: the part indices supervised for an object of each label
        selected = self.spec.compatibility if compatible_parts_train else np.repeat(
            self.spec.label_has_part_masks[:, None], self.num_parts, 1)
        self._parts_of_label = [np.flatnonzero(row).tolist() if has else []
                                for row, has in zip(selected, self.spec.label_has_part_masks)]

    def _part_query_cfg(self, part_query: dict) -> dict:
        """Config of the part-query generator from the ``part_query`` options."""
        cfg = {'type': self.part_query_type, **part_query, 'num_parts': self.num_parts}
        cfg.setdefault('embed_dims', self.transformer_decoder.embed_dims)
        cfg.setdefault('out_dims', self.mask_embed[-1].out_features)
        return cfg

    # ----------------------------------------------------------------------------------- forward
    def _forward_head(self, decoder_out: Tensor, mask_feature: Tensor, attn_mask_target_size) -> tuple:
        # the queries this layer's object predictions are made from
        self.record((self.transformer_decoder.post_norm(decoder_out), mask_feature))
        return super()._forward_head(decoder_out, mask_feature, attn_mask_target_size)

    def part_mask_logits(self, queries: Tensor, part_idx: Tensor, mask_features: Tensor) -> Tensor:
        """Mask logits [M, h, w] of parts ``part_idx`` [M] of the queries [M, C], one image's features."""
        part_q = self.part_queries(queries, part_idx)
        return torch.einsum('mc,chw->mhw', part_q, mask_features)

    # ----------------------------------------------------------------------------------- training
    def _targets_from_assignment(self, *args, **kwargs) -> tuple:
        res = super()._targets_from_assignment(*args, **kwargs)
        self.record(res[-1])  # this image's matches, for the part loss of the same layer
        return res

    def loss_by_feat(self, all_cls_scores, all_mask_preds, all_layers, batch_gt_instances, batch_part_maps,
                     batch_img_metas) -> dict[str, Tensor]:
        """mmdet's object losses per decoder layer, each followed by the part losses of the same matches."""
        targets = [self._part_targets(gt, part) for gt, part in zip(batch_gt_instances, batch_part_maps)]
        supervised = self._supervised_parts(batch_gt_instances, targets)
        object_losses, layer_parts = [], []
        for cls_scores, mask_preds, (queries, mask_features) in zip(all_cls_scores, all_mask_preds, all_layers):
            with self.recording() as matches:
                object_losses.append(self._loss_by_feat_single(cls_scores, mask_preds, batch_gt_instances,
                                                               batch_img_metas))
            layer_parts.append(self._layer_part_loss(queries, mask_features, batch_gt_instances, targets, matches,
                                                     supervised))
        part_losses = self._part_losses_of_layers(layer_parts, targets)
        losses = {}
        num_layers = len(all_cls_scores)
        for i, ((loss_cls, loss_mask, loss_dice), part) in enumerate(zip(object_losses, part_losses)):
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            losses.update({f'{prefix}loss_cls': self._weighted(self.lambda_obj, loss_cls),
                           f'{prefix}loss_mask': self._weighted(self.lambda_obj, loss_mask),
                           f'{prefix}loss_dice': self._weighted(self.lambda_obj, loss_dice)})
            losses.update({prefix + name: self._weighted(self.lambda_pt, value) for name, value in part.items()})
        return losses

    def _part_targets(self, gt_instances, part_map: Tensor | None) -> PartTargets | None:
        """One image's packed (object, part) map and which GT objects carry part labels."""
        if part_map is None:
            return None
        masks = gt_instances.masks.bool()
        part_map = part_map.to(masks.device).long()
        if len(masks):  # the object of each pixel, 0 for none (GT objects are disjoint; else the last one wins)
            index = torch.arange(1, len(masks) + 1, dtype=torch.int32, device=masks.device)
            owner = (masks * index[:, None, None]).amax(0).long()
        else:
            owner = torch.zeros(masks.shape[-2:], dtype=torch.long, device=masks.device)
        annotated = (masks & (part_map > 0)).flatten(1).any(1) if masks.numel() else masks.new_zeros(0)
        return PartTargets(pack_part_code(owner, part_map * (owner > 0)).float(), annotated)

    def _supervised_parts(self, batch_gt_instances, targets: list) -> list[dict[int, list[int]] | None]:
        """Per image with part targets, the part indices supervised for each of its GT objects (of classes with
        part masks; with part labels only, unless ``supervise_unlabelled_objects``): decided on the host for all
        decoder layers, from one copy of the GT labels."""
        present = [b for b, t in enumerate(targets) if t is not None]
        values = [batch_gt_instances[b].labels for b in present]
        if not self.supervise_unlabelled_objects:
            values += [targets[b].annotated.long() for b in present]
        host = torch.cat(values).tolist() if values else []
        sizes = [len(batch_gt_instances[b].labels) for b in present]
        labels, annotated = host[:sum(sizes)], host[sum(sizes):]
        out: list[dict[int, list[int]] | None] = [None] * len(targets)
        start = 0
        for b, n in zip(present, sizes):
            out[b] = {g: self._parts_of_label[label] for g, label in enumerate(labels[start:start + n])
                      if self._parts_of_label[label] and (self.supervise_unlabelled_objects or annotated[start + g])}
            start += n
        return out

    def _layer_part_loss(self, queries: Tensor, mask_features: Tensor, batch_gt_instances, targets: list,
                         matches: list, supervised: list) -> LayerPartRows:
        """One decoder layer's turn: its supervised pairs in the official order (image, matched query ascending,
        part) from the host matches, and the draws of its point selection."""
        rows = []
        for b, (match, parts_of_gt) in enumerate(zip(matches, supervised)):
            if parts_of_gt is None:
                continue
            pos, gts = host_matches(match)
            rows += [(b, q, g, p) for q, g in zip(pos.tolist(), gts.tolist()) for p in parts_of_gt.get(g, ())]
        candidates = random = None
        if rows:  # none drawn without pairs (as the layer-by-layer loss)
            candidates, random = draw_points(len(rows), self.num_points, self.oversample_ratio,
                                             self.importance_sample_ratio, queries.device)
        return LayerPartRows(queries, mask_features, rows, candidates, random)

    def _part_losses_of_layers(self, layers: list[LayerPartRows], targets: list) -> list[dict[str, Tensor]]:
        """The part losses of every decoder layer in one batched computation: per layer, dice + BCE of its pairs'
        part masks at their points, normalised by the layer's number of pairs (at least 1), as ``_part_loss``."""
        first = layers[0]
        if any(layer.mask_features is not first.mask_features for layer in layers):
            raise ValueError(f'{type(self).__name__}: the decoder layers must share one mask-feature map')
        num_layers, (num_imgs, num_queries) = len(layers), first.queries.shape[:2]
        # host: distinct (layer, image, query) objects, each row's object, part, image, slot in its image, code
        objects: dict[int, int] = {}
        row_obj, row_part, row_img, row_slot, row_code, row_layer = [], [], [], [], [], []
        per_image = [0] * num_imgs
        for i, layer in enumerate(layers):
            for b, q, g, p in layer.rows:
                row_obj.append(objects.setdefault((i * num_imgs + b) * num_queries + q, len(objects)))
                row_part.append(p)
                row_img.append(b)
                row_slot.append(per_image[b])
                per_image[b] += 1
                row_code.append(pack_part_code(g + 1, p + 1))  # the GT object's part in the code map
                row_layer.append(i)
        num_rows = len(row_obj)
        device = first.queries.device
        idx = upload([*objects, *row_obj, *row_part, *row_img, *row_slot, *row_code, *row_layer], device)
        obj_keys, obj, part, img, slot, code, layer_of = idx.split([len(objects)] + [num_rows] * 6)
        queries = torch.stack([layer.queries for layer in layers]).flatten(0, 2)[obj_keys]
        part_q = self.part_queries.all_parts(queries)[obj, part]
        logits = self._masks_of_rows(part_q, img, slot, max(per_image), first.mask_features)
        if not num_rows:  # no pair in any layer: zero losses, the part branch still in the graph
            zero = logits.sum()
            return [dict(loss_part_mask=zero, loss_part_dice=zero) for _ in layers]
        drawn = [layer for layer in layers if layer.rows]
        random = None if drawn[0].random is None else torch.cat([layer.random for layer in drawn])
        coords = uncertain_points(logits.unsqueeze(1), torch.cat([layer.candidates for layer in drawn]), random,
                                  self.num_points, self.importance_sample_ratio)
        point_targets = sample_code_masks(self._code_maps(targets, logits), img, code, coords)
        point_logits = point_sample(logits.unsqueeze(1), coords).squeeze(1)
        num_masks = [max(float(len(layer.rows)), 1.0) for layer in layers]
        avg = upload([n * self.num_points for n in num_masks] + num_masks, device, torch.float32)
        losses = layer_mask_losses(self.loss_part_mask, self.loss_part_dice, point_logits, point_targets, layer_of,
                                   num_layers, *avg.split(num_layers)).flatten().unbind()
        return [dict(loss_part_mask=losses[i], loss_part_dice=losses[num_layers + i]) for i in range(num_layers)]

    @staticmethod
    def _code_maps(targets: list, like: Tensor) -> Tensor:
        """[B, H, W]: the images' code maps (zeros where an image has no part targets)."""
        shape = next(t.code_map.shape for t in targets if t is not None)
        return torch.stack([t.code_map if t is not None else like.new_zeros(shape) for t in targets])

    # --------------------------------------------------------------------- one layer (the dynamic head's)
    def _supervised_objects(self, batch_gt_instances, targets: list, matches: list) -> SupervisedObjects:
        """The matched queries of GT objects of classes with part masks, over the batch (with part labels only,
        unless ``supervise_unlabelled_objects``)."""
        imgs, qs, gts, labels = [], [], [], []
        for b, (gt, target, match) in enumerate(zip(batch_gt_instances, targets, matches)):
            if target is None:
                continue
            pos, gt_idx = match.pos_inds, match.pos_assigned_gt_inds
            keep = self.label_has_part_masks[gt.labels[gt_idx]]
            if not self.supervise_unlabelled_objects:
                keep = keep & target.annotated[gt_idx]
            imgs.append(torch.full_like(pos[keep], b))
            qs.append(pos[keep])
            gts.append(gt_idx[keep])
            labels.append(gt.labels[gt_idx[keep]])
        if not imgs:
            empty = self.compatibility.new_zeros(0, dtype=torch.long)
            return SupervisedObjects(empty, empty, empty, empty)
        return SupervisedObjects(torch.cat(imgs), torch.cat(qs), torch.cat(gts), torch.cat(labels))

    def _select_parts(self, labels: Tensor) -> Tensor:
        """[n, num_parts] bool: the parts to supervise for matched objects of these GT labels."""
        if self.compatible_parts_train:
            return self.compatibility[labels]
        return self.label_has_part_masks[labels, None].expand(-1, self.num_parts)

    def _part_loss(self, queries: Tensor, mask_features: Tensor, objects: SupervisedObjects,
                   targets: list) -> dict[str, Tensor]:
        """Dice + BCE of the part masks of every (supervised object, selected part) pair of one decoder layer."""
        pair, parts = self._select_parts(objects.labels).nonzero(as_tuple=True)
        imgs, gts = objects.imgs[pair], objects.gts[pair]
        logits = self._masks_per_image(self.part_queries(queries[imgs, objects.queries[pair]], parts), imgs,
                                       mask_features)
        loss_mask, loss_dice = self._point_mask_losses(logits, imgs, gts, parts, targets)
        return dict(loss_part_mask=loss_mask, loss_part_dice=loss_dice)

    @staticmethod
    def _pad_by_image(imgs: Tensor, num_imgs: int) -> tuple[Tensor, int]:
        """Slot of each row within its image ``imgs`` [K] (in row order) and the most rows of an image: rows of
        all images padded into one [num_imgs, most, ...] batch make one kernel call instead of one per image."""
        counts = torch.bincount(imgs, minlength=num_imgs)
        order = torch.argsort(imgs, stable=True)
        slot = torch.empty_like(imgs)
        slot[order] = torch.arange(len(imgs), device=imgs.device) - (counts.cumsum(0) - counts)[imgs[order]]
        return slot, int(counts.max()) if len(imgs) else 0

    @classmethod
    def _masks_per_image(cls, part_q: Tensor, imgs: Tensor, mask_features: Tensor) -> Tensor:
        """Mask logits [M, ..., h, w] of queries ``part_q`` [M, ..., C] with the mask features of their image
        ``imgs`` [M], as one batched product."""
        slot, most = cls._pad_by_image(imgs, len(mask_features))
        return cls._masks_of_rows(part_q, imgs, slot, most, mask_features)

    @staticmethod
    def _masks_of_rows(part_q: Tensor, imgs: Tensor, slot: Tensor, most: int, mask_features: Tensor) -> Tensor:
        """:meth:`_masks_per_image` with each row's slot in its image and the most rows of an image given (known on
        the host: nothing is asked of the device)."""
        lead = part_q.shape[1:-1]
        padded = part_q.new_zeros(len(mask_features), most, *part_q.shape[1:])
        padded = padded.index_put((imgs, slot), part_q).flatten(1, -2)  # [B, most * ..., C]
        logits = torch.bmm(padded, mask_features.flatten(2)).view(len(mask_features), most, *lead,
                                                                  *mask_features.shape[-2:])
        return logits[imgs, slot]

    @staticmethod
    def _code(gts: Tensor, parts: Tensor) -> Tensor:
        """Code of part ``parts`` of GT object ``gts`` in the map of :meth:`_part_targets`."""
        return pack_part_code(gts + 1, parts + 1).float()

    @classmethod
    def _mask_targets_at(cls, targets: list, imgs: Tensor, gts: Tensor, parts: Tensor, coords: Tensor) -> Tensor:
        """Target part masks [K, N] at points ``coords`` [K, N, 2]: each (object, part) mask (1 on its part's
        pixels) sampled bilinearly, as the official loss samples its binary part masks (soft at part edges)."""
        if not len(imgs):
            return coords.new_zeros(coords.shape[:2])
        return sample_code_masks(cls._code_maps(targets, coords), imgs, cls._code(gts, parts), coords)

    def _point_mask_losses(self, logits: Tensor, imgs: Tensor, gts: Tensor, parts: Tensor,
                           targets: list) -> tuple[Tensor, Tensor]:
        """BCE and dice of part masks [K, h, w] (part ``parts`` of GT object ``gts`` of image ``imgs``) at
        mmdet's uncertainty-sampled points, normalised by K on this process (official; at least 1)."""
        num_masks = max(float(len(logits)), 1.0)
        if not len(logits):
            return logits.sum(), logits.sum()
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                logits.unsqueeze(1), None, self.num_points, self.oversample_ratio, self.importance_sample_ratio)
            point_targets = self._mask_targets_at(targets, imgs, gts, parts, coords)
        point_logits = point_sample(logits.unsqueeze(1), coords).squeeze(1)
        loss_dice = self.loss_part_dice(point_logits, point_targets, avg_factor=num_masks)
        loss_mask = self.loss_part_mask(point_logits.reshape(-1), point_targets.reshape(-1),
                                        avg_factor=num_masks * self.num_points)
        return loss_mask, loss_dice

    # ----------------------------------------------------------------------------------- inference
    def part_outputs(self, layers: list, size: tuple[int, int]) -> QueryPartOutputs:
        """The last layer's queries, from which the fusion head asks for the parts of the objects it keeps."""
        queries, mask_features = layers[-1]
        return QueryPartOutputs(queries, mask_features, self.part_mask_logits)

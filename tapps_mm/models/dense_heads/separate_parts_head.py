"""The paper's baseline (Fig. 1a, sec. 4): Mask2Former whose decoder also carries a separate set of learnable
part queries doing part-level semantic segmentation by mask classification, with no link to objects.

The object and part queries go through the same masked-attention decoder (one query set of
``num_queries + num_part_queries``); each set has its own class and mask-embedding heads. Objects are
:class:`Mask2FormerPPSHead`'s, matched and supervised exactly as mmdet's Mask2Former; part queries are
matched separately (Hungarian, on part class + mask) to the image's part segments (one per part class
present) and supervised with mmdet's Mask2Former losses, run by a :class:`QuerySetLoss` that holds the
part set's sizes and criteria.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.utils import reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor, nn

from tapps_mm.models.dense_heads.batched_targets import BatchedTargetsMixin, hungarian
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
from tapps_mm.structures import SemanticPartOutputs


@dataclass
class PartSegments:
    """The part set's GT segments of a batch: one per part class present in an image."""
    labels: list[list[int]]  # per image, the part indices present, ascending (on the host)
    maps: Tensor  # [B, H, W] part index + 1 per pixel, 0 = no part: segment j of image b is maps[b] == j + 1


class QuerySetLoss(BatchedTargetsMixin, nn.Module):
    """mmdet's Mask2Former loss of one query set (``Mask2FormerHead.loss_by_feat``): per decoder layer, Hungarian
    matching of the queries to the GT segments (the configured match costs at ``num_points`` random points), then
    the classification loss and the point-sampled mask BCE and dice of the matched queries.

    mmdet's loss methods read the set's size, classes and criteria from ``self``; this object holds those of a
    query set other than its head's (the baseline's part queries), so that the head runs these losses on that
    set without changing any attribute of its own. Matching and point sampling are the head's (its
    ``train_cfg``). Computed for all layers at once (the same values as mmdet's layer-by-layer loop, from the same
    draws, made in its order): the cost matrices of all layers go to the host in one copy, the matches come back
    in one upload, and the mask losses of all layers are one computation; only the classification loss is called
    once per layer.
    """

    def __init__(self, head: Mask2FormerPPSHead, num_queries: int, num_classes: int, class_weight: list[float],
                 loss_cls: nn.Module, loss_mask: nn.Module, loss_dice: nn.Module) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.num_classes = num_classes
        self.class_weight = class_weight
        self.register_buffer('class_weights', torch.tensor(class_weight, dtype=torch.float), persistent=False)
        self.loss_cls = loss_cls
        self.loss_mask = loss_mask
        self.loss_dice = loss_dice
        check_mean_losses(type(self).__name__, loss_mask=loss_mask, loss_dice=loss_dice)
        if head.train_cfg:  # mmdet builds these only for training
            self.assigner, self.sampler = head.assigner, head.sampler
            self.num_points = head.num_points
            self.oversample_ratio = head.oversample_ratio
            self.importance_sample_ratio = head.importance_sample_ratio

    def loss_by_feat(self, all_cls_scores: list[Tensor], all_mask_preds: list[Tensor], segments: PartSegments,
                     batch_img_metas: list[dict]) -> dict[str, Tensor]:
        """mmdet's loss dict (``loss_cls``, ``loss_mask``, ``loss_dice`` of the last layer, then ``d{i}.*``) of
        class logits [B, Q, C + 1] and mask logits [B, Q, h, w] per decoder layer, on ``segments``."""
        num_layers, (num_imgs, num_queries) = len(all_cls_scores), all_cls_scores[0].shape[:2]
        device = all_cls_scores[0].device
        num_gts = [len(labels) for labels in segments.labels]
        num_matched = sum(min(n, num_queries) for n in num_gts)
        coords, candidates, random = [], [], []
        for _ in range(num_layers):  # the draws of mmdet's loop, in its order (none for a layer without matches)
            coords.append(torch.rand((num_imgs, self.num_points, 2), device=device))
            if num_matched:
                drawn = draw_points(num_matched, self.num_points, self.oversample_ratio, self.importance_sample_ratio,
                                    device)
                candidates.append(drawn[0])
                random.append(drawn[1])
        all_masks = torch.stack(all_mask_preds)  # [L, B, Q, h, w]
        matches = self._match_layers(all_cls_scores, all_masks, torch.stack(coords), segments, batch_img_metas)
        # host: class targets, and the matched queries of every layer in mmdet's order (image, query ascending)
        labels = np.full((num_layers, num_imgs, num_queries), self.num_classes, np.int64)
        row_flat, row_img, row_code, row_layer, avg_factor = [], [], [], [], []
        for i, layer in enumerate(matches):
            avg_factor.append(float(sum(max(len(rows), 1) for rows, _ in layer)))  # mmdet's sampler: max(n, 1)
            for b, (rows, cols) in enumerate(layer):
                gt_labels = np.asarray(segments.labels[b], np.int64)[cols]
                labels[i, b, rows] = gt_labels
                row_flat += ((i * num_imgs + b) * num_queries + rows).tolist()
                row_img += [b] * len(rows)
                row_code += (gt_labels + 1).tolist()
                row_layer += [i] * len(rows)
        num_rows = len(row_flat)
        idx = upload(np.concatenate([labels.ravel(), row_flat, row_img, row_code, row_layer]).astype(np.int64),
                     device)
        labels_t, flat, img, code, layer_of = idx.split([labels.size] + [num_rows] * 4)
        # classification: mmdet's loss_cls call of each layer (weights 1, avg_factor the targets' class weights)
        labels_t = labels_t.view(num_layers, num_imgs * num_queries)
        weights = all_cls_scores[0].new_ones(num_imgs * num_queries)
        class_avg = self.class_weights[labels_t].sum(1).unbind()
        loss_cls = [self.loss_cls(cls.flatten(0, 1), target, weights, avg_factor=avg)
                    for cls, target, avg in zip(all_cls_scores, labels_t.unbind(), class_avg)]
        # masks: every layer's matched queries at once
        logits = all_masks.flatten(0, 2)[flat]
        if num_rows:
            points = uncertain_points(logits.unsqueeze(1), torch.cat(candidates),
                                      None if random[0] is None else torch.cat(random), self.num_points,
                                      self.importance_sample_ratio)
            targets = sample_code_masks(segments.maps, img, code, points)
            point_logits = point_sample(logits.unsqueeze(1), points).squeeze(1)
            num_total_masks = reduce_mean(upload(avg_factor, device, torch.float32)).clamp(min=1)
            mask_dice = layer_mask_losses(self.loss_mask, self.loss_dice, point_logits, targets, layer_of, num_layers,
                                          num_total_masks * self.num_points, num_total_masks).flatten().unbind()
        else:  # mmdet's zero-match losses
            mask_dice = [logits.sum()] * (2 * num_layers)
        losses = {}
        for i in [num_layers - 1, *range(num_layers - 1)]:  # mmdet's key order: the last layer first
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            losses.update({f'{prefix}loss_cls': loss_cls[i], f'{prefix}loss_mask': mask_dice[i],
                           f'{prefix}loss_dice': mask_dice[num_layers + i]})
        return losses

    @torch.no_grad()
    def _match_layers(self, all_cls_scores: list[Tensor], all_masks: Tensor, coords: Tensor, segments: PartSegments,
                      batch_img_metas: list[dict]) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Per layer and image, the Hungarian matches (queries ascending, their segments) on the configured match
        costs at the layer's points ``coords`` [L, B, N, 2]: costs of every layer, one copy to the host."""
        num_layers, num_imgs = coords.shape[:2]
        num_gts = [len(labels) for labels in segments.labels]
        num_queries = all_masks.shape[2]
        if not sum(num_gts):
            empty = np.zeros(0, np.int64)
            return [[(empty, empty)] * num_imgs for _ in range(num_layers)]
        gt_img = np.repeat(np.arange(num_imgs), num_gts)
        gt_labels = np.concatenate([np.asarray(labels, np.int64) for labels in segments.labels])
        idx = upload(np.concatenate([gt_labels, np.add.outer(np.arange(num_layers) * num_imgs, gt_img).ravel(),
                                     np.tile(gt_img, num_layers), np.tile(gt_labels + 1, num_layers)]), coords.device)
        labels, point_of, img, code = idx.split([len(gt_labels)] + [num_layers * len(gt_labels)] * 3)
        flat_coords = coords.flatten(0, 1)
        with torch.autocast(coords.device.type, enabled=False):  # fp32 costs, as the official matcher
            pred_points = point_sample(all_masks.flatten(0, 1).float(), flat_coords).view(
                num_layers, num_imgs, num_queries, -1)
            gt_points = sample_code_masks(segments.maps, img, code, flat_coords[point_of]).view(
                num_layers, len(gt_labels), -1)
            costs = torch.stack([self._match_cost(cls.detach(), points, labels, gts, batch_img_metas[0])
                                 for cls, points, gts in zip(all_cls_scores, pred_points, gt_points)])
        return [[hungarian(block) for block in self._image_blocks(cost, num_queries, num_gts)]
                for cost in costs.cpu().numpy()]


@MODELS.register_module()
class SeparatePartQueriesHead(Mask2FormerPPSHead):
    """Mask2Former head + ``num_part_queries`` part queries (part classes + 'no part').

    Args:
        spec: PPS spec name or eval-spec YAML (:class:`Mask2FormerPPSHead`): also the number of part classes.
        num_part_queries: learnable part queries (100 in the paper).
        part_no_object_weight: class weight of 'no part' in the part classification loss.
        loss_part_cls: part classification loss (default: the object one's, over part classes + 'no part').
        loss_part_mask / loss_part_dice: part mask losses (default: the object ones).
        lambda_obj / lambda_pt: weights of the object and part losses.
    """

    def __init__(self, *args, num_queries: int = 100, num_part_queries: int = 100, part_no_object_weight: float = 0.1,
                 loss_part_cls: dict | None = None, loss_part_mask: dict | None = None,
                 loss_part_dice: dict | None = None, lambda_obj: float = 1.0, lambda_pt: float = 1.0,
                 **kwargs) -> None:
        # the parent builds one embedding table for both sets; num_queries is restored for the object targets
        super().__init__(*args, num_queries=num_queries + num_part_queries, **kwargs)
        self.num_queries = num_queries
        self.num_part_queries = num_part_queries
        self.num_parts = self.spec.num_parts
        feat = self.transformer_decoder.embed_dims
        self.part_cls_embed = nn.Linear(feat, self.num_parts + 1)
        self.part_mask_embed = nn.Sequential(
            nn.Linear(feat, feat), nn.ReLU(inplace=True), nn.Linear(feat, feat), nn.ReLU(inplace=True),
            nn.Linear(feat, self.mask_embed[-1].out_features))
        part_class_weight = [1.0] * self.num_parts + [part_no_object_weight]
        self.part_loss = QuerySetLoss(
            self, num_part_queries, self.num_parts, part_class_weight,
            loss_cls=MODELS.build(loss_part_cls or dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0,
                                                        reduction='mean', class_weight=part_class_weight)),
            loss_mask=MODELS.build(loss_part_mask) if loss_part_mask else self.loss_mask,
            loss_dice=MODELS.build(loss_part_dice) if loss_part_dice else self.loss_dice)
        self.lambda_obj = lambda_obj
        self.lambda_pt = lambda_pt

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """A Mask2Former checkpoint (the COCO-panoptic initialisation) has embeddings for the object queries
        only: they fill the first ``num_queries`` rows, the part queries keep their initialisation (a shape
        mismatch would otherwise leave the object queries untrained too)."""
        for name in ('query_embed.weight', 'query_feat.weight'):
            loaded, own = state_dict.get(prefix + name), self.state_dict(keep_vars=True)[name]
            if loaded is not None and loaded.shape[0] == self.num_queries and loaded.shape[1:] == own.shape[1:]:
                state_dict[prefix + name] = torch.cat([loaded.to(own), own.detach()[self.num_queries:]])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------------------------------- forward
    def _forward_head(self, decoder_out: Tensor, mask_feature: Tensor, attn_mask_target_size) -> tuple:
        """Object predictions as mmdet's; part predictions recorded; attention masks of both sets."""
        out = self.transformer_decoder.post_norm(decoder_out)
        obj, part = out[:, :self.num_queries], out[:, self.num_queries:]
        cls_pred = self.cls_embed(obj)
        masks = torch.einsum('bqc,bchw->bqhw', torch.cat([self.mask_embed(obj), self.part_mask_embed(part)], 1),
                             mask_feature)
        self.record((self.part_cls_embed(part), masks[:, self.num_queries:]))
        attn_mask = F.interpolate(masks, attn_mask_target_size, mode='bilinear', align_corners=False)
        attn_mask = attn_mask.flatten(2).unsqueeze(1).repeat((1, self.num_heads, 1, 1)).flatten(0, 1)
        attn_mask = (attn_mask.sigmoid() < 0.5).detach()
        return cls_pred, masks[:, :self.num_queries], attn_mask

    # ----------------------------------------------------------------------------------- training
    @staticmethod
    def part_segments(part_map: Tensor) -> InstanceData:
        """One GT segment per part class present (flat part index j: pixels with code j + 1)."""
        codes = part_map.unique()
        codes = codes[codes > 0]
        return InstanceData(labels=(codes - 1).long(), masks=(part_map[None] == codes[:, None, None]).long())

    def batch_part_segments(self, batch_part_maps: list, like: Tensor) -> PartSegments:
        """:meth:`part_segments` of every image (an image without part labels has none), with the part classes
        present read to the host in one copy."""
        shape = next((m.shape[-2:] for m in batch_part_maps if m is not None), like.shape[-2:])
        maps = torch.stack([m.to(like.device).long() if m is not None else
                            torch.zeros(shape, dtype=torch.long, device=like.device) for m in batch_part_maps])
        present = maps.new_zeros(len(maps), self.num_parts + 1, dtype=torch.bool)
        present = present.scatter(1, maps.flatten(1), True)[:, 1:].tolist()
        return PartSegments([[j for j, p in enumerate(row) if p] for row in present], maps)

    def loss_by_feat(self, all_cls_scores, all_mask_preds, all_layers, batch_gt_instances, batch_part_maps,
                     batch_img_metas) -> dict[str, Tensor]:
        """mmdet's object losses, then mmdet's losses of the part set on the part segments."""
        losses = {k: self._weighted(self.lambda_obj, v) for k, v in super().loss_by_feat(
            all_cls_scores, all_mask_preds, all_layers, batch_gt_instances, batch_part_maps, batch_img_metas).items()}
        segments = self.batch_part_segments(batch_part_maps, all_mask_preds[0])
        part_losses = self.part_loss.loss_by_feat([c for c, _ in all_layers], [m for _, m in all_layers], segments,
                                                  batch_img_metas)
        losses.update({k.replace('loss_', 'loss_part_'): self._weighted(self.lambda_pt, v)
                       for k, v in part_losses.items()})
        return losses

    # ----------------------------------------------------------------------------------- inference
    def part_outputs(self, layers: list, size: tuple[int, int]) -> SemanticPartOutputs:
        """The last layer's part classes and part masks (at the batch input size, as the object masks)."""
        part_cls, part_masks = layers[-1]
        return SemanticPartOutputs(part_cls, F.interpolate(part_masks, size=size, mode='bilinear', align_corners=False))

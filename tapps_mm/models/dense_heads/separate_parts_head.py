"""The paper's baseline (Fig. 1a, sec. 4): Mask2Former whose decoder also carries a separate set of learnable
part queries doing part-level semantic segmentation by mask classification, with no link to objects.

The object and part queries go through the same masked-attention decoder (one query set of
``num_queries + num_part_queries``); each set has its own class and mask-embedding heads. Objects are
:class:`Mask2FormerPPSHead`'s, matched and supervised exactly as mmdet's Mask2Former; part queries are
matched separately (Hungarian, on part class + mask) to the image's part segments (one per part class
present) and supervised with mmdet's own Mask2Former losses, run by a :class:`QuerySetLoss` that holds the
part set's sizes and criteria.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import Mask2FormerHead
from mmengine.structures import InstanceData
from torch import Tensor, nn

from tapps_mm.models.dense_heads.batched_targets import BatchedTargetsMixin
from tapps_mm.models.dense_heads.mask2former_pps_head import Mask2FormerPPSHead
from tapps_mm.registry import MODELS
from tapps_mm.structures import SemanticPartOutputs


class QuerySetLoss(BatchedTargetsMixin, nn.Module):
    """mmdet's Mask2Former loss of one query set: per decoder layer, Hungarian matching of the queries to the
    GT segments, then the classification loss and the point-sampled mask BCE and dice of the matched queries.

    mmdet's loss methods read the set's size, classes and criteria from ``self`` and take no arguments for
    them; this object holds those of a query set other than its head's (the baseline's part queries), so that
    the head runs mmdet's losses on that set without changing any attribute of its own. Matching and point
    sampling are the head's (its ``train_cfg``).
    """

    loss_by_feat = Mask2FormerHead.loss_by_feat
    _loss_by_feat_single = Mask2FormerHead._loss_by_feat_single

    def __init__(self, head: Mask2FormerHead, num_queries: int, num_classes: int, class_weight: list[float],
                 loss_cls: nn.Module, loss_mask: nn.Module, loss_dice: nn.Module) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.num_classes = num_classes
        self.class_weight = class_weight
        self.loss_cls = loss_cls
        self.loss_mask = loss_mask
        self.loss_dice = loss_dice
        if head.train_cfg:  # mmdet builds these only for training
            self.assigner, self.sampler = head.assigner, head.sampler
            self.num_points = head.num_points
            self.oversample_ratio = head.oversample_ratio
            self.importance_sample_ratio = head.importance_sample_ratio


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

    def loss_by_feat(self, all_cls_scores, all_mask_preds, all_layers, batch_gt_instances, batch_part_maps,
                     batch_img_metas) -> dict[str, Tensor]:
        """mmdet's object losses, then mmdet's losses of the part set on the part segments."""
        losses = {k: self.lambda_obj * v for k, v in super().loss_by_feat(
            all_cls_scores, all_mask_preds, all_layers, batch_gt_instances, batch_part_maps, batch_img_metas).items()}
        part_gts = [self.part_segments(m.to(all_mask_preds[0].device)) for m in batch_part_maps]
        part_losses = self.part_loss.loss_by_feat([c for c, _ in all_layers], [m for _, m in all_layers], part_gts,
                                                  batch_img_metas)
        losses.update({k.replace('loss_', 'loss_part_'): self.lambda_pt * v for k, v in part_losses.items()})
        return losses

    # ----------------------------------------------------------------------------------- inference
    def part_outputs(self, layers: list, size: tuple[int, int]) -> SemanticPartOutputs:
        """The last layer's part classes and part masks (at the batch input size, as the object masks)."""
        part_cls, part_masks = layers[-1]
        return SemanticPartOutputs(part_cls, F.interpolate(part_masks, size=size, mode='bilinear', align_corners=False))

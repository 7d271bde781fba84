"""The paper's baseline (Fig. 1a, sec. 4): Mask2Former whose decoder also carries a separate set of learnable
part queries doing part-level semantic segmentation by mask classification, with no link to objects.

The object and part queries go through the same masked-attention decoder (one query set of
``num_queries + num_part_queries``); each set has its own class and mask-embedding heads. Objects are
matched and supervised exactly as mmdet's Mask2Former; part queries are matched separately (Hungarian, on
part class + mask) to the image's part segments (one per part class present) and supervised with
mmdet's own Mask2Former losses, run by a :class:`QuerySetLoss` that holds the part set's sizes and criteria.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import Mask2FormerHead
from mmengine.structures import InstanceData
from torch import Tensor, nn

from tapps_mm.models.dense_heads.batched_targets import BatchedTargetsMixin
from tapps_mm.models.dense_heads.decoder_init import DecoderInitMixin
from tapps_mm.models.dense_heads.layer_record import LayerRecordMixin
from tapps_mm.models.utils import mask2former_class_args
from tapps_mm.registry import MODELS
from tapps_mm.specs import load_spec
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
class SeparatePartQueriesHead(DecoderInitMixin, LayerRecordMixin, BatchedTargetsMixin, Mask2FormerHead):
    """Mask2Former head + ``num_part_queries`` part queries (part classes + 'no part').

    Args:
        spec: PPS spec name or eval-spec YAML (number of part classes).
        num_part_queries: learnable part queries (100 in the paper).
        part_no_object_weight: class weight of 'no part' in the part classification loss.
        loss_part_cls: part classification loss (default: the object one's, over part classes + 'no part').
        loss_part_mask / loss_part_dice: part mask losses (default: the object ones).
        part_query / compatible_parts_train: TAPPS-only options; must be None here (configs that inherit
            a TAPPS model set them to None, which makes the switch explicit).
        lambda_obj / lambda_pt: weights of the object and part losses.
    """

    def __init__(self, *args, spec: str = 'cityscapes', num_things_classes: int | None = None,
                 num_stuff_classes: int | None = None, loss_cls: dict | None = None, no_object_weight: float = 0.1,
                 num_queries: int = 100, num_part_queries: int = 100,
                 part_no_object_weight: float = 0.1, loss_part_cls: dict | None = None,
                 loss_part_mask: dict | None = None, loss_part_dice: dict | None = None, lambda_obj: float = 1.0,
                 lambda_pt: float = 1.0, part_query: dict | None = None, compatible_parts_train: bool | None = None,
                 **kwargs) -> None:
        for name, value in (('part_query', part_query), ('compatible_parts_train', compatible_parts_train)):
            if value is not None:
                raise ValueError(f'SeparatePartQueriesHead: {name} is a TAPPS (JOPSHead) option; set it to None')
        pps_spec = load_spec(spec)
        # the parent builds one embedding table for both sets; num_queries is restored for the object targets
        super().__init__(*args, **mask2former_class_args(pps_spec, type(self).__name__, num_things_classes,
                                                         num_stuff_classes, loss_cls, no_object_weight),
                         num_queries=num_queries + num_part_queries, **kwargs)
        self.num_queries = num_queries
        self.num_part_queries = num_part_queries
        self.spec = pps_spec
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

    def forward(self, x: list[Tensor], batch_data_samples) -> tuple:
        """Object class / mask logits per layer (mmdet's) + part class / mask logits per layer."""
        with self.recording() as layers:
            cls_list, mask_list = super().forward(x, batch_data_samples)
        return cls_list, mask_list, [c for c, _ in layers], [m for _, m in layers]

    # ----------------------------------------------------------------------------------- training
    @staticmethod
    def part_segments(part_map: Tensor) -> InstanceData:
        """One GT segment per part class present (flat part index j: pixels with code j + 1)."""
        codes = part_map.unique()
        codes = codes[codes > 0]
        return InstanceData(labels=(codes - 1).long(), masks=(part_map[None] == codes[:, None, None]).long())

    def loss(self, x: tuple[Tensor], batch_data_samples) -> dict[str, Tensor]:
        metas = [s.metainfo for s in batch_data_samples]
        gts = [s.gt_instances for s in batch_data_samples]
        sems = [s.gt_sem_seg if 'gt_sem_seg' in s else None for s in batch_data_samples]
        part_gts = [self.part_segments(s.gt_part_seg.sem_seg[0].to(x[0].device)) for s in batch_data_samples]
        cls_list, mask_list, part_cls_list, part_mask_list = self(x, batch_data_samples)
        losses = {k: self.lambda_obj * v for k, v in
                  self.loss_by_feat(cls_list, mask_list, self.preprocess_gt(gts, sems), metas).items()}
        part_losses = self.part_loss.loss_by_feat(part_cls_list, part_mask_list, part_gts, metas)
        losses.update({k.replace('loss_', 'loss_part_'): self.lambda_pt * v for k, v in part_losses.items()})
        return losses

    # ----------------------------------------------------------------------------------- inference
    def predict(self, x: tuple[Tensor], batch_data_samples) -> tuple[Tensor, Tensor, SemanticPartOutputs]:
        """Last-layer object logits and masks at the batch input size (as mmdet), and the part set's."""
        cls_list, mask_list, part_cls_list, part_mask_list = self(x, batch_data_samples)
        size = batch_data_samples[0].metainfo['batch_input_shape']
        up = lambda m: F.interpolate(m, size=size, mode='bilinear', align_corners=False)  # noqa: E731
        return cls_list[-1], up(mask_list[-1]), SemanticPartOutputs(part_cls_list[-1], up(part_mask_list[-1]))

"""The JOPS head of TAPPS (sec. 3.3): Mask2Former's head, whose shared queries also predict the parts
of their object.

Everything object-level (pixel decoder, masked-attention decoder, class / mask predictions, Hungarian
matching on class + mask, point-sampled losses) is mmdet's ``Mask2FormerHead``. This subclass adds:

- per decoder layer, the normalised queries; a :class:`PartQueryGenerator` turns a (query, part class)
  pair into a part query whose dot product with the mask features is that part's mask logits;
- the part loss (Eq. 1), as the official TAPPS computes it: for each matched query of an object of a class
  with part masks (single-part classes included), dice + BCE of its compatible parts' masks
  (``compatible_parts_train``; otherwise of all part classes) at mmdet's uncertainty-sampled points, the
  target masks sampled bilinearly like the object masks, normalised by the number of part masks on this
  process; on every decoder layer. An object without any part label is supervised too (every part mask
  empty: it learns 'no part' there) unless ``supervise_unlabelled_objects=False``. Part masks are computed
  only for the supervised pairs, never for all queries x part classes (the same values).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from torch import Tensor

from tapps_mm.models.dense_heads.batched_targets import BatchedTargetsMixin
from tapps_mm.models.dense_heads.decoder_init import DecoderInitMixin
from tapps_mm.models.dense_heads.layer_record import LayerRecordMixin
from tapps_mm.models.utils import mask2former_class_args
from tapps_mm.registry import MODELS
from tapps_mm.specs import load_spec
from tapps_mm.structures import PartTargets, QueryPartOutputs, SupervisedObjects, pack_part_code


@MODELS.register_module()
class JOPSHead(DecoderInitMixin, LayerRecordMixin, BatchedTargetsMixin, Mask2FormerHead):
    """Mask2Former head + joint object-part queries.

    Args:
        spec: PPS spec name or eval-spec YAML: class order (and so the class counts and the class weights
            of ``loss_cls``), parts and their compatibility.
        no_object_weight: class weight of 'no object' in ``loss_cls`` (mmdet's 0.1).
        part_query: config of the part-query generator (``num_adapt_layers``: Table 4).
        compatible_parts_train: supervise only the parts compatible with the matched GT class (Table 3).
        lambda_obj / lambda_pt: weights of the object and part losses (Eq. 1).
        loss_part_mask / loss_part_dice: point-sampled BCE and dice of part masks.
        supervise_unlabelled_objects: also supervise the part masks (all empty) of objects that carry no part
            label (official). ``False`` skips them: where part labels are missing rather than absent (objects
            too small to annotate), this avoids teaching 'no part' on them.
    """

    #: the part-query generator this head builds (subclasses with another part branch change it)
    part_query_type = 'PartQueryGenerator'

    def __init__(self, *args, spec: str = 'cityscapes', num_things_classes: int | None = None,
                 num_stuff_classes: int | None = None, loss_cls: dict | None = None, no_object_weight: float = 0.1,
                 part_query: dict | None = None, compatible_parts_train: bool = True, lambda_obj: float = 1.0,
                 lambda_pt: float = 1.0, loss_part_mask: dict | None = None, loss_part_dice: dict | None = None,
                 supervise_unlabelled_objects: bool = True, **kwargs) -> None:
        pps_spec = load_spec(spec)
        super().__init__(*args, **mask2former_class_args(pps_spec, type(self).__name__, num_things_classes,
                                                         num_stuff_classes, loss_cls, no_object_weight), **kwargs)
        self.spec = pps_spec
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

    def forward(self, x: list[Tensor], batch_data_samples) -> tuple:
        """mmdet's outputs (class and mask logits per layer) + normalised queries per layer + mask features."""
        with self.recording() as layers:
            cls_list, mask_list = super().forward(x, batch_data_samples)
        return cls_list, mask_list, [q for q, _ in layers], layers[0][1]

    def part_mask_logits(self, queries: Tensor, part_idx: Tensor, mask_features: Tensor) -> Tensor:
        """Mask logits [M, h, w] of parts ``part_idx`` [M] of the queries [M, C], one image's features."""
        part_q = self.part_queries(queries, part_idx)
        return torch.einsum('mc,chw->mhw', part_q, mask_features)

    # ----------------------------------------------------------------------------------- training
    def _targets_from_assignment(self, *args, **kwargs) -> tuple:
        res = super()._targets_from_assignment(*args, **kwargs)
        self.record(res[-1])  # this image's matches, for the part loss of the same layer
        return res

    def loss(self, x: tuple[Tensor], batch_data_samples) -> dict[str, Tensor]:
        metas = [s.metainfo for s in batch_data_samples]
        gts = [s.gt_instances for s in batch_data_samples]
        sems = [s.gt_sem_seg if 'gt_sem_seg' in s else None for s in batch_data_samples]
        part_maps = [s.gt_part_seg.sem_seg[0] if 'gt_part_seg' in s else None for s in batch_data_samples]
        cls_list, mask_list, query_list, mask_features = self(x, batch_data_samples)
        gts = self.preprocess_gt(gts, sems)
        return self.loss_by_feat(cls_list, mask_list, query_list, mask_features, gts, part_maps, metas)

    def loss_by_feat(self, all_cls_scores, all_mask_preds, all_queries, mask_features, batch_gt_instances,
                     batch_part_maps, batch_img_metas) -> dict[str, Tensor]:
        """mmdet's object losses per decoder layer, each followed by the part mask losses of the same
        matches; other part losses (the dynamic head's classification) of all layers come last."""
        targets = [self._part_targets(gt, part) for gt, part in zip(batch_gt_instances, batch_part_maps)]
        losses, later = {}, {}
        num_layers = len(all_cls_scores)
        for i, (cls_scores, mask_preds, queries) in enumerate(zip(all_cls_scores, all_mask_preds, all_queries)):
            with self.recording() as matches:
                loss_cls, loss_mask, loss_dice = self._loss_by_feat_single(
                    cls_scores, mask_preds, batch_gt_instances, batch_img_metas)
            objects = self._supervised_objects(batch_gt_instances, targets, matches)
            part_losses = self._part_loss(queries, mask_features, objects, targets)
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            losses.update({f'{prefix}loss_cls': self.lambda_obj * loss_cls,
                           f'{prefix}loss_mask': self.lambda_obj * loss_mask,
                           f'{prefix}loss_dice': self.lambda_obj * loss_dice})
            for name, value in part_losses.items():
                (losses if name in ('loss_part_mask', 'loss_part_dice') else later)[prefix + name] = \
                    self.lambda_pt * value
        return {**losses, **later}

    def _part_targets(self, gt_instances, part_map: Tensor | None) -> PartTargets | None:
        """One image's packed (object, part) map and which GT objects carry part labels."""
        if part_map is None:
            return None
        masks = gt_instances.masks.bool()
        part_map = part_map.to(masks.device).long()
        owner = torch.zeros(masks.shape[-2:], dtype=torch.long, device=masks.device)
        for k in range(masks.shape[0]):  # GT objects are disjoint
            owner[masks[k]] = k + 1
        annotated = (masks & (part_map > 0)).flatten(1).any(1) if masks.numel() else masks.new_zeros(0)
        return PartTargets(pack_part_code(owner, part_map * (owner > 0)).float(), annotated)

    def _supervised_objects(self, batch_gt_instances, targets: list, matches: list) -> SupervisedObjects:
        """The matched queries of GT objects of classes with part masks, over the batch (with part labels only,
        unless ``supervise_unlabelled_objects``)."""
        imgs, qs, gts, labels, present = [], [], [], [], []
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
            if target.present is not None:
                present.append(target.present[gt_idx[keep]])
        if not imgs:
            empty = self.compatibility.new_zeros(0, dtype=torch.long)
            return SupervisedObjects(empty, empty, empty, empty, self.compatibility[:0])
        return SupervisedObjects(torch.cat(imgs), torch.cat(qs), torch.cat(gts), torch.cat(labels),
                                 torch.cat(present) if present else None)

    def _select_parts(self, labels: Tensor) -> Tensor:
        """[n, num_parts] bool: the parts to supervise for matched objects of these GT labels."""
        if self.compatible_parts_train:
            return self.compatibility[labels]
        return self.label_has_part_masks[labels, None].expand(-1, self.num_parts)

    def _part_loss(self, queries: Tensor, mask_features: Tensor, objects: SupervisedObjects,
                   targets: list) -> dict[str, Tensor]:
        """Dice + BCE of the part masks of every (supervised object, selected part) pair."""
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
        out = coords.new_zeros(coords.shape[:2])
        for b in imgs.unique().tolist():
            rows = (imgs == b).nonzero(as_tuple=True)[0]
            masks = targets[b].code_map[None] == cls._code(gts[rows], parts[rows])[:, None, None]
            out[rows] = point_sample(masks[:, None].float(), coords[rows]).squeeze(1)
        return out

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
    def predict(self, x: tuple[Tensor], batch_data_samples) -> tuple[Tensor, Tensor, QueryPartOutputs]:
        """Last-layer class logits, mask logits at the batch input size (as mmdet), and the part outputs:
        the last layer's queries, from which the fusion head asks for the parts of the objects it keeps."""
        cls_list, mask_list, query_list, mask_features = self(x, batch_data_samples)
        size = batch_data_samples[0].metainfo['batch_input_shape']
        masks = F.interpolate(mask_list[-1], size=size, mode='bilinear', align_corners=False)
        return cls_list[-1], masks, QueryPartOutputs(query_list[-1], mask_features, self.part_mask_logits)

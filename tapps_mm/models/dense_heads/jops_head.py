"""The JOPS head of TAPPS (sec. 3.3): Mask2Former's head, whose shared queries also predict the parts
of their object.

Everything object-level (pixel decoder, masked-attention decoder, class / mask predictions, Hungarian
matching on class + mask, point-sampled losses) is mmdet's ``Mask2FormerHead``. This subclass adds:

- per decoder layer, the normalised queries; a :class:`PartQueryGenerator` turns a (query, part class)
  pair into a part query whose dot product with the mask features is that part's mask logits;
- the part loss (Eq. 1): for each matched query of a parts-class object, dice + BCE on point-sampled
  masks of its compatible parts (``compatible_parts_train``; otherwise of all part classes), on every
  decoder layer. Part masks are computed only for those pairs, never for all queries x part classes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmcv.ops import point_sample
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.utils import reduce_mean
from torch import Tensor

from tapps_mm.registry import MODELS
from tapps_mm.specs import load_spec

PART_BITS = 256  # object index and part code packed into one float map for point sampling


@MODELS.register_module()
class JOPSHead(Mask2FormerHead):
    """Mask2Former head + joint object-part queries.

    Args:
        spec: PPS spec name or eval-spec YAML: class order, parts and their compatibility.
        part_query: config of the part-query generator (``num_adapt_layers``: Table 4).
        compatible_parts_train: supervise only the parts compatible with the matched GT class (Table 3).
        lambda_obj / lambda_pt: weights of the object and part losses (Eq. 1).
        loss_part_mask / loss_part_dice: point-sampled BCE and dice of part masks.
    """

    def __init__(self, *args, spec: str = 'cityscapes', part_query: dict | None = None,
                 compatible_parts_train: bool = True, lambda_obj: float = 1.0, lambda_pt: float = 1.0,
                 loss_part_mask: dict | None = None, loss_part_dice: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spec = load_spec(spec)
        if (self.num_things_classes, self.num_stuff_classes) != (self.spec.num_things, self.spec.num_stuff):
            raise ValueError(
                f'JOPSHead: num_things_classes / num_stuff_classes = {self.num_things_classes} / '
                f'{self.num_stuff_classes}, but spec {self.spec.name!r} has {self.spec.num_things} / '
                f'{self.spec.num_stuff}')
        self.num_parts = self.spec.num_parts
        part_query = {'type': 'PartQueryGenerator', **(part_query or {})}
        part_query.setdefault('embed_dims', self.transformer_decoder.embed_dims)
        part_query.setdefault('out_dims', self.mask_embed[-1].out_features)
        self.part_queries = MODELS.build({**part_query, 'num_parts': self.num_parts})
        self.register_buffer('compatibility', torch.from_numpy(self.spec.compatibility), persistent=False)
        self.register_buffer('label_has_parts', torch.from_numpy(self.spec.label_has_parts), persistent=False)
        self.compatible_parts_train = compatible_parts_train
        self.lambda_obj = lambda_obj
        self.lambda_pt = lambda_pt
        self.loss_part_mask = MODELS.build(loss_part_mask or dict(
            type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=5.0))
        self.loss_part_dice = MODELS.build(loss_part_dice or dict(
            type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean', naive_dice=True, eps=1.0,
            loss_weight=5.0))
        self._stash: list | None = None  # per-layer queries recorded during forward()
        self._sampling_results: list | None = None  # matches recorded during the object loss

    # ----------------------------------------------------------------------------------- forward
    def _forward_head(self, decoder_out: Tensor, mask_feature: Tensor, attn_mask_target_size) -> tuple:
        if self._stash is not None:  # the queries the object predictions of this layer are made from
            self._stash.append((self.transformer_decoder.post_norm(decoder_out), mask_feature))
        return super()._forward_head(decoder_out, mask_feature, attn_mask_target_size)

    def forward(self, x: list[Tensor], batch_data_samples) -> tuple:
        """mmdet's outputs (class and mask logits per layer) + normalised queries per layer + mask features."""
        self._stash = []
        try:
            cls_list, mask_list = super().forward(x, batch_data_samples)
            queries = [q for q, _ in self._stash]
            mask_features = self._stash[0][1]
        finally:
            self._stash = None
        return cls_list, mask_list, queries, mask_features

    def part_mask_logits(self, queries: Tensor, part_idx: Tensor, mask_features: Tensor) -> Tensor:
        """Mask logits [M, h, w] of parts ``part_idx`` [M] of the queries [M, C], one image's features."""
        part_q = self.part_queries(queries, part_idx)
        return torch.einsum('mc,chw->mhw', part_q, mask_features)

    # ----------------------------------------------------------------------------------- training
    def _get_targets_single(self, *args, **kwargs) -> tuple:
        # mmdet 3.3's get_targets(return_sampling_results=True) cannot return the matches (it adds a list
        # to a tuple), so they are recorded here for the part loss of the same layer.
        res = super()._get_targets_single(*args, **kwargs)
        if self._sampling_results is not None:
            self._sampling_results.append(res[-1])
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
        """mmdet's object losses per decoder layer, each followed by the part loss of the same matches."""
        part_codes = [self._part_code_map(gt, part) for gt, part in zip(batch_gt_instances, batch_part_maps)]
        losses = {}
        num_layers = len(all_cls_scores)
        for i, (cls_scores, mask_preds, queries) in enumerate(zip(all_cls_scores, all_mask_preds, all_queries)):
            self._sampling_results = []
            try:
                loss_cls, loss_mask, loss_dice = self._loss_by_feat_single(
                    cls_scores, mask_preds, batch_gt_instances, batch_img_metas)
                matches = self._sampling_results
            finally:
                self._sampling_results = None
            loss_pmask, loss_pdice = self._part_loss(queries, mask_features, batch_gt_instances, part_codes, matches)
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            losses.update({f'{prefix}loss_cls': self.lambda_obj * loss_cls,
                           f'{prefix}loss_mask': self.lambda_obj * loss_mask,
                           f'{prefix}loss_dice': self.lambda_obj * loss_dice,
                           f'{prefix}loss_part_mask': self.lambda_pt * loss_pmask,
                           f'{prefix}loss_part_dice': self.lambda_pt * loss_pdice})
        return losses

    def _part_code_map(self, gt_instances, part_map: Tensor | None) -> Tensor | None:
        """Float map (object index + 1) * 256 + part code of one image (0 where no object), and which GT
        objects carry part labels; nearest point sampling of it gives every part target at once."""
        if part_map is None:
            return None
        masks = gt_instances.masks.bool()
        part_map = part_map.to(masks.device).long()
        owner = torch.zeros(masks.shape[-2:], dtype=torch.long, device=masks.device)
        for k in range(masks.shape[0]):  # GT objects are disjoint
            owner[masks[k]] = k + 1
        annotated = (masks & (part_map > 0)).flatten(1).any(1) if masks.numel() else masks.new_zeros(0)
        return (owner * PART_BITS + part_map * (owner > 0)).float(), annotated

    def _select_parts(self, labels: Tensor) -> Tensor:
        """[n, num_parts] bool: the parts to supervise for matched objects of these GT labels."""
        if self.compatible_parts_train:
            return self.compatibility[labels]
        return self.label_has_parts[labels, None].expand(-1, self.num_parts)

    def _part_loss(self, queries: Tensor, mask_features: Tensor, batch_gt_instances, part_codes, matches):
        imgs, qs, gts, parts = [], [], [], []
        for b, (gt, codes, match) in enumerate(zip(batch_gt_instances, part_codes, matches)):
            if codes is None:
                continue
            pos, gt_idx = match.pos_inds, match.pos_assigned_gt_inds
            keep = codes[1][gt_idx] & self.label_has_parts[gt.labels[gt_idx]]
            pair_q, pair_p = self._select_parts(gt.labels[gt_idx[keep]]).nonzero(as_tuple=True)
            imgs.append(torch.full_like(pair_q, b))
            qs.append(pos[keep][pair_q])
            gts.append(gt_idx[keep][pair_q])
            parts.append(pair_p)
        if not imgs:
            imgs = qs = gts = parts = [queries.new_zeros(0, dtype=torch.long)]
        imgs, qs, gts, parts = (torch.cat(t) for t in (imgs, qs, gts, parts))
        logits = self._masks_per_image(self.part_queries(queries[imgs, qs], parts), imgs, mask_features)
        return self._point_mask_losses(logits, imgs, gts, parts, part_codes)

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

    @classmethod
    def _codes_at(cls, part_codes: list, imgs: Tensor, coords: Tensor) -> Tensor:
        """Part codes [K, N] at points ``coords`` [K, N, 2] of the images ``imgs`` [K] (nearest sampling, one
        call for all images; padding points are sampled and dropped)."""
        used = imgs.unique()
        maps = torch.stack([part_codes[b][0] for b in used.tolist()])[:, None]
        which = torch.searchsorted(used, imgs)
        slot, most = cls._pad_by_image(which, len(used))
        points = coords.new_zeros(len(used), most, *coords.shape[1:]).index_put((which, slot), coords)
        codes = point_sample(maps, points.flatten(1, 2), mode='nearest').view(len(used), most, -1)
        return codes[which, slot]

    @staticmethod
    def _code(gts: Tensor, parts: Tensor) -> Tensor:
        """Code of part ``parts`` of GT object ``gts`` in the map of :meth:`_part_code_map`."""
        return ((gts + 1) * PART_BITS + parts + 1).float()

    def _point_mask_losses(self, logits: Tensor, imgs: Tensor, gts: Tensor, parts: Tensor,
                           part_codes: list) -> tuple[Tensor, Tensor]:
        """BCE and dice of part masks [K, h, w] (part ``parts`` of GT object ``gts`` of image ``imgs``) at
        mmdet's uncertainty-sampled points."""
        num_masks = max(reduce_mean(logits.new_tensor([float(len(logits))])).item(), 1.0)
        if not len(logits):
            return logits.sum(), logits.sum()
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                logits.unsqueeze(1), None, self.num_points, self.oversample_ratio, self.importance_sample_ratio)
            targets = (self._codes_at(part_codes, imgs, coords) == self._code(gts, parts)[:, None]).float()
        point_logits = point_sample(logits.unsqueeze(1), coords).squeeze(1)
        loss_dice = self.loss_part_dice(point_logits, targets, avg_factor=num_masks)
        loss_mask = self.loss_part_mask(point_logits.reshape(-1), targets.reshape(-1),
                                        avg_factor=num_masks * self.num_points)
        return loss_mask, loss_dice

    # ----------------------------------------------------------------------------------- inference
    def predict(self, x: tuple[Tensor], batch_data_samples) -> tuple:
        """Last-layer class logits, mask logits at the batch input size (as mmdet), queries, mask features."""
        cls_list, mask_list, query_list, mask_features = self(x, batch_data_samples)
        size = batch_data_samples[0].metainfo['batch_input_shape']
        masks = F.interpolate(mask_list[-1], size=size, mode='bilinear', align_corners=False)
        return cls_list[-1], masks, query_list[-1], mask_features

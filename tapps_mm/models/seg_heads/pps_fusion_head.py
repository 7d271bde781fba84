"""Part-aware panoptic inference: mmdet's Mask2Former panoptic fusion for objects, then parts inside each
object (TAPPS sec. 3.3.3), written as the official 3-channel PPS prediction."""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from torch import Tensor

from tapps_mm.models.utils import merge_objects_and_parts, spec_class_counts
from tapps_mm.registry import MODELS
from tapps_mm.specs import load_spec
from tapps_mm.structures import PartOutputs, QueryPartOutputs, SemanticPartOutputs

NO_PART = 255  # official 'unknown part' value of the prediction's part channel

#: part_logits(query indices [n], part indices [n]) -> mask logits [n, h, w] at mask-feature resolution
PartLogitsFn = Callable[[Tensor, Tensor], Tensor]


@MODELS.register_module()
class PPSFusionHead(MaskFormerFusionHead):
    """Objects from mmdet's ``panoptic_postprocess``; for every object of a parts class, the part masks of
    its query are compared inside the object, with a 'no part' score fixed at ``no_part_score``.

    Args:
        spec: PPS spec name or eval-spec YAML (label -> eval sid, parts, compatibility; the class counts).
        compatible_parts_test: consider only the parts compatible with the predicted class (Table 3).
            Otherwise all part classes compete; pixels won by an incompatible part become 'unknown'
            (255) and the object is flagged as conflicting (the 'obj. without conflicts' metric).
        no_part_score: sigmoid score of the 'no part' channel (0.1 in TAPPS).
    """

    def __init__(self, *args, spec: str = 'cityscapes', num_things_classes: int | None = None,
                 num_stuff_classes: int | None = None, compatible_parts_test: bool = True,
                 no_part_score: float = 0.1, **kwargs) -> None:
        pps_spec = load_spec(spec)
        things, stuff = spec_class_counts(pps_spec, type(self).__name__, num_things_classes, num_stuff_classes)
        super().__init__(*args, num_things_classes=things, num_stuff_classes=stuff, **kwargs)
        self.spec = pps_spec
        self.compatible_parts_test = compatible_parts_test
        self.no_part_score = no_part_score
        self.register_buffer('eval_sids', torch.tensor(list(self.spec.classes) + [255], dtype=torch.long),
                             persistent=False)
        pid = torch.full((self.spec.num_classes, max(self.spec.num_parts, 1)), NO_PART, dtype=torch.long)
        for label, sid in enumerate(self.spec.classes):
            for j, p in self.spec.part_index_to_pid(sid).items():
                pid[label, j] = p
        self.register_buffer('part_pid', pid, persistent=False)  # [label, part index] -> pid, 255 if incompatible
        self.register_buffer('label_has_parts', torch.from_numpy(self.spec.label_has_parts), persistent=False)

    def predict(self, mask_cls_results: Tensor, mask_pred_results: Tensor, batch_data_samples,
                rescale: bool = False, parts: PartOutputs | None = None, **kwargs) -> list[dict]:
        """Per sample: mmdet's panoptic result (``pan_results``) and the PPS prediction with its conflict
        flags (``pps``, ``pps_conflicts``) from the parts :meth:`sample_pps` gets out of ``parts``."""
        results = []
        for b, sample in enumerate(batch_data_samples):
            meta = sample.metainfo
            mask_pred = self._to_output_size(mask_pred_results[b], meta, rescale)
            pan = self.panoptic_postprocess(mask_cls_results[b], mask_pred)
            pps, conflicts = self.sample_pps(b, mask_cls_results[b], mask_pred, pan.sem_seg[0], parts, meta,
                                             rescale)
            results.append(dict(pan_results=pan, pps=pps, pps_conflicts=conflicts))
            if self.test_cfg.get('segment_scores', False):  # tools/infer.py: scores in its segment JSON
                results[-1]['pps_segment_scores'] = self.segment_scores(mask_cls_results[b], mask_pred,
                                                                        pan.sem_seg[0])
        return results

    def sample_pps(self, b: int, mask_cls: Tensor, mask_pred: Tensor, panoptic: Tensor,
                   parts: QueryPartOutputs | None, meta: dict, rescale: bool) -> tuple[Tensor, Tensor]:
        """Sample ``b``'s PPS prediction: the parts of each kept object from its own query."""
        part_logits = partial(parts.logits, b) if parts is not None else None
        return self.pps_postprocess(mask_cls, mask_pred, panoptic, part_logits, meta, rescale)

    @staticmethod
    def _to_output_size(masks: Tensor, meta: dict, rescale: bool) -> Tensor:
        """Masks at the batch input size -> unpadded image (-> original image if ``rescale``), as mmdet."""
        h, w = meta['img_shape'][:2]
        masks = masks[:, :h, :w]
        if rescale:
            masks = F.interpolate(masks[:, None], size=meta['ori_shape'][:2], mode='bilinear',
                                  align_corners=False)[:, 0]
        return masks

    def _part_probs(self, logits: Tensor, meta: dict, rescale: bool) -> Tensor:
        """Part mask logits at mask-feature resolution -> probabilities at the output size (as the masks)."""
        logits = F.interpolate(logits[:, None], size=meta['batch_input_shape'], mode='bilinear',
                               align_corners=False)[:, 0]
        return self._to_output_size(logits, meta, rescale).sigmoid()

    def _query_owners(self, mask_cls: Tensor, mask_pred: Tensor, labels_map: Tensor) -> tuple | None:
        """The query that owns each pixel, recomputed as in mmdet's ``panoptic_postprocess``: (scores,
        labels of all queries, the kept queries, owner [H, W] = index into kept or -1 on void); None if no
        query is kept."""
        scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
        keep = labels.ne(self.num_classes) & (scores > self.test_cfg.get('object_mask_thr', 0.8))
        kept = keep.nonzero(as_tuple=True)[0]
        if not len(kept):
            return None
        owner = (scores[kept, None, None] * mask_pred[kept].sigmoid()).argmax(0)
        return scores, labels, kept, torch.where(labels_map == self.num_classes, -1, owner)

    def segment_scores(self, mask_cls: Tensor, mask_pred: Tensor, panoptic: Tensor) -> dict[int, float]:
        """Score (class probability of its query) of each predicted segment, keyed by ``eval sid * 1000 +
        instance id`` as in the PPS prediction (stuff: instance 0; merged stuff queries: the best)."""
        labels_map = panoptic % INSTANCE_OFFSET
        owners = self._query_owners(mask_cls, mask_pred, labels_map)
        if owners is None:
            return {}
        scores, _, kept, owner = owners
        keys = self.eval_sids[labels_map.long()] * 1000 + torch.where(
            labels_map < self.num_things_classes, panoptic // INSTANCE_OFFSET, 0)
        out: dict[int, float] = {}
        for k in owner.unique().tolist():
            if k >= 0:
                key = int(keys[owner == k].mode().values)
                out[key] = max(out.get(key, 0.0), float(scores[kept[k]]))
        return out

    def pps_postprocess(self, mask_cls: Tensor, mask_pred: Tensor, panoptic: Tensor,
                        part_logits: PartLogitsFn | None, meta: dict, rescale: bool) -> tuple[Tensor, Tensor]:
        """The uint8 [3, H, W] PPS prediction [eval sid / 255, instance id, pid / 255] and one conflict flag
        per predicted object of a parts class."""
        labels_map = panoptic % INSTANCE_OFFSET
        out = torch.full((3, *panoptic.shape), 255, dtype=torch.uint8, device=panoptic.device)
        out[0] = self.eval_sids[labels_map.long()].to(torch.uint8)
        out[1] = torch.where(labels_map < self.num_things_classes, panoptic // INSTANCE_OFFSET, 0).to(torch.uint8)
        conflicts = []
        if part_logits is None:
            return out, torch.zeros(0, dtype=torch.bool)
        owners = self._query_owners(mask_cls, mask_pred, labels_map)
        if owners is None:
            return out, torch.zeros(0, dtype=torch.bool)
        scores, labels, kept, owner = owners
        for k in owner.unique().tolist():
            if k < 0 or not self.label_has_parts[labels[kept[k]]]:
                continue
            label = int(labels[kept[k]])
            region = owner == k
            parts = (self.part_pid[label] != NO_PART).nonzero(as_tuple=True)[0] if self.compatible_parts_test \
                else torch.arange(self.spec.num_parts, device=mask_cls.device)
            ys, xs = region.nonzero(as_tuple=True)
            probs = self._part_probs(part_logits(kept[k].repeat(len(parts)), parts), meta, rescale)[:, ys, xs]
            best = torch.cat([probs.new_full((1, probs.shape[1]), self.no_part_score), probs]).argmax(0)
            chosen = self.part_pid[label, parts[(best - 1).clamp(min=0)]]  # NO_PART if incompatible
            out[2, ys, xs] = torch.where(best > 0, chosen, NO_PART).to(torch.uint8)
            conflicts.append(bool(((best > 0) & (chosen == NO_PART)).any()))
        return out, torch.tensor(conflicts, dtype=torch.bool)


@MODELS.register_module()
class PartMergeFusionHead(PPSFusionHead):
    """The baseline's inference: objects as in :class:`PPSFusionHead`, parts from a separate part-level
    semantic segmentation, merged with the official rules (panoptic_parts ``merge_to_pps``): inside an
    object of a parts class, pixels whose part belongs to that class keep it, the others become 255.

    The part segmentation is Mask2Former's semantic inference over the part queries (sum over queries of
    class probability x mask probability); a pixel whose best part score is below ``no_part_score``
    (TAPPS's 'no part' score) is background.
    """

    def sample_pps(self, b: int, mask_cls: Tensor, mask_pred: Tensor, panoptic: Tensor,
                   parts: SemanticPartOutputs, meta: dict, rescale: bool) -> tuple[Tensor, Tensor]:
        """Sample ``b``'s objects merged with its part segmentation."""
        objects, _ = self.pps_postprocess(mask_cls, mask_pred, panoptic, None, meta, rescale)
        part_seg = self.part_semantic(parts.cls_logits[b], self._to_output_size(parts.mask_logits[b], meta, rescale))
        pps, conflicts = merge_objects_and_parts(objects[:2].permute(1, 2, 0).cpu().numpy(), part_seg.cpu().numpy(),
                                                 self.spec)
        return torch.from_numpy(pps).permute(2, 0, 1).contiguous(), torch.from_numpy(conflicts)

    def part_semantic(self, part_cls: Tensor, part_masks: Tensor) -> Tensor:
        """Flat part id (part index + 1, 0 = background) per pixel."""
        scores = torch.einsum('qp,qhw->phw', F.softmax(part_cls, -1)[:, :-1], part_masks.sigmoid())
        best, idx = scores.max(0)
        return torch.where(best >= self.no_part_score, idx + 1, 0)

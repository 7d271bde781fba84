"""Part-aware panoptic inference, as the official TAPPS computes it (its ``panoptic_inference`` and
``pps_inference``): Mask2Former's panoptic segments, then the parts inside each segment of a class with part
masks (TAPPS sec. 3.3.3), written as the official 3-channel PPS prediction."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmengine.structures import PixelData
from torch import Tensor

from tapps_mm.models.dense_heads.point_losses import upload
from tapps_mm.models.utils import spec_class_counts
from tapps_mm.models.utils.pps_merging import MAX_SEGMENTS_PER_CLASS, VOID_PID, pid_table
from tapps_mm.registry import MODELS
from tapps_mm.specs import load_spec
from tapps_mm.structures import PartOutputs, QueryPartOutputs, SemanticPartOutputs

NO_PART = 255  # official 'unknown part' value of the prediction's part channel
VOID = 255  # official class and instance value of pixels without a segment
#: ``test_cfg`` values the segments use where the config leaves them out (tools/analysis_tools/inference_sweep.py
#: reports them as the default setting's)
OBJECT_MASK_THR = 0.8
IOU_THR = 0.8

#: part_logits(query indices [n], part indices [n]) -> mask logits [n, h, w] at mask-feature resolution
PartLogitsFn = Callable[[Tensor, Tensor], Tensor]


@dataclass
class PanopticSegments:
    """One image's panoptic segments, in the order the official inference creates them."""
    seg_map: Tensor   # long [H, W]: segment index, -1 = void
    queries: Tensor   # long [S]: the query of each segment (a merged stuff segment: its first query)
    labels: Tensor    # long [S]
    thing_ids: Tensor  # long [S]: instance id of a thing segment (1, 2, ... in creation order), 0 for stuff
    scores: Tensor    # [S]: class score of the segment's best query
    host: tuple[list[int], list[int], list[int]] | None = None  # (queries, labels, thing_ids) on the host

    def on_host(self) -> tuple[list[int], list[int], list[int]]:
        """(queries, labels, thing ids) as lists: the host copy when the segments were made with one."""
        if self.host is None:
            self.host = (self.queries.tolist(), self.labels.tolist(), self.thing_ids.tolist())
        return self.host

    @property
    def instance_ids(self) -> Tensor:
        """The official prediction's instance id of each segment: things 1, 2, ...; stuff 1."""
        return torch.where(self.thing_ids > 0, self.thing_ids, 1)

    def mmdet_panoptic(self, num_classes: int) -> PixelData:
        """mmdet's panoptic result: label + instance id * INSTANCE_OFFSET, ``num_classes`` on void."""
        ids = torch.cat([self.labels + self.thing_ids * INSTANCE_OFFSET, self.labels.new_tensor([num_classes])])
        return PixelData(sem_seg=ids[self.seg_map][None].int())  # -1 reads the appended void entry


@MODELS.register_module()
class PPSFusionHead(MaskFormerFusionHead):
    """Panoptic segments from the object queries; for every segment of a class with part masks, the part
    masks of its query are compared inside the segment, with a 'no part' score fixed at ``no_part_score``.

    The segments follow the official rule: queries whose class is not 'no object' and whose score exceeds
    ``test_cfg.object_mask_thr`` compete per pixel (score x mask probability); a query keeps the pixels it
    wins where its own mask probability is >= 0.5 (``test_cfg.filter_low_score=True``, mmdet's and the
    official rule; ``False`` keeps every pixel it wins), if its winning area is at least
    ``test_cfg.iou_thr`` of its own mask (>= 0.5) and what it keeps is not empty; the queries of one stuff
    class form one segment. Thing instance ids count the kept thing segments from 1 (a query that keeps
    nothing takes no id, unlike mmdet's ``panoptic_postprocess``).

    The PPS prediction is the official one: [eval sid, instance id (things 1, 2, ...; stuff 1), pid]; void
    pixels are [255, 255, 255]; pixels of a segment without part masks, and 'no part' pixels, have pid 255
    (every pixel, when the head has no part branch).

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
        self.register_buffer('eval_sids', torch.tensor(self.spec.classes, dtype=torch.long), persistent=False)
        pid = torch.full((self.spec.num_classes, max(self.spec.num_parts, 1)), NO_PART, dtype=torch.long)
        for label, sid in enumerate(self.spec.classes):
            for j, p in self.spec.part_index_to_pid(sid).items():
                pid[label, j] = p
        self.register_buffer('part_pid', pid, persistent=False)  # [label, part index] -> pid, 255 if incompatible
        self.register_buffer('label_has_part_masks', torch.from_numpy(self.spec.label_has_part_masks),
                             persistent=False)
        self.register_buffer('label_scored_with_parts', torch.from_numpy(self.spec.label_has_parts),
                             persistent=False)

    def predict(self, mask_cls_results: Tensor, mask_pred_results: Tensor, batch_data_samples,
                rescale: bool = False, parts: PartOutputs | None = None, **kwargs) -> list[dict]:
        """Per sample, the PPS prediction with its conflict flags (``pps``, ``pps_conflicts``) from the parts
        :meth:`sample_pps` gets out of ``parts``, and mmdet's results as its ``test_cfg`` switches them on:
        ``panoptic_on`` (default) the panoptic result (``pan_results``), ``instance_on`` the instance result of
        mmdet's ``instance_postprocess`` (``ins_results``). The PPS prediction is made whatever they say."""
        if self.test_cfg.get('semantic_on', False):
            raise ValueError(f'{type(self).__name__}: model.test_cfg.semantic_on=True, but mmdet\'s '
                             'MaskFormerFusionHead has no semantic segmentation result; set it to False (PartPQMetric '
                             'reports the semantic mIoU of the PPS prediction)')
        panoptic_on = self.test_cfg.get('panoptic_on', True)
        instance_on = self.test_cfg.get('instance_on', False)
        results = []
        for b, sample in enumerate(batch_data_samples):
            meta = sample.metainfo
            mask_pred = self._to_output_size(mask_pred_results[b], meta, rescale)
            segments = self.panoptic_segments(mask_cls_results[b], mask_pred)
            result = dict(pan_results=segments.mmdet_panoptic(self.num_classes)) if panoptic_on else {}
            if instance_on:
                result['ins_results'] = self.instance_postprocess(mask_cls_results[b], mask_pred)
            result['pps'], result['pps_conflicts'] = self.sample_pps(b, segments, parts, meta, rescale)
            if self.test_cfg.get('segment_scores', False):  # tools/infer.py: scores in its segment JSON
                result['pps_segment_scores'] = self.segment_scores(segments)
                keys = self.conflict_keys(segments, result['pps'])  # for drawings: which objects conflict
                result['pps_conflict_objects'] = [k for k, c in zip(keys, result['pps_conflicts'].tolist()) if c]
            results.append(result)
        return results

    def panoptic_postprocess(self, mask_cls: Tensor, mask_pred: Tensor) -> PixelData:
        """mmdet's interface (mmdet's map format) with the official segments of :meth:`panoptic_segments`."""
        return self.panoptic_segments(mask_cls, mask_pred).mmdet_panoptic(self.num_classes)

    def panoptic_segments(self, mask_cls: Tensor, mask_pred: Tensor) -> PanopticSegments:
        """The official panoptic segments (see the class docstring) of one image's class logits [Q, C + 1]
        and mask logits [Q, H, W] at the output size.

        Every kept query's areas are counted on the device (the pixels it wins, those of its own mask, those it
        keeps) and read in one copy; which queries make segments is decided on the host in the official order,
        and the segment map is one lookup of each pixel's winning query."""
        scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
        keep = labels.ne(self.num_classes) & (scores > self.test_cfg.get('object_mask_thr', OBJECT_MASK_THR))
        kept = keep.nonzero(as_tuple=True)[0]
        seg_map = torch.full(mask_pred.shape[-2:], -1, dtype=torch.long, device=mask_pred.device)
        queries, seg_labels, thing_ids, seg_scores = [], [], [], []
        if len(kept):
            probs = mask_pred[kept].sigmoid()
            owner = (scores[kept, None, None] * probs).argmax(0)
            filter_low = self.test_cfg.get('filter_low_score', True)
            iou_thr = self.test_cfg.get('iou_thr', IOU_THR)
            high = probs >= 0.5
            owner_high = high.gather(0, owner[None])[0]  # the winner's own probability >= 0.5 there
            ones = torch.ones_like(owner.view(-1))
            won = ones.new_zeros(len(kept)).scatter_add(0, owner.view(-1), ones)
            kept_area = (won.new_zeros(len(kept)).scatter_add(0, owner.view(-1), owner_high.view(-1).long())
                         if filter_low else won)
            stats = torch.stack([kept.double(), labels[kept].double(), won.double(), high.flatten(1).sum(1).double(),
                                 kept_area.double(), scores[kept].double()]).tolist()
            segment_of = [-1] * len(kept)
            stuff_segment: dict[int, int] = {}
            for k, (q, label, area, original, kept_pixels, score) in enumerate(zip(*stats)):
                q, label = int(q), int(label)
                if not (area and original and kept_pixels) or area / original < iou_thr:
                    continue
                if label >= self.num_things_classes and label in stuff_segment:  # one segment per stuff class
                    segment_of[k] = s = stuff_segment[label]
                    seg_scores[s] = max(seg_scores[s], score)
                    continue
                segment_of[k] = s = len(queries)
                if label >= self.num_things_classes:
                    stuff_segment[label] = s
                queries.append(q)
                seg_labels.append(label)
                thing_ids.append(0 if label >= self.num_things_classes else 1 + sum(t > 0 for t in thing_ids))
                seg_scores.append(score)
            seg_map = upload(segment_of, mask_pred.device)[owner]
            if filter_low:
                seg_map = torch.where(owner_high, seg_map, -1)
        as_long = partial(upload, device=mask_pred.device)
        return PanopticSegments(seg_map, as_long(queries), as_long(seg_labels), as_long(thing_ids),
                                upload(seg_scores, mask_pred.device, torch.float32),
                                host=(queries, seg_labels, thing_ids))

    def sample_pps(self, b: int, segments: PanopticSegments, parts: QueryPartOutputs | None, meta: dict,
                   rescale: bool) -> tuple[Tensor, Tensor]:
        """Sample ``b``'s PPS prediction: the parts of each segment from its own query. Without part outputs
        (``Mask2FormerPPSHead``: no part branch) every pixel has 'no part' (255) and no object a conflict flag."""
        part_logits = partial(parts.logits, b) if parts is not None else None
        return self.pps_postprocess(segments, part_logits, meta, rescale)

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

    def segment_scores(self, segments: PanopticSegments) -> dict[int, float]:
        """Score (class probability of its query; merged stuff: the best) of each predicted segment, keyed
        by ``eval sid * 1000 + instance id`` as in the PPS prediction (stuff: instance 1)."""
        keys = (self.eval_sids[segments.labels] * 1000 + segments.instance_ids).tolist()
        return dict(zip(keys, segments.scores.tolist()))

    def conflict_keys(self, segments: PanopticSegments, pps: Tensor) -> list[int]:
        """``eval sid * 1000 + instance id`` of each object that :meth:`pps_postprocess` gives a conflict flag,
        in the order of the flags (the segments of classes scored with parts)."""
        labels = segments.labels
        flagged = self.label_has_part_masks[labels] & self.label_scored_with_parts[labels]
        return (self.eval_sids[labels[flagged]] * 1000 + segments.instance_ids[flagged]).tolist()

    def pps_postprocess(self, segments: PanopticSegments, part_logits: PartLogitsFn | None, meta: dict,
                        rescale: bool) -> tuple[Tensor, Tensor]:
        """The uint8 [3, H, W] PPS prediction [eval sid, instance id, pid] and one conflict flag per segment
        of a class scored with parts, in segment order."""
        seg_map = segments.seg_map
        out = torch.full((3, *seg_map.shape), VOID, dtype=torch.uint8, device=seg_map.device)
        void = seg_map.new_tensor([VOID])
        out[0] = torch.cat([self.eval_sids[segments.labels], void])[seg_map].to(torch.uint8)
        out[1] = torch.cat([segments.instance_ids, void])[seg_map].to(torch.uint8)
        conflicts = []
        if part_logits is None:
            return out, torch.zeros(0, dtype=torch.bool)
        seg_queries, seg_labels, _ = segments.on_host()
        for s, (q, label) in enumerate(zip(seg_queries, seg_labels)):
            if not self.label_has_part_masks[label]:
                continue
            parts = (self.part_pid[label] != NO_PART).nonzero(as_tuple=True)[0] if self.compatible_parts_test \
                else torch.arange(self.spec.num_parts, device=seg_map.device)
            ys, xs = (seg_map == s).nonzero(as_tuple=True)
            probs = self._part_probs(part_logits(torch.full_like(parts, q), parts), meta, rescale)[:, ys, xs]
            best = torch.cat([probs.new_full((1, probs.shape[1]), self.no_part_score), probs]).argmax(0)
            chosen = self.part_pid[label, parts[(best - 1).clamp(min=0)]]  # NO_PART if incompatible
            out[2, ys, xs] = torch.where(best > 0, chosen, NO_PART).to(torch.uint8)
            if self.label_scored_with_parts[label]:
                conflicts.append(bool(((best > 0) & (chosen == NO_PART)).any()))
        return out, torch.tensor(conflicts, dtype=torch.bool)


@MODELS.register_module()
class PartMergeFusionHead(PPSFusionHead):
    """The baseline's inference: objects as in :class:`PPSFusionHead`, parts from a separate part-level
    semantic segmentation, merged with the official rules (panoptic_parts ``merge_to_pps``): inside an
    object of a parts class, pixels whose part belongs to that class keep it, the others become 255.

    The part segmentation is Mask2Former's semantic inference over the part queries (sum over queries of
    class probability x mask probability); a pixel whose best part score is below ``no_part_score`` is
    background. That threshold is our choice, not the official code's (which does not release the baseline):
    TAPPS's 'no part' score (0.1), so that both methods leave a pixel without a part by the same rule;
    ``no_part_score=0`` gives plain Mask2Former semantic inference (every object pixel gets its best part).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        table, _ = pid_table(self.spec)  # [class row (= label), flat part id] -> the official part channel
        self.register_buffer('merge_pids', torch.from_numpy(table.astype(np.int64)), persistent=False)

    def sample_pps(self, b: int, segments: PanopticSegments, parts: SemanticPartOutputs, meta: dict,
                   rescale: bool) -> tuple[Tensor, Tensor]:
        """Sample ``b``'s objects merged with its part segmentation."""
        part_seg = self.part_semantic(parts.cls_logits[b], self._to_output_size(parts.mask_logits[b], meta, rescale))
        return self.merge(segments, part_seg)

    def merge(self, segments: PanopticSegments, part_seg: Tensor) -> tuple[Tensor, Tensor]:
        """``merge_objects_and_parts`` (the official ``merge_to_pps`` rules; tested equal) of the segments and a
        flat part segmentation [H, W], on the device: the uint8 [3, H, W] prediction and the conflict flags of
        the objects of parts classes in (sid, instance id) order. The segments' order, official instance ids (rank
        within the class) and classes are known on the host; each pixel is one lookup of its segment."""
        _, labels, thing_ids = segments.on_host()
        sids = [self.spec.classes[label] for label in labels]
        iids = [t if t > 0 else 1 for t in thing_ids]  # the instance channel the objects carry (stuff: 1)
        order = sorted(range(len(sids)), key=lambda s: (sids[s], iids[s]))
        rank = [0] * len(sids)
        for i, s in enumerate(order):
            rank[s] = 1 if i == 0 or sids[order[i - 1]] != sids[s] else rank[order[i - 1]] + 1
        if rank and max(rank) > MAX_SEGMENTS_PER_CLASS:
            raise ValueError(f'more than {MAX_SEGMENTS_PER_CLASS} segments of one class cannot be stored '
                             '(as officially)')
        has_parts = [int(sid in self.spec.parts_sids) for sid in sids]
        void = self.spec.ignore_label
        num = len(sids)
        lut = upload([*sids, void, *rank, 0, *labels, 0, *has_parts, 0, *(s for s in order if has_parts[s])],
                     part_seg.device)
        sid_of, rank_of, row_of, parts_of, flagged_order = lut.split([num + 1] * 4 + [sum(has_parts)])
        seg = torch.where(segments.seg_map >= 0, segments.seg_map, num)
        in_range = (part_seg >= 1) & (part_seg <= self.spec.num_parts)
        pid = self.merge_pids[row_of[seg], torch.where(in_range, part_seg, 0)]
        pid = torch.where(segments.seg_map >= 0, pid, VOID_PID)
        pps = torch.stack([sid_of[seg], rank_of[seg], pid]).to(torch.uint8)
        flagged = (parts_of[seg] > 0) & (pid == void) & in_range
        count = torch.zeros(num + 1, dtype=torch.long, device=seg.device).scatter_add(0, seg.view(-1),
                                                                                     flagged.view(-1).long())
        return pps, count[flagged_order] > 0

    def conflict_keys(self, segments: PanopticSegments, pps: Tensor) -> list[int]:
        """``eval sid * 1000 + instance id`` of each object of a parts class in ``pps``, in (sid, instance id)
        order: the order of ``merge_objects_and_parts``'s conflict flags."""
        sid, iid = pps[0].long(), pps[1].long()
        of_parts = torch.isin(sid, sid.new_tensor(list(self.spec.parts_sids)))
        return torch.unique(sid[of_parts] * 1000 + iid[of_parts]).tolist()

    def part_semantic(self, part_cls: Tensor, part_masks: Tensor) -> Tensor:
        """Flat part id (part index + 1, 0 = background) per pixel."""
        scores = torch.einsum('qp,qhw->phw', F.softmax(part_cls, -1)[:, :-1], part_masks.sigmoid())
        best, idx = scores.max(0)
        return torch.where(best >= self.no_part_score, idx + 1, 0)

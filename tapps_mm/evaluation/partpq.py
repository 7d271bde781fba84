"""PartPQ core: per-image statistics and their summary, numpy only (no torch).

Exactly the official ``panoptic_parts`` 2.0rc6 evaluator (``utils/evaluation_PartPQ.py``), quirks
included, but computed from a small table instead of per-segment full-image masks:

1. the GT uid map and the 3-channel prediction are run-length encoded along rows, and the runs are
   reduced to a table of distinct (GT uid, prediction triple) pairs with pixel counts;
2. every quantity of the official algorithm (segment areas, intersections, void/crowd overlaps, the
   part confusion matrices over the whole image) is a sum over that table.

Semantics reproduced from the official code (``panoptic_parts.utils.evaluation_PartPQ``; how each is tested:
docs/evaluation.md, "Exactness"):
- GT: pids are mapped through the dataset spec's countable groupings and ``dataset_sid_pid2eval_sid_pid``;
  sids are used as eval sids; sids outside the eval set are void; thing pixels without instance id
  (uid = sid) are crowd; a segment of a parts class without any part label becomes crowd.
- The first GT segment of a class lying fully in that class's crowd is dropped (the official ``break``).
- Greedy matching in (GT iid, prediction instance id) order with IoU > 0.5, void removed from the union.
- Part IoU of a TP of a parts class: mean IoU over the labels present in a confusion matrix over the
  whole image minus void, same-class crowd and the GT segment's unlabelled part pixels; label 0 is
  'background'; the prediction's 255 ('unknown') label is dropped from the mean.
- An unmatched prediction is an FP unless more than half of it lies in void or same-class crowd.

Size bands (``band_*`` statistics, things only): COCO's area bands scaled to the evaluated image, so
that "does a method lose small objects" has one answer on images of any size. COCO calls an object small
below 32^2 pixels and large from 96^2 on, for images of long side about 640; here both thresholds are
multiplied by (image long side / 640)^2 (a 64 x 64 image: small < 10.24 px, medium < 92.16 px, large
>= 92.16 px). On the PartPQ matching above: a GT thing segment's band is that of its GT area (its TP or FN
is counted there, and a TP's object IoU summed there); an unmatched predicted thing segment that counts as
an FP (not one ignored for void / crowd) is counted in the band of its predicted area. Band PQ =
IoU sum / (TP + FP/2 + FN/2), band recall = TP / (TP + FN) (:func:`band_quality`).

The PQ / SQ / RQ keys are standard panoptic quality (panopticapi's rules, as detectron2 and the paper
report them), not PartPQ's matching: see :meth:`PartPQEvaluator._standard_pq`.

Defined where the official code crashes: a class group with no counted class (no parts class, say)
averages to 0.0 with its count ``n_* = 0`` (the official code divides by zero).

Stricter than the official code (it crashes or silently mis-reads these): predictions must be uint8
H x W x 3 of the GT's size with class ids in the eval spec or 255; GT uids must follow the official
encoding with sids of the dataset spec.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tapps_mm.compat import import_panoptic_parts
from tapps_mm.pps_format import invalid_uids, split_uids
from tapps_mm.specs import PPSSpec

NO_CLASS = 255  # prediction channel 0/2 value for 'no class' / 'unknown part'
#: Handling of GT pids the dataset spec does not define: 'unlabelled' (our default, the same as in
#: training: such pixels count as object pixels without part label) or 'official' (scored as an extra
#: part label that no model can predict, as panoptic_parts 2.0rc6 does).
UNDEFINED_PIDS = ('unlabelled', 'official')
#: size bands of thing segments (module docstring): COCO's area thresholds at its image scale
SIZE_BANDS = ('small', 'medium', 'large')
COCO_BAND_AREAS = (32 ** 2, 96 ** 2)
COCO_LONG_SIDE = 640
#: the per-class, per-band statistics ([C, 3]); optional in per-image files written before they existed
BAND_FIELDS = ('band_tp', 'band_fp', 'band_fn', 'band_iou')


def band_thresholds(long_side: int) -> np.ndarray:
    """The small / medium and medium / large area thresholds (pixels) of an image of this long side: COCO's
    32^2 and 96^2 scaled by (long side / 640)^2, so a band means the same share of the image at any size."""
    return np.asarray(COCO_BAND_AREAS, np.float64) * (long_side / COCO_LONG_SIDE) ** 2


def size_band(area, long_side: int) -> np.ndarray:
    """Band index (0 small, 1 medium, 2 large) of segment area(s) in an image of this long side (an area equal
    to a threshold is in the upper band, as COCO's ``[lo, hi)`` ranges)."""
    return np.searchsorted(band_thresholds(long_side), np.asarray(area, np.float64), side='right')


def band_quality(tp, fp, fn, iou_sum) -> tuple[np.ndarray, np.ndarray]:
    """(band PQ, band recall) from summed band statistics (any shape): IoU sum / (TP + FP/2 + FN/2) and
    TP / (TP + FN); NaN where undefined (nothing in the band), not 0, so a mean cannot hide an empty band."""
    tp, fp, fn, iou_sum = (np.asarray(a, np.float64) for a in (tp, fp, fn, iou_sum))
    denom, gt = tp + 0.5 * fp + 0.5 * fn, tp + fn
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(denom > 0, iou_sum / denom, np.nan), np.where(gt > 0, tp / gt, np.nan)


@dataclass
class PPSStats:
    """Additive statistics of one or many images; arrays indexed by label (``spec.classes`` order).

    The ``band_*`` arrays ([C, 3]: label x (small, medium, large), zero for stuff; module docstring) split the
    PartPQ TP / FP / FN of thing classes by object size, and sum over bands to ``tp`` / ``fp`` / ``fn`` there;
    ``band_iou`` sums the TPs' object IoU. They are None for statistics read from per-image files written
    before they existed (a sum with such statistics has no bands either).
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    part_iou: np.ndarray   # sum over TPs of the PartPQ IoU (part mean IoU, or object IoU for no-parts)
    pq_tp: np.ndarray      # standard PQ (panopticapi's rules, see :meth:`PartPQEvaluator._standard_pq`)
    pq_fp: np.ndarray
    pq_fn: np.ndarray
    pq_iou: np.ndarray     # sum over standard-PQ TPs of the object IoU
    sem_inter: np.ndarray  # instance-agnostic semantic segmentation, pixels
    sem_gt: np.ndarray
    sem_pred: np.ndarray
    part_inter: np.ndarray  # part-level semantic segmentation, indexed by flat part id (0 = none)
    part_gt: np.ndarray
    part_pred: np.ndarray
    num_images: int = 0
    band_tp: np.ndarray | None = None  # [C, 3] int: TPs by GT area
    band_fp: np.ndarray | None = None  # [C, 3] int: FPs by predicted area
    band_fn: np.ndarray | None = None  # [C, 3] int: FNs by GT area
    band_iou: np.ndarray | None = None  # [C, 3] float: sum of the TPs' object IoU, by GT area

    @classmethod
    def zeros(cls, num_classes: int, num_parts: int) -> 'PPSStats':
        c = lambda dtype: np.zeros(num_classes, dtype)  # noqa: E731
        p = lambda: np.zeros(num_parts + 1, np.int64)  # noqa: E731
        b = lambda dtype: np.zeros((num_classes, len(SIZE_BANDS)), dtype)  # noqa: E731
        return cls(c(np.int64), c(np.int64), c(np.int64), c(np.float64),
                   c(np.int64), c(np.int64), c(np.int64), c(np.float64),
                   c(np.int64), c(np.int64), c(np.int64), p(), p(), p(),
                   band_tp=b(np.int64), band_fp=b(np.int64), band_fn=b(np.int64), band_iou=b(np.float64))

    @property
    def has_bands(self) -> bool:
        """Whether the size-band arrays are there (not for sums of per-image files that predate them)."""
        return all(getattr(self, name) is not None for name in BAND_FIELDS)

    def __iadd__(self, other: 'PPSStats') -> 'PPSStats':
        bands = self.has_bands and other.has_bands
        for f in fields(self):
            if f.name in BAND_FIELDS:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name) if bands else None)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def __add__(self, other: 'PPSStats') -> 'PPSStats':
        out = PPSStats(**{f.name: getattr(self, f.name) if f.name == 'num_images' or getattr(self, f.name) is None
                          else np.copy(getattr(self, f.name)) for f in fields(self)})
        out += other
        return out


def _run_table(gt: np.ndarray, pred: np.ndarray):
    """Distinct (GT uid, prediction sid/iid/pid) pairs of an image with their pixel counts."""
    gt = gt.reshape(-1)
    pk = ((pred[..., 0].astype(np.int32) << 16) | (pred[..., 1].astype(np.int32) << 8)
          | pred[..., 2]).reshape(-1)
    change = np.empty(gt.size, dtype=bool)
    change[0] = True
    np.not_equal(gt[1:], gt[:-1], out=change[1:])
    change[1:] |= pk[1:] != pk[:-1]
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, gt.size))
    keys = (gt[starts].astype(np.int64) << 24) | pk[starts]
    # distinct keys with their summed run lengths: a stable argsort (timsort: fast on the partly ordered keys of
    # an image) and a reduceat, 2-3x faster than np.unique(return_inverse) + bincount on the many short runs
    # of a noisy prediction
    order = np.argsort(keys, kind='stable')
    keys = keys[order]
    first = np.empty(keys.size, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    heads = np.flatnonzero(first)
    counts = np.add.reduceat(lengths[order], heads)
    keys = keys[heads]
    return (keys >> 24).astype(np.int32), (keys >> 16) & 255, (keys >> 8) & 255, keys & 255, counts


class PartPQEvaluator:
    """Per-image PartPQ/PQ/mIoU statistics for one spec, and their summary."""

    def __init__(self, spec: PPSSpec, undefined_pids: str = 'unlabelled'):
        import_panoptic_parts()
        if undefined_pids not in UNDEFINED_PIDS:
            raise ValueError(f'undefined_pids={undefined_pids!r}: expected one of {UNDEFINED_PIDS}')
        self.spec = spec
        off = spec.official
        self._dspec = spec.dataset_spec
        self.num_dataset_sids = len(self._dspec.l)
        # pids beyond a class's dataset-spec parts (Cityscapes-PP person/rider pid 5)
        self.num_defined_pids = spec.num_dataset_pids if undefined_pids == 'unlabelled' else None
        self.sid2label = np.full(256, -1, np.int64)
        self.sid2label[list(spec.classes)] = np.arange(spec.num_classes)
        self.things = np.array(sorted(off.eval_sid_things), np.int64)
        self.label_has_parts = spec.label_has_parts
        self.label_is_thing = np.isin(np.array(spec.classes), self.things)
        # GT pid remapping, applied by the official code only if the mapping is not the identity
        # (official ``parse_dataset_sid_pid2eval_sid_pid`` semantics: missing or IGNORED keys map to
        # themselves; built here because the official helper's sanity check is quadratic, ~6 s)
        self.dsp2esp = None
        mapping = off.dataset_sid_pid2eval_sid_pid
        if any(k != v for k, v in mapping.items() if v != 'IGNORED'):
            self.dsp2esp = np.arange(10000, dtype=np.int64)
            for k, v in mapping.items():
                if isinstance(k, int) and 0 <= k < 10000 and v != 'IGNORED':
                    self.dsp2esp[k] = v
        # (sid, pid) -> flat part id, for GT (eval pids) and predictions (any uint8 pair)
        self.flat = np.zeros((256, 256), np.int64)
        for sid_pid, flat in spec.sid_pid2flat.items():
            self.flat[sid_pid // 100, sid_pid % 100] = flat
        self.pred_part_void = None if spec.ignore_label == NO_CLASS else spec.ignore_label
        self.valid_pred_sids = np.zeros(256, bool)
        self.valid_pred_sids[list(spec.classes) + [NO_CLASS]] = True

    # ----------------------------------------------------------------------------- GT decoding
    def _decode_gt_uids(self, uids: np.ndarray, gt_name: str):
        """Decode distinct GT uids like the official ``annotation_parsing``: (sid, iid, eval pid, sid_iid)."""
        from panoptic_parts.utils.format import decode_uids
        bad = invalid_uids(uids)
        if bad.size:
            raise ValueError(f'{gt_name}: uids outside the panoptic-parts encoding: {bad[:10].tolist()}')
        sids = split_uids(uids)[0]
        unknown = sids >= self.num_dataset_sids
        if unknown.any():
            raise ValueError(f'{gt_name}: sids {sorted(set(sids[unknown].tolist()))} are not in the dataset '
                             f'spec {self._dspec.dataset_name!r} ({self.num_dataset_sids} classes)')
        try:
            sids, iids, pids, sids_iids, sids_pids = decode_uids(
                uids.astype(np.int32), return_sids_iids=True, return_sids_pids=True,
                experimental_noinfo_id=0, experimental_dataset_spec=self._dspec)
        except AssertionError as e:  # the official check of countable part groupings
            raise ValueError(f'{gt_name}: part ids not defined by the dataset spec '
                             f'{self._dspec.dataset_name!r} (uids {uids.tolist()[:20]}...)') from e
        if self.num_defined_pids is not None:
            undefined = pids > self.num_defined_pids[sids]
            pids = np.where(undefined, 0, pids)
            sids_pids = np.where(undefined, sids, sids_pids)
        if self.dsp2esp is not None:
            sids_pids = self.dsp2esp[sids_pids]
            pids = np.where(sids_pids >= 100, sids_pids % 100, 0)
        return (sids.astype(np.int64), iids.astype(np.int64), np.asarray(pids, np.int64),
                np.asarray(sids_iids, np.int64))

    # ----------------------------------------------------------------------------- one image
    def image_stats(self, gt_uids: np.ndarray, pred: np.ndarray, gt_name: str = 'ground truth',
                    pred_name: str = 'prediction') -> PPSStats:
        """Statistics of one image: ``gt_uids`` int H x W uid map, ``pred`` uint8 H x W x 3."""
        self._check_inputs(gt_uids, pred, gt_name, pred_name)
        g_uid, p_sid, p_iid, p_pid, n = _run_table(gt_uids.astype(np.int32, copy=False), pred)
        bad = ~self.valid_pred_sids[p_sid]
        if bad.any():
            raise ValueError(f'{pred_name}: class ids {sorted(set(p_sid[bad].tolist()))} are neither eval sids '
                             f'of spec {self.spec.name!r} nor {NO_CLASS} (no class)')
        uniq, inv = np.unique(g_uid, return_inverse=True)
        sid, iid, pid, sid_iid = (a[inv] for a in self._decode_gt_uids(uniq, gt_name))
        if self.pred_part_void is not None:
            p_pid = np.where(p_pid == self.pred_part_void, NO_CLASS, p_pid)
        return self._table_stats(sid, iid, pid, sid_iid, p_sid, p_iid, p_pid, n, max(gt_uids.shape))

    def _check_inputs(self, gt, pred, gt_name, pred_name):
        if gt.ndim != 2 or not np.issubdtype(gt.dtype, np.integer):
            raise ValueError(f'{gt_name}: expected a 2-D integer uid map, got {gt.dtype} {gt.shape}')
        if pred.dtype != np.uint8 or pred.ndim != 3 or pred.shape[2] != 3:
            raise ValueError(f'{pred_name}: expected a uint8 H x W x 3 PPS prediction '
                             f'[class, instance, part], got {pred.dtype} {pred.shape}')
        if pred.shape[:2] != gt.shape:
            raise ValueError(f'{pred_name}: size {pred.shape[:2]} differs from {gt_name} {gt.shape}')

    def _table_stats(self, gt_sid, gt_iid, gt_pid, gt_sid_iid, pred_sid, pred_iid, pred_pid, pixels,
                     long_side: int) -> PPSStats:
        """One image's statistics, from its table of distinct (GT uid, prediction) pairs: per row the decoded
        GT uid, the prediction's class, instance id and pid, and the pair's pixel count; ``long_side``: the
        image's longer side, which scales the size bands.

        What :meth:`summarize` reports is a sum over images of these: the PartPQ counts and IoU sums (the
        official rules of the module docstring), the standard PQ ones (:meth:`_standard_pq`) and the pixel
        counts of the semantic and part-level mIoU (:meth:`_semantic_stats`). The PartPQ matching also
        splits the thing classes' counts by size band (module docstring), in the same pass.
        """
        stats = PPSStats.zeros(self.spec.num_classes, self.spec.num_parts)
        stats.num_images = 1
        gt_label = self.sid2label[gt_sid]  # -1: void
        pred_label = self.sid2label[pred_sid]  # -1: no class (255)
        void = gt_label < 0
        gt_seg_label, crowd, dropped, counted_seg = self._partpq_gt_segments(gt_label, gt_sid, gt_iid, gt_pid,
                                                                             gt_sid_iid, pixels)
        gt_area = _pixel_sums(counted_seg, pixels, counted_seg >= 0, len(gt_seg_label))
        pred_keys, pred_seg = _segments(np.where(pred_label < 0, -1, pred_label * 256 + pred_iid))
        pred_seg_label = pred_keys // 256
        in_pred = pred_seg >= 0
        pred_area = _pixel_sums(pred_seg, pixels, in_pred, len(pred_keys))
        pred_void = _pixel_sums(pred_seg, pixels, in_pred & void, len(pred_keys))
        pred_crowd = _pixel_sums(pred_seg, pixels, in_pred & crowd & (gt_label == pred_label), len(pred_keys))
        num_pixels, num_void = int(pixels.sum()), int(pixels[void].sum())

        # PartPQ, class by class: a TP adds its part IoU (classes without parts: its object IoU)
        gt_row_label = np.append(gt_seg_label, -2)[counted_seg]  # -2: the row counts for no GT segment
        pred_row_label = np.append(pred_seg_label, -3)[pred_seg]  # -3: the row is in no predicted segment
        for label in np.union1d(gt_seg_label[~dropped], pred_seg_label):
            gt_ids = np.flatnonzero((gt_seg_label == label) & ~dropped)
            same_class = (gt_row_label == label) & (pred_row_label == label)
            inter = np.zeros((len(gt_seg_label), len(pred_keys)))
            np.add.at(inter, (counted_seg[same_class], pred_seg[same_class]), pixels[same_class])
            matches, unmatched = _greedy_matches(gt_ids, np.flatnonzero(pred_seg_label == label), inter, gt_area,
                                                 pred_area, pred_void)
            for gi, pj, iou in matches:
                stats.part_iou[label] += (self._part_iou(gi, pj, label, counted_seg, pred_seg, gt_pid, pred_pid, crowd,
                                                         gt_label, pixels, num_pixels, num_void)
                                          if self.label_has_parts[label] else iou)
            stats.tp[label] = len(matches)
            stats.fn[label] = len(gt_ids) - len(matches)
            # not an FP: an unmatched prediction more than half in void or in crowd of its class
            false_pos = [pj for pj in unmatched if (pred_void[pj] + pred_crowd[pj]) / pred_area[pj] <= 0.5]
            stats.fp[label] = len(false_pos)
            if self.label_is_thing[label]:
                matched = {m[0] for m in matches}
                self._band_stats(stats, label, matches, [gi for gi in gt_ids if gi not in matched], false_pos,
                                 gt_area, pred_area, long_side)

        self._standard_pq(stats, gt_label, gt_iid, gt_sid_iid, pred_seg, pred_seg_label, pred_label, pixels,
                          pred_area, pred_void)
        self._semantic_stats(stats, gt_label, gt_sid, gt_pid, pred_label, pred_sid, pred_pid, pixels)
        return stats

    @staticmethod
    def _band_stats(stats, label, matches, missed, false_pos, gt_area, pred_area, long_side) -> None:
        """Size bands of one thing class's PartPQ outcome (module docstring): TPs (with their object IoU) and FNs
        by GT area, FPs by predicted area."""
        n_bands = len(SIZE_BANDS)
        if matches:
            band = size_band(gt_area[[m[0] for m in matches]], long_side)
            stats.band_tp[label] += np.bincount(band, minlength=n_bands)
            stats.band_iou[label] += np.bincount(band, weights=[m[2] for m in matches], minlength=n_bands)
        if missed:
            stats.band_fn[label] += np.bincount(size_band(gt_area[missed], long_side), minlength=n_bands)
        if false_pos:
            stats.band_fp[label] += np.bincount(size_band(pred_area[false_pos], long_side), minlength=n_bands)

    def _partpq_gt_segments(self, gt_label, gt_sid, gt_iid, gt_pid, gt_sid_iid,
                            pixels) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The GT segments of PartPQ, as the official evaluator makes them: one per (class, instance id) in
        the order of its per-class ``np.unique`` over instance ids. Returns each segment's label, each row's
        crowd flag, which segments are dropped (not evaluated) and the segment each row's pixels count for
        (-1: none, for void, crowd and dropped segments)."""
        void = gt_label < 0
        seg_keys, seg = _segments(np.where(void, -1, gt_label * 1000 + gt_iid))
        seg_label = seg_keys // 1000
        in_seg = seg >= 0
        crowd = ~void & (gt_sid_iid < 1000) & np.isin(gt_sid, self.things)  # thing pixels without instance id
        # segments of parts classes without any part label are deleted and become crowd
        has_part_label = _pixel_sums(seg, pixels, in_seg & (gt_pid != 0), len(seg_keys)) > 0
        deleted = self.label_has_parts[seg_label] & ~has_part_label
        crowd |= in_seg & np.append(deleted, False)[seg]  # seg -1 (void) reads the appended entry
        # the first remaining segment of each class that lies fully in crowd is dropped (the official ``break``)
        fully_crowd = ~deleted & (_pixel_sums(seg, pixels, in_seg & ~crowd, len(seg_keys)) == 0)
        dropped = deleted.copy()
        for label in np.unique(seg_label[fully_crowd]):
            dropped[np.flatnonzero(fully_crowd & (seg_label == label))[0]] = True
        counted_seg = np.where(in_seg & ~crowd, seg, -1)
        counted_seg[np.append(dropped, False)[counted_seg]] = -1
        return seg_label, crowd, dropped, counted_seg

    def _semantic_stats(self, stats, gt_label, gt_sid, gt_pid, pred_label, pred_sid, pred_pid, pixels) -> None:
        """Pixel counts (intersection, GT, prediction per class) of the instance-agnostic semantic segmentation
        and of the part-level one, void GT pixels excluded: the mIoU keys of :meth:`summarize`."""
        num_classes, num_flat_parts = self.spec.num_classes, self.spec.num_parts + 1
        valid = gt_label >= 0
        stats.sem_gt += _pixel_sums(gt_label, pixels, valid, num_classes)
        stats.sem_pred += _pixel_sums(pred_label, pixels, valid & (pred_label >= 0), num_classes)
        stats.sem_inter += _pixel_sums(gt_label, pixels, valid & (gt_label == pred_label), num_classes)
        # over the parts of parts classes (the whole-object 'parts' of no-parts classes are left out); pixels
        # of a parts class without part label are ignored
        gt_in_parts_class = valid & self.label_has_parts[np.maximum(gt_label, 0)]
        gt_flat = np.where(gt_in_parts_class, self.flat[gt_sid, gt_pid], 0)
        pred_in_parts_class = (pred_label >= 0) & self.label_has_parts[np.maximum(pred_label, 0)]
        pred_flat = np.where(pred_in_parts_class, self.flat[pred_sid, pred_pid], 0)
        scored = valid & ~(gt_in_parts_class & (gt_pid == 0))
        stats.part_gt += _pixel_sums(gt_flat, pixels, scored, num_flat_parts)
        stats.part_pred += _pixel_sums(pred_flat, pixels, scored, num_flat_parts)
        stats.part_inter += _pixel_sums(gt_flat, pixels, scored & (gt_flat == pred_flat), num_flat_parts)

    def _standard_pq(self, st, glabel, iid, sid_iid, pseg, pseg_label, plabel, n, p_area, p_void):
        """Standard PQ statistics with panopticapi's rules (what detectron2 / the paper's PQ report).

        Unlike PartPQ, every GT segment counts as it is (a parts-class object without part labels too); a GT
        segment is one uid without its part: ``sid * 1000 + iid`` (instance ids start at 0: Cityscapes'
        ``26000`` is the first car of an image) or ``sid``, which for a thing class is its crowd region (one per
        class); matching is IoU > 0.5 within a class with void removed from the union; an unmatched prediction
        is ignored, not an FP, when more than half of it lies in void or in the crowd region of its class.
        """
        # segment key: label * 1001 + (iid + 1), or + 0 for a uid without instance id (crowd / stuff)
        key = np.where(glabel < 0, -1, glabel * 1001 + np.where(sid_iid >= 1000, iid + 1, 0))
        seg_keys, seg = _segments(key)
        seg_label = seg_keys // 1001
        in_seg, in_p = seg >= 0, pseg >= 0
        crowd_seg = self.label_is_thing[seg_label] & (seg_keys % 1001 == 0)  # a thing uid without instance id
        crowd_px = in_seg & np.append(crowd_seg, False)[seg]
        g_area = np.bincount(seg[in_seg], weights=n[in_seg], minlength=len(seg_keys))
        same = in_seg & in_p & (glabel == plabel)
        p_crowd = np.bincount(pseg[same & crowd_px], weights=n[same & crowd_px], minlength=len(pseg_label))
        both = same & ~crowd_px
        stride = max(len(pseg_label), 1)
        pairs, inv = np.unique(seg[both].astype(np.int64) * stride + pseg[both], return_inverse=True)
        inter = np.bincount(inv, weights=n[both], minlength=len(pairs))
        gi, pj = pairs // stride, pairs % stride
        iou = inter / (g_area[gi] + p_area[pj] - inter - p_void[pj])  # > 0: inter lies in both, off void
        match = iou > 0.5  # unique: two segments cannot both overlap one segment by more than half
        gi, pj, iou = gi[match], pj[match], iou[match]
        c = self.spec.num_classes
        st.pq_tp += np.bincount(seg_label[gi], minlength=c)
        st.pq_iou += np.bincount(seg_label[gi], weights=iou, minlength=c)
        missed = ~crowd_seg
        missed[gi] = False
        st.pq_fn += np.bincount(seg_label[missed], minlength=c)
        unmatched = np.ones(len(pseg_label), bool)
        unmatched[pj] = False
        unmatched &= (p_void + p_crowd) / np.maximum(p_area, 1) <= 0.5
        st.pq_fp += np.bincount(pseg_label[unmatched], minlength=c)

    @staticmethod
    def _part_iou(gi, pj, label, g, pseg, pid, p_pid, crowd, glabel, n, total, void_total) -> float:
        """Official multi-class part IoU of a matched pair, from the table (see module docstring)."""
        in_g = g == gi
        in_p = pseg == pj
        crowd_c = crowd & (glabel == label)
        a = in_g & (pid != 0)                       # GT part pixels: (gt pid, pred pid or 0)
        b = in_p & ~in_g & (glabel >= 0) & ~crowd_c  # rest of the prediction: (0, pred pid)
        gt_lbl = np.concatenate([pid[a], np.zeros(b.sum(), np.int64)])
        pr_lbl = np.concatenate([np.where(in_p[a], p_pid[a], 0), p_pid[b]])
        cm = np.bincount(gt_lbl * 256 + pr_lbl, weights=np.concatenate([n[a], n[b]]),
                         minlength=256 * 256).astype(np.int64).reshape(256, 256)
        evaluated = total - void_total - int(n[crowd_c].sum()) - int(n[in_g & (pid == 0)].sum())
        cm[0, 0] += evaluated - cm.sum()
        present = np.flatnonzero(cm.sum(0) + cm.sum(1) > 0)
        cm = cm[np.ix_(present, present)]
        inter = np.diagonal(cm)
        union = np.sum(cm, 0) + np.sum(cm, 1) - inter
        ious = inter / np.where(union > 0, union, np.ones_like(union))
        if present[-1] == NO_CLASS:  # 'unknown' predictions are not counted as false positives
            ious = ious[:-1]
        return float(np.mean(ious))

    # ----------------------------------------------------------------------------- summary
    def summarize(self, st: PPSStats) -> dict:
        """Official PartPQ averages (all, _parts, _noparts), standard PQ (all, _th, _st), mIoU, per class.

        A class enters a PartPQ mean when it has PartPQ TP + FP + FN > 0 and a PQ mean when it has
        standard-PQ TP + FP + FN > 0 (the two rules count segments differently, so the sets may differ).
        """
        spec = self.spec
        per_class = {}
        groups = {k: [] for k in ('all', 'parts', 'noparts', 'th', 'st')}
        for label, sid in enumerate(spec.classes):
            entry = {'name': spec.class_names.get(sid, str(sid))}
            tp, fp, fn = int(st.tp[label]), int(st.fp[label]), int(st.fn[label])
            entry.update(_quality('Part', tp, fp, fn, st.part_iou[label]), TP=tp, FP=fp, FN=fn)
            if tp + fp + fn > 0:
                groups['all'].append(entry)
                groups['parts' if self.label_has_parts[label] else 'noparts'].append(entry)
            tp, fp, fn = int(st.pq_tp[label]), int(st.pq_fp[label]), int(st.pq_fn[label])
            entry.update(_quality('', tp, fp, fn, st.pq_iou[label]), PQ_TP=tp, PQ_FP=fp, PQ_FN=fn)
            per_class[str(sid)] = entry

        def mean(group, key):
            return float(sum(e[key] for e in group) / len(group)) if group else 0.0

        res = {}
        for suffix, group in (('', 'all'), ('_parts', 'parts'), ('_noparts', 'noparts')):
            for key in ('PartPQ', 'PartSQ', 'PartRQ'):
                res[key + suffix] = mean(groups[group], key)
        res.update(n=len(groups['all']), n_p=len(groups['parts']), n_np=len(groups['noparts']))
        counted = (st.pq_tp + st.pq_fp + st.pq_fn) > 0
        for suffix, sel in (('', counted), ('_th', counted & self.label_is_thing),
                            ('_st', counted & ~self.label_is_thing)):
            group = [per_class[str(spec.classes[c])] for c in np.flatnonzero(sel)]
            for key in ('PQ', 'SQ', 'RQ'):
                res[key + suffix] = mean(group, key)
        res.update(self._miou(st.sem_inter, st.sem_gt, st.sem_pred))
        part_iou = _ious(st.part_inter[1:], st.part_gt[1:], st.part_pred[1:])
        res['mIoU_parts'] = float(np.nanmean(part_iou)) if np.isfinite(part_iou).any() else 0.0
        res['num_images'] = int(st.num_images)
        res['per_class'] = per_class
        return res

    def _miou(self, inter, gt, pred) -> dict:
        ious = _ious(inter, gt, pred)
        out = {}
        for key, sel in (('mIoU', np.ones_like(self.label_is_thing)), ('mIoU_th', self.label_is_thing),
                         ('mIoU_st', ~self.label_is_thing)):
            vals = ious[sel]
            out[key] = float(np.nanmean(vals)) if np.isfinite(vals).any() else 0.0
        return out


def _quality(prefix: str, tp: int, fp: int, fn: int, iou_sum: float) -> dict[str, float]:
    """``{prefix}PQ / SQ / RQ`` of one class from its counts (0.0 where undefined)."""
    denom = tp + 0.5 * fp + 0.5 * fn
    return {f'{prefix}PQ': float(iou_sum / denom) if denom else 0.0,
            f'{prefix}SQ': float(iou_sum / tp) if tp else 0.0,
            f'{prefix}RQ': float(tp / denom) if denom else 0.0}


def _ious(inter: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-class IoU, NaN for classes absent from both GT and prediction (left out of the means)."""
    union = gt + pred - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def _segments(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct segment keys of the table rows (sorted; key -1, no segment, left out) and the segment
    index of each row (-1: none)."""
    seg_keys, seg = np.unique(keys, return_inverse=True)
    if seg_keys[0] == -1:
        return seg_keys[1:], seg - 1
    return seg_keys, seg


def _pixel_sums(index: np.ndarray, pixels: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """Pixel counts of the table rows selected by ``rows``, summed per ``index`` (int64 [size])."""
    return np.bincount(index[rows], weights=pixels[rows], minlength=size).astype(np.int64)


def _greedy_matches(gt_ids, pred_ids, inter, gt_area, pred_area, pred_void) -> tuple[list, list]:
    """The official PartPQ matching within one class: each GT segment in turn takes the first still
    unmatched predicted segment whose IoU (void left out of the union) exceeds 0.5. Returns the matches
    ``(GT segment, predicted segment, IoU)`` and the unmatched predicted segments."""
    unmatched = list(pred_ids)
    matches = []
    for gi in gt_ids:
        for pj in unmatched:
            union = gt_area[gi] + pred_area[pj] - inter[gi, pj] - pred_void[pj]
            iou = inter[gi, pj] / union if union > 0 else float('nan')
            if iou > 0.5:
                unmatched.remove(pj)
                matches.append((gi, pj, iou))
                break
    return matches, unmatched

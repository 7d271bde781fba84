"""Loading of the official uid labels into augmentation-safe PPS target codes."""
from __future__ import annotations

import functools

from mmcv.transforms import BaseTransform

from tapps_mm.datasets.pps_targets import PPSTargetEncoder
from tapps_mm.pps_format import read_label
from tapps_mm.registry import TRANSFORMS
from tapps_mm.specs import load_spec


@functools.lru_cache(maxsize=None)
def target_encoder(spec: str) -> PPSTargetEncoder:
    return PPSTargetEncoder(load_spec(spec))


@TRANSFORMS.register_module()
class LoadPPSAnnotations(BaseTransform):
    """Read ``pps_label_path`` (official int32 uid TIFF) and encode it for the later transforms.

    Adds ``gt_seg_map`` (int32 target codes, see :mod:`tapps_mm.datasets.pps_targets`; mmdet's
    flip / resize / crop carry it with nearest interpolation), ``pps_seg_labels`` and ``pps_seg_crowd``
    (the segment table, unchanged by augmentation). The spec comes from the sample's ``pps_spec``
    (set by the dataset) or the ``spec`` argument.
    """

    def __init__(self, spec: str | None = None) -> None:
        self.spec = spec

    def transform(self, results: dict) -> dict:
        path = results['pps_label_path']
        spec = self.spec or results.get('pps_spec')
        if spec is None:
            raise KeyError(f'LoadPPSAnnotations: no spec for {path}: set `spec` or use a PPS dataset')
        uids = read_label(path)
        if 'img' in results and results['img'].shape[:2] != uids.shape:
            raise ValueError(f'{path}: label size {uids.shape} differs from image {results.get("img_path")} '
                             f'size {results["img"].shape[:2]}')
        codes = target_encoder(spec).encode(uids, path)
        results['gt_seg_map'] = codes.codes
        results['pps_seg_labels'] = codes.labels
        results['pps_seg_crowd'] = codes.crowd
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(spec={self.spec!r})'


__all__ = ['LoadPPSAnnotations']

"""Training augmentations with detectron2's behaviour, as the official TAPPS trains.

mmdet's transforms come close but differ where it changes the training data (docs/fidelity.md):

- detectron2 resizes uint8 images with PIL (bilinear, antialiased when shrinking); mmdet's default is
  OpenCV's bilinear without antialiasing. :class:`PILResize` resizes the image with PIL and the label map
  with PIL's nearest rule (pixel centres) on any integer dtype, which mmcv's PIL backend refuses;
- detectron2's ``ResizeScale`` (LSJ) keeps the target size a float and rounds the output size; mmcv's
  ``RandomResize`` truncates first: :class:`ResizeScale`;
- detectron2's ``FixedSizeCrop`` places the crop with **one** uniform draw for both axes and pads to the
  crop size; mmdet's ``RandomCrop`` draws each axis on its own: :class:`FixedSizeCrop`;
- detectron2's ``ColorAugSSDTransform`` shifts the hue by an integer in [-18, 18]; mmseg's
  ``PhotoMetricDistortion`` (otherwise the same steps and ranges) by one in [-18, 17]:
  :class:`SSDPhotoMetricDistortion`.

Sizes follow mmdet's convention, (width, height), as everywhere else in our configs.
"""
from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets.transforms import Resize, ResizeShortestEdge
from mmseg.datasets.transforms import PhotoMetricDistortion

from tapps_mm.registry import TRANSFORMS


def resize_nearest(seg: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Nearest resize with PIL's rule (source pixel = floor((dst + 0.5) * in / out)), any dtype.

    OpenCV's ``INTER_NEAREST_EXACT`` is that rule (``INTER_NEAREST`` rounds down from the corner instead).
    """
    h, w = hw
    if seg.shape[:2] == (h, w):
        return seg
    return cv2.resize(seg, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)


@TRANSFORMS.register_module()
class PILResize(Resize):
    """mmdet's ``Resize`` with detectron2's kernels: the image with PIL (``interpolation``, bilinear by
    default: antialiased when shrinking), ``gt_seg_map`` with PIL's nearest rule to the image's new size.

    Images must be uint8 (as detectron2's PIL path; other dtypes raise in mmcv).
    """

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.setdefault('backend', 'pillow') != 'pillow':
            raise ValueError(f"PILResize: backend must be 'pillow', got {kwargs['backend']!r}")
        super().__init__(*args, **kwargs)

    def _resize_seg(self, results: dict) -> None:
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = resize_nearest(results['gt_seg_map'], results['img_shape'])


@TRANSFORMS.register_module()
class PILResizeShortestEdge(ResizeShortestEdge):
    """mmdet's ``ResizeShortestEdge`` (detectron2's size rule) resizing with :class:`PILResize`.

    Use it as ``RandomChoiceResize(scales=..., resize_type='PILResizeShortestEdge', max_size=...)`` for
    detectron2's ``ResizeShortestEdge(..., sample_style='choice')``.
    """

    def __init__(self, scale, max_size: int | None = None, resize_type: str = 'PILResize', **resize_kwargs) -> None:
        super().__init__(scale, max_size=max_size, resize_type=resize_type, **resize_kwargs)


@TRANSFORMS.register_module()
class ResizeScale(BaseTransform):
    """Large-scale jitter as detectron2's ``ResizeScale``: draw ``s`` uniformly in [min_scale, max_scale];
    the image fits into ``s x target_size`` keeping its ratio, output size rounded (``np.round``).

    Args:
        min_scale, max_scale: range of ``s``.
        target_size: (width, height) the scales refer to.
    """

    def __init__(self, min_scale: float, max_scale: float, target_size: tuple[int, int]) -> None:
        self.min_scale, self.max_scale = min_scale, max_scale
        self.target_size = tuple(target_size)
        self.resize = PILResize(scale=self.target_size, keep_ratio=False)  # its scale is set per image

    def output_hw(self, hw: tuple[int, int], scale: float) -> tuple[int, int]:
        """The resized (height, width) of an image of ``hw`` at jitter ``scale``."""
        target_w, target_h = self.target_size
        factor = min(target_h * scale / hw[0], target_w * scale / hw[1])
        out = np.round(np.multiply(hw, factor)).astype(int)
        return int(out[0]), int(out[1])

    def transform(self, results: dict) -> dict:
        scale = np.random.uniform(self.min_scale, self.max_scale)
        h, w = self.output_hw(results['img'].shape[:2], scale)
        self.resize.scale = (w, h)
        return self.resize(results)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_scale={self.min_scale}, max_scale={self.max_scale}, '
                f'target_size={self.target_size})')


@TRANSFORMS.register_module()
class FixedSizeCrop(BaseTransform):
    """detectron2's ``FixedSizeCrop``: a crop of ``crop_size`` whose offset on both axes is the same
    fraction ``u`` (one uniform draw) of the free margin, rounded; then padding at the bottom and right up
    to ``crop_size`` (image ``pad_val``, ``gt_seg_map`` ``seg_pad_val``: void for our target codes).

    ``img_shape`` becomes the size of the cropped content, ``pad_shape`` the padded size, as mmdet's
    ``RandomCrop`` + ``Pad``.

    Args:
        crop_size: (width, height).
        pad_val: image padding (detectron2: 128).
        seg_pad_val: label padding (detectron2: 255, void).
    """

    def __init__(self, crop_size: tuple[int, int], pad_val: float = 128.0, seg_pad_val: int = 255) -> None:
        self.crop_size = tuple(crop_size)
        self.pad_val, self.seg_pad_val = pad_val, seg_pad_val

    def transform(self, results: dict) -> dict:
        crop_w, crop_h = self.crop_size
        h, w = results['img'].shape[:2]
        u = np.random.uniform(0.0, 1.0)
        y0, x0 = np.round(np.multiply(np.maximum([h - crop_h, w - crop_w], 0), u)).astype(int)
        keys = ['img'] + list(results.get('seg_fields', []))
        for key in keys:
            pad = self.pad_val if key == 'img' else self.seg_pad_val
            cropped = results[key][y0:y0 + crop_h, x0:x0 + crop_w]
            padded = np.full((crop_h, crop_w) + cropped.shape[2:], pad, dtype=cropped.dtype)
            padded[:cropped.shape[0], :cropped.shape[1]] = cropped
            results[key] = padded
            if key == 'img':
                results['img_shape'] = cropped.shape[:2]
        results['pad_shape'] = (crop_h, crop_w)
        results['crop_offset'] = (int(y0), int(x0))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, pad_val={self.pad_val}, '
                f'seg_pad_val={self.seg_pad_val})')


@TRANSFORMS.register_module()
class SSDPhotoMetricDistortion(PhotoMetricDistortion):
    """mmseg's ``PhotoMetricDistortion`` (detectron2's ``ColorAugSSDTransform`` steps: brightness, then
    contrast before or after saturation and hue, no channel swap) with detectron2's hue range: an integer
    shift in [-hue_delta, hue_delta] inclusive (mmseg draws from [-hue_delta, hue_delta - 1])."""

    def hue(self, img: np.ndarray) -> np.ndarray:
        if np.random.randint(2):
            img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
            shift = np.random.randint(-self.hue_delta, self.hue_delta + 1)
            img[:, :, 0] = (img[:, :, 0].astype(int) + shift) % 180
            img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
        return img


__all__ = ['PILResize', 'PILResizeShortestEdge', 'ResizeScale', 'FixedSizeCrop', 'SSDPhotoMetricDistortion',
           'resize_nearest']

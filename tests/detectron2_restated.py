"""detectron2's training augmentations as the official TAPPS uses them, restated for the tests.

Written from the public code of detectron2 (``detectron2/data/transforms/augmentation_impl.py``:
``ResizeShortestEdge``, ``RandomCrop``, ``ResizeScale``, ``FixedSizeCrop``, ``RandomFlip``;
``transform.py``: ``ResizeTransform``; ``projects/PointRend/point_rend/color_augmentation.py``:
``ColorAugSSDTransform``), not imported: detectron2 is no dependency. Every size here is (height, width),
detectron2's order. Each random augmentation takes its draws as arguments, so a test can feed it the draws
our transform made, or numpy's stream in detectron2's order.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def resize(img: np.ndarray, hw: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """``ResizeTransform.apply_image``: uint8 through PIL (bilinear, or nearest for labels), any other dtype
    through ``torch.nn.functional.interpolate`` ('nearest' rounds the source index down)."""
    h, w = hw
    if img.dtype == np.uint8:
        return np.asarray(Image.fromarray(img).resize((w, h), Image.NEAREST if nearest else Image.BILINEAR))
    t = torch.from_numpy(np.ascontiguousarray(img)).float()[None, None]
    mode = dict(mode='nearest') if nearest else dict(mode='bilinear', align_corners=False)
    return F.interpolate(t, (h, w), **mode)[0, 0].numpy().astype(img.dtype)


def pil_nearest(labels: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """PIL's nearest resize of an int32 label map (PIL mode 'I'): what detectron2 does to the official
    panoptic labels (a uint8 RGB PNG), for any label value."""
    h, w = hw
    return np.asarray(Image.fromarray(labels.astype(np.int32), mode='I').resize((w, h), Image.NEAREST))


def shortest_edge_hw(h: int, w: int, size: int, max_size: int) -> tuple[int, int]:
    """``ResizeShortestEdge.get_output_shape``."""
    scale = size / min(h, w)
    new_h, new_w = (size, scale * w) if h < w else (scale * h, size)
    if max(new_h, new_w) > max_size:
        scale = max_size / max(new_h, new_w)
        new_h, new_w = new_h * scale, new_w * scale
    return int(new_h + 0.5), int(new_w + 0.5)


def random_crop_offset(hw: tuple[int, int], crop_hw: tuple[int, int]) -> tuple[int, int]:
    """``RandomCrop('absolute', crop_hw)``: the crop is min(crop, image); each axis its own integer draw,
    height first."""
    ch, cw = min(crop_hw[0], hw[0]), min(crop_hw[1], hw[1])
    y0 = np.random.randint(hw[0] - ch + 1)
    x0 = np.random.randint(hw[1] - cw + 1)
    return y0, x0


def resize_scale_hw(hw: tuple[int, int], scale: float, target_hw: tuple[int, int]) -> tuple[int, int]:
    """``ResizeScale._get_resize``: fit into ``scale x target`` keeping the ratio, sizes rounded."""
    factor = min(target_hw[0] * scale / hw[0], target_hw[1] * scale / hw[1])
    out = np.round(np.multiply(hw, factor)).astype(int)
    return int(out[0]), int(out[1])


def fixed_size_crop(arr: np.ndarray, crop_hw: tuple[int, int], u: float, pad_value) -> np.ndarray:
    """``FixedSizeCrop``: offset = round(u x free margin) on both axes with the same ``u``; then padding at
    the bottom / right up to ``crop_hw`` with ``pad_value``."""
    h, w = arr.shape[:2]
    y0, x0 = np.round(np.multiply(np.maximum(np.subtract((h, w), crop_hw), 0), u)).astype(int)
    crop = arr[y0:y0 + crop_hw[0], x0:x0 + crop_hw[1]]
    out = np.full(tuple(crop_hw) + arr.shape[2:], pad_value, arr.dtype)
    out[:crop.shape[0], :crop.shape[1]] = crop
    return out


class ColorAugSSD:
    """``ColorAugSSDTransform`` (BGR input) with its draws taken from ``draws`` in detectron2's order:
    brightness coin [, delta], order coin, then per step its coin [, value]."""

    def __init__(self, draws, brightness_delta=32, contrast=(0.5, 1.5), saturation=(0.5, 1.5), hue_delta=18):
        self.draws = iter(draws)
        self.brightness_delta, self.contrast, self.saturation = brightness_delta, contrast, saturation
        self.hue_delta = hue_delta

    def _next(self):
        return next(self.draws)

    @staticmethod
    def _convert(img, alpha=1.0, beta=0.0):
        return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if self._next():
            img = self._convert(img, beta=self._next())
        steps = ((self._contrast, self._saturation, self._hue) if self._next()
                 else (self._saturation, self._hue, self._contrast))
        for step in steps:
            img = step(img)
        return img

    def _contrast(self, img):
        return self._convert(img, alpha=self._next()) if self._next() else img

    def _saturation(self, img):
        if not self._next():
            return img
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 1] = self._convert(hsv[:, :, 1], alpha=self._next())
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)

    def _hue(self, img):
        if not self._next():
            return img
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        shift = self._next()
        assert -self.hue_delta <= shift <= self.hue_delta  # detectron2: random.randint, both ends included
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + shift) % 180
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)

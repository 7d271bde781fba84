"""The official part-aware panoptic file formats (panoptic_parts 2.0), in one place.

- **uids** (labels): one integer per pixel, ``sid`` (0-99), ``sid * 1000 + iid`` or
  ``(sid * 1000 + iid) * 100 + pid`` (:func:`split_uids`). Instance ids start at 0 (Cityscapes: ``26000`` is
  the first car of an image); a thing uid without instance id (``sid``, at most 99) is crowd.
- **label files**: single-channel int32 TIFF of uids (``.tif``).
- **prediction files**: 3-channel 8-bit PNG ``[eval sid or 255, instance id, eval pid or 255]``.
- **images.json**: ``{"images": [{"id": ..., "file_name": ...}, ...]}``, the list of images to evaluate.

Datasets, the evaluator, the metric, the checker, the visualisation and the generators read and write
these files only through this module; writers are atomic (a killed writer leaves no file that looks
complete).
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
from PIL import Image

from tapps_mm.fileio import atomic_path, write_json_atomic

MAX_UID = 99_999_99  # largest uid of the encoding: sid 99, iid 999, pid 99


def split_uids(uids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sid, iid, pid) of official uids; iid = 0 when absent, pid = 0 when absent."""
    uids = np.asarray(uids).astype(np.int64)
    sid = np.where(uids <= 99, uids, np.where(uids <= 99_999, uids // 1000, uids // 100_000))
    iid = np.where(uids <= 99, 0, np.where(uids <= 99_999, uids % 1000, (uids // 100) % 1000))
    pid = np.where(uids <= 99_999, 0, uids % 100)
    return sid, iid, pid


def invalid_uids(uids: np.ndarray) -> np.ndarray:
    """The distinct values of ``uids`` that are outside the encoding."""
    distinct = np.unique(uids)
    return distinct[(distinct < 0) | (distinct > MAX_UID) | ((distinct >= 100) & (distinct <= 999))]


def check_uids(uids: np.ndarray, spec, name: str) -> None:
    """Raise a ValueError naming ``name`` for uids outside the encoding or sids outside ``spec``'s dataset."""
    if uids.ndim != 2 or not np.issubdtype(uids.dtype, np.integer):
        raise ValueError(f'{name}: expected a single-channel integer uid map, got {uids.dtype} {uids.shape}')
    bad = invalid_uids(uids)
    if bad.size:
        raise ValueError(f'{name}: uids outside the panoptic-parts encoding: {bad[:10].tolist()}')
    sids = split_uids(np.unique(uids))[0]
    num = spec.num_dataset_classes
    if (sids >= num).any():
        raise ValueError(f'{name}: sids {sorted(set(sids[sids >= num].tolist()))} are not in the dataset spec '
                         f'{spec.dataset_spec.dataset_name!r} ({num} classes, ids 0-{num - 1})')


def read_label(path: str) -> np.ndarray:
    """int32 H x W uid map of a label ``.tif``."""
    with Image.open(path) as im:
        arr = np.array(im)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f'{path}: expected a single-channel integer uid TIFF, got {arr.dtype} {arr.shape}')
    return arr.astype(np.int32, copy=False)


def write_label(path: str, uids: np.ndarray) -> None:
    """A label ``.tif`` (mode 'I': int32, like the official releases)."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(uids).astype(np.int32)).save(tmp, format='TIFF')


def read_prediction(path: str) -> np.ndarray:
    """uint8 H x W x 3 prediction of a ``.png``."""
    with Image.open(path) as im:
        # Pillow reads a 16-bit RGB PNG as 8-bit 'RGB' (keeping the high bytes): check the file's bit depth
        depth = _png_bit_depth(path) if im.format == 'PNG' else 8
        if im.mode != 'RGB' or depth != 8:
            raise ValueError(f'{path}: expected an 8-bit 3-channel PNG [class, instance, part], got mode {im.mode}'
                             f', {depth} bits per channel')
        return np.array(im)


def _png_bit_depth(path: str) -> int:
    """Bits per channel of a PNG, from its IHDR chunk (byte 24 of the file)."""
    with open(path, 'rb') as f:
        header = f.read(25)
    return header[24] if len(header) == 25 and header[12:16] == b'IHDR' else 8


def write_prediction(path: str, pred: np.ndarray) -> None:
    """A prediction ``.png`` from :func:`prediction_array`'s layout."""
    with atomic_path(path) as tmp:
        Image.fromarray(prediction_array(pred)).save(tmp, format='PNG')


def prediction_array(pred) -> np.ndarray:
    """The uint8 H x W x 3 prediction from a data sample's ``pred_pps``: a PixelData, its dict form
    (``data``: 3 x H x W), a tensor or an array (3 x H x W or H x W x 3)."""
    if isinstance(pred, dict):
        pred = pred['data']
    elif hasattr(pred, 'data') and not isinstance(pred, np.ndarray):
        pred = pred.data
    if hasattr(pred, 'detach'):
        pred = pred.detach().cpu().numpy()
    arr = np.asarray(pred)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    return np.ascontiguousarray(arr.astype(np.uint8) if arr.dtype != np.uint8 else arr)


def read_image_ids(images_json: str) -> list[str]:
    """The image ids of an ``images.json``; an id listed twice is an error (it would be scored twice)."""
    try:
        with open(images_json) as f:
            images = json.load(f)['images']
        ids = [str(im['id']) for im in images]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f'{images_json}: not an official images.json ({{"images": [{{"id": ...}}]}}): {e}') from e
    repeated = sorted(i for i, count in Counter(ids).items() if count > 1)
    if repeated:
        raise ValueError(f'{images_json}: image ids listed more than once (each would be scored again): '
                         f'{repeated[:10]}')
    return ids


def write_images_json(path: str, images: list[dict]) -> None:
    """An ``images.json`` of ``images`` (each with at least ``id`` and ``file_name``)."""
    write_json_atomic({'images': images}, path)

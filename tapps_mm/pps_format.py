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

Files come from elsewhere, so two things are checked before anything is written or decoded:

- **image ids** name files (``<id>.png`` of a prediction): :func:`check_image_id` refuses an id that is not a
  plain file name (a separator, ``..``, an absolute path), naming the id and the file that holds it;
- **image sizes**: :func:`open_image` reads the header and refuses an image of more than
  :func:`max_image_pixels` pixels before it is decoded (a 269 KB PNG can declare 16000 x 16000 pixels);
  raise the limit with the environment variable ``TAPPS_MM_MAX_IMAGE_PIXELS``.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
from collections import Counter

import numpy as np
from PIL import Image

from tapps_mm.fileio import atomic_path, write_json_atomic

MAX_UID = 99_999_99  # largest uid of the encoding: sid 99, iid 999, pid 99
#: the default largest image (pixels) read without ``TAPPS_MM_MAX_IMAGE_PIXELS``: 8192 x 8192, 32x a Cityscapes
#: image (a 32-bit label map of it decodes to 256 MiB)
DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192
_NOT_IN_A_NAME = re.compile(r'[/\\\x00]')


class UnreadableImageError(ValueError):
    """An image file that cannot be read (not an image, truncated, or over the size limit); names the file."""


def check_image_id(image_id, source: str) -> str:
    """``image_id`` as a string if it can name a file inside a folder (``<id>.png``); else a ValueError naming
    the id and ``source`` (the file or sample that holds it). Why: ids come from files made elsewhere and
    become output paths; ``../x`` or ``/abs/x`` would write outside the output folder."""
    text = str(image_id) if isinstance(image_id, (str, int)) and not isinstance(image_id, bool) else None
    if text is None or text in ('', '.', '..') or _NOT_IN_A_NAME.search(text) or text != text.strip() \
            or os.path.isabs(text):
        raise ValueError(f'{source}: image id {image_id!r} cannot name a file (it must be a plain file name: no '
                         'path separator, no "..", not absolute, not empty)')
    return text


def image_file(folder: str, image_id: str, ext: str, source: str) -> str:
    """``<folder>/<image_id><ext>`` for a checked id (:func:`check_image_id`)."""
    return os.path.join(folder, check_image_id(image_id, source) + ext)


def max_image_pixels() -> int:
    """The largest image :func:`open_image` decodes: ``TAPPS_MM_MAX_IMAGE_PIXELS`` or the default."""
    value = os.environ.get('TAPPS_MM_MAX_IMAGE_PIXELS', '')
    if not value:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(f'TAPPS_MM_MAX_IMAGE_PIXELS={value!r}: expected a positive number of pixels')
    return int(value)


@contextlib.contextmanager
def open_image(path: str):
    """``PIL.Image.open`` of a file from elsewhere: its size is checked from the header before anything is
    decoded, and every read error names the file. Pillow's own bomb check (a warning, then an error at twice
    its ``Image.MAX_IMAGE_PIXELS``) is off inside the block, so that one limit, ours, applies."""
    limit = max_image_pixels()
    pil_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        try:
            im = Image.open(path)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise UnreadableImageError(f'{path}: not a readable image ({type(e).__name__}: {e})') from None
        with im:
            width, height = im.size
            if width * height > limit:
                raise UnreadableImageError(
                    f'{path}: {width} x {height} pixels is more than the limit of {limit} (decoding it would take '
                    f'{width * height * 4 / 2 ** 30:.1f} GiB); if the file is right, raise the limit with the '
                    'environment variable TAPPS_MM_MAX_IMAGE_PIXELS')
            yield im
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit


def _decode(im: Image.Image, path: str) -> np.ndarray:
    try:
        return np.array(im)
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt data after a valid header
        raise UnreadableImageError(f'{path}: cannot decode the image ({type(e).__name__}: {e})') from None


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
    with open_image(path) as im:
        arr = _decode(im, path)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f'{path}: expected a single-channel integer uid TIFF, got {arr.dtype} {arr.shape}')
    return arr.astype(np.int32, copy=False)


def write_label(path: str, uids: np.ndarray) -> None:
    """A label ``.tif`` (mode 'I': int32, like the official releases)."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(uids).astype(np.int32)).save(tmp, format='TIFF')


def read_prediction(path: str) -> np.ndarray:
    """uint8 H x W x 3 prediction of a ``.png``."""
    with open_image(path) as im:
        # Pillow reads a 16-bit RGB PNG as 8-bit 'RGB' (keeping the high bytes): check the file's bit depth
        depth = _png_bit_depth(path) if im.format == 'PNG' else 8
        if im.mode != 'RGB' or depth != 8:
            raise ValueError(f'{path}: expected an 8-bit 3-channel PNG [class, instance, part], got mode {im.mode}'
                             f', {depth} bits per channel')
        return _decode(im, path)


def _png_bit_depth(path: str) -> int:
    """Bits per channel of a PNG, from its IHDR chunk (byte 24 of the file)."""
    with open(path, 'rb') as f:
        header = f.read(25)
    return header[24] if len(header) == 25 and header[12:16] == b'IHDR' else 8


def write_prediction(path: str, pred: np.ndarray) -> str:
    """A prediction ``.png`` from :func:`prediction_array`'s layout; returns the SHA-256 of the bytes written
    (a folder's manifest lists them: :mod:`tapps_mm.evaluation.prediction_folder`)."""
    buffer = io.BytesIO()
    Image.fromarray(prediction_array(pred)).save(buffer, format='PNG')
    data = buffer.getvalue()
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


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
        ids = [check_image_id(im['id'], images_json) for im in images]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, RecursionError) as e:
        raise ValueError(f'{images_json}: not an official images.json ({{"images": [{{"id": ...}}]}}): {e}') from e
    if not ids:
        raise ValueError(f'{images_json}: lists no image (an evaluation of nothing would report zeros)')
    repeated = sorted(i for i, count in Counter(ids).items() if count > 1)
    if repeated:
        raise ValueError(f'{images_json}: image ids listed more than once (each would be scored again): '
                         f'{repeated[:10]}')
    return ids


def write_images_json(path: str, images: list[dict]) -> None:
    """An ``images.json`` of ``images`` (each with at least ``id`` and ``file_name``)."""
    write_json_atomic({'images': images}, path)

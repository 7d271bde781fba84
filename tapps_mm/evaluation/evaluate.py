"""File-level PartPQ evaluation with the official inputs: GT uid .tif files, 3-channel prediction PNGs
and an images.json, paired like ``panoptic_parts.evaluation.eval_PartPQ``."""
from __future__ import annotations

import glob
import json
import multiprocessing
import os
import os.path as osp
from typing import Iterable

import numpy as np
from PIL import Image

from tapps_mm.evaluation.partpq import PartPQEvaluator, PPSStats
from tapps_mm.specs import PPSSpec, load_spec


def _files_in(directory: str) -> list[str]:
    """The official search: files directly in ``directory`` and one level below."""
    if not osp.isdir(directory):
        raise FileNotFoundError(f'No such directory: {directory}')
    return sorted(glob.glob(osp.join(directory, '*')) + glob.glob(osp.join(directory, '*', '*')))


def _find(image_id: str, filenames: list[str], ext: str, what: str, directory: str) -> str:
    """The official match (image id is a substring of the path, path ends with ``ext``), but an
    ambiguous match is an error instead of an arbitrary pick."""
    found = [f for f in filenames if image_id in f and f.endswith(ext)]
    if not found:
        raise FileNotFoundError(f'No {what} file (*{ext}) for image id {image_id!r} in {directory}')
    if len(found) > 1:
        raise ValueError(f'Image id {image_id!r} matches several {what} files in {directory}: {found[:4]}. '
                         'Image ids must not be substrings of each other (use fixed-width ids).')
    return found[0]


def read_image_ids(images_json: str) -> list[str]:
    try:
        with open(images_json) as f:
            images = json.load(f)['images']
        return [str(im['id']) for im in images]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f'{images_json}: not an official images.json ({{"images": [{{"id": ...}}]}}): {e}') from e


def pair_files(gt_dir: str, pred_dir: str, images_json: str) -> list[tuple[str, str, str]]:
    """(image id, GT .tif, prediction .png) for every image of ``images_json``."""
    gt_files, pred_files = _files_in(gt_dir), _files_in(pred_dir)
    return [(i, _find(i, gt_files, '.tif', 'ground-truth', gt_dir),
             _find(i, pred_files, '.png', 'prediction', pred_dir))
            for i in read_image_ids(images_json)]


def read_gt(path: str) -> np.ndarray:
    with Image.open(path) as im:
        arr = np.array(im)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f'{path}: expected a single-channel integer uid TIFF, got {arr.dtype} {arr.shape}')
    return arr.astype(np.int32, copy=False)


def read_pred(path: str) -> np.ndarray:
    with Image.open(path) as im:
        if im.mode != 'RGB':
            raise ValueError(f'{path}: expected an 8-bit 3-channel PNG [class, instance, part], got mode {im.mode}')
        return np.array(im)


_WORKER: PartPQEvaluator | None = None


def _init_worker(spec_path: str, undefined_pids: str) -> None:
    global _WORKER
    _WORKER = PartPQEvaluator(load_spec(spec_path), undefined_pids)


def _stats_of_pair(pair: tuple[str, str, str]) -> PPSStats:
    _, gt_path, pred_path = pair
    return _WORKER.image_stats(read_gt(gt_path), read_pred(pred_path), gt_path, pred_path)


def _progress(items: Iterable, total: int, show: bool):
    if not show:
        yield from items
        return
    from mmengine.utils import ProgressBar
    bar = ProgressBar(total)
    for item in items:
        bar.update()
        yield item
    print()


def evaluate_pps(gt_dir: str, pred_dir: str, images_json: str, spec: str | PPSSpec = 'cityscapes',
                 nproc: int = 1, progress: bool = True, undefined_pids: str = 'unlabelled') -> dict:
    """PartPQ (+ PQ, mIoU) of a folder of PPS predictions; the official evaluator's numbers.

    Args:
        gt_dir: folder of GT uid .tif files (searched one level deep, like the official code).
        pred_dir: folder of 3-channel prediction PNGs [eval sid or 255, instance id, pid or 255].
        images_json: official images.json listing the image ids to evaluate.
        spec: spec name ('cityscapes', 'cityscapes-grouped', 'pascal', 'pascal-107') or eval-spec YAML.
        nproc: worker processes.
        undefined_pids: 'unlabelled' (default; GT pids the dataset spec does not define, like
            Cityscapes-PP's pid 5, are 'no part label', as in training) or 'official' (the official tool).
    """
    spec = spec if isinstance(spec, PPSSpec) else load_spec(spec)
    pairs = pair_files(gt_dir, pred_dir, images_json)
    evaluator = PartPQEvaluator(spec, undefined_pids)
    total = PPSStats.zeros(spec.num_classes, spec.num_parts)
    if nproc <= 1 or len(pairs) <= 1:
        global _WORKER
        _WORKER = evaluator
        stats = map(_stats_of_pair, pairs)
        for st in _progress(stats, len(pairs), progress):
            total += st
    else:
        ctx = multiprocessing.get_context('fork' if os.name == 'posix' else 'spawn')
        with ctx.Pool(nproc, initializer=_init_worker, initargs=(spec.path, undefined_pids)) as pool:
            chunk = max(1, min(16, len(pairs) // (4 * nproc)))
            for st in _progress(pool.imap(_stats_of_pair, pairs, chunksize=chunk), len(pairs), progress):
                total += st
    return evaluator.summarize(total)

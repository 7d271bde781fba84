"""File-level PartPQ evaluation with the official inputs: GT uid .tif files, 3-channel prediction PNGs
and an images.json, paired like ``panoptic_parts.evaluation.eval_PartPQ``."""
from __future__ import annotations

import bisect
import glob
import itertools
import os
import os.path as osp

from tapps_mm.evaluation.partpq import PartPQEvaluator, PPSStats
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.evaluation.prediction_folder import find_manifest, verify
from tapps_mm.parallel import parallel_map
from tapps_mm.pps_format import read_image_ids, read_label, read_prediction
from tapps_mm.specs import PPSSpec, load_spec


def _files_in(directory: str) -> list[str]:
    """The official search: files directly in ``directory`` and one level below."""
    if not osp.isdir(directory):
        raise FileNotFoundError(f'No such directory: {directory}')
    return sorted(glob.glob(osp.join(directory, '*')) + glob.glob(osp.join(directory, '*', '*')))


class _FilesByExtension:
    """The official match of an image id to a file (the id is a substring of the path, the path ends with the
    extension), at C speed: the paths are joined into one string and searched with ``str.find``. A loop over
    every file for every id took seconds for Pascal-PP's 5105 images, in the parent, before any worker."""

    def __init__(self, filenames: list[str], ext: str, what: str, directory: str):
        self.names = [f for f in filenames if f.endswith(ext)]
        self.blob = '\0'.join(self.names)  # no path holds a NUL
        self.starts = list(itertools.accumulate((len(n) + 1 for n in self.names[:-1]), initial=0))
        self.ext, self.what, self.directory = ext, what, directory

    def matches(self, image_id: str) -> list[str]:
        found, pos = [], self.blob.find(image_id)
        while pos >= 0 and self.names:
            k = bisect.bisect_right(self.starts, pos) - 1
            if image_id in self.names[k]:  # not across the separator of two paths
                found.append(self.names[k])
            if k + 1 == len(self.names):
                break
            pos = self.blob.find(image_id, self.starts[k + 1])
        return found

    def find(self, image_id: str) -> str:
        """The one file of ``image_id``; an ambiguous match is an error instead of the official arbitrary pick."""
        found = self.matches(image_id)
        if not found:
            raise FileNotFoundError(f'No {self.what} file (*{self.ext}) for image id {image_id!r} in {self.directory}')
        if len(found) > 1:
            raise ValueError(f'Image id {image_id!r} matches several {self.what} files in {self.directory}: '
                             f'{found[:4]}. Image ids must not be substrings of each other (use fixed-width ids).')
        return found[0]


def pair_files(gt_dir: str, pred_dir: str, images_json: str) -> list[tuple[str, str, str]]:
    """(image id, GT .tif, prediction .png) for every image of ``images_json``. A folder written by
    ``tools/test.py --out`` is first checked against its manifest (one finished run, nothing mixed in)."""
    manifest = find_manifest(pred_dir)
    if manifest:
        verify(osp.dirname(manifest), manifest)
    gts = _FilesByExtension(_files_in(gt_dir), '.tif', 'ground-truth', gt_dir)
    preds = _FilesByExtension(_files_in(pred_dir), '.png', 'prediction', pred_dir)
    return [(i, gts.find(i), preds.find(i)) for i in read_image_ids(images_json)]


def check_output_file(path: str, what: str) -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, or a folder that cannot be
    made for it."""
    if osp.isdir(path):
        raise IsADirectoryError(f'{what} {path}: is a folder; give a file name')
    parent = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise OSError(f'{what} {path}: cannot make its folder ({e})') from None
    if not os.access(parent, os.W_OK):
        raise PermissionError(f'{what} {path}: its folder {parent} is not writable')


_WORKER: PartPQEvaluator | None = None


def _init_worker(spec_path: str, undefined_pids: str) -> None:
    """A spawned worker builds its evaluator; a forked one already holds the parent's (``evaluate_pps`` sets it
    before starting the pool), with the spec loaded, and builds nothing."""
    global _WORKER
    if _WORKER is None:
        _WORKER = PartPQEvaluator(load_spec(spec_path), undefined_pids)


def _stats_of_pair(pair: tuple[str, str, str]) -> PPSStats:
    _, gt_path, pred_path = pair
    return _WORKER.image_stats(read_label(gt_path), read_prediction(pred_path), gt_path, pred_path)


def evaluate_pps(gt_dir: str, pred_dir: str, images_json: str, spec: str | PPSSpec = 'cityscapes',
                 nproc: int = 1, progress: bool = True, undefined_pids: str = 'unlabelled',
                 per_image_file: str | None = None) -> dict:
    """PartPQ (+ PQ, mIoU) of a folder of PPS predictions; the official evaluator's numbers.

    Args:
        gt_dir: folder of GT uid .tif files (searched one level deep, like the official code).
        pred_dir: folder of 3-channel prediction PNGs [eval sid or 255, instance id, pid or 255].
        images_json: official images.json listing the image ids to evaluate.
        spec: spec name ('cityscapes', 'cityscapes-grouped', 'pascal', 'pascal-107') or eval-spec YAML.
        nproc: worker processes.
        undefined_pids: 'unlabelled' (default; GT pids the dataset spec does not define, like
            Cityscapes-PP's pid 5, are 'no part label', as in training) or 'official' (the official tool).
        per_image_file: also keep the per-image statistics there (``tapps_mm.evaluation.per_image``; the
            numbers returned are their sums, as in ``PartPQMetric``).
    """
    spec = spec if isinstance(spec, PPSSpec) else load_spec(spec)
    if per_image_file:
        check_output_file(per_image_file, '--per-image-out')  # before the work, not after it
    pairs = pair_files(gt_dir, pred_dir, images_json)
    global _WORKER
    _WORKER = evaluator = PartPQEvaluator(spec, undefined_pids)  # before the pool: forked workers inherit it
    stats = list(parallel_map(_stats_of_pair, pairs, nproc, progress, _init_worker, (spec.path, undefined_pids)))
    zeros = [0] * len(stats)  # prediction files carry no part-conflict flags
    per_image = PerImageStats.from_images([i for i, _, _ in pairs], stats, zeros, zeros, spec.name)
    if per_image_file:
        per_image.save(per_image_file)
    return evaluator.summarize(per_image.total())

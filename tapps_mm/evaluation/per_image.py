"""Per-image PartPQ statistics, kept: one compact ``.npz`` per evaluation, keyed by image id.

Why: PartPQ, PQ and mIoU are ratios of sums over the val images, so the val set itself is a source of
noise. Keeping each image's additive statistics (:class:`~tapps_mm.evaluation.partpq.PPSStats`) lets the
results pipeline resample images and recompute every metric exactly (``benchmarks.uncertainty``), instead
of averaging per-image scores. Summing the file's rows reproduces the evaluation's reported numbers
bit for bit, because :class:`PartPQMetric` sums these same rows, in this order, to report them.

The file is plain arrays (``np.load`` with ``allow_pickle=False`` reads it; nothing in it runs):
``image_id`` (str, sorted), one ``(images, ...)`` array per ``PPSStats`` field (the second axis is the class
in label order, ``spec.classes``: things first; the part arrays are by flat part id, 0 = no part),
``num_objects`` / ``num_conflicts`` (predicted objects of parts classes, and those whose parts conflicted),
``spec`` and ``version``. Files written since size bands exist also hold ``band_tp`` / ``band_fp`` /
``band_fn`` / ``band_iou`` (``(images, classes, 3)``: small, medium, large; see
:mod:`tapps_mm.evaluation.partpq`); older files without them still load, with
:attr:`PerImageStats.has_bands` False (same file version: readers that do not know the bands ignore them).
"""
from __future__ import annotations

import os
import os.path as osp
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from tapps_mm.evaluation.partpq import BAND_FIELDS, SIZE_BANDS, PPSStats
from tapps_mm.fileio import atomic_path

#: the additive arrays every file has (every PPSStats field but the image count and the optional size bands,
#: :data:`~tapps_mm.evaluation.partpq.BAND_FIELDS`, which files written before them lack)
STAT_FIELDS = tuple(f.name for f in fields(PPSStats) if f.name != 'num_images' and f.name not in BAND_FIELDS)
OBJECT_FIELDS = ('num_objects', 'num_conflicts')
FILE_VERSION = 1
TEST_FILE = 'per_image_stats.npz'  # a test's, in <work_dir>/<timestamp>/


def val_file(work_dir: str, iteration: int) -> str:
    """Where a training run keeps the per-image statistics of its evaluation at ``iteration``."""
    return osp.join(work_dir, 'per_image_stats', f'iter_{iteration}.npz')


@dataclass
class PerImageStats:
    """The statistics of N images: ``arrays[field]`` has the image as its first axis."""

    image_ids: np.ndarray  # (N,) str, sorted
    arrays: dict[str, np.ndarray]
    spec: str = ''

    def __len__(self) -> int:
        return len(self.image_ids)

    @classmethod
    def from_images(cls, image_ids: Sequence[str], stats: Sequence[PPSStats], num_objects: Sequence[int],
                    num_conflicts: Sequence[int], spec: str = '') -> 'PerImageStats':
        """Stack per-image results, sorted by image id (so any order of arrival, e.g. from several ranks,
        gives the same arrays); a repeated image id is an error (it would count twice)."""
        order = np.argsort(np.asarray(image_ids, dtype=str), kind='stable')
        ids = np.asarray(image_ids, dtype=str)[order]
        repeated = ids[1:][ids[1:] == ids[:-1]]
        if repeated.size:
            raise ValueError(f'per-image statistics: image id(s) {sorted(set(repeated.tolist()))[:5]} evaluated '
                             'more than once')
        arrays = {name: np.stack([getattr(stats[i], name) for i in order]) for name in STAT_FIELDS} if len(ids) else {}
        if len(ids) and all(s.has_bands for s in stats):
            arrays.update({name: np.stack([getattr(stats[i], name) for i in order]) for name in BAND_FIELDS})
        arrays['num_objects'] = np.asarray(num_objects, np.int64)[order]
        arrays['num_conflicts'] = np.asarray(num_conflicts, np.int64)[order]
        return cls(ids, arrays, spec)

    @property
    def has_bands(self) -> bool:
        """Whether the file holds the size-band arrays (files written before they existed do not)."""
        return all(name in self.arrays for name in BAND_FIELDS)

    def total(self, index: np.ndarray | None = None) -> PPSStats:
        """The summed statistics of all images, or of the images ``index`` selects (repeats counted); the
        band arrays are None where the file predates them."""
        pick = (lambda a: a) if index is None else (lambda a: a[index])
        names = STAT_FIELDS + (BAND_FIELDS if self.has_bands else ())
        values = {name: pick(self.arrays[name]).sum(axis=0) for name in names}
        return PPSStats(**values, num_images=len(self) if index is None else len(index))

    def require_bands(self, where: str = 'these per-image statistics') -> None:
        """Raise ValueError, saying so, where the statistics predate size bands: a size-band result from
        them would be a made-up number."""
        if not self.has_bands:
            raise ValueError(f'{where}: no size-band arrays ({", ".join(BAND_FIELDS)}); the file predates them '
                             '(re-evaluate the checkpoint to get objects by size)')

    def objects(self, index: np.ndarray | None = None) -> tuple[int, int]:
        """(predicted objects of parts classes, of which with part conflicts) over the images."""
        pick = (lambda a: a) if index is None else (lambda a: a[index])
        return int(pick(self.arrays['num_objects']).sum()), int(pick(self.arrays['num_conflicts']).sum())

    def save(self, path: str) -> None:
        """Write atomically (a killed evaluation never leaves a partial file that looks complete)."""
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        # through an open file: numpy would add '.npz' to a name without it (and the rename would then fail)
        with atomic_path(path) as tmp, open(tmp, 'wb') as f:
            np.savez_compressed(f, image_id=self.image_ids, spec=np.asarray(self.spec),
                                version=np.asarray(FILE_VERSION), **self.arrays)

    @classmethod
    def load(cls, path: str) -> 'PerImageStats':
        """Read a file of :meth:`save`; anything else raises ValueError naming the file."""
        try:
            with np.load(path, allow_pickle=False) as data:
                content = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f'{path}: not a readable per-image statistics file ({type(e).__name__}: {e})') from e
        missing = [k for k in ('image_id', 'version', *STAT_FIELDS, *OBJECT_FIELDS) if k not in content]
        if missing:
            raise ValueError(f'{path}: per-image statistics file without {missing}')
        version = content['version']
        if version.shape != () or version.dtype.kind not in 'iu' or int(version) != FILE_VERSION:
            raise ValueError(f'{path}: per-image statistics version {version.tolist()!r} ({version.dtype}, shape '
                             f'{version.shape}); expected the integer {FILE_VERSION}')
        ids = content['image_id']
        if ids.ndim != 1 or ids.dtype.kind != 'U':
            raise ValueError(f'{path}: image_id must be a 1-d array of strings, not {ids.dtype} {ids.shape}')
        n = len(ids)
        bands = [k for k in BAND_FIELDS if k in content]
        if bands and len(bands) != len(BAND_FIELDS):
            raise ValueError(f'{path}: size-band arrays {bands} without {sorted(set(BAND_FIELDS) - set(bands))}')
        names = (*STAT_FIELDS, *OBJECT_FIELDS, *bands)
        bad = [k for k in names if content[k].ndim < 1 or len(content[k]) != n]
        if bad:
            raise ValueError(f'{path}: arrays {bad} do not have one row per image ({n} images)')
        shape = (n, *content['tp'].shape[1:2], len(SIZE_BANDS))
        bad = [k for k in bands if content[k].shape != shape]
        if bad:
            raise ValueError(f'{path}: size-band arrays {bad} are not (images, classes, {len(SIZE_BANDS)}) = {shape}')
        not_numbers = [k for k in names if content[k].dtype.kind not in 'iuf'
                       or (content[k].dtype.kind == 'f' and not np.isfinite(content[k]).all())
                       or (content[k] < 0).any()]
        if not_numbers:
            raise ValueError(f'{path}: arrays {not_numbers} are not finite non-negative numbers (statistics are '
                             'counts and sums of IoUs)')
        arrays = {k: content[k] for k in names}
        spec = content.get('spec', np.asarray(''))
        return cls(ids.astype(str), arrays, str(spec) if spec.shape == () else '')

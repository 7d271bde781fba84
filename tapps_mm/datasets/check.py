"""Check a PPS data root before a long training job: what is missing or malformed, per file.

Why: a missing label, a label of the wrong size or an unknown uid otherwise surfaces hours into a
run (or as silently wrong targets). The checks use the same listing (the dataset classes'
``list_pairs``), the same reader (:func:`tapps_mm.pps_format.read_label`) and the same uid
validation (:func:`tapps_mm.pps_format.check_uids`) as training and evaluation, and the
official ``decode_uids`` for part ids, so a clean report means the data loads.

Errors: missing folders / files, unreadable files, labels that are not single-channel integer maps,
image / label size mismatch, uids outside the encoding, sids outside the dataset spec, part ids the
official tools reject (Pascal-PP: pids missing from its countable-part table).

Warnings: unlisted or oddly named files, images in several splits, labels that are not int32, labels
without any evaluated pixel, and pids the dataset spec does not define (Cityscapes-PP's person / rider
pid 5 in 9 munster val files, a known artefact of the release: treated as 'no part label' in training
and evaluation).
"""
from __future__ import annotations

import functools
import glob
import os.path as osp
from dataclasses import dataclass, field

import numpy as np

from tapps_mm.datasets.pps_dataset import (
    CityscapesPPSDataset,
    PascalPP107Dataset,
    PascalPPSDataset,
    PPSDataset,
    SyntheticPPSDataset,
)
from tapps_mm.parallel import parallel_map
from tapps_mm.pps_format import UnreadableImageError, check_image_id, check_uids, open_image, read_label
from tapps_mm.specs import load_spec

#: check_dataset name -> dataset class (each declares its ``layout``)
CHECKABLE_DATASETS: dict[str, type[PPSDataset]] = {
    cls.layout.name: cls for cls in (CityscapesPPSDataset, PascalPPSDataset, PascalPP107Dataset, SyntheticPPSDataset)}

UNDEFINED_PID_NOTE = "they are treated as 'no part label' in training and evaluation"
CITYSCAPES_PID5_NOTE = 'a known artefact of the Cityscapes-PP release (person / rider pid 5 in 9 munster val images)'


@dataclass
class Issue:
    """One finding. ``kind`` is machine-readable, ``message`` names the file."""

    kind: str
    message: str
    path: str | None = None
    split: str | None = None

    def __str__(self) -> str:
        return f'[{self.split}] {self.message}' if self.split else self.message


@dataclass
class DatasetReport:
    """Result of :func:`check_dataset`: ``ok`` iff there are no errors."""

    dataset: str
    root: str
    spec: str | None
    splits: tuple[str, ...]
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    counts: dict[str, dict] = field(default_factory=dict)   # split -> counts
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self, max_items: int = 20) -> str:
        lines = [f'{self.dataset} at {self.root} (spec: {self.spec})']
        expected = CHECKABLE_DATASETS[self.dataset].layout.official_counts
        for split, c in self.counts.items():
            official = f' (official release: {expected[split]})' if split in expected else ''
            lines.append(f'  {split}: {c.get("images", 0)} images with labels{official}, '
                         f'{c.get("checked", 0)} checked')
            for name, u in c.get('undefined_pid', {}).items():
                lines.append(f'    undefined pids, {name}: {u["files"]} files, {u["pixels"]} pixels')
        lines += [f'  note: {n}' for n in self.notes]
        for title, items in (('WARNING', self.warnings), ('ERROR', self.errors)):
            lines += [f'{title}: {i}' for i in items[:max_items]]
            if len(items) > max_items:
                lines.append(f'{title}: ... and {len(items) - max_items} more')
        lines.append(f'{len(self.errors)} errors, {len(self.warnings)} warnings: '
                     + ('OK' if self.ok else 'NOT OK'))
        return '\n'.join(lines)


@dataclass
class PairResult:
    """What :func:`check_pair` found for one (image, label) pair (picklable, for worker processes)."""

    split: str
    image_id: str
    label_path: str
    issues: list[tuple[str, str, str, str]] = field(default_factory=list)  # (level, kind, message, path)
    undefined_pid_pixels: dict[int, int] = field(default_factory=dict)   # dataset sid -> pixels


@functools.lru_cache(maxsize=None)
def _evaluated_sids(spec_path: str) -> np.ndarray:
    """Per dataset sid, whether the spec maps it to an evaluated class (otherwise it is void)."""
    spec = load_spec(spec_path)
    evaluated = np.zeros(spec.num_dataset_classes, bool)
    for dsid, esid in spec.dataset_sid2eval_sid.items():
        if esid in spec.sid2label and 0 <= dsid < len(evaluated):
            evaluated[dsid] = True
    return evaluated


def _image_size(path: str) -> tuple[int, int]:
    with open_image(path) as im:
        im.load()  # decode fully: a truncated file fails here, not in a data loader worker
        return im.size[1], im.size[0]


def check_pair(task: tuple[str, str, str, str, str]) -> PairResult:
    """Check one ``(split, image id, image path, label path, spec path)``; both files may be missing."""
    split, image_id, img_path, label_path, spec_path = task
    res = PairResult(split, image_id, label_path)

    def add(level: str, kind: str, message: str, path: str) -> None:
        res.issues.append((level, kind, message, path))

    img_size = None
    if osp.isfile(img_path):
        try:
            img_size = _image_size(img_path)
        except Exception as e:  # any decoder error means unreadable
            add('error', 'unreadable_image', f'{img_path}: unreadable image ({type(e).__name__}: {e})', img_path)
    if not osp.isfile(label_path):
        return res
    try:
        with open_image(label_path) as im:
            mode = im.mode
        uids = read_label(label_path)
    except UnreadableImageError as e:
        add('error', 'unreadable_label', str(e), label_path)
        return res
    except ValueError as e:
        add('error', 'label_format', str(e), label_path)
        return res
    except Exception as e:  # PIL / OS errors: not a readable image file
        add('error', 'unreadable_label', f'{label_path}: unreadable label ({type(e).__name__}: {e})', label_path)
        return res
    if mode != 'I':
        add('warning', 'label_dtype', f'{label_path}: label mode {mode!r}; official labels are int32 TIFFs '
            "(mode 'I'), smaller types cannot hold part-level uids", label_path)
    if img_size is not None and img_size != uids.shape:
        add('error', 'size_mismatch', f'{label_path}: label size {uids.shape} differs from image {img_path} '
            f'size {img_size}', label_path)
    distinct, counts = np.unique(uids, return_counts=True)
    try:
        check_uids(distinct[None], load_spec(spec_path), label_path)  # the set of values is what it checks
    except ValueError as e:
        add('error', 'unknown_sid' if 'not in the dataset spec' in str(e) else 'bad_uid', str(e), label_path)
        return res
    try:
        sids, pids = _official_sids_pids(distinct, spec_path)
    except AssertionError:
        rejected = [int(u) for u in distinct[distinct >= 100_000] if not _official_accepts(int(u), spec_path)]
        add('error', 'rejected_pid', f'{label_path}: uids {rejected[:10]} have part ids that the dataset spec does '
            'not define; the official panoptic_parts tools reject this file', label_path)
        return res
    if not _evaluated_sids(spec_path)[sids].any():
        add('warning', 'all_void', f'{label_path}: no pixel of an evaluated class (an empty sample)', label_path)
    undefined = pids > load_spec(spec_path).num_dataset_pids[sids]
    if undefined.any():
        per_sid = np.bincount(sids[undefined], weights=counts[undefined])
        res.undefined_pid_pixels = {int(s): int(n) for s, n in enumerate(per_sid) if n}
    return res


def _official_sids_pids(distinct: np.ndarray, spec_path: str) -> tuple[np.ndarray, np.ndarray]:
    """(sid, pid) of distinct uids as the official ``decode_uids`` gives them: countable part instances of
    Pascal-PP (e.g. car wheel file pids 20-29) are grouped; an AssertionError for pids it does not know."""
    from tapps_mm.compat import import_panoptic_parts
    import_panoptic_parts()
    from panoptic_parts.utils.format import decode_uids
    sids, _, pids = decode_uids(distinct.astype(np.int32), experimental_noinfo_id=0,
                                experimental_dataset_spec=load_spec(spec_path).dataset_spec)
    return np.asarray(sids, np.int64), np.asarray(pids, np.int64)


def _official_accepts(uid: int, spec_path: str) -> bool:
    try:
        _official_sids_pids(np.array([uid], np.int32), spec_path)
    except AssertionError:
        return False
    return True


def _nested_hint(root: str, name: str) -> str:
    """Point at ``name`` when it sits one or two levels deeper (a common extraction mistake)."""
    found = sorted(glob.glob(osp.join(root, '*', name)) + glob.glob(osp.join(root, '*', '*', name)))
    return f'; found {found[0]}: pass {osp.dirname(found[0])} as the root' if found else ''


class _Checker:
    """Collects issues of one root; see :func:`check_dataset`."""

    def __init__(self, root: str, dataset: str, splits: tuple[str, ...], spec: str | None, max_listed: int):
        if dataset not in CHECKABLE_DATASETS:
            raise ValueError(f'Unknown dataset {dataset!r}: expected one of {sorted(CHECKABLE_DATASETS)}')
        self.cls = CHECKABLE_DATASETS[dataset]
        self.layout, default_splits = self.cls.layout.description, self.cls.layout.splits
        self.dataset, self.root, self.spec_arg, self.max_listed = dataset, root, spec, max_listed
        self.report = DatasetReport(dataset, root, spec, tuple(splits or default_splits))

    def error(self, kind: str, message: str, path: str | None = None, split: str | None = None) -> None:
        self.report.errors.append(Issue(kind, message, path, split))

    def warning(self, kind: str, message: str, path: str | None = None, split: str | None = None) -> None:
        self.report.warnings.append(Issue(kind, message, path, split))

    # ------------------------------------------------------------------------------------ layout
    def check_layout(self, split: str) -> bool:
        missing = [p for p in self.cls.layout.required_paths(self.root, split) if not osp.exists(p)]
        for path in missing:
            top = osp.relpath(path, self.root).split(osp.sep)[0]
            self.error('missing_folder', f'{path} does not exist; expected layout under the root: '
                       f'{self.layout.format(split=split)}{_nested_hint(self.root, top)}', path, split)
        return not missing

    # ------------------------------------------------------------------------------------ listing
    def list_split(self, split: str) -> tuple[str | None, list[tuple[str, str, str]]]:
        """(spec path, pairs) from the dataset class itself, or (None, []) after reporting why not."""
        try:
            ds = self.cls(data_root=self.root, split=split, spec=self.spec_arg, check_files=False, lazy_init=True)
            pairs = ds.list_pairs()
        except Exception as e:  # report any reason the dataset cannot list, and go on
            self.error('listing', f'{self.cls.__name__} cannot list split {split!r}: {type(e).__name__}: {e}',
                       self.root, split)
            return None, []
        if not pairs:
            self.error('empty_split', f'no labelled images in split {split!r}; expected layout: '
                       f'{self.layout.format(split=split)}', self.root, split)
        return ds.spec.path, pairs

    def check_listing(self, split: str, pairs: list[tuple[str, str, str]]) -> None:
        """Files the listing cannot see: images without labels, unlisted files, odd names."""
        listed_images = {osp.normpath(p[1]) for p in pairs}
        listed_labels = {osp.normpath(p[2]) for p in pairs}
        for image_id, img_path, label_path in pairs:
            if not osp.isfile(img_path):
                self.error('missing_image', f'{label_path}: no image (expected {img_path})', img_path, split)
            if not osp.isfile(label_path):
                self.error('missing_label', f'{img_path}: no label (expected {label_path})', label_path, split)
        if self.dataset == 'cityscapes':
            for img in sorted(glob.glob(osp.join(self.root, 'leftImg8bit', split, '*', '*_leftImg8bit.png'))):
                if osp.normpath(img) not in listed_images:
                    image_id = osp.basename(img)[:-len('_leftImg8bit.png')]
                    label = osp.join(self.root, 'gtFinePanopticParts', split, osp.basename(osp.dirname(img)),
                                     image_id + CityscapesPPSDataset.label_suffix)
                    self.error('missing_label', f'{img}: no label (expected {label})', label, split)
            for image_id, _, label_path in pairs:
                city = osp.basename(osp.dirname(label_path))
                if not image_id.startswith(city + '_'):
                    self.warning('unexpected_name', f'{label_path}: image id {image_id!r} is not in its city '
                                 f'folder {city!r}', label_path, split)
        elif self.dataset == 'synthetic':
            for folder, ext, listed in (('images', '.png', listed_images), ('labels', '.tif', listed_labels)):
                for path in sorted(glob.glob(osp.join(self.root, folder, split, '*' + ext))):
                    if osp.normpath(path) not in listed:
                        self.warning('unlisted_file', f'{path} is not listed in images_{split}.json (not used)',
                                     path, split)
        for image_id, _, label_path in pairs:
            try:
                check_image_id(image_id, label_path)
            except ValueError as e:
                self.error('bad_id', str(e), label_path, split)
            if not self.cls.layout.matches_id(image_id):
                self.warning('unexpected_name', f'{label_path}: {image_id!r} does not look like an official '
                                 f'{self.dataset} image id; it will be loaded as a sample', label_path, split)

    # ------------------------------------------------------------------------------------ results
    def add_pair_result(self, res: PairResult, spec_path: str) -> None:
        for level, kind, message, path in res.issues:
            (self.error if level == 'error' else self.warning)(kind, message, path, res.split)
        counts = self.report.counts[res.split]
        counts['checked'] += 1
        if res.undefined_pid_pixels:
            names = load_spec(spec_path).dataset_spec.l
            if len(counts['undefined_pid_files']) < self.max_listed:
                counts['undefined_pid_files'].append(res.label_path)
            for sid, n in res.undefined_pid_pixels.items():
                u = counts['undefined_pid'].setdefault(names[sid], {'sid': sid, 'files': 0, 'pixels': 0,
                                                                    'first_files': []})
                u['files'] += 1
                u['pixels'] += n
                if len(u['first_files']) < self.max_listed:
                    u['first_files'].append(res.label_path)

    def finish(self) -> None:
        note = f'; {CITYSCAPES_PID5_NOTE}' if self.dataset == 'cityscapes' else ''
        for split, c in self.report.counts.items():
            for name, u in c['undefined_pid'].items():
                shown = ', '.join(osp.basename(f) for f in u['first_files'])
                more = f' and {u["files"] - len(u["first_files"])} more' if u['files'] > len(u['first_files']) else ''
                self.warning('undefined_pid', f'{u["files"]} files / {u["pixels"]} pixels of class {name!r} '
                             f'(dataset sid {u["sid"]}) have part ids that the dataset spec does not define: '
                             f'{UNDEFINED_PID_NOTE}{note}. Files: {shown}{more}', u['first_files'][0], split)
        seen: dict[str, str] = {}
        for split, c in self.report.counts.items():
            for image_id in c.pop('_ids'):
                if image_id in seen and seen[image_id] != split:
                    self.warning('split_overlap', f'image {image_id!r} is in splits {seen[image_id]!r} and '
                                 f'{split!r}', None, split)
                seen.setdefault(image_id, split)
        if self.dataset.startswith('pascal') and osp.isdir(osp.join(self.root, 'JPEGImages')):
            labelled = len(seen)
            total = len(glob.glob(osp.join(self.root, 'JPEGImages', '*.jpg')))
            self.report.notes.append(f'{total - labelled} of {total} JPEGImages have no label in the checked '
                                     'splits (normal: VOC2010 has more images than Pascal-PP labels)')


def check_dataset(root: str, dataset: str, splits: list[str] | tuple[str, ...] | None = None,
                  spec: str | None = None, nproc: int = 1, progress: bool = False,
                  max_listed: int = 10) -> DatasetReport:
    """Check every (image, label) pair of ``dataset`` ('cityscapes', 'pascal', 'pascal-107', 'synthetic')
    under ``root``.

    Args:
        splits: split names of the layout (default: train / val, or training / validation for Pascal).
        spec: spec name or eval-spec YAML (default: the dataset class's, ``evalspec.yaml`` for synthetic).
        nproc: worker processes for the per-file checks.
        progress: show a progress bar (mmengine).
        max_listed: files listed per undefined-pid warning.
    """
    checker = _Checker(root, dataset, tuple(splits or ()), spec, max_listed)
    report = checker.report
    if not osp.isdir(root):
        checker.error('missing_folder', f'data root {root} does not exist; expected layout: '
                      f'{checker.layout.format(split="<split>")}', root)
        return report
    tasks, spec_paths = [], {}
    for split in report.splits:
        report.counts[split] = {'images': 0, 'checked': 0, 'undefined_pid': {}, 'undefined_pid_files': [],
                                '_ids': []}
        if not checker.check_layout(split):
            continue
        spec_path, pairs = checker.list_split(split)
        if spec_path is None:
            continue
        if not spec_paths:
            report.spec = spec_path  # the resolved YAML
        spec_paths[split] = spec_path
        checker.check_listing(split, pairs)
        report.counts[split]['images'] = sum(osp.isfile(i) and osp.isfile(lbl) for _, i, lbl in pairs)
        report.counts[split]['_ids'] = [p[0] for p in pairs]
        tasks += [(split, image_id, img, lbl, spec_path) for image_id, img, lbl in pairs]
    for res in parallel_map(check_pair, tasks, nproc, progress, chunksize=4):
        checker.add_pair_result(res, spec_paths[res.split])
    checker.finish()
    return report


__all__ = ['CHECKABLE_DATASETS', 'DatasetReport', 'Issue', 'PairResult', 'check_dataset', 'check_pair']

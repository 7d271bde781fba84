"""Part-aware panoptic datasets read straight from the official downloads.

Every dataset lists (image, official uid label) pairs; the class metadata comes from its spec
(:func:`tapps_mm.specs.load_spec`), never from hand-written lists. Layouts (relative to ``data_root``):

- ``SyntheticPPSDataset``: ``images/{split}/<id>.png``, ``labels/{split}/<id>.tif``,
  ``images_{split}.json``, ``evalspec.yaml`` (written by ``make_synthetic_pp.py``).
- ``CityscapesPPSDataset``: ``leftImg8bit/{split}/<city>/<id>_leftImg8bit.png`` and
  ``gtFinePanopticParts/{split}/<city>/<id>_gtFinePanopticParts.tif``.
- ``PascalPPSDataset`` / ``PascalPP107Dataset``: ``JPEGImages/<id>.jpg`` (VOC2010) and
  ``labels/{training,validation}/<id>.tif`` (Pascal-PP v2.0).
"""
from __future__ import annotations

import glob
import os.path as osp
import re
from dataclasses import dataclass, field, replace

from mmengine.dataset import BaseDataset

from tapps_mm.pps_format import check_image_id, open_image, read_image_ids
from tapps_mm.registry import DATASETS
from tapps_mm.specs import PPSSpec, load_spec


def pps_metainfo(spec: PPSSpec) -> dict:
    """mmdet-style metainfo (classes in label order, things first) plus the part definitions."""
    names = tuple(spec.class_names[s] for s in spec.classes)
    return dict(
        classes=names,
        thing_classes=names[:spec.num_things],
        stuff_classes=names[spec.num_things:],
        part_classes=tuple(spec.part_names[i] for i in range(1, spec.num_parts + 1)),
        eval_sids=spec.classes,
        num_things=spec.num_things,
        palette=_palette(spec),
    )


def _palette(spec: PPSSpec) -> list[tuple[int, int, int]]:
    dspec = spec.dataset_spec
    return [tuple(int(c) for c in dspec.sid2scene_color.get(s, (128, 128, 128))) for s in spec.classes]


@dataclass(frozen=True)
class DatasetLayout:
    """Where a dataset's files are, as its class lists them (``check_dataset`` reads the same)."""
    name: str  # the --dataset name of check_dataset
    splits: tuple[str, ...]  # default splits
    description: str  # the expected layout, for error messages ({split}: the split)
    required: tuple[str, ...]  # paths below the root that must exist ({split}: the split)
    id_pattern: str | None = None  # official image ids (a regular expression)
    official_counts: dict[str, int] = field(default_factory=dict)  # images per split in the release

    def required_paths(self, root: str, split: str) -> list[str]:
        return [osp.join(root, p.format(split=split)) for p in self.required]

    def matches_id(self, image_id: str) -> bool:
        return self.id_pattern is None or re.match(self.id_pattern, image_id) is not None


def image_size(path: str) -> tuple[int, int]:
    """(width, height) of an image file, from its header only. Why: mmdet's ``AspectRatioBatchSampler`` (the
    paper configs' batch sampler, as detectron2's aspect-ratio grouping) reads them from each sample's info."""
    with open_image(path) as image:
        return image.size


class PPSDataset(BaseDataset):
    """Base class: subclasses declare their ``layout`` and implement :meth:`list_pairs`; this class adds
    spec metadata and checks.

    Args:
        data_root: dataset root folder.
        split: split name of the layout (e.g. 'train' / 'val', 'training' / 'validation').
        spec: spec name or eval-spec YAML (relative paths resolve from ``data_root`` first); the metainfo
            names it (``spec``) for the metric and the visualiser.
        check_files: fail at construction when a listed image or label file is missing.
    """

    default_spec: str = 'cityscapes'
    layout: DatasetLayout
    #: what to do when ``data_root`` does not exist (``{root}`` is filled in)
    missing_root_hint: str = 'see the layouts in docs/datasets.md'

    def __init__(self, data_root: str = '', split: str = 'train', spec: str | None = None,
                 check_files: bool = True, **kwargs) -> None:
        if data_root and not osp.isdir(data_root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root {data_root!r} does not exist '
                                    f'(dataset config key data_root); {self.missing_root_hint.format(root=data_root)}')
        self.split = split
        spec = spec or self.default_spec
        candidate = osp.join(data_root, spec)
        spec = candidate if spec.endswith('.yaml') and osp.isfile(candidate) else spec
        self.spec = load_spec(spec)
        self.check_files = check_files
        metainfo = {**pps_metainfo(self.spec), **(kwargs.pop('metainfo', None) or {})}
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)
        # the spec as loaded (name or YAML), so that the metric and the visualiser, which mmengine's loops hand
        # this metainfo as their ``dataset_meta``, load the same one: the dataset config is its one home. Set
        # after BaseDataset, which would read a string of the metainfo that names a file as that file's lines.
        self._metainfo['spec'] = spec

    def list_pairs(self) -> list[tuple[str, str, str]]:
        """(image id, image path, label path) of the split."""
        raise NotImplementedError

    def load_data_list(self) -> list[dict]:
        pairs = self.list_pairs()
        if not pairs:
            raise FileNotFoundError(f'{type(self).__name__}: no samples for split {self.split!r} under '
                                    f'{self.data_root!r}; expected layout: see docs/datasets.md')
        data_list = []
        for image_id, img_path, label_path in pairs:
            image_id = check_image_id(image_id, f'{type(self).__name__}: {label_path}')
            if self.check_files:
                for path in (img_path, label_path):
                    if not osp.isfile(path):
                        raise FileNotFoundError(f'{type(self).__name__}: missing file {path} (image id {image_id})')
            info = dict(img_id=image_id, pps_image_id=image_id, img_path=img_path, pps_label_path=label_path,
                        pps_spec=self.spec.path, pps_num_things=self.spec.num_things, seg_fields=[])
            if osp.isfile(img_path):
                info['width'], info['height'] = image_size(img_path)
            data_list.append(info)
        return data_list


@DATASETS.register_module()
class SyntheticPPSDataset(PPSDataset):
    """The synthetic dataset of ``tools/dataset_converters/make_synthetic_pp.py``.

    Args:
        generator: the generator options the dataset was made with (``synthetic_pp.generator_args``), so that a
            missing dataset names the command that makes it, options included (the toy benchmark's data).
    """

    default_spec = 'evalspec.yaml'
    layout = DatasetLayout('synthetic', ('train', 'val'),
                           'images/{split}/<id>.png, labels/{split}/<id>.tif, images_{split}.json and evalspec.yaml '
                           '(tools/dataset_converters/make_synthetic_pp.py)',
                           ('images/{split}', 'labels/{split}', 'images_{split}.json'))

    def __init__(self, *args, generator: dict | None = None, **kwargs) -> None:
        self.generator = dict(generator or {})
        super().__init__(*args, **kwargs)

    @property
    def missing_root_hint(self) -> str:
        from tapps_mm.datasets.synthetic_pp import make_command
        return 'create it with: python ' + ' '.join(make_command('{root}', **self.generator))

    def list_pairs(self):
        ann = osp.join(self.data_root, f'images_{self.split}.json')
        if not osp.isfile(ann):
            raise FileNotFoundError(f'SyntheticPPSDataset: {ann} not found; '
                                    + self.missing_root_hint.format(root=self.data_root))
        ids = read_image_ids(ann)
        return [(i, osp.join(self.data_root, 'images', self.split, f'{i}.png'),
                 osp.join(self.data_root, 'labels', self.split, f'{i}.tif')) for i in ids]


@DATASETS.register_module()
class CityscapesPPSDataset(PPSDataset):
    """Cityscapes-PP: leftImg8bit + gtFinePanopticParts, listed from the label folder."""

    default_spec = 'cityscapes'
    layout = DatasetLayout('cityscapes', ('train', 'val'),
                           'leftImg8bit/{split}/<city>/<id>_leftImg8bit.png and '
                           'gtFinePanopticParts/{split}/<city>/<id>_gtFinePanopticParts.tif',
                           ('leftImg8bit/{split}', 'gtFinePanopticParts/{split}'), r'^[a-z]+_\d{6}_\d{6}$',
                           {'train': 2975, 'val': 500})
    missing_root_hint = ('link the official Cityscapes-PP download there (leftImg8bit/, gtFinePanopticParts/; '
                         'docs/datasets.md) and check it with: python tools/dataset_converters/check_dataset.py {root} '
                         '--dataset cityscapes')
    label_suffix = '_gtFinePanopticParts.tif'

    def list_pairs(self):
        labels = sorted(glob.glob(osp.join(self.data_root, 'gtFinePanopticParts', self.split, '*',
                                           '*' + self.label_suffix)))
        pairs = []
        for label in labels:
            city = osp.basename(osp.dirname(label))
            image_id = osp.basename(label)[:-len(self.label_suffix)]
            pairs.append((image_id, osp.join(self.data_root, 'leftImg8bit', self.split, city,
                                             f'{image_id}_leftImg8bit.png'), label))
        return pairs


@DATASETS.register_module()
class PascalPPSDataset(PPSDataset):
    """Pascal-PP (57 part classes): VOC2010 JPEGImages + Pascal-PP labels, listed from the labels."""

    default_spec = 'pascal'
    layout = DatasetLayout('pascal', ('training', 'validation'),
                           'JPEGImages/<id>.jpg (VOC2010) and labels/{split}/<id>.tif (Pascal-PP)',
                           ('JPEGImages', 'labels/{split}'), r'^\d{4}_\d{6}$',
                           {'training': 4998, 'validation': 5105})
    missing_root_hint = ('link VOC2010 JPEGImages/ and the Pascal-PP labels/ there (docs/datasets.md) and check it '
                         'with: python tools/dataset_converters/check_dataset.py {root} --dataset pascal')

    def __init__(self, data_root: str = '', split: str = 'training', **kwargs) -> None:
        super().__init__(data_root=data_root, split=split, **kwargs)

    def list_pairs(self):
        labels = sorted(glob.glob(osp.join(self.data_root, 'labels', self.split, '*.tif')))
        return [(osp.basename(p)[:-4], osp.join(self.data_root, 'JPEGImages', osp.basename(p)[:-4] + '.jpg'), p)
                for p in labels]


@DATASETS.register_module()
class PascalPP107Dataset(PascalPPSDataset):
    """Pascal-PP-107: the same files, scored with the 107-part spec (Table 6)."""

    default_spec = 'pascal-107'
    layout = replace(PascalPPSDataset.layout, name='pascal-107')

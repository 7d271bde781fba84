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
import json
import os.path as osp

from mmengine.dataset import BaseDataset

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
    dspec = spec.official._dspec
    return [tuple(int(c) for c in dspec.sid2scene_color.get(s, (128, 128, 128))) for s in spec.classes]


class PPSDataset(BaseDataset):
    """Base class: subclasses implement :meth:`list_pairs`; this class adds spec metadata and checks.

    Args:
        data_root: dataset root folder.
        split: split name of the layout (e.g. 'train' / 'val', 'training' / 'validation').
        spec: spec name or eval-spec YAML (relative paths resolve from ``data_root`` first).
        check_files: fail at construction when a listed image or label file is missing.
    """

    default_spec: str = 'cityscapes'
    #: what to do when ``data_root`` does not exist (``{root}`` is filled in)
    missing_root_hint: str = 'see the layouts in the README ("Datasets")'

    def __init__(self, data_root: str = '', split: str = 'train', spec: str | None = None,
                 check_files: bool = True, **kwargs) -> None:
        if data_root and not osp.isdir(data_root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root {data_root!r} does not exist '
                                    f'(dataset config key data_root); {self.missing_root_hint.format(root=data_root)}')
        self.split = split
        spec = spec or self.default_spec
        candidate = osp.join(data_root, spec)
        self.spec = load_spec(candidate if spec.endswith('.yaml') and osp.isfile(candidate) else spec)
        self.check_files = check_files
        metainfo = {**pps_metainfo(self.spec), **(kwargs.pop('metainfo', None) or {})}
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    def list_pairs(self) -> list[tuple[str, str, str]]:
        """(image id, image path, label path) of the split."""
        raise NotImplementedError

    def load_data_list(self) -> list[dict]:
        pairs = self.list_pairs()
        if not pairs:
            raise FileNotFoundError(f'{type(self).__name__}: no samples for split {self.split!r} under '
                                    f'{self.data_root!r}; expected layout: see {type(self).__name__} docs / README')
        data_list = []
        for image_id, img_path, label_path in pairs:
            if self.check_files:
                for path in (img_path, label_path):
                    if not osp.isfile(path):
                        raise FileNotFoundError(f'{type(self).__name__}: missing file {path} (image id {image_id})')
            data_list.append(dict(img_id=image_id, pps_image_id=image_id, img_path=img_path,
                                  pps_label_path=label_path, pps_spec=self.spec.path,
                                  pps_num_things=self.spec.num_things, seg_fields=[]))
        return data_list


@DATASETS.register_module()
class SyntheticPPSDataset(PPSDataset):
    """The synthetic dataset of ``tools/dataset_converters/make_synthetic_pp.py``."""

    default_spec = 'evalspec.yaml'
    missing_root_hint = 'create it with: python tools/dataset_converters/make_synthetic_pp.py --out {root}'

    def list_pairs(self):
        ann = osp.join(self.data_root, f'images_{self.split}.json')
        if not osp.isfile(ann):
            raise FileNotFoundError(f'SyntheticPPSDataset: {ann} not found; create the dataset with '
                                    f'tools/dataset_converters/make_synthetic_pp.py --out {self.data_root}')
        try:
            with open(ann) as f:
                images = json.load(f)['images']
            ids = [str(im['id']) for im in images]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f'{ann}: not an official images.json: {e}') from e
        return [(i, osp.join(self.data_root, 'images', self.split, f'{i}.png'),
                 osp.join(self.data_root, 'labels', self.split, f'{i}.tif')) for i in ids]


@DATASETS.register_module()
class CityscapesPPSDataset(PPSDataset):
    """Cityscapes-PP: leftImg8bit + gtFinePanopticParts, listed from the label folder."""

    default_spec = 'cityscapes'
    missing_root_hint = ('link the official Cityscapes-PP download there (leftImg8bit/, gtFinePanopticParts/; README '
                         '"Datasets") and check it with: python tools/dataset_converters/check_dataset.py {root} '
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
    missing_root_hint = ('link VOC2010 JPEGImages/ and the Pascal-PP labels/ there (README "Datasets") and check it '
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

"""Tiny copies of Cityscapes-PP and Pascal-PP in the real official formats and folder layouts.

Why: the real datasets cannot be downloaded in CI, yet the dataset classes, the configs and
``check_dataset.py`` must be exercised on exactly the files they will meet. The content is random but
valid for the real dataset specs (their sids and pids): stuff regions, void (unlabelled and
non-evaluated classes), touching thing instances with parts and pixels without a part label, a thing
class without parts, a crowd region (thing uid without instance id) and, for Cityscapes-PP, the
release's undefined person pid 5 in a munster val file.

Encoding details copied from the releases, not simplified:
- Cityscapes-PP keeps the original Cityscapes instance numbering, which starts at 0 (the first car of
  an image is ``26000``; ``26`` is a car group, i.e. crowd).
- Pascal-PP numbers instances from 1 and stores countable parts with per-instance file pids (car wheel
  instances use pids 20-29, windows 40-59, ...; ``DatasetSpec._sid_pid_file2sid_pid`` groups them).

Everything is deterministic for a seed and takes milliseconds; files are written atomically.
"""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tapps_mm.fileio import atomic_path
from tapps_mm.pps_format import write_label
from tapps_mm.specs import load_spec

#: Name of the Cityscapes-PP val file that carries the undefined pid 5 (like the 9 munster files).
PID5_IMAGE_ID = 'munster_000033_000019'
PID5_PIXELS = 12  # a 3 x 4 block on the torso of a person instance with iid 1

_CITIES = {'train': ('aachen', 'bochum', 'bremen', 'cologne'), 'val': ('frankfurt', 'lindau', 'munster')}

# Relative part boxes (y0, x0, y1, x1) inside an object box; pid 0 = object pixels without a part label.
_CS_HUMAN = [(2, (0.0, 0.3, 0.2, 0.7)), (1, (0.2, 0.2, 0.55, 0.8)), (0, (0.5, 0.2, 0.58, 0.8)),
             (3, (0.2, 0.0, 0.55, 0.2)), (3, (0.2, 0.8, 0.55, 1.0)),
             (4, (0.58, 0.15, 1.0, 0.45)), (4, (0.58, 0.55, 1.0, 0.85))]
_CS_VEHICLE = [(5, (0.35, 0.0, 0.85, 1.0)), (1, (0.05, 0.2, 0.35, 0.8)), (0, (0.0, 0.25, 0.05, 0.75)),
               (2, (0.75, 0.08, 1.0, 0.3)), (2, (0.75, 0.7, 1.0, 0.92)), (3, (0.45, 0.9, 0.6, 1.0)),
               (4, (0.6, 0.4, 0.72, 0.6))]
_PASCAL_PERSON = [('head', (0.0, 0.3, 0.2, 0.7)), ('hair', (0.0, 0.3, 0.06, 0.7)), ('leye', (0.08, 0.4, 0.11, 0.47)),
                  ('neck', (0.2, 0.4, 0.24, 0.6)), ('torso', (0.24, 0.2, 0.58, 0.8)),
                  ('luarm', (0.24, 0.0, 0.4, 0.2)), ('llarm', (0.4, 0.0, 0.55, 0.2)),
                  ('ruarm', (0.24, 0.8, 0.4, 1.0)), ('rlarm', (0.4, 0.8, 0.55, 1.0)),
                  ('luleg', (0.58, 0.15, 0.8, 0.45)), ('llleg', (0.8, 0.15, 1.0, 0.45)),
                  ('ruleg', (0.58, 0.55, 0.8, 0.85)), ('rlleg', (0.8, 0.55, 1.0, 0.85)),
                  (None, (0.55, 0.2, 0.58, 0.8))]
# car: file pids of countable parts are per-instance (door 10-19, wheel 20-29, headlight 30-39, window 40-59)
_PASCAL_CAR = [(2, (0.3, 0.0, 0.85, 1.0)), (5, (0.05, 0.2, 0.15, 0.8)), (40, (0.15, 0.2, 0.3, 0.45)),
               (41, (0.15, 0.55, 0.3, 0.8)), (10, (0.4, 0.1, 0.8, 0.35)), (11, (0.4, 0.5, 0.8, 0.75)),
               (20, (0.75, 0.05, 1.0, 0.28)), (21, (0.75, 0.72, 1.0, 0.95)), (30, (0.45, 0.9, 0.6, 1.0))]
_PASCAL_CAT = [('torso', (0.3, 0.1, 0.8, 0.85)), ('head', (0.0, 0.6, 0.35, 1.0)), ('lear', (0.0, 0.65, 0.08, 0.75)),
               ('tail', (0.35, 0.0, 0.45, 0.1)), ('lfleg', (0.8, 0.6, 1.0, 0.7)), ('lbleg', (0.8, 0.15, 1.0, 0.25))]


@dataclass
class FakeSample:
    """One written (image, label) pair."""

    image_id: str
    img_path: str
    label_path: str
    undefined_pid_pixels: dict[int, int] = field(default_factory=dict)  # dataset sid -> pixels


@dataclass
class FakeRoot:
    """What a fake writer produced: the root and the samples of each split."""

    root: str
    dataset: str
    samples: dict[str, list[FakeSample]]

    def ids(self, split: str) -> list[str]:
        return [s.image_id for s in self.samples[split]]

    def undefined_pid_pixels(self, split: str | None = None) -> dict[int, int]:
        """Total pixels per dataset sid with an undefined pid (all splits when ``split`` is None)."""
        total: dict[int, int] = {}
        for name, samples in self.samples.items():
            for s in samples if split in (None, name) else ():
                for sid, n in s.undefined_pid_pixels.items():
                    total[sid] = total.get(sid, 0) + n
        return total


class _Painter:
    """Image and uid label being painted; later paint occludes earlier paint."""

    def __init__(self, rng: np.random.Generator, h: int, w: int, colours: dict[int, tuple[int, int, int]]):
        self.rng, self.h, self.w, self.colours = rng, h, w, colours
        self.uids = np.zeros((h, w), np.int32)
        self.image = np.zeros((h, w, 3), np.float32)

    def box(self, y0: float, x0: float, y1: float, x1: float, uid: int, shade: float = 0.0) -> np.ndarray:
        ys = slice(max(0, int(round(y0))), min(self.h, int(round(y1))))
        xs = slice(max(0, int(round(x0))), min(self.w, int(round(x1))))
        self.uids[ys, xs] = uid
        sid = uid if uid < 100 else uid // 1000 if uid < 100_000 else uid // 100_000
        colour = np.asarray(self.colours.get(sid, (128, 128, 128)), np.float32) + shade
        region = self.image[ys, xs]
        region[...] = colour + self.rng.normal(0, 8, region.shape)
        return self.uids[ys, xs]

    def thing(self, sid: int, iid: int, y0: float, x0: float, bh: float, bw: float,
              parts: list[tuple[int, tuple[float, float, float, float]]]) -> None:
        """A thing instance made of part boxes (pid 0: instance pixels without a part label)."""
        base = sid * 1000 + iid
        for pid, (a, b, c, d) in parts:
            self.box(y0 + a * bh, x0 + b * bw, y0 + c * bh, x0 + d * bw, base * 100 + pid if pid else base,
                     shade=12.0 * (pid % 7) - 30.0)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        return np.clip(self.image, 0, 255).astype(np.uint8), self.uids


def _rng(seed: int, dataset: str, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, sum(map(ord, dataset)), sum(map(ord, split)), index])


def _write_pair(image: np.ndarray, uids: np.ndarray, img_path: str, label_path: str) -> None:
    for path in (img_path, label_path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    with atomic_path(img_path) as tmp:
        Image.fromarray(image).save(tmp, **({'quality': 92} if img_path.endswith('.jpg') else {}))
    write_label(label_path, uids)


def _colours(spec_name: str) -> dict[int, tuple[int, int, int]]:
    dspec = load_spec(spec_name).dataset_spec
    return {s: tuple(int(c) for c in dspec.sid2scene_color[s]) for s in range(len(dspec.l))}


def _cityscapes_sample(rng: np.random.Generator, h: int, w: int, colours, pid5: bool
                       ) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    p = _Painter(rng, h, w, colours)
    horizon = h * rng.uniform(0.3, 0.45)
    p.box(0, 0, horizon, w, 23)                                   # sky
    p.box(horizon * 0.4, 0, horizon + 4, w * rng.uniform(0.3, 0.6), 11)  # building
    p.box(horizon * 0.5, w * 0.75, horizon + 2, w, 21)            # vegetation
    p.box(horizon, 0, h, w, 7)                                    # road
    p.box(horizon, 0, h, w * rng.uniform(0.1, 0.2), 8)            # sidewalk
    p.box(h - 4, 0, h, w, 1)                                      # ego vehicle (void)
    p.box(horizon - 6, w * 0.62, horizon + 2, w * 0.7, 4)         # static (void)
    next_iid: dict[int, int] = {}

    def new_iid(sid: int) -> int:  # Cityscapes numbering: 0, 1, 2, ... per class and image
        next_iid[sid] = next_iid.get(sid, -1) + 1
        return next_iid[sid]

    s = h / 64.0
    # two touching persons (iids 0 and 1), then three objects in the remaining slots
    ph, pw = 28 * s * rng.uniform(0.9, 1.1), 11 * s
    py, px = h - 6 - ph, w * rng.uniform(0.04, 0.1)
    persons = []
    for k in range(2):
        iid = new_iid(24)
        persons.append((iid, py, px + k * pw * 0.9, ph, pw))
        p.thing(24, iid, py, px + k * pw * 0.9, ph, pw, _CS_HUMAN)
    slot_w = (w - (px + 2 * pw)) / 3
    for k in range(3):
        x0 = px + 2 * pw + k * slot_w + rng.uniform(0, 3)
        # a car, a vehicle, and a bicycle (alone or ridden): a thing class without parts in every image
        kind = ('car', rng.choice(['car', 'truck']), rng.choice(['rider', 'bicycle']))[k]
        if kind in ('car', 'truck'):
            sid, bh, bw = (26, 16, 26) if kind == 'car' else (27, 20, 28)
            bw = min(bw * s, slot_w - 1)
            p.thing(sid, new_iid(sid), h - 6 - bh * s, x0, bh * s, bw, _CS_VEHICLE)
        elif kind == 'rider':
            p.thing(33, new_iid(33), h - 6 - 12 * s, x0, 12 * s, 14 * s, [(0, (0, 0, 1, 1))])  # bicycle
            p.thing(25, new_iid(25), h - 6 - 30 * s, x0 + 2, 24 * s, 10 * s, _CS_HUMAN)
        else:
            p.thing(33, new_iid(33), h - 6 - 14 * s, x0, 14 * s, 18 * s, [(0, (0, 0, 1, 1))])
    p.box(horizon - 8 * s, w * 0.42, horizon + 2 * s, w * 0.5, 29000)   # caravan: not evaluated (void)
    p.box(horizon, w * 0.52, horizon + 7 * s, w * 0.6, 26)              # a car group: crowd
    p.box(horizon - 4, w * rng.uniform(0.8, 0.9), horizon + 3, w * 0.95, 0)  # unlabelled (void)
    undefined = {}
    if pid5:  # the release artefact: person pixels with pid 5, which the dataset spec does not define
        iid, y0, x0, bh, bw = persons[1]
        cy, cx = int(y0 + 0.35 * bh), int(x0 + bw / 2)
        block = p.box(cy, cx - 2, cy + 3, cx + 2, (24 * 1000 + iid) * 100 + 5)
        assert block.size == PID5_PIXELS
        undefined = {24: PID5_PIXELS}
    image, uids = p.finish()
    return image, uids, undefined


def write_fake_cityscapes_pp(root: str, num_train: int = 2, num_val: int = 2, size: tuple[int, int] = (64, 128),
                             seed: int = 0, undefined_pid5: bool = True) -> FakeRoot:
    """Write ``leftImg8bit/{split}/<city>/<id>_leftImg8bit.png`` and
    ``gtFinePanopticParts/{split}/<city>/<id>_gtFinePanopticParts.tif`` (int32 uids).

    With ``undefined_pid5`` the first val image is named ``munster_000033_000019`` and holds
    :data:`PID5_PIXELS` person pixels with the undefined pid 5 (nothing is written when ``num_val=0``).
    """
    h, w = size
    if h < 32 or w < 64:
        raise ValueError(f'size must be at least 32x64, got {size}')
    colours = _colours('cityscapes')
    samples: dict[str, list[FakeSample]] = {}
    for split, num in (('train', num_train), ('val', num_val)):
        samples[split] = []
        for i in range(num):
            pid5 = undefined_pid5 and split == 'val' and i == 0
            cities = _CITIES[split]
            image_id = PID5_IMAGE_ID if pid5 else f'{cities[i % len(cities)]}_{i:06d}_{19 + 7 * i:06d}'
            city = image_id.split('_')[0]
            image, uids, undefined = _cityscapes_sample(_rng(seed, 'cityscapes', split, i), h, w, colours, pid5)
            img_path = osp.join(root, 'leftImg8bit', split, city, f'{image_id}_leftImg8bit.png')
            label_path = osp.join(root, 'gtFinePanopticParts', split, city, f'{image_id}_gtFinePanopticParts.tif')
            _write_pair(image, uids, img_path, label_path)
            samples[split].append(FakeSample(image_id, img_path, label_path, undefined))
    return FakeRoot(root, 'cityscapes', samples)


def _pascal_pid(name: str | None, parts: list[str]) -> int:
    return 0 if name is None else parts.index(name)


def _pascal_sample(rng: np.random.Generator, h: int, w: int, colours, dspec) -> tuple[np.ndarray, np.ndarray]:
    p = _Painter(rng, h, w, colours)
    sid = dspec.sid_from_scene_class
    horizon = h * rng.uniform(0.3, 0.5)
    p.box(0, 0, horizon, w, sid('sky'))
    p.box(horizon * 0.3, w * rng.uniform(0.5, 0.7), horizon, w, sid('tree'))
    p.box(horizon, 0, h, w, sid(rng.choice(['grass', 'floor'])))
    p.box(0, 0, horizon, w * rng.uniform(0.1, 0.25), sid('wall'))
    s = h / 96.0
    person_parts = [(_pascal_pid(n, dspec.sid2part_classes[sid('person')]), box) for n, box in _PASCAL_PERSON]
    cat_parts = [(_pascal_pid(n, dspec.sid2part_classes[sid('cat')]), box) for n, box in _PASCAL_CAT]
    # two touching persons, a car, a chair (no parts), a cat; instance ids from 0 (instance 0 is an instance,
    # beside the person crowd below)
    ph, pw = 50 * s * rng.uniform(0.9, 1.1), 20 * s
    px = w * rng.uniform(0.03, 0.08)
    for iid in (0, 1):
        p.thing(sid('person'), iid, h - 4 - ph, px + iid * pw * 0.9, ph, pw, person_parts)
    x0 = px + 2 * pw + 2
    p.thing(sid('car'), 0, h - 4 - 24 * s, x0, 24 * s, min(40 * s, w - x0 - 22 * s), _PASCAL_CAR)
    p.thing(sid('chair'), 0, horizon - 6 * s, w * rng.uniform(0.72, 0.76), 18 * s, 12 * s, [(0, (0, 0, 1, 1))])
    p.thing(sid('cat'), 0, h - 20 * s, w - 22 * s, 18 * s, 20 * s, cat_parts)
    p.box(horizon - 10 * s, w * 0.45, horizon, w * 0.55, sid('person'))     # a group of persons: crowd
    p.box(horizon, w * 0.6, horizon + 8 * s, w * 0.7, sid('bag'))          # not evaluated (void)
    p.box(h * rng.uniform(0.05, 0.2), w * 0.8, h * 0.3, w * 0.9, 0)         # unlabelled (void)
    return p.finish()


def write_fake_pascal_pp(root: str, num_train: int = 2, num_val: int = 2, size: tuple[int, int] = (96, 128),
                         seed: int = 0) -> FakeRoot:
    """Write ``JPEGImages/<id>.jpg`` (VOC2010) and ``labels/{training,validation}/<id>.tif`` (int32 uids)."""
    h, w = size
    if h < 48 or w < 96:
        raise ValueError(f'size must be at least 48x96, got {size}')
    dspec = load_spec('pascal').dataset_spec
    colours = _colours('pascal')
    samples: dict[str, list[FakeSample]] = {}
    for split, num, first in (('training', num_train, 2), ('validation', num_val, 3)):
        samples[split] = []
        for i in range(num):
            image_id = f'2008_{first + 2 * i:06d}'
            image, uids = _pascal_sample(_rng(seed, 'pascal', split, i), h, w, colours, dspec)
            img_path = osp.join(root, 'JPEGImages', f'{image_id}.jpg')
            label_path = osp.join(root, 'labels', split, f'{image_id}.tif')
            _write_pair(image, uids, img_path, label_path)
            samples[split].append(FakeSample(image_id, img_path, label_path))
    return FakeRoot(root, 'pascal', samples)


def write_fake_synthetic_pp(root: str, num_train: int = 2, num_val: int = 2, size: tuple[int, int] = (64, 64),
                            seed: int = 0) -> FakeRoot:
    """The synthetic dataset (:func:`tapps_mm.datasets.synthetic_pp.write_synthetic_pp`), small, as a
    :class:`FakeRoot` like the other writers."""
    from tapps_mm.datasets.synthetic_pp import write_synthetic_pp
    write_synthetic_pp(root, num_train, num_val, size, seed, progress=False)
    samples = {split: [FakeSample(f'{split}_{i:06d}', osp.join(root, 'images', split, f'{split}_{i:06d}.png'),
                                  osp.join(root, 'labels', split, f'{split}_{i:06d}.tif')) for i in range(num)]
               for split, num in (('train', num_train), ('val', num_val))}
    return FakeRoot(root, 'synthetic', samples)


__all__ = ['FakeRoot', 'FakeSample', 'PID5_IMAGE_ID', 'PID5_PIXELS', 'write_fake_cityscapes_pp',
           'write_fake_pascal_pp', 'write_fake_synthetic_pp']

"""A procedurally generated part-aware panoptic dataset in the official Panoptic Parts formats.

Why: no real dataset can be downloaded in CI, and PPS needs data where part-level semantics alone
cannot separate instances. Scenes have 3 stuff classes (sky, grass, road), 2 thing classes with parts
whose parts look alike across instances (robot: head/torso/arm/leg; cart: body/window/wheel), 1 thing
class without parts (ball), touching and occluding same-class instances, crowd regions (thing pixels
without instance id), void pixels (sid 0), object pixels without a part label, texture and noise.

Layout written by :func:`write_synthetic_pp` (official formats):
``images/{split}/<id>.png``, ``labels/{split}/<id>.tif`` (int32 uids), ``images_{split}.json``,
``datasetspec.yaml`` and ``evalspec.yaml`` (its ``dataset_spec_path`` is relative to the folder).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tapps_mm.fileio import atomic_path, write_text_atomic
from tapps_mm.pps_format import split_uids, write_images_json, write_label

STUFF = ('sky', 'grass', 'road')
PARTS = {'robot': ('head', 'torso', 'arm', 'leg'), 'cart': ('body', 'window', 'wheel'), 'ball': ()}
THINGS = tuple(PARTS)
CLASSES = STUFF + THINGS                          # dataset sid = position + 1 (0 = UNLABELED / void)
SID = {name: i + 1 for i, name in enumerate(CLASSES)}
# Mean colours; every image jitters them and adds texture, so colour alone is not the answer.
COLOURS = {'sky': (120, 170, 230), 'grass': (70, 150, 60), 'road': (110, 110, 115), 'ball': (230, 200, 40),
           'void': (200, 80, 170),
           ('robot', 'head'): (210, 170, 140), ('robot', 'torso'): (60, 90, 200), ('robot', 'arm'): (200, 60, 60),
           ('robot', 'leg'): (50, 50, 60), ('robot', None): (240, 240, 240),
           ('cart', 'body'): (200, 120, 30), ('cart', 'window'): (160, 220, 240), ('cart', 'wheel'): (30, 30, 30),
           ('cart', None): (240, 240, 240)}
# ``twin_parts``: each cart part has the colour of a robot part, so a part's class can only be told from
# the object it belongs to (the part-object alignment that TAPPS' joint queries provide).
TWIN_PARTS = {('cart', 'body'): ('robot', 'torso'), ('cart', 'window'): ('robot', 'head'),
              ('cart', 'wheel'): ('robot', 'leg')}
# Colours of the dataset spec (visualisation only): a thing class with parts takes its main part's.
SCENE_COLOURS = {c: COLOURS.get(c) or COLOURS[(c, {'robot': 'torso', 'cart': 'body'}[c])] for c in CLASSES}


def dataset_spec_yaml() -> str:
    parts = '\n'.join(f'  {c}: [{", ".join(PARTS.get(c, ()))}],' for c in CLASSES)
    colours = '\n'.join(f'  {c}: [{", ".join(map(str, SCENE_COLOURS[c]))}],' for c in CLASSES)
    return f"""version: '2.0'
comments:
  - Synthetic Panoptic Parts (tapps_mm.datasets.synthetic_pp); sid = position + 1, pid = position + 1.
name: Synthetic Panoptic Parts
scene_class2part_classes: {{
{parts}
}}
scene_classes_with_instances: [{', '.join(PARTS)}]
scene_class2color: {{
{colours}
}}
"""


def eval_spec_yaml(dataset_spec_path: str = 'datasetspec.yaml') -> str:
    sids = ', '.join(f'{SID[c]}: {SID[c]}' for c in CLASSES)
    part_pairs = [(SID[c], p + 1) for c in PARTS for p in range(len(PARTS[c]))]
    sid_pids = ', '.join(f'{s}_{p:02d}: {s}_{p:02d}' for s, p in part_pairs)
    flat = ', '.join(f'{s}_{p:02d}: {i + 1}' for i, (s, p) in enumerate(part_pairs))
    flat_names = ', '.join(f'{i + 1}: {c}-{n}' for i, (c, n) in enumerate((c, n) for c in PARTS for n in PARTS[c]))
    things = [SID[c] for c in PARTS]
    with_parts = [SID[c] for c in PARTS if PARTS[c]]
    return f"""version: 2.0
comments:
  - Evaluation spec of the Synthetic Panoptic Parts dataset; dataset_spec_path is relative to this folder.
dataset_spec_path: {dataset_spec_path}
ignore_label: 255
dataset_sid2eval_sid: {{{sids}, 0: IGNORED, DEFAULT: IGNORED}}
dataset_sid_pid2eval_sid_pid: {{{sid_pids}, 0: IGNORED, DEFAULT: IGNORED}}
eval_sid_things: {things}
eval_sid_stuff: {[SID[c] for c in STUFF]}
eval_sid_parts: {with_parts}
eval_sid_no_parts: {[SID[c] for c in CLASSES if SID[c] not in with_parts]}
eval_sid_pid2eval_pid_flat: {{{flat}}}
eval_sid2scene_label: {{{', '.join(f'{SID[c]}: {c}' for c in CLASSES)}}}
eval_pid_flat2scene_part_label: {{{flat_names}}}
"""


@dataclass
class _Canvas:
    """Image and uid label being painted; later paint occludes earlier paint."""

    image: np.ndarray   # float32 H x W x 3
    uids: np.ndarray    # int32 H x W
    rng: np.random.Generator
    jitter: np.ndarray  # per-image colour jitter
    twin_parts: bool = False

    def paint(self, mask: np.ndarray, colour_key, uid: int, texture: float = 12.0) -> None:
        if self.twin_parts:
            colour_key = TWIN_PARTS.get(colour_key, colour_key)
        colour = np.asarray(COLOURS[colour_key], np.float32) + self.jitter
        noise = self.rng.normal(0.0, texture, size=(int(mask.sum()), 3)).astype(np.float32)
        self.image[mask] = colour + noise
        self.uids[mask] = uid


def _ellipse(yy, xx, cy, cx, ry, rx):
    return ((yy - cy) / max(ry, 0.5)) ** 2 + ((xx - cx) / max(rx, 0.5)) ** 2 <= 1.0


def _rect(yy, xx, y0, x0, y1, x1):
    return (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)


def _robot(yy, xx, cy, cx, s):
    """Part masks of a robot of height ~8s centred at (cy, cx); pid 0 = belt (object, no part label)."""
    return [
        (1, _ellipse(yy, xx, cy - 3.2 * s, cx, 0.9 * s, 0.8 * s)),
        (2, _rect(yy, xx, cy - 2.3 * s, cx - 1.1 * s, cy + 0.8 * s, cx + 1.1 * s)),
        (0, _rect(yy, xx, cy + 0.3 * s, cx - 1.1 * s, cy + 0.8 * s, cx + 1.1 * s)),
        (3, _rect(yy, xx, cy - 2.2 * s, cx - 1.9 * s, cy + 0.4 * s, cx - 1.1 * s)
         | _rect(yy, xx, cy - 2.2 * s, cx + 1.1 * s, cy + 0.4 * s, cx + 1.9 * s)),
        (4, _rect(yy, xx, cy + 0.8 * s, cx - 1.0 * s, cy + 3.8 * s, cx - 0.2 * s)
         | _rect(yy, xx, cy + 0.8 * s, cx + 0.2 * s, cy + 3.8 * s, cx + 1.0 * s)),
    ]


def _cart(yy, xx, cy, cx, s):
    """Part masks of a cart ~6s wide centred at (cy, cx)."""
    return [
        (1, _rect(yy, xx, cy - 0.8 * s, cx - 3.0 * s, cy + 1.0 * s, cx + 3.0 * s)),
        (2, _rect(yy, xx, cy - 2.0 * s, cx - 1.8 * s, cy - 0.8 * s, cx + 1.2 * s)),
        (3, _ellipse(yy, xx, cy + 1.2 * s, cx - 1.9 * s, 0.8 * s, 0.8 * s)
         | _ellipse(yy, xx, cy + 1.2 * s, cx + 1.9 * s, 0.8 * s, 0.8 * s)),
    ]


def _draw_object(canvas: _Canvas, yy, xx, name: str, cy: float, cx: float, s: float, iid: int | None) -> None:
    """Paint one object; ``iid=None`` paints it as crowd (uid = sid, no instance, no parts)."""
    sid = SID[name]
    if name == 'ball':
        mask = _ellipse(yy, xx, cy, cx, 1.6 * s, 1.6 * s)
        canvas.paint(mask, 'ball', sid if iid is None else sid * 1000 + iid)
        return
    shapes = _robot(yy, xx, cy, cx, s) if name == 'robot' else _cart(yy, xx, cy, cx, s)
    for pid, mask in shapes:
        if iid is None:
            uid = sid
        else:
            uid = (sid * 1000 + iid) * 100 + pid if pid else sid * 1000 + iid
        canvas.paint(mask, (name, PARTS[name][pid - 1] if pid else None), uid)


def generate_sample(rng: np.random.Generator, h: int, w: int, first_class: str | None = None,
                    object_scale: float = 1.0, twin_parts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One (uint8 H x W x 3 image, int32 H x W uid label) pair.

    ``first_class`` sets the class of the first object group (the random draws stay the same, so other
    samples do not change); ``object_scale`` multiplies the objects' size relative to the image (larger
    objects in a smaller image: cheaper training with the same part detail); ``twin_parts`` paints cart
    parts in the robot parts' colours (see ``TWIN_PARTS``)."""
    yy, xx = np.mgrid[0:h, 0:w]
    canvas = _Canvas(np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.int32), rng,
                     rng.normal(0, 18, 3).astype(np.float32), twin_parts)
    horizon = rng.uniform(0.25, 0.45) * h + 4 * np.sin(xx / w * rng.uniform(2, 8) + rng.uniform(0, 6))
    canvas.paint(yy < horizon, 'sky', SID['sky'], texture=6)
    ground = yy >= horizon
    road_edge = rng.uniform(0.2, 0.8) * w + (yy - horizon) * rng.uniform(-1.0, 1.0)
    canvas.paint(ground & (xx < road_edge), 'grass', SID['grass'], texture=20)
    canvas.paint(ground & (xx >= road_edge), 'road', SID['road'], texture=8)
    scale = min(h, w) / 32.0 * object_scale
    next_iid = {name: 0 for name in PARTS}  # instance ids from 0, as Cityscapes numbers them
    # groups of same-class objects that touch or occlude each other
    for group in range(rng.integers(2, 4)):
        name = rng.choice(list(PARTS), p=[0.45, 0.35, 0.2])
        if group == 0 and first_class is not None:
            name = first_class
        s = scale * rng.uniform(0.7, 1.3)
        cy, cx = rng.uniform(0.45, 0.8) * h, rng.uniform(0.15, 0.85) * w
        step = {'robot': 3.2, 'cart': 5.0, 'ball': 2.6}[name] * s
        for k in range(rng.integers(1, 4)):
            _draw_object(canvas, yy, xx, name, cy + rng.uniform(-1, 1) * s, cx + k * step * rng.choice([-1, 1]),
                         s, next_iid[name])
            next_iid[name] += 1
    if rng.random() < 0.4:  # a crowd: distant small objects without instance ids
        name = rng.choice(['robot', 'cart'])
        cy, cx, s = rng.uniform(0.4, 0.55) * h, rng.uniform(0.1, 0.9) * w, scale * 0.45
        for k in range(3):
            _draw_object(canvas, yy, xx, name, cy, cx + (k - 1) * 2.2 * s * (3 if name == 'robot' else 5), s, None)
    for _ in range(rng.integers(0, 3)):  # void: unlabelled clutter
        canvas.paint(_ellipse(yy, xx, rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1, 3) * scale,
                              rng.uniform(1, 3) * scale), 'void', 0, texture=30)
    image = np.clip(canvas.image + rng.normal(0, 4, canvas.image.shape), 0, 255).astype(np.uint8)
    return image, canvas.uids


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Per-sample generator: any sample can be regenerated alone, independent of the others."""
    return np.random.default_rng([seed, {'train': 0, 'val': 1}.get(split, 2), index])


def write_synthetic_pp(out: str, num_train: int = 200, num_val: int = 50, size: tuple[int, int] = (128, 128),
                       seed: int = 0, progress: bool = True, object_scale: float = 1.0,
                       twin_parts: bool = False) -> None:
    """Write the dataset; every file is written to a temporary name and renamed when complete.

    ``generator.json`` records the arguments (written last), so a tool can tell whether an existing
    folder is the dataset it asks for."""
    h, w = size
    os.makedirs(out, exist_ok=True)
    write_text_atomic(dataset_spec_yaml(), osp.join(out, 'datasetspec.yaml'))
    write_text_atomic(eval_spec_yaml(), osp.join(out, 'evalspec.yaml'))
    for split, num in (('train', num_train), ('val', num_val)):
        img_dir, lbl_dir = osp.join(out, 'images', split), osp.join(out, 'labels', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(lbl_dir, exist_ok=True)
        images = []
        bar = None
        if progress and num:
            from mmengine.utils import ProgressBar
            print(f'{split}:')
            bar = ProgressBar(num)
        present = set()
        for i in range(num):
            image_id = f'{split}_{i:06d}'  # fixed width: no id is a substring of another
            # the first images of a split start with one thing class each, so a small split (a handful of
            # val images) still holds every thing class and none drops out of the evaluation
            first = THINGS[i] if i < len(THINGS) else None
            image, uids = generate_sample(sample_rng(seed, split, i), h, w, first, object_scale, twin_parts)
            present.update(_sids(uids))
            with atomic_path(osp.join(img_dir, f'{image_id}.png')) as tmp:
                Image.fromarray(image).save(tmp)
            write_label(osp.join(lbl_dir, f'{image_id}.tif'), uids)
            images.append({'id': image_id, 'file_name': f'{image_id}.png', 'height': h, 'width': w})
            if bar:
                bar.update()
        if bar:
            print()
        write_images_json(osp.join(out, f'images_{split}.json'), images)
        absent = [c for c in CLASSES if SID[c] not in present]
        if num and absent:
            warnings.warn(f'synthetic split {split!r} ({num} images) has no pixel of {absent}: '
                          f'these classes drop out of its evaluation; use more images')
    write_text_atomic(json.dumps(generator_args(num_train, num_val, size, seed, object_scale, twin_parts)),
                      osp.join(out, 'generator.json'))


def generator_args(num_train: int = 200, num_val: int = 50, size: tuple[int, int] = (128, 128), seed: int = 0,
                   object_scale: float = 1.0, twin_parts: bool = False) -> dict:
    """What ``generator.json`` of a dataset written with these arguments holds."""
    return dict(num_train=num_train, num_val=num_val, size=list(size), seed=seed, object_scale=object_scale,
                twin_parts=twin_parts)


def make_command(out: str, **options) -> list[str]:
    """The ``tools/dataset_converters/make_synthetic_pp.py`` command that writes a dataset with these
    :func:`generator_args` options into ``out``."""
    a = generator_args(**options)
    return ['tools/dataset_converters/make_synthetic_pp.py', '--out', out, '--num-train', str(a['num_train']),
            '--num-val', str(a['num_val']), '--size', '{}x{}'.format(*a['size']), '--seed', str(a['seed']),
            '--object-scale', str(a['object_scale']), *(('--twin-parts',) if a['twin_parts'] else ())]


def _sids(uids: np.ndarray) -> set[int]:
    """Dataset sids present in a uid map (official encoding)."""
    return set(split_uids(np.unique(uids))[0].tolist())

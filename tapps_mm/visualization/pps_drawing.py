"""Drawing part-aware panoptic samples for checking data and predictions by eye.

Why a separate module: the same picture (objects panel | parts panel | legend) serves the dataset
browser, debugging hooks and prediction dumps, and it must work headless and without torch. Only
numpy and PIL are used (the text font is matplotlib's bundled DejaVu Sans when available; matplotlib
itself is never imported, so no GUI backend can be picked up).

Layout of :func:`draw_pps_sample`::

    +-----------------------------------------------+
    | title                                         |
    | objects (N)             | parts (M)           |
    | image + one colour per  | grey image + one    |
    | object, white outlines  | colour per part     |
    |                         | class, outlines     |
    | legend: objects         | legend: parts       |
    +-----------------------------------------------+

Colours follow the classes, so one picture can be read against another: an object has its class's hue,
each further object of the class a shade of that hue (detectron2's visualiser jitters the class colour per
instance; here the jitter keeps the hue and is the same on every call), and a part has its part class's
colour. Drawn beside its ground truth (:func:`draw_pps_prediction` with ``ground_truth``), a predicted
object that matches a ground-truth object by the PQ rule takes that object's colour and name; an unmatched
one gets a shade no ground-truth object of its class has.
"""
from __future__ import annotations

import colorsys
import functools
import importlib.util
import math
import os.path as osp
from collections import Counter
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import ImageFont

    from tapps_mm.specs import PPSSpec

Color = tuple[int, int, int]

#: Sasha Trubetskoy's distinct colours, saturated first (pale ones wash out when blended).
BASE_COLORS: tuple[Color, ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40), (128, 0, 0),
    (128, 128, 0), (0, 0, 128), (250, 190, 212), (220, 190, 255), (170, 255, 195), (255, 215, 180),
    (255, 250, 200), (128, 128, 128))
OUTLINE_COLOR: Color = (255, 255, 255)
IGNORE_COLOR: Color = (40, 40, 40)
HIGHLIGHT_COLOR: Color = (230, 0, 0)  # objects drawn with a thick outline (part conflicts)
BACKGROUND: Color = (255, 255, 255)
TEXT_COLOR: Color = (0, 0, 0)


def distinct_colors(n: int) -> list[Color]:
    """``n`` well separated RGB colours; the first 20 are fixed, the rest walk the hue circle."""
    colors = list(BASE_COLORS[:n])
    for i in range(len(colors), n):
        hue = (i * 0.618033988749895) % 1.0
        sat, val = (0.9, 0.95) if i % 2 else (0.6, 0.75)
        colors.append(tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, sat, val)))
    return colors


def part_color(part_index: int) -> Color:
    """Colour of flat part index ``j`` (``part_seg`` value ``j + 1``); stable across images."""
    return distinct_colors(part_index + 1)[part_index]


def shade(color: Color, k: int) -> Color:
    """Shade ``k`` of ``color`` at its hue: 0 is the colour itself, odd ``k`` darker, even ``k`` paler (towards
    white); the first shades are the farthest apart (darkest, palest, then halfway and so on), so the few
    instances of a class an image has are told apart most easily."""
    if k == 0:
        return tuple(color)
    depth = 1 - _van_der_corput((k + 1) // 2 - 1)  # 1, 1, 0.5, 0.5, 0.75, 0.75, 0.25, ...
    hue, sat, val = colorsys.rgb_to_hsv(*(c / 255 for c in color))
    if k % 2:
        val *= 1 - 0.55 * depth
    else:
        sat, val = sat * (1 - 0.65 * depth), val + (1 - val) * 0.65 * depth
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, sat, val))


def _van_der_corput(n: int) -> float:
    """The ``n``-th point of the base-2 van der Corput sequence (0, 1/2, 1/4, 3/4, 1/8, ...): each new point
    halves the largest gap left."""
    x, step = 0.0, 0.5
    while n:
        x, n, step = x + step * (n & 1), n >> 1, step / 2
    return x


def class_shades(labels: Sequence[int], first_shade: dict[int, int] | None = None) -> list[Color]:
    """One colour per object: the ``k``-th object of class ``c`` in shade ``first_shade[c] + k`` of
    ``distinct_colors(...)[c]``, the class's hue in every drawing (``first_shade`` skips the shades others
    already have)."""
    labels = [int(v) for v in np.asarray(labels).reshape(-1)]
    hues = distinct_colors(max(labels, default=-1) + 1)
    seen = Counter(first_shade or {})
    colors = []
    for label in labels:
        colors.append(shade(hues[label], seen[label]))
        seen[label] += 1
    return colors


def numbered_names(labels: Sequence[int], class_names: Sequence[str]) -> list[str]:
    """Legend names: the class name, numbered (``robot #2``) when the class occurs several times."""
    labels = [int(v) for v in np.asarray(labels).reshape(-1)]
    counts, seen, names = Counter(labels), Counter(), []
    for label in labels:
        seen[label] += 1
        names.append(f'{_class_name(label, class_names)} #{seen[label]}' if counts[label] > 1
                     else _class_name(label, class_names))
    return names


def _class_name(label: int, class_names: Sequence[str]) -> str:
    return class_names[label] if 0 <= label < len(class_names) else f'class {label}'


# ---------------------------------------------------------------------------------------------- text


@functools.lru_cache(maxsize=None)
def _font(size: int) -> 'ImageFont.ImageFont':
    from PIL import ImageFont
    spec = importlib.util.find_spec('matplotlib')
    candidates = ['DejaVuSans.ttf']
    if spec is not None and spec.origin:
        candidates.insert(0, osp.join(osp.dirname(spec.origin), 'mpl-data', 'fonts', 'ttf', 'DejaVuSans.ttf'))
    for path in candidates:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _text_width(font, text: str) -> int:
    left, _, right, _ = font.getbbox(text)
    return int(math.ceil(right - left))


# ---------------------------------------------------------------------------------------------- panels


def display_scale(height: int, width: int, min_size: int = 384, max_size: int = 1024) -> float:
    """Factor that brings the short side to at least ``min_size`` (integer, for crisp pixels) and
    keeps the long side at most ``max_size``."""
    scale = 1.0
    if min(height, width) < min_size:
        scale = float(math.ceil(min_size / min(height, width)))
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return scale


def _resize_nearest(arr: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    h, w = arr.shape[:2]
    rows = np.minimum((np.arange(out_h) + 0.5) * h / out_h, h - 1).astype(np.int64)
    cols = np.minimum((np.arange(out_w) + 0.5) * w / out_w, w - 1).astype(np.int64)
    return arr[rows[:, None], cols[None, :]]


def _resize_image(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    if out_h >= image.shape[0]:
        return _resize_nearest(image, out_h, out_w)
    from PIL import Image
    return np.asarray(Image.fromarray(image).resize((out_w, out_h), Image.BILINEAR))


def _boundaries(ids: np.ndarray, thickness: int) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another id, grown to ``thickness`` pixels."""
    edge = np.zeros(ids.shape, bool)
    edge[:-1] |= ids[:-1] != ids[1:]
    edge[1:] |= ids[:-1] != ids[1:]
    edge[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    edge[:, 1:] |= ids[:, :-1] != ids[:, 1:]
    for _ in range(thickness - 1):
        grown = edge.copy()
        grown[:-1] |= edge[1:]
        grown[1:] |= edge[:-1]
        grown[:, :-1] |= edge[:, 1:]
        grown[:, 1:] |= edge[:, :-1]
        edge = grown
    return edge


def _hatch(shape: tuple[int, int], period: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return ((yy + xx) // (period // 2)) % 2 == 0


def _blend(base: np.ndarray, color: np.ndarray, where: np.ndarray, alpha: float) -> None:
    base[where] = np.round(alpha * color + (1 - alpha) * base[where]).astype(np.uint8)


def _object_index_map(object_masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """-1 = no object, k = object k (later objects on top where masks overlap)."""
    ids = np.full(shape, -1, np.int32)
    for k, mask in enumerate(object_masks):
        ids[mask.astype(bool)] = k
    return ids


def render_pps_panels(image: np.ndarray, object_masks: np.ndarray, colors: Sequence[Color], part_seg: np.ndarray,
                      ignore_mask: np.ndarray | None = None, scale: float = 1.0, object_alpha: float = 0.6,
                      part_alpha: float = 1.0, highlight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The objects panel and the parts panel at ``scale`` (RGB uint8, same size).

    Objects panel: the image with object ``k`` blended in ``colors[k]``. Parts panel: the
    image in dimmed grey, part index ``j`` (``part_seg == j + 1``) in :func:`part_color` (opaque by
    default, so the colours can be matched exactly). Both: object outlines in white and void / crowd
    pixels (``ignore_mask``) hatched dark grey; the objects ``highlight`` flags (one bool per object, e.g.
    those whose predicted parts conflict with their class) outlined thick in ``HIGHLIGHT_COLOR``.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'image must be H x W x 3 uint8 RGB, got {image.dtype} {image.shape}')
    h, w = image.shape[:2]
    object_masks = np.asarray(object_masks).reshape(-1, h, w)
    part_seg = np.asarray(part_seg)
    if part_seg.shape != (h, w):
        raise ValueError(f'part_seg shape {part_seg.shape} differs from the image size {(h, w)}')
    out_h, out_w = max(1, int(round(h * scale))), max(1, int(round(w * scale)))

    ids = _resize_nearest(_object_index_map(object_masks, (h, w)), out_h, out_w)
    parts = _resize_nearest(part_seg, out_h, out_w).astype(np.int64)
    ignore = (_resize_nearest(np.asarray(ignore_mask).astype(bool), out_h, out_w)
              if ignore_mask is not None else np.zeros((out_h, out_w), bool))
    base = _resize_image(image, out_h, out_w)
    edge = _boundaries(ids, thickness=2 if min(out_h, out_w) >= 256 else 1) & (ids >= 0)
    hatch = _hatch((out_h, out_w)) & ignore

    objects = base.astype(np.float64)
    colors = np.asarray(colors, np.float64).reshape(-1, 3)
    inside = ids >= 0
    if inside.any():
        _blend(objects, colors[ids[inside]], inside, object_alpha)
    objects = objects.astype(np.uint8)

    grey = base.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    parts_panel = np.repeat((64 + 0.5 * grey)[..., None], 3, axis=2)
    labelled = parts > 0
    if labelled.any():
        table = np.asarray(distinct_colors(int(parts.max())), np.float64)
        _blend(parts_panel, table[parts[labelled] - 1], labelled, part_alpha)
    parts_panel = np.round(parts_panel).astype(np.uint8)

    marked = np.zeros((out_h, out_w), bool)
    if highlight is not None and np.asarray(highlight).any():
        flagged = np.flatnonzero(np.asarray(highlight, bool))
        chosen = np.where(np.isin(ids, flagged), ids, -1)
        marked = _boundaries(chosen, thickness=max(2, min(out_h, out_w) // 96)) & (chosen >= 0)
    for panel in (objects, parts_panel):
        panel[hatch] = IGNORE_COLOR
        panel[edge] = OUTLINE_COLOR
        panel[marked] = HIGHLIGHT_COLOR
    return objects, parts_panel


# ---------------------------------------------------------------------------------------------- legend


def sample_legend(object_labels: Sequence[int], part_seg: np.ndarray, class_names: Sequence[str],
                  part_names: Sequence[str], colors: Sequence[Color] | None = None,
                  names: Sequence[str] | None = None) -> tuple[list[tuple[str, Color]], list[tuple[str, Color]]]:
    """(object entries, part entries) as (text, colour): every object (by default named by
    :func:`numbered_names` in :func:`class_shades`) and every part class present in ``part_seg``."""
    names = numbered_names(object_labels, class_names) if names is None else names
    colors = class_shades(object_labels) if colors is None else colors
    objects = [(text, tuple(color)) for text, color in zip(names, colors)]
    present = [int(v) for v in np.unique(np.asarray(part_seg)) if v > 0]
    parts = [(part_names[v - 1] if v - 1 < len(part_names) else f'part {v - 1}', part_color(v - 1))
             for v in present]
    return objects, parts


def _legend_layout(entries, width, font, row_h, pad) -> tuple[list[tuple[int, int]], int]:
    """Top-left offsets of each entry (column-major, as many columns as fit) and the total height."""
    if not entries:
        return [], row_h + pad
    swatch = row_h - 4
    col_w = max(_text_width(font, text) for text, _ in entries) + swatch + 3 * pad
    cols = max(1, min(len(entries), (width - pad) // max(col_w, 1)))
    rows = math.ceil(len(entries) / cols)
    offsets = [(pad + (i // rows) * col_w, pad // 2 + (i % rows) * row_h) for i in range(len(entries))]
    return offsets, rows * row_h + pad


def _draw_legend(draw, entries, x0: int, y0: int, width: int, font, row_h: int, pad: int,
                 empty_text: str) -> None:
    if not entries:
        draw.text((x0 + pad, y0 + pad // 2), empty_text, fill=(110, 110, 110), font=font)
        return
    swatch = row_h - 4
    offsets, _ = _legend_layout(entries, width, font, row_h, pad)
    for (text, color), (dx, dy) in zip(entries, offsets):
        x, y = x0 + dx, y0 + dy
        draw.rectangle([x, y + 2, x + swatch, y + 2 + swatch], fill=tuple(color), outline=TEXT_COLOR)
        draw.text((x + swatch + pad, y + 2), text, fill=TEXT_COLOR, font=font)


# ---------------------------------------------------------------------------------------------- public


def draw_pps_sample(image: np.ndarray, object_masks: np.ndarray, object_labels: Sequence[int],
                    part_seg: np.ndarray, class_names: Sequence[str], part_names: Sequence[str],
                    ignore_mask: np.ndarray | None = None, title: str | None = None, min_size: int = 384,
                    max_size: int = 1024, object_alpha: float = 0.6, part_alpha: float = 1.0,
                    highlight: np.ndarray | None = None, highlight_name: str = 'part conflict',
                    object_colors: Sequence[Color] | None = None, object_names: Sequence[str] | None = None
                    ) -> np.ndarray:
    """One picture of a PPS sample: objects panel, parts panel and a legend (RGB uint8).

    Args:
        image: H x W x 3 uint8, RGB.
        object_masks: [N, H, W] bool, one mask per object (thing instances and stuff segments).
        object_labels: [N] class labels (indices into ``class_names``).
        part_seg: H x W, 0 = no part, ``j + 1`` = flat part index ``j`` (``part_names[j]``).
        class_names / part_names: names by label / by part index (dataset metainfo ``classes`` /
            ``part_classes``).
        ignore_mask: H x W bool of void / crowd pixels, drawn hatched; optional.
        title: text above the panels (e.g. the image id).
        min_size / max_size: the drawing's short side is scaled up to at least ``min_size`` (integer
            factor) and its long side kept at most ``max_size``, so small images stay legible.
        object_alpha / part_alpha: opacity of object / part colours.
        highlight / highlight_name: one bool per object to outline thick, and its legend entry.
        object_colors / object_names: per object, instead of its class's shade and its numbered class name
            (a prediction drawn against its ground truth).
    """
    from PIL import Image, ImageDraw

    image = np.asarray(image)
    h, w = image.shape[:2]
    object_masks = np.asarray(object_masks).reshape(-1, h, w)
    if len(object_masks) != len(np.asarray(object_labels).reshape(-1)):
        raise ValueError(f'{len(object_masks)} object masks but {len(object_labels)} labels')
    scale = display_scale(h, w, min_size, max_size)
    object_entries, part_entries = sample_legend(object_labels, part_seg, class_names, part_names, object_colors,
                                                 object_names)
    objects, parts = render_pps_panels(image, object_masks, [c for _, c in object_entries], part_seg, ignore_mask,
                                       scale, object_alpha, part_alpha, highlight)
    ph, pw = objects.shape[:2]
    if ignore_mask is not None and np.asarray(ignore_mask).any():
        object_entries.append(('void / crowd', IGNORE_COLOR))
    if highlight is not None and np.asarray(highlight).any():
        object_entries.append((highlight_name, HIGHLIGHT_COLOR))

    font_size = int(min(24, max(12, round(pw / 30))))
    font = _font(font_size)
    bold = _font(font_size + 2)
    pad = max(6, font_size // 2)
    row_h = int(round(font_size * 1.5))
    title_h = (row_h + pad) if title else 0
    head_h = row_h + pad // 2
    legend_h = max(_legend_layout(entries, pw, font, row_h, pad)[1] for entries in (object_entries, part_entries))
    gap = pad
    canvas = Image.new('RGB', (2 * pw + 3 * gap, title_h + head_h + ph + legend_h + 2 * pad), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((gap, pad), title, fill=TEXT_COLOR, font=bold)
    y = title_h + pad
    num_parts = len(part_entries)
    for i, (panel, head, entries, empty) in enumerate((
            (objects, f'objects ({len(object_masks)})', object_entries, 'no objects'),
            (parts, f'parts ({num_parts} {"class" if num_parts == 1 else "classes"})', part_entries,
             'no part labels'))):
        x = gap + i * (pw + gap)
        draw.text((x, y), head, fill=TEXT_COLOR, font=bold)
        canvas.paste(Image.fromarray(panel), (x, y + head_h))
        _draw_legend(draw, entries, x, y + head_h + ph + pad // 2, pw, font, row_h, pad, empty)
    return np.asarray(canvas)


def unpack_pps_sample(inputs, data_sample, num_things: int) -> dict:
    """Arrays for :func:`draw_pps_sample` from a packed sample (``PackPPSInputs`` output).

    ``inputs`` is the 3 x H x W BGR tensor; objects are the thing instances (``gt_instances``) followed
    by one segment per stuff label present in ``gt_sem_seg``. Works on tensors and arrays alike
    (anything with ``.cpu()``/``.numpy()`` or ``np.asarray``), so this module does not need torch.
    """
    def arr(x) -> np.ndarray:
        if hasattr(x, 'detach'):
            x = x.detach().cpu().numpy()
        return np.asarray(x)

    image = np.ascontiguousarray(arr(inputs).transpose(1, 2, 0)[..., ::-1]).astype(np.uint8)
    h, w = image.shape[:2]
    masks = np.zeros((0, h, w), bool)
    labels = np.zeros(0, np.int64)
    if 'gt_instances' in data_sample and 'masks' in data_sample.gt_instances:
        inst_masks = data_sample.gt_instances.masks
        inst_masks = inst_masks.to_ndarray() if hasattr(inst_masks, 'to_ndarray') else arr(inst_masks)
        masks = inst_masks.astype(bool).reshape(-1, h, w)
        labels = arr(data_sample.gt_instances.labels).astype(np.int64).reshape(-1)
    part_seg = np.zeros((h, w), np.uint8)
    ignore = None
    if 'gt_sem_seg' in data_sample:
        sem = arr(data_sample.gt_sem_seg.sem_seg).reshape(h, w)
        ignore = sem == 255  # void and crowd
        stuff = [int(v) for v in np.unique(sem) if num_things <= v < 255]
        if stuff:
            masks = np.concatenate([masks, np.stack([sem == v for v in stuff])])
            labels = np.concatenate([labels, np.asarray(stuff, np.int64)])
    if 'gt_part_seg' in data_sample:
        part_seg = arr(data_sample.gt_part_seg.sem_seg).reshape(h, w).astype(np.uint8)
    return dict(image=image, object_masks=masks, object_labels=labels, part_seg=part_seg, ignore_mask=ignore)


def pps_to_sample_arrays(pps: np.ndarray, spec: 'PPSSpec') -> dict:
    """Objects, labels and parts of an official 3-channel PPS map [eval sid or 255, instance id,
    pid or 255] (prediction PNG or converted GT), in the label / part-index convention of ``spec``.

    One object per (sid, instance id) with a sid of the spec (``object_keys``: ``sid * 1000 + instance id``);
    pids that the spec does not define for the sid count as 'no part'; pixels with sid 255 (or a sid outside
    the spec) are ignore pixels.
    """
    pps = np.asarray(pps)
    if pps.ndim != 3 or pps.shape[2] != 3:
        raise ValueError(f'expected an H x W x 3 PPS map, got shape {pps.shape}')
    sid, iid, pid = (pps[..., c].astype(np.int64) for c in range(3))
    sid2label = {s: i for i, s in enumerate(spec.classes)}
    known = np.isin(sid, list(sid2label))
    key = np.where(known, sid * 1000 + iid, -1)
    keys = [int(k) for k in np.unique(key) if k >= 0]
    masks = np.stack([key == k for k in keys]) if keys else np.zeros((0, *sid.shape), bool)
    labels = np.asarray([sid2label[k // 1000] for k in keys], np.int64)
    part_seg = np.zeros(sid.shape, np.uint8)
    for sp, flat in spec.sid_pid2flat.items():
        if sp // 100 in spec.parts_sids:
            part_seg[known & (sid == sp // 100) & (pid == sp % 100)] = flat
    return dict(object_masks=masks, object_labels=labels, part_seg=part_seg, ignore_mask=~known,
                object_keys=np.asarray(keys, np.int64))


def match_objects(ground_truth: dict, prediction: dict) -> np.ndarray:
    """Per predicted object, the index of the ground-truth object it matches, or -1: same class and IoU > 0.5
    with the prediction's pixels on the ground truth's ignore mask left out of the union (PQ's rule, with
    crowd left out like void). Unique: two objects cannot both cover more than half of a third."""
    gt_masks, pred_masks = (np.asarray(a['object_masks']).astype(bool) for a in (ground_truth, prediction))
    if gt_masks.shape[1:] != pred_masks.shape[1:]:
        raise ValueError(f'prediction size {pred_masks.shape[1:]} differs from the ground truth\'s '
                         f'{gt_masks.shape[1:]}')
    shape = gt_masks.shape[1:]
    ignore = ground_truth.get('ignore_mask')
    ignore = np.zeros(shape, bool) if ignore is None else np.asarray(ignore, bool)
    gt = np.where(ignore, -1, _object_index_map(gt_masks, shape)) + 1
    pred = _object_index_map(pred_masks, shape) + 1
    n_gt, n_pred = len(gt_masks) + 1, len(pred_masks) + 1
    counts = np.bincount((gt * n_pred + pred).ravel(), minlength=n_gt * n_pred).reshape(n_gt, n_pred)
    inter = counts[1:, 1:]
    pred_void = np.bincount(pred[ignore], minlength=n_pred)[1:]
    union = counts[1:].sum(1)[:, None] + counts[:, 1:].sum(0)[None] - inter - pred_void[None]
    same_class = (np.asarray(ground_truth['object_labels']).reshape(-1, 1)
                  == np.asarray(prediction['object_labels']).reshape(1, -1))
    gi, pj = np.nonzero(same_class & (2 * inter > union))
    match = np.full(len(pred_masks), -1, np.int64)
    match[pj] = gi
    return match


def colors_against_ground_truth(ground_truth: dict, prediction: dict, class_names: Sequence[str]) -> dict:
    """``object_colors`` and ``object_names`` for a prediction drawn beside its ground truth: a matched object
    (:func:`match_objects`) takes its ground-truth object's colour and name, an unmatched one a shade of its
    class no ground-truth object has (``robot, unmatched``)."""
    gt_labels = np.asarray(ground_truth['object_labels']).reshape(-1)
    labels = np.asarray(prediction['object_labels']).reshape(-1)
    match = match_objects(ground_truth, prediction)
    gt_colors, gt_names = class_shades(gt_labels), numbered_names(gt_labels, class_names)
    spare = iter(class_shades(labels[match < 0], first_shade=Counter(gt_labels.tolist())))
    return dict(object_colors=[gt_colors[m] if m >= 0 else next(spare) for m in match],
                object_names=[gt_names[m] if m >= 0 else f'{_class_name(int(label), class_names)}, unmatched'
                              for m, label in zip(match, labels)])


def draw_pps_prediction(image: np.ndarray, pps: np.ndarray, spec: 'PPSSpec | str',
                        conflict_objects: Sequence[int] = (), ground_truth: dict | None = None,
                        **kwargs) -> np.ndarray:
    """:func:`draw_pps_sample` for an official 3-channel PPS map (prediction or GT) of ``spec``
    (a :class:`~tapps_mm.specs.PPSSpec` or a spec name / YAML path), the objects ``conflict_objects`` names
    (``eval sid * 1000 + instance id``, the ``pps_conflict_objects`` of a prediction) outlined, coloured against
    ``ground_truth`` (:func:`ground_truth_arrays`) when given (:func:`colors_against_ground_truth`);
    ``kwargs`` go to :func:`draw_pps_sample`."""
    spec = _loaded(spec)
    arrays = pps_to_sample_arrays(pps, spec)
    keys = arrays.pop('object_keys')
    if len(conflict_objects):
        arrays['highlight'] = np.isin(keys, list(conflict_objects))
    class_names, part_names = _names(spec)
    if ground_truth is not None:
        kwargs = {**colors_against_ground_truth(ground_truth, arrays, class_names), **kwargs}
    return draw_pps_sample(np.asarray(image), class_names=class_names, part_names=part_names, **arrays, **kwargs)


def _loaded(spec: 'PPSSpec | str') -> 'PPSSpec':
    if isinstance(spec, str):
        from tapps_mm.specs import load_spec
        return load_spec(spec)
    return spec


def _names(spec: 'PPSSpec') -> tuple[list[str], list[str]]:
    return ([spec.class_names[s] for s in spec.classes],
            [spec.part_names.get(j, f'part{j}') for j in range(1, spec.num_parts + 1)])


def ground_truth_arrays(label_path: str, spec: 'PPSSpec | str') -> dict:
    """Objects, labels, parts and ignore mask (void and crowd) of an image's official label file, decoded as
    training and evaluation decode it: the ground truth :func:`draw_pps_prediction` colours against."""
    from tapps_mm.datasets.pps_targets import PPSTargetEncoder, decode_targets
    from tapps_mm.pps_format import read_label
    codes = PPSTargetEncoder(_loaded(spec)).encode(read_label(label_path), label_path)
    targets = decode_targets(codes.codes, codes.labels, codes.crowd)
    return dict(object_masks=targets.masks, object_labels=targets.labels, part_seg=targets.part_seg,
                ignore_mask=targets.ignore)


def draw_pps_ground_truth(image: np.ndarray, ground_truth: 'str | dict', spec: 'PPSSpec | str',
                          **kwargs) -> np.ndarray:
    """:func:`draw_pps_sample` of an image's official label file or its :func:`ground_truth_arrays` (void and
    crowd hatched); ``kwargs`` go to :func:`draw_pps_sample`."""
    spec = _loaded(spec)
    arrays = ground_truth_arrays(ground_truth, spec) if isinstance(ground_truth, str) else ground_truth
    class_names, part_names = _names(spec)
    return draw_pps_sample(np.asarray(image), class_names=class_names, part_names=part_names, **arrays, **kwargs)


def side_by_side(*drawings: np.ndarray, gap: int = 12) -> np.ndarray:
    """Drawings next to each other (ground truth | prediction, as mmdet's visualiser), tops aligned."""
    h = max(d.shape[0] for d in drawings)
    spacer = np.full((h, gap, 3), BACKGROUND, np.uint8)
    columns = []
    for d in drawings:
        pad = np.full((h - d.shape[0], d.shape[1], 3), BACKGROUND, np.uint8)
        columns += [np.concatenate([d, pad]), spacer]
    return np.concatenate(columns[:-1], axis=1)

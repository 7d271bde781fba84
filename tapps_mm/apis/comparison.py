"""Two methods' predictions side by side, on the images where they differ most.

A researcher who sees that TAPPS and the baseline differ by x points asks where: this module chooses the
images (largest per-image PartPQ difference, from the per-image statistics the runs kept or computed here,
plus a few at random), runs both models, and draws image | ground truth | method a | method b with the
objects whose predicted parts conflict with their class outlined and each method's per-image PartPQ in its
title; a predicted object that matches a ground-truth object has that object's colour.
``tools/analysis_tools/compare_predictions.py`` is the command line.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Method:
    """One side of the comparison: a name, its model (``init_pps_model``) and optionally its run's per-image
    statistics file (``per_image_stats/iter_<N>.npz``), which spares running it on every candidate image."""
    name: str
    model: object
    stats_file: str | None = None


def dataset_samples(config: str, data_root: str | None = None, cfg_options: dict | None = None,
                    split_cfg: str = 'test_dataloader') -> list[dict]:
    """The samples (``img_path``, ``pps_label_path``, ``pps_image_id``) of a config's evaluation dataset."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import tapps_mm.registry  # noqa: F401
    from tapps_mm.engine.cli import merge_cfg_options
    from tapps_mm.registry import DATASETS
    cfg = Config.fromfile(config)
    merge_cfg_options(cfg, cfg_options)
    init_default_scope(cfg.get('default_scope', 'tapps_mm'))
    dataset_cfg = dict(cfg[split_cfg].dataset, lazy_init=False)
    if data_root:
        dataset_cfg['data_root'] = data_root
    dataset = DATASETS.build(dataset_cfg)
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def per_image_partpq(evaluator, stats) -> float:
    """PartPQ (percent) of one image's statistics: the official mean over the classes it counts."""
    return 100 * evaluator.summarize(stats)['PartPQ']


def partpq_from_file(path: str, evaluator) -> dict[str, float]:
    """Image id -> PartPQ (percent) from a per-image statistics file."""
    from tapps_mm.evaluation.per_image import PerImageStats
    kept = PerImageStats.load(path)
    return {str(image_id): per_image_partpq(evaluator, kept.total([i]))
            for i, image_id in enumerate(kept.image_ids)}


def predict(model, image_path: str) -> tuple[np.ndarray, list[int]]:
    """The PPS prediction (H x W x 3) of one image and the keys of its objects with part conflicts."""
    from mmdet.apis import inference_detector

    from tapps_mm.pps_format import prediction_array
    sample = inference_detector(model, image_path)
    return prediction_array(sample.pred_pps), list(sample.metainfo.get('pps_conflict_objects', []))


def choose_images(scores_a: dict[str, float], scores_b: dict[str, float], num: int, num_random: int,
                  seed: int = 0) -> list[tuple[str, str]]:
    """(image id, why): the ``num`` images with the largest |PartPQ a - PartPQ b| (ties by id), then
    ``num_random`` others drawn with ``seed``."""
    common = sorted(set(scores_a) & set(scores_b))
    gaps = sorted(common, key=lambda i: (-abs(scores_a[i] - scores_b[i]), i))
    chosen = [(i, 'largest difference') for i in gaps[:num]]
    rest = [i for i in common if i not in dict(chosen)]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(rest), size=min(num_random, len(rest)), replace=False) if rest else []
    return chosen + [(rest[k], 'random') for k in sorted(picks)]


def draw_comparison(image_rgb: np.ndarray, label_path: str, spec, preds: Sequence[tuple[str, np.ndarray, list[int],
                                                                                       float]],
                    title: str, min_size: int = 192) -> np.ndarray:
    """One figure: a row with the image and the ground truth, then a row per method (objects and parts
    panels, conflicting objects outlined, its PartPQ on this image in the title). A class has one hue in every
    panel and a predicted object matching a ground-truth object its colour and name, so the rows compare."""
    from tapps_mm.visualization import draw_pps_ground_truth, draw_pps_prediction, side_by_side
    from tapps_mm.visualization.pps_drawing import BACKGROUND, display_scale, ground_truth_arrays

    truth = ground_truth_arrays(label_path, spec)
    gt = draw_pps_ground_truth(image_rgb, truth, spec, title=f'{title}: ground truth', min_size=min_size)
    scale = display_scale(*image_rgb.shape[:2], min_size=min_size)
    from PIL import Image
    h, w = image_rgb.shape[:2]
    plain = np.asarray(Image.fromarray(image_rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                         Image.BILINEAR))
    rows = [side_by_side(plain, gt)]
    for name, pps, conflicts, score in preds:
        note = f', {len(conflicts)} with part conflicts' if conflicts else ''
        rows.append(draw_pps_prediction(image_rgb, pps, spec, conflict_objects=conflicts, ground_truth=truth,
                                        min_size=min_size, title=f'{name}: PartPQ {score:.1f} on this image{note}'))
    width = max(r.shape[1] for r in rows)
    padded = [np.concatenate([r, np.full((r.shape[0], width - r.shape[1], 3), BACKGROUND, np.uint8)], axis=1)
              for r in rows]
    return np.concatenate(padded, axis=0)


def compare(a: Method, b: Method, samples: list[dict], out_dir: str, num: int = 4, num_random: int = 2,
            seed: int = 0, min_size: int = 192, progress: bool = True) -> list[dict]:
    """Choose the images, draw each comparison into ``out_dir/<image id>.png`` and ``.pdf``; returns one
    record per figure (image id, why chosen, each method's PartPQ on it, the files)."""
    import mmcv
    from mmengine.utils import track_iter_progress
    from PIL import Image

    from tapps_mm.evaluation import PartPQEvaluator
    from tapps_mm.fileio import atomic_path
    from tapps_mm.pps_format import image_file, read_label
    spec = a.model.spec
    if b.model.spec.name != spec.name:
        raise ValueError(f'the two models predict different specs: {spec.name!r} and {b.model.spec.name!r}')
    evaluator = PartPQEvaluator(spec)
    by_id = {str(s['pps_image_id']): s for s in samples}

    def bar(items: list, what: str):  # mmengine's progress bar on long work, nothing otherwise
        if not progress or not items:
            return items
        print(what)
        return track_iter_progress(items)
    scores, cache = {}, {}
    for method in (a, b):
        if method.stats_file:
            scores[method.name] = {k: v for k, v in partpq_from_file(method.stats_file, evaluator).items()
                                   if k in by_id}
            continue
        scores[method.name] = {}
        for image_id in bar(sorted(by_id), f'{method.name}: per-image PartPQ of {len(by_id)} images'):
            pps, conflicts = predict(method.model, by_id[image_id]['img_path'])
            gt = read_label(by_id[image_id]['pps_label_path'])
            scores[method.name][image_id] = per_image_partpq(evaluator, evaluator.image_stats(gt, pps))
            cache[method.name, image_id] = pps, conflicts
    chosen = choose_images(scores[a.name], scores[b.name], num, num_random, seed)
    if not chosen:
        raise ValueError('no image both methods were scored on: are the per-image files of this split?')
    os.makedirs(out_dir, exist_ok=True)
    records = []
    for image_id, why in bar(chosen, f'drawing {len(chosen)} comparisons'):
        sample = by_id[image_id]
        preds = []
        for method in (a, b):
            pps, conflicts = cache.get((method.name, image_id)) or predict(method.model, sample['img_path'])
            preds.append((method.name, pps, conflicts, scores[method.name][image_id]))
        figure = draw_comparison(mmcv.imread(sample['img_path'], channel_order='rgb'), sample['pps_label_path'],
                                 spec, preds, f'{image_id} ({why})', min_size)
        files = []
        for ext, fmt in (('png', 'PNG'), ('pdf', 'PDF')):
            path = image_file(out_dir, image_id, f'.{ext}', sample['pps_label_path'])
            with atomic_path(path) as tmp:
                Image.fromarray(figure).save(tmp, format=fmt)
            files.append(path)
        records.append(dict(image_id=image_id, why=why, **{f'PartPQ {m}': scores[m][image_id] for m in scores},
                            files=files))
    return records


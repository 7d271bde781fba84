"""Draw dataset samples as the model sees them (after the pipeline, augmentations applied) to check them by eye.

    python tools/analysis_tools/browse_dataset.py CONFIG --out DIR [--num 10] [--split train|val|test]
        [--seed 0] [--cfg-options train_dataloader.dataset.data_root=data/synthetic_pp/]

Each PNG shows the image with one colour per object (thing instances and stuff segments) and white
instance outlines, a second panel with one colour per part class, and a legend of the classes and
parts present; void / crowd pixels are hatched. ``--split`` picks ``{split}_dataloader.dataset`` and
its own pipeline (train: the augmented train pipeline); a pipeline without ``LoadPPSAnnotations``
(test-time pipelines) gets one after its first transform, so the ground truth can be drawn.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import re

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--out', required=True, help='folder for the PNGs (created if missing)')
    parser.add_argument('--num', type=int, default=10, help='number of samples to draw (default: 10)')
    parser.add_argument('--split', choices=('train', 'val', 'test'), default='train',
                        help='which dataloader dataset to draw (default: train)')
    parser.add_argument('--seed', type=int, default=None, help='seed the random augmentations (reproducible)')
    parser.add_argument('--min-size', type=int, default=384,
                        help='scale small images up to this short side so the legend is legible (default: 384)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair in xxx=yyy format will be merged '
        'into config file, e.g. train_dataloader.dataset.data_root=data/synthetic_pp/')
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error('--num must be at least 1')
    return args


def _dataset_with_pipeline(cfg: ConfigDict) -> ConfigDict:
    """The innermost dataset config that holds the pipeline (dataset wrappers keep it in ``dataset``)."""
    while 'pipeline' not in cfg and isinstance(cfg.get('dataset'), dict):
        cfg = cfg.dataset
    return cfg


def ensure_annotations(dataset_cfg: ConfigDict) -> None:
    """Insert ``LoadPPSAnnotations`` after the first transform (the image loading) if it is missing."""
    inner = _dataset_with_pipeline(dataset_cfg)
    pipeline = list(inner.get('pipeline') or [])
    if pipeline and not any(str(t.get('type', '')).endswith('LoadPPSAnnotations') for t in pipeline):
        pipeline.insert(1, dict(type='LoadPPSAnnotations'))
        inner.pipeline = pipeline


def _file_name(index: int, data_sample) -> str:
    image_id = str(data_sample.metainfo.get('img_id', data_sample.metainfo.get('pps_image_id', '')))
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', image_id).strip('_.')
    return f'{index:04d}_{safe}.png' if safe else f'{index:04d}.png'


def _title(data_sample) -> str:
    meta = data_sample.metainfo
    parts = [str(meta.get('img_id', ''))]
    if 'img_shape' in meta:
        parts.append('x'.join(map(str, meta['img_shape'][:2])))
    if 'scale_factor' in meta:
        parts.append('scale ' + 'x'.join(f'{s:.2f}' for s in meta['scale_factor']))
    if meta.get('flip'):
        parts.append(f'flip {meta.get("flip_direction")}')
    return '  |  '.join(p for p in parts if p)


def main(argv: list[str] | None = None) -> list[str]:
    from tapps_mm.engine.cli import merge_cfg_options
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)

    import numpy as np
    from PIL import Image

    import tapps_mm.registry  # noqa: F401  (registers scope 'tapps_mm')
    from tapps_mm.fileio import atomic_path
    from tapps_mm.registry import DATASETS
    from tapps_mm.visualization import draw_pps_sample, unpack_pps_sample

    init_default_scope(cfg.get('default_scope', 'tapps_mm'))
    if args.seed is not None:
        from mmengine.runner import set_random_seed
        set_random_seed(args.seed)
    loader_key = f'{args.split}_dataloader'
    if loader_key not in cfg:
        raise KeyError(f'{args.config}: no {loader_key} in the config')
    dataset_cfg = cfg[loader_key].dataset
    ensure_annotations(dataset_cfg)
    dataset = DATASETS.build(dataset_cfg)
    meta = dataset.metainfo
    class_names = list(meta['classes'])
    part_names = list(meta.get('part_classes', ()))
    num_things = int(meta.get('num_things', len(meta.get('thing_classes', class_names))))

    os.makedirs(args.out, exist_ok=True)
    num = min(args.num, len(dataset))
    written = []
    progress = ProgressBar(num)
    for index in range(num):
        item = dataset[index]
        sample = item['data_samples']
        arrays = unpack_pps_sample(item['inputs'], sample, num_things)
        drawing = draw_pps_sample(class_names=class_names, part_names=part_names, title=_title(sample),
                                  min_size=args.min_size, **arrays)
        path = osp.join(args.out, _file_name(index, sample))
        with atomic_path(path) as tmp:
            Image.fromarray(np.asarray(drawing)).save(tmp)
        written.append(path)
        progress.update()
    print(f'\n{len(written)} samples of {args.split}_dataloader.dataset ({len(dataset)} in all) drawn to '
          f'{osp.abspath(args.out)}')
    return written


if __name__ == '__main__':
    main()

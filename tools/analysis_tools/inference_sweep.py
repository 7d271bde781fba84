"""Does inference drop a method's objects? The fusion head's thresholds swept on one forward pass per image.

    python tools/analysis_tools/inference_sweep.py CONFIG CHECKPOINT --out DIR \\
        [--object-mask-thr 0.1 0.3 0.5 0.7] [--iou-thr 0.5 0.65 0.8 0.95] [--cfg-options ...]

A query below ``model.test_cfg.object_mask_thr`` makes no segment; a segment that wins less than
``model.test_cfg.iou_thr`` of its own mask is dropped. The settings: the config's ``test_cfg`` (``default``), then
one threshold changed at a time (``object_mask_thr_<v>``, ``iou_thr_<v>``; a value equal to the default is the
default). The checkpoint is evaluated as ``tools/test.py`` evaluates it (the config's runner, hooks and test
data: EMA weights where the config has EMAHook), so the default setting's numbers are ``tools/test.py``'s;
the backbone and head run once per batch, the fusion head once per setting (``InferenceSweepLoop``).

In DIR: ``sweep.json`` (per setting: PartPQ, PQ_th, the thing-object recall TP / (TP + FN) over the thing
classes with PartPQ's matching, and with standard PQ's, the number of predicted thing segments, every metric)
and ``<setting>.npz``, the setting's per-image statistics (``tapps_mm.evaluation.per_image``: what the results
pipeline resamples); the run's log in ``<work dir>/<timestamp>/`` (default work dir: DIR).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp

from mmengine.config import Config

from tapps_mm.engine.cli import add_common_args, check_checkpoint, evaluate_checkpoint, finish_distributed, load_config

SWEPT = ('object_mask_thr', 'iou_thr')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (must fit the config\'s model exactly)')
    parser.add_argument('--out', required=True, help='output folder (sweep.json, one .npz per setting)')
    parser.add_argument('--object-mask-thr', type=float, nargs='+', default=[0.1, 0.3, 0.5, 0.7],
                        help='object_mask_thr values, each with the default iou_thr')
    parser.add_argument('--iou-thr', type=float, nargs='+', default=[0.5, 0.65, 0.8, 0.95],
                        help='iou_thr values, each with the default object_mask_thr')
    add_common_args(parser)
    args = parser.parse_args(argv)
    for key in SWEPT:
        bad = [v for v in getattr(args, key) if not 0.0 <= v <= 1.0]
        if bad:
            parser.error(f'--{key.replace("_", "-")}: {bad} outside [0, 1]')
    return args


def sweep_settings(defaults: dict, values: dict) -> list[dict]:
    """The default setting, then one per value of each swept key that differs from its default."""
    settings = [dict(name='default', changes={})]
    for key in SWEPT:
        for value in dict.fromkeys(values[key]):
            if value != defaults[key]:
                settings.append(dict(name=f'{key}_{value:g}', changes={key: value}))
    return settings


def fusion_defaults(cfg: Config, config_file: str) -> dict:
    """The swept keys' values of the config (the fusion head's own defaults where it leaves them out)."""
    from tapps_mm.models.seg_heads.pps_fusion_head import IOU_THR, OBJECT_MASK_THR
    if cfg.model.get('panoptic_fusion_head') is None:
        raise KeyError(f'{config_file}: model.panoptic_fusion_head is missing: nothing to sweep')
    test_cfg = cfg.model.get('test_cfg')
    if test_cfg is None:
        raise KeyError(f'{config_file}: model.test_cfg is missing: the fusion head has no test_cfg to sweep')
    return dict(object_mask_thr=test_cfg.get('object_mask_thr', OBJECT_MASK_THR),
                iou_thr=test_cfg.get('iou_thr', IOU_THR))


def build_config(args: argparse.Namespace) -> tuple[Config, dict]:
    """The config of ``tools/test.py CONFIG CHECKPOINT`` with the sweep's test loop; the default values."""
    check_checkpoint(args.checkpoint)
    if args.work_dir is None:
        args.work_dir = args.out
    cfg = evaluate_checkpoint(load_config(args), args.checkpoint)
    defaults = fusion_defaults(cfg, args.config)
    settings = sweep_settings(defaults, dict(object_mask_thr=args.object_mask_thr, iou_thr=args.iou_thr))
    fp16 = (cfg.get('test_cfg') or {}).get('fp16', False)
    cfg.test_cfg = dict(type='InferenceSweepLoop', settings=settings, out_dir=args.out, fp16=fp16)
    return cfg, defaults


def report(args: argparse.Namespace, defaults: dict, summary: list[dict]) -> dict:
    """``sweep.json``: what was run, and each setting's numbers."""
    for entry in summary:
        entry['test_cfg'] = {**defaults, **entry['changes']}
    return dict(config=args.config, checkpoint=args.checkpoint, defaults=defaults,
                num_images=summary[0]['metrics'].get('num_images'), settings=summary)


def _cell(value) -> str:
    return '-' if value is None else f'{value:.4f}' if isinstance(value, float) else str(value)


def main(argv=None) -> dict | None:
    args = parse_args(argv)
    cfg, defaults = build_config(args)
    from mmengine.dist import is_main_process

    from tapps_mm.fileio import write_json_atomic
    from tapps_mm.registry import RUNNERS
    os.makedirs(args.out, exist_ok=True)
    runner = RUNNERS.build(cfg)
    runner.test()
    result = None
    if is_main_process():
        result = report(args, defaults, runner.test_loop.summary)
        write_json_atomic(result, osp.join(args.out, 'sweep.json'))
        columns = ('PartPQ', 'PQ_th', 'thing_recall', 'num_pred_thing_segments')
        print('\nsetting'.ljust(26) + ''.join(c.rjust(24) for c in columns))
        for entry in result['settings']:
            print(entry['name'].ljust(25) + ''.join(_cell(entry[c]).rjust(24) for c in columns))
        print(f'written: {osp.join(args.out, "sweep.json")} and one .npz per setting')
    finish_distributed()
    return result


if __name__ == '__main__':
    main()

"""Evaluate a TAPPS-MM checkpoint (mmdet's tools/test.py interface).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR | FILE.pkl] [--show-dir DIR]
    tools/dist_test.sh CONFIG CHECKPOINT GPUS     tools/slurm_test.sh PARTITION JOB CONFIG CHECKPOINT

``--out DIR`` writes the predictions in the official format (one 3-channel PNG per image, for
panoptic_parts' own evaluator) plus ``pps_results.json`` and a ``manifest.json`` of every file; the folder
must be new or empty (``--overwrite-out`` replaces the files of an earlier run), so a folder never mixes
runs (:mod:`tapps_mm.evaluation.prediction_folder`). ``--out FILE.pkl`` dumps the raw data samples.
CHECKPOINT is a file or an ``http(s)://`` URL (downloaded once into torch hub's cache).
The metrics are also written to ``<work-dir>/<timestamp>/<timestamp>.json`` by the runner.
The checkpoint must match the model exactly (every tensor by name and shape); ``--non-strict`` evaluates
it anyway and lists what did not load.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, ConfigDict

from tapps_mm.engine.cli import add_common_args, check_checkpoint, evaluate_checkpoint, finish_distributed, load_config
from tapps_mm.evaluation.prediction_folder import claim, new_run_id, release
from tapps_mm.registry import RUNNERS  # builds the config's runner_type, as mmdet's tools/test.py does

#: an --out ending so names a file, not the folder --out takes (``--out res.json`` would make a folder of that name)
FILE_SUFFIXES = ('.json', '.npz', '.csv', '.txt', '.png', '.tif', '.pth', '.pt', '.pickle', '.yaml', '.yml')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a part-aware panoptic segmentation model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='a directory for official-format PNG predictions, or a .pkl file for '
                                      'the raw results')
    parser.add_argument('--overwrite-out', action='store_true',
                        help='--out DIR holds the predictions of an earlier run: replace them whole (by default '
                             'the folder must be new or empty)')
    parser.add_argument('--show', action='store_true', help='show the drawn predictions')
    parser.add_argument('--show-dir', help='save the drawn predictions here (relative to the run dir, like mmdet)')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each shown image stays')
    parser.add_argument('--non-strict', action='store_true',
                        help='evaluate even if the checkpoint does not match the model (missing, unexpected or '
                             'reshaped tensors are listed); by default that is an error')
    add_common_args(parser)
    return parser.parse_args(argv)


def _evaluators(cfg: Config) -> list:
    return cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]


def _pps_metric(cfg: Config) -> ConfigDict:
    for evaluator in _evaluators(cfg):
        if evaluator.get('type') == 'PartPQMetric':
            return evaluator
    raise KeyError('test_evaluator: no PartPQMetric in the config (needed for --out / --show-dir)')


def build_config(args) -> Config:
    check_checkpoint(args.checkpoint)
    cfg = evaluate_checkpoint(load_config(args), args.checkpoint, args.non_strict)
    if args.show or args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.draw = True
        vis.show = args.show
        vis.wait_time = args.wait_time
        vis.test_out_dir = args.show_dir
    if args.out is not None:
        if args.out.endswith('.pkl'):
            cfg.test_evaluator = [*_evaluators(cfg), dict(type='DumpResults', out_file_path=args.out)]
        else:
            _claim_out(args, _pps_metric(cfg))
    return cfg


def _claim_out(args, metric: ConfigDict) -> None:
    """``--out DIR``: rank 0 claims the folder before the model runs (the other ranks wait for it in the
    process group's start-up, before any of them writes)."""
    if osp.splitext(args.out)[1].lower() in FILE_SUFFIXES or osp.isfile(args.out):
        raise ValueError(f'--out {args.out}: looks like a file; --out takes a folder (official-format PNGs, '
                         'pps_results.json) or FILE.pkl (the raw results). The metrics alone are in '
                         '<work-dir>/<timestamp>/<timestamp>.json')
    metric.outfile_prefix = args.out
    if int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0'))) == 0:
        metric.outfile_run = new_run_id()
        claim(args.out, metric.outfile_run, args.overwrite_out)


def main(argv=None):
    cfg = build_config(parse_args(argv))
    claimed = next((e for e in _evaluators(cfg) if e.get('outfile_run')), None)
    try:
        RUNNERS.build(cfg).test()
    except BaseException:
        if claimed:  # a run that failed before writing anything leaves no claimed, empty --out behind
            release(claimed.outfile_prefix, claimed.outfile_run)
        raise
    finish_distributed()


if __name__ == '__main__':
    main()

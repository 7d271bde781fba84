"""Train a TAPPS-MM model (mmdet's tools/train.py interface).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    tools/dist_train.sh CONFIG GPUS        (torchrun, --launcher pytorch; gloo on a CPU machine)
    tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR   (srun, --launcher slurm)
"""
import argparse
import logging
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from tapps_mm.engine import find_resume_checkpoint
from tapps_mm.engine.cli import add_common_args, finish_distributed, load_config
from tapps_mm.registry import RUNNERS  # builds the config's runner_type, as mmdet's tools/train.py does


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a part-aware panoptic segmentation model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision training')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale the lr with the total batch size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or from the latest complete one in the work dir if '
                             'none is given (no checkpoint there: start from the beginning)')
    add_common_args(parser)
    return parser.parse_args(argv)


def _check_schedule(cfg: Config) -> None:
    """A schedule of no iterations would exit 0 with nothing trained or evaluated."""
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_iters', 'max_epochs'):
        value = train_cfg.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f'{cfg.filename}: train_cfg.{key} = {value!r}: a run must train at least one '
                             f'{key[4:-1]}')


def build_config(args) -> Config:
    cfg = load_config(args)
    _check_schedule(cfg)
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print_log('AMP is already enabled in the config.', logger='current')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        # the paper's configs train with AMP; mmengine's AMP wrapper refuses a machine without a GPU
        print_log('AMP needs a GPU: training in fp32 on this machine', logger='current', level=logging.WARNING)
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError('--auto-scale-lr needs `auto_scale_lr.base_batch_size` in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        # mmdet clears load_from here, so a requeued job without a checkpoint yet would lose its
        # initialisation (e.g. COCO weights); we keep it and resume only from a complete checkpoint.
        checkpoint = find_resume_checkpoint(cfg.work_dir)
        if checkpoint is None:
            print_log(f'--resume: no checkpoint in {cfg.work_dir}, training from the beginning', logger='current')
        else:
            cfg.resume, cfg.load_from = True, checkpoint
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume: checkpoint not found: {args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main(argv=None):
    runner = RUNNERS.build(build_config(parse_args(argv)))
    runner.train()
    finish_distributed()


if __name__ == '__main__':
    main()

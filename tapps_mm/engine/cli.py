"""What ``tools/train.py`` and ``tools/test.py`` share: mmdet's common flags applied to a config."""
from __future__ import annotations

import argparse
import difflib
import os
import os.path as osp

from mmengine.config import Config, DictAction

URL_SCHEMES = ('http://', 'https://')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and results')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_iters=100; a key the config does not '
                        'have is an error unless marked new with a leading +, e.g. +model.backbone.new_arg=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (tools/dist_*.sh use pytorch, tools/slurm_*.sh use slurm)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load checkpoints with the full unpickler, which can run code the file names: '
                        'only for files you trust (default: weights and our own checkpoint types only)')


def load_config(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with ``--cfg-options``, ``--launcher`` and the work dir
    (``--work-dir``, else the config's, else ``work_dirs/<config stem>``)."""
    if args.unsafe_load:
        from tapps_mm.engine.safe_load import allow_unsafe_load
        allow_unsafe_load()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    merge_cfg_options(cfg, args.cfg_options)
    if cfg.get('tensorboard', False):  # the config switch of default_runtime.py
        backends = cfg.visualizer.setdefault('vis_backends', [])
        if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
            cfg.visualizer.vis_backends = [*backends, dict(type='TensorboardVisBackend')]
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def merge_cfg_options(cfg: Config, options: dict | None) -> Config:
    """``--cfg-options`` merged into ``cfg``, refusing keys the config does not have: a misspelt key
    (``num_querys``) would otherwise add a setting nothing reads and train with the default. A key written
    with a leading ``+`` is new on purpose (an argument the config leaves at its default) and is added."""
    if not options:
        return cfg
    checked, tree = {}, cfg.to_dict()
    for key, value in options.items():
        if key.startswith('+'):
            checked[key[1:]] = value
            continue
        node = tree
        parts = key.split('.')
        for i, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                break  # below a leaf value: mmengine's merge reports it
            if part not in node:
                where = '.'.join(parts[:i]) or 'the config'
                close = difflib.get_close_matches(part, [str(k) for k in node], n=1)
                hint = f"; did you mean '{'.'.join(parts[:i] + close)}'?" if close else ''
                raise KeyError(f'--cfg-options {key}: {where} has no key {part!r}{hint} (write +{key}=... to add a '
                               'new key on purpose)')
            node = node[part]
        checked[key] = value
    cfg.merge_from_dict(checked)
    return cfg


def check_checkpoint(checkpoint: str) -> None:
    """A checkpoint that is neither a file nor a URL is named before anything is built."""
    if not (checkpoint.startswith(URL_SCHEMES) or osp.isfile(checkpoint)):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint} (a file, or an http(s):// URL)')


def evaluate_checkpoint(cfg: Config, checkpoint: str, non_strict: bool = False) -> Config:
    """``cfg`` set to evaluate ``checkpoint`` as ``tools/test.py`` does: loaded by the runner (``load_from``), so the
    config's hooks see the load (EMAHook: the checkpoint's ``state_dict`` holds the averaged weights its training
    run evaluated), and refused unless every tensor fits the model (a checkpoint that does not fit would silently
    score a randomly initialised one); ``non_strict`` evaluates it anyway and lists what did not load."""
    cfg.load_from = checkpoint
    hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') != 'CheckpointMatchHook']
    cfg.custom_hooks = hooks + [dict(type='CheckpointMatchHook', strict=not non_strict, allow_unrelated=non_strict)]
    return cfg


def finish_distributed() -> None:
    """Leave the process group together: a gloo rank exiting while another still talks to it makes that
    one abort (SIGABRT) after the work is done."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()

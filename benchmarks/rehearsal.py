"""The paper-scale rehearsal: every config of the paper's Tables 1-7 trains a few iterations on a CPU, on fake
data in the official formats at the real image sizes, is tested with ``tools/test.py``, and is collected into
the tables by ``tools/reproduce_tables.py``, where it shows as a rehearsal, never as a number.

Why: no full-scale run fits this machine, yet each paper cell should be one command away. The rehearsal runs
each config through the real entry points (``benchmarks.launch``'s ``tools/train.py`` command, then
``tools/test.py``) with the real train and test pipelines and the real models (R-50 / Swin-B, 100 queries,
12544 points); only the overrides a CPU rehearsal needs are added, each as an explicit ``--cfg-options``
entry with its reason, and recorded: the fake data root, a few iterations, the batch size, no data workers,
random init where the config would download weights, one seed, the rehearsal marker
(``benchmarks.collect.REHEARSAL_KEY``) and the hook that records the shapes
(``tapps_mm.engine.InputShapesHook``). What the tools themselves change on a CPU (AMP -> fp32 in
``tools/train.py``, SyncBN -> BN in mmengine's single-process runner) is recorded beside them.

The record (``benchmarks/results/rehearsal.json``, written atomically after every config) holds per config
the table cells it serves, the iterations done, the image shape entering the train pipeline, the crop and
the batch tensor the model saw, the test shapes, the metric keys of the evaluation, the seconds of training
and testing, the overrides, and where the collection put it; each shape is checked against the paper's sizes.
A stopped rehearsal continues where it stopped: configs recorded complete with the same plan are skipped.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime

from benchmarks import REPO, config_stem, machine_info
from benchmarks.collect import (
    PREFIX,
    REHEARSAL_KEY,
    REQUIRED_KEYS,
    RunError,
    read_json,
    read_json_lines,
    read_run,
    run_starts,
)
from benchmarks.launch import LOCAL_THREADS, Job, command, git_commit, run_env, write_launch_file
from benchmarks.paper import CONFIG_ROWS
from tapps_mm.fileio import write_json_atomic

RECORD = osp.join('benchmarks', 'results', 'rehearsal.json')  # the committed record of the full rehearsal
ROOT = osp.join('work_dirs', 'rehearsal')
SMALL_ROOT = osp.join('work_dirs', 'rehearsal-small')
SEED = 0
PLAN_FILE = 'rehearsal_plan.json'  # in each config's work dir: the plan its files were made with
INPUT_SHAPES_FILE = 'input_shapes.json'  # tapps_mm.engine.hooks.input_shapes_hook writes it per start
NOT_A_RESULT = ('A rehearsal, not a result: paper configs for a few CPU iterations on fake data from random init. '
                'It shows that each paper cell is one command away (the real configs, pipelines, image sizes, '
                'models, entry points and collector); its metrics mean nothing and are never shown.')


@dataclass(frozen=True)
class DatasetSizes:
    """One dataset of the paper: the fake data that stands in for it, at the release's image size, and the
    sizes the paper trains and tests at (docs/fidelity.md), which the rehearsal checks."""
    writer: str  # the tapps_mm.testing.fake_datasets writer
    folder: str  # below <root>/data/
    image: tuple[int, int]  # (height, width) of the fake images: the release's typical size
    train_input: tuple[int, int]  # (height, width) of every training batch: the crop, padded
    test_short_long: tuple[int, int]  # test resize: shortest side, longest side at most


CITYSCAPES = DatasetSizes('write_fake_cityscapes_pp', 'cityscapes', (1024, 2048), (512, 1024), (1024, 2048))
PASCAL = DatasetSizes('write_fake_pascal_pp', 'pascal', (375, 500), (1024, 1024), (800, 1333))
DATASETS = {'cityscapes-pp': CITYSCAPES, 'pascal-pp': PASCAL, 'pascal-pp-107': PASCAL}


def scaled(value, factor: float):
    """A pipeline size (an int, or a tuple / list of them) times ``factor``, rounded; None for anything else
    (a ratio, a flag)."""
    if isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
        return None
    if isinstance(value, int):
        return max(1, round(value * factor))
    items = [scaled(v, factor) for v in value]
    return None if any(i is None for i in items) else type(value)(items)


def scaled_sizes(sizes: DatasetSizes, factor: float) -> DatasetSizes:
    """Every size times ``factor``: the fake images, and what the pipelines give when each of their sizes is
    multiplied by it."""
    return sizes if factor == 1 else replace(sizes, image=scaled(sizes.image, factor),
                                             train_input=scaled(sizes.train_input, factor),
                                             test_short_long=scaled(sizes.test_short_long, factor))


def expected_test_shape(sizes: DatasetSizes, image: tuple[int, int]) -> tuple[int, int]:
    """The (height, width) a test image of ``image`` size is resized to: shortest side to ``short`` unless the
    longest would pass ``long`` (mmcv's keep-ratio rescale, rounded as mmcv rounds)."""
    short, long = sizes.test_short_long
    scale = min(short / min(image), long / max(image))
    return int(image[0] * scale + 0.5), int(image[1] * scale + 0.5)


@dataclass(frozen=True)
class Plan:
    """What a rehearsal runs; a config recorded complete under another plan is run again."""
    configs: tuple[str, ...]  # config stems
    iters: int = 2
    batch_size: int = 1
    num_train: int = 2
    num_val: int = 1
    #: every size of the train and test pipelines times this (the small version only: 1 keeps the paper's)
    size_factor: float = 1.0

    def sizes(self, stem: str) -> DatasetSizes:
        """The sizes of a config's dataset under this plan."""
        return scaled_sizes(DATASETS[CONFIG_ROWS[stem].dataset], self.size_factor)

    def fingerprint(self) -> dict:
        """The settings a config's files depend on (the configs list and the jobs do not)."""
        return dict(iters=self.iters, batch_size=self.batch_size, num_train=self.num_train, num_val=self.num_val,
                    size_factor=self.size_factor,
                    images={k: list(scaled_sizes(DATASETS[k], self.size_factor).image) for k in sorted(DATASETS)})


def paper_configs() -> tuple[str, ...]:
    """Every config a row of the paper's Tables 1-7 names (``benchmarks.paper.CONFIG_ROWS``), the Swin-B ones
    first (each runs alone: :func:`heavy`), then two R-50 ones at a time."""
    return tuple(sorted(CONFIG_ROWS, key=lambda s: CONFIG_ROWS[s].backbone != 'Swin-B'))


#: the small version (``make test``, ``--small``): one Cityscapes-PP and one Pascal-PP config, one
#: iteration on one image, the fake images and every size of the pipelines divided by 4 (at the paper's sizes
#: one Cityscapes-PP evaluation alone takes a minute of one core). Between them the two
#: configs need every kind of override: load_from (COCO init) and SyncBN (Cityscapes-PP), a backbone
#: init_cfg and the baseline's head (Pascal-PP).
SMALL = Plan(configs=('tapps_r50-cocopan_4xb4-90k_cityscapes-pp', 'baseline_r50_4xb4-60k_pascal-pp'), iters=1,
             batch_size=1, num_train=1, num_val=1, size_factor=0.25)
FULL = Plan(configs=paper_configs())


def config_file(stem: str) -> str:
    """The repository-relative file of a paper config."""
    path = osp.join('configs', CONFIG_ROWS[stem].method, f'{stem}.py')
    if not osp.isfile(osp.join(REPO, path)):
        raise FileNotFoundError(f'{stem}: {path} does not exist (benchmarks/paper.py names it)')
    return path


def cells(stem: str) -> list[str]:
    """The paper's table cells a config serves, e.g. 'Table 3: compat train no / test no'."""
    return [f'Table {t}' + (f': {v}' if v else '') for t, v in CONFIG_ROWS[stem].variants.items()]


# ---------------------------------------------------------------------------------------------- overrides


@dataclass(frozen=True)
class Override:
    option: str  # as passed to --cfg-options
    why: str


def _dicts(node, path: str):
    """Every dict of a config tree with its dotted path, parents first."""
    if isinstance(node, dict):
        yield path, node
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        yield from _dicts(value, f'{path}.{key}')


def _pretrained(node, path: str) -> list[str]:
    """The dotted paths of every ``init_cfg`` that loads weights (``Pretrained``) below ``node``."""
    return [f'{p}.init_cfg' for p, d in _dicts(node, path)
            if isinstance(d.get('init_cfg'), dict) and d['init_cfg'].get('type') == 'Pretrained']


def overrides(cfg, plan: Plan, data_root: str) -> list[Override]:
    """The ``--cfg-options`` of a rehearsal of ``cfg`` (an mmengine Config), each with its reason. Nothing of
    the model or the schedule is touched, nor of the pipelines but in the small version (``size_factor``)."""
    out = [Override(f'{loader}.dataset.data_root={data_root}', 'fake data in the official layout')
           for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    out.append(Override(f'train_dataloader.batch_size={plan.batch_size}',
                        f'{plan.batch_size} image(s) per iteration on a CPU (the paper: 4 per GPU)'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        out += [Override(f'{loader}.num_workers=0', 'no data worker processes (one core per run)'),
                Override(f'{loader}.persistent_workers=False', 'needed with num_workers=0')]
    out.append(Override(f'train_cfg.max_iters={plan.iters}', f'{plan.iters} iteration(s) instead of '
                        f'{cfg.train_cfg.max_iters}'))
    out.append(Override('default_hooks.logger.interval=1', 'log every iteration (the default 50 logs none)'))
    if cfg.get('load_from'):
        out.append(Override('load_from=None', 'random init: the COCO-panoptic weights cannot be downloaded here'))
    out += [Override(f'{path}=None', 'random init: the ImageNet weights cannot be downloaded here')
            for path in _pretrained(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else cfg.model, 'model')]
    if plan.size_factor != 1:
        out += _scaled_pipelines(cfg, plan.size_factor)
    out.append(Override(f'+{REHEARSAL_KEY}=True', 'the rehearsal marker: the collector never shows a number for it'))
    out.append(Override('+default_hooks.input_shapes.type=InputShapesHook',
                        'records the image, crop and batch shapes the model saw'))
    return out


#: the keys of mmdet's / mmseg's / our transforms that hold a size in pixels
SIZE_KEYS = ('scale', 'scales', 'crop_size', 'target_size', 'size', 'max_size')


def _literal(value) -> str:
    """A value in ``--cfg-options`` syntax (mmengine's DictAction), without spaces."""
    if isinstance(value, tuple):
        return '(' + ','.join(map(_literal, value)) + ')'
    if isinstance(value, list):
        return '[' + ','.join(map(_literal, value)) + ']'
    return str(value)


def _scaled_pipelines(cfg, factor: float) -> list[Override]:
    """Every pixel size of the train / val / test pipelines times ``factor`` (the small version only)."""
    out = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for i, transform in enumerate(cfg[loader].dataset.pipeline):
            for key in SIZE_KEYS:
                value = scaled(transform.get(key), factor)
                if value is not None:
                    out.append(Override(f'{loader}.dataset.pipeline.{i}.{key}={_literal(value)}',
                                        f'the small version: {transform["type"]}.{key} x {factor}'))
    return out


def implicit_changes(cfg) -> list[str]:
    """What the tools change by themselves on one CPU process (recorded, not passed)."""
    out = []
    if (cfg.get('optim_wrapper') or {}).get('type') == 'AmpOptimWrapper':
        out.append('AMP -> fp32: tools/train.py trains in fp32 on a machine without a GPU')
    if 'SyncBN' in _norm_cfgs(cfg.model):
        out.append('SyncBN -> BN: mmengine reverts SyncBN layers when the run is not distributed')
    return out


def _norm_cfgs(node) -> set[str]:
    """The norm layer types a model config names (``norm_cfg=dict(type=...)`` anywhere)."""
    return {str(d['norm_cfg']['type']) for _, d in _dicts(node, 'model')
            if isinstance(d.get('norm_cfg'), dict) and 'type' in d['norm_cfg']}


# ---------------------------------------------------------------------------------------------- fake data


def write_data(root: str, plan: Plan, stream=sys.stdout) -> dict[str, str]:
    """The fake dataset of each dataset the plan's configs use, under ``<root>/data/`` (written when missing or
    made with other arguments). Returns dataset folder -> data root as the configs want it (trailing /)."""
    from tapps_mm.testing import fake_datasets
    roots: dict[str, str] = {}
    for sizes in {plan.sizes(s) for s in plan.configs}:
        path = osp.join(root, 'data', sizes.folder)
        args = dict(num_train=plan.num_train, num_val=plan.num_val, size=list(sizes.image), seed=SEED)
        stamp = osp.join(REPO, path, 'rehearsal_data.json')
        if not (osp.isfile(stamp) and read_json(stamp) == args):
            shutil.rmtree(osp.join(REPO, path), ignore_errors=True)
            t0 = time.monotonic()
            getattr(fake_datasets, sizes.writer)(osp.join(REPO, path), num_train=plan.num_train,
                                                 num_val=plan.num_val, size=sizes.image, seed=SEED)
            write_json_atomic(args, stamp)
            stream.write(f'[rehearsal] fake {sizes.folder} data: {plan.num_train} train + {plan.num_val} val images of '
                         f'{sizes.image[0]}x{sizes.image[1]} in {path} ({time.monotonic() - t0:.0f} s)\n')
        roots[sizes.folder] = path.rstrip('/') + '/'
    return roots


def option_key(option: str) -> str:
    """'train_cfg.max_iters=2' -> 'train_cfg.max_iters' (what the record's reasons are keyed by)."""
    return option.split('=', 1)[0]


def compact_json(obj) -> str:
    """JSON with one line per key, but each list of plain values (a shape, the metric keys) on one line."""
    text = json.dumps(obj, indent=1, allow_nan=False)
    return re.sub(r'\[\n\s*([^\[\]{}]*?)\n\s*\]',
                  lambda m: '[' + ', '.join(x.strip() for x in m.group(1).split(',\n')) + ']', text) + '\n'


# ---------------------------------------------------------------------------------------------- one config


@dataclass
class Commands:
    """The two commands of one config and their work dirs (paths as given: repository-relative by default)."""
    train: list[str]
    test: list[str]
    train_dir: str
    test_dir: str
    checkpoint: str


def commands(stem: str, plan: Plan, root: str, options: list[str], python: str = sys.executable) -> Commands:
    """Train with ``benchmarks.launch``'s local command (``tools/train.py ... --resume``), then test the final
    checkpoint with ``tools/test.py``, both with the rehearsal's options."""
    work = osp.join(root, stem)
    train_dir, test_dir = osp.join(work, 'train'), osp.join(work, 'test')
    job = Job(config_file(stem), SEED, train_dir, tuple(options))
    checkpoint = osp.join(train_dir, f'iter_{plan.iters}.pth')
    test = [python, osp.join(REPO, 'tools', 'test.py'), job.config, checkpoint, '--work-dir', test_dir,
            '--cfg-options', f'+randomness.seed={SEED}', *options]
    return Commands(command(job, 'local', python=python), test, train_dir, test_dir, checkpoint)


def shown(cmd: list[str]) -> str:
    """A command as the record shows it: no path of this machine."""
    return shlex.join(cmd).replace(sys.executable, 'python').replace(REPO + os.sep, '')


def _segments(work_dir: str) -> list[str]:
    """The ``<ts>`` folders of a work dir (collect's rule), as paths; none if the run never started."""
    return [osp.join(work_dir, ts) for ts in run_starts(work_dir)] if osp.isdir(work_dir) else []


def read_shapes(work_dir: str) -> dict[str, list[dict]]:
    """The batches InputShapesHook recorded in a work dir, per phase; a resumed run's starts are merged (the
    latest record of a training iteration wins)."""
    merged: dict[str, dict] = {'train': {}, 'val': {}, 'test': {}}
    for segment in _segments(work_dir):
        path = osp.join(segment, INPUT_SHAPES_FILE)
        if not osp.isfile(path):
            continue
        for phase, batches in read_json(path).items():
            for i, batch in enumerate(batches):
                key = batch['iter'] if phase == 'train' else (batch['iter'], i)
                merged.setdefault(phase, {})[key] = batch
    return {phase: [found[k] for k in sorted(found)] for phase, found in merged.items()}


def iteration_times(work_dir: str) -> list[float]:
    """mmengine's ``time`` of every training iteration logged (seconds, the latest start's per step)."""
    steps: dict[int, float] = {}
    for segment in _segments(work_dir):
        path = osp.join(segment, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            steps.update({int(r['step']): round(float(r['time']), 2) for r in read_json_lines(path)
                          if 'iter' in r and 'time' in r})
    return [steps[k] for k in sorted(steps)]


def metric_keys_of_test(work_dir: str) -> list[str]:
    """The metric keys of the latest ``tools/test.py`` result in ``work_dir`` (``<ts>/<ts>.json``)."""
    for segment in reversed(_segments(work_dir)):
        path = osp.join(segment, osp.basename(segment) + '.json')
        if osp.isfile(path):
            return sorted(k for k in read_json(path) if k.startswith(PREFIX))
    return []


def _hw(shape) -> list[int]:
    return [int(x) for x in list(shape)[-2:]] if shape else []


def check_shapes(sizes: DatasetSizes, shapes: dict[str, list[dict]], plan: Plan) -> list[str]:
    """What differs from the paper's sizes (``sizes``: the plan's; empty when all match): the images as loaded,
    the training batch (the crop, padded: batch_size x 3 x crop), the test resize and the number of batches."""
    problems = []
    image = list(sizes.image)
    train, test = shapes.get('train', []), shapes.get('test', [])
    if len(train) != plan.iters:
        problems.append(f'{len(train)} training batches recorded, {plan.iters} planned')
    for batch in train:
        want = [plan.batch_size, 3, *sizes.train_input]
        if batch['inputs'] != want:
            problems.append(f'iteration {batch["iter"]}: batch {batch["inputs"]}, the paper\'s crop gives {want}')
        problems += [f'iteration {batch["iter"]}: image entered the pipeline as {_hw(s.get("ori_shape"))}, the '
                     f'fake image is {image}' for s in batch['samples'] if _hw(s.get('ori_shape')) != image]
    if len(test) != plan.num_val:
        problems.append(f'{len(test)} test batches recorded, {plan.num_val} val image(s) written')
    want_test = list(expected_test_shape(sizes, sizes.image))
    for batch in test:
        problems += [f'test: image resized to {_hw(s.get("img_shape"))}, the paper\'s test size gives {want_test}'
                     for s in batch['samples'] if _hw(s.get('img_shape')) != want_test]
    return problems


def _summary(batches: list[dict]) -> list[dict]:
    """The recorded batches for the record, compact: the batch tensor ('1x3x512x1024') and per sample the image
    as it entered the pipeline (``ori_shape``), after it (``img_shape``) and padded into the batch, 'HxW'."""
    def sample(s: dict) -> dict:
        out = {k: _fmt(_hw(s.get(k))) for k in ('ori_shape', 'img_shape', 'batch_input_shape') if k in s}
        if 'scale_factor' in s:
            out['scale_factor'] = [round(float(x), 3) for x in s['scale_factor']]
        return out | ({'flip': s['flip']} if 'flip' in s else {})
    return [{'iter': b['iter'], 'inputs': _fmt(b['inputs']), 'samples': [sample(s) for s in b['samples']]}
            for b in batches]


class Processes:
    """The child processes running now, so that an interrupted rehearsal stops them (no orphan trainings)."""

    def __init__(self) -> None:
        self._lock, self._procs, self._stopped = threading.Lock(), set(), False

    def run(self, cmd: list[str], log: str, env: dict) -> tuple[int, dict]:
        """Run ``cmd`` (output to ``log``); its exit status and its wall seconds, CPU seconds and peak memory
        (from the kernel's accounting of that child: a busy machine slows the wall time, not the CPU time)."""
        t0 = time.monotonic()
        with open(log, 'ab') as out:
            with self._lock:
                if self._stopped:  # the rehearsal was interrupted: start nothing more
                    raise InterruptedError('the rehearsal was stopped')
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env, cwd=REPO)
                self._procs.add(proc)
            try:
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            finally:
                with self._lock:
                    self._procs.discard(proc)
        return proc.returncode, dict(seconds=round(time.monotonic() - t0, 1),
                                     cpu_seconds=round(usage.ru_utime + usage.ru_stime, 1),
                                     peak_rss_mb=round(usage.ru_maxrss / 1024))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            procs = list(self._procs)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


def rehearse_config(stem: str, plan: Plan, root: str, data_roots: dict[str, str], procs: Processes,
                    keep_checkpoints: bool = False) -> dict:
    """Train, test and read back one config; returns its record entry (``status`` 'complete' only when both
    ran, the evaluation has every metric key and the shapes were recorded)."""
    from mmengine.config import Config
    sizes = plan.sizes(stem)
    path = config_file(stem)
    cfg = Config.fromfile(osp.join(REPO, path))
    applied = overrides(cfg, plan, data_roots[sizes.folder])
    options = [o.option for o in applied]
    cmds = commands(stem, plan, root, options)
    work = osp.dirname(cmds.train_dir)
    stamp = osp.join(REPO, work, PLAN_FILE)
    if osp.isdir(osp.join(REPO, work)) and not (osp.isfile(stamp) and read_json(stamp) == plan.fingerprint()):
        shutil.rmtree(osp.join(REPO, work))  # made under another plan: start this config again
    os.makedirs(osp.join(REPO, work), exist_ok=True)
    write_json_atomic(plan.fingerprint(), stamp)
    rows = CONFIG_ROWS[stem]
    entry = dict(config=path, cells=cells(stem), dataset=rows.dataset, backbone=rows.backbone,
                 pretraining=rows.pretraining, method=rows.method, status='running', commit=git_commit(),
                 date=datetime.now().isoformat(timespec='seconds'),
                 overrides=[o.option for o in applied], implicit=implicit_changes(cfg),
                 reasons={option_key(o.option): o.why for o in applied},
                 commands={'train': shown(cmds.train), 'test': shown(cmds.test)})
    env = run_env(LOCAL_THREADS)
    usage_file = osp.join(REPO, work, 'train_usage.json')
    if osp.isfile(osp.join(REPO, cmds.checkpoint)) and osp.isfile(usage_file):
        train = read_json(usage_file)  # trained by an earlier call that stopped before the test
    else:
        write_launch_file(Job(path, SEED, osp.join(REPO, cmds.train_dir)), cmds.train)
        code, train = procs.run(cmds.train, osp.join(REPO, work, 'train.log'), env)
        write_json_atomic(train, usage_file)
        if code:
            return {**entry, 'status': f'failed: training exited with {code} (see {osp.join(work, "train.log")})',
                    'train': train}
    shapes = read_shapes(osp.join(REPO, cmds.train_dir))
    times = iteration_times(osp.join(REPO, cmds.train_dir))
    train.update(iters=len(times), iter_seconds=times, batches=_summary(shapes['train']),
                 val_batches=_summary(shapes['val']))
    try:
        train['collected_as'] = read_run(osp.join(REPO, cmds.train_dir)).status
    except RunError as e:
        train['collected_as'] = f'error: {e}'
    write_launch_file(Job(path, SEED, osp.join(REPO, cmds.test_dir)), cmds.test)
    code, usage = procs.run(cmds.test, osp.join(REPO, work, 'test.log'), env)
    test_shapes = read_shapes(osp.join(REPO, cmds.test_dir))
    test = dict(**usage, batches=_summary(test_shapes['test']),
                metric_keys=metric_keys_of_test(osp.join(REPO, cmds.test_dir)))
    entry.update(train=train, test=test)
    if code:
        return {**entry, 'status': f'failed: test exited with {code} (see {osp.join(work, "test.log")})'}
    try:
        test['collected_as'] = read_run(osp.join(REPO, cmds.test_dir)).status
    except RunError as e:
        test['collected_as'] = f'error: {e}'
    if not keep_checkpoints:  # 0.5-1.3 GB each, and the record is what is kept
        for ckpt in glob.glob(osp.join(REPO, cmds.train_dir, '*.pth')):
            os.remove(ckpt)
    missing = [PREFIX + k for k in REQUIRED_KEYS if PREFIX + k not in test['metric_keys']]
    entry['checks'] = check_shapes(sizes, {'train': shapes['train'], 'test': test_shapes['test']}, plan)
    if missing:
        entry['status'] = f'failed: the evaluation lacks {missing}'
    elif train['iters'] != plan.iters:
        entry['status'] = f'failed: {train["iters"]} iteration(s) logged, {plan.iters} planned'
    else:
        entry['status'] = 'complete'
    return entry


def heavy(stem: str) -> bool:
    """A config that runs alone: a Swin-B training at the paper's sizes peaks at 14 GB (Pascal-PP, 1024x1024)
    on one CPU process (measured: the record's peak_rss_mb), so nothing else may start beside it on a 24 GB
    machine that other work shares."""
    return CONFIG_ROWS[stem].backbone == 'Swin-B'


def next_config(pending: list[str], running: list[str]) -> str | None:
    """The first pending config that may start beside ``running``: nothing beside a heavy one."""
    if any(map(heavy, running)):
        return None
    return next((s for s in pending if not (heavy(s) and running)), None)


def progress_line(stem: str, entry: dict, done: int, total: int, eta_s: float | None) -> str:
    """One line per config: what it saw and how long it took."""
    train, test = entry.get('train', {}), entry.get('test', {})
    batch = (train.get('batches') or [{}])[0]
    sample = (batch.get('samples') or [{}])[0]
    what = (f'image {sample.get("ori_shape", "?")} -> batch {batch.get("inputs", "?")}, '
            f'{train.get("iters", 0)} it in {train.get("seconds", 0):.0f} s; test {len(test.get("batches", []))} '
            f'image(s) in {test.get("seconds", 0):.0f} s, {len(test.get("metric_keys", []))} metric keys')
    checks = entry.get('checks') or []
    status = entry['status'] + (f'; {len(checks)} size check(s) FAILED: {checks[0]}' if checks else '')
    eta = f' | ETA {eta_s / 60:.0f} min' if eta_s is not None else ''
    return f'[rehearsal] {done}/{total} {stem}: {status} | {what}{eta}'


def _fmt(shape) -> str:
    return 'x'.join(map(str, shape)) if shape else '?'


# ---------------------------------------------------------------------------------------------- the record


def load_record(path: str) -> dict:
    return read_json(path) if osp.isfile(path) else {}


def todo(plan: Plan, record: dict, force: bool) -> list[str]:
    """The plan's configs not yet recorded complete under the same plan (all of them with ``force``)."""
    if force or record.get('plan') != plan.fingerprint():
        return list(plan.configs)
    done = record.get('configs', {})
    return [s for s in plan.configs if done.get(s, {}).get('status') != 'complete']


def collect_tables(root: str, stems: list[str], out: str, stream=sys.stdout) -> dict:
    """Collect the rehearsal's work dirs with ``tools/reproduce_tables.py`` (the real command, into ``out``) and
    read back where each config landed: per config its table rows and their status. No cell may hold a
    number (``n`` is 0 everywhere); the record says so."""
    import pandas as pd
    dirs = [osp.join(root, s) for s in stems if osp.isdir(osp.join(REPO, root, s))]
    cmd = [sys.executable, osp.join(REPO, 'tools', 'reproduce_tables.py'), '--work-dirs', *dirs, '--tables',
           *tables_of(stems), '--out', out]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=run_env(), capture_output=True, text=True)
    result = dict(command=shown(cmd), exit=proc.returncode, seconds=round(time.monotonic() - t0, 1), configs={})
    if proc.returncode:
        stream.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        return result
    results = pd.read_csv(osp.join(REPO, out, 'results.csv'), dtype={'table': str, 'variant': str}).fillna(
        {'variant': ''})
    with open(osp.join(REPO, out, 'tables.md')) as f:
        result['tables_marked'] = 'REHEARSAL' in f.read()
    for stem in stems:
        part = results[results.config == stem].drop_duplicates(['table', 'variant'])
        result['configs'][stem] = [dict(table=r.table, row=r.method + (f' ({r.variant})' if r.variant else ''),
                                        status=r.status) for _, r in part.iterrows()]
    result['numbers_shown'] = int((results.n > 0).sum())
    return result


def tables_of(stems: list[str]) -> list[str]:
    return sorted({t for s in stems for t in CONFIG_ROWS[s].variants}, key=lambda t: (int(t[0]), t))


def run(plan: Plan, root: str = ROOT, record_path: str = RECORD, jobs: int = 2, force: bool = False,
        keep_checkpoints: bool = False, command_line: str = 'python tools/rehearse.py', stream=sys.stdout,
        dry_run: bool = False) -> int:
    """The rehearsal (see the module docstring). Returns 0 when every config is complete, its sizes match
    the paper's and the collection marked it without a number; 1 otherwise."""
    record = load_record(osp.join(REPO, record_path))
    if force or record.get('plan') != plan.fingerprint():
        record = {}
        if force and osp.isdir(osp.join(REPO, root)):
            for stem in plan.configs:
                shutil.rmtree(osp.join(REPO, root, stem), ignore_errors=True)
    pending = todo(plan, record, force)
    for stem in plan.configs:
        stream.write(f'[rehearsal] {stem}: {"start" if stem in pending else "skip (recorded complete)"}\n')
    if dry_run:
        from mmengine.config import Config
        for stem in pending:
            cfg = Config.fromfile(osp.join(REPO, config_file(stem)))
            data_root = osp.join(root, 'data', plan.sizes(stem).folder) + '/'
            cmds = commands(stem, plan, root, [o.option for o in overrides(cfg, plan, data_root)])
            stream.write(shown(cmds.train) + '\n' + shown(cmds.test) + '\n')
        return 0
    t_start = time.monotonic()
    data_roots = write_data(root, plan, stream)
    record.update(what=NOT_A_RESULT, command=command_line, plan=plan.fingerprint(), machine=machine_info()['machine'],
                  threads_per_run=LOCAL_THREADS, jobs=jobs, commit=git_commit(),
                  date=datetime.now().isoformat(timespec='seconds'),
                  data={s.folder: dict(image=list(s.image), train_input=list(s.train_input),
                                       test_short_long=list(s.test_short_long))
                        for s in {plan.sizes(c) for c in plan.configs}})
    record.setdefault('configs', {})
    procs = Processes()
    finished: list[float] = []

    def save() -> None:
        """The record, atomically, configs in the plan's order, without a path of this checkout."""
        ordered = {s: record['configs'][s] for s in plan.configs if s in record['configs']}
        record['configs'] = ordered
        for key in ('seconds', 'cpu_seconds'):
            record[f'config_{key}'] = round(sum(e.get(p, {}).get(key, 0) for e in ordered.values()
                                                for p in ('train', 'test')), 1)
        reasons = record.setdefault('override_reasons', {})
        for entry in ordered.values():
            reasons.update(entry.pop('reasons', {}))
        record['override_reasons'] = dict(sorted(reasons.items()))
        from tapps_mm.fileio import write_text_atomic
        write_text_atomic(compact_json(record).replace(REPO + os.sep, ''), osp.join(REPO, record_path))

    def one(stem: str) -> tuple[str, dict, float]:
        t0 = time.monotonic()
        try:
            entry = rehearse_config(stem, plan, root, data_roots, procs, keep_checkpoints)
        except Exception as e:  # one config's failure is recorded; the others go on
            entry = dict(config=stem, cells=cells(stem), status=f'failed: {type(e).__name__}: {e}')
        return stem, entry, time.monotonic() - t0

    total = len(plan.configs)
    done = total - len(pending)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures: dict[Future, str] = {}
        while pending or futures:
            while len(futures) < max(1, jobs) and (stem := next_config(pending, list(futures.values()))):
                pending.remove(stem)
                futures[pool.submit(one, stem)] = stem
            finished_now, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished_now:
                del futures[future]
                stem, entry, seconds = future.result()
                finished.append(seconds)
                done += 1
                left = total - done
                eta = sum(finished) / len(finished) * left / max(1, jobs) if left else None
                record['configs'][stem] = entry
                save()
                stream.write(progress_line(stem, entry, done, total, eta) + '\n')
                stream.flush()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        procs.stop()
        raise
    pool.shutdown()
    record['elapsed_s_last_call'] = round(time.monotonic() - t_start, 1)
    stems = [s for s in plan.configs if record['configs'].get(s, {}).get('status') == 'complete']
    collection = collect_tables(root, stems, osp.join(root, 'tables'), stream) if stems else {}
    for stem in stems:
        record['configs'][stem]['collected'] = collection.get('configs', {}).get(stem, [])
    record['collection'] = {k: v for k, v in collection.items() if k != 'configs'}
    save()
    failed = [s for s in plan.configs if record['configs'].get(s, {}).get('status') != 'complete']
    checks = [s for s in stems if record['configs'][s].get('checks')]
    unmarked = [s for s in stems if not all(c['status'].startswith('rehearsal')
                                            for c in record['configs'][s].get('collected') or [{'status': ''}])]
    stream.write(f'[rehearsal] {len(stems)}/{total} configs complete: {record["config_seconds"] / 60:.1f} min of runs '
                 f'({record["config_cpu_seconds"] / 60:.1f} CPU min), {record["elapsed_s_last_call"] / 60:.1f} min '
                 'this call; collected by '
                 f'{collection.get("command", "nothing")} (exit {collection.get("exit")}, '
                 f'{collection.get("numbers_shown", "?")} numbers shown); record: {record_path}\n')
    for what, stems_ in (('not complete', failed), ('sizes differ from the paper\'s', checks),
                         ('not marked as rehearsal in the tables', unmarked)):
        if stems_:
            stream.write(f'[rehearsal] {what}: {", ".join(stems_)}\n')
    ok = not (failed or checks or unmarked or collection.get('exit') or collection.get('numbers_shown'))
    return 0 if ok else 1


def main(args: argparse.Namespace) -> int:
    """The command (see ``tools/rehearse.py`` for the flags)."""
    plan = SMALL if args.small else FULL
    if args.configs:
        known = {config_stem(c) for c in args.configs}
        unknown = sorted(known - set(CONFIG_ROWS))
        if unknown:
            raise SystemExit(f'not paper configs (benchmarks/paper.py CONFIG_ROWS): {unknown}')
        plan = replace(plan, configs=tuple(s for s in paper_configs() if s in known))
    for name in ('iters', 'batch_size', 'num_train', 'num_val'):
        if getattr(args, name, None):
            plan = replace(plan, **{name: getattr(args, name)})
    root = args.root or (SMALL_ROOT if args.small else ROOT)
    record = args.record or (osp.join(root, 'rehearsal.json') if args.small or args.root else RECORD)
    line = 'python tools/rehearse.py' + (' ' + shlex.join(args.argv) if args.argv else '')
    return run(plan, root, record, args.jobs, args.force, args.keep_checkpoints, line, dry_run=args.dry_run)


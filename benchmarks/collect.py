"""Work dirs -> run records: read what mmengine itself wrote in each run's work dir (nothing is re-logged).

A work dir of ``tools/train.py`` / ``dist_train.sh`` / ``slurm_train.sh`` holds the config the run used
(dumped as ``<work_dir>/<config name>.py``, and per start as ``<ts>/vis_data/config.py``) and one
``<ts>/`` folder per start (a resumed run opens a new one): ``<ts>/vis_data/scalars.json`` (JSON lines:
training lines with ``iter`` and the losses, evaluation lines with the metric keys, prefixed ``pps/``)
and ``<ts>/<ts>.log`` (text, with the seed and the world size). A ``tools/test.py`` work dir has
``<ts>/<ts>.json`` (one JSON object) instead, and ``--out DIR`` inside it adds ``pps_results.json``.
The per-image statistics of the final evaluation (``tapps_mm.engine.PerImageStatsHook``) are
``per_image_stats/iter_<max_iters>.npz`` of a training run and ``<ts>/per_image_stats.npz`` of a test;
runs made before they were kept have none (the image-resampling statistics are then left empty).

The dumped config is read as data (Python's parser, no line of it runs: work dirs are copied from clusters and
colleagues), so it may hold only the ``name = <literal or dict(...)>`` lines mmengine writes.

A rehearsal run (``benchmarks/rehearsal.py``: a paper config for a few CPU iterations on fake data) carries
``rehearsal = True`` in its dumped config (passed as ``--cfg-options +rehearsal=True``, so the marker travels
with the work dir). Its evaluation is read and checked like any other, but its record never holds a number: the
status says ``rehearsal: ...`` (never ``complete``), so no table, aggregate or published file can show it.

The record of a run: its config stem (from the dumped config, not the folder name), seed
(``randomness.seed``, else the seed in the log), status (``complete`` only when the evaluation at
``max_iters`` exists, else ``incomplete k/N``), the metrics of that final evaluation (fractions, as the
metric reports them, without the prefix), world size x batch, wall time and the versions in the log.
Bad input raises :class:`RunError` naming the file (and the key or line).

The final evaluation (of a training run or of a test) is checked before it can count: each value must be a
real number (not a bool, a string or a list) or null. NaN and null are an empty cell (a required key that is
NaN or null fails the run: ``failed: PartPQ not finite in <file>``). Infinity is never a metric. The keys of
``benchmarks.paper.METRIC_KEYS`` and the other averages ``PartPQEvaluator.summarize`` reports (PartPQ / SQ /
RQ, PQ / SQ / RQ, mIoU, each with its suffixes) are fractions in [0, 1]; the counts beside them
(``obj_without_conflicts_n``, ``n``, ``num_images``, ...) are integers >= 0 (``12.0`` counts as 12, as a
float-valued logger may write it). A key the collector does not know (another metric's, a per-class one)
need only be a finite real number: its range is not known here. A bad value fails the run, ``failed: <key> =
<value as in the file> is not ... in <file>``, so it is listed with the reason and never enters a table.

Work dirs are walked following links to folders (a run copied elsewhere and linked in is found), but each real
folder is entered once, so a walk always ends: a link back into a folder already walked (a loop) is skipped,
and a run reached two ways counts once (named by its real path when the real tree holds it).
"""
from __future__ import annotations

import ast
import glob
import json
import math
import os
import os.path as osp
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from benchmarks import config_stem
from benchmarks.paper import METRIC_KEYS
from tapps_mm.evaluation.per_image import TEST_FILE, val_file
from tapps_mm.evaluation.prediction_folder import PredictionFolderError, verify

PREFIX = 'pps/'  # PartPQMetric's default_prefix
#: may be absent from scalars.json: None when no object of a parts class was predicted (mmengine logs
#: only scalars, so a None metric is left out of scalars.json; test results keep it as null)
OPTIONAL_KEYS = frozenset({'obj_without_conflicts'})
REQUIRED_KEYS = tuple(k for k in METRIC_KEYS.values() if k not in OPTIONAL_KEYS)
#: the fractions PartPQMetric reports (``PartPQEvaluator.summarize``): each in [0, 1]
FRACTION_KEYS = frozenset(METRIC_KEYS.values()) | {
    q + s for q in ('PartPQ', 'PartSQ', 'PartRQ') for s in ('', '_parts', '_noparts')} | {
    q + s for q in ('PQ', 'SQ', 'RQ') for s in ('', '_th', '_st')} | {'mIoU', 'mIoU_th', 'mIoU_st', 'mIoU_parts'}
#: the counts it reports beside them: each an integer >= 0
COUNT_KEYS = frozenset({'obj_without_conflicts_n', 'n', 'n_p', 'n_np', 'num_images'})
RESULTS_FILE = 'pps_results.json'  # tools/test.py --out DIR: the metric's own keys (and the per-class table)
_TS = re.compile(r'^\d{8}_\d{6}$')
_LOG_TIME = re.compile(r'^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) - ', re.M)
_VERSIONS = ('Python', 'PyTorch', 'TorchVision', 'OpenCV', 'MMEngine', 'MMCV', 'MMDetection')
LAUNCH_FILE = 'reproduce_launch.json'  # written by benchmarks.launch when it launches a run (commit, machine)
#: the top-level config key that marks a rehearsal run (see the module docstring)
REHEARSAL_KEY = 'rehearsal'
REHEARSAL_STATUS = 'rehearsal'  # the first word of every rehearsal run's status
RECORD_COLUMNS = ['config', 'seed', 'status', 'iters', 'max_iters', 'work_dir']
_PROVENANCE = ['per_image', 'source', 'world_size_x_batch', 'wall_s', 'timestamps', 'last_start', 'commit',
               'versions', 'machine', 'rehearsal']


class RunError(ValueError):
    """A work dir that cannot be read as a run; the message names the file."""


@dataclass
class Run:
    """One run, as read from its work dir."""
    config: str
    seed: int | None
    status: str
    iters: int | None
    max_iters: int | None
    work_dir: str
    source: str  # 'train' (final validation of a training run) or 'test' (tools/test.py)
    metrics: dict[str, float | None] = field(default_factory=dict)  # final evaluation, fractions; {} if none
    world_size: int | None = None
    batch_size: int | None = None
    wall_s: float | None = None
    commit: str = ''
    versions: str = ''
    machine: str = ''
    timestamps: int = 0
    last_start: str = ''  # the newest <ts> folder name (YYYYmmdd_HHMMSS)
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # 'loss', 'PartPQ': (iter, value)
    per_image: str = ''  # the final evaluation's per-image statistics, relative to work_dir; '' if not kept
    rehearsal: bool = False  # a rehearsal run: marked, never a number (see the module docstring)

    @property
    def complete(self) -> bool:
        return self.status == 'complete'

    def record(self) -> dict:
        """The row of ``runs.csv``: the fixed columns, the metric keys, then the provenance."""
        ws = f'{self.world_size}x{self.batch_size}' if self.world_size and self.batch_size else ''
        row = dict(config=self.config, seed=self.seed, status=self.status, iters=self.iters,
                   max_iters=self.max_iters, work_dir=self.work_dir)
        row.update(self.metrics)
        row.update(per_image=self.per_image, source=self.source, world_size_x_batch=ws, wall_s=self.wall_s,
                   timestamps=self.timestamps, last_start=self.last_start, commit=self.commit,
                   versions=self.versions, machine=self.machine, rehearsal=self.rehearsal)
        return row


# ---------------------------------------------------------------------------------------------- reading


def read_json_lines(path: str) -> list[dict]:
    """The records of a ``scalars.json``; a line that is not a JSON object with ``step`` raises RunError.

    Only the last line may be cut short, when it has no line end: a run killed while mmengine wrote it
    (the kill-safe resume must not leave a folder that can never be collected again). That line is left
    out with a warning; a bad line anywhere else is corruption and an error."""
    records = []
    try:
        with open(path) as f:
            lines = f.readlines()
    except ValueError as e:  # not UTF-8 text
        raise RunError(f'{path}: not a text file ({e})') from None
    for num, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if num == len(lines) and not line.endswith('\n'):
                warnings.warn(f'{path}, line {num}: cut short (the run was killed while logging); left out')
                break
            raise RunError(f'{path}, line {num}: truncated or corrupt JSON line ({e.msg}): {line[:80]!r}') from None
        except (ValueError, RecursionError) as e:  # an integer too long to convert, nesting too deep
            raise RunError(f'{path}, line {num}: unreadable JSON line ({type(e).__name__}: {e})') from None
        if not isinstance(record, dict) or 'step' not in record:
            raise RunError(f'{path}, line {num}: not an mmengine scalar record (no "step"): {line[:80]!r}')
        _check_step(record['step'], path, num)
        records.append(record)
    return records


def _check_step(step, path: str, num: int) -> None:
    """A step is an iteration (or epoch): merging and the status use it as an int, so refuse anything else here,
    where the line is known (``"abc"``, ``true``, ``1e400``, which JSON reads as infinity)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise RunError(f'{path}, line {num}: step = {_show(step)} is not an iteration (an integer >= 0)')


def _show(value) -> str:
    """A value of a JSON file as it is written there, cut short for a message."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + '...'


def read_json(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise RunError(f'{path}: corrupt JSON ({e.msg} at line {e.lineno})') from None
    except (ValueError, RecursionError) as e:  # not UTF-8, an integer too long to convert, nesting too deep
        raise RunError(f'{path}: unreadable JSON ({type(e).__name__}: {e})') from None
    if not isinstance(data, dict):
        raise RunError(f'{path}: expected one JSON object')
    return data


def _is_eval(record: dict) -> bool:
    return any(k.startswith(PREFIX) for k in record)


def _is_train(record: dict) -> bool:
    return not _is_eval(record) and ('iter' in record or any(k.startswith('loss') for k in record))


def merge_by_step(segments: list[list[dict]]) -> list[dict]:
    """One record per step from the segments of a resumed run, oldest segment first: the latest wins
    (a resumed run repeats the steps after its checkpoint), sorted by step."""
    merged: dict[int, dict] = {}
    for records in segments:
        for record in records:
            merged[int(record['step'])] = record
    return [merged[s] for s in sorted(merged)]


def eval_iterations(records: list[dict], by_epoch: bool, val_interval: int, max_iters: int) -> list[dict]:
    """The evaluation records of one scalars.json with their iteration in ``step``.

    Why: mmengine's LoggerHook logs evaluations with the *epoch* as step unless it is built with
    ``log_metric_by_epoch=False`` (our default_runtime sets it; older runs did not), and the epoch of an
    iteration-based loop is 0. Then the iteration is the first multiple of ``val_interval`` at or after
    the last training line before the evaluation (capped at ``max_iters``, where the loop always
    evaluates)."""
    out, last_train = [], 0
    for record in records:
        if _is_train(record):
            last_train = int(record['step'])
        elif _is_eval(record):
            if by_epoch:
                step = min(max_iters, -(-max(last_train, 1) // val_interval) * val_interval)
                record = {**record, 'step': step}
            out.append(record)
    return out


def _finite(value) -> float | None:
    """A checked metric value (see :func:`_metric_problem`), None for null / NaN (the table leaves it empty)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _metric_problem(key: str, value) -> str:
    """Why ``value`` cannot be the metric ``key`` ('' when it can): the rules of the module docstring."""
    if value is None:
        return ''
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 'not a real number'
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return 'not finite'
    if key in COUNT_KEYS:
        return '' if number.is_integer() and number >= 0 else 'not a count (an integer >= 0)'
    if math.isnan(number):  # an empty cell (a required key fails the run as not finite)
        return ''
    if math.isinf(number):
        return 'not finite'
    if key in FRACTION_KEYS and not 0 <= number <= 1:
        return 'not a fraction in [0, 1]'
    return ''


def _metrics(record: dict, path: str, prefixed: bool = True) -> dict:
    """The metric keys of an evaluation record (prefix stripped), as written; RunError if a required key is
    missing."""
    prefix = PREFIX if prefixed else ''
    found = {k[len(prefix):]: v for k, v in record.items() if k.startswith(prefix) and k != 'step'}
    if not prefixed:  # pps_results.json: the metric's own keys; drop the per-class table
        found.pop('per_class', None)
    missing = [prefix + k for k in REQUIRED_KEYS if k not in found]
    if missing:
        raise RunError(f'{path}: metric key(s) {missing} missing from the evaluation at step {record.get("step")}')
    return found


def _final_metrics(record: dict, path: str, prefixed: bool = True) -> tuple[dict[str, float | None], str]:
    """The metrics of a run's final evaluation and '', or {} and the ``failed: ...`` status that says which
    value cannot be a metric (an impossible value fails the run; it is never averaged or tabled)."""
    found = _metrics(record, path, prefixed)
    bad = [f'{k} = {_show(v)} is {why}' for k, v in found.items() if (why := _metric_problem(k, v))]
    if bad:
        more = f' (and {len(bad) - 3} more)' if len(bad) > 3 else ''
        return {}, f'failed: {", ".join(bad[:3])}{more} in {path}'
    metrics = {k: _finite(v) for k, v in found.items()}
    nan = [k for k in REQUIRED_KEYS if metrics.get(k) is None]
    if nan:  # a diverged run: not a number to average, and the table says so
        return {}, f'failed: {", ".join(nan)} not finite in {path}'
    return metrics, ''


def _log_facts(text: str) -> dict:
    """Seed, world size, versions and the first / last time stamp of an mmengine ``<ts>.log``."""
    facts: dict = {}
    m = re.search(r'^\s+seed: (\d+)\s*$', text, re.M)
    if m:
        facts['seed'] = int(m[1])
    m = re.search(r'^\s+GPU number: (\d+)\s*$', text, re.M)
    if m:
        facts['world_size'] = int(m[1])
    versions = []
    for name in _VERSIONS:
        m = re.search(rf'^\s+{name}: (\S+)', text, re.M)
        if m:
            versions.append(f'{name} {m[1]}')
    facts['versions'] = ', '.join(versions)
    times = _LOG_TIME.findall(text)
    if times:
        first, last = (datetime.strptime(t, '%Y/%m/%d %H:%M:%S') for t in (times[0], times[-1]))
        facts['wall_s'] = (last - first).total_seconds()
    return facts


def run_starts(work_dir: str) -> list[str]:
    """The ``<ts>`` folders mmengine made in ``work_dir`` (one per start of a run), oldest first."""
    return sorted(d for d in os.listdir(work_dir) if _TS.match(d) and osp.isdir(osp.join(work_dir, d)))


def is_run_dir(path: str) -> bool:
    """A folder with a ``<ts>/`` of an mmengine run (scalars, log or test results in it)."""
    if not osp.isdir(path):
        return False
    for ts in run_starts(path):
        folder = osp.join(path, ts)
        if any(osp.exists(osp.join(folder, f)) for f in ('vis_data/scalars.json', f'{ts}.log', f'{ts}.json')):
            return True
    return False


def _dumped_config(work_dir: str, timestamps: list[str]) -> str:
    """The config file mmengine dumped in the work dir (the one the latest start used if there are several)."""
    pys = sorted(glob.glob(osp.join(work_dir, '*.py')))
    if len(pys) == 1:
        return pys[0]
    latest = [osp.join(work_dir, ts, 'vis_data', 'config.py') for ts in reversed(timestamps)]
    latest = next((p for p in latest if osp.isfile(p)), None)
    if latest and pys:
        with open(latest) as f:
            text = f.read()
        same = [p for p in pys if open(p).read() == text]
        if len(same) == 1:
            return same[0]
    if not pys:
        raise RunError(f'{work_dir}: no dumped config (<config name>.py) in the work dir')
    raise RunError(f'{work_dir}: several configs were run here ({", ".join(map(osp.basename, pys))}); '
                   'one work dir per run')


def _literal(node: ast.AST, path: str):
    """The value of a plain-data expression of a dumped config: literals, lists, tuples, dicts, sets and
    ``dict(key=value, ...)``; anything else (a call, a name, an attribute, a comprehension) is refused."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_literal(e, path) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items) if isinstance(node, ast.Tuple) else set(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k, path): _literal(v, path) for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' and not node.args
            and all(k.arg is not None for k in node.keywords)):
        return {k.arg: _literal(k.value, path) for k in node.keywords}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, path)
        if isinstance(value, (int, float, complex)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    raise RunError(f'{path}: line {getattr(node, "lineno", "?")}: {ast.unparse(node)[:60]!r} is not plain data; a '
                   "work dir's dumped config is read without running it, so it may hold only "
                   '`name = <literal or dict(...)>` lines, as mmengine writes them')


def _load_config(path: str) -> dict:
    """The settings of a dumped config, read as data: no line of it runs (work dirs come from elsewhere)."""
    try:
        with open(path) as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError) as e:
        raise RunError(f'{path}: cannot read the dumped config ({type(e).__name__}: {e})') from e
    except (RecursionError, MemoryError) as e:  # the parser's own limit, e.g. thousands of unary minus signs
        raise RunError(f'{path}: cannot read the dumped config (nested too deeply: {type(e).__name__})') from None
    try:
        return _settings(tree, path)
    except (RecursionError, MemoryError) as e:  # deeper than _literal (or unparse, for a message) can follow
        raise RunError(f'{path}: cannot read the dumped config (nested too deeply: {type(e).__name__})') from None


def _settings(tree: ast.Module, path: str) -> dict:
    """The ``name = <plain data>`` lines of a parsed dumped config."""
    out = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise RunError(f'{path}: line {stmt.lineno}: {ast.unparse(stmt)[:60]!r} is not an assignment of plain '
                           "data; a work dir's dumped config is read without running it")
        out[stmt.targets[0].id] = _literal(stmt.value, path)
    return out


def _section(cfg: dict, name: str, path: str) -> dict:
    """``cfg[name]`` (a dict, {} when absent): the collector reads keys of it, so refuse anything else."""
    value = cfg.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RunError(f'{path}: {name} = {repr(value)[:60]} is not a dict')
    return value


def _count(section: dict, key: str, name: str, path: str, minimum: int) -> int | None:
    """``section[key]`` as an integer >= ``minimum`` (None when absent); the collector computes with it."""
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RunError(f'{path}: {name}.{key} = {repr(value)[:60]} is not an integer >= {minimum}')
    return value


def read_run(work_dir: str) -> Run:
    """The record of the run in ``work_dir`` (see the module docstring)."""
    run, cfg = _read_run(work_dir)
    return as_rehearsal(run) if cfg.get(REHEARSAL_KEY) else run


def as_rehearsal(run: Run) -> Run:
    """A rehearsal run's record: its evaluation was read and checked, but it keeps no number. The status
    says what was done (``rehearsal: evaluated at 2/2 it``, ``rehearsal: tested at 2/2 it``, ``rehearsal:
    incomplete 1/2``), never ``complete``, so every aggregate, table and published file skips it."""
    if run.complete:
        done = 'evaluated' if run.source == 'train' else 'tested'
        what = f'{done} at {run.iters}/{run.max_iters} it' if run.iters is not None else done
    elif run.source == 'train' and run.max_iters and run.iters == run.max_iters:
        what = f'trained {run.iters}/{run.max_iters} it, not evaluated'
    else:
        what = run.status
    run.status, run.rehearsal = f'{REHEARSAL_STATUS}: {what}', True
    run.metrics, run.per_image = {}, ''
    return run


def _read_run(work_dir: str) -> tuple[Run, dict]:
    """The run in ``work_dir`` as any run, and its dumped config (read as data)."""
    work_dir = osp.normpath(work_dir)
    timestamps = run_starts(work_dir)
    config_path = _dumped_config(work_dir, timestamps)
    cfg = _load_config(config_path)
    stem = config_stem(config_path)
    train_cfg = _section(cfg, 'train_cfg', config_path)
    max_iters = _count(train_cfg, 'max_iters', 'train_cfg', config_path, 1)
    val_interval = _count(train_cfg, 'val_interval', 'train_cfg', config_path, 1) or max_iters or 1
    logger = _section(_section(cfg, 'default_hooks', config_path), 'logger', config_path)
    by_epoch = logger.get('log_metric_by_epoch', True)  # mmengine's default

    train_segments, eval_segments, tests, facts = [], [], [], {}
    wall = 0.0
    for ts in timestamps:
        folder = osp.join(work_dir, ts)
        scalars = osp.join(folder, 'vis_data', 'scalars.json')
        if osp.isfile(scalars):
            records = read_json_lines(scalars)
            _check_losses(records, scalars)
            train_segments.append([r for r in records if _is_train(r)])
            evals = eval_iterations(records, by_epoch, val_interval, max_iters or 0) if max_iters else []
            eval_segments.append([(r, scalars) for r in evals])
        test_json = osp.join(folder, f'{ts}.json')
        if osp.isfile(test_json):
            tests.append(test_json)
        log = osp.join(folder, f'{ts}.log')
        if osp.isfile(log):
            seg = _read_log(log)
            wall += seg.pop('wall_s', 0.0)
            facts.update({k: v for k, v in seg.items() if v not in (None, '')})

    seed = _count(_section(cfg, 'randomness', config_path), 'seed', 'randomness', config_path, 0)
    seed = seed if seed is not None else facts.get('seed')
    train = merge_by_step(train_segments)
    merged_evals: dict[int, tuple[dict, str]] = {}
    for seg in eval_segments:
        for record, path in seg:
            merged_evals[int(record['step'])] = (record, path)
    run = Run(config=stem, seed=seed, status='', iters=None, max_iters=max_iters, work_dir=work_dir,
              source='train', world_size=facts.get('world_size'),
              batch_size=_count(_section(cfg, 'train_dataloader', config_path), 'batch_size', 'train_dataloader',
                                config_path, 1), wall_s=wall or None,
              versions=facts.get('versions', ''), timestamps=len(timestamps),
              last_start=timestamps[-1] if timestamps else '')
    launch = osp.join(work_dir, LAUNCH_FILE)
    if osp.isfile(launch):
        info = read_json(launch)
        run.commit, run.machine = info.get('commit', ''), info.get('machine', '')

    outs = [] if tests else _results_files(work_dir)
    if train or merged_evals or not (tests or outs):
        last = max([int(r['step']) for r in train] + list(merged_evals) + [0])
        run.iters = last
        final = merged_evals.get(max_iters) if max_iters else None
        if final is not None:
            run.status, run.iters = 'complete', max_iters
            run.metrics, failure = _final_metrics(final[0], final[1])
            run.per_image = _kept(work_dir, val_file(work_dir, max_iters))
            run.status = failure or run.status
        else:
            run.status = f'incomplete {last}/{max_iters if max_iters else "?"}'
        run.curves = {'loss': [(int(r['step']), float(r['loss'])) for r in train if 'loss' in r],
                      'PartPQ': [(s, float(r[PREFIX + 'PartPQ'])) for s, (r, _) in sorted(merged_evals.items())
                                 if _is_real(r.get(PREFIX + 'PartPQ'))]}
        return run, cfg

    # a tools/test.py work dir: the last test's metrics (else its --out pps_results.json), the checkpoint's
    # iteration from its name (a checkpoint without one, e.g. a released model, counts as final)
    run.source = 'test'
    path = (tests or outs)[-1]
    run.metrics, failure = _final_metrics(read_json(path), path, prefixed=bool(tests))
    if tests:
        run.per_image = _kept(work_dir, osp.join(osp.dirname(path), TEST_FILE))
    run.iters = _checkpoint_iter(cfg, config_path)
    run.status = 'complete' if run.iters in (None, max_iters) else f'incomplete {run.iters}/{max_iters}'
    run.status = failure or _unclaimed(path, bool(tests)) or run.status
    if not run.complete:
        run.metrics = {}
    return run, cfg


def _unclaimed(path: str, from_test_json: bool) -> str:
    """Why a ``--out`` folder's results are not one finished run's (its manifest:
    :mod:`tapps_mm.evaluation.prediction_folder`), as a failed status; '' when they are, or when the folder has
    no manifest (made before folders were claimed)."""
    if from_test_json:
        return ''
    try:
        verify(osp.dirname(path))
    except PredictionFolderError as e:
        return f'failed: {e}'
    return ''


def _check_losses(records: list[dict], path: str) -> None:
    """A training line's loss goes into the loss curve as a float: refuse a string, a list or a bool here,
    where the file is known (NaN and infinity stay: a diverging loss is worth plotting)."""
    for record in records:
        if 'loss' in record and not _is_real(record['loss']):
            raise RunError(f'{path}: step {record["step"]}: loss = {_show(record["loss"])} is not a real number')


def _is_real(value) -> bool:
    """A JSON number that a curve can hold as a float (not a bool, a string, a list, an integer beyond floats)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _read_log(path: str) -> dict:
    """The facts of an mmengine ``<ts>.log`` (:func:`_log_facts`); a bad time stamp or number names the file."""
    with open(path, errors='replace') as f:
        text = f.read()
    try:
        return _log_facts(text)
    except ValueError as e:  # a time stamp that is no date, an integer too long to convert
        raise RunError(f'{path}: unreadable log ({e})') from None


def _checkpoint_iter(cfg: dict, path: str) -> int | None:
    """The iteration in the name of the checkpoint a test loaded (``load_from``); None when it has none."""
    m = re.search(r'iter_(\d+)\.pth', str(cfg.get('load_from') or ''))
    if not m:
        return None
    try:
        return int(m[1])
    except ValueError:  # more digits than Python converts
        raise RunError(f'{path}: load_from names a checkpoint iteration of {len(m[1])} digits') from None


def _kept(work_dir: str, path: str) -> str:
    return osp.relpath(path, work_dir) if osp.isfile(path) else ''


def _walk_once(top: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top)`` that also enters folders reached through links, but each real folder once, so it always
    ends: a link back into a folder already walked (a loop) or a second way into one is skipped. The real tree
    is walked first (a run reached both ways is named by its real path), then the links it holds, in name
    order, then the links those hold; the caller may prune ``dirs`` as with ``os.walk`` (links included)."""
    walked: set[str] = set()
    pending = [top]
    while pending:
        for path, dirs, files in os.walk(pending.pop(0)):  # does not follow links: they wait in ``pending``
            real = osp.realpath(path)
            if real in walked:
                dirs[:] = []
                continue
            walked.add(real)
            yield path, dirs, files
            dirs.sort()
            pending += [osp.join(path, d) for d in dirs if osp.islink(osp.join(path, d))]


def _results_files(work_dir: str) -> list[str]:
    """The ``pps_results.json`` files in a work dir (``tools/test.py --out DIR``), sorted; hidden folders are
    left out (as ``glob``'s ``**`` did)."""
    found = []
    for path, dirs, files in _walk_once(work_dir):
        dirs[:] = [d for d in dirs if not d.startswith('.')]
        if RESULTS_FILE in files:
            found.append(osp.join(path, RESULTS_FILE))
    return sorted(found)


def find_run_dirs(root: str) -> list[str]:
    """Every run dir at or below ``root`` (not looking inside a run dir), through links too, each once."""
    if not osp.isdir(root):
        raise RunError(f'{root}: no such directory')
    found = []
    for path, dirs, _ in _walk_once(root):
        if is_run_dir(path):
            found.append(osp.normpath(path))
            dirs[:] = []
        else:
            dirs[:] = [d for d in dirs if not _TS.match(d)]
    return found


def check_unique(runs: list[Run]) -> None:
    """Two runs of one (config, seed) would be averaged as two seeds: refuse, naming both folders."""
    seen: dict[tuple, Run] = {}
    for run in runs:
        key = (run.config, run.seed, run.source)
        if key in seen:
            raise RunError(f'two runs claim config {run.config} seed {run.seed}: {seen[key].work_dir} and '
                           f'{run.work_dir} (remove or move one)')
        seen[key] = run


def collect(roots: list[str]) -> list[Run]:
    """The runs below ``roots`` (each a run dir or a folder of them), checked for duplicates."""
    dirs, seen = [], set()
    for root in roots:
        found = [osp.normpath(root)] if is_run_dir(root) else find_run_dirs(root)
        if not found:
            raise RunError(f'{root}: no run below it (a run dir holds a <timestamp>/ folder of an mmengine run)')
        for d in found:  # a run reached from two roots, or through a link, counts once
            if osp.realpath(d) not in seen:
                seen.add(osp.realpath(d))
                dirs.append(d)
    runs = [read_run(d) for d in dirs]
    check_unique(runs)
    return sorted(runs, key=lambda r: (r.config, -1 if r.seed is None else r.seed, r.source))


def runs_frame(runs: list[Run]):
    """``runs.csv`` as a DataFrame: the fixed columns, the metric keys (mapped ones first), the provenance."""
    import pandas as pd
    frame = pd.DataFrame([r.record() for r in runs])
    if frame.empty:
        return pd.DataFrame(columns=RECORD_COLUMNS + list(METRIC_KEYS.values()))
    metric_cols = [c for c in frame.columns if c not in RECORD_COLUMNS and c not in _PROVENANCE]
    ordered = [k for k in METRIC_KEYS.values() if k in metric_cols] + sorted(
        c for c in metric_cols if c not in METRIC_KEYS.values())
    for k in METRIC_KEYS.values():  # every mapped key has a column, empty where no run reported it
        if k not in frame:
            frame[k] = float('nan')
            ordered.append(k)
    return frame[RECORD_COLUMNS + ordered + [c for c in _PROVENANCE if c in frame]]


"""Work dirs crafted the way a security probe fed them to ``benchmarks.collect``: impossible metric values,
symlinked run dirs, symlink loops and values that used to crash without naming the file. Each must fail the
run with the reason, or raise RunError naming the file; none may hang (the loop tests run in a subprocess with
a timeout, so a regression fails instead of hanging the suite)."""
from __future__ import annotations

import json
import os
import os.path as osp
import subprocess
import sys

import pytest

import benchmarks.collect
from benchmarks.collect import PREFIX, RunError, collect, read_run
from benchmarks.paper import METRIC_KEYS

STEM = 'cfg'
TS = '20250101_000000'
CONFIG = ('train_cfg = dict(max_iters=2, val_interval=2)\nrandomness = dict(seed=0)\n'
          'train_dataloader = dict(batch_size=2)\ndefault_hooks = dict(logger=dict(log_metric_by_epoch=False))\n')
LOOP_TIMEOUT_S = 120  # a fixed collector needs a few seconds (most of it importing); a loop never ends


def _metrics(value=0.5, prefix: str = PREFIX, **override) -> dict:
    out = {prefix + k: value for k in METRIC_KEYS.values()}
    out.update({prefix + k: v for k, v in override.items()})
    return out


def _train_run(work_dir, evaluation: dict | None = None, config: str = CONFIG, lines: list[str] | None = None) -> str:
    """A training run's work dir: the dumped config and ``<ts>/vis_data/scalars.json`` with two training lines
    and the final evaluation (``lines``: the scalars.json text lines instead)."""
    os.makedirs(osp.join(work_dir, TS, 'vis_data'), exist_ok=True)
    with open(osp.join(work_dir, f'{STEM}.py'), 'w') as f:
        f.write(config)
    if lines is None:
        records = [{'loss': 1.0, 'iter': 1, 'step': 1}, {'loss': 0.5, 'iter': 2, 'step': 2},
                   {**(_metrics() if evaluation is None else evaluation), 'step': 2}]
        lines = [json.dumps(r) for r in records]  # json writes Infinity / NaN, as mmengine's does
    with open(_scalars(work_dir), 'w') as f:
        f.writelines(line + '\n' for line in lines)
    return str(work_dir)


def _scalars(work_dir) -> str:
    return osp.join(work_dir, TS, 'vis_data', 'scalars.json')


def _test_run(work_dir, results: dict, out: bool = False) -> tuple[str, str]:
    """A tools/test.py work dir: ``<ts>/<ts>.json`` (prefixed keys), or with ``out`` its ``--out`` folder's
    ``pps_results.json`` (the metric's own keys); the work dir and the results file."""
    os.makedirs(osp.join(work_dir, TS), exist_ok=True)
    with open(osp.join(work_dir, f'{STEM}.py'), 'w') as f:
        f.write("train_cfg = dict(max_iters=2)\nrandomness = dict(seed=0)\nload_from = 'w/iter_2.pth'\n")
    path = osp.join(work_dir, 'preds', 'pps_results.json') if out else osp.join(work_dir, TS, f'{TS}.json')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(results, f)
    if out:  # the test's own folder: its log only
        with open(osp.join(work_dir, TS, f'{TS}.log'), 'w') as f:
            f.write('2025/01/01 10:00:00 - mmengine - INFO - test\n')
    return str(work_dir), path


def _in_subprocess(code: str) -> list:
    """Run ``code`` (which prints one JSON value) in a fresh Python with the collector the tests import, and
    return that value; a hang fails the test at ``LOOP_TIMEOUT_S`` instead of hanging the suite."""
    root = osp.dirname(osp.dirname(benchmarks.collect.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get('PYTHONPATH')])))
    try:
        res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                             timeout=LOOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f'the collector did not finish in {LOOP_TIMEOUT_S} s (a symlink loop?)')
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.splitlines()[-1])


# ----------------------------------------------------------------------- 1. impossible metric values
BAD_VALUES = [  # (the value, as the file writes it, why)
    (float('inf'), 'Infinity', 'not finite'),
    (1e308, '1e+308', 'not a fraction in [0, 1]'),
    (True, 'true', 'not a real number'),
    (-5, '-5', 'not a fraction in [0, 1]'),
    ([0.5], '[0.5]', 'not a real number'),
    ('0.5', '"0.5"', 'not a real number'),
]


@pytest.mark.parametrize('value,written,why', BAD_VALUES, ids=[w for _, w, _ in BAD_VALUES])
def test_an_impossible_final_metric_fails_the_run(value, written, why, tmp_path):
    work = _train_run(tmp_path / 'run', _metrics(PartPQ=value))
    run = read_run(work)
    assert run.status == f'failed: PartPQ = {written} is {why} in {_scalars(work)}'
    assert not run.complete and run.metrics == {}
    # the same value in a test's <ts>.json, and in its --out pps_results.json (no prefix)
    work, path = _test_run(tmp_path / 'test', _metrics(PQ_th=value))
    run = read_run(work)
    assert (run.source, run.status, run.metrics) == ('test', f'failed: PQ_th = {written} is {why} in {path}', {})
    work, path = _test_run(tmp_path / 'out', _metrics(mIoU_th=value, prefix=''), out=True)
    run = read_run(work)
    assert (run.source, run.status, run.metrics) == ('test', f'failed: mIoU_th = {written} is {why} in {path}', {})


def test_other_keys_of_the_metric_are_checked_by_their_kind(tmp_path):
    # counts are integers >= 0 (logged as floats by mmengine), null is an empty cell, an unknown key only finite
    work = _train_run(tmp_path / 'ok', _metrics(obj_without_conflicts=None, obj_without_conflicts_n=12.0,
                                                num_images=3, PartRQ=1.0, **{'PQ_class_7': 42.5}))
    run = read_run(work)
    assert run.status == 'complete' and run.metrics['obj_without_conflicts'] is None
    assert run.metrics['obj_without_conflicts_n'] == 12 and run.metrics['PQ_class_7'] == 42.5
    for key, value, written, why in [('obj_without_conflicts_n', 2.5, '2.5', 'not a count (an integer >= 0)'),
                                     ('n', -1, '-1', 'not a count (an integer >= 0)'),
                                     ('obj_without_conflicts', 1.5, '1.5', 'not a fraction in [0, 1]'),
                                     ('PartSQ', -0.1, '-0.1', 'not a fraction in [0, 1]'),
                                     ('PQ_class_7', float('-inf'), '-Infinity', 'not finite')]:
        work = _train_run(tmp_path / key, _metrics(**{key: value}))
        assert read_run(work).status == f'failed: {key} = {written} is {why} in {_scalars(work)}'
    # a test whose required metric is NaN fails as a training run's does
    work, path = _test_run(tmp_path / 'nan', _metrics(PartPQ=float('nan')))
    assert read_run(work).status == f'failed: PartPQ not finite in {path}'


def test_an_impossible_metric_never_enters_a_table(tmp_path):
    _train_run(tmp_path / 'good', _metrics(0.5))
    _train_run(tmp_path / 'bad', _metrics(0.5, PartPQ=float('inf')), config=CONFIG.replace('seed=0', 'seed=1'))
    runs = {r.seed: r for r in collect([str(tmp_path)])}
    assert runs[0].complete and not runs[1].complete and runs[1].metrics == {}
    assert runs[1].record()['status'].startswith('failed: PartPQ = Infinity is not finite in ')


# ------------------------------------------------------------------------------ 2. symlinked run dirs
def test_a_symlinked_run_dir_is_found_once_and_a_loop_is_skipped(tmp_path):
    root = tmp_path / 'runs'
    _train_run(root / 'local' / 'seed0')
    linked = _train_run(tmp_path / 'elsewhere' / 'seed1', config=CONFIG.replace('seed=0', 'seed=1'))
    os.symlink(linked, root / 'seed1')
    os.makedirs(root / 'more')
    os.symlink(linked, root / 'more' / 'seed1-again')  # the same run through a second link
    os.symlink(root, root / 'more' / 'loop')  # back into a folder already walked
    os.symlink('..', root / 'local' / 'up')
    os.symlink(root / 'local' / 'seed0', root / 'alias')  # a run reached both ways is named by its real path
    found = _in_subprocess(
        'import json, sys\nfrom benchmarks.collect import collect, find_run_dirs\n'
        f'root = {str(root)!r}\n'
        'print(json.dumps([find_run_dirs(root), [(r.seed, r.work_dir) for r in collect([root])]]))\n')
    assert found == [[str(root / 'local' / 'seed0'), str(root / 'seed1')],
                     [[0, str(root / 'local' / 'seed0')], [1, str(root / 'seed1')]]]


# --------------------------------------------------------------------- 3. a symlink loop in a run dir
def test_a_symlink_loop_in_a_test_work_dir_does_not_hang(tmp_path):
    work, path = _test_run(tmp_path / 'test', _metrics(0.25, prefix=''), out=True)
    for name in ('a', 'b'):  # two loops: a walk that follows them has 2 ** 40 paths before the kernel stops it
        os.symlink('..', osp.join(work, 'preds', name))
    status = _in_subprocess('import json\nfrom benchmarks.collect import read_run\n'
                            f'run = read_run({work!r})\nprint(json.dumps([run.status, run.metrics["PQ"]]))\n')
    assert status == ['complete', 0.25]


def test_results_in_a_linked_out_folder_are_still_found(tmp_path):
    work, path = _test_run(tmp_path / 'elsewhere', _metrics(0.25, prefix=''), out=True)
    os.rename(osp.join(work, 'preds'), tmp_path / 'preds')
    os.symlink(tmp_path / 'preds', osp.join(work, 'preds'))
    run = read_run(work)
    assert (run.source, run.status, run.metrics['PQ']) == ('test', 'complete', 0.25)


# ------------------------------------------------------------------------- 4. crashes that name the file
@pytest.mark.parametrize('seed', ["'abc'", '-1', '1.5', 'True'])
def test_a_bad_seed_names_the_config(seed, tmp_path):
    work = _train_run(tmp_path / 'run', config=CONFIG.replace('seed=0', f'seed={seed}'))
    with pytest.raises(RunError) as e:
        read_run(work)
    assert str(e.value) == f'{osp.join(work, STEM)}.py: randomness.seed = {seed} is not an integer >= 0'


@pytest.mark.parametrize('step,written', [('"abc"', '"abc"'), ('1e400', 'Infinity'), ('true', 'true'),
                                          ('-3', '-3'), ('2.0', '2.0')])
def test_a_bad_step_names_the_file_and_line(step, written, tmp_path):
    work = _train_run(tmp_path / 'run', lines=['{"loss": 1.0, "iter": 1, "step": 1}',
                                               f'{{"loss": 1.0, "iter": 2, "step": {step}}}'])
    with pytest.raises(RunError) as e:
        read_run(work)
    assert str(e.value) == f'{_scalars(work)}, line 2: step = {written} is not an iteration (an integer >= 0)'


@pytest.mark.parametrize('signs,error', [(2000, 'RecursionError'), (100000, 'MemoryError')])
def test_a_config_nested_too_deeply_names_the_file(signs, error, tmp_path):
    # 2000 signs parse, but are deeper than a recursive reader goes; 100000 overflow the parser itself
    work = _train_run(tmp_path / 'run', config=CONFIG + 'x = ' + '-' * signs + '1\n')
    with pytest.raises(RunError) as e:
        read_run(work)
    assert str(e.value) == f'{osp.join(work, STEM)}.py: cannot read the dumped config (nested too deeply: {error})'


@pytest.mark.parametrize('old,new,message', [
    ('max_iters=2', "max_iters='2'", "train_cfg.max_iters = '2' is not an integer >= 1"),
    ('max_iters=2', 'max_iters=0', 'train_cfg.max_iters = 0 is not an integer >= 1'),
    ('max_iters=2', 'max_iters=2.0', 'train_cfg.max_iters = 2.0 is not an integer >= 1'),
    ('val_interval=2', 'val_interval=-2', 'train_cfg.val_interval = -2 is not an integer >= 1'),
    ('val_interval=2', 'val_interval=True', 'train_cfg.val_interval = True is not an integer >= 1'),
    ('batch_size=2', "batch_size='2'", "train_dataloader.batch_size = '2' is not an integer >= 1"),
    ('batch_size=2', 'batch_size=[2]', 'train_dataloader.batch_size = [2] is not an integer >= 1'),
    ('train_cfg = dict(max_iters=2, val_interval=2)', 'train_cfg = [2]', 'train_cfg = [2] is not a dict'),
])
def test_bad_loop_settings_name_the_config_and_key(old, new, message, tmp_path):
    work = _train_run(tmp_path / 'run', config=CONFIG.replace(old, new))
    with pytest.raises(RunError) as e:
        read_run(work)
    assert str(e.value) == f'{osp.join(work, STEM)}.py: {message}'


def test_other_unreadable_values_name_the_file(tmp_path):
    # a loss that is not a number, an integer longer than JSON reads, a log time stamp that is no date
    work = _train_run(tmp_path / 'loss', lines=['{"loss": "x", "iter": 1, "step": 1}'])
    with pytest.raises(RunError, match=r'scalars\.json: step 1: loss = "x" is not a real number$') as e:
        read_run(work)
    assert _scalars(work) in str(e.value)
    work = _train_run(tmp_path / 'long', lines=['{"loss": 1.0, "step": ' + '9' * 5000 + '}'])
    with pytest.raises(RunError, match=r'scalars\.json, line 1: unreadable JSON line \(ValueError: ') as e:
        read_run(work)
    assert _scalars(work) in str(e.value)
    work = _train_run(tmp_path / 'log')
    log = osp.join(work, TS, f'{TS}.log')
    with open(log, 'w') as f:
        f.write('2025/13/45 10:00:00 - mmengine - INFO - start\n')
    with pytest.raises(RunError, match='unreadable log') as e:
        read_run(work)
    assert str(e.value).startswith(f'{log}: ')

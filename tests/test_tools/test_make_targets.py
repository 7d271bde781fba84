"""Every `make` target that runs a script, run the way the Makefile runs it, at the smallest settings.

A script run as ``python tools/analysis_tools/speed/x.py`` has its own folder first on ``sys.path``: a module file
there named like a standard-library module (``benchmarks/statistics.py`` once was, when the speed benchmarks were
scripts of ``benchmarks/``) replaces that module for the script and
for everything it imports, which no in-process test sees (``make bench-model`` died at its first measurement:
``module 'statistics' has no attribute 'mean'``). So each test here takes the target's command from
``make -n`` (the interpreter, the script path and the Makefile's own flags), changes only sizes and ``--out``
(into ``tmp_path``: the committed files of ``benchmarks/results/`` are never written), runs it as a subprocess
of this interpreter and checks what it wrote. ``make rehearsal`` has its own such test
(``tests/test_benchmarks/test_rehearsal.py::test_small_rehearsal_through_the_make_target``). The toy dataset the
toy configs
read (``data/synthetic_pp-bench``, git-ignored) is written once if missing, as ``make reproduce`` does.
"""
from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import REPO
from benchmarks.speed_report import render_evaluator, render_gpu_check, render_model_cost, render_threads

RESULTS = Path(REPO) / 'benchmarks' / 'results'
#: where a target writes when it is not told otherwise (none of them may change during these tests)
DEFAULT_OUTPUTS = ('work_dirs/quick', 'work_dirs/reproduce/quick', 'work_dirs/gpu_check_selfcheck.json')
#: folders whose scripts run with their own folder first on sys.path (subfolders included)
SCRIPT_FOLDERS = ('benchmarks', 'tools')
#: the speed benchmarks' folder (on this process's sys.path too: pyproject.toml)
SPEED = 'tools/analysis_tools/speed'


# ------------------------------------------------------------------------------------------ helpers


def make_command(target: str, **variables: str) -> list[str]:
    """The command ``make TARGET VAR=...`` runs (its last recipe line, printed by ``make -n``), with this
    interpreter in place of the Makefile's."""
    if not shutil.which('make'):
        pytest.skip('make is not installed')
    out = subprocess.run(['make', '--no-print-directory', '-n', target, *(f'{k}={v}' for k, v in variables.items())],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout.strip().splitlines()
    cmd = shlex.split(out[-1])
    assert osp.basename(cmd[0]).startswith('python'), out
    return [sys.executable, *cmd[1:]]


def with_options(cmd: list[str], **options: str) -> list[str]:
    """``cmd`` with each ``--flag value`` (``flag_name='value'``) replaced where the Makefile gives it, else
    appended; the Makefile's other flags stay."""
    cmd = list(cmd)
    for name, value in options.items():
        flag = '--' + name.replace('_', '-')
        values = value if isinstance(value, list) else [value]
        if flag in cmd:
            i = cmd.index(flag)
            cmd[i + 1:i + 2] = values
        else:
            cmd += [flag, *values]
    return cmd


def run(cmd: list[str], **env: str) -> subprocess.CompletedProcess:
    """``cmd`` from the repository's root, one intra-op thread per process unless the script sets its own."""
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'OMP_NUM_THREADS': '1', **env})
    assert done.returncode == 0, (f'{shlex.join(cmd)} exited {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n'
                                  f'--- stderr\n{done.stderr[-5000:]}')
    return done


def _stamps() -> dict[str, int | None]:
    paths = [p for p in RESULTS.rglob('*') if p.is_file()] + [Path(REPO) / p for p in DEFAULT_OUTPUTS]
    return {str(p): (p.stat().st_mtime_ns if p.exists() else None) for p in paths}


@pytest.fixture
def leaves_committed_results_alone():
    """Fails a test that wrote into ``benchmarks/results/`` or a target's default output."""
    before = _stamps()
    yield
    after = _stamps()
    assert after == before, sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


@pytest.fixture(scope='module')
def toy_data() -> None:
    """The toy dataset, written once if missing (about 15 s); a lock keeps two xdist workers from writing it
    at once."""
    from benchmarks.launch import make_data
    os.makedirs(osp.join(REPO, 'data'), exist_ok=True)
    with open(osp.join(REPO, 'data', '.synthetic_pp-bench.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        make_data(False, sys.stdout)


def read_json(path: Path) -> dict:
    assert path.is_file(), f'{path} was not written'
    return json.loads(path.read_text())


def positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


# ------------------------------------------------------------------------- no module shadows the stdlib


def shadowing_modules(folder: Path) -> list[str]:
    """Module files and packages in ``folder`` or below it named like a standard-library module (each one
    replaces that module for a script run from its folder)."""
    found = []
    for path in sorted(folder.rglob('*')):
        if '__pycache__' in path.parts:
            continue
        if path.suffix == '.py' and path.stem != '__init__':
            name = path.stem
        elif path.is_dir() and (path / '__init__.py').is_file():
            name = path.name
        else:
            continue
        if name in sys.stdlib_module_names:
            found.append(str(path.relative_to(folder.parent)))
    return found


def test_no_script_folder_module_shadows_the_standard_library():
    found = [m for folder in SCRIPT_FOLDERS for m in shadowing_modules(Path(REPO) / folder)]
    assert not found, (f'{found}: named like a standard-library module, so a script run from that folder imports it '
                       'in place of the standard one; rename it')


def test_the_shadowing_check_finds_modules_and_packages(tmp_path):
    (tmp_path / 'scripts' / 'sub' / 'json').mkdir(parents=True)
    for name in ('statistics.py', 'bench.py', 'sub/__init__.py', 'sub/json/__init__.py', 'sub/typing.py'):
        (tmp_path / 'scripts' / name).write_text('')
    (tmp_path / 'scripts' / 'random').mkdir()  # no __init__.py: a namespace package never shadows
    assert shadowing_modules(tmp_path / 'scripts') == ['scripts/statistics.py', 'scripts/sub/json',
                                                       'scripts/sub/typing.py']


# ------------------------------------------------------------------------------------- the targets


def test_every_script_target_has_a_smoke_test():
    """A new target that runs a script gets a test here (or says where its test is)."""
    makefile = Path(REPO, 'Makefile').read_text()
    scripts = set(re.findall(r'^\t\$\(BIN\)/python (\S+\.py)', makefile, re.M))
    assert scripts == set(SMOKE_TESTED) | {'tools/rehearse.py'}  # rehearse.py: tests/test_benchmarks/test_rehearsal.py


def test_bench_eval(tmp_path, leaves_committed_results_alone):
    out = tmp_path / 'evaluator.json'
    cmd = with_options(make_command('bench-eval'), num_images='5', size='64x128', noisy_size='32x64',
                       images_per_process='3', out=str(out))
    assert cmd[1] == f'{SPEED}/bench_evaluator.py' and '--nproc' in cmd
    run(cmd)
    res = read_json(out)
    assert set(res) == {'images', 'size', 'spec', 'official_s_per_image', 'ours_s_per_image', 'speedup_vs_official',
                        'scaling_images', 'scaling_s_per_image_1proc', 'scaling_s_per_image_2proc',
                        'scaling_speedup_2proc_vs_1proc', 'identical', 'max_abs_iou_sum_diff', 'tp_total', 'noisy',
                        'profile'}
    for case in (res, res['noisy']):
        assert case['identical'] is True and case['max_abs_iou_sum_diff'] <= 1e-9 and case['tp_total'] > 0
    assert (res['images'], res['size'], res['scaling_images']) == (5, '64x128', 10)  # 2 processes x 3, in 5s
    assert (res['noisy']['size'], res['noisy']['part_noise']) == ('32x64', 0.15)
    profile = res['profile']
    assert set(profile['s_per_image']) == {'read', 'decode', 'statistics', 'pickle'}
    assert profile['row_bytes_per_image'] > 0 and positive(profile['predicted_speedup_2proc'])
    assert all(positive(res[k]) for k in ('official_s_per_image', 'ours_s_per_image', 'scaling_s_per_image_2proc'))
    text = render_evaluator(res)
    assert 'identical' in text and 'noisy' in text and 'statistics' in text


def test_bench_model(tmp_path, leaves_committed_results_alone):
    """The toy scale, one block of one iteration per model (the paper scale runs the same code on fake
    Cityscapes-PP files; the GPU check's self-check below runs it on fake Pascal-PP files)."""
    from model_cost_blocks import MODELS, RATIOS
    out = tmp_path / 'model_cost.json'
    cmd = with_options(make_command('bench-model'), out=str(out), scales='toy', repeats='1', iters='1', warmup='1',
                       no_counts=[])  # the counts: test_bench_model_counts_only
    assert cmd[1] == f'{SPEED}/bench_model_cost.py'
    done = run(cmd)
    res = read_json(out)
    assert set(res) == {'command', 'host', 'scales', 'ratio'} and list(res['scales']) == ['toy']
    toy = res['scales']['toy']
    assert set(toy['models']) == set(MODELS) and set(toy['ratios']) == {f'{a}/{b}' for a, b in RATIOS}
    for name, m in toy['models'].items():
        assert len(m['train_step_s_blocks']) == 1 and len(m['infer_batch_s_blocks']) == 2, name
        assert all(positive(m[k]) for k in ('train_step_s', 'infer_batch_s', 'params_m')), (name, m)
        assert math.isfinite(m['train_peak_mb']) and math.isfinite(m['final_loss']), (name, m)
        assert m['threads']['torch_threads'] == 1
    assert set(res['ratio']) == {'train_step_s', 'train_peak_mb', 'infer_batch_s'}
    assert all(math.isfinite(v) for v in res['ratio'].values()), res['ratio']
    assert toy['setting']['repeats'] == 1 and toy['setting']['size'] == '64x64'
    assert '**toy**' in done.stdout and render_model_cost(res) in done.stdout


def test_bench_model_counts_only(tmp_path, leaves_committed_results_alone):
    """``--counts-only`` at a small size: the ops and synchronisation points of the three models and of our own
    Mask2Former (the Pascal-PP R-50 configs), written into an existing ``--out`` file whose timings stay."""
    from model_cost_blocks import MODELS
    out = tmp_path / 'model_cost.json'
    timings = {k: v for k, v in read_json(RESULTS / 'model_cost.json').items() if k != 'counts'}
    out.write_text(json.dumps(timings))
    done = run(with_options(make_command('bench-model'), out=str(out), counts_only=[], counts_size='48x96'))
    res = read_json(out)
    assert {k: v for k, v in res.items() if k != 'counts'} == timings  # the timings are kept
    counts = res['counts']
    assert set(counts['models']) == {*MODELS, 'mask2former_pps'} and counts['setting']['size'] == '48x96'
    assert '--counts-only' in counts['command'] and counts['host']['torch']
    for name, m in counts['models'].items():
        for part in ('train_step', 'infer_batch'):
            c = m[part]
            assert c['ops'] > 0 and c['syncs'] == sum(c['syncs_by_kind'].values()) == sum(
                c['syncs_by_source'].values()), (name, part, c)
        assert m['train_step']['ops'] > m['infer_batch']['ops'] and m['train_step']['syncs'] > 0, name
    for name, added in counts['added'].items():
        ref = counts['models']['mask2former']['train_step']
        assert added['train_step']['ops'] == counts['models'][name]['train_step']['ops'] - ref['ops']
    assert 'ops and synchronisations' in done.stdout


def test_bench_threads(tmp_path, toy_data, leaves_committed_results_alone):
    """One layout: two 1-thread training runs at once, 3 iterations each (the first left out). Not the 2-thread
    reference: on a shared machine (two xdist workers) its spinning OpenMP threads take minutes."""
    layout_name = '2 runs x 1 thread, idle'
    out = tmp_path / 'threads.json'
    cmd = with_options(make_command('bench-threads'), out=str(out), iters='3', skip='1', layouts=[layout_name])
    assert cmd[1] == f'{SPEED}/bench_threads.py'
    run(cmd)
    res = read_json(out)
    assert set(res) == {'command', 'machine', 'config', 'iters', 'skip', 'layouts'}
    assert (res['iters'], res['skip'], list(res['layouts'])) == (3, 1, [layout_name])
    layout = res['layouts'][layout_name]
    assert (layout['runs'], layout['threads'], layout['busy_core']) == (2, 1, False)
    assert positive(layout['step_s']) and positive(layout['throughput_it_s']) and positive(layout['wall_s'])
    assert layout['throughput_vs_reference'] is None  # the reference layout was not measured
    assert f'| {layout_name} |' in render_threads(res)


def test_bench_threads_refuses_too_few_iterations():
    done = subprocess.run([sys.executable, f'{SPEED}/bench_threads.py', '--iters', '3', '--skip', '3'], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and 'need --iters >= 2 and 0 <= --skip < --iters' in done.stderr


def test_gpu_check_self_check(tmp_path, leaves_committed_results_alone):
    """``tools/analysis_tools/speed/gpu_check.sh --self-check`` (no make target): the GPU check's Python on CPU at
    its tiny sizes, mmcv without compiled ops, then the evaluator benchmark."""
    from gpu_check import NO_OPS
    from model_cost_blocks import MODELS
    out = tmp_path / 'gpu_check.json'
    run([str(Path(REPO, SPEED, 'gpu_check.sh')), '--self-check', '--out', str(out)], PYTHON=sys.executable)
    res = read_json(out)
    assert set(res) == {'self_check', 'device', 'mmcv_ops', 'model_cost', 'evaluator', 'wall_s'}
    assert res['self_check'] is True and res['mmcv_ops'] == NO_OPS and res['device']['gpu'] is None
    scale = res['model_cost']['scales']['paper-gpu']
    assert set(scale['models']) == set(MODELS) and scale['setting']['dataset'] == 'pascal'
    assert all(len(m['train_step_s_blocks']) == scale['setting']['repeats'] for m in scale['models'].values())
    assert set(res['model_cost']['ratio']) == {'train_step_s', 'train_peak_mb', 'infer_batch_s'}
    assert res['evaluator']['identical'] is True
    assert 'CPU (self-check)' in render_gpu_check(res)


def test_reproduce_quick(tmp_path, toy_data, leaves_committed_results_alone):
    """``make reproduce REPRODUCE_ARGS=--quick`` with one seed, its runs and outputs in ``tmp_path``: the toy
    TAPPS and baseline configs trained on the quick schedule, collected, aggregated with the seed x image
    statistics, compared, plotted. (tests/test_benchmarks/test_reproduce_tables.py runs the same functions in-process on
    hand-made work dirs, and the script only with --dry-run or --work-dirs; this is the script end to end.)"""
    from benchmarks import uncertainty
    from benchmarks.toy import TOY
    work, out = tmp_path / 'work', tmp_path / 'out'
    cmd = make_command('reproduce', REPRODUCE_ARGS=shlex.join(['--quick', '--seeds', '1', '--work-root', str(work),
                                                               '--out', str(out)]))
    assert cmd[1] == 'tools/reproduce_tables.py'
    done = run(cmd)
    assert f'[reproduce] tables, plots and CSVs in {out}' in done.stdout
    for name in ('runs.csv', 'results.csv', 'comparisons.csv', 'meta.json', 'tables.md', 'tables.tex', 'summary.md'):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    with open(out / 'runs.csv') as f:
        runs = list(csv.DictReader(f))
    stems = sorted(osp.splitext(osp.basename(c))[0] for c in TOY.configs.values())  # TAPPS, baseline, Mask2Former
    assert sorted(r['config'] for r in runs) == stems
    assert all((r['seed'], r['status'], r['iters']) == ('0', 'complete', '10') for r in runs), runs
    assert all(r['work_dir'].startswith(str(work)) for r in runs)
    meta = read_json(out / 'meta.json')
    assert meta['quick'] is True and meta['runs_complete'] == len(stems) and meta['seeds'] == [0]
    assert meta['bootstrap'] == dict(n_boot=uncertainty.N_BOOT, max_boot=uncertainty.MAX_BOOT,
                                     mc_target=uncertainty.MC_TARGET, generator_seed=uncertainty.BOOT_SEED,
                                     confidence=uncertainty.CONFIDENCE)
    with open(out / 'comparisons.csv') as f:
        comparisons = {row['metric']: row for row in csv.DictReader(f) if row['table'] == '1-toy'}
    partpq = comparisons['PartPQ_All']  # TAPPS - baseline, paired by seed, with the seeds x images bootstrap
    assert partpq['n_pairs'] == '1' and uncertainty.N_BOOT <= float(partpq['n_boot']) <= uncertainty.MAX_BOOT, partpq
    assert (out / 'plots' / 'table_1-toy.png').is_file()


#: the script of each make target -> its smoke test here
SMOKE_TESTED = {f'{SPEED}/bench_evaluator.py': test_bench_eval, f'{SPEED}/bench_model_cost.py': test_bench_model,
                f'{SPEED}/bench_threads.py': test_bench_threads, 'tools/reproduce_tables.py': test_reproduce_quick}


# ------------------------------------------------------------------------------------------ the set-up targets


def test_install_gpu_refuses_a_torch_without_cuda():
    """``make install-gpu`` on this CPU machine: its first step refuses, naming why, before anything is
    uninstalled or built (on a CUDA torch it would build mmcv: not run by the tests)."""
    import torch
    if torch.version.cuda:
        pytest.skip('a CUDA torch: make install-gpu would build mmcv')
    venv = osp.dirname(osp.dirname(sys.executable))
    # -o: the set-up itself is taken as done (this test must not reinstall the environment it runs in)
    res = subprocess.run(['make', 'install-gpu', f'VENV={venv}', '-o', f'{venv}/.tapps_mm_installed'], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode != 0 and 'install-gpu: the torch in' in res.stderr and 'has no CUDA' in res.stderr, \
        res.stderr[-2000:]
    assert 'uninstall' not in res.stdout


def test_the_mmcv_stand_in_names_a_compiled_op_when_it_is_called():
    """The CPU set-up's ``mmcv._ext`` (requirements/mmcv-ext-stub) lets mmcv.ops import and raises, naming the op
    and the GPU set-up, when a compiled op is called; with mmcv's compiled build installed, that one is used."""
    code = ('import torch, mmdet.models, mmcv._ext as e\nfrom mmcv.ops import nms\n'
            'try:\n    nms(torch.rand(3, 4), torch.rand(3), 0.5)\n    print("RAN", getattr(e, "COMPILED", True))\n'
            'except Exception as x:\n    print(type(x).__name__, x)\n')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    from mmcv_without_ops import has_compiled_mmcv_ops
    if has_compiled_mmcv_ops():
        assert res.stdout.startswith('RAN True')
    else:
        assert res.stdout.startswith("CompiledOpMissing mmcv compiled op 'nms' was called, but this mmcv is "
                                     'mmcv-lite') and 'make install-gpu' in res.stdout

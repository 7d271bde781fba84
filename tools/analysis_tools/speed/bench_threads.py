"""How the main job should use a 2-core machine, measured side by side: training throughput of the toy
TAPPS config as one 2-thread run vs two 1-thread runs at once, each on an idle machine and with one core
kept busy by another process (a user who keeps working), with OpenMP's default (spinning) wait policy
and with ``OMP_WAIT_POLICY=PASSIVE``.

    python tools/analysis_tools/speed/bench_threads.py --iters 60 --out benchmarks/results/threads.json
    python tools/analysis_tools/speed/bench_threads.py --iters 3 --skip 1 --layouts '2 runs x 1 thread, idle'  # smoke

Each layout trains ``--iters`` iterations of the toy config (no evaluation) through ``tools/train.py``;
the step time is the median of the ``time`` mmengine logs per iteration after the first ``--skip``;
throughput is runs x 1 / step time (iterations per second for the whole machine). Ratios are against the
2-thread run on the idle machine, the layout the main job used before this measurement. The toy dataset
is written first if missing (as ``tools/reproduce_tables.py`` does). Fewer iterations than the config's
warm-up shorten the warm-up to fit (the learning rate does not change the step time).
"""
from __future__ import annotations

import argparse
import glob
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np

# benchmarks/ (the toy benchmark's settings and data, the run logs' reader) is not installed: it and tapps_mm
# are imported from the checkout this script belongs to (docs/architecture.md, "The results pipeline")
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), osp.pardir, osp.pardir, osp.pardir)))

from benchmarks import REPO, machine_info  # noqa: E402
from benchmarks.collect import read_json_lines  # noqa: E402
from benchmarks.toy import TOY  # noqa: E402

#: name -> (runs at once, threads per run, OMP_WAIT_POLICY or None, a busy core beside them)
LAYOUTS = {
    '1 run x 2 threads, idle': (1, 2, None, False),
    '2 runs x 1 thread, idle': (2, 1, None, False),
    '1 run x 2 threads, one busy core': (1, 2, None, True),
    '1 run x 2 threads (PASSIVE), one busy core': (1, 2, 'PASSIVE', True),
    '2 runs x 1 thread, one busy core': (2, 1, None, True),
}
REFERENCE = '1 run x 2 threads, idle'


def step_times(work_dir: str, skip: int) -> list[float]:
    """The per-iteration ``time`` of a run's log (mmengine's logger, interval 1), warm-up left out."""
    records = read_json_lines(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))[0])
    return [r['time'] for r in records if 'time' in r and r.get('step', 0) > skip]


def schedule_options(iters: int) -> list[str]:
    """``--cfg-options`` of a run of ``iters`` iterations: no evaluation or checkpoint, a log line per
    iteration, the warm-up cut to ``iters - 1`` where the config's is longer (as the ``--quick`` schedule of
    benchmarks/toy.py does; otherwise the scheduler refuses to end before it begins)."""
    from mmengine.config import Config
    warmup = min(Config.fromfile(osp.join(REPO, TOY.configs['tapps'])).param_scheduler[0]['end'], iters - 1)
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters + 1}', 'default_hooks.logger.interval=1',
            f'default_hooks.checkpoint.interval={iters + 1}', f'param_scheduler.0.end={warmup}',
            f'param_scheduler.1.begin={warmup}', f'param_scheduler.1.end={iters}']


def measure(name: str, iters: int, skip: int, root: str) -> dict:
    runs, threads, policy, busy = LAYOUTS[name]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.pop('OMP_WAIT_POLICY', None)
    if policy:
        env['OMP_WAIT_POLICY'] = policy
    options = schedule_options(iters)
    logs = [osp.join(root, f'{name}-{k}.log') for k in range(runs)]
    hog = subprocess.Popen([sys.executable, '-c', 'while True: pass']) if busy else None
    try:
        t0 = time.perf_counter()
        procs = []
        for k in range(runs):
            with open(logs[k], 'w') as log:  # the child keeps its own copy of the descriptor
                procs.append(subprocess.Popen(
                    [sys.executable, osp.join(REPO, 'tools', 'train.py'), TOY.configs['tapps'], '--work-dir',
                     osp.join(root, f'{name}-{k}'), '--cfg-options', f'randomness.seed={k}', *options],
                    cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - t0
    finally:
        if hog:
            hog.kill()
            hog.wait()
    if any(codes):
        k = next(k for k, code in enumerate(codes) if code)
        with open(logs[k]) as f:
            tail = ''.join(f.readlines()[-30:])
        raise RuntimeError(f'{name}: a training run failed (exit codes {codes}); the end of run {k}\'s log:\n{tail}')
    steps = [float(np.median(step_times(osp.join(root, f"{name}-{k}"), skip))) for k in range(runs)]
    step = float(np.mean(steps))
    return dict(runs=runs, threads=threads, wait_policy=policy or 'default', busy_core=busy, step_s=step,
                throughput_it_s=runs / step, wall_s=wall)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--iters', type=int, default=60,
                   help='training iterations per run (2 or more; e.g. --iters 3 --skip 1 for a smoke run)')
    p.add_argument('--skip', type=int, default=10, help='first iterations left out of the median')
    p.add_argument('--layouts', nargs='+', default=list(LAYOUTS), choices=list(LAYOUTS), metavar='NAME')
    p.add_argument('--out', help='write the measurements as JSON')
    args = p.parse_args(argv)
    if args.iters < 2 or not 0 <= args.skip < args.iters:
        p.error(f'need --iters >= 2 and 0 <= --skip < --iters (got --iters {args.iters} --skip {args.skip})')
    from benchmarks.launch import make_data
    make_data(False, sys.stdout)  # the toy dataset the runs read, unless it is there already
    command = 'python tools/analysis_tools/speed/bench_threads.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    result = dict(command=command, machine=machine_info()['machine'], config=TOY.configs['tapps'], iters=args.iters,
                  skip=args.skip, layouts={})
    with tempfile.TemporaryDirectory() as root:
        for name in args.layouts:
            result['layouts'][name] = measure(name, args.iters, args.skip, root)
            print(f'{name}: {result["layouts"][name]}', flush=True)
    ref = result['layouts'].get(REFERENCE)
    for values in result['layouts'].values():
        values['throughput_vs_reference'] = values['throughput_it_s'] / ref['throughput_it_s'] if ref else None
    if args.out:
        from tapps_mm.fileio import write_json_atomic
        write_json_atomic(result, args.out)
    return result


if __name__ == '__main__':
    main()

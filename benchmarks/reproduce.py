"""The main job's orchestration: what to run, launching it with the existing launchers, progress, and the
outputs (CSV aggregates, tables, plots, summary, README blocks). ``tools/reproduce_tables.py`` only parses
the flags and calls :func:`main`.

Runs are plain ``tools/train.py`` runs in ``<work root>/<config stem>/seed<k>/`` with
``--cfg-options randomness.seed=k`` and ``--resume``: a second call skips complete runs and resumes
incomplete ones from their last complete checkpoint, so killing the command loses at most the work since
that checkpoint. ``local`` runs them here (``--jobs`` at once, the cores split between them), ``dist``
through ``tools/dist_train.sh``, ``slurm`` as one sbatch job array whose tasks call ``tools/slurm_train.sh``
(each with ``--resume``, so a requeued task continues). We never schedule anything ourselves beyond that.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import os.path as osp
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from benchmarks import aggregate, plots, render, statistics
from benchmarks.readme_blocks import Markers, replace_block, report, sync_files
from benchmarks.runs import LAUNCH_FILE, PREFIX, Run, RunError, collect, is_run_dir, read_run, runs_frame
from benchmarks.toy import TOY

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS_DIR = osp.join(REPO, 'benchmarks', 'results')  # the committed aggregates the README is rendered from
PUBLISHED = ('runs.csv', 'results.csv', 'comparisons.csv', 'meta.json')
README_BLOCK = Markers('toy-results', 'python tools/reproduce_tables.py --update-readme')
LAUNCHERS = ('local', 'dist', 'slurm')


@dataclass(frozen=True)
class Job:
    """One (config, seed) training run."""
    config: str  # config file
    seed: int
    work_dir: str
    options: tuple[str, ...] = ()  # extra --cfg-options (the --quick schedule)

    @property
    def stem(self) -> str:
        return osp.splitext(osp.basename(self.config))[0]

    def train_args(self) -> list[str]:
        """The ``tools/train.py`` arguments after the config (without --work-dir for slurm_train.sh)."""
        return ['--cfg-options', f'randomness.seed={self.seed}', *self.options, '--resume']


def plan(configs: list[str], seeds: list[int], work_root: str, options: tuple[str, ...] = ()) -> list[Job]:
    """Seeds 0..N-1 of each config, in ``<work_root>/<config stem>/seed<k>/``; seed by seed, so a job
    stopped part-way has whole pairs for the comparisons."""
    jobs = []
    for seed in seeds:
        for config in configs:
            stem = osp.splitext(osp.basename(config))[0]
            jobs.append(Job(config, seed, osp.join(work_root, stem, f'seed{seed}'), tuple(options)))
    return jobs


def job_state(job: Job, running: bool = False) -> str:
    """'missing', 'complete' or 'incomplete k/N' (read from the job's work dir). A run killed before
    mmengine dumped its config counts as incomplete; while it ``running``, a half-written file too."""
    if not is_run_dir(job.work_dir):
        return 'missing'
    if not glob.glob(osp.join(job.work_dir, '*.py')):
        return 'incomplete (not started)'
    try:
        run = read_run(job.work_dir)
    except RunError:
        if running:
            return 'running'
        raise
    if not running and run.max_iters != planned_iters(job):
        raise RunError(f'{job.work_dir}: trained with max_iters={run.max_iters}, the plan has {planned_iters(job)} '
                       '(another schedule): remove it or choose another --work-root')
    return run.status


def command(job: Job, launch: str, python: str = sys.executable, gpus: int = 1, partition: str = '') -> list[str]:
    """The command that trains ``job`` with the chosen launcher (always with --resume)."""
    tools = osp.join(REPO, 'tools')
    if launch == 'local':
        return [python, osp.join(tools, 'train.py'), job.config, '--work-dir', job.work_dir, *job.train_args()]
    if launch == 'dist':
        return [osp.join(tools, 'dist_train.sh'), job.config, str(gpus), '--work-dir', job.work_dir,
                *job.train_args()]
    if launch == 'slurm':
        return [osp.join(tools, 'slurm_train.sh'), partition, f'{job.stem}-seed{job.seed}', job.config, job.work_dir,
                *job.train_args()]
    raise ValueError(f'unknown launcher {launch!r}; one of {LAUNCHERS}')


# ------------------------------------------------------------------------------------------ provenance


def git_commit(repo: str = REPO) -> str:
    try:
        out = subprocess.run(['git', 'describe', '--always', '--dirty', '--abbrev=10'], cwd=repo, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or 'unknown'
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def machine() -> str:
    """The machine in words (cores, CPU, GPU): no host name, no paths."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    text = f'{cores} CPU cores ({platform.machine()})'
    if shutil.which('nvidia-smi'):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(['nvidia-smi', '--query-gpu=name', '--format=csv,noheader'], capture_output=True,
                                 text=True, timeout=10).stdout.split('\n')
            gpus = [g.strip() for g in out if g.strip()]
            if gpus:
                text += f', {len(gpus)}x {gpus[0]}'
    return text


def _write_launch_file(job: Job, cmd: list[str]) -> None:
    """What launched the run (commit, machine, command): mmengine records neither commit nor machine."""
    os.makedirs(job.work_dir, exist_ok=True)
    path = osp.join(job.work_dir, LAUNCH_FILE)
    info = dict(commit=git_commit(), machine=machine(), command=shlex.join(cmd),
                date=datetime.now().isoformat(timespec='seconds'))
    with open(path, 'w') as f:
        json.dump(info, f, indent=1)


# ---------------------------------------------------------------------------------------------- progress


def current_iter(work_dir: str) -> int:
    """The last training iteration the run in ``work_dir`` logged (read while it runs: partial lines are
    skipped, not errors)."""
    best = 0
    if not osp.isdir(work_dir):
        return 0
    for ts in os.listdir(work_dir):
        path = osp.join(work_dir, ts, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if 'iter' in record or any(k.startswith(PREFIX) for k in record):
                    best = max(best, int(record.get('step', 0)))
    return best


def planned_iters(job: Job) -> int:
    """``train_cfg.max_iters`` of the job (its options first, then its config file)."""
    for option in reversed(job.options):
        if option.startswith('train_cfg.max_iters='):
            return int(option.split('=', 1)[1])
    from mmengine.config import Config
    return int(Config.fromfile(job.config, import_custom_modules=False).train_cfg.max_iters)


class Progress:
    """One status line: runs done, what runs now and at which iteration, and the overall ETA (from the
    iterations done since the start; evaluation time counts into the rate)."""

    def __init__(self, jobs: list[Job], stream=sys.stderr, every_s: float = 15.0) -> None:
        self.jobs, self.stream, self.every_s = jobs, stream, every_s
        self.total = {j: planned_iters(j) for j in jobs}
        self.start_iters = {j: min(current_iter(j.work_dir), self.total[j]) for j in jobs}
        self.t0, self.last = time.monotonic(), 0.0
        self.tty = hasattr(stream, 'isatty') and stream.isatty()

    def line(self, running: list[Job], finished: int) -> str:
        now = {j: min(current_iter(j.work_dir), self.total[j]) for j in self.jobs}
        done, total = sum(now.values()), sum(self.total.values())
        gained, elapsed = done - sum(self.start_iters.values()), time.monotonic() - self.t0
        eta = f'{(total - done) * elapsed / gained / 60:.1f} min' if gained > 0 else '?'
        what = '; '.join(f'{j.stem} seed {j.seed}: {now[j]}/{self.total[j]}' for j in running) or 'waiting'
        return f'[reproduce] {finished}/{len(self.jobs)} runs done | {what} | {done}/{total} it | ETA {eta}'

    def update(self, running: list[Job], finished: int, force: bool = False) -> None:
        if not force and time.monotonic() - self.last < (2.0 if self.tty else self.every_s):
            return
        self.last = time.monotonic()
        text = self.line(running, finished)
        self.stream.write(('\r' + text[:200].ljust(200)) if self.tty else text + '\n')
        self.stream.flush()

    def close(self, finished: int) -> None:
        self.update([], finished, force=True)
        if self.tty:
            self.stream.write('\n')


# ---------------------------------------------------------------------------------------------- launching


def _env(threads: int | None = None) -> dict[str, str]:
    """The environment of a launched run (``OMP_WAIT_POLICY`` is passed on: see the README on shared
    machines)."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    env.setdefault('PYTHON', sys.executable)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def run_processes(jobs: list[Job], launch: str, n_jobs: int, log_dir: str, gpus: int = 1,
                  stream=sys.stderr) -> dict[Job, int]:
    """Run the jobs here (``local``: ``n_jobs`` at once with the cores split between them; ``dist``: one
    at a time, each over ``gpus`` processes); their output goes to ``log_dir/<stem>_seed<k>.log``.
    Returns each job's exit status."""
    os.makedirs(log_dir, exist_ok=True)
    n_jobs = max(1, n_jobs if launch == 'local' else 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    threads = max(1, cores // (n_jobs * (gpus if launch == 'dist' else 1)))
    progress = Progress(jobs, stream)
    pending, running, codes = list(jobs), {}, {}
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                job = pending.pop(0)
                cmd = command(job, launch, gpus=gpus)
                _write_launch_file(job, cmd)
                log = open(osp.join(log_dir, f'{job.stem}_seed{job.seed}.log'), 'ab')
                running[job] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                 env=_env(threads), cwd=REPO), log)
            for job, (proc, log) in list(running.items()):
                if proc.poll() is not None:
                    log.close()
                    codes[job] = proc.returncode
                    del running[job]
                    if proc.returncode:
                        stream.write(f'\n[reproduce] {job.stem} seed {job.seed} failed ({proc.returncode}); see '
                                     f'{log.name}\n')
            progress.update(list(running), len(codes))
            time.sleep(0.5)
    finally:  # interrupted: stop our children (their last complete checkpoint stays for --resume)
        for proc, log in running.values():
            proc.terminate()
            proc.wait()
            log.close()
    progress.close(len(codes))
    return codes


def slurm_script(jobs: list[Job], partition: str, log_dir: str, gpus: int = 1, gpus_per_node: int | None = None,
                 cpus_per_task: int | None = None) -> str:
    """An sbatch job-array script: task i runs ``tools/slurm_train.sh`` for job i (with --resume), each on
    its own rendezvous port (PORT + i), requeued on preemption."""
    gpn = gpus_per_node or min(gpus, int(os.environ.get('GPUS_PER_NODE', gpus)))
    cpt = cpus_per_task or int(os.environ.get('CPUS_PER_TASK', 1))
    lines = ['#!/usr/bin/env bash', '#SBATCH --job-name=tapps-reproduce', f'#SBATCH --ntasks={gpus}',
             f'#SBATCH --ntasks-per-node={gpn}', f'#SBATCH --cpus-per-task={cpt}', '#SBATCH --requeue',
             f'#SBATCH --output={osp.join(log_dir, "slurm-%A_%a.out")}']
    if partition:
        lines.append(f'#SBATCH --partition={partition}')
    lines += ['', f'cd {shlex.quote(REPO)}', f'export GPUS={gpus} GPUS_PER_NODE={gpn} CPUS_PER_TASK={cpt}',
              'export PORT=$(( ${PORT:-29500} + SLURM_ARRAY_TASK_ID ))', 'case "$SLURM_ARRAY_TASK_ID" in']
    for i, job in enumerate(jobs):
        lines.append(f'  {i}) exec {shlex.join(command(job, "slurm", partition=partition))} ;;')
    lines += ['  *) echo "no job $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;', 'esac', '']
    return '\n'.join(lines)


def run_slurm(jobs: list[Job], partition: str, n_jobs: int, log_dir: str, gpus: int = 1,
              stream=sys.stderr, poll_s: float = 1.0) -> dict[Job, int]:
    """Submit the jobs as one sbatch array (``%n_jobs`` at once), show progress until it has ended, and
    return 0 per job whose run is complete (1 otherwise)."""
    os.makedirs(log_dir, exist_ok=True)
    script = osp.join(log_dir, 'reproduce_array.sh')
    with open(script, 'w') as f:
        f.write(slurm_script(jobs, partition, osp.abspath(log_dir), gpus))
    for job in jobs:
        _write_launch_file(job, command(job, 'slurm', partition=partition))
    array = f'0-{len(jobs) - 1}' + (f'%{n_jobs}' if n_jobs else '')
    out = subprocess.run(['sbatch', '--parsable', f'--array={array}', script], capture_output=True, text=True,
                         env=_env())
    if out.returncode:
        raise RuntimeError(f'sbatch failed ({out.returncode}): {out.stderr.strip()}')
    job_id = out.stdout.strip().split(';')[0]
    stream.write(f'[reproduce] submitted Slurm job array {job_id} ({len(jobs)} tasks; logs in {log_dir})\n')
    progress = Progress(jobs, stream)
    while True:
        queued = subprocess.run(['squeue', '-h', '-j', job_id, '-o', '%i'], capture_output=True, text=True,
                                env=_env()).stdout.split()
        if not queued:
            break
        states = {j: job_state(j, running=True) for j in jobs}
        finished = sum(s == 'complete' for s in states.values())
        progress.update([j for j in jobs if states[j] != 'complete'], finished)
        time.sleep(poll_s)
    codes = {j: 0 if job_state(j) == 'complete' else 1 for j in jobs}
    progress.close(sum(c == 0 for c in codes.values()))
    return codes


# ------------------------------------------------------------------------------------------------ outputs


def meta_of(runs: list[Run], command_line: str, quick: bool) -> dict:
    """The aggregates' own record: what ran, where, when (the newest run start), at which commit."""
    commits = sorted({r.commit for r in runs if r.commit})
    machines = sorted({r.machine for r in runs if r.machine})
    starts = sorted(r.last_start for r in runs if r.last_start)
    date = datetime.strptime(starts[-1], '%Y%m%d_%H%M%S').strftime('%Y-%m-%d') if starts else 'undated'
    return dict(command=command_line, quick=quick, date=date,
                commit=', '.join(commits) if commits else f'{git_commit()} (at collection; not recorded by the runs)',
                machine='; '.join(machines) if machines else machine(),
                runs=len(runs), runs_complete=sum(r.complete for r in runs),
                wall_s=round(sum(r.wall_s or 0.0 for r in runs), 1),
                seeds=sorted({r.seed for r in runs if r.seed is not None}),
                per_image_runs=sum(bool(r.per_image) for r in runs if r.complete),
                bootstrap=dict(n_boot=statistics.N_BOOT, generator_seed=statistics.BOOT_SEED,
                               confidence=statistics.CONFIDENCE))


def write_outputs(runs: list[Run], rows: pd.DataFrame, out_dir: str, meta: dict) -> dict[str, pd.DataFrame]:
    """Everything under ``out_dir``: the CSVs, meta.json, tables (Markdown, LaTeX), plots, summary."""
    os.makedirs(out_dir, exist_ok=True)
    noise = aggregate.ImageNoise(runs)  # one cache of per-image files and resamples for cells and comparisons
    frames = dict(runs=runs_frame(runs), results=aggregate.results(runs, rows, noise),
                  comparisons=aggregate.comparisons(runs, rows, noise))
    for name, frame in frames.items():
        frame.to_csv(osp.join(out_dir, f'{name}.csv'), index=False, float_format='%.6g')
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    with open(osp.join(out_dir, 'tables.md'), 'w') as f:
        f.write(render.tables_markdown(frames['results'], frames['comparisons'], meta))
    with open(osp.join(out_dir, 'tables.tex'), 'w') as f:
        f.write(render.tables_latex(frames['results'], meta))
    unused = sorted({f'{r.config} (seed {r.seed}, {r.work_dir})' for r in aggregate.unused_runs(runs, rows)})
    text = render.summary(frames['runs'], frames['results'], frames['comparisons'], meta, unused)
    with open(osp.join(out_dir, 'summary.md'), 'w') as f:
        f.write(text)
    plot_dir = osp.join(out_dir, 'plots')
    shutil.rmtree(plot_dir, ignore_errors=True)
    plots.plot_all(runs, frames['results'], aggregate.final_values(runs), frames['comparisons'], plot_dir,
                   smoke=bool(meta.get('quick')))
    frames['summary'] = text
    return frames


def publish(out_dir: str, results_dir: str = RESULTS_DIR) -> None:
    """Copy the aggregates of ``out_dir`` into the committed ``benchmarks/results/`` (work dirs made
    relative to the repository: no machine paths in committed files)."""
    os.makedirs(results_dir, exist_ok=True)
    for name in PUBLISHED:
        src, dst = osp.join(out_dir, name), osp.join(results_dir, name)
        if name == 'runs.csv':
            frame = pd.read_csv(src)
            frame['work_dir'] = [_relative(p) for p in frame.work_dir]
            frame.to_csv(dst, index=False, float_format='%.6g')
        else:
            shutil.copyfile(src, dst)


def _relative(path: str) -> str:
    full = osp.abspath(path)
    return osp.relpath(full, REPO) if full.startswith(REPO + os.sep) else osp.basename(full)


def load_published(results_dir: str = RESULTS_DIR):
    """(results, comparisons, meta) from the committed aggregates, or (None, None, None)."""
    paths = [osp.join(results_dir, n) for n in ('results.csv', 'comparisons.csv', 'meta.json')]
    if not all(osp.isfile(p) for p in paths):
        return None, None, None
    read = dict(dtype={'table': str, 'variant': str}, keep_default_na=True)
    results = pd.read_csv(paths[0], **read).fillna({'variant': '', 'seeds': '', 'status': 'missing'})
    comparisons = pd.read_csv(paths[1], **read).fillna({'note': '', 'seeds': ''})
    with open(paths[2]) as f:
        meta = json.load(f)
    return results, comparisons, meta


def readme_files(results_dir: str = RESULTS_DIR) -> dict[str, str]:
    """README.md with its toy-results block rendered from the committed aggregates, and the metafiles
    (whose measured results come from the same aggregates)."""
    from benchmarks import metafiles
    path = osp.join(REPO, 'README.md')
    with open(path) as f:
        text = f.read()
    runs_csv = osp.join(results_dir, 'runs.csv')
    runs = pd.read_csv(runs_csv) if osp.isfile(runs_csv) else None
    text = replace_block(text, README_BLOCK, render.readme_block(*load_published(results_dir), runs=runs), path)
    for markers, body in speed_blocks(results_dir).items():
        text = replace_block(text, markers, body, path)
    text = replace_block(text, TRIED_BLOCK, settings_tried_block(results_dir), path)
    files = {'README.md': text}
    files.update(metafiles.expected_files())
    return files


EVALUATOR_BLOCK = Markers('evaluator-speed', 'make bench-eval; python tools/reproduce_tables.py --update-readme')
MODEL_COST_BLOCK = Markers('model-cost', 'make bench-model; python tools/reproduce_tables.py --update-readme')
GPU_BLOCK = Markers('gpu-check', 'benchmarks/gpu_check.sh on a GPU; python tools/reproduce_tables.py --update-readme')


def speed_blocks(results_dir: str = RESULTS_DIR) -> dict[Markers, str]:
    """The README blocks of the side-by-side speed benchmarks, from the JSON they wrote (committed in
    ``benchmarks/results/``); a benchmark whose JSON is absent is said to be not measured."""
    from benchmarks.model_cost_report import render_evaluator, render_gpu_check, render_model_cost

    def load(name: str) -> dict | None:
        path = osp.join(results_dir, name)
        if not osp.isfile(path):
            return None
        with open(path) as f:
            return json.load(f)

    cost = load('model_cost.json')
    return {EVALUATOR_BLOCK: render_evaluator(load('evaluator.json')),
            MODEL_COST_BLOCK: render_model_cost(cost) if cost else 'Not measured yet (`make bench-model`).',
            GPU_BLOCK: render_gpu_check(load('gpu_check.json'))}


TRIED_BLOCK = Markers('toy-settings-tried', 'python tools/reproduce_tables.py --update-readme')


def settings_tried_block(results_dir: str = RESULTS_DIR) -> str:
    """Every toy setting measured with the main job: the per-run numbers kept in ``results/tried/<name>/``
    and the current ``results/runs.csv``; per setting the seed spread of each method and the paired
    TAPPS - baseline PartPQ (percent)."""
    tried = sorted(glob.glob(osp.join(results_dir, 'tried', '*', 'runs.csv')))
    settings = {osp.basename(osp.dirname(p)): p for p in tried}
    if osp.isfile(osp.join(results_dir, 'runs.csv')):
        settings[f'{TOY.name} (default, benchmarks/results/)'] = osp.join(results_dir, 'runs.csv')
    lines = ['| setting | configs | seeds | TAPPS PartPQ | baseline PartPQ | TAPPS - baseline (paired) | '
             'training + evaluation |', '| --- | --- | --- | --- | --- | --- | --- |']
    for name, path in settings.items():
        runs = pd.read_csv(path)
        runs = runs[runs.status == 'complete']
        method = runs.config.str.split('_').str[0]
        by = {m: runs[method == m].set_index('seed').PartPQ * 100 for m in ('tapps', 'baseline')}
        diff = (by['tapps'] - by['baseline']).dropna()
        cell = lambda x, sign='': f'{x.mean():{sign}.1f} ± {x.std(ddof=1):.1f}' if len(x) > 1 else '-'  # noqa: E731
        lines.append(f'| {name} | {", ".join(sorted(set(runs.config)))} | {len(diff)} | {cell(by["tapps"])} | '
                     f'{cell(by["baseline"])} | {cell(diff, "+")} | {runs.wall_s.sum() / 60:.0f} min |')
    return ('Every toy setting measured (toy scale; mean ± sample std over seeds 0..n-1; configs as they were named '
            'then; the designs are '
            'in the docstring of the toy TAPPS config):\n\n' + '\n'.join(lines))


def readme_is_current(results_dir: str = RESULTS_DIR) -> bool:
    return not sync_files(readme_files(results_dir), REPO, check=True)


# ------------------------------------------------------------------------------------------------- main


def _tables_for_launch(ids: list[str]) -> tuple[str, ...]:
    numbers = tuple(i for i in ids if i != '1')
    TOY.config_files(numbers)  # raises on an unknown id
    return numbers


def _make_data(dry_run: bool, stream) -> None:
    """Write the toy dataset unless the folder holds it already, made with the same arguments."""
    from tapps_mm.datasets.synthetic_pp import generator_args
    root = osp.join(REPO, TOY.data_root)
    recorded = osp.join(root, 'generator.json')
    if osp.isfile(recorded):
        with open(recorded) as f:
            if json.load(f) == generator_args(**TOY.data_args):
                return
        why = f'{recorded} records other generator arguments'
    else:
        why = 'synthetic dataset missing'
    cmd = [sys.executable, *TOY.make_data]
    stream.write(f'[reproduce] {why}: {shlex.join(cmd)}\n')
    if not dry_run:
        subprocess.run(cmd, cwd=REPO, check=True, env=_env())


def main(args) -> int:
    """The command (see tools/reproduce_tables.py for the flags)."""
    stream = sys.stdout
    if args.check:
        return report(sync_files(readme_files(), REPO, check=True), check=True)
    if args.update_readme and not args.publish:
        return report(sync_files(readme_files(), REPO, check=False), check=False)

    stream.write(f'[reproduce] checkout: {REPO}\n')
    rows = aggregate.table_rows()
    out_dir = args.out or osp.join('work_dirs', 'reproduce', 'quick' if args.quick else '')
    codes: dict[Job, int] = {}
    if args.work_dirs:
        roots = list(args.work_dirs)
        selected = aggregate.select_tables(rows, _expand(args.tables, rows)) if args.tables else rows
    else:
        numbers = _tables_for_launch(args.tables or [])
        options = TOY.quick_options if args.quick else ()
        seeds = list(range(args.seeds if args.seeds is not None else (TOY.quick_seeds if args.quick else TOY.seeds)))
        work_root = args.work_root or (TOY.quick_work_root if args.quick else 'work_dirs')
        jobs = plan(TOY.config_files(numbers), seeds, work_root, options)
        selected = aggregate.select_tables(rows, ['1-toy'] + [f'{n}-toy' for n in numbers])
        _make_data(args.dry_run, stream)
        states = {j: job_state(j) for j in jobs}
        todo = [j for j in jobs if states[j] != 'complete']
        for job in jobs:
            action = 'skip (complete)' if states[job] == 'complete' else (
                'start' if states[job] == 'missing' else f'resume ({states[job]})')
            stream.write(f'[reproduce] {job.stem} seed {job.seed}: {action}\n')
        if args.dry_run:
            gpus = int(os.environ.get('GPUS', 1))
            if args.launch == 'slurm' and todo:
                stream.write(slurm_script(todo, args.partition, osp.join(out_dir, 'logs'), gpus))
            else:
                for job in todo:
                    stream.write(shlex.join(command(job, args.launch, gpus=gpus)) + '\n')
            return 0
        t0 = time.monotonic()
        if todo:
            log_dir = osp.join(out_dir, 'logs')
            gpus = int(os.environ.get('GPUS', 1))
            if args.launch == 'slurm':
                codes = run_slurm(todo, args.partition, args.jobs, log_dir, gpus, stream=stream)
            else:
                codes = run_processes(todo, args.launch, args.jobs, log_dir, gpus, stream=stream)
        stream.write(f'[reproduce] launched {len(todo)} run(s) in {(time.monotonic() - t0) / 60:.1f} min\n')
        roots = [j.work_dir for j in jobs if is_run_dir(j.work_dir)]

    runs = collect(roots) if roots else []
    command_line = 'python tools/reproduce_tables.py' + (' ' + shlex.join(args.argv) if args.argv else '')
    meta = meta_of(runs, command_line, args.quick)
    frames = write_outputs(runs, selected, out_dir, meta)
    stream.write(frames['summary'])
    stream.write(f'[reproduce] tables, plots and CSVs in {out_dir}\n')
    if args.publish:
        publish(out_dir)
        stream.write(f'[reproduce] aggregates stored in {osp.relpath(RESULTS_DIR, REPO)}\n')
        if args.update_readme:
            report(sync_files(readme_files(), REPO, check=False), check=False)
    failed = [j for j, c in codes.items() if c]
    return 1 if failed else 0


def _expand(ids: list[str], rows: pd.DataFrame) -> list[str]:
    """Table ids for rendering: exact ids ('1a', '3-toy'), or a number for all its versions ('3': 3, 3-toy)."""
    known = aggregate.known_tables(rows)
    out = []
    for i in ids:
        match = [t for t in known if t == i or aggregate.table_number(t) == i and not i.endswith('-toy')]
        if not match:
            raise KeyError(f'unknown table id {i!r}; known: {", ".join(known)}')
        out += [t for t in match if t not in out]
    return out


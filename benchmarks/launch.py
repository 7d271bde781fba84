"""Launching the (config, seed) runs of the main job with the existing launchers, with provenance and
progress.

Runs are plain ``tools/train.py`` runs in ``<work root>/<config stem>/seed<k>/`` with
``--cfg-options +randomness.seed=k`` and ``--resume``: a second call skips complete runs and resumes
incomplete ones from their last complete checkpoint, so killing the command loses at most the work since
that checkpoint. ``local`` runs them here (``--jobs`` at once, one thread each: ``LOCAL_THREADS``), ``dist``
through ``tools/dist_train.sh``, ``slurm`` as one sbatch job array whose tasks call ``tools/slurm_train.sh``
(each with ``--resume``, so a requeued task continues). We never schedule anything ourselves beyond that.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime

from benchmarks import REPO, config_stem, machine_info, usable_cores
from benchmarks.collect import LAUNCH_FILE, PREFIX, RunError, is_run_dir, read_run
from benchmarks.toy import TOY

LAUNCHERS = ('local', 'dist', 'slurm')
#: torch threads of each local run. One thread per run and as many runs at once as there are cores: more
#: throughput than one 2-thread run on 2 idle cores, and graceful beside a busy core, since a single thread
#: never spins waiting for another (measured by `make bench-threads`, docs/benchmarks.md). It also
#: makes a run's numbers independent of the machine's core count.
LOCAL_THREADS = 1


@dataclass(frozen=True)
class Job:
    """One (config, seed) training run."""
    config: str  # config file
    seed: int
    work_dir: str
    options: tuple[str, ...] = ()  # extra --cfg-options (the --quick schedule)

    @property
    def stem(self) -> str:
        return config_stem(self.config)

    def train_args(self) -> list[str]:
        """The ``tools/train.py`` arguments after the config (without --work-dir for slurm_train.sh). The seed
        is marked new (``+``): the paper's configs leave ``randomness`` at mmengine's default, and
        ``--cfg-options`` refuses a key the config does not have."""
        return ['--cfg-options', f'+randomness.seed={self.seed}', *self.options, '--resume']


def plan(configs: list[str], seeds: list[int], work_root: str, options: tuple[str, ...] = ()) -> list[Job]:
    """Seeds 0..N-1 of each config, in ``<work_root>/<config stem>/seed<k>/``; seed by seed, so a job
    stopped part-way has whole pairs for the comparisons."""
    jobs = []
    for seed in seeds:
        for config in configs:
            jobs.append(Job(config, seed, osp.join(work_root, config_stem(config), f'seed{seed}'), tuple(options)))
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


def write_launch_file(job: Job, cmd: list[str]) -> None:
    """What launched the run (commit, machine, command): mmengine records neither commit nor machine."""
    os.makedirs(job.work_dir, exist_ok=True)
    path = osp.join(job.work_dir, LAUNCH_FILE)
    info = dict(commit=git_commit(), machine=machine_info()['machine'], command=shlex.join(cmd),
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


def run_env(threads: int | None = None) -> dict[str, str]:
    """The environment of a launched run: this checkout first on the path, the run's thread count."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    env.setdefault('PYTHON', sys.executable)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def run_processes(jobs: list[Job], launch: str, n_jobs: int | None, log_dir: str, gpus: int = 1,
                  stream=sys.stderr) -> dict[Job, int]:
    """Run the jobs here (``local``: ``n_jobs`` at once, default one per usable core, each with
    ``LOCAL_THREADS``; ``dist``: one at a time, each over ``gpus`` processes that split the cores); their
    output goes to ``log_dir/<stem>_seed<k>.log``. Returns each job's exit status."""
    os.makedirs(log_dir, exist_ok=True)
    if launch == 'local':
        n_jobs, threads = n_jobs or usable_cores(), LOCAL_THREADS
    else:
        n_jobs, threads = 1, max(1, usable_cores() // gpus)
    progress = Progress(jobs, stream)
    pending, running, codes = list(jobs), {}, {}
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                job = pending.pop(0)
                cmd = command(job, launch, gpus=gpus)
                write_launch_file(job, cmd)
                log = open(osp.join(log_dir, f'{job.stem}_seed{job.seed}.log'), 'ab')
                running[job] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                 env=run_env(threads), cwd=REPO), log)
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
        write_launch_file(job, command(job, 'slurm', partition=partition))
    array = f'0-{len(jobs) - 1}' + (f'%{n_jobs}' if n_jobs else '')
    out = subprocess.run(['sbatch', '--parsable', f'--array={array}', script], capture_output=True, text=True,
                         env=run_env())
    if out.returncode:
        raise RuntimeError(f'sbatch failed ({out.returncode}): {out.stderr.strip()}')
    job_id = out.stdout.strip().split(';')[0]
    stream.write(f'[reproduce] submitted Slurm job array {job_id} ({len(jobs)} tasks; logs in {log_dir})\n')
    progress = Progress(jobs, stream)
    while True:
        queued = subprocess.run(['squeue', '-h', '-j', job_id, '-o', '%i'], capture_output=True, text=True,
                                env=run_env()).stdout.split()
        if not queued:
            break
        states = {j: job_state(j, running=True) for j in jobs}
        finished = sum(s == 'complete' for s in states.values())
        progress.update([j for j in jobs if states[j] != 'complete'], finished)
        time.sleep(poll_s)
    codes = {j: 0 if job_state(j) == 'complete' else 1 for j in jobs}
    progress.close(sum(c == 0 for c in codes.values()))
    return codes


def make_data(dry_run: bool, stream) -> None:
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
        subprocess.run(cmd, cwd=REPO, check=True, env=run_env())

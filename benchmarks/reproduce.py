"""The main job's flow, one function per mode of ``tools/reproduce_tables.py`` (which only parses the flags):
plan and launch the runs (:mod:`benchmarks.launch`), collect them (:mod:`benchmarks.collect`), write the
aggregates, tables and plots from their statistics (:mod:`benchmarks.outputs`), draw the compared methods'
predictions, the one stage after training that runs models (:mod:`benchmarks.predictions`), publish them
and rewrite the documents (:mod:`benchmarks.documents`).
"""
from __future__ import annotations

import os
import os.path as osp
import shlex
import sys
import time

import pandas as pd

from benchmarks import REPO, aggregate, documents, launch, predictions, probe_report, probes
from benchmarks.collect import collect, is_run_dir
from benchmarks.outputs import RESULTS_DIR, meta_of, publish, write_outputs
from benchmarks.readme_blocks import report, sync_files
from benchmarks.toy import TOY


def sync_documents(check: bool) -> int:
    """``--check`` / ``--update-readme``: compare or rewrite every generated document."""
    return report(sync_files(documents.expected_files(), REPO, check=check), check=check)


def expand_tables(ids: list[str], rows: pd.DataFrame) -> list[str]:
    """Table ids for rendering: exact ids ('1a', '3-toy'), or a number for all its versions ('3': 3, 3-toy)."""
    known = aggregate.known_tables(rows)
    if 'all' in ids:
        return known
    out = []
    for i in ids:
        match = [t for t in known if t == i or aggregate.table_number(t) == i and not i.endswith('-toy')]
        if not match:
            raise KeyError(f'unknown table id {i!r}; known: {", ".join(known)}')
        out += [t for t in match if t not in out]
    return out


def launch_runs(args, out_dir: str, stream) -> tuple[list[launch.Job], dict[launch.Job, int]]:
    """Plan the toy runs of the requested tables, say what each will do, and run the missing ones (nothing
    with ``--dry-run``: the commands are printed). Returns the jobs and the exit status of each launched."""
    numbers = TOY.expand(args.tables)
    seeds = list(range(args.seeds if args.seeds is not None else (TOY.quick_seeds if args.quick else TOY.seeds)))
    work_root = args.work_root or (TOY.quick_work_root if args.quick else 'work_dirs')
    jobs = launch.plan(TOY.config_files(numbers), seeds, work_root, TOY.quick_options if args.quick else ())
    launch.make_data(args.dry_run, stream)
    states = {j: launch.job_state(j) for j in jobs}
    todo = [j for j in jobs if states[j] != 'complete']
    for job in jobs:
        action = {'complete': 'skip (complete)', 'missing': 'start'}.get(states[job], f'resume ({states[job]})')
        stream.write(f'[reproduce] {job.stem} seed {job.seed}: {action}\n')
    gpus, log_dir = int(os.environ.get('GPUS', 1)), osp.join(out_dir, 'logs')
    if args.dry_run:
        if args.launch == 'slurm' and todo:
            stream.write(launch.slurm_script(todo, args.partition, log_dir, gpus))
        else:
            stream.write(''.join(shlex.join(launch.command(j, args.launch, gpus=gpus)) + '\n' for j in todo))
        return jobs, {}
    t0, codes = time.monotonic(), {}
    if todo and args.launch == 'slurm':
        codes = launch.run_slurm(todo, args.partition, args.jobs, log_dir, gpus, stream=stream)
    elif todo:
        codes = launch.run_processes(todo, args.launch, args.jobs, log_dir, gpus, stream=stream)
    stream.write(f'[reproduce] launched {len(todo)} run(s) in {(time.monotonic() - t0) / 60:.1f} min\n')
    return jobs, codes


def main(args) -> int:
    """The command (see tools/reproduce_tables.py for the flags)."""
    stream = sys.stdout
    if args.check or (args.update_readme and not args.publish):
        return sync_documents(check=args.check)
    stream.write(f'[reproduce] checkout: {REPO}\n')
    rows = aggregate.table_rows()
    out_dir = args.out or osp.join('work_dirs', 'reproduce', 'quick' if args.quick else '')
    codes = {}
    if args.work_dirs:
        roots = list(args.work_dirs)
        if probes_job(args):
            selected = rows
        else:
            selected = aggregate.select_tables(rows, expand_tables(args.tables, rows)) if args.tables else rows
    else:
        TOY.config_files(TOY.expand(args.tables))  # an unknown id fails before any work
        probes_job(args)
        jobs, codes = launch_runs(args, out_dir, stream)
        if args.dry_run:
            return 0
        roots = [j.work_dir for j in jobs if is_run_dir(j.work_dir)]
        # Table 5-toy (things only) reads the Table 1-toy runs: always collected with them
        tables = ['1-toy', '5-toy'] + [f'{n}-toy' for n in TOY.expand(args.tables) if n not in ('5', 'probes')]
        selected = aggregate.select_tables(rows, tables)
    runs = collect(roots) if roots else []
    rehearsals = [r.work_dir for r in runs if r.rehearsal]
    if rehearsals and (args.publish or args.update_readme):
        stream.write(f'[reproduce] refusing --publish / --update-readme: {len(rehearsals)} rehearsal run(s) collected '
                     f'(e.g. {rehearsals[0]}); a rehearsal is never published\n')
        return 2
    command_line = 'python tools/reproduce_tables.py' + (' ' + shlex.join(args.argv) if args.argv else '')
    meta = meta_of(runs, command_line, args.quick)
    if probes_job(args):  # the probes' own collection: their evidence, published apart from the tables'
        probe_dir = osp.join(out_dir, 'probes')
        frames = probes.write_probe_outputs(runs, probe_dir, meta, stream)
        text = probe_report.probes_block(frames['probes'], frames['inference'], frames['size_bands'], meta) + '\n'
        with open(osp.join(probe_dir, 'summary.md'), 'w') as f:
            f.write(text)
        stream.write(text + f'[reproduce] the probes\' CSVs and summary in {probe_dir}\n')
        if args.publish:
            probes.publish_probes(probe_dir)
            stream.write(f'[reproduce] probe aggregates stored in {osp.relpath(probes.PROBES_RESULTS_DIR, REPO)}\n')
            if args.update_readme:
                sync_documents(check=False)
        return 1 if any(codes.values()) else 0
    frames = write_outputs(runs, selected, out_dir, meta)
    predictions.write_prediction_figures(runs, frames['per_class'], osp.join(out_dir, 'plots'))
    stream.write(frames['summary'])
    if frames['size_bands_note']:
        stream.write(f'[reproduce] {frames["size_bands_note"]}\n')
    stream.write(f'[reproduce] tables, plots and CSVs in {out_dir}\n')
    if args.publish:
        publish(out_dir)
        stream.write(f'[reproduce] aggregates stored in {osp.relpath(RESULTS_DIR, REPO)}\n')
        if args.update_readme:
            sync_documents(check=False)
    return 1 if any(codes.values()) else 0


def probes_job(args) -> bool:
    """Whether this call is the probes' job (``--tables probes``, which takes no other table; with ``--work-dirs``
    it collects the probe and Table 1-toy runs found there and launches nothing)."""
    tables = list(args.tables or ())
    if 'probes' not in tables:
        return False
    if len(tables) > 1:
        raise SystemExit('--tables probes trains and collects the pre-registered probes with the Table 1-toy runs '
                         'they pair with, on its own: give no other table id')
    return True

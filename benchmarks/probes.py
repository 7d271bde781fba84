"""The pre-registered toy probes: why TAPPS does not show the paper's lead over the baseline on the toy benchmark
(docs/toy_benchmark.md, "Why the toy disagrees with the paper", where the question, the predictions of each
explanation and the rules were written before any probe ran).

- :data:`FAMILY`: the comparisons F1-F14 the rules read (a - b on one metric), fixed with the rules;
- :func:`sweep_stage`: the evaluation-only probes P4 (inference thresholds) and P5 (size bands): each Table
  1-toy checkpoint evaluated once per setting by ``tools/analysis_tools/inference_sweep.py`` into its work dir;
- :func:`family_results`: each comparison's paired difference with the harness's claim interval over seeds x
  images (:class:`benchmarks.aggregate.ImageNoise`), Holm's adjustment over the whole family;
- :func:`inference_table` / :func:`size_band_table`: the evidence of P4 and P5;
- :func:`verdicts`: the written rules applied to those numbers, so the answer is computed, not typed.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from benchmarks import REPO, config_stem, per_class
from benchmarks import uncertainty as st
from benchmarks.aggregate import ImageNoise, chosen_runs, final_values
from benchmarks.collect import Run, runs_frame
from benchmarks.outputs import RESULTS_DIR, publish_runs
from benchmarks.toy import TOY

TAPPS, BASELINE, MASK2FORMER = (config_stem(TOY.configs[k]) for k in ('tapps', 'baseline', 'mask2former'))
_X05, _X2, _TW, _BW, _T2, _B2 = (config_stem(c) for c in TOY.probe_configs)

#: the inference settings of P4 (one factor at a time around the toy's object_mask_thr 0.5, iou_thr 0.8)
OBJECT_MASK_THR = (0.1, 0.3, 0.5, 0.7)
IOU_THR = (0.5, 0.65, 0.8, 0.95)
SWEEP_DIR = 'inference_sweep'  # in each swept run's work dir
SWEEP_CONFIGS = (TAPPS, BASELINE, MASK2FORMER)


def at(config: str, setting: str) -> str:
    """The name of a config evaluated at one inference setting (a pseudo-config of the sweep's runs)."""
    return f'{config}@{setting}'


@dataclass(frozen=True)
class Comparison:
    """One member of the probe family: ``a - b`` on ``metric`` (the paper's names, percent points)."""
    family: str
    probe: str
    a: str
    b: str
    metric: str
    label: str = ''  # a - b as the pre-registration names it (tests/test_benchmarks/test_probes.py compares)


P0, P1, P2, P3, P4 = 'P0 control', 'P1 loss balance', 'P2 capacity', 'P3 schedule', 'P4 inference'
FAMILY = (
    Comparison('F1', P0, TAPPS, MASK2FORMER, 'PQ_Th', 'TAPPS - Mask2Former'),
    Comparison('F2', P0, BASELINE, MASK2FORMER, 'PQ_Th', 'baseline - Mask2Former'),
    Comparison('F3', P1, _X05, TAPPS, 'PQ_Th', 'TAPPS lambda_pt x0.5 - TAPPS'),
    Comparison('F4', P1, _X2, TAPPS, 'PQ_Th', 'TAPPS lambda_pt x2 - TAPPS'),
    Comparison('F5', P1, _X05, TAPPS, 'PartPQ_All', 'TAPPS lambda_pt x0.5 - TAPPS'),
    Comparison('F6', P1, _X2, TAPPS, 'PartPQ_All', 'TAPPS lambda_pt x2 - TAPPS'),
    Comparison('F7', P2, _TW, _BW, 'PartPQ_All', 'TAPPS width 256 - baseline width 256'),
    Comparison('F8', P2, _TW, TAPPS, 'PQ_Th', 'TAPPS width 256 - TAPPS'),
    Comparison('F9', P2, _BW, BASELINE, 'PQ_Th', 'baseline width 256 - baseline'),
    Comparison('F10', P3, _T2, _B2, 'PartPQ_All', 'TAPPS 2000 it - baseline 2000 it'),
    Comparison('F11', P3, _T2, TAPPS, 'PQ_Th', 'TAPPS 2000 it - TAPPS'),
    Comparison('F12', P3, _B2, BASELINE, 'PQ_Th', 'baseline 2000 it - baseline'),
    Comparison('F13', P4, at(TAPPS, 'object_mask_thr_0.1'), at(BASELINE, 'object_mask_thr_0.1'), 'PQ_Th',
               'TAPPS - baseline at `object_mask_thr` 0.1'),
    Comparison('F14', P4, at(TAPPS, 'iou_thr_0.5'), at(BASELINE, 'iou_thr_0.5'), 'PQ_Th',
               'TAPPS - baseline at `iou_thr` 0.5'),
)
#: Table 1-toy's TAPPS - baseline, which F7, F10, F13 and F14 are read against (its own test is Table 1-toy's)
REFERENCE = (Comparison('R1', 'Table 1-toy', TAPPS, BASELINE, 'PartPQ_All', 'TAPPS - baseline'),
             Comparison('R2', 'Table 1-toy', TAPPS, BASELINE, 'PQ_Th', 'TAPPS - baseline'))
FAMILY_COLUMNS = ['family', 'probe', 'label', 'a', 'b', 'metric', 'n_pairs', 'seeds', 'a_mean', 'b_mean', 'mean_diff',
                  'claim_low', 'claim_high', 'claim', 'p', 'holm_p', 'holm_reject', 'reading']


# ------------------------------------------------------------------------------------------ the sweep stage


def sweep_dir(run: Run) -> str:
    return osp.join(run.work_dir, SWEEP_DIR)


def sweep_stage(runs: list[Run], stream=sys.stderr, python: str = sys.executable) -> list[Run]:
    """Evaluate the checkpoint of every chosen Table 1-toy run (TAPPS, baseline, Mask2Former) at each setting
    of P4, once (a run whose sweep is complete is skipped), and return the sweep's results as runs of the
    pseudo-configs ``<config>@<setting>`` (their per-image statistics, with the size bands, in the sweep dir)."""
    chosen = [r for (config, _), r in sorted(chosen_runs(runs).items()) if config in SWEEP_CONFIGS]
    for i, run in enumerate(chosen):
        out = sweep_dir(run)
        if osp.isfile(osp.join(out, 'sweep.json')):
            continue
        checkpoint = _final_checkpoint(run)
        stream.write(f'[reproduce] inference sweep {i + 1}/{len(chosen)}: {run.config} seed {run.seed}\n')
        cmd = [python, osp.join(REPO, 'tools', 'analysis_tools', 'inference_sweep.py'), _config_file(run), checkpoint,
               '--out', out, '--object-mask-thr', *map(str, OBJECT_MASK_THR), '--iou-thr', *map(str, IOU_THR)]
        subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return sweep_runs(chosen)


def _config_file(run: Run) -> str:
    """The config the run dumped (mmengine writes ``<stem>.py`` into the work dir)."""
    path = osp.join(run.work_dir, f'{run.config}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{run.work_dir}: no {run.config}.py (the config mmengine dumps at the start)')
    return path


def _final_checkpoint(run: Run) -> str:
    path = osp.join(run.work_dir, f'iter_{run.max_iters}.pth')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{run.work_dir}: no final checkpoint iter_{run.max_iters}.pth for the inference '
                                'sweep')
    return path


def sweep_runs(runs: list[Run]) -> list[Run]:
    """The complete sweeps of ``runs`` as runs of ``<config>@<setting>`` (metrics: the sweep's, fractions)."""
    out = []
    for run in runs:
        path = osp.join(sweep_dir(run), 'sweep.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            sweep = json.load(f)
        for entry in sweep['settings']:
            # recall of things on the PQ matching (that of PQ_Th); the predicted thing segments
            metrics = {**entry['metrics'], 'recall_th': entry['thing_recall_pq'],
                       'num_things': entry['num_pred_thing_segments']}
            out.append(replace(run, config=at(run.config, entry['name']), work_dir=sweep_dir(run), source='test',
                               metrics=metrics, per_image=entry['per_image_file'], curves={}))
    return out


# --------------------------------------------------------------------------------------------- statistics


def _reading(mean: float, claim: str, holm_reject) -> str:
    """'higher' / 'lower' (the claim interval excludes 0 and Holm rejects), else 'no change'; '' unmeasured."""
    if not claim:
        return ''
    if claim == 'separates' and holm_reject is True:
        return 'higher' if mean > 0 else 'lower'
    return 'no change'


def compare(noise: ImageNoise, values: pd.DataFrame, c: Comparison) -> dict:
    """The paired difference of one comparison over the seeds both configs completed."""
    by = {k: g.set_index('seed').value for k, g in values.groupby(['config', 'metric'])}
    va, vb = by.get((c.a, c.metric)), by.get((c.b, c.metric))
    seeds = sorted(set(va.index) & set(vb.index)) if va is not None and vb is not None else []
    row = dict(family=c.family, probe=c.probe, label=c.label, a=c.a, b=c.b, metric=c.metric, n_pairs=len(seeds),
               seeds=','.join(map(str, seeds)), a_mean=math.nan, b_mean=math.nan, mean_diff=math.nan,
               claim_low=math.nan, claim_high=math.nan, claim='', p=math.nan)
    if not seeds:
        return row
    row.update(a_mean=float(va[seeds].mean()), b_mean=float(vb[seeds].mean()),
               mean_diff=float((va[seeds] - vb[seeds]).mean()))
    found = noise.of(c.a, seeds, c.b) if len(seeds) > 1 else None
    if found:
        f = found[c.metric]
        row.update(claim_low=f['claim_low'], claim_high=f['claim_high'], p=f['p'],
                   claim=st.claim_status(f['claim_low'], f['claim_high'], f['claim_mc']))
    return row


def family_results(runs: list[Run], sweeps: list[Run]) -> pd.DataFrame:
    """``probes.csv``: F1-F14 with Holm's adjustment over the family, then the reference rows (not adjusted)."""
    everything = runs + sweeps
    noise, values = ImageNoise(everything), final_values(everything)
    frame = pd.DataFrame([compare(noise, values, c) for c in FAMILY + REFERENCE])
    family = frame.family.str.startswith('F') & frame.p.notna()
    frame['holm_p'], frame['holm_reject'] = math.nan, pd.array([pd.NA] * len(frame), dtype='boolean')
    if family.any():
        adjusted, reject = st.holm(frame.loc[family, 'p'].to_numpy())
        frame.loc[family, 'holm_p'] = adjusted
        frame.loc[family, 'holm_reject'] = pd.array(reject.tolist(), dtype='boolean')
    frame['reading'] = [_reading(m, c, r if r is not pd.NA else None) if f.startswith('F') else ''
                        for f, m, c, r in zip(frame.family, frame.mean_diff, frame.claim, frame.holm_reject)]
    return frame[FAMILY_COLUMNS]


def _setting_names() -> list[str]:
    return ['default'] + [f'object_mask_thr_{v:g}' for v in OBJECT_MASK_THR] + [f'iou_thr_{v:g}' for v in IOU_THR]


def inference_table(sweeps: list[Run]) -> pd.DataFrame:
    """``inference.csv`` (P4): per setting, each method's PQ_Th, thing recall and predicted thing segments (mean
    over seeds, percent / count) and TAPPS - baseline, paired by seed: PQ_Th with its claim interval, recall
    with its t-interval over seeds."""
    noise, values = ImageNoise(sweeps), final_values(sweeps)
    chosen = chosen_runs(sweeps)
    out = []
    for setting in _setting_names():
        if not any(config.endswith('@' + setting) for config, _ in chosen):
            continue
        row = dict(setting=setting)
        recall = {}
        for name, config in (('tapps', TAPPS), ('baseline', BASELINE), ('mask2former', MASK2FORMER)):
            runs = {seed: r for (c, seed), r in chosen.items() if c == at(config, setting)}
            recall[name] = pd.Series({s: 100.0 * r.metrics['recall_th'] for s, r in runs.items()}, dtype=float)
            row[f'{name}_PQ_Th'] = 100.0 * np.mean([r.metrics['PQ_th'] for r in runs.values()]) if runs else math.nan
            row[f'{name}_recall'] = recall[name].mean() if runs else math.nan
            row[f'{name}_segments'] = np.mean([r.metrics['num_things'] for r in runs.values()]) if runs else math.nan
            row[f'{name}_seeds'] = len(runs)
        diff = compare(noise, values, Comparison('', P4, at(TAPPS, setting), at(BASELINE, setting), 'PQ_Th'))
        row.update(PQ_Th_diff=diff['mean_diff'], PQ_Th_low=diff['claim_low'], PQ_Th_high=diff['claim_high'])
        seeds = sorted(set(recall['tapps'].index) & set(recall['baseline'].index))
        paired = st.paired_stats(recall['tapps'][seeds].tolist(), recall['baseline'][seeds].tolist())
        row.update(recall_diff=paired['mean_diff'], recall_low=paired['ci_low'], recall_high=paired['ci_high'])
        out.append(row)
    return pd.DataFrame(out)


def size_band_table(sweeps: list[Run]) -> pd.DataFrame:
    """``probe_size_bands.csv`` (P5): per size band, PQ and recall of things of each method at the default
    setting (the Table 1-toy checkpoints) and the paired differences TAPPS - baseline, TAPPS - Mask2Former and
    baseline - Mask2Former with their t-intervals over seeds."""
    configs = [at(c, 'default') for c in SWEEP_CONFIGS]
    values = per_class.size_band_values(sweeps, configs)
    t, b, m = configs
    return per_class.size_band_comparison(values, [(t, b), (t, m), (b, m)]) if len(values) else pd.DataFrame()


# ------------------------------------------------------------------------------------------------ the rules


@dataclass(frozen=True)
class Verdict:
    explanation: str
    status: str  # 'supported', 'ruled out', 'flagged', 'not indicated', 'undecided', 'not measured'
    why: str


def _moves(inference: pd.DataFrame, setting: str, column: str) -> float:
    """How much more TAPPS's ``column`` (PQ_Th or recall) moves than the baseline's from the default to ``setting``."""
    rows = inference.set_index('setting')
    if setting not in rows.index or 'default' not in rows.index:
        return math.nan
    t = rows.at[setting, f'tapps_{column}'] - rows.at['default', f'tapps_{column}']
    b = rows.at[setting, f'baseline_{column}'] - rows.at['default', f'baseline_{column}']
    return float(t - b)


def verdicts(family: pd.DataFrame, inference: pd.DataFrame) -> list[Verdict]:
    """The rules of docs/toy_benchmark.md ("Predictions and the rules that decide"), applied as written."""
    f = family.set_index('family')
    reading = {k: f.at[k, 'reading'] if k in f.index and f.at[k, 'n_pairs'] > 1 else '' for k in f.index}

    def is_(key: str, what: str) -> bool:
        return reading.get(key) == what
    if not reading.get('F1'):
        missing = Verdict('', 'not measured', 'the control (F1) has fewer than 2 paired seeds')
        return [replace(missing, explanation=e) for e in ('a', 'b', 'c')]
    cost = is_('F1', 'lower')
    levers = [name for name, ok in (('loss balance (F3 higher, F4 lower)', is_('F3', 'higher') and is_('F4', 'lower')),
                                     ('capacity (F8 higher)', is_('F8', 'higher')),
                                     ('schedule (F11 higher)', is_('F11', 'higher'))) if ok]
    if not cost:
        a = Verdict('a', 'ruled out',
                    'TAPPS pays no object cost for its parts: F1 (TAPPS - Mask2Former, PQ_Th) is not lower')
    elif levers:
        a = Verdict('a', 'supported', 'F1 is lower and a lever of (a) moves TAPPS as predicted: ' + ', '.join(levers))
    else:
        a = Verdict('a', 'ruled out', 'F1 is lower, but no lever of (a) (F3 / F4, F8, F11) moves TAPPS as predicted')

    reference = f.at['R2', 'mean_diff'] if 'R2' in f.index else math.nan
    shown = []
    for key, setting in (('F13', 'object_mask_thr_0.1'), ('F14', 'iou_thr_0.5')):
        above = key in f.index and f.at[key, 'mean_diff'] > reference
        if above and _moves(inference, setting, 'recall') >= 2.0:
            shown.append(key)
    grid = [abs(_moves(inference, s, col)) for s in _setting_names()[1:] for col in ('PQ_Th', 'recall')]
    grid = [g for g in grid if math.isfinite(g)]
    if shown:
        c = Verdict('c', 'supported', f'{" and ".join(shown)}: TAPPS - baseline PQ_Th above Table 1-toy\'s and '
                                      'TAPPS\'s recall rising at least 2 points more than the baseline\'s')
    elif grid and max(grid) < 1.0:
        c = Verdict('c', 'ruled out', f'over the whole grid TAPPS\'s PQ_Th and recall move at most {max(grid):.1f} '
                                      'points more (or less) than the baseline\'s')
    elif grid:
        c = Verdict('c', 'undecided', f'TAPPS\'s PQ_Th or recall moves up to {max(grid):.1f} points more than the '
                                      'baseline\'s somewhere on the grid, without the predicted pattern')
    else:
        c = Verdict('c', 'not measured', 'no inference sweep')

    if not cost:
        b = Verdict('b', 'not indicated', 'F1 is not lower: there is no object cost for a defect to explain')
    elif a.status != 'supported' and c.status != 'supported':
        b = Verdict('b', 'flagged', 'F1 is lower and neither (a) nor (c) explains it: to be looked for in the code')
    else:
        b = Verdict('b', 'not indicated', 'the object cost is explained by ' + ' and '.join(
            x.explanation for x in (a, c) if x.status == 'supported'))
    return [a, b, c]


# -------------------------------------------------------------------------------------------- the outputs

#: what ``--tables probes --publish`` stores in benchmarks/results/probes/ (the documents are rendered from it)
PUBLISHED_PROBES = ('runs.csv', 'probes.csv', 'inference.csv', 'size_bands.csv', 'meta.json')
PROBES_RESULTS_DIR = osp.join(RESULTS_DIR, 'probes')


def write_probe_outputs(runs: list[Run], out_dir: str, meta: dict, stream=sys.stderr) -> dict:
    """The probes' job after training: the sweep stage (P4, P5), then under ``out_dir`` the runs, the family
    with Holm's adjustment (``probes.csv``) and the sweep's tables."""
    os.makedirs(out_dir, exist_ok=True)
    sweeps = sweep_stage(runs, stream)
    frames = dict(runs=runs_frame(runs), probes=family_results(runs, sweeps), inference=inference_table(sweeps),
                  size_bands=size_band_table(sweeps))
    for name, frame in frames.items():
        if len(frame):
            frame.to_csv(osp.join(out_dir, f'{name}.csv'), index=False, float_format='%.6g')
        elif osp.isfile(osp.join(out_dir, f'{name}.csv')):
            os.remove(osp.join(out_dir, f'{name}.csv'))
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    return frames


def publish_probes(out_dir: str, results_dir: str = PROBES_RESULTS_DIR) -> None:
    """Copy the probes' aggregates of ``out_dir`` into ``benchmarks/results/probes/`` (work dirs relative)."""
    os.makedirs(results_dir, exist_ok=True)
    for name in PUBLISHED_PROBES:
        src, dst = osp.join(out_dir, name), osp.join(results_dir, name)
        if name == 'runs.csv':
            publish_runs(src, dst)
        elif osp.isfile(src):
            shutil.copyfile(src, dst)
        elif osp.isfile(dst):  # a table this collection could not make must not stay from an older one
            os.remove(dst)

"""The results pipeline (benchmarks.launch -> collect -> aggregate -> render / plots -> documents) and
tools/reproduce_tables.py:
statistics checked against an independent computation, work dirs written by hand for the edge cases
(resumed segments, corrupt lines, missing keys, duplicates), real short runs (two seeds, one killed and
resumed) and the Slurm launch on the local Slurm."""
from __future__ import annotations

import glob
import json
import math
import os
import os.path as osp
import statistics
import sys

import numpy as np
import pandas as pd
import pytest
from slurm_cluster import PARTITION

from benchmarks import REPO, aggregate, config_stem, documents, launch, outputs, plots, render, reproduce, uncertainty
from benchmarks.collect import PREFIX, RunError, collect, read_run, runs_frame
from benchmarks.paper import METRIC_KEYS, ConfigRows
from benchmarks.readme_blocks import Markers, replace_block, sync_files
from benchmarks.toy import TOY
from tapps_mm.evaluation import PartPQEvaluator
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.specs import load_spec
from tapps_mm.testing.fake_datasets import write_fake_synthetic_pp
from tapps_mm.testing.launch import logged_metrics, write_tiny_toy_config
from tapps_mm.testing.ports import free_ports
from tapps_mm.testing.repo import load_module

TAPPS, BASELINE = (config_stem(TOY.configs[k]) for k in ('tapps', 'baseline'))
KEYS = list(METRIC_KEYS.values())


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every row of the pipe tables in ``text`` (header first, the rule line left out)."""
    rows = [[c.strip() for c in line.strip()[1:-1].split('|')] for line in text.splitlines() if line.startswith('|')]
    return [r for r in rows if not all(set(c) <= set(':-') for c in r)]


# ------------------------------------------------------------------------------- hand-written work dirs


def _metrics(value: float, **override) -> dict:
    out = {PREFIX + k: value for k in KEYS}
    out.update({PREFIX + k: v for k, v in override.items()})
    return {k: v for k, v in out.items() if v is not ...}  # ... = leave the key out


def _fake_run(work_dir, stem: str, seed: int, evals: dict[int, dict], max_iters: int = 4, train_iters=(1, 2, 3, 4),
              ts: str = '20250101_000000', by_epoch: bool = False, config: str | None = None) -> str:
    """A work dir as mmengine writes it: dumped config, <ts>/vis_data/scalars.json, <ts>/<ts>.log."""
    folder = osp.join(work_dir, ts)
    os.makedirs(osp.join(folder, 'vis_data'), exist_ok=True)
    with open(osp.join(work_dir, f'{stem}.py'), 'w') as f:
        f.write(config or f"train_cfg = dict(max_iters={max_iters}, val_interval={max_iters})\n"
                          f"randomness = dict(seed={seed})\ntrain_dataloader = dict(batch_size=2)\n"
                          f"default_hooks = dict(logger=dict(log_metric_by_epoch={by_epoch}))\n")
    lines = []
    for it in sorted(set(train_iters) | set(evals)):
        if it in train_iters:
            lines.append({'lr': 1e-4, 'loss': 10.0 - it, 'iter': it, 'step': it})
        if it in evals:
            lines.append({**evals[it], 'data_time': 0.1, 'time': 0.2, 'step': 0 if by_epoch else it})
    with open(osp.join(folder, 'vis_data', 'scalars.json'), 'a') as f:
        f.writelines(json.dumps(line) + '\n' for line in lines)
    with open(osp.join(folder, f'{ts}.log'), 'w') as f:
        f.write(f'{ts[:4]}/{ts[4:6]}/{ts[6:8]} 10:00:00 - mmengine - INFO - \nRuntime environment:\n'
                f'    seed: {seed}\n    GPU number: 1\n    PyTorch: 2.13.0+cpu\n'
                f'{ts[:4]}/{ts[4:6]}/{ts[6:8]} 10:01:30 - mmengine - INFO - done\n')
    return str(work_dir)


def _seed_values(config_values: dict[str, list[float]], root) -> list:
    """Complete runs of each config, seed k with all metrics = values[k] / 100."""
    for stem, values in config_values.items():
        for seed, v in enumerate(values):
            _fake_run(root / stem / f'seed{seed}', stem, seed, {4: _metrics(v / 100)})
    return collect([str(root)])


# ------------------------------------------------------------------------------------------ statistics


def test_settings_tried_block_lists_every_setting_with_its_seed_spread(tmp_path):
    def write(path, tapps, base, wall_s):
        rows = [dict(config=f'{m}_r18-toy_synthetic', seed=k, status='complete', PartPQ=v / 100, wall_s=wall_s)
                for m, values in (('tapps', tapps), ('baseline', base)) for k, v in enumerate(values)]
        rows.append(dict(config='tapps_r18-toy_synthetic', seed=9, status='incomplete', PartPQ=0.0, wall_s=wall_s))
        os.makedirs(osp.dirname(path), exist_ok=True)
        pd.DataFrame(rows).to_csv(path, index=False)

    old = ([50.0, 54.0, 52.0], [49.0, 50.0, 51.5])
    new = ([62.0, 63.0, 61.5], [62.5, 62.5, 63.0])
    write(str(tmp_path / 'tried' / 'v1-old' / 'runs.csv'), *old, wall_s=120)
    write(str(tmp_path / 'runs.csv'), *new, wall_s=60)
    block = render.settings_tried_table(aggregate.settings_tried(documents.tried_sources(str(tmp_path))))
    rows = markdown_rows(block)[1:]
    assert [r[0] for r in rows] == ['v1-old', f'{TOY.name} (default, benchmarks/results/)']
    for cells, (tapps, base), minutes in zip(rows, (old, new), (12, 6)):  # 6 complete runs each
        diff = [a - b for a, b in zip(tapps, base)]
        assert cells[2:] == ['3', f'{statistics.mean(tapps):.1f} ± {statistics.stdev(tapps):.1f}',
                             f'{statistics.mean(base):.1f} ± {statistics.stdev(base):.1f}',
                             f'{statistics.mean(diff):+.1f} ± {statistics.stdev(diff):.1f}', f'{minutes} min']


def test_seed_aggregates_and_paired_comparison_of_collected_runs(tmp_path):
    tapps, base = [71.5, 64.0, 70.2], [64.4, 66.0, 65.1]
    runs = _seed_values({TAPPS: tapps, BASELINE: base}, tmp_path)
    _fake_run(tmp_path / TAPPS / 'seed3', TAPPS, 3, {}, train_iters=(1, 2))  # incomplete: never a number
    runs = collect([str(tmp_path)])
    frame = runs_frame(runs)
    assert list(frame.columns[:6]) == ['config', 'seed', 'status', 'iters', 'max_iters', 'work_dir']
    assert set(KEYS) <= set(frame.columns)
    assert frame[frame.seed == 3].status.item() == 'incomplete 2/4' and frame[frame.seed == 3].PartPQ.isna().all()
    rows = aggregate.select_tables(aggregate.table_rows(), ['1-toy'])
    res = aggregate.results(runs, rows)
    assert list(res.columns[:13]) == ['table', 'dataset', 'backbone', 'pretraining', 'method', 'variant', 'config',
                                      'metric', 'paper', 'mean', 'std', 'n', 'delta']
    row = res[(res.config == TAPPS) & (res.metric == 'PartPQ_All')].iloc[0]
    assert row.n == 3 and row['mean'] == pytest.approx(statistics.mean(tapps))
    assert row['std'] == pytest.approx(statistics.stdev(tapps))
    assert (row['min'], row['max']) == (min(tapps), max(tapps))
    assert np.isnan(row.paper) and np.isnan(row.delta)  # toy rows: no paper value to compare with
    comp = aggregate.comparisons(runs, rows)
    assert list(comp.columns[:11]) == ['table', 'dataset', 'pretraining', 'metric', 'a_config', 'b_config', 'n_pairs',
                                       'mean_diff', 'ci_low', 'ci_high', 'win_fraction']
    c = comp[comp.metric == 'PartPQ_All'].iloc[0]
    assert (c.a_config, c.b_config, c.n_pairs) == (TAPPS, BASELINE, 3)
    assert c.mean_diff == pytest.approx(statistics.mean(x - y for x, y in zip(tapps, base)))
    assert c.win_fraction == pytest.approx(2 / 3)
    assert c.paper_diff == pytest.approx(44.6 - 42.9)  # the paper's Table 1a (R50, IN) for orientation
    assert c.note.startswith('on this val set only (no image noise): the 95% t-interval over seeds')


def test_paper_rows_get_the_paper_values_and_delta(tmp_path):
    stem = 'tapps_r50_4xb4-60k_pascal-pp'
    runs = _seed_values({stem: [44.0, 45.0]}, tmp_path)
    res = aggregate.results(runs, aggregate.select_tables(aggregate.table_rows(), ['1a']))
    row = res[(res.config == stem) & (res.metric == 'PartPQ_All')].iloc[0]
    assert row.paper == 44.6 and row['mean'] == pytest.approx(44.5) and row.delta == pytest.approx(-0.1)
    base = res[(res.config == 'baseline_r50_4xb4-60k_pascal-pp') & (res.metric == 'PartPQ_All')].iloc[0]
    assert base.n == 0 and base.status == 'missing'
    md = render.markdown_table(res, '1a', {'machine': 'test', 'commit': 'abc', 'date': '2025-01-01'})
    assert 'missing (paper 42.9)' in md and '44.5 ± 0.7 (44.6, -0.1)' in md and 'full scale' in md
    # the verdict against the paper: two runs 1 point apart cannot show equivalence within +-1 (inconclusive);
    # runs made before per-image statistics were kept: no bootstrap, never a made-up number
    assert row.verdict.startswith('inconclusive') and row.margin == 1.0 and row.pred_low < 44.6 < row.pred_high
    assert math.isnan(row.boot_low) and math.isnan(row.image_std)
    five = aggregate.results(_seed_values({stem: [44.5, 44.6, 44.7, 44.4, 44.6]}, tmp_path / 'five'),
                             aggregate.select_tables(aggregate.table_rows(), ['1a']))
    tight = five[(five.config == stem) & (five.metric == 'PartPQ_All')].iloc[0]
    assert tight.verdict == 'reproduced within +-1 (n = 5)' and tight.tost_p < 0.05
    assert 'reproduced within +-1' in render.noise_table(five, '1a')


# ----------------------------------------------------------------------------------------- collecting


def test_resumed_segments_merge_with_the_latest_record_per_step(tmp_path):
    work = tmp_path / 'run'
    _fake_run(work, 'cfg', 0, {}, train_iters=(1, 2, 3), ts='20250101_000000')
    # resumed from the iteration-2 checkpoint: step 3 again (other loss), then 4 and the final evaluation
    _fake_run(work, 'cfg', 0, {4: _metrics(0.5)}, train_iters=(3, 4), ts='20250101_010000')
    with open(work / '20250101_010000' / 'vis_data' / 'scalars.json') as f:
        lines = [json.loads(x) for x in f]
    lines[0]['loss'] = 99.0
    with open(work / '20250101_010000' / 'vis_data' / 'scalars.json', 'w') as f:
        f.writelines(json.dumps(x) + '\n' for x in lines)
    run = read_run(str(work))
    assert run.status == 'complete' and run.timestamps == 2 and run.metrics['PartPQ'] == 0.5
    assert run.curves['loss'] == [(1, 9.0), (2, 8.0), (3, 99.0), (4, 6.0)]
    assert run.wall_s == 180 and run.world_size == 1 and run.batch_size == 2 and 'PyTorch 2.13.0+cpu' in run.versions


def test_epoch_logged_evaluations_get_their_iteration(tmp_path):
    # runs made before log_metric_by_epoch=False: the evaluation's step is the epoch (0)
    run = read_run(_fake_run(tmp_path / 'old', 'cfg', 0, {4: _metrics(0.4)}, by_epoch=True))
    assert run.status == 'complete' and run.metrics['PQ'] == 0.4


def test_corrupt_scalars_line_names_the_file(tmp_path):
    work = _fake_run(tmp_path / 'run', 'cfg', 0, {4: _metrics(0.5)})
    path = osp.join(work, '20250101_000000', 'vis_data', 'scalars.json')
    with open(path) as f:
        lines = f.readlines()
    with open(path, 'w') as f:
        f.writelines(lines[:2] + ['{"loss": 3.0, "it\n'] + lines[2:])  # a corrupt line
    with pytest.raises(RunError, match=r'scalars\.json, line 3: truncated or corrupt') as e:
        collect([str(tmp_path)])
    assert path in str(e.value)


def test_last_line_cut_short_by_a_kill_is_left_out(tmp_path):
    """A run killed while mmengine wrote its log must stay collectable (and resumable)."""
    work = _fake_run(tmp_path / 'run', 'cfg', 0, {4: _metrics(0.5)})
    path = osp.join(work, '20250101_000000', 'vis_data', 'scalars.json')
    with open(path, 'a') as f:
        f.write('{"loss": 3.0, "it')  # no line end: the process died mid-write
    with pytest.warns(UserWarning, match=r'scalars\.json, line 6: cut short'):
        (run,) = collect([str(tmp_path)])
    assert run.status == 'complete'


def test_missing_metric_key_names_the_file_but_a_null_metric_is_an_empty_cell(tmp_path):
    _fake_run(tmp_path / 'a', TAPPS, 0, {4: _metrics(0.5, PQ_th=...)})
    with pytest.raises(RunError, match=r"scalars\.json: metric key\(s\) \['pps/PQ_th'\] missing"):
        collect([str(tmp_path / 'a')])
    # obj_without_conflicts is null when nothing was predicted: mmengine leaves it out of scalars.json
    _fake_run(tmp_path / 'b' / 's0', TAPPS, 0, {4: _metrics(0.5, obj_without_conflicts=...)})
    _fake_run(tmp_path / 'b' / 's1', TAPPS, 1, {4: _metrics(0.6, obj_without_conflicts=float('nan'))})
    runs = collect([str(tmp_path / 'b')])
    res = aggregate.results(runs, aggregate.select_tables(aggregate.table_rows(), ['3-toy']))
    cell = res[(res.config == TAPPS) & (res.metric == 'obj_without_conflicts')].iloc[0]
    assert cell.n == 0 and cell.status == 'complete' and render.cell(cell) == ''


def test_two_runs_of_one_config_and_seed_name_both_folders(tmp_path):
    _fake_run(tmp_path / 'x', TAPPS, 0, {4: _metrics(0.5)})
    _fake_run(tmp_path / 'y', TAPPS, 0, {4: _metrics(0.6)})
    with pytest.raises(RunError, match='two runs claim') as e:
        collect([str(tmp_path)])
    assert str(tmp_path / 'x') in str(e.value) and str(tmp_path / 'y') in str(e.value)


def test_test_run_work_dir(tmp_path):
    work = tmp_path / 'test'
    os.makedirs(work / '20250102_000000')
    with open(work / 'cfg.py', 'w') as f:
        f.write("train_cfg = dict(max_iters=4)\nrandomness = dict(seed=2)\nload_from = 'w/iter_4.pth'\n")
    with open(work / '20250102_000000' / '20250102_000000.json', 'w') as f:
        json.dump({**_metrics(0.3, obj_without_conflicts=None), 'time': 1.0}, f)
    run = read_run(str(work))
    assert (run.source, run.status, run.seed, run.iters) == ('test', 'complete', 2, 4)
    assert run.metrics['PartPQ'] == 0.3 and run.metrics['obj_without_conflicts'] is None
    # tools/test.py --out DIR inside the work dir: pps_results.json (the metric's keys, no prefix)
    os.remove(work / '20250102_000000' / '20250102_000000.json')
    os.makedirs(work / 'preds')
    with open(work / 'preds' / 'pps_results.json', 'w') as f:
        json.dump({**{k: 0.25 for k in KEYS}, 'per_class': {'1': {}}}, f)
    with open(work / '20250102_000000' / '20250102_000000.log', 'w') as f:
        f.write('2025/01/02 10:00:00 - mmengine - INFO - test\n')
    run = read_run(str(work))
    assert run.source == 'test' and run.metrics['PQ'] == 0.25 and 'per_class' not in run.metrics
    # a claimed --out folder: its results count only as one finished run's (manifest of hashes)
    from tapps_mm.evaluation.prediction_folder import MANIFEST, finish, sha256_of
    finish(str(work / 'preds'), 'run-a', {'pps_results.json': sha256_of(str(work / 'preds' / 'pps_results.json'))})
    assert read_run(str(work)).complete
    (work / 'preds' / 'stale.png').write_bytes(b'')
    assert read_run(str(work)).status.startswith('failed: ') and 'stale.png is not of this run' in \
        read_run(str(work)).status
    os.remove(work / 'preds' / 'stale.png')
    with open(work / 'preds' / MANIFEST, 'w') as f:
        json.dump({'run': 'run-b', 'complete': False, 'files': {}}, f)
    run = read_run(str(work))
    assert 'predictions of run run-b are unfinished' in run.status and not run.metrics


def test_unknown_table_ids_and_unused_runs(tmp_path):
    rows = aggregate.table_rows()
    with pytest.raises(KeyError, match='unknown table id'):
        aggregate.select_tables(rows, ['9'])
    with pytest.raises(KeyError, match='unknown table id'):
        TOY.config_files(('9',))
    runs = _seed_values({'my_own_config': [50.0]}, tmp_path)
    out = tmp_path / 'out'
    frames = outputs.write_outputs(runs, aggregate.select_tables(rows, ['1-toy']), str(out),
                                     outputs.meta_of(runs, 'test', quick=False))
    assert 'not in the tables): my_own_config (seed 0' in frames['summary']


# ------------------------------------------------------------------------------------------ rendering


def test_missing_and_incomplete_cells_never_show_a_number(tmp_path):
    _seed_values({TAPPS: [71.0, 73.0]}, tmp_path)
    _fake_run(tmp_path / BASELINE / 'seed0', BASELINE, 0, {2: _metrics(0.123)}, train_iters=(1, 2))  # stopped
    runs = collect([str(tmp_path)])
    rows = aggregate.select_tables(aggregate.table_rows(), ['1-toy', '3-toy'])
    res = aggregate.results(runs, rows)
    meta = {'machine': '2 CPU cores', 'commit': 'abc123', 'date': '2025-01-01'}
    md = ' '.join(render.tables_markdown(res, aggregate.comparisons(runs, rows), meta).split())  # prose unwrapped
    assert '72.0 ± 1.4' in md and 'incomplete 2/4' in md and 'missing' in md
    assert '12.3' not in md  # the stopped run's evaluation at iteration 2
    assert 'toy scale' in md and 'seeds 0,1 (n = 2)' in md and 'abc123' in md and '2 CPU cores' in md
    tex = render.tables_latex(res, meta)
    assert r'\toprule' in tex and r'\bottomrule' in tex and r'72.0 $\pm$ 1.4' in tex and '12.3' not in tex
    smoke = render.markdown_table(res, '1-toy', {**meta, 'quick': True})
    assert 'smoke test' in smoke
    # the per-run table of the README: complete runs only, percent
    header, *body = markdown_rows(render.seed_table(runs_frame(runs), res, '1-toy', 'PartPQ_All'))
    assert [dict(zip(header, r)) for r in body] == [{'seed': '0', 'tapps': '71.0', 'baseline': ''},
                                                   {'seed': '1', 'tapps': '73.0', 'baseline': ''}]


def test_documents_are_narrow_and_say_once_what_depends_on_the_seeds(tmp_path, monkeypatch):
    """The README's block of a toy table: its cells and one line per comparison; the results page: the
    statistics of a comparison in narrow tables, what depends only on the number of seeds said once in their
    caption, every sentence wrapped, every level written from benchmarks.uncertainty's constants."""
    ablations = [s for s, r in TOY.rows.items() if '3-toy' in r.variants and s not in (TAPPS, BASELINE)]
    runs = _seed_values({TAPPS: [64.0, 65.5, 63.0], BASELINE: [62.0, 65.0, 61.0],
                         **{s: [60.0 + i, 61.0, 59.5] for i, s in enumerate(ablations)}}, tmp_path)
    rows = aggregate.select_tables(aggregate.table_rows(), ['1-toy', '3-toy'])
    res, comp, frame = aggregate.results(runs, rows), aggregate.comparisons(runs, rows), runs_frame(runs)
    meta = {'machine': '2 CPU cores', 'commit': 'abc123', 'date': '2025-01-01'}
    monkeypatch.setattr(uncertainty, 'CONFIDENCE', 0.9)
    monkeypatch.setattr(uncertainty, 'POWER', 0.85)
    for table in ('1-toy', '3-toy'):
        details = 'docs/results.md#' + render.anchor(table)
        block = render.toy_table_block(res, comp, meta, frame, table, details, goal=1.0)
        page = render.results_page(res, comp, meta, frame, [table])
        for text in (block, page):
            lines = text.splitlines()
            assert max(map(len, lines)) < 250
            assert all(len(line) <= render.WIDTH for line in lines if not line.startswith(('|', '- ')))
        # the README: one table (the cells), one line per comparison on the primary metric, a link to the rest
        pairs = comp[(comp.table == table) & (comp.metric == 'PartPQ_All')]
        verdicts = [line for line in block.splitlines() if line.startswith('- ')]
        assert len(verdicts) == len(pairs) >= 1 and block.count('|:') == len(markdown_rows(block)[0])
        assert all(', PartPQ_All: ' in v and 'on this val set only (3 paired seeds; no per-image' in v
                   for v in verdicts)
        assert f'({details})' in block and block.count('seed-to-seed') == 1
        # the results page: at most 7 columns a table; the sign test's limit at 3 seeds said once, not per row
        tables = render.comparison_tables(comp, table)
        widths = {len(r) for r in markdown_rows(tables)}
        assert max(widths) <= 7 and 'seeds' not in markdown_rows(tables)[0]
        unwrapped = ' '.join(page.split())
        assert page.count('sign test') == 1 and 'With 3 seeds a sign test of the wins cannot reach p < 0.05' in \
            unwrapped
        assert f'## Table {table}' in page and 'Each seed (PartPQ_All' in page
        assert '90% t-interval, this val set' in page and 'MDD at 85% power' in page and '95%' not in page
    # the goal from the aggregates: met when every row's seed-to-seed std is within it
    assert 'not met: baseline and tapps above it' in render.seed_std_goal(res, '1-toy', 1.0).replace('\n', ' ')
    assert render.seed_std_goal(res, '1-toy', 2.5).endswith('**met**.')


def test_outputs_and_plots_are_written(tmp_path):
    runs = _seed_values({TAPPS: [71.0, 73.0, 70.0], BASELINE: [69.0, 70.5, 71.0]}, tmp_path / 'runs')
    out = tmp_path / 'out'
    rows = aggregate.select_tables(aggregate.table_rows(), ['1-toy', '3-toy'])
    outputs.write_outputs(runs, rows, str(out), outputs.meta_of(runs, 'test', quick=False))
    for name in ('runs.csv', 'results.csv', 'comparisons.csv', 'meta.json', 'tables.md', 'tables.tex', 'summary.md'):
        assert osp.getsize(out / name) > 0, name
    written = sorted(os.listdir(out / 'plots'))
    for name in ('table_1-toy', 'diffs_1-toy', f'curves_{TAPPS}', f'curves_{BASELINE}', 'table_3-toy'):
        assert f'{name}.png' in written and f'{name}.pdf' in written, (name, written)
    assert plots.plot_comparisons(pd.read_csv(out / 'comparisons.csv', dtype={'table': str}), '4-toy', str(out)) == []
    # the command's collect-only path: --work-dirs, tables chosen by number
    tool = load_module('tools/reproduce_tables.py', 'reproduce_tables_tool')
    assert reproduce.main(tool.parse_args(['--work-dirs', str(tmp_path / 'runs'), '--out', str(out / 'cli'),
                                           '--tables', '1'])) == 0
    assert set(pd.read_csv(out / 'cli' / 'results.csv', dtype={'table': str}).table) == {'1a', '1b', '1-toy'}


# ------------------------------------------------------------------------------------------ README


def test_readme_blocks_are_current():
    stale = sync_files(documents.expected_files(), REPO, check=True)
    assert not stale, f'{stale} stale: run python tools/reproduce_tables.py --update-readme'
    tool = load_module('tools/reproduce_tables.py', 'reproduce_tables_tool')
    assert reproduce.main(tool.parse_args(['--check'])) == 0


def test_check_finds_a_stale_block(tmp_path, capsys):
    marks = Markers('toy-results', 'cmd')
    text = replace_block('# t\n\n' + marks.start + '\n' + marks.end + '\n', marks, 'old')
    (tmp_path / 'README.md').write_text(text)
    expected = {'README.md': replace_block(text, marks, 'new')}
    assert sync_files(expected, str(tmp_path), check=True) == ['README.md']
    assert (tmp_path / 'README.md').read_text() == text  # --check writes nothing
    assert sync_files(expected, str(tmp_path), check=False) == ['README.md']
    assert sync_files(expected, str(tmp_path), check=True) == []
    with pytest.raises(ValueError, match='expected the marker'):
        replace_block('no markers', marks, 'x', 'README.md')
    block = render.toy_results_intro(None)
    assert 'No measured results are committed yet' in block and not any(c.isdigit() for c in block.split('`')[0])
    assert 'has no run' in render.toy_table_block(None, None, None, None, '3-toy')


# ---------------------------------------------------------------------------------------- real runs


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Two tiny configs with the same name (what a run dumps): 4 iterations with checkpoints at 2 and 4,
    one of them killed (SIGKILL) after iteration 3."""
    root = tmp_path_factory.mktemp('repro')
    data = str(root / 'data')
    write_fake_synthetic_pp(data, num_train=4, num_val=2)
    os.makedirs(root / 'plain')
    os.makedirs(root / 'killed')
    plain = write_tiny_toy_config(str(root / 'plain' / 'tiny.py'), data + '/', iters=4, checkpoint_interval=2)
    killed = write_tiny_toy_config(str(root / 'killed' / 'tiny.py'), data + '/', iters=4, checkpoint_interval=2,
                                   kill_at=3)
    return root, plain, killed


def test_real_runs_two_seeds_one_killed_and_resumed(tiny, tmp_path, monkeypatch):
    root, plain, killed = tiny
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    jobs = launch.plan([plain], [0, 1], str(tmp_path / 'work'))
    assert [j.work_dir for j in jobs] == [str(tmp_path / 'work' / 'tiny' / f'seed{k}') for k in (0, 1)]
    logs = str(tmp_path / 'logs')
    first = launch.Job(killed, 0, jobs[0].work_dir)
    assert launch.run_processes([first], 'local', 1, logs) == {first: -9}
    assert launch.job_state(jobs[0]) == 'incomplete 3/4'
    todo = [j for j in jobs if launch.job_state(j) != 'complete']
    assert launch.run_processes(todo, 'local', 1, logs) == {j: 0 for j in jobs}  # resumes seed 0, starts seed 1
    assert all(launch.job_state(j) == 'complete' for j in jobs)  # a second call would launch nothing

    runs = collect([str(tmp_path / 'work')])
    assert [(r.config, r.seed, r.status, r.timestamps) for r in runs] == [('tiny', 0, 'complete', 2),
                                                                         ('tiny', 1, 'complete', 1)]
    for run, job in zip(runs, jobs):
        logged = logged_metrics(job.work_dir)[-1]
        assert run.metrics == {k[len(PREFIX):]: (None if v is None else float(v)) for k, v in logged.items()
                               if k.startswith(PREFIX)}
        assert run.world_size == 1 and run.batch_size == 2 and run.wall_s > 0 and run.commit
        # the final evaluation kept its per-image statistics (PerImageStatsHook), the resumed run too; they
        # sum to the logged numbers
        assert run.per_image == 'per_image_stats/iter_4.npz'
        kept = PerImageStats.load(osp.join(run.work_dir, run.per_image))
        again = PartPQEvaluator(load_spec(kept.spec)).summarize(kept.total())
        assert all(run.metrics[k] == again[k] for k in ('PartPQ', 'PQ', 'mIoU_th', 'PartSQ_parts'))
    assert [it for it, _ in runs[0].curves['loss']] == [1, 2, 3, 4]
    assert not [j for j in jobs if launch.job_state(j) != 'complete']  # starting again recomputes nothing

    # killed and resumed ends bit-identical to an uninterrupted run: every logged loss, the metrics, the
    # per-image statistics
    reference = launch.plan([plain], [0], str(tmp_path / 'uninterrupted'))
    assert launch.run_processes(reference, 'local', 1, logs) == {reference[0]: 0}
    [uninterrupted] = collect([reference[0].work_dir])
    assert runs[0].metrics == uninterrupted.metrics and runs[0].curves == uninterrupted.curves
    resumed, whole = (PerImageStats.load(osp.join(r.work_dir, r.per_image)) for r in (runs[0], uninterrupted))
    assert list(resumed.image_ids) == list(whole.image_ids)
    assert all(np.array_equal(resumed.arrays[k], whole.arrays[k]) for k in whole.arrays)
    rows = aggregate.table_rows({'tiny': ConfigRows('synthetic', 'R18-toy', 'none', 'tapps', {'1-toy': ''})})
    res = aggregate.results(runs, rows)
    pq = res[res.metric == 'PQ_All'].iloc[0]
    assert pq.n == 2 and pq['mean'] == pytest.approx(50 * (runs[0].metrics['PQ'] + runs[1].metrics['PQ']))


def test_dry_run_prints_the_commands(tmp_path, capsys):
    tool = load_module('tools/reproduce_tables.py', 'reproduce_tables_tool')
    args = tool.parse_args(['--dry-run', '--seeds', '2', '--tables', '7', '--work-root', str(tmp_path)])
    assert reproduce.main(args) == 0
    out = capsys.readouterr().out
    # (TAPPS, baseline, the plain Mask2Former control, dynparts) x 2
    assert out.count('tools/train.py') == 8 and out.count('--resume') == 8
    assert 'randomness.seed=1' in out and str(tmp_path / TAPPS / 'seed1') in out
    with pytest.raises(KeyError, match='unknown table id'):
        reproduce.main(tool.parse_args(['--dry-run', '--tables', '9']))
    # the whole toy paper: Tables 1, 3, 4, 5 (no runs of its own) and 7, five seeds each
    assert reproduce.main(tool.parse_args(['--dry-run', '--tables', 'all', '--work-root', str(tmp_path)])) == 0
    assert capsys.readouterr().out.count('tools/train.py') == 9 * 5
    # the probes: their 6 configs and the 3 of Table 1-toy they pair with
    assert reproduce.main(tool.parse_args(['--dry-run', '--tables', 'probes', '--work-root', str(tmp_path)])) == 0
    assert capsys.readouterr().out.count('tools/train.py') == 9 * 5
    assert reproduce.main(tool.parse_args(['--dry-run', '--seeds', '1', '--launch', 'dist', '--work-root',
                                           str(tmp_path)])) == 0
    assert capsys.readouterr().out.count('dist_train.sh') == 3
    assert reproduce.main(tool.parse_args(['--dry-run', '--seeds', '2', '--launch', 'slurm', '--partition', 'p',
                                           '--work-root', str(tmp_path)])) == 0
    script = capsys.readouterr().out
    assert '#SBATCH --partition=p' in script and script.count('slurm_train.sh') == 6 and '5) exec' in script


def test_slurm_job_array_launch(tiny, tmp_path, monkeypatch, slurm_env):
    root, plain, _ = tiny
    for key, value in {**slurm_env, 'GRES': '', 'GPUS_PER_NODE': '1', 'CPUS_PER_TASK': '1', 'OMP_NUM_THREADS': '1',
                       'PYTHON': sys.executable, 'PORT': str(free_ports()[0])}.items():
        monkeypatch.setenv(key, value)
    jobs = launch.plan([plain], [0, 1], str(tmp_path / 'work'), options=('train_cfg.max_iters=2',
                                                                             'train_cfg.val_interval=2',
                                                                             'param_scheduler.end=2'))
    codes = launch.run_slurm(jobs, PARTITION, 2, str(tmp_path / 'logs'), gpus=1, poll_s=0.5)
    logs = '\n'.join(open(tmp_path / 'logs' / p).read()[-2000:] for p in os.listdir(tmp_path / 'logs')
                     if p.endswith('.out'))
    assert codes == {j: 0 for j in jobs}, logs
    runs = collect([str(tmp_path / 'work')])
    assert [(r.seed, r.status, r.iters) for r in runs] == [(0, 'complete', 2), (1, 'complete', 2)]
    for job in jobs:  # each task trained through tools/slurm_train.sh (srun, --launcher slurm)
        (log,) = glob.glob(osp.join(job.work_dir, '*', '*.log'))
        assert 'Distributed launcher: slurm' in open(log).read()
    assert '--resume' in open(tmp_path / 'logs' / 'reproduce_array.sh').read()

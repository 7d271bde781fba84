"""Where two methods differ (benchmarks.per_class): the per-class numbers average back to each run's table
numbers, the paired per-class differences match an independent computation, and the error decomposition
sums the evaluator's own counts."""
from __future__ import annotations

import dataclasses
import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks import aggregate, config_stem, outputs, per_class, plots, predictions, render
from benchmarks.collect import Run
from benchmarks.toy import TOY
from tapps_mm.evaluation import PartPQEvaluator
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.specs import load_spec
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt

A, B = 'tapps_x', 'baseline_x'


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Two configs x three seeds of Cityscapes-PP predictions (a noisier for B), each run's per-image file
    kept and its metrics the evaluator's summary of it, as a training run records them."""
    spec = load_spec('cityscapes')
    ev = PartPQEvaluator(spec)
    root = tmp_path_factory.mktemp('per_class')
    rng = np.random.default_rng(3)
    gts = [random_gt(spec, rng, 40, 56, num_things=7) for _ in range(6)]
    out = []
    for config, noise in ((A, 0.4), (B, 0.9)):
        for seed in range(3):
            preds = [prediction_from_gt(spec, g, rng, noise=noise) for g in gts]
            kept = PerImageStats.from_images([f'img{i}' for i in range(len(gts))],
                                             [ev.image_stats(g, p) for g, p in zip(gts, preds)], [0] * 6, [0] * 6,
                                             spec.name)
            work_dir = root / f'{config}_{seed}'
            kept.save(str(work_dir / 'per_image.npz'))
            summary = ev.summarize(kept.total())
            out.append(Run(config=config, seed=seed, status='complete', iters=1, max_iters=1, work_dir=str(work_dir),
                           source='train', metrics={k: summary[k] for k in ('PartPQ', 'PQ')},
                           per_image='per_image.npz'))
    return out


def test_per_class_numbers_average_back_to_the_table(runs):
    values = per_class.class_values(runs, [A, B])
    assert len(values) == len(runs) * len(load_spec('cityscapes').classes)
    for run in runs:
        mine = values[(values.config == run.config) & (values.seed == run.seed) & values.counted]
        assert mine.PartPQ.mean() == pytest.approx(100 * run.metrics['PartPQ'], abs=1e-9)


def test_paired_differences_per_class_match_an_independent_computation(runs):
    values = per_class.class_values(runs, [A, B])
    table = per_class.class_comparison(values, A, B)
    assert set(table.group) <= set(per_class.GROUPS.values()) and table.n_pairs.eq(3).all()
    for row in table.itertuples():
        a = values[(values.config == A) & (values.class_id == row.class_id)].sort_values('seed').PartPQ.to_numpy()
        b = values[(values.config == B) & (values.class_id == row.class_id)].sort_values('seed').PartPQ.to_numpy()
        d = a - b
        assert row.PartPQ_a == pytest.approx(a.mean()) and row.PartPQ_diff == pytest.approx(d.mean())
        if d.std(ddof=1) > 0:
            half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
            assert row.PartPQ_low == pytest.approx(d.mean() - half)
            assert row.PartPQ_high == pytest.approx(d.mean() + half)
    parts = table[table.group == 'parts classes']
    assert list(parts.PartPQ_diff) == sorted(parts.PartPQ_diff, reverse=True)  # sorted by the difference


def test_error_decomposition_sums_the_evaluator_counts(runs):
    values = per_class.class_values(runs, [A, B])
    errors = per_class.error_decomposition(values).set_index(['config', 'group'])
    spec = load_spec('cityscapes')
    ev = PartPQEvaluator(spec)
    for config in (A, B):
        totals = [PerImageStats.load(f'{r.work_dir}/per_image.npz').total() for r in runs if r.config == config]
        for has_parts, group in per_class.GROUPS.items():
            sel = np.asarray(ev.label_has_parts) == has_parts
            for key, field in (('TP', 'tp'), ('FP', 'fp'), ('FN', 'fn')):
                expected = np.mean([getattr(t, field)[sel].sum() for t in totals])
                assert errors.loc[(config, group), key] == pytest.approx(expected)
            matched = np.mean([100 * t.part_iou[sel].sum() / t.tp[sel].sum() for t in totals])
            assert errors.loc[(config, group), 'PartSQ_matched'] == pytest.approx(matched)


def test_block_and_plot_of_the_comparison(runs, tmp_path):
    values = per_class.class_values(runs, [A, B])
    table = per_class.class_comparison(values, A, B).assign(table='1-toy')
    text = render.per_class_block(table, per_class.error_decomposition(values))
    assert 'parts classes' in text and 'TP' in text and f'a = `{A}`' in text
    assert 'No per-class comparison' in render.per_class_block(None, None)
    paths = plots.plot_per_class(table, '1-toy', str(tmp_path))
    assert sorted(p.rsplit('.', 1)[1] for p in paths) == ['pdf', 'png']


def test_aggregation_runs_no_model_and_the_figure_stage_does(runs, tmp_path, monkeypatch):
    """The runs as Table 1-toy's TAPPS and baseline, each with a final checkpoint that is no checkpoint (loading
    it fails): ``outputs.write_outputs`` writes the per-class comparison and its plot from the per-image files
    alone, no prediction figure; ``predictions``, the next stage, draws the pair of each table and copies its
    first figure where ``publish`` takes it."""
    names = {A: config_stem(TOY.configs['tapps']), B: config_stem(TOY.configs['baseline'])}
    toy_runs = []
    for run in runs:
        work_dir = tmp_path / 'runs' / f'{names[run.config]}_{run.seed}'
        os.makedirs(work_dir)
        shutil.copyfile(os.path.join(run.work_dir, run.per_image), work_dir / run.per_image)
        (work_dir / f'iter_{run.max_iters}.pth').write_bytes(b'not a checkpoint')
        toy_runs.append(dataclasses.replace(run, config=names[run.config], work_dir=str(work_dir), wall_s=60.0))
    out = tmp_path / 'out'
    frames = outputs.write_outputs(toy_runs, aggregate.select_tables(aggregate.table_rows(), ['1-toy']), str(out),
                                   outputs.meta_of(toy_runs, 'test', quick=False))
    assert set(frames['per_class'].table) == {'1-toy'}
    bands = pd.read_csv(out / 'size_bands.csv')  # the runs' files hold size bands: beside per_class.csv
    assert list(bands.band) == ['small', 'medium', 'large'] and frames['size_bands_note'] == ''
    assert (out / 'plots' / 'per_class_1-toy.png').is_file() and not (out / 'plots' / 'predictions_1-toy.png').exists()

    drawn = []

    def figures(runs_seen, a, b, out_dir):
        drawn.append((a, b, len(runs_seen)))
        os.makedirs(out_dir)
        with open(os.path.join(out_dir, 'img0.png'), 'wb') as f:
            f.write(b'figure')
        return [{'files': [os.path.join(out_dir, 'img0.png')]}]
    monkeypatch.setattr(predictions, 'prediction_figures', figures)
    assert predictions.write_prediction_figures(toy_runs, frames['per_class'], str(out / 'plots')) == ['1-toy']
    assert drawn == [(names[A], names[B], len(toy_runs))]
    assert (out / 'plots' / 'predictions_1-toy.png').read_bytes() == b'figure'


def test_size_bands_match_an_independent_computation(runs):
    """Per (config, seed, band): the band counts summed over classes from the run's own file, PQ and recall
    from them; per band the paired differences and t-intervals over seeds computed here again."""
    values = per_class.size_band_values(runs, [A, B])
    assert len(values) == len(runs) * 3 and values.attrs['predate_bands'] == []
    for run in runs:
        total = PerImageStats.load(f'{run.work_dir}/per_image.npz').total()
        mine = values[(values.config == run.config) & (values.seed == run.seed)].set_index('band')
        for b, band in enumerate(('small', 'medium', 'large')):
            tp, fp, fn = (int(getattr(total, f'band_{k}')[:, b].sum()) for k in ('tp', 'fp', 'fn'))
            iou = total.band_iou[:, b].sum()
            row = mine.loc[band]
            assert (row.TP, row.FP, row.FN, row.n_gt) == (tp, fp, fn, tp + fn)
            assert row.PQ == pytest.approx(100 * iou / (tp + fp / 2 + fn / 2) if tp + fp + fn else math.nan,
                                           nan_ok=True)
            assert row.recall == pytest.approx(100 * tp / (tp + fn) if tp + fn else math.nan, nan_ok=True)
        # the bands hold every thing-class count of PartPQ
        things = PartPQEvaluator(load_spec('cityscapes')).label_is_thing
        assert [mine[k].sum() for k in ('TP', 'FP', 'FN')] == [getattr(total, k)[things].sum()
                                                               for k in ('tp', 'fp', 'fn')]
    assert (values.groupby('band').n_gt.sum()[['medium', 'large']] > 0).all()

    table = per_class.size_band_comparison(values, [(A, B)])
    assert list(table.band) == ['small', 'medium', 'large'] and table.n_pairs.eq(3).all()
    assert list(table.columns) == per_class.SIZE_BAND_COLUMNS
    for row in table.itertuples():
        for metric in ('PQ', 'recall'):
            pick = values[values.band == row.band]
            a = pick[pick.config == A].sort_values('seed')[metric].to_numpy()
            b = pick[pick.config == B].sort_values('seed')[metric].to_numpy()
            d = a - b
            assert getattr(row, f'{metric}_a') == pytest.approx(a.mean(), nan_ok=True)
            assert getattr(row, f'{metric}_diff') == pytest.approx(d.mean(), nan_ok=True)
            if np.isfinite(d).all() and d.std(ddof=1) > 0:
                half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
                assert getattr(row, f'{metric}_low') == pytest.approx(d.mean() - half)
                assert getattr(row, f'{metric}_high') == pytest.approx(d.mean() + half)


def test_size_bands_say_when_the_files_predate_them(runs, tmp_path):
    """Runs whose per-image files have no band arrays (written before them) are left out and named; with none
    left, no size_bands.csv and a one-line note instead."""
    old_runs = []
    for run in runs:
        work_dir = tmp_path / os.path.basename(run.work_dir)
        os.makedirs(work_dir)
        with np.load(os.path.join(run.work_dir, run.per_image)) as data:
            np.savez(str(work_dir / run.per_image), **{k: data[k] for k in data.files if not k.startswith('band_')})
        old_runs.append(dataclasses.replace(run, work_dir=str(work_dir)))
    comparisons = pd.DataFrame(dict(table=['1-toy'], a_config=[A], b_config=[B]))
    values = per_class.size_band_values(old_runs, [A, B])
    assert values.empty and len(values.attrs['predate_bands']) == len(runs)
    table, note = per_class.size_bands(old_runs, comparisons)
    assert table is None and 'predate size bands' in note and '\n' not in note
    # one seed of B re-evaluated: written, from the seeds both configs have, and the older runs named
    mixed = [r for r in old_runs if not (r.config == B and r.seed == 0)] + [
        r for r in runs if r.config == B and r.seed == 0]
    table, note = per_class.size_bands(mixed, comparisons)
    assert table is None and 'predate' in note  # A has no seed with bands: no pair
    table, note = per_class.size_bands(runs, comparisons)
    assert set(table.table) == {'1-toy'} and len(table) == 3 and note == ''

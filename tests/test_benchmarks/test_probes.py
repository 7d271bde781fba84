"""The pre-registered toy probes: the code applies what docs/toy_benchmark.md wrote down before they ran (the
family, the metrics, the rules), and each rule gives its verdict on numbers built to reach it."""
import math
import re

import numpy as np
import pandas as pd
import pytest

from benchmarks import probe_report, probes
from benchmarks.toy import TOY

DOC = 'docs/toy_benchmark.md'


def _doc_family() -> list[tuple[str, str, str]]:
    text = open(DOC).read()
    section = text[text.index('### Pre-registered probes'):text.index('**Predictions and the rules that decide.**')]
    return re.findall(r'^\| (F\d+) \| (.+?) \| (\w+) \|$', section, flags=re.M)


def test_family_is_the_pre_registered_one():
    metric = {'PQ_Th': 'PQ_Th', 'PartPQ': 'PartPQ_All'}
    written = [(f, label, metric[m]) for f, label, m in _doc_family()]
    assert written == [(c.family, c.label, c.metric) for c in probes.FAMILY]


def test_probe_configs_are_launched_and_compared():
    stems = {c.rsplit('/', 1)[1][:-3] for c in TOY.probe_configs}
    compared = {x.split('@')[0] for c in probes.FAMILY for x in (c.a, c.b)}
    assert stems <= compared  # every probe run enters a comparison
    assert compared - stems == {probes.TAPPS, probes.BASELINE, probes.MASK2FORMER}  # the rest are Table 1-toy's
    assert set(TOY.config_files(('probes',))) == set(TOY.configs.values()) | set(TOY.probe_configs)


def _family(readings: dict[str, tuple[float, str]], r2: float = 0.0) -> pd.DataFrame:
    """F1-F14 and R1, R2 as probes.family_results writes them: ``readings`` sets (mean, reading) per member."""
    rows = []
    for c in probes.FAMILY + probes.REFERENCE:
        mean, reading = readings.get(c.family, (0.0, 'no change'))
        if c.family == 'R2':
            mean, reading = r2, ''
        rows.append(dict(family=c.family, probe=c.probe, label=c.label, a=c.a, b=c.b, metric=c.metric, n_pairs=5,
                         seeds='0,1,2,3,4', mean_diff=mean, reading=reading if c.family.startswith('F') else ''))
    return pd.DataFrame(rows)


def _inference(tapps: dict[str, tuple[float, float]], baseline: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Per setting (PQ_Th, recall) of each method; unnamed settings equal the default."""
    rows = []
    for s in probes._setting_names():
        t, b = tapps.get(s, tapps['default']), baseline.get(s, baseline['default'])
        rows.append(dict(setting=s, tapps_PQ_Th=t[0], tapps_recall=t[1], baseline_PQ_Th=b[0], baseline_recall=b[1]))
    return pd.DataFrame(rows)


FLAT = _inference({'default': (35.0, 50.0)}, {'default': (33.0, 48.0)})


def _status(verdicts) -> dict[str, str]:
    return {v.explanation: v.status for v in verdicts}


def test_no_object_cost_rules_out_scale_and_a_defect():
    got = _status(probes.verdicts(_family({'F1': (0.4, 'no change')}), FLAT))
    assert got == {'a': 'ruled out', 'b': 'not indicated', 'c': 'ruled out'}


@pytest.mark.parametrize('levers', [{'F3': (2.0, 'higher'), 'F4': (-2.0, 'lower')}, {'F8': (3.0, 'higher')},
                                    {'F11': (3.0, 'higher')}])
def test_an_object_cost_that_a_lever_moves_supports_scale(levers):
    got = _status(probes.verdicts(_family({'F1': (-3.0, 'lower'), **levers}), FLAT))
    assert got == {'a': 'supported', 'b': 'not indicated', 'c': 'ruled out'}


def test_half_a_trade_off_is_no_lever():
    got = _status(probes.verdicts(_family({'F1': (-3.0, 'lower'), 'F3': (2.0, 'higher')}), FLAT))
    assert got['a'] == 'ruled out' and got['b'] == 'flagged'


def test_an_unexplained_object_cost_flags_a_defect():
    got = _status(probes.verdicts(_family({'F1': (-3.0, 'lower')}), FLAT))
    assert got == {'a': 'ruled out', 'b': 'flagged', 'c': 'ruled out'}


def test_objects_recovered_at_a_permissive_threshold_support_inference():
    inference = _inference({'default': (30.0, 40.0), 'object_mask_thr_0.1': (34.0, 46.0)},
                           {'default': (33.0, 48.0), 'object_mask_thr_0.1': (33.5, 49.0)})
    family = _family({'F1': (-3.0, 'lower'), 'F13': (0.5, 'no change')}, r2=-3.0)
    got = _status(probes.verdicts(family, inference))
    assert got == {'a': 'ruled out', 'b': 'not indicated', 'c': 'supported'}
    # the same PQ_Th gain without TAPPS's recall rising 2 points more than the baseline's: not the pattern
    inference.loc[inference.setting == 'object_mask_thr_0.1', 'tapps_recall'] = 41.5
    assert _status(probes.verdicts(family, inference)) == {'a': 'ruled out', 'b': 'flagged', 'c': 'undecided'}
    # nor is a recall rise without TAPPS - baseline PQ_Th above Table 1-toy's
    inference.loc[inference.setting == 'object_mask_thr_0.1', 'tapps_recall'] = 46.0
    family.loc[family.family == 'F13', 'mean_diff'] = -3.5
    assert _status(probes.verdicts(family, inference))['c'] == 'undecided'


def test_a_missing_control_decides_nothing():
    family = _family({})
    family.loc[family.family == 'F1', 'n_pairs'] = 0
    assert set(_status(probes.verdicts(family, FLAT)).values()) == {'not measured'}


def test_moves_compare_with_the_default():
    inference = _inference({'default': (30.0, 40.0), 'iou_thr_0.5': (31.0, 43.0)},
                           {'default': (33.0, 48.0), 'iou_thr_0.5': (33.5, 48.5)})
    assert math.isclose(probes._moves(inference, 'iou_thr_0.5', 'recall'), 2.5)
    assert math.isclose(probes._moves(inference, 'iou_thr_0.5', 'PQ_Th'), 0.5)


# ------------------------------------------------------------------ the statistics, on runs with per-image files


@pytest.fixture(scope='module')
def probe_runs(tmp_path_factory):
    """Every config the family names x 3 seeds of Cityscapes-PP predictions (each config its own noise), and for
    the Table 1-toy configs a finished inference sweep (one per-image file per setting) in their work dirs."""
    import json

    from benchmarks.collect import Run
    from tapps_mm.evaluation import PartPQEvaluator
    from tapps_mm.evaluation.per_image import PerImageStats
    from tapps_mm.specs import load_spec
    from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt

    spec = load_spec('cityscapes')
    ev = PartPQEvaluator(spec)
    root = tmp_path_factory.mktemp('probes')
    rng = np.random.default_rng(7)
    gts = [random_gt(spec, rng, 40, 56, num_things=7) for _ in range(5)]
    ids = [f'img{i}' for i in range(len(gts))]

    def evaluated(noise: float, path) -> tuple[PerImageStats, dict]:
        preds = [prediction_from_gt(spec, g, rng, noise=noise) for g in gts]
        kept = PerImageStats.from_images(ids, [ev.image_stats(g, p) for g, p in zip(gts, preds)], [0] * 5, [0] * 5,
                                         spec.name)
        kept.save(str(path))
        return kept, ev.summarize(kept.total())

    configs = sorted({x.split('@')[0] for c in probes.FAMILY for x in (c.a, c.b)})
    runs, truth = [], {}
    for k, config in enumerate(configs):
        for seed in range(3):
            work_dir = root / config / f'seed{seed}'
            _, summary = evaluated(0.3 + 0.1 * k, work_dir / 'per_image.npz')
            truth[(config, seed)] = summary
            runs.append(Run(config=config, seed=seed, status='complete', iters=1, max_iters=1, work_dir=str(work_dir),
                            source='train', metrics={'PartPQ': summary['PartPQ'], 'PQ_th': summary['PQ_th']},
                            per_image='per_image.npz'))
            if config not in probes.SWEEP_CONFIGS:
                continue
            entries = []
            for setting in probes._setting_names():
                path = work_dir / probes.SWEEP_DIR / f'{setting}.npz'
                kept, summary = evaluated(0.3 + 0.1 * k, path)
                truth[(probes.at(config, setting), seed)] = summary
                stats = kept.total()
                thing = ev.label_is_thing
                recall = stats.pq_tp[thing].sum() / (stats.pq_tp[thing].sum() + stats.pq_fn[thing].sum())
                entries.append(dict(name=setting, metrics={'PartPQ': summary['PartPQ'], 'PQ_th': summary['PQ_th']},
                                    thing_recall_pq=float(recall), num_pred_thing_segments=7,
                                    per_image_file=f'{setting}.npz'))
            (work_dir / probes.SWEEP_DIR / 'sweep.json').write_text(json.dumps(dict(settings=entries)))
    return runs, truth


def test_family_differences_and_holm_match_an_independent_computation(probe_runs):
    runs, truth = probe_runs
    sweeps = probes.sweep_runs(runs)
    family = probes.family_results(runs, sweeps).set_index('family')
    key = {'PQ_Th': 'PQ_th', 'PartPQ_All': 'PartPQ'}
    for c in probes.FAMILY + probes.REFERENCE:
        expected = np.mean([100 * (truth[(c.a, s)][key[c.metric]] - truth[(c.b, s)][key[c.metric]]) for s in range(3)])
        row = family.loc[c.family]
        assert row.n_pairs == 3 and row.seeds == '0,1,2'
        assert row.mean_diff == pytest.approx(expected, abs=1e-9)
        assert row.claim_low <= row.mean_diff <= row.claim_high
    # Holm by hand over F1-F14: the k-th smallest p times (m - k), made monotone, capped at 1
    p = family.loc[[c.family for c in probes.FAMILY], 'p'].to_numpy()
    order = np.argsort(p)
    adjusted = np.minimum(1, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    expected = np.empty_like(adjusted)
    expected[order] = adjusted
    assert family.loc[[c.family for c in probes.FAMILY], 'holm_p'].to_numpy() == pytest.approx(expected)
    assert family.loc[['R1', 'R2'], 'holm_p'].isna().all()  # Table 1-toy's comparisons have their own family


def test_probe_outputs_from_a_finished_sweep(probe_runs, tmp_path, monkeypatch):
    runs, truth = probe_runs
    monkeypatch.setattr(probes.subprocess, 'run', lambda *a, **k: pytest.fail('a finished sweep ran again'))
    frames = probes.write_probe_outputs(runs, str(tmp_path), dict(command='x', commit='c', machine='m', date='d',
                                                                  runs_complete=len(runs), wall_s=60.0))
    assert {p.name for p in tmp_path.iterdir()} == set(probes.PUBLISHED_PROBES)
    published = tmp_path / 'published'
    probes.publish_probes(str(tmp_path), str(published))
    assert {p.name for p in published.iterdir()} == set(probes.PUBLISHED_PROBES)
    inference = frames['inference'].set_index('setting')
    assert list(inference.index) == probes._setting_names()
    for setting in inference.index:
        expected = np.mean([100 * truth[(probes.at(probes.TAPPS, setting), s)]['PQ_th'] for s in range(3)])
        assert inference.at[setting, 'tapps_PQ_Th'] == pytest.approx(expected)
    assert set(frames['size_bands'].band) <= {'small', 'medium', 'large'} and len(frames['size_bands'])
    text = probe_report.probes_block(frames['probes'], frames['inference'], frames['size_bands'])
    for family in [c.family for c in probes.FAMILY] + ['(a) scale', '(b) a defect', '(c) inference']:
        assert family in text


@pytest.mark.parametrize('tables,work_dirs,expected', [(None, None, False), (['3'], None, False),
                                                        (['probes'], None, True), (['probes', '3'], None, 'error'),
                                                        (['probes'], ['work_dirs'], True)])
def test_the_probes_job_stands_alone(tables, work_dirs, expected):
    from argparse import Namespace

    from benchmarks.reproduce import probes_job
    args = Namespace(tables=tables, work_dirs=work_dirs)
    if expected == 'error':
        with pytest.raises(SystemExit, match='--tables probes'):
            probes_job(args)
    else:
        assert probes_job(args) is expected


def test_the_readme_sentence_names_the_earlier_setting_the_probes_measured(tmp_path):
    """When the default's Table 1-toy runs are re-measured (a new setting), the published probes still pair with
    the old ones: the README's sentence names that setting, found by the runs' numbers; none while they are the
    default's own runs."""
    from benchmarks import config_stem
    from benchmarks.documents import probes_setting
    stems = [config_stem(c) for c in TOY.configs.values()]

    def runs(path, pq: float, extra=()) -> None:
        rows = [dict(config=s, seed=k, status='complete', PartPQ=pq + k / 100) for s in stems for k in range(5)]
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows + list(extra)).to_csv(path, index=False)
    probe_row = [dict(config='tapps_r18-toy-width256_1xb8-1000it_synthetic', seed=0, status='complete', PartPQ=0.7)]
    runs(tmp_path / 'probes' / 'runs.csv', 0.6, probe_row)
    runs(tmp_path / 'runs.csv', 0.6)
    runs(tmp_path / 'tried' / 'v8' / 'runs.csv', 0.5)
    assert probes_setting(str(tmp_path)) is None  # the default's own runs
    runs(tmp_path / 'runs.csv', 0.62)  # the default re-measured
    runs(tmp_path / 'tried' / 'v9' / 'runs.csv', 0.6)
    assert probes_setting(str(tmp_path)) == 'v9'
    family = pd.DataFrame([dict(family='F13', n_pairs=3, mean_diff=1.0, claim_low=-1.0, claim_high=3.0)])
    sentence = ' '.join(probe_report.answer_sentence([], family, 'v9').split())
    assert ', on the Table 1-toy runs of the earlier setting v9:' in sentence

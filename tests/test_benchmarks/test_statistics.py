"""The statistics of benchmarks.uncertainty, each checked against an independent computation: the evaluator
and the official tool on resampled image lists, a plain bootstrap over seeds, a jackknife, a simulation with
known truth, a Monte Carlo power simulation, a hand-worked Holm example, scipy's t quantiles and a sign test
by hand; and the pipeline's columns for runs with and without per-image statistics, as the documents show
them."""
from __future__ import annotations

import math
import os.path as osp
import statistics

import numpy as np
import pytest
from scipy import stats

from benchmarks import uncertainty as st
from tapps_mm.evaluation import PartPQEvaluator, evaluate_pps, pair_files
from tapps_mm.evaluation.per_image import PerImageStats
from tapps_mm.pps_format import read_label, read_prediction
from tapps_mm.specs import load_spec
from tapps_mm.testing.official import official_class_stats, official_summary
from tapps_mm.testing.pps_cases import prediction_from_gt, random_gt, write_case_folder

PAPER_KEYS = ('PartPQ', 'PartPQ_parts', 'PartPQ_noparts', 'PartSQ_parts', 'PQ', 'PQ_th', 'PQ_st', 'mIoU_th')


@pytest.fixture(scope='module')
def case():
    """Eight Cityscapes-PP images (GT, prediction) and their per-image statistics."""
    spec = load_spec('cityscapes')
    rng = np.random.default_rng(11)
    gts = [random_gt(spec, rng, 40, 56, num_things=7) for _ in range(8)]
    preds = [prediction_from_gt(spec, g, rng, noise=0.8) for g in gts]
    ev = PartPQEvaluator(spec)
    per_image = PerImageStats.from_images([f'img{i}' for i in range(8)], [ev.image_stats(g, p) for g, p in
                                                                          zip(gts, preds)], [0] * 8, [0] * 8,
                                          spec.name)
    return spec, gts, preds, per_image


def _arrays(per_image: PerImageStats) -> dict[str, np.ndarray]:
    return st.stacked([per_image])[1]


def test_metrics_from_sums_equal_the_evaluator_summary(case):
    spec, _, _, per_image = case
    metric_fn = st.SpecMetrics.of_spec(spec.name)
    ev = PartPQEvaluator(spec)
    rng = np.random.default_rng(0)
    for _ in range(20):
        index = rng.integers(0, len(per_image), rng.integers(1, 12))
        sums = {k: per_image.arrays[k][index].sum(0) for k in st.SUM_FIELDS}
        ours = metric_fn(sums)
        ref = ev.summarize(per_image.total(index))
        for key in PAPER_KEYS:
            assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


def test_a_resample_of_images_scores_like_the_evaluators_on_the_copied_files(case, tmp_path):
    """One bootstrap resample, recomputed from summed per-image statistics, equals our evaluator and the
    official panoptic_parts one run on the resampled image list (a drawn image twice: two renamed copies)."""
    spec, gts, preds, per_image = case
    draws = st.Resamples.draw(1, len(gts), n_boot=1, seed=3)
    counts = draws.image_counts[0]
    assert counts.max() > 1  # the resample repeats an image
    index = np.repeat(np.arange(len(gts)), counts)
    folder = write_case_folder(str(tmp_path), [gts[i] for i in index], [preds[i] for i in index])
    resampled = {k: v[0] for k, v in st.resampled_metrics(_arrays(per_image), draws.image_counts,
                                                          st.SpecMetrics.of_spec(spec.name)).items()}
    ours = evaluate_pps(*folder, spec=spec, progress=False)
    pairs = [(g, p) for _, g, p in pair_files(*folder)]
    official = official_summary(spec, official_class_stats(spec, pairs, parse_spec_once=True)[1])
    for key in PAPER_KEYS:
        assert resampled[key] == pytest.approx(ours[key], abs=1e-12), key
    for key in ('PartPQ', 'PartPQ_parts', 'PartPQ_noparts', 'PartSQ_parts'):
        assert resampled[key] == pytest.approx(official[key], abs=1e-9), key
    assert len(read_label(pair_files(*folder)[0][1])) and read_prediction(pair_files(*folder)[0][2]).ndim == 3


# ----------------------------------------------------------------------------------- random per-image data


def _random_stats(rng, n_seeds: int, n_images: int, n_classes: int = 6, shift: float = 0.0):
    """Plausible per-image statistics of one method over seeds: counts per class, IoU sums from TPs."""
    has_parts = np.arange(n_classes) < 2
    tp = rng.poisson(1.5, (n_seeds, n_images, n_classes))
    quality = np.clip(rng.normal(0.7 + shift, 0.1, (n_seeds, n_images, n_classes)), 0, 1)
    gt = rng.integers(50, 400, (1, n_images, n_classes))
    inter = (gt * np.clip(quality + 0.1, 0, 1)).astype(np.int64)
    arrays = dict(tp=tp, fp=rng.poisson(0.5, tp.shape), fn=rng.poisson(0.5, tp.shape), part_iou=tp * quality,
                  pq_tp=tp, pq_fp=rng.poisson(0.4, tp.shape), pq_fn=rng.poisson(0.4, tp.shape), pq_iou=tp * quality,
                  sem_inter=np.broadcast_to(inter, tp.shape), sem_gt=np.broadcast_to(gt, tp.shape),
                  sem_pred=np.broadcast_to(gt, tp.shape) + rng.integers(0, 50, tp.shape),
                  num_objects=rng.poisson(3, (n_seeds, n_images)), num_conflicts=rng.poisson(0.3, (n_seeds, n_images)))
    metric_fn = st.SpecMetrics(has_parts, np.ones(n_classes, bool))
    return {k: np.asarray(v, np.float64) for k, v in arrays.items()}, metric_fn


def test_images_held_fixed_is_a_plain_paired_bootstrap_over_seeds():
    rng = np.random.default_rng(1)
    a, metric_fn = _random_stats(rng, 6, 30)
    b, _ = _random_stats(rng, 6, 30, shift=-0.02)
    draws = st.Resamples.draw(6, 30, n_boot=500, seed=7, images=False)
    ours = st.bootstrap(a, b, draws, metric_fn)['PartPQ']
    # by hand: per-seed differences on the whole val set, then seeds drawn with numpy's generator
    per_seed = metric_fn({k: v.sum(1) for k, v in a.items()})['PartPQ'] - \
        metric_fn({k: v.sum(1) for k, v in b.items()})['PartPQ']
    idx = np.random.default_rng(7).integers(0, 6, (500, 6))
    np.testing.assert_array_equal(ours, per_seed[idx].mean(1))


def test_image_noise_std_agrees_with_a_jackknife_over_images():
    """The std of the mean under image resampling alone (shared and seed-specific image noise together)."""
    rng = np.random.default_rng(2)
    n_images = 300
    a, metric_fn = _random_stats(rng, 3, n_images)
    b, _ = _random_stats(rng, 3, n_images, shift=-0.03)
    draws = st.Resamples.draw(3, n_images, n_boot=3000, seed=0)
    noise = st.noise_sources(st.SeedMetrics.of(a, draws, metric_fn), st.SeedMetrics.of(b, draws, metric_fn), draws)
    for key in ('PartPQ', 'PQ', 'mIoU_th'):
        # leave-one-image-out: the mean over seeds of a - b without image i, for every i
        def without(arrays):
            total = {k: v.sum(1, keepdims=True) for k, v in arrays.items()}
            return metric_fn({k: total[k] - v for k, v in arrays.items()})[key]  # (seeds, images)
        theta = (without(a) - without(b)).mean(0)
        jackknife = math.sqrt((n_images - 1) / n_images * ((theta - theta.mean()) ** 2).sum())
        assert noise[key]['image_std_total'] == pytest.approx(jackknife, rel=0.10), key


def _ratio(sums):
    return {'ratio': sums['num'].sum(-1) / sums['den'].sum(-1)}


def test_intervals_cover_the_known_truth_about_95_percent():
    """Ratio-of-sums data with a seed effect and a method x image effect, truth known: the two-level
    interval covers the difference for new images of the same kind, the seeds-only interval the difference
    on this val set, each about 95 % of the time (20 seeds: the percentile bootstrap's coverage is
    nominal only with enough seeds; with 5 it is narrower, which is why the t-interval stays beside it)."""
    rng = np.random.default_rng(3)
    n_seeds, n_images, delta, sims = 20, 80, 0.02, 200
    covered = {'both': 0, 'seeds': 0}
    for _ in range(sims):
        den = rng.integers(20, 200, (1, n_images, 1)).astype(float)
        image = rng.normal(0, 0.05, (2, 1, n_images, 1))  # how each method does on each image
        seed = rng.normal(0, 0.01, (2, n_seeds, 1, 1))
        q = 0.6 + np.array([delta, 0.0])[:, None, None, None] + image + seed \
            + rng.normal(0, 0.02, (2, n_seeds, n_images, 1))
        arrays = [{'num': q[m] * den, 'den': np.broadcast_to(den, q[m].shape)} for m in range(2)]
        draws = st.Resamples.draw(n_seeds, n_images, n_boot=400, seed=int(rng.integers(1 << 31)))
        noise = st.noise_sources(*(st.SeedMetrics.of(x, draws, _ratio) for x in arrays), draws)['ratio']
        this_val_set = delta + float(((image[0] - image[1])[0, :, 0] * den[0, :, 0]).sum() / den.sum())
        covered['both'] += noise['boot_low'] <= delta <= noise['boot_high']
        covered['seeds'] += noise['val_low'] <= this_val_set <= noise['val_high']
    for scheme, hits in covered.items():
        assert 0.89 <= hits / sims <= 0.99, (scheme, hits / sims)


# ------------------------------------------------------------------------------ power, Holm, verdicts


def _t_test_rejections(mean: float, sd: float, n: int, sims: int = 20000, seed: int = 0) -> float:
    d = np.random.default_rng(seed).normal(mean, sd, (sims, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    return float(np.mean(2 * stats.t.sf(np.abs(t), n - 1) < 0.05))


def test_power_agrees_with_a_monte_carlo_simulation():
    sd, n = 1.3, 5
    out = st.power(sd, n, target_diff=1.7)
    assert _t_test_rejections(out['mdd'], sd, n) == pytest.approx(0.80, abs=0.015)
    needed = int(out['seeds_needed'])
    assert _t_test_rejections(1.7, sd, needed) >= 0.785 and _t_test_rejections(1.7, sd, needed - 1) < 0.80
    assert math.isnan(st.power(sd, 1)['mdd']) and math.isnan(st.power(sd, 5)['seeds_needed'])


@pytest.mark.parametrize('effect', [6.2, 2.0, 0.5])
def test_seeds_needed_is_the_fewest_seeds_a_simulated_t_test_needs(effect):
    """Large and small effects (statsmodels' solver fails at 6.2 sd and the old code said 'inf'): the returned
    n reaches 80 % power in a Monte Carlo simulation of the paired t-test, n - 1 does not."""
    out = st.power(1.0, 5, target_diff=effect)
    needed = int(out['seeds_needed'])
    assert 2 <= needed < 100
    assert _t_test_rejections(effect, 1.0, needed) >= 0.79
    if needed > 2:
        assert _t_test_rejections(effect, 1.0, needed - 1, seed=1) < 0.80
    if effect == 6.2:
        assert needed == 3
    from statsmodels.stats.power import TTestPower
    for n in (3, 5, 12):  # the power function itself: statsmodels' where statsmodels works
        assert st.power_of(0.8, 1.0, n) == pytest.approx(TTestPower().power(0.8, n, 0.05), abs=1e-9)


def test_mdd_and_seeds_needed_have_upper_bounds_and_an_image_floor():
    sd, n = 1.0, 5
    out = st.power(sd, n, target_diff=1.5, shared_var=0.3 ** 2, n_images=100)
    chi = stats.chi2.ppf(0.025, n - 1)
    assert st.sd_upper(sd, n) == pytest.approx(sd * math.sqrt((n - 1) / chi)) and 2.8 < st.sd_upper(sd, n) < 2.9
    assert out['mdd'] < out['mdd_upper'] and out['seeds_needed'] <= out['seeds_needed_upper']
    # the floor: with the seed noise gone, the shared image noise alone; no number of seeds detects less
    floor = out['image_floor']
    assert st.power_of(floor, sd, math.inf, 0.3 ** 2, 100) == pytest.approx(0.80, abs=1e-6)
    assert math.isinf(st.seeds_needed(0.9 * floor, sd, 0.3 ** 2, 100))
    assert math.isfinite(st.seeds_needed(1.1 * floor, sd, 0.3 ** 2, 100))


def test_bootstrap_monte_carlo_error_matches_the_spread_over_generators():
    """The endpoints' Monte-Carlo error (order statistics) against 20 independent generators."""
    rng = np.random.default_rng(5)
    a, metric_fn = _random_stats(rng, 5, 120)
    b, _ = _random_stats(rng, 5, 120, shift=-0.02)
    lows, highs, errors = [], [], []
    for seed in range(20):
        draws = st.Resamples.draw(5, 120, n_boot=1000, seed=seed)
        noise = st.noise_sources(st.SeedMetrics.of(a, draws, metric_fn), st.SeedMetrics.of(b, draws, metric_fn),
                                 draws)['PartPQ']
        lows.append(noise['boot_low'])
        highs.append(noise['boot_high'])
        errors.append(noise['boot_mc'])
    spread = max(np.std(lows, ddof=1), np.std(highs, ddof=1))
    assert 0.6 <= np.mean(errors) / spread <= 1.7, (np.mean(errors), spread)


def _linear(sums):
    return {'m': sums['v'].sum(-1) / sums['w'].sum(-1)}


def _crossed(rng, n_seeds, n_images, seed_sd, shared_sd, own_sd, mu=0.0):
    """Per-image values of a crossed design: mu + seed effect + image effect (shared by all seeds) + noise of
    each seed on each image; the metric is their mean over images. Returns the arrays of a linear metric."""
    values = (mu + rng.normal(0, seed_sd, (n_seeds, 1)) + rng.normal(0, shared_sd, (1, n_images))
              + rng.normal(0, own_sd, (n_seeds, n_images)))
    return {'v': values[..., None], 'w': np.ones((n_seeds, n_images, 1))}


def test_the_variance_split_finds_the_known_shared_image_noise():
    """Simulated crossed design: the shared image variance of the mean is shared_sd^2 / images; the old
    'image variance' (resampling images, seeds fixed) also counted each seed's own image noise."""
    rng = np.random.default_rng(6)
    n_seeds, n_images, shared_sd, own_sd = 5, 60, 0.2, 0.4
    shared, total = [], []
    for _ in range(150):
        arrays = _crossed(rng, n_seeds, n_images, 0.05, shared_sd, own_sd)
        draws = st.Resamples.draw(n_seeds, n_images, n_boot=400, seed=int(rng.integers(1 << 31)))
        noise = st.noise_sources(st.SeedMetrics.of(arrays, draws, _linear), None, draws)['m']
        shared.append(noise['image_std'] ** 2)
        total.append(noise['image_std_total'] ** 2)
    truth = shared_sd ** 2 / n_images
    own = own_sd ** 2 / n_images / n_seeds
    assert np.mean(shared) == pytest.approx(truth, rel=0.15)
    assert np.mean(total) == pytest.approx(truth + own, rel=0.15)  # the double count the split removes


@pytest.mark.parametrize('regime', ['images dominate', 'seeds dominate'])
def test_the_claim_interval_covers_the_truth_at_5_seeds(regime):
    """Known truth (mu = 0.1), 5 seeds: the claim interval covers about 95 %; where the shared image noise
    dominates, the t-interval over seeds alone (which ignores it) does not."""
    rng = np.random.default_rng(7 if regime == 'images dominate' else 8)
    n_seeds, n_images, sims = 5, 50, 400
    seed_sd, shared_sd = (0.02, 0.5) if regime == 'images dominate' else (0.2, 0.1)
    claim = plain = 0
    for _ in range(sims):
        arrays = _crossed(rng, n_seeds, n_images, seed_sd, shared_sd, 0.3, mu=0.1)
        draws = st.Resamples.draw(n_seeds, n_images, n_boot=300, seed=int(rng.integers(1 << 31)))
        metrics = st.SeedMetrics.of(arrays, draws, _linear)
        noise = st.noise_sources(metrics, None, draws)['m']
        claim += noise['claim_low'] <= 0.1 <= noise['claim_high']
        v = metrics.values['m']
        half = stats.t.ppf(0.975, n_seeds - 1) * v.std(ddof=1) / math.sqrt(n_seeds)
        plain += abs(v.mean() - 0.1) <= half
    assert 0.91 <= claim / sims <= 0.985, claim / sims  # 400 simulations: a standard error of 1.1 points
    if regime == 'images dominate':
        assert plain / sims < 0.85, plain / sims


def _two_sided_sign_p(wins: int, n: int) -> float:
    """The exact two-sided binomial (p = 1/2) test, by hand: twice the smaller tail, at most 1."""
    tail = sum(math.comb(n, i) for i in range(0, min(wins, n - wins) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def test_paired_statistics_match_an_independent_computation():
    a = [71.5, 64.0, 70.2, 69.9, 73.1]
    b = [64.4, 66.0, 65.1, 69.9, 70.0]
    s = st.paired_stats(a, b)
    d = [x - y for x, y in zip(a, b)]
    mean, sd = statistics.mean(d), statistics.stdev(d)
    t975_df4 = 2.7764451051977987  # Student t, 97.5 % quantile, 4 degrees of freedom (printed tables)
    assert s['n_pairs'] == 5
    assert s['mean_diff'] == pytest.approx(mean, abs=1e-12)
    assert s['ci_low'] == pytest.approx(mean - t975_df4 * sd / math.sqrt(5), abs=1e-9)
    assert s['ci_high'] == pytest.approx(mean + t975_df4 * sd / math.sqrt(5), abs=1e-9)
    assert s['win_fraction'] == pytest.approx((3 + 0.5) / 5)  # 3 wins, 1 loss, 1 tie (counts half)
    assert s['sign_p'] == pytest.approx(_two_sided_sign_p(3, 4))  # the tie is dropped
    assert s['min_sign_p'] == pytest.approx(2 * 0.5 ** 5)  # 0.0625: 5 seeds cannot reach p < 0.05
    assert st.sign_test_seeds() == 6 and 2 * 0.5 ** 6 < 0.05 <= 2 * 0.5 ** 5
    assert st.sign_test_seeds(0.1) == 5 and 2 * 0.5 ** 5 < 0.1 <= 2 * 0.5 ** 4
    # the note says what the claim interval says; without per-image statistics, only the val set's t-interval
    assert st.claim_note(5, 'separates').startswith('separates: the 95% interval over seeds and shared')
    assert st.claim_note(5, '', s['ci_low'], s['ci_high']) == ('on this val set only (no image noise): the '
                                                               '95% t-interval over seeds includes 0')
    one = st.paired_stats([1.0], [0.5])
    assert one['n_pairs'] == 1 and math.isnan(one['ci_low']) and one['win_fraction'] == 1.0
    assert st.paired_stats([], [])['n_pairs'] == 0


def test_holm_against_a_hand_worked_example():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> running max 0.06
    adjusted, reject = st.holm([0.01, 0.04, 0.03, 0.005, math.nan])
    np.testing.assert_allclose(adjusted[:4], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(adjusted[4]) and reject.tolist() == [True, False, False, True, False]


def test_prediction_interval_and_equivalence_verdict():
    x = [44.0, 45.0, 44.5, 43.8, 44.9]
    mean, s, n = np.mean(x), np.std(x, ddof=1), len(x)
    t975_df4 = 2.7764451051977987
    low, high = st.prediction_interval(x)
    assert (low, high) == pytest.approx((mean - t975_df4 * s * math.sqrt(1 + 1 / n),
                                         mean + t975_df4 * s * math.sqrt(1 + 1 / n)))
    # two one-sided t-tests by hand
    se = s / math.sqrt(n)
    p_low, p_high = stats.t.sf((mean - 43.6) / se, n - 1), stats.t.cdf((mean - 45.6) / se, n - 1)
    v = st.reproduction_verdict(x, paper=44.6, margin=1.0)
    assert v['tost_p'] == pytest.approx(max(p_low, p_high)) and v['verdict'].startswith('reproduced within +-1')
    assert st.reproduction_verdict(x, paper=48.0, margin=1.0)['verdict'].startswith('differs')
    assert st.reproduction_verdict([44.0, 46.0], paper=44.6, margin=1.0)['verdict'].startswith('inconclusive')
    one = st.reproduction_verdict([44.0], paper=44.6, margin=1.0)
    assert 'one run' in one['verdict'] and math.isnan(one['pred_low'])


# ---------------------------------------------------------------------------------- the pipeline's columns


def test_pipeline_columns_with_and_without_per_image_statistics(case, tmp_path):
    """Runs that kept per-image files get every column; runs made before render with empty columns and a
    note, never a made-up number."""
    from benchmarks import aggregate, render
    from benchmarks.collect import Run
    from benchmarks.toy import TOY
    spec, _, _, per_image = case
    tapps, base = (osp.splitext(osp.basename(TOY.configs[k]))[0] for k in ('tapps', 'baseline'))
    rng = np.random.default_rng(4)
    runs = []
    for config in (tapps, base):
        for seed in range(3):
            work_dir = tmp_path / config / f'seed{seed}'
            kept = PerImageStats(per_image.image_ids, dict(per_image.arrays), spec.name)
            kept.arrays['part_iou'] = per_image.arrays['part_iou'] * rng.uniform(0.8, 1.0)  # a run's own quality
            kept.save(str(work_dir / 'per_image_stats' / 'iter_4.npz'))
            values = {k: float(v) for k, v in st.SpecMetrics.of_spec(spec.name)(
                {f: kept.arrays[f].sum(0) for f in st.SUM_FIELDS}).items()}
            runs.append(Run(config=config, seed=seed, status='complete', iters=4, max_iters=4,
                            work_dir=str(work_dir), source='train', metrics=values,
                            per_image='per_image_stats/iter_4.npz'))
    rows = aggregate.select_tables(aggregate.table_rows(), ['1-toy'])
    comp = aggregate.comparisons(runs, rows, aggregate.ImageNoise(runs, n_boot=200, max_boot=200))
    c = comp[comp.metric == 'PartPQ_All'].iloc[0]
    assert c.boot_low <= c.mean_diff <= c.boot_high and 0 <= c.image_share <= 1 and c.n_boot == 200
    assert c.claim_low <= c.mean_diff <= c.claim_high and c.claim in ('separates', 'borderline', 'includes 0')
    assert not math.isnan(c.holm_p) and not math.isnan(c.mdd) and c.mdd <= c.mdd_upper
    # Holm's family: every metric with a p-value of the table's comparisons
    assert comp.holm_p.notna().sum() == comp.p.notna().sum() == int(comp.holm_family.max()) >= 8
    assert comp.seeds_needed.isna().all()  # a toy table: the paper's differences are not planned for
    res = aggregate.results(runs, rows, aggregate.ImageNoise(runs, n_boot=200, max_boot=200))
    cell = res[(res.config == tapps) & (res.metric == 'PartPQ_All')].iloc[0]
    assert cell.boot_low <= cell['mean'] <= cell.boot_high and cell.verdict == ''  # toy: no paper value

    old = [Run(**{**r.__dict__, 'per_image': ''}) for r in runs]
    comp_old = aggregate.comparisons(old, rows)
    assert comp_old[['boot_low', 'boot_high', 'image_std', 'image_share']].isna().all().all()
    paired = comp_old[comp_old.n_pairs > 0]
    assert len(paired) == 8 and paired.note.str.contains(aggregate.NO_PER_IMAGE, regex=False).all()
    np.testing.assert_array_equal(comp_old.mean_diff, comp.mean_diff)  # the seed statistics do not change
    text = render.comparison_tables(comp_old, '1-toy')
    assert 'nan' not in text.lower() and 'no per-image statistics: no claim interval' in text
    # the README's line per comparison: the claim interval where the runs kept their images, else the val set's
    claim = render.verdicts(comp, '1-toy')
    c = comp[comp.metric == 'PartPQ_All'].iloc[0]
    assert f'{c.mean_diff:+.1f} [{c.claim_low:+.1f}, {c.claim_high:+.1f}], {c.claim} (3 paired seeds)' in claim
    assert 'on this val set only (3 paired seeds; no per-image statistics)' in render.verdicts(comp_old, '1-toy')

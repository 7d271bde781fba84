"""Statistics of seeds and val images: how sure a difference is, from which noise it comes, how many seeds.

Why beyond a t-interval over seeds: PartPQ, PQ and mIoU are ratios of sums over a finite set of val
images, so the val set is a second source of noise beside the seed. Each run keeps its per-image
statistics (``tapps_mm.evaluation.per_image``); from them this module recomputes the metrics exactly for
any multiset of images and any multiset of seeds.

Seeds and images are crossed: every seed is scored on the same images. A seed's value moves with (a) the
seed itself, (b) image noise of its own (how its predictions happen to suit these images) and (c) image
noise every seed shares (how hard these images are for the method pair). The seed-to-seed spread holds
(a) and (b); only (c) survives averaging over any number of seeds. So:

- :func:`bootstrap`: the two-level paired bootstrap (seeds and images with replacement, the same draws for
  both methods, metrics recomputed from the summed statistics); its percentile endpoints carry their
  Monte-Carlo error (:func:`endpoint_mc_error`), and the resamples are raised until it is small
  (:data:`MC_TARGET`, done by the caller).
- :func:`noise_sources`: the seed std of the paired difference, the **shared** image std (c, from the
  covariance across seeds of image-resampled values, :func:`shared_image_variance`), the image share of
  the variance of the mean, and the claim interval.
- :func:`claim_interval`: mean +- t * sqrt(seed var / n + shared image var), Satterthwaite degrees of
  freedom: the interval a claim rests on. Its coverage at 5 seeds is checked by simulation with known
  truth (``tests/test_benchmarks/test_statistics.py``); the percentile bootstrap is near nominal only at about 20 seeds.
- :func:`power`: the minimum detectable difference and the seeds a difference needs, for the same test,
  with upper bounds from the seed std's confidence interval and the image floor no number of seeds removes;
  a solve that cannot fail in either direction (an integer search on the non-central t power).
- :func:`holm`: Holm-adjusted p-values over a stated family (the caller: every metric of every comparison
  of a table).
- :func:`reproduction_verdict`: for a full-scale cell with a paper value, the prediction interval of one
  more run and a two-one-sided-tests equivalence test against the paper's number.
- :func:`paired_stats`: over seeds alone (this val set), the t-interval of a paired difference, the wins and
  the sign test; :func:`claim_note` says in words what a comparison's seeds allow.

The levels (:data:`CONFIDENCE`, :data:`ALPHA`, :data:`POWER`) live here only: every table header and
sentence of the pipeline writes them with :func:`level`.

Everything here is in the metric's units (fractions); ``aggregate`` converts to percent points.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, stats

from tapps_mm.evaluation.per_image import OBJECT_FIELDS, PerImageStats

CONFIDENCE = 0.95  # every interval
ALPHA = 0.05       # every test (two-sided), Holm's family-wise level, the equivalence test
POWER = 0.80       # the minimum detectable difference and the seeds a difference needs
N_BOOT = 2000      # first resamples of every bootstrap (recorded with the generator seed in meta.json)
MAX_BOOT = 64000   # the most resamples: doubled from N_BOOT until the endpoints' Monte-Carlo error is small
MC_TARGET = 0.0005  # that error, in the metric's units (0.05 percent points)
MC_BORDERLINE = 2.0  # an endpoint within this many Monte-Carlo errors of 0 makes a claim borderline
BOOT_SEED = 0      # numpy default_rng seed of the bootstraps: the intervals are reproducible from it
#: the per-image fields the paper's metrics are recomputed from (SpecMetrics)
SUM_FIELDS = ('tp', 'fp', 'fn', 'part_iou', 'pq_tp', 'pq_fp', 'pq_fn', 'pq_iou', 'sem_inter', 'sem_gt',
              'sem_pred') + OBJECT_FIELDS

MetricFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def level(fraction: float) -> str:
    """0.95 -> '95%': how a confidence, power or test level is written in every header and sentence."""
    return f'{100 * fraction:g}%'


# ------------------------------------------------------------------------------------- metrics from sums


def _mean_over(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the classes in ``mask`` (last axis); 0.0 where no class counts, as ``summarize`` does."""
    count = mask.sum(-1)
    return np.where(count > 0, (values * mask).sum(-1) / np.maximum(count, 1), 0.0)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


@dataclass(frozen=True)
class SpecMetrics:
    """The paper's metrics from summed statistics, vectorised over any leading axes (resamples, seeds):
    the numbers of ``PartPQEvaluator.summarize`` (a test compares them on random resamples)."""

    label_has_parts: np.ndarray  # (C,) bool
    label_is_thing: np.ndarray   # (C,) bool

    @classmethod
    def of_spec(cls, spec_name: str) -> 'SpecMetrics':
        from tapps_mm.evaluation.partpq import PartPQEvaluator
        from tapps_mm.specs import load_spec
        evaluator = PartPQEvaluator(load_spec(spec_name))
        return cls(np.asarray(evaluator.label_has_parts, bool), np.asarray(evaluator.label_is_thing, bool))

    def __call__(self, s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        tp, fp, fn = s['tp'], s['fp'], s['fn']
        denom = tp + 0.5 * fp + 0.5 * fn
        part_pq, part_sq = _ratio(s['part_iou'], denom), _ratio(s['part_iou'], tp)
        counted = (tp + fp + fn) > 0
        parts = counted & self.label_has_parts
        out = {'PartPQ': _mean_over(part_pq, counted), 'PartPQ_parts': _mean_over(part_pq, parts),
               'PartPQ_noparts': _mean_over(part_pq, counted & ~self.label_has_parts),
               'PartSQ_parts': _mean_over(part_sq, parts)}
        pq_counted = (s['pq_tp'] + s['pq_fp'] + s['pq_fn']) > 0
        pq = _ratio(s['pq_iou'], s['pq_tp'] + 0.5 * s['pq_fp'] + 0.5 * s['pq_fn'])
        out.update(PQ=_mean_over(pq, pq_counted), PQ_th=_mean_over(pq, pq_counted & self.label_is_thing),
                   PQ_st=_mean_over(pq, pq_counted & ~self.label_is_thing))
        union = s['sem_gt'] + s['sem_pred'] - s['sem_inter']
        valid = (union > 0) & self.label_is_thing
        iou = _ratio(s['sem_inter'], union)
        out['mIoU_th'] = _mean_over(iou, valid)
        objects = s['num_objects']
        with np.errstate(invalid='ignore', divide='ignore'):
            out['obj_without_conflicts'] = np.where(objects > 0, 1.0 - s['num_conflicts'] / objects, np.nan)
        return out


# ------------------------------------------------------------------------------------------ the bootstrap


def stacked(runs: Sequence[PerImageStats]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The image ids and ``{field: (seeds, images, ...)}`` of runs over one val set; different image lists
    raise ValueError (resampling images needs the same images in every run)."""
    ids = runs[0].image_ids
    for run in runs[1:]:
        if len(run.image_ids) != len(ids) or (run.image_ids != ids).any():
            raise ValueError('the runs were evaluated on different val images: their images cannot be resampled '
                             'together')
    return ids, {f: np.stack([r.arrays[f] for r in runs]).astype(np.float64) for f in SUM_FIELDS}


@dataclass(frozen=True)
class Resamples:
    """The draws of one bootstrap: seed indices ``(B, S)`` and image counts ``(B, N)`` (None: all once)."""
    seeds: np.ndarray
    image_counts: np.ndarray | None

    @classmethod
    def draw(cls, n_seeds: int, n_images: int, n_boot: int = N_BOOT, seed: int = BOOT_SEED,
             seeds: bool = True, images: bool = True) -> 'Resamples':
        """Seeds first, then images, from one generator: with images fixed, the seed draws are those of a
        plain bootstrap over seeds with the same generator seed."""
        rng = np.random.default_rng(seed)
        seed_idx = (rng.integers(0, n_seeds, (n_boot, n_seeds)) if seeds
                    else np.broadcast_to(np.arange(n_seeds), (n_boot, n_seeds)))
        counts = rng.multinomial(n_images, np.full(n_images, 1.0 / n_images), size=n_boot) if images else None
        return cls(seed_idx, counts)


def resampled_metrics(arrays: dict[str, np.ndarray], counts: np.ndarray | None, metric_fn: MetricFn,
                      chunk: int = 250) -> dict[str, np.ndarray]:
    """``{metric: (B, S)}``: every seed's metrics over each resample of images (``counts`` (B, N); None:
    the val set itself, ``(1, S)``), recomputed from the weighted sums of the per-image statistics."""
    if counts is None:
        return {k: v[None] for k, v in metric_fn({f: a.sum(1) for f, a in arrays.items()}).items()}
    parts = []
    for start in range(0, len(counts), chunk):  # bounded memory: (chunk, S, C) sums at a time
        w = counts[start:start + chunk].astype(np.float64)
        parts.append(metric_fn({f: np.einsum('bn,sn...->bs...', w, a) for f, a in arrays.items()}))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


@dataclass(frozen=True)
class SeedMetrics:
    """One config's metrics per seed: on the val set itself (``values``, ``{metric: (S,)}``) and on each
    resample of images of ``draws`` (``resampled``, ``{metric: (B, S)}``; None when images are not drawn)."""
    values: dict[str, np.ndarray]
    resampled: dict[str, np.ndarray] | None

    @classmethod
    def of(cls, arrays: dict[str, np.ndarray], draws: Resamples, metric_fn: MetricFn) -> 'SeedMetrics':
        values = {k: v[0] for k, v in resampled_metrics(arrays, None, metric_fn).items()}
        resampled = (resampled_metrics(arrays, draws.image_counts, metric_fn)
                     if draws.image_counts is not None else None)
        return cls(values, resampled)


def _paired(a: dict[str, np.ndarray], b: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    return {k: v - b[k] if b is not None else v for k, v in a.items()}


def schemes(a: SeedMetrics, b: SeedMetrics | None, draws: Resamples) -> dict[str, dict[str, np.ndarray]]:
    """``{scheme: {metric: (B,)}}``, the mean over seeds of a - b (of a alone if ``b`` is None) under each
    resampling scheme of the same draws: 'both' (seeds and images), 'seeds' (images fixed: a plain
    paired bootstrap over seeds) and 'images' (seeds fixed)."""
    full = _paired(a.values, b.values if b is not None else None)
    out = {'seeds': {k: v[draws.seeds].mean(1) for k, v in full.items()}}
    if a.resampled is not None:
        img = _paired(a.resampled, b.resampled if b is not None else None)
        out['both'] = {k: np.take_along_axis(v, draws.seeds, axis=1).mean(1) for k, v in img.items()}
        out['images'] = {k: v.mean(1) for k, v in img.items()}
    return out


def bootstrap(a: dict[str, np.ndarray], b: dict[str, np.ndarray] | None, draws: Resamples,
              metric_fn: MetricFn) -> dict[str, np.ndarray]:
    """``{metric: (B,)}``: per resample, the mean over the drawn seeds of a - b (a alone if ``b`` is None)
    on the drawn images (all of them once if ``draws`` draws none). ``a`` / ``b``: ``{field: (seeds,
    images, ...)}`` of the same seeds (paired) and images."""
    ma = SeedMetrics.of(a, draws, metric_fn)
    mb = SeedMetrics.of(b, draws, metric_fn) if b is not None else None
    return schemes(ma, mb, draws)['both' if draws.image_counts is not None else 'seeds']


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile interval of bootstrap values (NaN if any resample is undefined)."""
    if values.size == 0 or np.isnan(values).any():
        return math.nan, math.nan
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def endpoint_mc_error(values: np.ndarray, q: float) -> float:
    """Monte-Carlo standard error of the ``q``-quantile of ``values`` (B bootstrap resamples): the order
    statistics whose ranks bound it with 95 % (binomial ranks B*q +- 1.96*sqrt(B*q*(1-q))), their distance
    over 2 * 1.96. Distribution-free; a test checks it against the spread over independent generators."""
    x = np.sort(values)
    n = x.size
    half = 1.959964 * math.sqrt(n * q * (1 - q))
    low, high = max(0, math.floor(n * q - half)), min(n - 1, math.ceil(n * q + half))
    return float((x[high] - x[low]) / (2 * 1.959964))


def interval_with_mc(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """The percentile interval and the larger Monte-Carlo error of its two endpoints (NaN if undefined)."""
    low, high = percentile_interval(values, confidence)
    if math.isnan(low):
        return low, high, math.nan
    tail = (1 - confidence) / 2
    return low, high, max(endpoint_mc_error(values, tail), endpoint_mc_error(values, 1 - tail))


def shared_image_variance(per_seed: np.ndarray) -> float:
    """The image variance every seed shares, from per-seed values under image resampling (``(B, S)``, seeds
    fixed): Var(mean over seeds) = shared + own / S and the mean per-seed variance = shared + own, so
    shared = (S * Var(mean) - mean Var) / (S - 1), clipped at 0. With one seed the two cannot be told
    apart and all of it is returned."""
    n = per_seed.shape[1]
    var_of_mean = float(np.var(per_seed.mean(1), ddof=1))
    if n < 2:
        return var_of_mean
    return max(0.0, (n * var_of_mean - float(np.var(per_seed, axis=0, ddof=1).mean())) / (n - 1))


def satterthwaite_df(v1: float, df1: float, v2: float, df2: float) -> float:
    """Welch-Satterthwaite degrees of freedom of the sum of two variance estimates."""
    den = (v1 ** 2 / df1 if df1 > 0 else 0.0) + (v2 ** 2 / df2 if df2 > 0 else 0.0)
    return (v1 + v2) ** 2 / den if den > 0 else math.inf


def claim_interval(mean: float, seed_std: float, n: int, shared_var: float, n_images: int,
                   confidence: float = CONFIDENCE) -> dict[str, float]:
    """mean +- t_df * sqrt(seed_std^2 / n + shared_var): the seed term holds the seed-specific image noise,
    the shared term the image noise no seed averages out; df by Satterthwaite (n - 1 for the seed term,
    images - 1 for the shared one). Also the two-sided p-value of the same test against 0."""
    out = dict(claim_low=math.nan, claim_high=math.nan, claim_df=math.nan, p=math.nan)
    if n < 2 or not math.isfinite(seed_std) or not math.isfinite(shared_var):
        return out
    v1 = seed_std ** 2 / n
    var = v1 + shared_var
    df = satterthwaite_df(v1, n - 1, shared_var, max(n_images - 1, 1))
    if var <= 0:
        return dict(claim_low=mean, claim_high=mean, claim_df=df, p=0.0 if mean != 0 else 1.0)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(var)
    p = float(2 * stats.t.sf(abs(mean) / math.sqrt(var), df))
    return dict(claim_low=mean - half, claim_high=mean + half, claim_df=df, p=p)


def _claim_mc(per_seed: np.ndarray, seed_std: float, n: int, n_images: int, batches: int = 20) -> float:
    """Monte-Carlo error of the claim interval's endpoints: the shared image variance is estimated from
    resamples, so its spread over ``batches`` batches of them, carried through the half-width."""
    if n < 2 or len(per_seed) < 2 * batches:
        return math.nan
    parts = [shared_image_variance(chunk) for chunk in np.array_split(per_seed, batches)]
    se_var = float(np.std(parts, ddof=1)) / math.sqrt(batches)
    shared = shared_image_variance(per_seed)
    var = seed_std ** 2 / n + shared
    if var <= 0:
        return 0.0
    df = satterthwaite_df(seed_std ** 2 / n, n - 1, shared, max(n_images - 1, 1))
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * se_var / (2 * math.sqrt(var))


def noise_sources(a: SeedMetrics, b: SeedMetrics | None, draws: Resamples) -> dict[str, dict[str, float]]:
    """Per metric (a - b paired by seed, or a alone):

    - ``claim_low`` / ``claim_high`` / ``claim_df`` / ``p`` / ``claim_mc``: :func:`claim_interval` and the
      Monte-Carlo error of its endpoints;
    - ``boot_low`` / ``boot_high`` / ``boot_mc``: the two-level percentile interval ("new images of the same
      kind") and its Monte-Carlo error; ``val_low`` / ``val_high`` / ``val_mc``: seeds only ("this val set");
    - ``seed_std``: seed-to-seed std of the values; ``image_std``: the std of the **shared** image noise of
      the mean (:func:`shared_image_variance`); ``image_share``: shared var / (shared var + seed var / n);
      ``image_std_total``: the std of the mean under image resampling alone, which also holds each seed's own
      image noise (already in ``seed_std``: never added to it).
    """
    per_scheme = schemes(a, b, draws)
    values = _paired(a.values, b.values if b is not None else None)
    per_seed = _paired(a.resampled, b.resampled if b is not None else None) if a.resampled is not None else {}
    n_images = int(draws.image_counts.shape[1]) if draws.image_counts is not None else 0
    out = {}
    for key, v in values.items():
        n = v.size
        seed_std = float(np.std(v, ddof=1)) if n > 1 else math.nan
        images = per_seed.get(key)
        defined = images is not None and not np.isnan(images).any()
        # N / (N - 1): the bootstrap's plug-in variance of a mean over N images is that much too small
        shared = shared_image_variance(images) * n_images / max(n_images - 1, 1) if defined else math.nan
        seed_var = seed_std ** 2 / n if n > 1 else math.nan
        total = shared + seed_var
        entry = dict(seed_std=seed_std, image_std=math.sqrt(shared) if defined else math.nan,
                     image_share=shared / total if total > 0 else math.nan,
                     image_std_total=float(np.std(images.mean(1), ddof=1)) if defined else math.nan)
        boot = per_scheme['both'][key] if 'both' in per_scheme else None
        entry.update(zip(('boot_low', 'boot_high', 'boot_mc'),
                         interval_with_mc(boot) if boot is not None else (math.nan,) * 3))
        entry.update(zip(('val_low', 'val_high', 'val_mc'),
                         interval_with_mc(per_scheme['seeds'][key]) if n > 1 else (math.nan,) * 3))
        entry.update(claim_interval(float(v.mean()), seed_std, n, shared, n_images) if defined
                     else dict(claim_low=math.nan, claim_high=math.nan, claim_df=math.nan, p=math.nan))
        entry['claim_mc'] = _claim_mc(images, seed_std, n, n_images) if defined else math.nan
        entry['n_images'] = n_images
        out[key] = entry
    return out


def claim_status(low: float, high: float, mc: float) -> str:
    """'separates' (the interval excludes 0), 'borderline' (it does, but an endpoint lies within
    :data:`MC_BORDERLINE` Monte-Carlo errors of 0), 'includes 0', or '' when there is no interval."""
    if math.isnan(low) or math.isnan(high):
        return ''
    if low <= 0 <= high:
        return 'includes 0'
    nearest = min(abs(low), abs(high))
    return 'borderline' if math.isfinite(mc) and nearest <= MC_BORDERLINE * mc else 'separates'


# ------------------------------------------------------------------------------- power, tests, verdicts


def _power_at(diff: float, var: float, df: float, alpha: float) -> float:
    """Power of the two-sided t-test of a mean with variance ``var`` and ``df`` degrees of freedom when the
    true difference is ``diff`` (the non-central t distribution)."""
    if var <= 0:
        return 1.0 if diff != 0 else alpha
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    nc = abs(diff) / math.sqrt(var)
    if df > 1e4:  # the t statistic's denominator is exact enough: a normal with mean nc
        return float(stats.norm.sf(crit - nc) + stats.norm.cdf(-crit - nc))
    direct = float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
    if 0 <= direct <= 1:
        return direct

    def rejecting(x: float) -> float:  # given the chi-square part, the chance |T| > crit
        scale = crit * math.sqrt(x / df)
        return (stats.norm.sf(scale - nc) + stats.norm.cdf(-scale - nc)) * stats.chi2.pdf(x, df)
    # scipy's nct tails can return NaN for a large nc at small df: integrate over the chi-square part instead
    return float(min(1.0, integrate.quad(rejecting, 0, math.inf, limit=200)[0]))


def power_of(diff: float, seed_std: float, n: float, shared_var: float = 0.0, n_images: int = 0,
               alpha: float = ALPHA) -> float:
    """Power of :func:`claim_interval`'s test with ``n`` seeds (``math.inf``: seed noise averaged away) when the
    true difference is ``diff``; with ``shared_var`` 0 it is the paired t-test's (statsmodels' TTestPower)."""
    v1 = seed_std ** 2 / n if math.isfinite(n) else 0.0
    df = satterthwaite_df(v1, n - 1 if math.isfinite(n) else 0, shared_var, max(n_images - 1, 1))
    return _power_at(diff, v1 + shared_var, df, alpha)


def _smallest(pred: Callable[[float], bool], low: float, high: float, integer: bool) -> float:
    """The smallest x in [low, high] with pred(x) (pred monotone: False then True), by bisection."""
    for _ in range(200):
        if (high - low <= 1) if integer else (high - low <= 1e-7 * max(1.0, high)):
            break
        mid = (low + high) // 2 if integer else (low + high) / 2
        low, high = (low, mid) if pred(mid) else (mid, high)
    return high


def mdd(seed_std: float, n: float, shared_var: float = 0.0, n_images: int = 0, alpha: float = ALPHA,
        power_: float = POWER) -> float:
    """The smallest true difference detected with probability ``power_`` (the image floor with n = inf)."""
    if not (seed_std > 0 or shared_var > 0):
        return 0.0
    scale = math.sqrt((seed_std ** 2 / n if math.isfinite(n) else 0.0) + shared_var)
    if scale == 0:  # no noise left (n = inf without shared image noise): any difference is seen
        return 0.0
    high = scale
    while power_of(high, seed_std, n, shared_var, n_images, alpha) < power_:
        high *= 2
    return _smallest(lambda d: power_of(d, seed_std, n, shared_var, n_images, alpha) >= power_, 0.0, high, False)


def seeds_needed(diff: float, seed_std: float, shared_var: float = 0.0, n_images: int = 0, alpha: float = ALPHA,
                 power_: float = POWER, most: int = 10 ** 7) -> float:
    """The fewest seeds (>= 2) with which a true difference ``diff`` is detected with probability ``power_``;
    inf when no number of seeds does (the shared image noise alone hides it, or ``diff`` is 0)."""
    if diff == 0 or not math.isfinite(diff):
        return math.inf
    reach = lambda n: power_of(diff, seed_std, n, shared_var, n_images, alpha) >= power_  # noqa: E731
    if reach(2):
        return 2.0
    if not reach(math.inf) or not reach(most):
        return math.inf
    high = 4
    while not reach(high):
        high *= 2
    return float(_smallest(reach, high // 2, high, True))


def sd_upper(seed_std: float, n: int, confidence: float = CONFIDENCE) -> float:
    """The upper end of the ``confidence`` interval of a standard deviation estimated from ``n`` values
    (chi-square): at 5 seeds, 2.9 times the estimate."""
    return seed_std * math.sqrt((n - 1) / stats.chi2.ppf((1 - confidence) / 2, n - 1)) if n > 1 else math.nan


def power(paired_std: float, n: int, target_diff: float = math.nan, shared_var: float = 0.0, n_images: int = 0,
          alpha: float = ALPHA, power_: float = POWER) -> dict[str, float]:
    """For :func:`claim_interval`'s test at ``alpha`` and ``power_``: the minimum detectable difference with
    the ``n`` seeds at hand (``mdd``), its upper bound from the seed std's :data:`CONFIDENCE` interval
    (``mdd_upper``), the image floor no number of seeds goes below (``image_floor``), and, for ``target_diff``,
    the seeds it needs (``seeds_needed``, ``seeds_needed_upper``; inf where the image floor hides it)."""
    out = dict(mdd=math.nan, mdd_upper=math.nan, image_floor=math.nan, seeds_needed=math.nan,
               seeds_needed_upper=math.nan)
    if n < 2 or not paired_std > 0:
        return out
    upper = sd_upper(paired_std, n)
    out.update(mdd=mdd(paired_std, n, shared_var, n_images, alpha, power_),
               mdd_upper=mdd(upper, n, shared_var, n_images, alpha, power_),
               image_floor=mdd(paired_std, math.inf, shared_var, n_images, alpha, power_))
    if math.isfinite(target_diff) and target_diff != 0:
        out['seeds_needed'] = seeds_needed(target_diff, paired_std, shared_var, n_images, alpha, power_)
        out['seeds_needed_upper'] = seeds_needed(target_diff, upper, shared_var, n_images, alpha, power_)
    return out


def t_test_p(diffs: Sequence[float]) -> float:
    """Two-sided one-sample t-test of the paired differences against 0 (NaN with fewer than 2)."""
    d = np.asarray(diffs, float)
    if d.size < 2:
        return math.nan
    if np.std(d) == 0:
        return 0.0 if d[0] != 0 else 1.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Holm-adjusted p-values and which reject at ``alpha`` (NaN p-values stay NaN, never reject)."""
    from statsmodels.stats.multitest import multipletests
    p = np.asarray(pvalues, float)
    adjusted, reject = np.full(p.shape, math.nan), np.zeros(p.shape, bool)
    ok = ~np.isnan(p)
    if ok.any():
        reject[ok], adjusted[ok] = multipletests(p[ok], alpha=alpha, method='holm')[:2]
    return adjusted, reject


def prediction_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Where one more run falls: mean +- t * s * sqrt(1 + 1/n) (NaN with fewer than 2 runs)."""
    x = np.asarray(values, float)
    n = x.size
    if n < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) * math.sqrt(1 + 1 / n)
    return float(x.mean() - half), float(x.mean() + half)


def reproduction_verdict(values: Sequence[float], paper: float, margin: float, alpha: float = ALPHA) -> dict:
    """Equivalence with the paper's number within +-``margin`` (two one-sided t-tests, statsmodels):

    - 'reproduced within +-m': the TOST p-value < ``alpha`` (the 1 - 2 alpha interval lies inside +-m);
    - 'differs': that interval lies entirely outside +-m (beyond the margin, significantly);
    - 'inconclusive': neither; with one run always (no spread to test against: it is said so).
    """
    from statsmodels.stats.weightstats import DescrStatsW
    x = np.asarray(values, float)
    out = dict(pred_low=math.nan, pred_high=math.nan, tost_p=math.nan, margin=margin, verdict='')
    if x.size == 0 or not math.isfinite(paper):
        return out
    delta = float(x.mean() - paper)
    if x.size == 1:
        out['verdict'] = (f'inconclusive: one run, {delta:+.1f} from the paper; one run has no spread to test '
                          f'against (within +-{margin:g} needs >= 2 runs)')
        return out
    out['pred_low'], out['pred_high'] = prediction_interval(x)
    if x.std(ddof=1) == 0:
        inside = abs(delta) < margin
        out['tost_p'] = 0.0 if inside else 1.0
    else:
        out['tost_p'] = float(DescrStatsW(x).ttost_mean(paper - margin, paper + margin)[0])
    sem = x.std(ddof=1) / math.sqrt(x.size)
    low, high = (delta + sem * q for q in stats.t.ppf([alpha, 1 - alpha], x.size - 1))
    if out['tost_p'] < alpha:
        verdict = f'reproduced within +-{margin:g}'
    elif high < -margin or low > margin:
        verdict = f'differs: {delta:+.1f} from the paper, beyond +-{margin:g}'
    else:
        verdict = (f'inconclusive: {delta:+.1f} from the paper, {level(1 - 2 * alpha)} interval [{low:+.1f}, '
                   f'{high:+.1f}] vs +-{margin:g}')
    out['verdict'] = verdict + f' (n = {x.size})'
    return out


# ------------------------------------------------------------------------- paired comparisons over seeds


def smallest_sign_test_p(n: int) -> float:
    """The smallest two-sided p-value a sign test on ``n`` pairs can give (all n in one direction)."""
    return float(stats.binomtest(n, n, 0.5).pvalue) if n else 1.0


def sign_test_seeds(alpha: float = ALPHA) -> int:
    """The fewest pairs with which a two-sided sign test can reach p < ``alpha`` (6 for 0.05)."""
    n = 1
    while smallest_sign_test_p(n) >= alpha:
        n += 1
    return n


def paired_stats(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Paired comparison of ``a`` and ``b`` (same seeds, same order), over seeds alone (this val set).

    - ``mean_diff``: mean of a - b; ``ci_low`` / ``ci_high``: the ``confidence`` t-interval of that mean
      (scipy's t distribution, n - 1 degrees of freedom; NaN with fewer than 2 pairs);
    - ``win_fraction``: the fraction of seeds on which a scores higher than b (a tie counts as half); a
      count, not a probability that a is better;
    - ``sign_p``: two-sided sign test of the wins (ties dropped); ``min_sign_p``: the smallest p-value a
      sign test can reach with this many pairs, so the reader sees when n is too small for any claim;
    - ``wins`` / ``ties``: seeds with a > b / a == b.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = int(d.size)
    out = dict(n_pairs=n, mean_diff=math.nan, ci_low=math.nan, ci_high=math.nan, win_fraction=math.nan,
               sign_p=math.nan, min_sign_p=smallest_sign_test_p(n), wins=int(np.sum(d > 0)), ties=int(np.sum(d == 0)))
    if n == 0:
        return out
    mean = float(d.mean())
    out.update(mean_diff=mean, win_fraction=(out['wins'] + 0.5 * out['ties']) / n)
    if n >= 2:
        sem = float(d.std(ddof=1)) / math.sqrt(n)
        low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem) if sem > 0 else (mean, mean)
        out.update(ci_low=float(low), ci_high=float(high))
    decided = d[d != 0]
    out['sign_p'] = float(stats.binomtest(int(np.sum(decided > 0)), decided.size, 0.5).pvalue) if decided.size else 1.0
    return out


def claim_note(n: int, status: str = '', ci_low: float = math.nan, ci_high: float = math.nan) -> str:
    """What ``n`` paired seeds allow one to say, in words: the claim status of the interval over seeds and
    shared image noise (:func:`claim_status`); without per-image statistics, only what the t-interval over
    seeds says about this val set."""
    if n == 0:
        return 'no paired seeds: no comparison'
    if n < 2:
        return '1 paired seed: no interval'
    interval = f'the {level(CONFIDENCE)} interval over seeds and shared image noise'
    if status == 'separates':
        return f'separates: {interval} excludes 0'
    if status == 'borderline':
        return f'borderline: {interval} excludes 0 by less than {MC_BORDERLINE:g} Monte-Carlo errors'
    if status == 'includes 0':
        return f'no separation: {interval} includes 0'
    if math.isnan(ci_low):
        return ''
    return (f'on this val set only (no image noise): the {level(CONFIDENCE)} t-interval over seeds '
            + ('includes 0' if ci_low <= 0 <= ci_high else 'excludes 0'))

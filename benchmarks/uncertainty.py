"""Statistics of seeds and val images: how sure a difference is, from which noise it comes, how many seeds.

Why beyond a t-interval over seeds: PartPQ, PQ and mIoU are ratios of sums over a finite set of val
images, so the val set is a second source of noise beside the seed. Each run keeps its per-image
statistics (``tapps_mm.evaluation.per_image``); from them this module recomputes the metrics exactly for
any multiset of images and any multiset of seeds:

- :func:`bootstrap`: the two-level paired bootstrap. Each resample draws seeds with replacement (the same
  seeds for both methods) and val images with replacement (the same images for both), sums the drawn
  images' statistics per run and recomputes each metric from the sums (not a mean of per-image scores);
  the statistic is the mean over the drawn seeds of a - b. Drawing images only or seeds only gives the
  two components; with images held fixed it is a plain paired bootstrap over seeds (a test checks this).
- :func:`noise_sources`: seed-to-seed std of the paired difference, the std that resampling images alone
  gives, the image share of the variance, and two intervals: "this val set" (seeds resampled, images
  fixed) and "new images of the same kind" (both resampled).
- :func:`power`: the minimum difference a paired t-test detects at 80 % power with the seeds at hand, and
  the seeds that a given difference (the paper's) needs, from the observed paired std (statsmodels).
- :func:`holm`: Holm-adjusted p-values over the comparisons of a table (statsmodels).
- :func:`reproduction_verdict`: for a full-scale cell with a paper value, the prediction interval of one
  more run and a two-one-sided-tests equivalence test against the paper's number.

Everything here is in the metric's units (fractions); ``aggregate`` converts to percent points.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from tapps_mm.evaluation.per_image import OBJECT_FIELDS, PerImageStats

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.80
N_BOOT = 2000      # resamples of every bootstrap (recorded with the generator seed in meta.json)
BOOT_SEED = 0      # numpy default_rng seed of the bootstraps: the intervals are reproducible from it
#: the per-image fields the paper's metrics are recomputed from (SpecMetrics)
SUM_FIELDS = ('tp', 'fp', 'fn', 'part_iou', 'pq_tp', 'pq_fp', 'pq_fn', 'pq_iou', 'sem_inter', 'sem_gt',
              'sem_pred') + OBJECT_FIELDS

MetricFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


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


def noise_sources(a: SeedMetrics, b: SeedMetrics | None, draws: Resamples) -> dict[str, dict[str, float]]:
    """Per metric: the two-level interval ("new images of the same kind": ``boot_low`` / ``boot_high``), the
    seeds-only interval ("this val set": ``val_low`` / ``val_high``), the seed-to-seed std of the (paired)
    values, the std of their mean under image resampling alone, and the image share of the variance of the
    mean: image var / (image var + seed std^2 / n)."""
    per_scheme = schemes(a, b, draws)
    values = _paired(a.values, b.values if b is not None else None)
    out = {}
    for key, v in values.items():
        n = v.size
        seed_std = float(np.std(v, ddof=1)) if n > 1 else math.nan
        images = per_scheme.get('images', {}).get(key)
        image_std = float(np.std(images, ddof=1)) if images is not None and not np.isnan(images).any() else math.nan
        seed_var = seed_std ** 2 / n if n > 1 else math.nan
        total = image_std ** 2 + seed_var
        low, high = percentile_interval(per_scheme['both'][key]) if 'both' in per_scheme else (math.nan, math.nan)
        val_low, val_high = percentile_interval(per_scheme['seeds'][key]) if n > 1 else (math.nan, math.nan)
        out[key] = dict(boot_low=low, boot_high=high, val_low=val_low, val_high=val_high, seed_std=seed_std,
                        image_std=image_std, image_share=image_std ** 2 / total if total > 0 else math.nan)
    return out


# ------------------------------------------------------------------------------- power, tests, verdicts


def power(paired_std: float, n: int, target_diff: float = math.nan, alpha: float = ALPHA,
          power_: float = POWER) -> dict[str, float]:
    """Two-sided paired t-test at ``alpha``: the smallest true difference detected with probability
    ``power_`` with ``n`` seeds (``mdd``), and the seeds that ``target_diff`` needs (``seeds_needed``),
    both from the observed std of the paired differences (statsmodels' t-test power)."""
    from statsmodels.stats.power import TTestPower
    out = dict(mdd=math.nan, seeds_needed=math.nan)
    if n < 2 or not paired_std > 0:
        return out
    solver = TTestPower()
    out['mdd'] = float(solver.solve_power(nobs=n, alpha=alpha, power=power_)) * paired_std
    if math.isfinite(target_diff) and target_diff != 0:
        effect = abs(target_diff) / paired_std
        try:
            needed = float(solver.solve_power(effect_size=effect, alpha=alpha, power=power_))
        except (ValueError, RuntimeError):  # beyond statsmodels' search bracket: far too many seeds
            needed = math.inf
        out['seeds_needed'] = max(2.0, float(math.ceil(needed))) if math.isfinite(needed) else math.inf
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

    - 'reproduced within +-m': the TOST p-value < ``alpha`` (the 90 % interval lies inside +-m);
    - 'differs': the 90 % interval lies entirely outside +-m (beyond the margin, significantly);
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
        verdict = f'inconclusive: {delta:+.1f} from the paper, 90% interval [{low:+.1f}, {high:+.1f}] vs +-{margin:g}'
    out['verdict'] = verdict + f' (n = {x.size})'
    return out

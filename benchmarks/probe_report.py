"""The probes' evidence and answer as Markdown (docs/toy_benchmark.md's "Why the toy disagrees with the paper" and
the README's sentence under Table 1-toy), from the committed ``probes.csv``, ``inference.csv`` and
``size_bands.csv``; the answer is :func:`benchmarks.probes.verdicts`, the pre-registered rules applied."""
from __future__ import annotations

import math

import pandas as pd

from benchmarks import probes
from benchmarks.render import markdown, prose
from benchmarks.uncertainty import level

EXPLANATIONS = {'a': '(a) scale', 'b': '(b) a defect', 'c': '(c) inference'}


def _num(x: float, spec: str = '.1f') -> str:
    return '-' if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _interval(mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return '-'
    return f'{mean:+.1f}' + ('' if math.isnan(low) else f' [{low:+.1f}, {high:+.1f}]')


def family_table(family: pd.DataFrame) -> str:
    body = [[r.family, r.probe, r.label, r.metric, str(r.n_pairs), _num(r.a_mean),
             _num(r.b_mean), _interval(r.mean_diff, r.claim_low, r.claim_high), _num(r.holm_p, '.3g'),
             r.reading if isinstance(r.reading, str) else ''] for r in family.itertuples()]
    return markdown(pd.DataFrame(body, columns=['', 'probe', 'comparison (a - b)', 'metric', 'seeds', 'a', 'b',
                                                f'a - b [{level(0.95)} claim interval]', 'Holm p', 'reading']))


def inference_table(inference: pd.DataFrame) -> str:
    body = []
    for r in inference.itertuples():
        body.append([r.setting, *(_num(getattr(r, f'{m}_PQ_Th')) for m in ('tapps', 'baseline', 'mask2former')),
                     *(_num(getattr(r, f'{m}_recall')) for m in ('tapps', 'baseline', 'mask2former')),
                     _interval(r.PQ_Th_diff, r.PQ_Th_low, r.PQ_Th_high),
                     _interval(r.recall_diff, r.recall_low, r.recall_high)])
    return markdown(pd.DataFrame(body, columns=[
        'setting', 'PQ_Th TAPPS', 'PQ_Th baseline', 'PQ_Th Mask2Former', 'recall TAPPS', 'recall baseline',
        'recall Mask2Former', 'TAPPS - baseline PQ_Th [claim]', 'TAPPS - baseline recall [t over seeds]']))


def size_table(bands: pd.DataFrame) -> str:
    """P5: per band, the objects and each method's PQ and recall of things, and the paired differences."""
    names = {probes.at(c, 'default'): n for c, n in ((probes.TAPPS, 'TAPPS'), (probes.BASELINE, 'baseline'),
                                                      (probes.MASK2FORMER, 'Mask2Former'))}
    t, b, m = names
    pairs = [(t, b), (t, m), (b, m)]
    body = []
    for band, part in bands.groupby('band', sort=False):
        first = part.iloc[0]
        row = [band, _num(first.n_gt_a, '.0f')]
        cells = {(r.a_config, r.b_config): f'PQ {_num(r.PQ_a)} vs {_num(r.PQ_b)}: '
                 f'{_interval(r.PQ_diff, r.PQ_low, r.PQ_high)}; recall {_num(r.recall_a)} vs {_num(r.recall_b)}: '
                 f'{_interval(r.recall_diff, r.recall_low, r.recall_high)}' for r in part.itertuples()}
        body.append(row + [cells.get(pair, '-') for pair in pairs])
    return markdown(pd.DataFrame(body, columns=['band', 'ground-truth objects per run'] + [
        f'{names[a]} - {names[b]}' for a, b in pairs]))


def verdict_lines(verdicts: list[probes.Verdict]) -> str:
    return '\n'.join(f'- **{EXPLANATIONS[v.explanation]}: {v.status}.** {v.why}.' for v in verdicts)


def answer_sentence(verdicts: list[probes.Verdict], family: pd.DataFrame, setting: str | None = None) -> str:
    """The README's one sentence under Table 1-toy; ``setting``: the earlier toy setting whose Table 1-toy runs
    the probes were measured with, when it is not the default's."""
    f = family.set_index('family')
    control = ''
    if 'F1' in f.index and f.at['F1', 'n_pairs'] > 1:
        f1, f2 = (_interval(f.at[k, 'mean_diff'], f.at[k, 'claim_low'], f.at[k, 'claim_high']) for k in ('F1', 'F2'))
        control = f' (PQ_Th, TAPPS - plain Mask2Former {f1}, baseline - Mask2Former {f2})'
    said = '; '.join(f'{EXPLANATIONS[v.explanation]} {v.status}' for v in verdicts)
    on = f', on the Table 1-toy runs of the earlier setting {setting}' if setting else ''
    return prose(f'Why the toy does not show the paper\'s lead, by the probes written down before they ran{on}'
                 f'{control}: {said} ([the evidence](docs/toy_benchmark.md#why-the-toy-disagrees-with-the-paper)).')


def _frame(frame: pd.DataFrame | None) -> pd.DataFrame:
    return frame if frame is not None else pd.DataFrame(columns=['setting'])


def answer(family: pd.DataFrame, inference: pd.DataFrame | None, setting: str | None = None) -> str:
    """The README's sentence: the rules applied to the committed numbers."""
    return answer_sentence(probes.verdicts(family, _frame(inference)), family, setting)


def probes_block(family: pd.DataFrame, inference: pd.DataFrame | None, bands: pd.DataFrame | None,
                 meta: dict | None = None) -> str:
    """docs/toy_benchmark.md's evidence: the family, the inference sweep, the size bands, then the answer."""
    seeds = sorted({int(s) for x in family.seeds.dropna() for s in str(x).split(',') if s})
    made = (f' Measured by `{meta["command"]}` at commit {meta["commit"]} on {meta["machine"]}, {meta["date"]}: '
            f'{meta["runs_complete"]} complete runs, {meta["wall_s"] / 60:.0f} min of training and evaluation.'
            if meta else '')
    parts = [prose(f'Toy scale, seeds {", ".join(map(str, seeds))}; percent points; each comparison paired by seed '
                   'with its claim interval over seeds x images; Holm over F1-F14; R1 and R2 are Table 1-toy\'s own '
                   f'comparisons, shown for reference (their test is Table 1-toy\'s).{made}'),
             family_table(family)]
    if inference is not None and len(inference):
        parts += ['**P4, inference** (the Table 1-toy checkpoints evaluated again; recall: TP / (TP + FN) over the '
                  'thing classes, percent):', inference_table(inference)]
    if bands is not None and len(bands):
        parts += ['**P5, objects by size** (the Table 1-toy checkpoints at the default setting):', size_table(bands)]
    parts += ['**The answer**, the rules above applied to these numbers:', verdict_lines(
        probes.verdicts(family, _frame(inference)))]
    return '\n\n'.join(parts)

"""Aggregates -> text: Markdown and LaTeX (booktabs) tables, the comparison tables and the run summary.

Each cell reads "ours +- std (paper, delta)" where both exist. A row without a complete run never shows
a number: it reads ``missing`` or ``incomplete k/N``; a metric a complete run could not define (e.g.
``obj_without_conflicts`` with no predicted object of a parts class) is an empty cell. Every table says
its scale (toy / smoke / full), seeds, machine, commit and date, taken from ``meta`` (the aggregates'
own record, so the same aggregates always render the same text).
"""
from __future__ import annotations

import math
import re

import pandas as pd

from benchmarks.aggregate import is_toy, known_tables, row_label, several_settings, table_metrics, table_number
from benchmarks.paper import METRIC_KEYS, primary_metric
from benchmarks.uncertainty import MC_BORDERLINE

#: the metrics of the paired-comparison tables in the summary and the README
HEADLINE_METRICS = ('PartPQ_All', 'PartPQ_Pt', 'PQ_Th', 'obj_without_conflicts')


def markdown(frame: pd.DataFrame) -> str:
    """The one way every Markdown table of the pipeline is written: pandas' ``to_markdown`` (a GitHub pipe
    table by tabulate), cells as formatted strings (never re-parsed as numbers), ``|`` escaped."""
    cells = frame.astype(str).apply(lambda column: column.str.replace('|', r'\|', regex=False))
    return cells.to_markdown(index=False, disable_numparse=True)


def latex(frame: pd.DataFrame, caption: str) -> str:
    r"""The one way every LaTeX table is written: pandas' ``Styler.to_latex`` (booktabs rules, cells and
    headers escaped by pandas), '±' as ``$\pm$``."""
    styler = frame.style.hide(axis='index').format(escape='latex').format_index(escape='latex', axis=1)
    caption = re.sub(r'([_%&#$])', r'\\\1', caption)  # Styler escapes cells and headers, not the caption
    text = styler.to_latex(caption=caption, hrules=True, position='t', position_float='centering',
                           column_format='ll' + 'r' * (frame.shape[1] - 2))
    return text.replace('±', r'$\pm$')


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def cell(row: pd.Series) -> str:
    """The text of one (table row, metric) cell (see the module docstring)."""
    paper = None if _nan(row.paper) else f'{row.paper:.1f}'
    if row.n > 0:
        text = f'{row["mean"]:.1f}' + ('' if _nan(row['std']) else f' ± {row["std"]:.1f}')
        return text + (f' ({paper}, {row.delta:+.1f})' if paper else '')
    if row.status == 'complete':  # complete runs, but the metric is undefined for all of them
        return f'(paper {paper})' if paper else ''
    what = 'missing' if row.status == 'missing' else row.status
    return f'{what} (paper {paper})' if paper else what


REHEARSAL_SCALE = ('REHEARSAL: paper configs for a few CPU iterations on fake data, random init; no cell is a '
                   'result')


def scale_of(table: str, meta: dict) -> str:
    if meta.get('rehearsal'):
        return REHEARSAL_SCALE
    if not is_toy(table):
        return 'full scale'
    if meta.get('quick'):
        return 'smoke test (--quick schedule): numbers say nothing about the methods'
    return 'toy scale: synthetic data, random init, CPU; not comparable with the paper\'s numbers'


def caption(table: str, results: pd.DataFrame, meta: dict) -> str:
    seeds = sorted({int(s) for v in results.seeds if v for s in str(v).split(',')})
    seed_text = f'seeds {",".join(map(str, seeds))} (n = {len(seeds)})' if seeds else 'no complete run'
    cells = ('ours: mean ± sample std over seeds' if is_toy(table)
             else 'ours: mean ± sample std over seeds (the paper\'s value, ours - paper)')
    return (f'Table {table} ({scale_of(table, meta)}; {seed_text}; cells: {cells}; machine: '
            f'{meta.get("machine", "unknown")}; commit {meta.get("commit", "unknown")}; {meta.get("date", "undated")})')


def grid(results: pd.DataFrame, table: str) -> pd.DataFrame:
    """One table of the paper as ours: a row per (table row, config), a column per metric of the paper's."""
    part = results[results.table == table]
    metrics = table_metrics(table)
    several = several_settings(part)
    body = []
    for (_, config), group in part.groupby(['variant', 'config'], sort=False):
        by_metric = group.set_index('metric')
        body.append([row_label(group.iloc[0], several), config] + [cell(by_metric.loc[m]) for m in metrics])
    return pd.DataFrame(sorted(body, key=lambda r: r[0]), columns=['row', 'config'] + metrics)


def markdown_table(results: pd.DataFrame, table: str, meta: dict) -> str:
    return f'**{caption(table, results[results.table == table], meta)}**\n\n' + markdown(grid(results, table))


def latex_table(results: pd.DataFrame, table: str, meta: dict) -> str:
    """A booktabs table (``\\usepackage{booktabs}``)."""
    return latex(grid(results, table), caption(table, results[results.table == table], meta))


def _fmt(x, spec: str = '+.1f') -> str:
    return '' if _nan(x) else format(x, spec)


def _interval(low, high, sign: str = '+') -> str:
    return '' if _nan(low) else f'[{low:{sign}.1f}, {high:{sign}.1f}]'


def _image_noise(r: pd.Series) -> str:
    """'shared image std (share of the variance)', or '' where the runs kept no per-image statistics."""
    if _nan(r.get('image_std')):
        return ''
    return f'{r.image_std:.2f}' + ('' if _nan(r.get('image_share')) else f' ({100 * r.image_share:.0f}%)')


def _seeds_text(x) -> str:
    return '' if _nan(x) else ('never (image floor)' if math.isinf(x) else '> 1000' if x > 1000 else f'{int(x)}')


def _with_mc(low, high, mc, sign: str = '+') -> str:
    """An interval and the Monte-Carlo error of its endpoints."""
    text = _interval(low, high, sign)
    return text + ('' if not text or _nan(mc) else f' ±{mc:.2f}')


def _p_text(r: pd.Series) -> str:
    if _nan(r.get('p')):
        return ''
    return f'{r.p:.3f}' + ('' if _nan(r.get('holm_p')) else f' ({r.holm_p:.3f})')


def _mdd_text(r: pd.Series) -> str:
    if _nan(r.get('mdd')):
        return ''
    floor = '' if _nan(r.get('image_floor')) else f'; {r.image_floor:.1f}'
    return f'{r.mdd:.1f} ({r.mdd_upper:.1f}{floor})'


def comparison_table(comparisons: pd.DataFrame, table: str, metrics=None) -> str:
    """Markdown: the paired differences a - b of ``table`` (percent points). Per metric: the claim interval
    (seeds and the image noise all seeds share) with its test's p and Holm's adjustment over the table's
    family, the claim it supports, the t-interval over seeds (this val set), the two-level bootstrap with its
    Monte-Carlo error, seed and shared image std, the wins, the minimum detectable difference (with its upper
    bound and the image floor), the paper's difference; at full scale the seeds that difference needs."""
    part = comparisons[comparisons.table == table]
    if metrics is not None:
        part = part[part.metric.isin(metrics)]
    if part.empty:
        return ''
    full = not is_toy(table)
    family = int(part.holm_family.max()) if 'holm_family' in part and part.holm_family.notna().any() else 0
    body = []
    for _, r in part.iterrows():
        cells = [f'{r.a_row} - {r.b_row}', r.metric, str(r.n_pairs), _fmt(r.mean_diff),
                 _with_mc(r.get('claim_low'), r.get('claim_high'), r.get('claim_mc')), _p_text(r),
                 r.get('claim') if isinstance(r.get('claim'), str) else '', _interval(r.ci_low, r.ci_high),
                 _with_mc(r.get('boot_low'), r.get('boot_high'), r.get('boot_mc')), _fmt(r.get('seed_std'), '.2f'),
                 _image_noise(r), f'{r.wins}/{r.n_pairs}' if r.n_pairs else '', _mdd_text(r), _fmt(r.paper_diff)]
        if full:
            needed = r.get('seeds_needed')
            cells.append('' if _nan(needed) else f'{_seeds_text(needed)} ({_seeds_text(r.get("seeds_needed_upper"))})')
        body.append(cells)
    columns = [f'a - b (table {table})', 'metric', 'seeds', 'mean diff', '95% interval, seeds + images',
               f'p (Holm, family of {family})' if family else 'p (Holm)', 'claim', '95% t-interval, this val set',
               '95% bootstrap, seeds x images ± MC', 'seed std', 'shared image std (share)', 'a wins',
               'MDD 80% (SD upper; image floor)', 'paper\'s table diff' if not full else 'paper diff']
    columns += ['seeds for the paper diff (SD upper)'] if full else []
    return markdown(pd.DataFrame(body, columns=columns))


def noise_table(results: pd.DataFrame, table: str, metrics=None) -> str:
    """Markdown, per cell of ``table``: the mean over seeds with its two-level bootstrap interval, the seed
    and image std and the image share; for a full-scale cell with a paper value, the prediction interval of
    one more run and the equivalence verdict."""
    part = results[(results.table == table) & (results.n > 0)]
    part = part[part.metric.isin(metrics or table_metrics(table))]
    if part.empty:
        return ''
    full = not is_toy(table)
    columns = ['row', 'metric', 'mean', '95% bootstrap, seeds x images ± MC', 'seed std', 'shared image std (share)']
    columns += ['paper', 'one more run (95%)', 'verdict'] if full else []
    several = several_settings(part)
    body = []
    for _, r in part.iterrows():
        cells = [row_label(r, several), r.metric, f'{r["mean"]:.1f}',
                 _with_mc(r.boot_low, r.boot_high, r.get('boot_mc'), ''),
                 _fmt(r['std'], '.2f'), _image_noise(r)]
        if full:
            cells += [_fmt(r.paper, '.1f'), _interval(r.pred_low, r.pred_high, sign=''), r.verdict or '']
        body.append(cells)
    return markdown(pd.DataFrame(body, columns=columns))


def _range(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return f'{low}' if low == high else f'{low}-{high}'


def _listing(items: list[str]) -> str:
    return '; '.join(items) if items else 'none'


def statistics_paragraph(comparisons: pd.DataFrame, table: str, metrics=None) -> str:
    """What the statistics of ``table`` say, in words, from the numbers: every metric whose claim interval
    excludes 0 (and which of them are borderline), which survive Holm over the table's family, how much of the
    noise the val images share, the sign against the paper's, and what the seeds at hand can detect."""
    part = comparisons[(comparisons.table == table) & (comparisons.n_pairs > 1)]
    if metrics is not None:
        part = part[part.metric.isin(metrics)]
    if part.empty:
        return ''

    def name(r):
        return f'{r.metric} ({r.a_row} - {r.b_row}, {r.mean_diff:+.1f} [{r.claim_low:+.1f}, {r.claim_high:+.1f}])'
    has_claims = 'claim' in part and part.claim.fillna('').astype(str).str.len().gt(0).any()
    n_boot = part.n_boot.dropna()
    text = [f'Read from the numbers (table {table}, {int(part.n_pairs.max())} paired seeds'
            + (f', {_range(n_boot)} bootstrap resamples, generator seed {int(part.boot_seed.iloc[0])}): '
               if len(n_boot) else '; no per-image statistics, so no claim: only the t-intervals over seeds on '
               'this val set). ')]
    if has_claims:
        separated = [name(r) for _, r in part.iterrows() if r.claim == 'separates']
        borderline = [name(r) for _, r in part.iterrows() if r.claim == 'borderline']
        text.append('the differences whose 95 % interval over seeds and the image noise all seeds share excludes 0 '
                    f'(the claim rule; its coverage at 5 seeds is simulated in docs/statistics.md): '
                    f'{_listing(separated)}. ')
        if borderline:
            text.append(f'Borderline (an end within {MC_BORDERLINE:g} Monte-Carlo errors of 0): '
                        f'{_listing(borderline)}. ')
        family = int(part.holm_family.max())
        held = [f'{r.metric} ({r.a_row} - {r.b_row}, adjusted p {r.holm_p:.3f})' for _, r in part.iterrows()
                if r.holm_reject is True or r.holm_reject == 1]
        text.append(f'After Holm\'s correction over the table\'s family ({family} tests: every metric of every '
                    f'comparison), p < 0.05 holds for: {_listing(held)}. ')
        shares = part.image_share.dropna()
        if len(shares):
            text.append(f'The image noise all seeds share is {100 * shares.min():.0f}-{100 * shares.max():.0f} % of '
                        'the variance of the mean differences; the rest is seed to seed (with each seed\'s own '
                        'image noise). ')
    primary = primary_metric(table_number(table))
    signed = part[(part.metric == primary) & part.paper_diff.notna() & (part.paper_diff != 0)]
    if len(signed):
        same, other = [], []
        for _, r in signed.iterrows():
            (same if r.mean_diff * r.paper_diff > 0 else other).append(
                f'{r.a_row} - {r.b_row} ({r.mean_diff:+.1f}; paper {r.paper_diff:+.1f})')
        sentences = [f'agrees with the paper\'s for {"; ".join(same)}'] if same else []
        sentences += [f'is opposite to the paper\'s for {"; ".join(other)}'] if other else []
        text.append(f'On {primary}, the sign of our mean difference ' + ', and '.join(sentences) + '. ')
    planned = part[(part.metric == primary) & part.mdd.notna()]
    for _, r in planned.iterrows():
        floor = '' if _nan(r.get('image_floor')) else (f'; no number of seeds goes below the image floor of '
                                                       f'{r.image_floor:.1f}')
        text.append(f'With {r.n_pairs} seeds, {r.a_row} - {r.b_row} on {r.metric} is detected at 80 % power from '
                    f'{r.mdd:.1f} points (up to {r.mdd_upper:.1f} with the seed std at its 95 % upper bound{floor}). ')
        if not is_toy(table) and not _nan(r.get('seeds_needed')):
            text.append(f'The paper\'s difference ({r.paper_diff:+.1f}) needs {_seeds_text(r.seeds_needed)} seeds '
                        f'({_seeds_text(r.seeds_needed_upper)} at that bound). ')
    return ''.join(text).strip()


def tables_markdown(results: pd.DataFrame, comparisons: pd.DataFrame, meta: dict) -> str:
    parts = []
    for table in known_tables(results):
        parts.append(markdown_table(results, table, meta))
        comp = comparison_table(comparisons, table)
        if comp:
            parts += [comp, statistics_paragraph(comparisons, table)]
        noise = noise_table(results, table)
        if noise:
            parts.append('Per cell, seeds x val images' + (' and the verdict against the paper' if not is_toy(table)
                                                             else '') + ':\n\n' + noise)
    return '\n\n'.join(p for p in parts if p) + '\n'


def tables_latex(results: pd.DataFrame, meta: dict) -> str:
    return '\n\n'.join(latex_table(results, t, meta) for t in known_tables(results)) + '\n'


def comparison_sentence(r: pd.Series) -> str:
    """One comparison in words, whatever its sign."""
    if r.n_pairs == 0:
        return f'Table {r.table}, {r.a_row} - {r.b_row}, {r.metric}: no seed where both completed.'
    text = f'Table {r.table}, {r.a_row} - {r.b_row}, {r.metric}: {r.mean_diff:+.2f} points over {r.n_pairs} seed(s)'
    if not _nan(r.ci_low):
        text += f', 95% t-interval over seeds [{r.ci_low:+.2f}, {r.ci_high:+.2f}]'
    if not _nan(r.get('claim_low')):
        share = '' if _nan(r.get('image_share')) else f', shared image noise {100 * r.image_share:.0f}% of the variance'
        text += f' (with the shared image noise [{r.claim_low:+.2f}, {r.claim_high:+.2f}]{share})'
    text += f', a better on {r.wins} of {r.n_pairs} seeds' + (f' ({r.ties} tied)' if r.ties else '')
    if not _nan(r.paper_diff):
        ref = f'the paper\'s Table {r.paper_ref}' if is_toy(r.table) else 'the paper'
        text += f' ({ref}: {r.paper_diff:+.1f})'
    return text + (f'; {r.note}.' if r.note else '.')


def summary(runs: pd.DataFrame, results: pd.DataFrame, comparisons: pd.DataFrame, meta: dict,
            unused: list[str]) -> str:
    """What ran and what the paired comparisons show, as Markdown."""
    lines = [f'# Reproduction summary ({meta.get("date", "undated")})', '',
             f'Command: `{meta.get("command", "")}`; machine: {meta.get("machine", "unknown")}; commit '
             f'{meta.get("commit", "unknown")}.', '']
    if runs.empty:
        lines.append('No runs found.')
    else:
        done = int((runs.status == 'complete').sum())
        wall = pd.to_numeric(runs.wall_s, errors='coerce').sum()
        table = pd.DataFrame({'config': runs.config, 'seed': runs.seed, 'status': runs.status, 'iterations': runs.iters,
                              'world size x batch': runs.world_size_x_batch,
                              'wall time (min)': [_fmt(w / 60, '.1f') for w in runs.wall_s]})
        lines += [f'Runs: {len(runs)} ({done} complete), {wall / 60:.1f} min of training and evaluation in all.', '',
                  markdown(table)]
    if unused:
        lines += ['', f'Runs of configs no selected table uses (not in the tables): {", ".join(unused)}.']
    lines += ['', '## Paired comparisons', '']
    shown = comparisons[comparisons.metric.isin(HEADLINE_METRICS) & (comparisons.n_pairs > 0)]
    lines += [f'- {comparison_sentence(r)}' for _, r in shown.iterrows()] or ['No comparison has paired seeds.']
    return '\n'.join(lines) + '\n'


def seed_table(runs: pd.DataFrame, results: pd.DataFrame, table: str, metric: str) -> str:
    """Per seed, ``metric`` of each row of ``table`` (percent, complete runs): the spread that the means and
    the paired comparisons summarise, shown as it is."""
    part = results[(results.table == table) & (results.metric == metric)].drop_duplicates('config')
    several = several_settings(part)
    chosen = runs[runs.config.isin(part.config) & (runs.status == 'complete')]
    if chosen.empty:
        return ''
    values = chosen.pivot_table(index='seed', columns='config', values=METRIC_KEYS[metric], aggfunc='first')
    body = pd.DataFrame({'seed': values.index.astype(int).astype(str)})
    for _, row in part.sort_values('variant').iterrows():
        column = values[row.config] if row.config in values else pd.Series(float('nan'), index=values.index)
        body[row_label(row, several)] = [_fmt(100 * v, '.1f') for v in column]
    return markdown(body)


def toy_results_intro(meta: dict | None) -> str:
    """What the toy blocks were generated from: the command, the runs, their time."""
    command = '`python tools/reproduce_tables.py --publish --update-readme`'
    if meta is None:
        return (f'No measured results are committed yet (`benchmarks/results/` is empty). {command} runs the toy '
                'benchmark, stores its aggregates there and writes these blocks from them.')
    done = meta.get('runs_complete') or 0
    per_run = meta.get('wall_s', 0) / 60 / done if done else 0.0
    elapsed = (f', {meta["elapsed_s"] / 60:.0f} min from the first run\'s start to the last one\'s end'
               if meta.get('elapsed_s') else '')
    return (f'Generated from `benchmarks/results/` (written by `{meta.get("command", "")}`; {command} refreshes it, '
            f'`make reproduce-all` runs the whole toy paper). {meta.get("runs_complete", "?")} complete runs on '
            f'{meta.get("machine", "unknown")}: {meta.get("wall_s", 0) / 60:.0f} min of training and evaluation in '
            f'all ({per_run:.1f} min per run){elapsed}; one thread per run, as many runs at once as cores.')


def toy_table_block(results: pd.DataFrame | None, comparisons: pd.DataFrame | None, meta: dict | None,
                    runs: pd.DataFrame | None, table: str) -> str:
    """The generated block of one toy table: its cells, each seed's runs on the table's primary metric, the
    paired comparisons with the paper's own differences, and what they say in words."""
    part = results[results.table == table] if results is not None else None
    if part is None or part.empty or (part.status == 'missing').all():
        return (f'Table {table} has no run in the committed aggregates: `python tools/reproduce_tables.py --tables '
                f'{table_number(table)} --publish --update-readme` runs it.')
    number = table_number(table)
    metric = primary_metric(number)
    parts = [markdown_table(part, table, meta)]
    seeds = seed_table(runs, part, table, metric) if runs is not None else ''
    if seeds:
        parts.append(f'Each seed ({metric}, percent):\n\n' + seeds)
    comp = comparison_table(comparisons, table) if comparisons is not None else ''
    if comp:
        parts += ['Paired by seed (percent points; every metric of the comparison, the family of Holm\'s '
                  'correction; the resamples draw seeds and val images, the same draws for both rows):\n\n' + comp,
                  statistics_paragraph(comparisons, table)]
    return '\n\n'.join(p for p in parts if p)


def settings_tried_table(tried: pd.DataFrame) -> str:
    """The "settings tried" block: :func:`benchmarks.aggregate.settings_tried` as a table."""
    def spread(r, key: str, sign: str = '') -> str:
        return f'{r[key + "_mean"]:{sign}.1f} ± {r[key + "_std"]:.1f}' if r[key + '_n'] > 1 else '-'
    body = [[r.setting, r.configs, str(r.seeds), spread(r, 'tapps'), spread(r, 'baseline'), spread(r, 'diff', '+'),
             f'{r.wall_min:.0f} min'] for _, r in tried.iterrows()]
    table = markdown(pd.DataFrame(body, columns=['setting', 'configs', 'seeds', 'TAPPS PartPQ', 'baseline PartPQ',
                                                 'TAPPS - baseline (paired)', 'training + evaluation']))
    return ('Every toy setting measured (toy scale; mean ± sample std over seeds 0..n-1; configs as they were named '
            'then, today\'s names of each setting above):\n\n' + table)


def per_class_block(per_class: pd.DataFrame | None, errors: pd.DataFrame | None, table: str = '1-toy') -> str:
    """Where TAPPS and the baseline differ in ``table``: per class (sorted by the PartPQ difference, parts
    classes first) and by kind of error, from ``per_class.csv`` and ``errors.csv``."""
    part = per_class[per_class.table == table] if per_class is not None and len(per_class) else None
    if part is None or part.empty:
        return f'No per-class comparison for Table {table} (its runs kept no per-image statistics).'
    a, b = part.a_config.iloc[0], part.b_config.iloc[0]
    body = [[r.group, r.name, f'{r.PartPQ_a:.1f}', f'{r.PartPQ_b:.1f}', _fmt(r.PartPQ_diff),
             _interval(r.PartPQ_low, r.PartPQ_high), _fmt(r.PQ_diff)] for r in part.itertuples()]
    classes = markdown(pd.DataFrame(body, columns=['group', 'class', 'PartPQ a', 'PartPQ b', 'a - b', '95% t-interval',
                                                   'PQ a - b']))
    err = errors[errors.config.isin([a, b])] if errors is not None else pd.DataFrame()
    kinds = markdown(pd.DataFrame([[r.config, r.group, f'{r.TP:.0f}', f'{r.FP:.0f}', f'{r.FN:.0f}',
                                    _fmt(r.PartSQ_matched, '.1f')] for r in err.itertuples()],
                                  columns=['config', 'group', 'TP', 'FP', 'FN', 'PartSQ of the matches']))
    return (f'a = `{a}`, b = `{b}`; per class, mean over {int(part.n_pairs.max())} seeds and the paired difference '
            '(percent):\n\n' + classes + '\n\nBy kind of error (PartPQ segments summed over the classes of a group, '
            'mean over seeds; PartSQ over the matched segments):\n\n' + kinds)

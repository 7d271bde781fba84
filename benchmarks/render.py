"""Aggregates -> text: Markdown and LaTeX (booktabs) tables, the comparison tables and the run summary.

Each cell reads "ours +- std (paper, delta)" where both exist. A row without a complete run never shows
a number: it reads ``missing`` or ``incomplete k/N``; a metric a complete run could not define (e.g.
``obj_without_conflicts`` with no predicted object of a parts class) is an empty cell. Every table says
its scale (toy / smoke / full), seeds, machine, commit and date, taken from ``meta`` (the aggregates'
own record, so the same aggregates always render the same text).
"""
from __future__ import annotations

import math

import pandas as pd

from benchmarks.aggregate import is_toy, known_tables
from benchmarks.paper import METRIC_KEYS, METRICS, paper_table
from benchmarks.toy import TOY

#: the metrics of the paired-comparison tables in the summary and the README (issue 12's list)
HEADLINE_METRICS = ('PartPQ_All', 'PartPQ_Pt', 'PQ_Th', 'obj_without_conflicts')


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def cell(row: pd.Series, latex: bool = False) -> str:
    """The text of one (table row, metric) cell (see the module docstring)."""
    pm = r' $\pm$ ' if latex else ' ± '
    paper = None if _nan(row.paper) else f'{row.paper:.1f}'
    if row.n > 0:
        text = f'{row["mean"]:.1f}' + ('' if _nan(row['std']) else f'{pm}{row["std"]:.1f}')
        return text + (f' ({paper}, {row.delta:+.1f})' if paper else '')
    if row.status == 'complete':  # complete runs, but the metric is undefined for all of them
        return f'(paper {paper})' if paper else ''
    what = 'missing' if row.status == 'missing' else row.status
    return f'{what} (paper {paper})' if paper else what


def table_metrics(table: str) -> list[str]:
    """The paper's columns of ``table`` (for a toy table: of the paper's table it mirrors)."""
    paper = paper_table()
    ref = TOY.paper_reference[table][0] if is_toy(table) and table in TOY.paper_reference else table
    rows = paper[paper.table == ref]
    cols = [m for m in METRICS if rows[m].notna().any()] if len(rows) else list(METRICS)
    return cols or list(METRICS)


def scale_of(table: str, meta: dict) -> str:
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


def _row_label(row: pd.Series, several_settings: bool) -> str:
    label = row.method + (f' ({row.variant})' if row.variant else '')
    if several_settings:
        label = f'{row.dataset} {row.backbone} {row.pretraining}: {label}'
    return label


def _grid(results: pd.DataFrame, table: str, latex: bool) -> tuple[list[str], list[list[str]]]:
    part = results[results.table == table]
    metrics = table_metrics(table)
    several = part[['dataset', 'backbone', 'pretraining']].drop_duplicates().shape[0] > 1
    header, body = ['row', 'config'] + metrics, []
    for (_, config), group in part.groupby(['variant', 'config'], sort=False):
        by_metric = group.set_index('metric')
        first = group.iloc[0]
        body.append([_row_label(first, several), config] + [cell(by_metric.loc[m], latex) for m in metrics])
    order = sorted(range(len(body)), key=lambda i: body[i][0])
    return header, [body[i] for i in order]


def markdown_table(results: pd.DataFrame, table: str, meta: dict) -> str:
    header, body = _grid(results, table, latex=False)
    lines = [f'**{caption(table, results[results.table == table], meta)}**', '',
             '| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    lines += ['| ' + ' | '.join(c.replace('|', '\\|') for c in row) + ' |' for row in body]
    return '\n'.join(lines)


def _tex(text: str) -> str:
    for a, b in (('\\', r'\textbackslash{}'), ('_', r'\_'), ('%', r'\%'), ('&', r'\&'), ('#', r'\#')):
        text = text.replace(a, b)
    return text


def latex_table(results: pd.DataFrame, table: str, meta: dict) -> str:
    """A booktabs table (``\\usepackage{booktabs}``)."""
    header, body = _grid(results, table, latex=True)
    lines = [r'\begin{table}[t]', r'\centering', r'\scriptsize',
             r'\caption{' + _tex(caption(table, results[results.table == table], meta)).replace('±', r'$\pm$') + '}',
             r'\begin{tabular}{ll' + 'r' * (len(header) - 2) + '}', r'\toprule',
             ' & '.join(_tex(h) for h in header) + r' \\', r'\midrule']
    for row in body:
        lines.append(' & '.join([_tex(c) for c in row[:2]] + [c.replace('%', r'\%') for c in row[2:]]) + r' \\')
    lines += [r'\bottomrule', r'\end{tabular}', r'\end{table}']
    return '\n'.join(lines)


def _fmt(x, spec: str = '+.1f') -> str:
    return '' if _nan(x) else format(x, spec)


def _interval(low, high, sign: str = '+') -> str:
    return '' if _nan(low) else f'[{low:{sign}.1f}, {high:{sign}.1f}]'


def _image_noise(r: pd.Series) -> str:
    """'image std (share of the variance)', or '' where the runs kept no per-image statistics."""
    if _nan(r.get('image_std')):
        return ''
    return f'{r.image_std:.2f}' + ('' if _nan(r.get('image_share')) else f' ({100 * r.image_share:.0f}%)')


def _seeds_text(x) -> str:
    return '' if _nan(x) else ('> 1000' if math.isinf(x) or x > 1000 else f'{int(x)}')


def comparison_table(comparisons: pd.DataFrame, table: str, metrics=HEADLINE_METRICS) -> str:
    """Markdown: the paired differences a - b of ``table`` (percent points) with the seed x image statistics:
    the t-interval over seeds, the two-level bootstrap interval (new images of the same kind) and the
    seeds-only one (this val set), seed and image std with the image share of the variance, Holm's p on the
    primary metric, the minimum detectable difference and the seeds the paper's difference would need."""
    part = comparisons[(comparisons.table == table) & comparisons.metric.isin(metrics)]
    if part.empty:
        return ''
    paper_col = 'paper\'s table' if is_toy(table) else 'paper'
    header = ['a - b (table ' + table + ')', 'metric', 'seeds', 'mean diff', '95% t-interval',
              '95% bootstrap, seeds x images', 'this val set', 'seed std', 'image std (share)', 'P(a > b)',
              'Holm p', 'MDD (80%)', f'{paper_col} diff', 'seeds for it', 'note']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    for _, r in part.iterrows():
        holm = '' if _nan(r.get('holm_p')) else f'{r.holm_p:.3f}'
        cells = [f'{r.a_row} - {r.b_row}', r.metric, str(r.n_pairs), _fmt(r.mean_diff),
                 _interval(r.ci_low, r.ci_high), _interval(r.get('boot_low'), r.get('boot_high')),
                 _interval(r.get('val_low'), r.get('val_high')), _fmt(r.get('seed_std'), '.2f'), _image_noise(r),
                 _fmt(r.p_improvement, '.2f'), holm, _fmt(r.get('mdd'), '.1f'), _fmt(r.paper_diff),
                 _seeds_text(r.get('seeds_needed')), r.note]
        lines.append('| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |')
    return '\n'.join(lines)


def noise_table(results: pd.DataFrame, table: str, metrics=None) -> str:
    """Markdown, per cell of ``table``: the mean over seeds with its two-level bootstrap interval, the seed
    and image std and the image share; for a full-scale cell with a paper value, the prediction interval of
    one more run and the equivalence verdict."""
    part = results[(results.table == table) & (results.n > 0)]
    part = part[part.metric.isin(metrics or table_metrics(table))]
    if part.empty:
        return ''
    full = not is_toy(table)
    header = ['row', 'metric', 'mean', '95% bootstrap, seeds x images', 'seed std', 'image std (share)']
    header += ['paper', 'one more run (95%)', 'verdict'] if full else []
    lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    several = part[['dataset', 'backbone', 'pretraining']].drop_duplicates().shape[0] > 1
    for _, r in part.iterrows():
        cells = [_row_label(r, several), r.metric, f'{r["mean"]:.1f}', _interval(r.boot_low, r.boot_high, sign=''),
                 _fmt(r['std'], '.2f'), _image_noise(r)]
        if full:
            cells += [_fmt(r.paper, '.1f'), _interval(r.pred_low, r.pred_high, sign=''), r.verdict or '']
        lines.append('| ' + ' | '.join(str(c).replace('|', '\\|') for c in cells) + ' |')
    return '\n'.join(lines)


def statistics_paragraph(comparisons: pd.DataFrame, table: str, metrics=HEADLINE_METRICS) -> str:
    """What the statistics of ``table`` say, in words, from the numbers: which differences separate from
    the noise (t- and bootstrap intervals both exclude 0; Holm on the primary metric), how much of the noise
    is the val images', and how many seeds the paper's differences would need."""
    part = comparisons[(comparisons.table == table) & comparisons.metric.isin(metrics) & (comparisons.n_pairs > 1)]
    if part.empty:
        return ''

    def name(r):
        return f'{r.metric} ({r.a_row} - {r.b_row}, {r.mean_diff:+.1f})'
    separated = [r for _, r in part.iterrows() if not _nan(r.ci_low) and (r.ci_low > 0 or r.ci_high < 0)
                 and not _nan(r.get('boot_low')) and (r.boot_low > 0 or r.boot_high < 0)]
    primary = part[part.holm_p.notna()] if 'holm_p' in part else part.iloc[:0]
    boot = part.get('boot_low', pd.Series(dtype=float)).notna().any()
    text = [f'Read from the numbers (table {table}, {int(part.n_pairs.max())} paired seeds, '
            + (f'{int(part.n_boot.iloc[0])} bootstrap resamples, generator seed {int(part.boot_seed.iloc[0])}): '
               if boot else 'no per-image statistics, so no image resampling): ')]
    if separated:
        text.append('the differences that separate from seed and image noise (the t-interval and the '
                    'seeds x images bootstrap both exclude 0) are ' + '; '.join(name(r) for r in separated) + '. ')
    elif boot:
        text.append('no difference separates from seed and image noise (every t- or bootstrap interval '
                    'includes 0). ')
    for _, r in primary.iterrows():
        verdict = 'survives' if r.holm_reject is True or r.holm_reject == 1 else 'does not survive'
        text.append(f'On the primary metric {r.metric}, {r.a_row} - {r.b_row} {verdict} Holm\'s correction '
                    f'over the table (adjusted p {r.holm_p:.3f}). ')
    shares = part.image_share.dropna() if 'image_share' in part else pd.Series(dtype=float)
    if len(shares):
        text.append(f'The val images account for {100 * shares.min():.0f}-{100 * shares.max():.0f} % of the '
                    'variance of the mean differences (the rest is seed to seed). ')
    needs = [r for _, r in part.iterrows() if not _nan(r.get('seeds_needed')) and not _nan(r.paper_diff)]
    if needs:
        text.append('With the paired std seen here, detecting the paper\'s own differences at 80 % power would '
                    'take ' + '; '.join(f'{_seeds_text(r.seeds_needed)} seeds for {r.metric} '
                                         f'({r.paper_diff:+.1f}; {r.n_pairs} seeds detect {r.mdd:.1f})'
                                         for r in needs) + '.')
    return ''.join(text).strip()


def tables_markdown(results: pd.DataFrame, comparisons: pd.DataFrame, meta: dict) -> str:
    parts = []
    for table in known_tables(results):
        parts.append(markdown_table(results, table, meta))
        comp = comparison_table(comparisons, table, metrics=table_metrics(table))
        if comp:
            parts += [comp, statistics_paragraph(comparisons, table, metrics=table_metrics(table))]
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
        text += f', 95% interval [{r.ci_low:+.2f}, {r.ci_high:+.2f}]'
    if not _nan(r.get('boot_low')):
        share = '' if _nan(r.get('image_share')) else f', image share of the variance {100 * r.image_share:.0f}%'
        text += f' (seeds x images bootstrap [{r.boot_low:+.2f}, {r.boot_high:+.2f}]{share})'
    text += f', a better on {r.wins} of {r.n_pairs} seeds' + (f' ({r.ties} tied)' if r.ties else '')
    if not _nan(r.paper_diff):
        ref = f'the paper\'s Table {TOY.paper_reference[r.table][0]}' if is_toy(r.table) else 'the paper'
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
        lines += [f'Runs: {len(runs)} ({done} complete), {wall / 60:.1f} min of training and evaluation in all.', '',
                  '| config | seed | status | iterations | world size x batch | wall time (min) |',
                  '| --- | --- | --- | --- | --- | --- |']
        for _, r in runs.iterrows():
            wall_min = '' if _nan(r.wall_s) else f'{r.wall_s / 60:.1f}'
            lines.append(f'| {r.config} | {r.seed} | {r.status} | {r.iters} | {r.world_size_x_batch} | {wall_min} |')
    if unused:
        lines += ['', f'Runs of configs no selected table uses (not in the tables): {", ".join(unused)}.']
    lines += ['', '## Paired comparisons', '']
    shown = comparisons[comparisons.metric.isin(HEADLINE_METRICS) & (comparisons.n_pairs > 0)]
    lines += [f'- {comparison_sentence(r)}' for _, r in shown.iterrows()] or ['No comparison has paired seeds.']
    return '\n'.join(lines) + '\n'


def seed_table(runs: pd.DataFrame, configs: list[str], metrics=HEADLINE_METRICS) -> str:
    """Per seed and config, the final metrics of each complete run (the paper's names, percent): the spread
    that the means and the paired comparisons summarise, shown as it is."""
    chosen = runs[runs.config.isin(configs) & (runs.status == 'complete')].sort_values(['seed', 'config'])
    if chosen.empty:
        return ''
    lines = ['| seed | config | ' + ' | '.join(metrics) + ' |', '| --- | --- |' + ' --- |' * len(metrics)]
    for _, r in chosen.iterrows():
        values = [r.get(METRIC_KEYS[m]) for m in metrics]
        cells = ['' if v is None or _nan(v) else f'{100 * float(v):.1f}' for v in values]
        lines.append(f'| {int(r.seed)} | {r.config} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def readme_block(results: pd.DataFrame | None, comparisons: pd.DataFrame | None, meta: dict | None,
                 runs: pd.DataFrame | None = None) -> str:
    """The README's toy-results block, from the committed aggregates (or a note that there are none)."""
    command = '`python tools/reproduce_tables.py --publish --update-readme`'
    if results is None or meta is None:
        return (f'No measured results are committed yet (`benchmarks/results/` is empty). {command} runs the toy '
                'benchmark, stores its aggregates there and writes this block from them.')
    toy = results[results.table.map(is_toy)]
    done = meta.get('runs_complete') or 0
    per_run = meta.get('wall_s', 0) / 60 / done if done else 0.0
    extra = sum(len(v) for v in TOY.table_configs.values()) * TOY.seeds
    parts = [f'Generated from `benchmarks/results/` (written by `{meta.get("command", "")}`; {command} '
             f'refreshes it). {meta.get("runs_complete", "?")} complete runs, '
             f'{meta.get("wall_s", 0) / 60:.0f} min of training and evaluation on {meta.get("machine", "unknown")} '
             f'({per_run:.1f} min per run; `--tables 3 4 7` adds {extra} runs of the same length, about '
             f'{extra * per_run / 60:.1f} h).']
    for table in known_tables(toy):
        if (toy[toy.table == table].status == 'missing').all():
            continue
        parts.append(markdown_table(toy, table, meta))
        seeds = seed_table(runs, sorted(set(toy[toy.table == table].config))) if runs is not None else ''
        if seeds:
            parts.append('Each run (percent):\n\n' + seeds)
        comp = comparison_table(comparisons, table) if comparisons is not None else ''
        if comp:
            parts.append('Paired by seed (percent points; the bootstrap resamples seeds and val images, the same '
                         'draws for both methods):\n\n' + comp)
            parts.append(statistics_paragraph(comparisons, table))
    return '\n\n'.join(p for p in parts if p)

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


def comparison_table(comparisons: pd.DataFrame, table: str, metrics=HEADLINE_METRICS) -> str:
    """Markdown: the paired differences a - b of ``table`` (percent points)."""
    part = comparisons[(comparisons.table == table) & comparisons.metric.isin(metrics)]
    if part.empty:
        return ''
    paper_col = 'paper\'s table' if is_toy(table) else 'paper'
    lines = [f'| a - b (table {table}) | metric | seeds | mean diff | 95% interval | P(a > b) | {paper_col} diff |'
             ' note |', '|' + ' --- |' * 8]
    for _, r in part.iterrows():
        ci = f'[{r.ci_low:+.1f}, {r.ci_high:+.1f}]' if not _nan(r.ci_low) else ''
        lines.append(f'| {r.a_row} - {r.b_row} | {r.metric} | {r.n_pairs} | {_fmt(r.mean_diff)} | {ci} | '
                     f'{_fmt(r.p_improvement, ".2f")} | {_fmt(r.paper_diff)} | {r.note} |')
    return '\n'.join(lines)


def tables_markdown(results: pd.DataFrame, comparisons: pd.DataFrame, meta: dict) -> str:
    parts = []
    for table in known_tables(results):
        parts.append(markdown_table(results, table, meta))
        comp = comparison_table(comparisons, table, metrics=table_metrics(table))
        if comp:
            parts.append(comp)
    return '\n\n'.join(parts) + '\n'


def tables_latex(results: pd.DataFrame, meta: dict) -> str:
    return '\n\n'.join(latex_table(results, t, meta) for t in known_tables(results)) + '\n'


def comparison_sentence(r: pd.Series) -> str:
    """One comparison in words, whatever its sign."""
    if r.n_pairs == 0:
        return f'Table {r.table}, {r.a_row} - {r.b_row}, {r.metric}: no seed where both completed.'
    text = f'Table {r.table}, {r.a_row} - {r.b_row}, {r.metric}: {r.mean_diff:+.2f} points over {r.n_pairs} seed(s)'
    if not _nan(r.ci_low):
        text += f', 95% interval [{r.ci_low:+.2f}, {r.ci_high:+.2f}]'
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
            parts.append('Paired by seed (percent points):\n\n' + comp)
    return '\n\n'.join(parts)

"""Aggregates -> text: Markdown and LaTeX (booktabs) tables, the comparison tables and the run summary.

Each cell reads "ours +- std (paper, delta)" where both exist. A row without a complete run never shows
a number: it reads ``missing`` or ``incomplete k/N``; a metric a complete run could not define (e.g.
``obj_without_conflicts`` with no predicted object of a parts class) is an empty cell. Every table says
its scale (toy / smoke / full), seeds, machine, commit and date, taken from ``meta`` (the aggregates'
own record, so the same aggregates always render the same text).

Why narrow tables and wrapped prose: the documents are read as Markdown source as often as rendered, so a
table has a handful of columns and a sentence is wrapped at :data:`WIDTH` (``tests/test_docs_links.py``
holds the README and the results page to it). The levels (95%, 80%, p < 0.05) are written from
:mod:`benchmarks.uncertainty`'s constants, never typed here.
"""
from __future__ import annotations

import math
import re
import textwrap

import pandas as pd

from benchmarks import uncertainty
from benchmarks.aggregate import is_toy, known_tables, row_label, several_settings, table_metrics, table_number
from benchmarks.paper import METRIC_KEYS, primary_metric, reports
from benchmarks.uncertainty import level

#: the metrics of the paired comparisons in the summary
HEADLINE_METRICS = ('PartPQ_All', 'PartPQ_Pt', 'PQ_Th', 'obj_without_conflicts')
WIDTH = 110  # generated prose is wrapped here: a line a reader sees whole in the Markdown source
#: what wrapping must not split: code spans and links (kept checkable line by line), and a space before what
#: would start a list, heading or quote at the head of a line (``tapps - baseline`` is not a list item)
_UNBREAKABLE = re.compile(r'`[^`]*`|!?\[[^\]]*\]\([^)]*\)| (?=(?:[-+*>]|#+|1[.)])(?: |$))')


def prose(text: str, indent: str = '') -> str:
    """``text`` wrapped at :data:`WIDTH`, paragraph by paragraph (``indent``: of the lines after the first, for
    a list item), never inside a code span or a link, never so that a line starts a new Markdown block."""
    def one(paragraph: str) -> str:
        kept = _UNBREAKABLE.sub(lambda m: m.group(0).replace(' ', '\0'), paragraph)
        return textwrap.fill(kept, WIDTH, subsequent_indent=indent, break_long_words=False,
                             break_on_hyphens=False).replace('\0', ' ')
    return '\n\n'.join(one(p) for p in text.split('\n\n'))


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
    return prose(f'**{caption(table, results[results.table == table], meta)}**') + '\n\n' + markdown(
        grid(results, table))


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


def _pair(r: pd.Series) -> str:
    return f'{r.a_row} - {r.b_row}'


def _seed_count(n: int) -> str:
    return f'{n} paired seed' + ('' if n == 1 else 's')


def comparison_caption(part: pd.DataFrame, table: str) -> str:
    """What every row of a table's comparison tables shares, said once: the paired seeds and what a sign test
    can do with so few, the level of the intervals, the resamples and Holm's family."""
    ci, alpha = level(uncertainty.CONFIDENCE), uncertainty.ALPHA
    counts = sorted({int(n) for n in part.n_pairs})
    seeds = sorted({int(s) for v in part.seeds.dropna() for s in str(v).split(',') if s}) if 'seeds' in part else []
    text = [f'Paired by seed, a - b in percent points (Table {table}): '
            + (_seed_count(counts[0]) if len(counts) == 1 else f'{counts[0]}-{counts[-1]} paired seeds (per row)')
            + (f' (seeds {",".join(map(str, seeds))})' if seeds else '') + '.']
    fewest = uncertainty.sign_test_seeds(alpha)
    if 0 < counts[-1] < fewest:
        text.append(f'With {counts[-1]} seeds a sign test of the wins cannot reach p < {alpha:g} (its smallest p is '
                    f'{uncertainty.smallest_sign_test_p(counts[-1]):.3f}; {fewest} seeds can): the wins are counts.')
    n_boot = part.n_boot.dropna() if 'n_boot' in part else pd.Series(dtype=float)
    text.append(f'Intervals at {ci}; '
                + (f'the resamples draw seeds and val images, the same draws for both rows ({_range(n_boot)} '
                   f'resamples, generator seed {int(part.boot_seed.iloc[0])}).' if len(n_boot)
                   else 'no per-image statistics: no claim interval, no bootstrap over images.'))
    family = int(part.holm_family.max()) if 'holm_family' in part and part.holm_family.notna().any() else 0
    if family:
        text.append(f'Holm\'s correction is over every metric of every comparison of the table ({family} tests).')
    return ' '.join(text)


def comparison_tables(comparisons: pd.DataFrame, table: str, metrics=None) -> str:
    """Markdown: the paired differences a - b of ``table`` (percent points) in three narrow tables under one
    caption (:func:`comparison_caption`): the claim (the interval over seeds and the image noise all seeds
    share, its test's p with Holm's adjustment, the claim it supports, the wins); the noise (the t-interval
    over seeds on this val set, the two-level bootstrap with its Monte-Carlo error, seed and shared image
    std); the power (the minimum detectable difference with its upper bound and the image floor, the
    paper's difference and, at full scale, the seeds that difference needs)."""
    part = comparisons[comparisons.table == table]
    if metrics is not None:
        part = part[part.metric.isin(metrics)]
    if part.empty:
        return ''
    ci, power = level(uncertainty.CONFIDENCE), level(uncertainty.POWER)
    full = not is_toy(table)
    several_n = part.n_pairs.nunique() > 1
    claims, noise, plan = [], [], []
    for _, r in part.iterrows():
        claims.append([_pair(r), r.metric] + ([str(r.n_pairs)] if several_n else []) + [
            _fmt(r.mean_diff), _with_mc(r.get('claim_low'), r.get('claim_high'), r.get('claim_mc')), _p_text(r),
            r.get('claim') if isinstance(r.get('claim'), str) else '', f'{r.wins}/{r.n_pairs}' if r.n_pairs else ''])
        noise.append([_pair(r), r.metric, _interval(r.ci_low, r.ci_high),
                      _with_mc(r.get('boot_low'), r.get('boot_high'), r.get('boot_mc')),
                      _fmt(r.get('seed_std'), '.2f'), _image_noise(r)])
        needed = r.get('seeds_needed')
        plan.append([_pair(r), r.metric, _fmt(r.get('mdd'), '.1f'), _fmt(r.get('mdd_upper'), '.1f'),
                     _fmt(r.get('image_floor'), '.1f'), _fmt(r.paper_diff)] + (
            ['' if _nan(needed) else f'{_seeds_text(needed)} ({_seeds_text(r.get("seeds_needed_upper"))})']
            if full else []))
    pair = 'a - b'
    tables = [
        ('The claim', [pair, 'metric'] + (['seeds'] if several_n else []) + [
            'mean diff', f'{ci} interval, seeds + images ± MC', 'p (Holm)', 'claim', 'a wins'], claims),
        ('The noise', [pair, 'metric', f'{ci} t-interval, this val set', f'{ci} bootstrap, seeds x images ± MC',
                       'seed std', 'shared image std (share)'], noise),
        ('The power', [pair, 'metric', f'MDD at {power} power', 'MDD, seed std at its upper bound', 'image floor',
                       'paper diff' if full else 'paper\'s table diff']
         + (['seeds for the paper diff (upper bound)'] if full else []), plan)]
    return '\n\n'.join([prose(comparison_caption(part, table))]
                       + [f'{title}:\n\n' + markdown(pd.DataFrame(body, columns=columns))
                          for title, columns, body in tables])


def noise_table(results: pd.DataFrame, table: str, metrics=None) -> str:
    """Markdown, per cell of ``table``: the mean over seeds with its two-level bootstrap interval, the seed
    and image std and the image share; for full-scale cells with a paper value, a second table: the
    prediction interval of one more run and the equivalence verdict."""
    part = results[(results.table == table) & (results.n > 0)]
    part = part[part.metric.isin(metrics or table_metrics(table))]
    if part.empty:
        return ''
    ci = level(uncertainty.CONFIDENCE)
    several = several_settings(part)
    body = [[row_label(r, several), r.metric, f'{r["mean"]:.1f}',
             _with_mc(r.boot_low, r.boot_high, r.get('boot_mc'), ''), _fmt(r['std'], '.2f'), _image_noise(r)]
            for _, r in part.iterrows()]
    text = markdown(pd.DataFrame(body, columns=['row', 'metric', 'mean', f'{ci} bootstrap, seeds x images ± MC',
                                                'seed std', 'shared image std (share)']))
    if is_toy(table):
        return text
    verdicts = [[row_label(r, several), r.metric, f'{r["mean"]:.1f}', _fmt(r.paper, '.1f'),
                 _interval(r.pred_low, r.pred_high, sign=''), r.verdict or ''] for _, r in part.iterrows()]
    return text + '\n\n' + markdown(pd.DataFrame(verdicts, columns=['row', 'metric', 'mean', 'paper',
                                                                    f'one more run ({ci})', 'verdict']))


def _range(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return f'{low}' if low == high else f'{low}-{high}'


def _listing(items: list[str]) -> str:
    return '; '.join(items) if items else 'none'


def statistics_paragraph(comparisons: pd.DataFrame, table: str, metrics=None) -> str:
    """What the statistics of ``table`` say, in words, from the numbers, one point per bullet: every metric
    whose claim interval excludes 0 (and which of them are borderline), which survive Holm over the table's
    family, how much of the noise the val images share, the sign against the paper's, and what the seeds at
    hand can detect."""
    part = comparisons[(comparisons.table == table) & (comparisons.n_pairs > 1)]
    if metrics is not None:
        part = part[part.metric.isin(metrics)]
    if part.empty:
        return ''
    ci, power, alpha = level(uncertainty.CONFIDENCE), level(uncertainty.POWER), uncertainty.ALPHA

    def name(r):
        return f'{r.metric} ({_pair(r)}, {r.mean_diff:+.1f} [{r.claim_low:+.1f}, {r.claim_high:+.1f}])'
    has_claims = 'claim' in part and part.claim.fillna('').astype(str).str.len().gt(0).any()
    points = []
    if has_claims:
        separated = [name(r) for _, r in part.iterrows() if r.claim == 'separates']
        borderline = [name(r) for _, r in part.iterrows() if r.claim == 'borderline']
        points.append(f'The differences whose {ci} interval over seeds and the image noise all seeds share excludes '
                      f'0 (the claim rule; its coverage at 5 seeds is simulated in docs/statistics.md): '
                      f'{_listing(separated)}.')
        if borderline:
            points.append(f'Borderline (an end within {uncertainty.MC_BORDERLINE:g} Monte-Carlo errors of 0): '
                          f'{_listing(borderline)}.')
        held = [f'{r.metric} ({_pair(r)}, adjusted p {r.holm_p:.3f})' for _, r in part.iterrows()
                if r.holm_reject is True or r.holm_reject == 1]
        points.append(f'After Holm\'s correction over the table\'s family, p < {alpha:g} holds for: {_listing(held)}.')
        shares = part.image_share.dropna()
        if len(shares):
            points.append(f'The image noise all seeds share is {100 * shares.min():.0f}-{100 * shares.max():.0f}% of '
                          'the variance of the mean differences; the rest is seed to seed (with each seed\'s own '
                          'image noise).')
    else:
        points.append('No per-image statistics, so no claim: only the t-intervals over seeds on this val set.')
    primary = primary_metric(table_number(table))
    signed = part[(part.metric == primary) & part.paper_diff.notna() & (part.paper_diff != 0)]
    if len(signed):
        same, other = [], []
        for _, r in signed.iterrows():
            (same if r.mean_diff * r.paper_diff > 0 else other).append(
                f'{_pair(r)} ({r.mean_diff:+.1f}; paper {r.paper_diff:+.1f})')
        sentences = [f'agrees with the paper\'s for {"; ".join(same)}'] if same else []
        sentences += [f'is opposite to the paper\'s for {"; ".join(other)}'] if other else []
        points.append(f'On {primary}, the sign of our mean difference ' + ', and '.join(sentences) + '.')
    for _, r in part[(part.metric == primary) & part.mdd.notna()].iterrows():
        floor = '' if _nan(r.get('image_floor')) else (f'; no number of seeds goes below the image floor of '
                                                       f'{r.image_floor:.1f}')
        point = (f'With {r.n_pairs} seeds, {_pair(r)} on {r.metric} is detected at {power} power from {r.mdd:.1f} '
                 f'points (up to {r.mdd_upper:.1f} with the seed std at the upper end of its {ci} interval{floor}).')
        if not is_toy(table) and not _nan(r.get('seeds_needed')):
            point += (f' The paper\'s difference ({r.paper_diff:+.1f}) needs {_seeds_text(r.seeds_needed)} seeds '
                      f'({_seeds_text(r.seeds_needed_upper)} at that bound).')
        points.append(point)
    return 'Read from the numbers:\n\n' + '\n'.join(prose(f'- {p}', indent='  ') for p in points)


def anchor(table: str) -> str:
    """The heading of a table's section in the detailed pages ('Table 1-toy') as a link anchor."""
    return f'table-{table}'.lower()


def table_details(results: pd.DataFrame, comparisons: pd.DataFrame, meta: dict, table: str,
                  runs: pd.DataFrame | None = None) -> str:
    """Everything about one table, under its heading: its cells, each seed on its primary metric (when the
    runs are given), the paired comparisons in narrow tables and in words, the noise of each cell."""
    parts = [f'## Table {table}', markdown_table(results, table, meta)]
    seeds = seed_table(runs, results, table, primary_metric(table_number(table))) if runs is not None else ''
    if seeds:
        parts.append(f'Each seed ({primary_metric(table_number(table))}, percent):\n\n' + seeds)
    comp = comparison_tables(comparisons, table)
    if comp:
        parts += [comp, statistics_paragraph(comparisons, table)]
    noise = noise_table(results, table)
    if noise:
        parts.append('Per cell, seeds x val images' + (' and the verdict against the paper' if not is_toy(table)
                                                         else '') + ':\n\n' + noise)
    return '\n\n'.join(p for p in parts if p)


def tables_markdown(results: pd.DataFrame, comparisons: pd.DataFrame, meta: dict) -> str:
    return '\n\n'.join(table_details(results, comparisons, meta, t) for t in known_tables(results)) + '\n'


def tables_latex(results: pd.DataFrame, meta: dict) -> str:
    return '\n\n'.join(latex_table(results, t, meta) for t in known_tables(results)) + '\n'


def comparison_sentence(r: pd.Series) -> str:
    """One comparison in words, whatever its sign."""
    if r.n_pairs == 0:
        return f'Table {r.table}, {r.a_row} - {r.b_row}, {r.metric}: no seed where both completed.'
    text = f'Table {r.table}, {r.a_row} - {r.b_row}, {r.metric}: {r.mean_diff:+.2f} points over {r.n_pairs} seed(s)'
    if not _nan(r.ci_low):
        text += f', {level(uncertainty.CONFIDENCE)} t-interval over seeds [{r.ci_low:+.2f}, {r.ci_high:+.2f}]'
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
    part = part[[reports(m, metric) for m in part.method]]
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
        return prose(f'No measured results are committed yet (`benchmarks/results/` is empty). {command} runs the '
                     'toy benchmark, stores its aggregates there and writes these blocks from them.')
    done = meta.get('runs_complete') or 0
    per_run = meta.get('wall_s', 0) / 60 / done if done else 0.0
    elapsed = (f', {meta["elapsed_s"] / 60:.0f} min from the first run\'s start to the last one\'s end'
               if meta.get('elapsed_s') else '')
    written = meta.get('command', '')
    source = f'written by `{written}`' + ('' if written == command.strip('`') else f'; {command} refreshes it')
    return prose(f'Generated from `benchmarks/results/` ({source}; `make reproduce-all` runs the whole toy paper). '
                 f'{meta.get("runs_complete", "?")} complete runs on {meta.get("machine", "unknown")}: '
                 f'{meta.get("wall_s", 0) / 60:.0f} min of training and evaluation in all ({per_run:.1f} min per '
                 f'run){elapsed}; one thread per run, as many runs at once as cores.')


def seed_std_goal(results: pd.DataFrame, table: str, goal: float) -> str:
    """Whether each row of ``table`` meets the toy benchmark's variance goal (a seed-to-seed sample std of its
    primary metric of at most ``goal`` points), in one sentence from the aggregates."""
    metric = primary_metric(table_number(table))
    part = results[(results.table == table) & (results.metric == metric)].sort_values('method')
    part = part[[reports(m, metric) for m in part.method]]  # the goal is the compared methods' (not the control's)
    measured = [(row_label(r), r['std']) for _, r in part.iterrows()]
    spreads = ', '.join(f'{name} {_fmt(std, ".1f") or "-"}' for name, std in measured)
    if not measured or any(_nan(std) for _, std in measured):
        verdict = 'not measured (a row has fewer than 2 seeds)'
    else:
        above = [name for name, std in measured if std > goal]
        verdict = f'not met: {" and ".join(above)} above it' if above else 'met'
    seeds = sorted({int(n) for n in part.n})
    return prose(f'The toy benchmark\'s goal, a seed-to-seed {metric} std of at most {goal:g} point'
                 f'{"" if goal == 1 else "s"} for each method: {spreads} ({"-".join(map(str, seeds))} seeds): '
                 f'**{verdict}**.')


def verdict_line(r: pd.Series) -> str:
    """One comparison on one metric in one line: the difference, its interval and what that interval says."""
    pair = f'{_pair(r)}, {r.metric}'
    if r.n_pairs == 0:
        return f'{pair}: no paired seeds'
    if not _nan(r.get('claim_low')):
        return (f'{pair}: {r.mean_diff:+.1f} [{r.claim_low:+.1f}, {r.claim_high:+.1f}], {r.claim} '
                f'({_seed_count(r.n_pairs)})')
    if not _nan(r.ci_low):
        inside = 'includes 0' if r.ci_low <= 0 <= r.ci_high else 'excludes 0'
        return (f'{pair}: {r.mean_diff:+.1f} [{r.ci_low:+.1f}, {r.ci_high:+.1f}], {inside} on this val set only '
                f'({_seed_count(r.n_pairs)}; no per-image statistics)')
    return f'{pair}: {r.mean_diff:+.1f} ({_seed_count(r.n_pairs)}: no interval)'


def verdicts(comparisons: pd.DataFrame, table: str) -> str:
    """The README's reading of a table's comparisons: one line per comparison on the table's primary metric,
    then the other metrics whose claim interval excludes 0, so that no separation is left unsaid."""
    part = comparisons[comparisons.table == table]
    if part.empty:
        return ''
    primary = primary_metric(table_number(table))
    lines = [f'- {verdict_line(r)}' for _, r in part[part.metric == primary].iterrows()]
    ci = level(uncertainty.CONFIDENCE)
    text = prose(f'Paired by seed (a - b, percent points; the {ci} interval over seeds and the val-image noise all '
                 'seeds share, and whether it includes 0):') + '\n\n' + '\n'.join(lines)
    others = part[(part.metric != primary) & part.claim.isin(['separates', 'borderline'])] if 'claim' in part else []
    if len(others):
        text += '\n\n' + prose(f'Other metrics whose {ci} interval excludes 0: ' + '; '.join(
            f'{r.metric} ({_pair(r)}: {r.mean_diff:+.1f} [{r.claim_low:+.1f}, {r.claim_high:+.1f}]'
            + (', borderline' if r.claim == 'borderline' else '') + ')' for _, r in others.iterrows()) + '.')
    return text


def toy_table_block(results: pd.DataFrame | None, comparisons: pd.DataFrame | None, meta: dict | None,
                    runs: pd.DataFrame | None, table: str, details: str = '', goal: float | None = None) -> str:
    """The README's block of one toy table: its cells, the variance goal (``goal``, where given), one line per
    comparison and a link to everything else (``details``: the table's section of the results page)."""
    part = results[results.table == table] if results is not None else None
    if part is None or part.empty or (part.status == 'missing').all():
        return prose(f'Table {table} has no run in the committed aggregates: `python tools/reproduce_tables.py '
                     f'--tables {table_number(table)} --publish --update-readme` runs it.')
    parts = [markdown_table(part, table, meta)]
    if goal is not None:
        parts.append(seed_std_goal(part, table, goal))
    if comparisons is not None:
        parts.append(verdicts(comparisons, table))
    if details:
        parts.append(prose(f'Each seed, the t-intervals over seeds, the bootstrap, the noise split, Holm\'s correction '
                           f'and the power: [Table {table} in full]({details}).'))
    return '\n\n'.join(p for p in parts if p)


def results_page(results: pd.DataFrame | None, comparisons: pd.DataFrame | None, meta: dict | None,
                 runs: pd.DataFrame | None, tables: list[str]) -> str:
    """The results page: every toy table in full (:func:`table_details`), or that it has no run yet."""
    sections = []
    for table in tables:
        part = results[results.table == table] if results is not None else None
        if part is None or part.empty or (part.status == 'missing').all():
            sections.append(f'## Table {table}\n\n' + toy_table_block(None, None, None, None, table))
        else:
            sections.append(table_details(results, comparisons, meta, table, runs))
    return '\n\n'.join(sections)


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
    classes = markdown(pd.DataFrame(body, columns=['group', 'class', 'PartPQ a', 'PartPQ b', 'a - b',
                                                   f'{level(uncertainty.CONFIDENCE)} t-interval', 'PQ a - b']))
    err = errors[errors.config.isin([a, b])] if errors is not None else pd.DataFrame()
    kinds = markdown(pd.DataFrame([[r.config, r.group, f'{r.TP:.0f}', f'{r.FP:.0f}', f'{r.FN:.0f}',
                                    _fmt(r.PartSQ_matched, '.1f')] for r in err.itertuples()],
                                  columns=['config', 'group', 'TP', 'FP', 'FN', 'PartSQ of the matches']))
    return (prose(f'a = `{a}`, b = `{b}`; per class, mean over {int(part.n_pairs.max())} seeds and the paired '
                  'difference (percent):') + '\n\n' + classes + '\n\n'
            + prose('By kind of error (PartPQ segments summed over the classes of a group, mean over seeds; PartSQ '
                    'over the matched segments):') + '\n\n' + kinds)


def rehearsal_block(record: dict | None) -> str:
    """Markdown of ``benchmarks/results/rehearsal.json`` (``make rehearsal``): per paper config what it saw and
    how long it took; a rehearsal, never a result, so no metric value appears."""
    if not record or not record.get('configs'):
        return 'Not run yet (`make rehearsal`).'

    def first(batches: list, key: str) -> str:
        sample = ((batches or [{}])[0].get('samples') or [{}])[0]
        return sample.get(key, '?')

    body = []
    for stem, e in record['configs'].items():
        train, test = e.get('train', {}), e.get('test', {})
        body.append([stem, ', '.join(e.get('cells', [])), first(train.get('batches'), 'ori_shape'),
                     ((train.get('batches') or [{}])[0]).get('inputs', '?'), str(train.get('iters', 0)),
                     f'{train.get("seconds", 0):.0f} s', first(test.get('batches'), 'img_shape'),
                     str(len(test.get('metric_keys', []))), f'{test.get("seconds", 0):.0f} s',
                     f'{max(train.get("peak_rss_mb", 0), test.get("peak_rss_mb", 0)) / 1024:.1f}',
                     e.get('status', '?') + (f'; {len(e["checks"])} size checks failed' if e.get('checks') else '')])
    done = sum(e.get('status') == 'complete' for e in record['configs'].values())
    collection = record.get('collection', {})
    collector = collection.get('command', '-')
    collector = ' '.join(collector.split()[:3]) + ' ...' if len(collector) > 80 else collector  # one work dir each
    return (f'{done}/{len(record["configs"])} paper configs rehearsed with `{record.get("command")}` at commit '
            f'{record.get("commit")} ({record.get("date", "?")[:10]}; {record.get("machine")}, '
            f'{record.get("threads_per_run")} thread per run, {record.get("jobs")} runs at once): '
            f'{record.get("config_seconds", 0) / 60:.0f} min of runs, '
            f'{record.get("elapsed_s_last_call", 0) / 60:.0f} min from start to end. A rehearsal, not a result: no '
            f'metric of it is shown; collected by `{collector}` '
            f'(exit {collection.get("exit", "-")}, {collection.get("numbers_shown", "-")} numbers shown).\n\n'
            + markdown(pd.DataFrame(body, columns=['config', 'cells', 'train image', 'batch', 'iterations', 'train',
                                                   'test image', 'metric keys', 'test', 'peak GB', 'status'])))

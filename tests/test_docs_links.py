"""Every relative Markdown link in README.md and docs/*.md points at an existing file, and at an existing
heading where it names one (``page.md#anchor``, GitHub's heading slugs), so a reader never hits a dead link;
and the README and the generated results page can be read as Markdown source (no line too long)."""
import os.path as osp
import re
import sys
from glob import glob
from urllib.parse import unquote

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = sorted([osp.join(REPO, 'README.md')] + glob(osp.join(REPO, 'docs', '*.md')))

FENCE = re.compile(r'^\s*(```|~~~)')
INLINE_CODE = re.compile(r'(`+)(?:(?!\1).)+?\1')
#: [text](target) and ![alt](target), the target without spaces, optionally followed by a "title"
INLINE_LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^\s)>]+)>?(?:\s+"[^"]*")?\s*\)')
#: [label]: target (reference definitions)
REFERENCE_LINK = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$')
HEADING = re.compile(r'^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
HTML_ANCHOR = re.compile(r'<a\s+(?:name|id)="([^"]+)"')
EXTERNAL = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')  # http:, https:, mailto:, ...
#: the pages read in the source as often as rendered, and the length no line of theirs outside code may reach
SHORT_LINED = ('README.md', osp.join('docs', 'results.md'))
LONGEST_LINE = 250


def prose_lines(text: str):
    """(line number, line) of the text outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: Markdown links and emphasis reduced to their text, lower case,
    punctuation other than '-' and '_' dropped, each space a '-'."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)
    text = re.sub(r'<[^>]+>', '', text).strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def anchors(path: str) -> set[str]:
    """The anchors a page offers: its headings' slugs (a repeated slug gets -1, -2, ...) and HTML anchors."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(text):
        found.update(HTML_ANCHOR.findall(line))
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f'{base}-{count}')
    return found


def links(path: str):
    """(line number, target) of every link of a page, outside code blocks and inline code."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    for number, line in prose_lines(text):
        line = INLINE_CODE.sub('', line)
        for target in INLINE_LINK.findall(line):
            yield number, target
        m = REFERENCE_LINK.match(line)
        if m:
            yield number, m.group(1)


def dead_links(path: str) -> list[str]:
    dead = []
    for number, target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition('#')
        dest = osp.normpath(osp.join(osp.dirname(path), unquote(file_part))) if file_part else path
        where = f'{osp.relpath(path, REPO)}:{number}: {target}'
        if not osp.exists(dest):
            dead.append(f'{where} (no file {osp.relpath(dest, REPO)})')
        elif not osp.realpath(dest).startswith(REPO + osp.sep):
            dead.append(f'{where} (outside the repository)')
        elif anchor and dest.endswith('.md') and unquote(anchor) not in anchors(dest):
            dead.append(f'{where} (no heading #{anchor} in {osp.relpath(dest, REPO)})')
    return dead


def test_pages_are_found():
    names = {osp.relpath(p, REPO) for p in PAGES}
    assert 'README.md' in names and any(n.startswith('docs' + osp.sep) for n in names), names


@pytest.mark.parametrize('path', PAGES, ids=[osp.relpath(p, REPO) for p in PAGES])
def test_relative_links_resolve(path):
    dead = dead_links(path)
    assert not dead, 'dead links:\n' + '\n'.join(dead)


@pytest.mark.parametrize('rel', SHORT_LINED)
def test_lines_outside_code_are_short(rel):
    with open(osp.join(REPO, rel), encoding='utf-8') as f:
        long = [f'{rel}:{number}: {len(line)} characters' for number, line in prose_lines(f.read())
                if len(line) >= LONGEST_LINE]
    assert not long, f'lines of {LONGEST_LINE} characters or more (a table with fewer columns, prose wrapped):\n' + \
        '\n'.join(long)


def test_slugs_follow_github():
    assert slug("Cityscapes-PP's undefined part id 5") == 'cityscapes-pps-undefined-part-id-5'
    assert slug('Evaluation: PartPQ, PartSQ, PQ, mIoU') == 'evaluation-partpq-partsq-pq-miou'
    assert slug('What each comparison reports (`comparisons.csv`, tables, README)') == \
        'what-each-comparison-reports-comparisonscsv-tables-readme'
    assert slug('Known incompatibilities of the pinned stack') == 'known-incompatibilities-of-the-pinned-stack'


def test_dead_links_are_caught(tmp_path, monkeypatch):
    page = tmp_path / 'page.md'
    (tmp_path / 'other.md').write_text('# Other page\n\n## A section\n')
    page.write_text('# Page\n\n[ok](other.md#a-section) [ok](#page) [ext](https://example.com/x)\n'
                    '[missing](nothere.md) [bad anchor](other.md#no-such) `[code](nothere.md)`\n'
                    '```\n[fenced](nothere.md)\n```\n')
    monkeypatch.setattr(sys.modules[__name__], 'REPO', str(tmp_path))
    dead = dead_links(str(page))
    assert len(dead) == 2, dead
    assert 'nothere.md' in dead[0] and 'no-such' in dead[1]

"""Generated blocks in hand-written files: text between a start and an end marker is owned by a command.

Why one module: the metafile writer (``benchmarks.metafiles``) and the documents of the results
(``benchmarks.documents``) both rewrite parts of Markdown files and both offer ``--check`` (exit 1 when a
block is stale), and the tests run both checks. The markers name the command that writes the
block, so a reader knows what to run instead of editing it by hand.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass


@dataclass(frozen=True)
class Markers:
    """The start and end lines of one generated block, e.g. ``<!-- results:start (cmd) -->``."""
    name: str
    command: str

    @property
    def start(self) -> str:
        return f'<!-- {self.name}:start ({self.command}) -->'

    @property
    def end(self) -> str:
        return f'<!-- {self.name}:end -->'


def replace_block(text: str, markers: Markers, body: str, where: str = 'text') -> str:
    """``text`` with everything between the markers (markers kept) replaced by ``body``, with one blank
    line on either side (Markdown needs them around tables and headings).

    Raises ValueError naming ``where`` when a marker is missing or repeated: a block silently not
    written would make ``--check`` pass on a stale file."""
    for mark in (markers.start, markers.end):
        count = text.count(mark)
        if count != 1:
            raise ValueError(f'{where}: expected the marker {mark!r} once, found it {count} times')
    head, rest = text.split(markers.start, 1)
    tail = rest.split(markers.end, 1)[1]
    return head + markers.start + '\n\n' + body.strip('\n') + '\n\n' + markers.end + tail


def sync_files(expected: dict[str, str], root: str, check: bool) -> list[str]:
    """Compare (``check``) or write each ``root``-relative file of ``expected`` with its expected text.

    Returns the files that were stale (and, unless ``check``, are now written atomically)."""
    stale = []
    for rel, text in expected.items():
        path = osp.join(root, rel)
        if osp.isfile(path):
            with open(path) as f:
                if f.read() == text:
                    continue
        stale.append(rel)
        if not check:
            from tapps_mm.fileio import write_text_atomic
            write_text_atomic(text, path)
    return stale


def report(stale: list[str], check: bool) -> int:
    """Print what was stale / written; the exit status of a ``--check`` (1 when anything is stale)."""
    print(('stale: ' if check else 'written: ') + (', '.join(stale) or 'none'))
    return 1 if check and stale else 0

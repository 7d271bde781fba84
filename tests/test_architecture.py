"""docs/architecture.md's import graphs are the code's, so that the page can be trusted when moving things.

Each ```mermaid block of the page starts with ``%% package: NAME`` (a package at the top of the repository:
``tapps_mm``, ``benchmarks``) and draws ``a --> b`` when a direct module or subpackage ``a`` of NAME imports
``b`` of NAME anywhere in its files (absolute, relative, inside functions). An optional ``%% left out: x, y``
line names modules the block omits (with every edge from or to them); the prose right before the block must
name them too, so the rendered page says what it omits. The imports are read with ``ast``: nothing is imported.
"""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / 'docs' / 'architecture.md'

_BLOCK = re.compile(r'^```mermaid[ \t]*\n(.*?)^```', re.M | re.S)
_EDGE = re.compile(r'^(\w+)\s*-->\s*(\w+)$')
_NODE = re.compile(r'^(\w+)$')
_HEADER = re.compile(r'^(graph|flowchart)\s+(TD|TB|BT|LR|RL)$')


class GraphBlock:
    """One mermaid block of the page: the package it describes, the modules it leaves out, its edges."""

    def __init__(self, text: str, prose: str, line: int):
        self.line, self.prose = line, prose
        self.package: str | None = None
        self.left_out: list[str] = []
        self.nodes: set[str] = set()
        self.edges: set[tuple[str, str]] = set()
        self.errors: list[str] = []
        lines = [raw.strip() for raw in text.splitlines()]
        lines = [s for s in lines if s]
        first = re.fullmatch(r'%%\s*package:\s*(\w+)', lines[0]) if lines else None
        if first is None:
            self.errors.append(f'line {line}: the block does not start with "%% package: NAME"')
        else:
            self.package = first.group(1)
        for s in lines[1:]:
            if m := re.fullmatch(r'%%\s*left out:\s*(.*)', s):
                self.left_out += [name.strip() for name in m.group(1).split(',') if name.strip()]
            elif s.startswith('%%') or _HEADER.match(s):
                continue
            elif m := _EDGE.match(s):
                self.edges.add((m.group(1), m.group(2)))
                self.nodes.update(m.groups())
            elif m := _NODE.match(s):  # a module that imports none of the others and none imports
                self.nodes.add(m.group(1))
            else:
                self.errors.append(f'{self.package}: cannot read {s!r} (only "a --> b", "a", "%% ..." lines)')


def read_blocks(page: str) -> list[GraphBlock]:
    """The page's mermaid blocks, each with the prose between it and the previous heading or block."""
    blocks = []
    for match in _BLOCK.finditer(page):
        before = page[:match.start()]
        cut = max(before.rfind('\n```'), *(m.end() for m in re.finditer(r'^#.*$', before, re.M)), 0)
        blocks.append(GraphBlock(match.group(1), before[cut:], before.count('\n') + 1))
    return blocks


def package_children(package_dir: Path) -> set[str]:
    """The direct modules and subpackages of a package (the nodes its graph may draw)."""
    names = {p.stem for p in package_dir.glob('*.py') if p.name != '__init__.py'}
    names |= {p.name for p in package_dir.iterdir() if p.is_dir() and any(p.rglob('*.py'))}
    return names


def _imported_modules(node: ast.Import | ast.ImportFrom, module: list[str], is_init: bool) -> list[str]:
    """Dotted names an import statement may load, relative ones made absolute (``from a import b``: a.b)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module.split('.') if node.module else []
    if node.level:
        package = module if is_init else module[:-1]
        base = package[:len(package) - node.level + 1] + base
    return ['.'.join(base)] + ['.'.join(base + [alias.name]) for alias in node.names]


def code_edges(root: Path, package: str) -> dict[tuple[str, str], list[str]]:
    """(importer, imported) between the package's direct children, each with the ``file:line`` of its imports.

    The package's own ``__init__.py`` is not a child and draws no edge.
    """
    children = package_children(root / package)
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted((root / package).rglob('*.py')):
        parts = list(path.relative_to(root).with_suffix('').parts)
        is_init = parts[-1] == '__init__'
        module = parts[:-1] if is_init else parts
        if len(module) < 2:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported_modules(node, module, is_init):
                target = name.split('.')
                if len(target) > 1 and target[0] == package and target[1] in children and target[1] != module[1]:
                    location = f'{path.relative_to(root).as_posix()}:{node.lineno}'
                    if location not in edges[(module[1], target[1])]:
                        edges[(module[1], target[1])].append(location)
    return dict(edges)


def graph_differences(root: Path, block: GraphBlock) -> list[str]:
    """Why the block and the code disagree (empty when they agree): each differing edge or module."""
    if block.errors or block.package is None:
        return block.errors
    if not (root / block.package / '__init__.py').is_file():
        return [f'"%% package: {block.package}": no package {block.package}/ at the top of the repository']
    children = package_children(root / block.package)
    left_out = set(block.left_out)
    problems = [f'{name}: left out, but no module of {block.package}' for name in sorted(left_out - children)]
    problems += [f'{name}: left out, but the prose before the block does not name it (`{name}`)'
                 for name in block.left_out if f'`{name}`' not in block.prose]
    problems += [f'{name}: drawn, but no module of {block.package}' for name in sorted(block.nodes - children)]
    problems += [f'{name}: drawn and left out' for name in sorted(block.nodes & left_out)]
    problems += [f'{name}: a module of {block.package} neither drawn nor left out'
                 for name in sorted(children - block.nodes - left_out)]
    imports = {edge: where for edge, where in code_edges(root, block.package).items() if not set(edge) & left_out}
    problems += [f'missing edge {a} --> {b} (imported at {", ".join(imports[a, b])})'
                 for a, b in sorted(set(imports) - block.edges)]
    drawn = {edge for edge in block.edges if not set(edge) & left_out}  # those touching one are named above
    problems += [f'extra edge {a} --> {b} (no import of {block.package}.{b} in {block.package}/{a})'
                 for a, b in sorted(drawn - set(imports))]
    return problems


BLOCKS = read_blocks(PAGE.read_text())


def test_page_has_one_graph_per_package():
    packages = [block.package for block in BLOCKS]
    assert 'tapps_mm' in packages, f'{PAGE.name}: no ```mermaid block starting with "%% package: tapps_mm"'
    assert len(packages) == len(set(packages)), f'{PAGE.name}: one graph per package: {packages}'


@pytest.mark.parametrize('block', BLOCKS, ids=[str(block.package) for block in BLOCKS])
def test_graph_is_the_code_imports(block):
    problems = graph_differences(REPO, block)
    assert not problems, (f'{PAGE.name} (block at line {block.line}, package {block.package}) and the code '
                          'disagree; update the page:\n  ' + '\n  '.join(problems))


# ---------------------------------------------------------------- the check itself, on a package made here


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _block(body: str, prose: str = '') -> GraphBlock:
    [block] = read_blocks(f'{prose}\n```mermaid\n{body}```\n')
    return block


@pytest.fixture
def toy(tmp_path):
    _write(tmp_path, {
        'pkg/__init__.py': 'from pkg.a import x\n',  # the package root: no edge
        'pkg/reg.py': '',
        'pkg/a/__init__.py': 'from ..b import y\nfrom .inner import z\n',  # relative; within a: no edge
        'pkg/a/inner.py': 'import pkg.reg\n\ndef f():\n    from pkg import c\n',  # inside a function
        'pkg/b.py': 'import os\nimport pkg\n',
        'pkg/c/__init__.py': '',
        'pkg/c/deep/d.py': 'from ... import b\n',
    })
    return tmp_path


def test_code_edges_resolve_relative_and_function_imports(toy):
    edges = code_edges(toy, 'pkg')
    assert edges == {('a', 'b'): ['pkg/a/__init__.py:1'], ('a', 'reg'): ['pkg/a/inner.py:1'],
                     ('a', 'c'): ['pkg/a/inner.py:4'], ('c', 'b'): ['pkg/c/deep/d.py:1']}


def test_matching_graph_passes(toy):
    block = _block('%% package: pkg\n%% left out: reg\ngraph TD\n  a --> b\n  a --> c\n  c --> b\n',
                   prose='`reg` is left out.')
    assert graph_differences(toy, block) == []


@pytest.mark.parametrize('body, prose, expected', [
    ('a --> b\n  c --> b\n', '`reg`', ['missing edge a --> c (imported at pkg/a/inner.py:4)']),
    ('a --> b\n  a --> c\n  c --> b\n  b --> a\n', '`reg`', ['extra edge b --> a (no import of pkg.a in pkg/b)']),
    ('a --> b\n  a --> c\n  c --> b\n  e --> b\n', '`reg`', ['e: drawn, but no module of pkg',
                                                            'extra edge e --> b (no import of pkg.b in pkg/e)']),
    ('a --> b\n  a --> c\n  c --> b\n', '', ['reg: left out, but the prose before the block does not name it (`reg`)']),
])
def test_differences_are_named(toy, body, prose, expected):
    block = _block(f'%% package: pkg\n%% left out: reg\ngraph TD\n  {body}', prose=prose)
    assert graph_differences(toy, block) == expected


def test_undrawn_module_and_unknown_package_are_named(toy):
    assert graph_differences(toy, _block('%% package: pkg\n  a --> b\n  a --> c\n  c --> b\n')) == [
        'reg: a module of pkg neither drawn nor left out', 'missing edge a --> reg (imported at pkg/a/inner.py:1)']
    assert graph_differences(toy, _block('%% package: nope\n  a --> b\n')) == [
        '"%% package: nope": no package nope/ at the top of the repository']
    assert graph_differences(toy, _block('graph TD\n  a --> b\n'))[0].endswith('does not start with "%% package: NAME"')

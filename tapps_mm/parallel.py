"""One parallel map with a progress bar, for the per-file work of the evaluator and the dataset checker."""
from __future__ import annotations

import multiprocessing
import os
from typing import Callable, Iterable, Iterator


def _with_progress(results: Iterable, total: int, show: bool) -> Iterator:
    if not show:
        yield from results
        return
    try:
        from mmengine.utils import ProgressBar
    except ImportError:  # the evaluator's light install has no mmengine: a plain counter
        for done, item in enumerate(results, 1):
            print(f'\r[{done}/{total}]', end='', flush=True)
            yield item
        print()
        return
    bar = ProgressBar(total)
    for item in results:
        bar.update()
        yield item
    print()


def parallel_map(fn: Callable, items: Iterable, nproc: int = 1, progress: bool = False,
                 initializer: Callable | None = None, initargs: tuple = (), chunksize: int | None = None) -> Iterator:
    """``fn`` over ``items``, results in order, in ``nproc`` processes (forked where the OS allows, so workers
    inherit loaded specs), with an optional progress bar (mmengine's where installed). ``initializer(*initargs)``
    runs once per worker (in this process when ``nproc <= 1``)."""
    items = list(items)
    if nproc <= 1 or len(items) <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from _with_progress(map(fn, items), len(items), progress)
        return
    ctx = multiprocessing.get_context('fork' if os.name == 'posix' else 'spawn')
    chunk = chunksize or max(1, min(16, len(items) // (4 * nproc)))
    with ctx.Pool(min(nproc, len(items)), initializer=initializer, initargs=initargs) as pool:
        yield from _with_progress(pool.imap(fn, items, chunksize=chunk), len(items), progress)

"""Operations and host-device synchronisation points of one training step (and one inference batch), counted
from ``torch.profiler`` on CPU: the shape of the work a GPU would be given, measurable on any machine.

- **top-level ATen ops**: profiler events named ``aten::*`` that no other ``aten::*`` event encloses (an op
  called from Python, autograd's backward functions included; the ops an op calls itself are not counted).
  Each one is at least one kernel launch, or one dispatch, on a GPU.
- **synchronisation points**: the places where the host must wait for the device, i.e. where it needs a value
  computed on it. Counted:

  - each top-level ATen op that is, or calls, one of :data:`SYNC_PRIMITIVES`: ``_local_scalar_dense``
    (``item()``, ``int()`` / ``float()`` / ``bool()`` of a tensor, ``is_nonzero``, a tensor in an ``if`` or
    ``max()``), ``nonzero`` (also inside boolean-mask indexing: ``x[mask]``, ``x[mask] = v``), the ``unique``
    family, ``bincount`` and ``masked_select`` (their output size is data), ``equal`` (a Python bool);
  - each call of ``Tensor.tolist`` and ``Tensor.cpu`` (:data:`HOST_READS`): device-to-host copies, no ATen
    primitive of their own on CPU.

  Not counted, because a CPU profile cannot tell them apart from no-ops: host-to-device copies
  (``torch.tensor(list, device=...)``, ``.to(device)``; without ``non_blocking`` and pinned memory CUDA's
  copy waits for the stream too) and ``.to('cpu')``. A sync on a tensor that would stay on the host on a GPU
  (a count built from Python ints) is counted all the same: the measure does not know devices.

Where they come from: while profiling, a ``TorchFunctionMode`` puts every torch call made from Python in a
profiler range named after the innermost calling function in one of :data:`SOURCES` (and marks the host
reads); the profiler's own Python stacks (``with_stack``) are not used, as reading them back fails now and
then in this torch (names of freed code objects). Backward and optimizer ops have no such caller ('other').

The step is the benchmark worker's (data preprocessing, forward, losses, backward, AdamW step), profiled after
the worker's warm-up steps; the models see the same batches (``model_cost_data``).
"""
from __future__ import annotations

import collections
import os.path as osp
import sys

#: ATen ops whose result the host reads (their name -> the kind the JSON reports)
SYNC_PRIMITIVES = {
    'aten::_local_scalar_dense': 'item', 'aten::nonzero': 'nonzero', 'aten::_unique': 'unique',
    'aten::_unique2': 'unique', 'aten::unique_dim': 'unique', 'aten::unique_consecutive': 'unique',
    'aten::unique_dim_consecutive': 'unique', 'aten::bincount': 'bincount', 'aten::masked_select': 'masked_select',
    'aten::equal': 'equal',
}
#: Tensor methods that copy device values to the host
HOST_READS = ('tolist', 'cpu')
#: profiler ranges this module adds: a torch call from Python ('call@source') or a host read ('tolist@source')
CALL, SEP = 'call', '@'
#: source folders an op is attributed to (the innermost calling function in one of these packages)
SOURCES = ('tapps_mm', 'mmdet', 'mmcv', 'mmengine')
#: the sources of the most top-level ops the JSON keeps
TOP_SOURCES = 25


def _where(code) -> str | None:
    """'package/file.py:function' of a code object in a :data:`SOURCES` package, else None."""
    parts = code.co_filename.replace(osp.sep, '/').split('/')
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in SOURCES:
            return f'{"/".join(parts[i:])}:{code.co_name}'
    return None


def _caller(cache: dict, depth: int = 2) -> str:
    frame = sys._getframe(depth)
    while frame is not None:
        code = frame.f_code
        if code not in cache:
            cache[code] = _where(code)
        if cache[code]:
            return cache[code]
        frame = frame.f_back
    return 'other'


def _attributing_mode():
    """A ``TorchFunctionMode`` that runs each torch call in a profiler range named after its caller."""
    import torch
    from torch.overrides import TorchFunctionMode

    cache: dict = {}

    class Attributing(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, '__name__', '')
            kind = name if name in HOST_READS and args and isinstance(args[0], torch.Tensor) else CALL
            with torch.profiler.record_function(kind + SEP + _caller(cache)):
                return func(*args, **(kwargs or {}))
    return Attributing()


def _ancestors(e):
    p = e.cpu_parent
    while p is not None:
        yield p
        p = p.cpu_parent


def _range(e) -> tuple[str, str] | None:
    """(kind, source) of one of this module's ranges, else None."""
    kind, sep, source = e.name.partition(SEP)
    return (kind, source) if sep and (kind == CALL or kind in HOST_READS) else None


def count_events(events) -> dict:
    """Top-level ATen ops and synchronisation points of profiler ``events`` (a ``FunctionEvent`` list)."""
    def calls_primitive(e) -> str | None:
        stack = [e]
        while stack:
            x = stack.pop()
            if x.name in SYNC_PRIMITIVES:
                return SYNC_PRIMITIVES[x.name]
            stack.extend(x.cpu_children)
        return None

    ops: collections.Counter = collections.Counter()  # by source
    by_kind: collections.Counter = collections.Counter()
    by_source: collections.Counter = collections.Counter()
    for e in events:
        marked = _range(e)
        if marked and marked[0] in HOST_READS:
            kind, source = marked
        elif e.name.startswith('aten::'):
            ancestors = list(_ancestors(e))
            if any(p.name.startswith('aten::') for p in ancestors):
                continue  # called by another op
            ranges = [r for r in map(_range, ancestors) if r]
            source = ranges[0][1] if ranges else 'other'
            ops[source] += 1
            kind = calls_primitive(e)
            if kind is None or any(r[0] in HOST_READS for r in ranges):
                continue  # no wait, or inside a counted host read
        else:
            continue
        by_kind[kind] += 1
        by_source[source] += 1
    return dict(ops=sum(ops.values()), syncs=sum(by_kind.values()), syncs_by_kind=dict(sorted(by_kind.items())),
                syncs_by_source=dict(by_source.most_common()), ops_by_source=dict(ops.most_common(TOP_SOURCES)))


def profile_counts(run) -> dict:
    """:func:`count_events` of one call of ``run()`` (profiled on CPU, every torch call attributed)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        with _attributing_mode():
            run()
    return count_events(prof.events())

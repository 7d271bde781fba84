"""The one piece of state the part-aware heads keep between calls, because mmdet leaves no other way.

mmdet's ``Mask2FormerHead`` runs two per-layer loops without exposing what the part losses need from them:
``forward`` computes each decoder layer's queries inside its loop and returns only class and mask logits,
and ``_loss_by_feat_single`` matches queries to GT objects and returns only the losses (mmdet 3.3's
``get_targets(return_sampling_results=True)`` fails: it adds a list to a tuple). The heads override the
hook called inside each loop (mmdet's ``_forward_head``; ``_targets_from_assignment`` of
:class:`BatchedTargetsMixin`, which replaces mmdet's ``_get_targets_single``) and append what they need to
a record that exists only while :meth:`LayerRecordMixin.recording` is open around the call.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator


class LayerRecordMixin:
    """``with self.recording() as record:`` around one mmdet call; :meth:`record` inside its hooks."""

    _record: list | None = None

    @contextlib.contextmanager
    def recording(self) -> Iterator[list]:
        if self._record is not None:
            raise RuntimeError(f'{type(self).__name__}: a layer record is already open')
        self._record = []
        try:
            yield self._record
        finally:
            self._record = None

    def record(self, item: Any) -> None:
        """Keep ``item`` if a record is open (mmdet's loops also run outside the part losses)."""
        if self._record is not None:
            self._record.append(item)

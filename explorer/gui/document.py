"""The edited document: one ArchGraph plus its file path; every edit is a snapshot QUndoCommand.

Snapshots (graph copies before and after) keep undo exact for any edit, ports and params included;
the graphs the editor handles (tens to a few hundred nodes) copy in well under a millisecond each.

The document may also hold weights (a state_dict of `build_model(graph)`), e.g. after a Net2Net
transform. Weights are kept by reference (transforms return new tensors, nothing mutates them) and
travel with the snapshots: a structural edit drops them (they would no longer fit), undo restores them.
Lineage lives in `graph.meta` (`candidate_id` of a stored candidate, `lineage`/`parent_id` of a grown
child) so it is undone and saved with the graph.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ..arch import ArchGraph, validate
from ..arch.validate import Report
from ..edits import Edit, structure_key

_KEEP = object()  # `_set` / SnapshotCommand: leave the weights as they are


class Document(QObject):
    """Holds the graph; `changed(structural)` fires after every edit, undo and redo."""

    changed = Signal(bool)
    pathChanged = Signal(str)

    def __init__(self, graph: ArchGraph | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.graph = graph or ArchGraph("untitled")
        self.path: str | None = None
        self.undo = QUndoStack(self)
        self._report: Report | None = None
        self.weights: dict | None = None  # state_dict fitting `graph`, or None (fresh init)

    @property
    def candidate_id(self):
        """Id of the stored candidate this graph is (None for an unsaved or grown graph)."""
        return self.graph.meta.get("candidate_id")

    @property
    def parent_id(self):
        """Id (or name) of the graph this one was grown from by a Net2Net transform, else None."""
        return self.graph.meta.get("parent_id", (self.graph.meta.get("lineage") or {}).get("parent"))

    @property
    def report(self) -> Report:
        if self._report is None:
            self._report = validate(self.graph)
        return self._report

    def _set(self, graph: ArchGraph, weights=_KEEP) -> None:
        structural = structure_key(graph) != structure_key(self.graph)
        self.graph = graph
        if weights is not _KEEP:
            self.weights = weights
        self._report = None
        self.changed.emit(structural)

    def replace(self, graph: ArchGraph, path: str | None = None, weights: dict | None = None) -> None:
        """A new document (New/Open/Sample without history): clears the undo stack."""
        self.undo.clear()
        self.path = path
        self._set(graph, weights)
        self.undo.setClean()
        self.pathChanged.emit(path or "")

    def edit(self, text: str, fn: Callable[[ArchGraph], None], merge_id: int = -1) -> bool:
        """Apply `fn` to a copy of the graph and push it as one undoable command.
        Returns False (and pushes nothing) when `fn` raises ValueError/KeyError or changes nothing."""
        after = self.graph.copy()
        fn(after)
        if after == self.graph:
            return False
        self.undo.push(SnapshotCommand(self, text, self.graph.copy(), after, merge_id))
        return True

    def set_graph_undoable(self, text: str, graph: ArchGraph) -> None:
        self.undo.push(SnapshotCommand(self, text, self.graph.copy(), graph.copy()))

    def set_graph_with_weights(self, text: str, graph: ArchGraph, weights: dict | None) -> None:
        """Replace graph and weights as ONE undoable command (a Net2Net transform)."""
        self.undo.push(SnapshotCommand(self, text, self.graph.copy(), graph.copy(), weights=weights))

    def apply(self, edit: Edit) -> None:
        """A core edit command's result (explorer.edits) as one undoable command."""
        self.set_graph_with_weights(edit.text, edit.graph, edit.weights)


class SnapshotCommand(QUndoCommand):
    def __init__(
        self,
        doc: Document,
        text: str,
        before: ArchGraph,
        after: ArchGraph,
        merge_id: int = -1,
        weights=_KEEP,
    ):
        super().__init__(text)
        self.doc, self.before, self.after, self._id = doc, before, after, merge_id
        self.w_before = doc.weights
        if weights is not _KEEP:
            self.w_after = weights
        else:  # moves keep the weights; anything structural makes them stale
            same = structure_key(before) == structure_key(after)
            self.w_after = doc.weights if same else None

    def id(self) -> int:  # noqa: A003 - Qt API
        return self._id

    def mergeWith(self, other: QUndoCommand) -> bool:  # successive moves of the same nodes merge
        if other.id() != self._id or self._id < 0 or not isinstance(other, SnapshotCommand):
            return False
        self.after = other.after
        self.w_after = other.w_after
        return True

    def redo(self) -> None:
        self.doc._set(self.after.copy(), self.w_after)

    def undo(self) -> None:
        self.doc._set(self.before.copy(), self.w_before)

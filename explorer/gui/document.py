"""The edited document: one ArchGraph plus its file path; every edit is a snapshot QUndoCommand.

Snapshots (graph copies before and after) keep undo exact for any edit, ports and params included;
the graphs the editor handles (tens to a few hundred nodes) copy in well under a millisecond each.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ..arch import ArchGraph, validate
from ..arch.validate import Report


def structure_key(graph: ArchGraph) -> tuple:
    """What the metrics depend on (positions and groups excluded)."""
    nodes = tuple(
        (n, d["op"], tuple(sorted(d["params"].items(), key=lambda kv: kv[0])))
        for n, d in graph.g.nodes(data=True)
    )
    edges = tuple(sorted(graph.g.edges(data="port")))
    return nodes, edges


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

    @property
    def report(self) -> Report:
        if self._report is None:
            self._report = validate(self.graph)
        return self._report

    def _set(self, graph: ArchGraph) -> None:
        structural = structure_key(graph) != structure_key(self.graph)
        self.graph = graph
        self._report = None
        self.changed.emit(structural)

    def replace(self, graph: ArchGraph, path: str | None = None) -> None:
        """A new document (New/Open/Sample without history): clears the undo stack."""
        self.undo.clear()
        self.path = path
        self._set(graph)
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


class SnapshotCommand(QUndoCommand):
    def __init__(self, doc: Document, text: str, before: ArchGraph, after: ArchGraph, merge_id: int = -1):
        super().__init__(text)
        self.doc, self.before, self.after, self._id = doc, before, after, merge_id

    def id(self) -> int:  # noqa: A003 - Qt API
        return self._id

    def mergeWith(self, other: QUndoCommand) -> bool:  # successive moves of the same nodes merge
        if other.id() != self._id or self._id < 0 or not isinstance(other, SnapshotCommand):
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.doc._set(self.after.copy())

    def undo(self) -> None:
        self.doc._set(self.before.copy())

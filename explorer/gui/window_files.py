"""The main window's architecture files: new, open (with recent files), save, save as, and the
title that says which file is edited and whether it has unsaved changes.

A document with weights (an imported model, a Net2Net-grown net) saves them beside the
architecture as `NAME.weights.pt` (SHA-256 recorded, `explorer.tensorfile`), and opening
`NAME.json` takes `NAME.weights.pt` back when it fits the graph. Both run on a worker: the window
never waits on torch; a file that does not load or fit is said, and the graph opens without it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..arch import ArchGraph, load_arch, save_arch
from ..errors import ExplorerError

MAX_RECENT = 8


def weights_beside(arch_path: str | Path) -> Path:
    """Where the weights of the architecture file `arch_path` are kept: `NAME.weights.pt`."""
    p = Path(arch_path)
    return p.with_name(p.stem + ".weights.pt")


def _write_weights(path: Path, weights: dict):
    from ..tensorfile import save_tensors

    return lambda progress, should_stop: str(save_tensors(path, weights))


def _read_weights(path: Path, graph: ArchGraph):
    """Load and fit-check (the export's check: names and shapes) on a worker."""

    def run(progress, should_stop):
        from ..export import load_weights, model_with_weights

        state = load_weights(graph, path)
        model_with_weights(graph, state)  # raises ExportError naming what does not fit
        return state

    return run


class FileActions:
    """Mixed into MainWindow (its `doc`, `qsettings`, `ask_to_save` and view preparation)."""

    def maybe_save(self) -> bool:
        if self.doc.undo.isClean() or not self.ask_to_save:
            return True
        ans = QMessageBox.question(
            self,
            "NAS Explorer",
            "Save changes to the current architecture?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if ans == QMessageBox.StandardButton.Save:
            return self.save()
        return ans == QMessageBox.StandardButton.Discard

    def new_file(self) -> None:
        if not self.maybe_save():
            return
        g = ArchGraph("untitled")
        g.add_node("input", {"resolution": 32}, pos=(0.0, 0.0))
        g.add_node("output", pos=(380.0, 0.0))
        self.doc.replace(g)
        self._prepare_view(g, relayout=False)

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open architecture", "", "Architectures (*.json);;All (*)"
        )
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        try:
            graph = load_arch(path)
        except ExplorerError as e:
            QMessageBox.warning(self, "Cannot open", str(e))
            self.statusBar().showMessage(str(e), 8000)
            return False
        self.doc.replace(graph, str(path))
        self._prepare_view(graph, relayout=any("pos" not in d for _, d in graph.g.nodes(data=True)))
        self._add_recent(str(path))
        self.statusBar().showMessage(f"opened {path}", 4000)
        wpath = weights_beside(path)
        if wpath.is_file():
            self._load_weights_beside(str(path), wpath, graph.copy())
        return True

    def _load_weights_beside(self, path: str, wpath: Path, graph: ArchGraph) -> None:
        from .workers import first_line, run_task

        undo_at = self.doc.undo.index()

        def attach(_gen, state) -> None:
            # the same document, not edited since it was opened: the weights still fit
            if self.doc.path == path and self.doc.undo.index() == undo_at and self.doc.weights is None:
                self.doc.weights = state
                self.statusBar().showMessage(f"opened {path} with its weights ({wpath.name})", 6000)
            else:
                self.statusBar().showMessage(f"{wpath.name} not attached: the graph changed meanwhile", 8000)

        def refuse(_gen, text: str) -> None:
            msg = f"{wpath.name} not loaded (the graph opens with fresh weights): {first_line(text)}"
            self.weights_error = msg
            self.statusBar().showMessage(msg, 12000)

        task = self.weights_task = run_task(_read_weights(wpath, graph), self)
        task.result.connect(attach)
        task.error.connect(refuse)

    def import_model_dialog(self, src: str = ""):
        """File > Import Model: the dialog (returned, shown window-modal); the graph opens when the
        import succeeds, and stays as it is when it fails or is cancelled."""
        from .import_dialog import ImportDialog

        if not self.maybe_save():
            return None
        dlg = self.import_dialog = ImportDialog(self, src)
        dlg.imported.connect(self.open_imported)
        dlg.open()
        return dlg

    def open_imported(self, outcome) -> None:
        """An imported model as a new, unsaved document with its weights (so Keep stores them and
        Export writes them), laid out with its blocks collapsed; the import's report in a box."""
        from PySide6.QtWidgets import QMessageBox

        graph = outcome.result.graph
        self.doc.replace(graph, None, weights=dict(outcome.result.state_dict))
        self._prepare_view(graph, relayout=False)
        lines = list(outcome.lines)
        if outcome.warning:
            lines.append("warning: " + outcome.warning)
        box = self.import_box = QMessageBox(
            QMessageBox.Icon.Warning if outcome.warning else QMessageBox.Icon.Information,
            "Imported model",
            "\n".join(lines),
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.open()
        self.statusBar().showMessage(lines[0], 8000)

    def save(self) -> bool:
        if not self.doc.path:
            return self.save_as()
        return self._write(self.doc.path)

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save architecture", self.doc.path or "architecture.json", "Architectures (*.json)"
        )
        if not path:
            return False
        return self._write(path)

    def _write(self, path: str) -> bool:
        try:
            save_arch(self.doc.graph, path)
        except OSError as e:
            QMessageBox.warning(self, "Cannot save", f"{path}: {e}")
            return False
        self.doc.path = path
        self.doc.undo.setClean()
        self._add_recent(path)
        self._update_title()
        self.statusBar().showMessage(f"saved {path}", 4000)
        if self.doc.weights:
            self._save_weights_beside(path, dict(self.doc.weights))
        return True

    def _save_weights_beside(self, path: str, weights: dict) -> None:
        from .workers import first_line, run_task

        wpath = weights_beside(path)
        task = self.weights_task = run_task(_write_weights(wpath, weights), self)
        task.result.connect(
            lambda _g, out: self.statusBar().showMessage(f"saved {path} and its weights ({wpath.name})", 6000)
        )

        def failed(_gen, text: str) -> None:
            self.weights_error = f"weights not saved to {wpath}: {first_line(text)}"
            QMessageBox.warning(self, "Cannot save weights", self.weights_error)

        task.error.connect(failed)

    def _recent(self) -> list[str]:
        v = self.qsettings.value("recent_files", [])
        return [str(x) for x in v] if isinstance(v, list) else ([str(v)] if v else [])

    def _add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        items = [path] + [p for p in self._recent() if p != path]
        self.qsettings.setValue("recent_files", items[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        items = self._recent()
        for p in items:
            self.recent_menu.addAction(
                Path(p).name, lambda p=p: self.maybe_save() and self.open_path(p)
            ).setStatusTip(p)
        self.recent_menu.setEnabled(bool(items))

    def _update_title(self, *_args) -> None:
        name = Path(self.doc.path).name if self.doc.path else (self.doc.graph.name or "untitled")
        project = f" [{Path(self.project.path).name}]" if getattr(self, "project", None) else ""
        self.setWindowTitle(f"{name}[*]{project} \u2013 NAS Explorer")
        self.setWindowModified(not self.doc.undo.isClean())

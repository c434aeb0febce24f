"""Live view of a training job: the loss over every step of every phase, and the accuracy of the
smallest and largest subnet at each evaluation. `TrainingHistory` collects the records (the phases
laid end to end on one step axis); `TrainingPlots` draws one."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor

from ...jobs import Progress


class TrainingHistory:
    """The curves of one job, as the records arrive (a resumed job continues its curves)."""

    def __init__(self) -> None:
        self.x: list[int] = []
        self.loss: list[float] = []
        self.acc_x: list[int] = []
        self.min: list[float] = []
        self.max: list[float] = []
        self.offset = 0  # steps of the phases before the current one
        self.phase: str | None = None
        self.last = 0

    def add(self, p: Progress) -> None:
        if p.message == "evaluated":
            if "min_acc" in p.extra:
                self.acc_x.append(self.offset + p.step)
                self.min.append(p.extra["min_acc"])
                self.max.append(p.extra["max_acc"])
            return
        if p.phase != self.phase:
            if self.phase is not None:
                self.offset += self.last
            self.phase = p.phase
        self.last = p.step
        if p.loss is not None:
            self.x.append(self.offset + p.step)
            self.loss.append(p.loss)


def _marked(colour: QColor, symbol: str, name: str) -> dict:
    return dict(pen=pg.mkPen(colour, width=2), symbol=symbol, symbolSize=6, symbolBrush=colour, name=name)


class TrainingPlots(pg.GraphicsLayoutWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("w")
        self.loss_plot = self.addPlot(title="training loss")
        self.acc_plot = self.addPlot(title="accuracy (min / max subnet)")
        for pl in (self.loss_plot, self.acc_plot):
            pl.showGrid(x=True, y=True, alpha=0.25)
            pl.setMenuEnabled(False)
            pl.getAxis("bottom").setLabel("step")
            for ax in ("left", "bottom"):
                pl.getAxis(ax).setTextPen("k")
                pl.getAxis(ax).setPen("k")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen(QColor(30, 90, 200), width=2))
        self.acc_min = self.acc_plot.plot(**_marked(QColor(200, 80, 30), "o", "min"))
        self.acc_max = self.acc_plot.plot(**_marked(QColor(30, 150, 60), "s", "max"))

    def show_history(self, h: TrainingHistory) -> None:
        self.loss_curve.setData(h.x, h.loss)
        self.acc_min.setData(h.acc_x, h.min)
        self.acc_max.setData(h.acc_x, h.max)

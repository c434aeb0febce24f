"""The editor's scene items: a node (title, shape line, ports, error outline), its ports and the
edges between them. They draw the model and hand gestures to their scene; they hold no graph."""

from __future__ import annotations

import zlib

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem, QStyle

from ..arch.ops.nb201 import CATEGORY as NB201_CATEGORY

CATEGORY_COLORS = {
    "io": "#d6e4f5",
    "conv": "#dcefd8",
    "blocks": "#fbe9c6",
    "basic": "#ececec",
    "pooling": "#d9efef",
    "merge": "#f3dbe7",
    NB201_CATEGORY: "#e6dcf3",
    "group": "#fff6d8",
}
ERROR = QColor("#d62728")
SELECTED = QColor("#1f6fd1")


def category_color(cat: str) -> QColor:
    if cat in CATEGORY_COLORS:
        return QColor(CATEGORY_COLORS[cat])
    h = zlib.crc32(cat.encode()) % 360
    return QColor.fromHsl(h, 90, 220)


class PortItem(QGraphicsEllipseItem):
    R = 6.0

    def __init__(self, node: NodeItem, kind: str):
        super().__init__(-self.R, -self.R, 2 * self.R, 2 * self.R, node)
        self.node, self.kind = node, kind
        self.setBrush(QBrush(QColor("#555555") if kind == "out" else QColor("#ffffff")))
        self.setPen(QPen(QColor("#444444"), 1.2))
        self.setPos(NodeItem.W if kind == "out" else 0.0, NodeItem.H / 2)
        self.setCursor(Qt.CursorShape.CrossCursor if kind == "out" else Qt.CursorShape.ArrowCursor)
        self.setToolTip("drag to a node to connect" if kind == "out" else "input")
        self.setZValue(2)


class NodeItem(QGraphicsItem):
    W, H = 150.0, 54.0

    def __init__(self, key: str, title: str, subtitle: str, color: QColor, has_in: bool, has_out: bool):
        super().__init__()
        self.key = key
        self.title, self.subtitle, self.color = title, subtitle, color
        self.error = ""
        self.heat: QColor | None = None  # the heat overlay's fill (heat.py), over the category colour
        self.heat_text = ""
        self.edges: list[EdgeItem] = []
        self.is_group = key.startswith("group:")
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
        )
        self.in_port = PortItem(self, "in") if has_in else None
        self.out_port = PortItem(self, "out") if has_out else None
        self.setZValue(1)

    @property
    def node_id(self) -> str:
        return self.key

    def set_error(self, message: str) -> None:
        self.error = message
        self.setToolTip(message or f"{self.key}: {self.title}  {self.subtitle}")
        self.update()

    def set_heat(self, color: QColor | None, text: str = "") -> None:
        """Fill with `color` and show `text` (a share) instead of the category colour; None: off."""
        if color == self.heat and text == self.heat_text:
            return
        self.heat, self.heat_text = color, text
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(-3, -3, self.W + 6, self.H + 6)

    def paint(self, p: QPainter, option, widget=None) -> None:
        r = QRectF(0, 0, self.W, self.H)
        fill = self.heat if self.heat is not None else self.color
        dark = fill.lightnessF() < 0.5  # light text on the dark end of a heat scale
        p.setBrush(QBrush(fill))
        if self.error:
            pen = QPen(ERROR, 3.0)
        elif self.isSelected():
            pen = QPen(SELECTED, 2.5)
        else:
            pen = QPen(QColor("#7a7a7a"), 1.0)
        if self.is_group:
            pen.setStyle(Qt.PenStyle.DashLine if not self.error else Qt.PenStyle.SolidLine)
        p.setPen(pen)
        p.drawRoundedRect(r, 7, 7)
        if self.isSelected() and self.error:
            p.setPen(QPen(SELECTED, 1.5, Qt.PenStyle.DotLine))
            p.drawRoundedRect(r.adjusted(4, 4, -4, -4), 5, 5)
        f = QFont()
        f.setPointSizeF(9.5)
        f.setBold(True)
        title_rect = r.adjusted(10, 5, -10, -self.H / 2)
        wide = QFontMetricsF(f).horizontalAdvance(self.title)
        if wide > title_rect.width():  # long (imported) names: a little smaller, then elided
            f.setPointSizeF(max(8.0, 9.5 * title_rect.width() / wide))
        p.setFont(f)
        p.setPen(QColor("#f5f5f5") if dark else QColor("#1a1a1a"))
        p.drawText(
            title_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetricsF(f).elidedText(self.title, Qt.TextElideMode.ElideRight, title_rect.width()),
        )
        f.setBold(False)
        f.setPointSizeF(8.5)
        p.setFont(f)
        p.setPen(QColor("#b01b1b") if self.error else QColor("#e8e8e8" if dark else "#333333"))
        p.drawText(
            r.adjusted(10, self.H / 2, -10, -5),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            self.subtitle,
        )
        if self.heat_text:
            f.setBold(True)
            p.setFont(f)
            p.drawText(
                r.adjusted(10, self.H / 2, -8, -5),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                self.heat_text,
            )

    def mouseDoubleClickEvent(self, event) -> None:
        scene = self.scene()
        if self.is_group and hasattr(scene, "set_collapsed"):
            scene.set_collapsed(self.key[6:], False)
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event) -> None:
        show = getattr(self.scene(), "node_menu", None)  # the editor's scene (interaction.py)
        if show is not None:
            event.accept()
            show(self, event.screenPos())


class EdgeItem(QGraphicsPathItem):
    def __init__(self, src: NodeItem, dst: NodeItem, model_edges: list[tuple[str, str]], label: str = ""):
        super().__init__()
        self.src, self.dst, self.model_edges = src, dst, model_edges
        self.error = ""
        self.label = label
        src.edges.append(self)
        dst.edges.append(self)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self.set_error("")
        self.update_path()

    @property
    def key(self) -> tuple[str, str]:
        return self.src.key, self.dst.key

    def set_error(self, message: str) -> None:
        self.error = message
        self.setToolTip(message or f"{self.src.key} -> {self.dst.key}{self.label}")
        self._restyle()

    def _restyle(self) -> None:
        color = ERROR if self.error else (SELECTED if self.isSelected() else QColor("#606060"))
        pen = QPen(color, 3.0 if self.error else (2.4 if self.isSelected() else 1.6))
        if pen != self.pen():
            self.setPen(pen)

    def paint(self, painter, option, widget=None) -> None:
        # the selection colour is chosen at paint time: no itemChange override (PySide6 mishandles
        # the None values some item changes carry, which corrupts None's refcount)
        self._restyle()
        option.state &= ~QStyle.StateFlag.State_Selected
        super().paint(painter, option, widget)

    def update_path(self) -> None:
        a = self.src.scenePos() + QPointF(NodeItem.W, NodeItem.H / 2)
        b = self.dst.scenePos() + QPointF(0, NodeItem.H / 2)
        path = QPainterPath(a)
        dx = max(40.0, abs(b.x() - a.x()) * 0.5)
        if b.x() >= a.x():
            path.cubicTo(a + QPointF(dx, 0), b - QPointF(dx, 0), b)
        else:  # wrapped row: go down between rows, then back to the left
            mid_y = (a.y() + b.y()) / 2
            path.cubicTo(a + QPointF(60, 0), QPointF(a.x() + 60, mid_y), QPointF(a.x(), mid_y))
            path.lineTo(QPointF(b.x(), mid_y))
            path.cubicTo(QPointF(b.x() - 60, mid_y), b - QPointF(60, 0), b)
        self.setPath(path)

    def shape(self) -> QPainterPath:  # a wider hit area so edges are easy to click
        s = QPainterPathStroker()
        s.setWidth(10)
        return s.createStroke(self.path())

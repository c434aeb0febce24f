"""The space panel's form is generated from each space's schema: one combo per entry, values that
follow the graph, edits that re-encode it, inactive entries disabled; no knowledge of space names."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from explorer.gui.space_panel import SpacePanel
from explorer.spaces import get_space, list_spaces

from .helpers import small_graph

ALL = [s.name for s in list_spaces()]


@pytest.fixture
def panel(qtbot):
    holder = {"graph": small_graph()}
    p = SpacePanel(lambda: holder["graph"])
    qtbot.addWidget(p)

    def apply(graph, _text):  # what the main window does with a requested graph
        holder["graph"] = graph
        p.follow(graph)

    p.graphRequested.connect(apply)
    p.holder = holder
    p.resize(360, 720)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.mark.parametrize("name", ALL)
def test_form_is_the_schema_and_follows_the_graph(qtbot, panel, name, tmp_path):
    space = get_space(name)
    schema = space.schema()
    panel.space.setCurrentText(name)
    panel.seed.setValue(7)
    qtbot.mouseClick(panel.sample_btn, Qt.MouseButton.LeftButton)
    cfg = space.check(space.sample(7))
    assert panel.holder["graph"].meta["config"] == cfg
    ids = {f.widget_id(i) for f in schema.fields for i in f.indices()}
    assert set(panel.widgets) == ids
    assert panel.config_from_form() == cfg
    values = space.form_values(cfg)
    for f in schema.fields:
        for i in f.indices():
            assert panel.widgets[f.widget_id(i)].isEnabled() == space.form_active(values, f.key, i)

    # pick another value in the first active entry: the graph is re-encoded and decodes to it
    f, i = next((f, i) for f in schema.fields for i in f.indices() if space.form_active(values, f.key, i))
    combo = panel.widgets[f.widget_id(i)]
    combo.setCurrentIndex((combo.currentIndex() + 1) % combo.count())
    combo.activated.emit(combo.currentIndex())
    new = space.decode(panel.holder["graph"])
    got, before = space.form_values(new)[f.key], values[f.key]
    if i is not None:
        got, before = got[i], before[i]
    assert got == combo.currentData() != before
    assert panel.grab().save(str(tmp_path / f"space_panel_{name}.png"))


def test_a_graph_outside_the_space_disables_the_form(qtbot, panel):
    panel.space.setCurrentText(ALL[-1])
    panel.follow(small_graph())
    assert not any(w.isEnabled() for w in panel.widgets.values())
    assert not panel.mutate_btn.isEnabled()
    assert "Sample" in panel.note.text()

from pathlib import Path

import torch
from PySide6.QtCore import Qt

from explorer.arch import ArchGraph, build_model
from explorer.gui.export_dialog import ExportDialog, card_metrics
from explorer.store import Project


def small(name: str, channels: int) -> ArchGraph:
    g = ArchGraph(name)
    g.add_node("input", {"resolution": 32}, id="input")
    g.add_node("conv", {"out_channels": channels, "kernel": 3, "stride": 2}, id="conv")
    g.add_node("global_avgpool", id="pool")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", "conv", "pool", "fc", "output")
    return g


def test_export_dialog_writes_three_formats_with_parity(qtbot, tmp_path):
    project = Project(tmp_path / "p.nasx")
    g = small("trained one", 8)
    weights = tmp_path / "w.pt"
    torch.manual_seed(0)
    torch.save(build_model(g).state_dict(), weights)
    trained = project.add_candidate(g, name="trained one", weights_path=str(weights))
    fresh = project.add_candidate(small("fresh", 4), name="fresh")
    project.record_metric(trained, "proxy", "zen", 42.5)
    project.record_metric(trained, "latency", "dev-a", 3.25, unit="ms", method="lut")
    assert card_metrics(project, trained)["latency"]["dev-a"]["ms"] == 3.25

    out = tmp_path / "exported"
    dlg = ExportDialog(project, [trained, fresh], out_dir=str(out))
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.mouseClick(dlg.export_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(dlg.results), timeout=180_000)
    rows = {(r["candidate"], r["format"]): r for r in dlg.results}
    assert set(rows) == {(c, f) for c in (trained, fresh) for f in ("state-dict", "torchscript", "onnx")}
    assert all(not r["error"] for r in rows.values())
    onnx = rows[(trained, "onnx")]
    assert Path(onnx["paths"][0]).exists() and onnx["max_abs_diff"] < 1e-3
    assert not onnx["fresh"] and rows[(fresh, "onnx")]["fresh"]
    card = Path(onnx["card"]).read_text()
    assert "zen: 42.5" in card and "dev-a" in card
    assert "freshly initialised" in Path(rows[(fresh, "state-dict")]["card"]).read_text()
    sd = rows[(trained, "state-dict")]
    assert {Path(p).name for p in sd["paths"]} == {"arch.json", "weights.pt"}
    assert rows[(trained, "torchscript")]["max_abs_diff"] < 1e-4
    assert dlg.table.rowCount() == 6 and dlg.export_btn.isEnabled()

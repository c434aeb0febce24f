from explorer.arch import ArchGraph
from explorer.arch.diff import ADDED, CHANGED, REMOVED, SAME, diff_graphs, metric_deltas
from explorer.spaces import get_space


def chain(ids_ops, name="g"):
    g = ArchGraph(name)
    prev = g.add_node("input", {"channels": 3, "resolution": 16}, id="input")
    for nid, op, params in ids_ops:
        cur = g.add_node(op, params, id=nid)
        g.connect(prev, cur)
        prev = cur
    g.connect(prev, g.add_node("output", id="output"))
    return g


def test_identical_graphs():
    s = get_space("ofa-mbv3-w1.0")
    g = s.encode(s.sample(3))
    d = diff_graphs(g, g.copy())
    assert d.identical and d.count(SAME) == len(g)


def test_ofa_configs_align_by_id_and_report_params():
    s = get_space("ofa-mbv3-w1.0")
    cfg = s.sample(0)
    cfg2 = dict(cfg, ks=list(cfg["ks"]), d=list(cfg["d"]))
    cfg2["ks"][0] = 7 if cfg["ks"][0] != 7 else 3
    cfg2["d"][1] = 2 if cfg["d"][1] != 2 else 4
    a, b = s.encode(cfg), s.encode(cfg2)
    d = diff_graphs(a, b, {"complexity:params": 100.0, "latency:x": 2.0}, {"complexity:params": 110.0})
    changed = {r.a: r for r in d.rows if r.status == CHANGED}
    assert "block0" in changed
    assert changed["block0"].params["kernel"] == (cfg["ks"][0], cfg2["ks"][0])
    assert all(r.matched_by == "id" for r in d.rows if r.status != ADDED and r.b is not None and r.a == r.b)
    assert d.count(ADDED) + d.count(REMOVED) > 0  # the depth change adds or removes blocks
    m = {x.key: x for x in d.metrics}
    assert m["complexity:params"].delta == 10.0 and abs(m["complexity:params"].relative - 0.1) < 1e-9
    assert m["latency:x"].b is None and m["latency:x"].delta is None


def test_unmatched_nodes_align_by_position_and_op():
    a = chain(
        [("c1", "conv", {"out_channels": 8}), ("p", "maxpool", {}), ("c2", "conv", {"out_channels": 8})]
    )
    b = chain(
        [
            ("x1", "conv", {"out_channels": 8}),
            ("x9", "batchnorm", {}),  # inserted
            ("x2", "maxpool", {}),
            ("x3", "conv", {"out_channels": 16}),
        ]
    )
    d = diff_graphs(a, b)
    mp = d.mapping()
    assert mp["c1"] == "x1" and mp["p"] == "x2" and mp["c2"] == "x3"
    rows = [(r.a, r.b, r.status) for r in d.rows]
    # merged order: the inserted node sits between its neighbours
    assert rows.index(("c1", "x1", SAME)) < rows.index((None, "x9", ADDED)) < rows.index(("p", "x2", SAME))
    changed = [r for r in d.rows if r.status == CHANGED]
    assert len(changed) == 1 and changed[0].params["out_channels"] == (8, 16)
    assert ("x1", "x9") in d.edges_added and ("c1", "p") in d.edges_removed


def test_removed_node_and_op_change():
    a = chain([("c1", "conv", {}), ("r", "activation", {})])
    b = chain([("c1", "dwconv", {})])
    d = diff_graphs(a, b)
    rows = {r.a: r for r in d.rows if r.a}
    assert rows["c1"].status == CHANGED and rows["c1"].op_changed
    assert rows["r"].status == REMOVED
    assert "changed" in d.summary()


def test_metric_deltas_order_and_missing():
    out = metric_deltas({"latency:a": 1, "complexity:macs": 5, "proxy:zen": "bad"}, {"complexity:macs": 4})
    assert [m.key for m in out] == ["complexity:macs", "proxy:zen", "latency:a"]
    assert out[0].delta == -1 and out[1].a is None

"""ProxylessNAS binary gates: one path's weights per step, one path's memory, the two-path
alpha gradient, and the expected latency."""

import pytest
import torch
import torch.nn.functional as F

from explorer.arch import lut_keys
from explorer.proxyless import gates
from explorer.proxyless.derive import derive_graph
from explorer.proxyless.latency_loss import LatencyLoss, LatencyModel, needed_layers
from explorer.proxyless.search import ProxylessSearch
from explorer.proxyless.supernet import ProxylessSupernet, Skeleton
from explorer.proxyless.tables import SyntheticSource, TableSource

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.fixture()
def net():
    torch.manual_seed(0)
    return ProxylessSupernet(Skeleton.small(16))


def test_space_has_zero_only_where_skippable(net):
    labels = net.labels()
    assert [("zero" in lab) for lab in labels] == [False, True, False, True]  # stride-2 / width change first
    assert all(len([x for x in lab if x != "zero"]) == 6 for lab in labels)  # k{3,5,7} x e{3,6}


def test_weight_step_updates_only_the_active_path(net):
    gen = torch.Generator().manual_seed(3)
    active = gates.sample_single(net, gen)
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    F.cross_entropy(net(x), y).backward()
    for m, a in zip(net.layers, active):
        for j, op in enumerate(m.candidate_ops):
            grads = [p.grad for p in op.parameters()]
            if j == a:
                assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
            else:
                assert all(g is None for g in grads), f"path {j} of a layer got gradients (active {a})"
        assert m.alpha.grad is None
    assert net.stem.conv.weight.grad is not None


def _saved_bytes(fn) -> int:
    """Bytes of the distinct tensors autograd saves for backward while `fn` runs."""
    seen = {}

    def pack(t):
        seen[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_memory_grows_with_one_path_not_all(net):
    x = torch.randn(8, 3, 16, 16)
    net.train()
    net.set_mode("all")
    all_paths = _saved_bytes(lambda: net(x))
    gates.sample_single(net, torch.Generator().manual_seed(0))
    one = _saved_bytes(lambda: net(x))
    gates.sample_two(net, torch.Generator().manual_seed(0))
    two = _saved_bytes(lambda: net(x))
    assert all_paths > 3.0 * one, (all_paths, one)
    assert all_paths > 2.5 * two, (all_paths, two)  # arch step: one path + the other path's output


def test_two_path_gradient_is_the_softmax_derivative():
    alpha = torch.randn(7, requires_grad=True)
    pair, g = (4, 1), torch.randn(7)
    est = gates.gate_grad_to_alpha(alpha, pair, g)
    idx = torch.tensor(pair)
    (F.softmax(alpha[idx], 0) * g[idx]).sum().backward()  # d/dalpha of sum_j g_j q_j
    assert torch.allclose(est, alpha.grad, atol=1e-6)
    assert est[[0, 2, 3, 5, 6]].abs().sum() == 0


def test_arch_step_moves_only_the_pair_and_keeps_others(net):
    table = SyntheticSource().lookup(needed_layers(net))
    lat = LatencyModel(net, table)
    with torch.no_grad():
        for m in net.layers:
            m.alpha.copy_(torch.randn(m.n_choices))
    before = [m.alpha.detach().clone() for m in net.layers]
    p_before = [F.softmax(b, 0) for b in before]
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.1, betas=(0.0, 0.999))
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    loss_fn = LatencyLoss(0.05, "mul", 0.6)  # far below the fastest path: latency pressure on
    ProxylessSearch.arch_step(net, lat, loss_fn, opt, x, y, gen)
    moved = 0
    for m, b, pb in zip(net.layers, before, p_before):
        a, i = m.active, m.inactive
        others = [j for j in range(m.n_choices) if j not in (a, i)]
        assert torch.equal(m.alpha.detach()[others], b[others])
        p = F.softmax(m.alpha.detach(), 0)
        assert torch.allclose(p[others], pb[others], atol=1e-6)  # rescale: unsampled paths keep theirs
        moved += int(not torch.allclose(m.alpha.detach()[[a, i]], b[[a, i]]))
    assert moved >= 1


def test_expected_latency_equals_lut_sum_for_one_hot(net):
    table = SyntheticSource().lookup(needed_layers(net))
    lat = LatencyModel(net, table)
    for choices in ([0, 1, 2, 3], [5, 6, 4, 6], [2, 0, 5, 1]):
        onehot = [F.one_hot(torch.tensor(c), m.n_choices).float() for c, m in zip(choices, net.layers)]
        graph = derive_graph(net, choices)
        lut_sum = sum(table[k] for _, k in lut_keys(graph))
        assert float(lat.expected(onehot)) == pytest.approx(lut_sum, rel=1e-6)
        assert lat.of_choices(choices) == pytest.approx(lut_sum, rel=1e-6)
        with torch.no_grad():  # the same through alpha: a near one-hot softmax
            for c, m in zip(choices, net.layers):
                m.alpha.fill_(-30.0)
                m.alpha[c] = 30.0
        assert float(lat.expected_of(net).detach()) == pytest.approx(lut_sum, rel=1e-5)


def test_zero_path_costs_nothing_and_drops_the_layer(net):
    table = SyntheticSource().lookup(needed_layers(net))
    lat = LatencyModel(net, table)
    assert float(lat.layer_ms[1][-1]) == 0.0 and net.labels()[1][-1] == "zero"
    graph = derive_graph(net, [0, 6, 0, 6])
    assert "s1_l2" not in graph and "s2_l2" not in graph and "s1_l1" in graph
    assert graph.meta["config"]["choices"] == ["k3_e3", "zero", "k3_e3", "zero"]


def test_latency_loss_forms():
    ce = torch.tensor(2.0)
    mul = LatencyLoss(10.0, "mul", 0.6)
    assert float(mul(ce, torch.tensor(5.0))) == pytest.approx(2.0)  # below target: no penalty
    assert float(mul(ce, torch.tensor(20.0))) == pytest.approx(2.0 * 2.0**0.6)
    add = LatencyLoss(10.0, "add", lam=0.5)
    assert float(add(ce, torch.tensor(20.0))) == pytest.approx(2.5)
    from explorer.errors import ExplorerError

    with pytest.raises(ExplorerError):
        LatencyLoss(-1.0)
    with pytest.raises(ExplorerError):
        LatencyLoss(1.0, "log")


def test_missing_keys_are_reported(net):
    from explorer.errors import ExplorerError
    from explorer.latency.lut import LutDevice
    from explorer.proxyless.tables import LutDeviceSource

    layers = needed_layers(net)
    with pytest.raises(ExplorerError, match="lacks"):
        TableSource({}, "empty").lookup(layers)
    remote = LutDevice("phone", {}, {"hardware": "x"}, local=False)
    with pytest.raises(ExplorerError, match="geometry"):
        LutDeviceSource(remote).lookup(layers)
    full = LutDevice("phone", {k: {"mean": 1.0} for k in layers}, {"hardware": "x"}, local=False)
    assert set(LutDeviceSource(full).lookup(layers).values()) == {1.0}

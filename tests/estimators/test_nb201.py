"""One-shot supernet and SMASH hypernetwork for NB201: exact sub-paths, weight shapes, learning."""

from __future__ import annotations

import random

import pytest
import torch

from explorer.arch import build_model
from explorer.data import load_builtin_cifar, normalize
from explorer.estimators._common import Split
from explorer.estimators.oneshot_nb201 import (
    NB201Supernet,
    OneShotConfig,
    OneShotJob,
    load_supernet,
    random_ops,
    score_archs,
)
from explorer.estimators.smash import SmashConfig, SmashJob, load_smash, new_smash
from explorer.estimators.smash import score_archs as smash_scores
from explorer.spaces import get_space
from explorer.spaces.nb201 import NB201Space, arch_str_of

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|"


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def tiny_split() -> Split:
    """64 train / 32 held-out real CIFAR images cropped to 16x16 (the NB201 nets pool globally)."""
    xtr, ytr = load_builtin_cifar("train")
    xte, yte = load_builtin_cifar("test")
    return Split(
        normalize(xtr[:64, 8:24, 8:24]),
        torch.as_tensor(ytr[:64]),
        normalize(xte[:32, 8:24, 8:24]),
        torch.as_tensor(yte[:32]),
        "test",
    )


def _perturb_bn(net: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.normal_(generator=g)
                m.bias.normal_(generator=g)


@pytest.mark.parametrize("C,N", [(4, 1), (16, 5)])
def test_supernet_path_equals_standalone(C, N):
    torch.manual_seed(0)
    net = NB201Supernet(C, N)
    _perturb_bn(net, 1)
    net.eval()
    space = get_space("nb201") if (C, N) == (16, 5) else NB201Space(channels=C, cells_per_stage=N)
    rng = random.Random(5)
    archs = [ALL_CONV] + [arch_str_of(random_ops(rng)) for _ in range(3 if N == 1 else 1)]
    x = torch.randn(2, 3, 16, 16)
    for a in archs:
        model = build_model(space.encode({"arch_str": a}))
        missing = model.load_state_dict(net.subnet_state(a), strict=True)
        assert not missing.missing_keys
        model.eval()
        with torch.no_grad():
            assert (model(x) - net(x, a)).abs().max().item() <= 1e-5


def test_supernet_extract_keeps_weights():
    net = NB201Supernet(4, 1)
    graph, state = net.extract(ALL_CONV)
    assert graph.meta["config"]["arch_str"] == ALL_CONV
    w = net.edges["s2c0_e01"]["nor_conv_3x3"].conv.weight
    assert torch.equal(state["layers.s2c0_e01.conv.weight"], w)
    assert "layers.s2c0_e01.conv.weight" in state and "layers.s2c0_e12.conv.weight" in state


def test_oneshot_job_trains_scores_and_saves(tiny_split, tmp_path):
    cfg = OneShotConfig(C=4, N=1, steps=3, batch_size=16, calib_images=32)
    seen = []
    job = OneShotJob(cfg, tiny_split, archs=[ALL_CONV], checkpoint=tmp_path / "os.pt")
    result = job.run(seen.append, lambda: False)
    assert len(result["losses"]) == 3 and len(result["scores"]) == 1
    assert 0.0 <= result["scores"][0]["val_acc"] <= 1.0
    assert {p.phase for p in seen} == {"oneshot-train", "oneshot-score"}
    net, cfg2 = load_supernet(tmp_path / "os.pt")
    assert cfg2 == cfg
    again = score_archs(net, [ALL_CONV], tiny_split, calib_images=32)
    assert again[0]["val_acc"] == pytest.approx(result["scores"][0]["val_acc"])


def test_smash_generates_right_shapes_for_every_sampled_cell():
    cfg = SmashConfig(C=4, N=2, hidden=8)
    net = new_smash(cfg)
    space = NB201Space(channels=4, cells_per_stage=2)
    rng = random.Random(0)
    for _ in range(25):
        ops = random_ops(rng)
        gen = net.generate(ops)
        shapes = {
            k[len("layers.") : -len(".conv.weight")]: v.shape
            for k, v in build_model(space.encode({"arch_str": arch_str_of(ops)})).state_dict().items()
            if k.endswith(".conv.weight") and "_e" in k
        }
        assert {k: tuple(v.shape) for k, v in gen.items()} == {k: tuple(v) for k, v in shapes.items()}
    # weights depend on the whole architecture, not only on the edge's own op
    a = net.generate(ALL_CONV)["s1c0_e01"]
    b = net.generate(ALL_CONV.replace("skip_connect~0", "none~0"))["s1c0_e01"]
    assert not torch.allclose(a, b)


def test_smash_training_loss_falls(tiny_split, tmp_path):
    cfg = SmashConfig(C=8, N=1, hidden=16, steps=30, batch_size=32, lr=3e-3, seed=0)
    rng = random.Random(1)
    probe = [arch_str_of(random_ops(rng)) for _ in range(3)] + [ALL_CONV]
    fixed = Split(tiny_split.train_x, tiny_split.train_y, tiny_split.train_x, tiny_split.train_y, "train")
    job = SmashJob(cfg, tiny_split, checkpoint=tmp_path / "smash.pt")
    before = smash_scores(new_smash(cfg), probe, fixed)
    job.run(lambda p: None, lambda: False)
    after = smash_scores(job.net, probe, fixed)
    mean = lambda rows: sum(r["val_loss"] for r in rows) / len(rows)  # noqa: E731
    assert mean(after) < mean(before) - 0.05
    net, _ = load_smash(tmp_path / "smash.pt")
    assert smash_scores(net, [ALL_CONV], fixed)[0]["val_loss"] == pytest.approx(
        after[-1]["val_loss"], rel=1e-5
    )

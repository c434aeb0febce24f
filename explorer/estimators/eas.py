"""EAS-style estimation (Cai et al., arXiv 1707.04873): a briefly trained parent grows children with
function-preserving Net2Net actions; each child is fine-tuned for a few steps from the inherited
weights and scored on held-out images, which is far cheaper than training it from scratch.

EAS chooses actions with an RL meta-controller; here the actions are enumerated (or given) and all
children are scored, which is the estimation part of EAS without the controller. The parent is
also fine-tuned for the same number of steps, so a child's gain is measured at equal extra budget.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

import torch

from ..arch import build_model, count_complexity
from ..arch.graph import ArchGraph
from ..data import resize
from ..progress import Progress, ProgressFn, StopFn, never_stop, no_progress
from ._common import EstimatorError, Split, model_accuracy, train_steps
from .net2net import candidate_actions, load_weights, net2deeper, net2wider


@dataclass
class EASConfig:
    parent_steps: int = 100
    child_steps: int = 20
    batch_size: int = 64
    lr: float = 0.05
    child_lr: float = 0.01
    max_children: int = 6
    noise: float = 1e-3  # Net2Wider symmetry breaking for the children that get trained
    seed: int = 0


@dataclass
class EASResult:
    parent: dict
    parent_finetuned: dict
    children: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    data: str = ""

    def to_dict(self) -> dict:
        strip = lambda d: {k: v for k, v in d.items() if k not in ("graph", "state")}  # noqa: E731
        return {
            "parent": strip(self.parent),
            "parent_finetuned": strip(self.parent_finetuned),
            "children": [strip(c) for c in self.children],
            "config": self.config,
            "data": self.data,
        }

    def best(self) -> dict | None:
        return max(self.children, key=lambda c: c["val_acc"], default=None)


def apply_action(graph: ArchGraph, state: dict, action: dict, noise: float = 0.0, seed: int = 0):
    """One Net2Net action {"action": "widen", "node", "width"} or {"action": "deepen", "node"[, "kernel"]}."""
    kind = action.get("action")
    if kind == "widen":
        return net2wider(graph, state, action["node"], int(action["width"]), noise=noise, seed=seed)
    if kind == "deepen":
        g, s, _ = net2deeper(graph, state, action["node"], kernel=int(action.get("kernel", 3)))
        return g, s
    raise EstimatorError(f"unknown Net2Net action {kind!r} (widen or deepen)")


def _describe(action: dict) -> str:
    if action["action"] == "widen":
        return f"widen {action['node']} to {action['width']}"
    return f"deepen after {action['node']}"


def _data_for(graph: ArchGraph, split: Split) -> Split:
    c, r, _ = graph.input_shape
    if c != 3:
        raise EstimatorError(f"EAS trains on RGB images: the graph takes {c} input channels")
    return Split(resize(split.train_x, r), split.train_y, resize(split.val_x, r), split.val_y, split.source)


def _train(model, data: Split, steps: int, lr: float, cfg: EASConfig, seed: int, phase: str, progress, stop):
    model.train()
    train_steps(
        lambda xb, step: model(xb),
        model.parameters(),
        data.train_x,
        data.train_y,
        steps=steps,
        batch_size=cfg.batch_size,
        lr=lr,
        seed=seed,
        phase=phase,
        progress=progress,
        should_stop=stop,
    )
    acc, loss = model_accuracy(model, data.val_x, data.val_y)
    return acc, loss


def eas_estimate(
    graph: ArchGraph,
    split: Split,
    cfg: EASConfig | None = None,
    *,
    state: dict | None = None,
    actions: list[dict] | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> EASResult:
    """Train the parent (from `state` if given, else a seeded init) for `parent_steps`, grow each
    action's child, fine-tune it `child_steps` and score it on the held-out images."""
    cfg = cfg or EASConfig()
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    data = _data_for(graph, split)
    model = build_model(graph, seed=cfg.seed) if state is None else load_weights(graph, state)
    n_out = model.output_shape
    if len(n_out) != 1 or n_out[0] <= int(split.train_y.max()):
        raise EstimatorError(f"the network must output one logit per class (>= 10), it outputs {n_out}")
    acc, loss = _train(
        model, data, cfg.parent_steps, cfg.lr, cfg, cfg.seed, "eas-parent", progress, should_stop
    )
    parent_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    parent = {"label": "parent", "val_acc": acc, "val_loss": loss, "params": count_complexity(graph).params}
    if actions is None:
        actions = candidate_actions(graph)
        random.Random(cfg.seed).shuffle(actions)
        actions = actions[: cfg.max_children]
    ft = load_weights(graph, parent_state)
    acc, loss = _train(
        ft, data, cfg.child_steps, cfg.child_lr, cfg, cfg.seed + 1, "eas-parent-ft", progress, should_stop
    )
    parent_ft = {"label": "parent + fine-tune", "val_acc": acc, "val_loss": loss, "params": parent["params"]}
    children = []
    for i, action in enumerate(actions, start=1):
        g2, s2 = apply_action(graph, parent_state, action, noise=cfg.noise, seed=cfg.seed + i)
        child = load_weights(g2, s2)
        acc0, loss0 = model_accuracy(child, data.val_x, data.val_y)
        acc, loss = _train(
            child, data, cfg.child_steps, cfg.child_lr, cfg, cfg.seed + 1, "eas-child", None, should_stop
        )
        children.append(
            {
                "label": _describe(action),
                "action": dict(action),
                "inherited_acc": acc0,
                "val_acc": acc,
                "val_loss": loss,
                "params": count_complexity(g2).params,
                "graph": g2,
                "state": {k: v.detach().clone() for k, v in child.state_dict().items()},
            }
        )
        progress(Progress(phase="eas-children", step=i, total=len(actions), message=_describe(action)))
    return EASResult(parent, parent_ft, children, asdict(cfg), split.source)


class EASJob:
    """Background job wrapper of `eas_estimate`."""

    def __init__(self, graph: ArchGraph, split: Split, cfg: EASConfig, state=None, actions=None):
        self.graph, self.split, self.cfg, self.state, self.actions = graph, split, cfg, state, actions

    def run(self, progress: ProgressFn, should_stop: StopFn) -> EASResult:
        return eas_estimate(
            self.graph,
            self.split,
            self.cfg,
            state=self.state,
            actions=self.actions,
            progress=progress,
            should_stop=should_stop,
        )


def state_from_model(model: torch.nn.Module) -> dict:
    """A detached copy of a model's state_dict (what the Net2Net transforms take)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}

"""Evolutionary search under a latency constraint (OFA's `EvolutionFinder`), as a job.

Population of feasible configs; each generation keeps the top `parent_ratio` as parents and
makes children: `mutation_ratio` of them by mutation (each block's kernel / expand and each
stage's depth resampled with `mutate_prob`, the resolution with `resolution_mutate_prob`), the
rest by uniform crossover of two parents. Infeasible candidates (latency above the constraint)
are resampled. Accuracy comes from any batch callable (official predictor, trained MLP, or
BN-recalibrated validation accuracy of supernet subnets).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from explorer.errors import ExplorerError
from explorer.progress import Cancelled, Progress, ProgressFn, StopFn, never_stop, no_progress
from explorer.spaces.ofa_geometry import DEPTHS, EXPANDS, KERNELS, N_BLOCKS, N_STAGES


@dataclass
class ConfigOps:
    """Sampling, mutation and crossover of OFA configs over given choices (resolutions of the LUT)."""

    resolutions: Sequence[int]
    kernels: Sequence[int] = KERNELS
    expands: Sequence[int] = EXPANDS
    depths: Sequence[int] = DEPTHS

    def sample(self, rng: random.Random) -> dict:
        return {
            "ks": [rng.choice(self.kernels) for _ in range(N_BLOCKS)],
            "e": [rng.choice(self.expands) for _ in range(N_BLOCKS)],
            "d": [rng.choice(self.depths) for _ in range(N_STAGES)],
            "r": rng.choice(list(self.resolutions)),
        }

    def mutate(self, cfg: dict, rng: random.Random, prob: float, r_prob: float) -> dict:
        out = {"ks": list(cfg["ks"]), "e": list(cfg["e"]), "d": list(cfg["d"]), "r": cfg["r"]}
        if rng.random() < r_prob:
            out["r"] = rng.choice(list(self.resolutions))
        for i in range(N_BLOCKS):
            if rng.random() < prob:
                out["ks"][i] = rng.choice(self.kernels)
            if rng.random() < prob:
                out["e"][i] = rng.choice(self.expands)
        for s in range(N_STAGES):
            if rng.random() < prob:
                out["d"][s] = rng.choice(self.depths)
        return out

    def crossover(self, a: dict, b: dict, rng: random.Random) -> dict:
        return {
            "ks": [rng.choice(p) for p in zip(a["ks"], b["ks"])],
            "e": [rng.choice(p) for p in zip(a["e"], b["e"])],
            "d": [rng.choice(p) for p in zip(a["d"], b["d"])],
            "r": rng.choice((a["r"], b["r"])),
        }


@dataclass
class SearchResult:
    config: dict
    accuracy: float
    latency_ms: float
    history: list[float] = field(default_factory=list)  # best accuracy after each generation
    evaluated: int = 0

    def as_dict(self) -> dict:
        return {
            "config": self.config,
            "accuracy": self.accuracy,
            "latency_ms": self.latency_ms,
            "history": self.history,
            "evaluated": self.evaluated,
        }


@dataclass
class EvolutionSearch:
    ops: ConfigOps
    accuracy_fn: Callable[[list[dict]], list[float]]
    latency_fn: Callable[[dict], float]
    constraint_ms: float
    population: int = 100
    generations: int = 500
    parent_ratio: float = 0.25
    mutation_ratio: float = 0.5
    mutate_prob: float = 0.1
    resolution_mutate_prob: float = 0.5
    seed: int = 0
    max_tries: int = 10000

    def _feasible(self, make: Callable[[], dict]) -> tuple[dict, float]:
        for _ in range(self.max_tries):
            cfg = make()
            ms = self.latency_fn(cfg)
            if ms <= self.constraint_ms:
                return cfg, ms
        raise ExplorerError(
            f"no subnet under {self.constraint_ms} ms after {self.max_tries} tries; relax the constraint"
        )

    def run(self, progress: ProgressFn = no_progress, should_stop: StopFn = never_stop) -> SearchResult:
        if self.population < 2 or self.generations < 0:
            raise ExplorerError("population must be >= 2 and generations >= 0")
        rng = random.Random(self.seed)
        n_mut = int(round(self.mutation_ratio * self.population))
        n_par = max(1, int(round(self.parent_ratio * self.population)))
        children = [self._feasible(lambda: self.ops.sample(rng)) for _ in range(self.population)]
        accs = self.accuracy_fn([c for c, _ in children])
        pop = [(a, c, ms) for a, (c, ms) in zip(accs, children)]
        evaluated = len(pop)
        best = max(pop, key=lambda t: t[0])
        history: list[float] = []
        t0 = time.perf_counter()
        for gen in range(1, self.generations + 1):
            if should_stop():
                raise Cancelled(f"search cancelled at generation {gen}")
            parents = sorted(pop, key=lambda t: t[0], reverse=True)[:n_par]
            if parents[0][0] > best[0]:
                best = parents[0]
            history.append(best[0])
            children = []
            for _ in range(n_mut):
                par = parents[rng.randrange(n_par)][1]
                children.append(
                    self._feasible(
                        lambda p=par: self.ops.mutate(p, rng, self.mutate_prob, self.resolution_mutate_prob)
                    )
                )
            for _ in range(self.population - n_mut):
                a, b = parents[rng.randrange(n_par)][1], parents[rng.randrange(n_par)][1]
                children.append(self._feasible(lambda a=a, b=b: self.ops.crossover(a, b, rng)))
            accs = self.accuracy_fn([c for c, _ in children])
            evaluated += len(children)
            pop = parents + [(acc, c, ms) for acc, (c, ms) in zip(accs, children)]
            dt = time.perf_counter() - t0
            progress(
                Progress(
                    phase="search",
                    step=gen,
                    total=self.generations,
                    eta_s=(self.generations - gen) * dt / gen,
                    message=f"best {best[0]:.4f} at {best[2]:.2f} ms",
                    extra={"best_accuracy": best[0], "best_latency_ms": best[2]},
                )
            )
        final = max(pop, key=lambda t: t[0])
        if final[0] > best[0]:
            best = final
        return SearchResult(best[1], float(best[0]), float(best[2]), history, evaluated)

"""Fuzz the architecture loader, validator and `arch info|validate [--json]` with N inputs.

Each input is a mutated real file (OFA subnet, NB201 network, hand-drawn chain) or arbitrary JSON
(tests/arch_fuzzing.py makes them; the suite runs a few hundred through hypothesis). Every input
goes through load_arch + validate and three in-process CLI runs; it counts as

  accepted          loads and is a valid graph (info exit 0, validate exit 0)
  invalid graph     loads, and `arch validate` names the problems (exit 1; info exits 2)
  rejected cleanly  the loader refuses it with a one-line ExplorerError (exit 2)
  crash             any other exception or exit code (3 = internal error), or exit 2 without one line
  hang              over --timeout seconds (SIGALRM)
  invalid JSON      a --json output that a strict parser refuses (NaN, Infinity, garbage)

    python benchmarks/fuzz_arch.py [--n 10000] [--seed 0] [--timeout 10] [--show 5]
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.arch_fuzzing import check_file, make_input  # noqa: E402


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def classify(path: str) -> tuple[str, list[str]]:
    problems, outcome = check_file(path)
    if any("not strict JSON" in p for p in problems):
        return "invalid JSON", problems
    if problems:
        return "crash", problems
    return {"rejected": "rejected cleanly"}.get(outcome, outcome), []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per input before it counts as a hang"
    )
    ap.add_argument("--show", type=int, default=5, help="problems to print per kind")
    args = ap.parse_args()
    use_alarm = hasattr(signal, "setitimer")
    if use_alarm:
        signal.signal(signal.SIGALRM, _alarm)
    counts = collections.Counter()
    examples = collections.defaultdict(list)
    slowest = (0.0, -1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz-arch-") as tmp:
        path = os.path.join(tmp, "a.json")
        for i in range(args.n):
            rng = random.Random(f"{args.seed}:{i}")
            Path(path).write_bytes(make_input(rng))
            t = time.perf_counter()
            try:
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, args.timeout)
                kind, problems = classify(path)
            except Hang:
                kind, problems = "hang", [f"input {i}: over {args.timeout:g} s"]
            finally:
                if use_alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            dt = time.perf_counter() - t
            slowest = max(slowest, (dt, i))
            counts[kind] += 1
            if problems and len(examples[kind]) < args.show:
                examples[kind].append(f"input {i} (--seed {args.seed}): " + "; ".join(problems))
    wall = time.perf_counter() - t0
    print(f"python {platform.python_version()}, {args.n:,} inputs, seed {args.seed}, {wall:.1f} s")
    per = wall / max(1, args.n) * 1e3
    print(f"{per:.1f} ms per input (4 paths each); slowest {slowest[0] * 1e3:.0f} ms (#{slowest[1]})")
    for kind in ("accepted", "invalid graph", "rejected cleanly", "crash", "hang", "invalid JSON"):
        print(f"  {kind:17s} {counts[kind]:7,}")
    for kind, lines in examples.items():
        for line in lines:
            print(f"[{kind}] {line}")
    sys.exit(1 if counts["crash"] or counts["hang"] or counts["invalid JSON"] else 0)


if __name__ == "__main__":
    main()

"""The command line of each background job kind (`python -m explorer ...`): the app's jobs panel
starts exactly these, so every job the GUI runs has a CLI twin a user can script. Pure (no Qt)."""

from __future__ import annotations

import json
from pathlib import Path

from ..spaces import default_space
from ..store import Project
from .status import BN, EXTRACT, PROXYLESS, SEARCH, TRAIN


def proxyless_spaces() -> tuple[str, ...]:
    """What a layer table must cover to serve a ProxylessNAS search: ProxylessNAS's own key format
    and the space its derived graphs carry (each name is written once, in its own module)."""
    from ..latency.ofa_yaml import PROXYLESS_FORMAT
    from ..proxyless.derive import SPACE

    return (PROXYLESS_FORMAT, SPACE)


def package_root() -> str:
    """The folder holding the `explorer` package (put on a child's PYTHONPATH)."""
    return str(Path(__file__).resolve().parents[2])


def run_root(project: Project) -> Path:
    return project.path.with_name(project.path.name + ".runs")


def train_argv(params: dict, run_dir: Path, resume: bool) -> list[str]:
    a = [
        "supernet", "train",
        "-o", str(run_dir / "supernet.pt"),
        "--space", params.get("space") or default_space(supports_supernet=True).name,
        "--data", params.get("data", "builtin"),
        "--device", params.get("device", "cpu"),
        "--batch-size", str(params.get("batch_size", 64)),
        "--resolutions", *[str(r) for r in params.get("resolutions", [32])],
        "--save-every", str(params.get("save_every", 20)),
        "--progress-jsonl", str(run_dir / "progress.jsonl"),
        "--json", "--quiet",
    ]  # fmt: skip
    if params.get("phases"):
        a += ["--phases", ",".join(params["phases"])]
    if params.get("epochs") is not None:
        a += ["--epochs", str(params["epochs"])]
    if params.get("subset"):
        a += ["--subset", str(params["subset"])]
    if params.get("val_subset"):
        a += ["--val-subset", str(params["val_subset"])]
    if params.get("no_eval"):
        a.append("--no-eval")
    if params.get("init"):
        a += ["--init", params["init"]]
    if resume:
        a.append("--resume")
    return a


def extract_argv(params: dict, run_dir: Path) -> list[str]:
    a = [
        "supernet", "extract", params["checkpoint"],
        "--config", json.dumps(params["config"]),
        "-o", str(run_dir / "subnet"), "--json",
    ]  # fmt: skip
    if params.get("recalibrate"):
        a += [
            "--recalibrate-bn",
            params["recalibrate"],
            "--calib-images",
            str(params.get("calib_images", 500)),
        ]
    return a


def search_argv(params: dict, run_dir: Path) -> list[str]:
    a = [
        "search", "evolution",
        "--constraint", str(params["constraint"]),
        "--latency", params.get("latency", "note10"),
        "--accuracy", params.get("accuracy", "official"),
        "--population", str(params.get("population", 100)),
        "--generations", str(params.get("generations", 100)),
        "--seed", str(params.get("seed", 0)),
        "-o", str(run_dir / "result.json"), "--json",
    ]  # fmt: skip
    if params.get("space"):  # else the CLI's default: the official predictor's space
        a += ["--space", params["space"]]
    if params.get("supernet"):
        a += ["--supernet", params["supernet"]]
    return a


def proxyless_argv(params: dict, run_dir: Path, resume: bool) -> list[str]:
    """`search proxyless` for a new search, or `--resume RUN_DIR` (the run's own config)."""
    if resume:
        a = ["search", "proxyless", "--resume", str(run_dir), "--json"]
        if params.get("lut_dir"):
            a += ["--lut-dir", str(params["lut_dir"])]
        return a
    a = [
        "search", "proxyless",
        "--device", str(params.get("device", "local")),
        "--target-ms", str(params["target_ms"]),
        "--epochs", str(params.get("epochs", 10)),
        "--warmup-epochs", str(params.get("warmup_epochs", 2.0)),
        "--resolution", str(params.get("resolution", 32)),
        "--data", str(params.get("data", "builtin")),
        "--batch-size", str(params.get("batch_size", 64)),
        "--arch-lr", str(params.get("arch_lr", 0.02)),
        "--arch-every", str(params.get("arch_every", 1)),
        "--seed", str(params.get("seed", 0)),
    ]  # fmt: skip
    if params.get("loss", "mul") == "add":
        a += ["--additive", "--lambda", str(params.get("lam", 0.1))]
    else:
        a += ["--beta", str(params.get("beta", 0.6))]
    if params.get("train_images"):
        a += ["--train-images", str(params["train_images"])]
    sk = params.get("skeleton")
    if sk == "small":
        from ..proxyless.supernet import Skeleton

        sk = Skeleton.small().to_dict()  # its resolution is overridden by --resolution
    if isinstance(sk, dict):
        a += ["--skeleton", json.dumps(sk)]
    elif sk and sk != "default":
        a += ["--skeleton", str(sk)]  # a JSON file or JSON text
    if params.get("measure") is False:
        a.append("--no-measure")
    if params.get("lut_dir"):
        a += ["--lut-dir", str(params["lut_dir"])]
    return a + ["-o", str(run_dir), "--json"]


def job_argv(kind: str, params: dict, run_dir: Path, resume: bool = False) -> list[str]:
    """The `python -m explorer` arguments of a job of `kind` (resume: continue a stopped one)."""
    if kind == TRAIN:
        return train_argv(params, run_dir, resume)
    if kind in (EXTRACT, BN):
        return extract_argv(params, run_dir)
    if kind == SEARCH:
        return search_argv(params, run_dir)
    if kind == PROXYLESS:
        return proxyless_argv(params, run_dir, resume)
    raise ValueError(f"unknown job kind {kind!r}")


def proxyless_devices() -> list[str]:
    """Devices a ProxylessNAS search can use: this machine, the registry's layer tables of the
    ProxylessNAS spaces, and the synthetic MACs-proportional table (not a real device)."""
    names = ["local"]
    try:
        from ..latency.registry import list_devices

        for d in list_devices():
            spaces = d.get("spaces") or []
            if d.get("kind") == "lut" and any(s in proxyless_spaces() for s in spaces):
                names.append(d["name"])
    except Exception:  # noqa: BLE001 - an unreadable registry leaves the built-in choices
        pass
    return names + ["synthetic"]

"""Job kinds, their statuses, and the one-line text a job row shows (the jobs list, the CLI)."""

from __future__ import annotations

TRAIN, EXTRACT, BN, SEARCH = "train", "extract", "bn-recalibrate", "search"
PROXYLESS = "proxyless"
ACTIVE = ("queued", "running")
RESUMABLE = ("cancelled", "interrupted", "failed")
RESUMABLE_KINDS = (TRAIN, PROXYLESS)


def resumable(job: dict) -> bool:
    return job["kind"] in RESUMABLE_KINDS and job["status"] in RESUMABLE


def final_status(*, cancelled: bool, result: dict | None, code: int | None) -> str:
    """How a job whose process ended came out: `code` is its exit code (None for a process this
    window did not start), `result` what it printed as JSON."""
    if cancelled or (result is not None and "stopped" in result):
        return "cancelled"  # a SIGTERM'd ProxylessNAS search reports where it stopped
    if result is not None and code in (0, None):
        return "done"
    if code is None:
        return "interrupted"  # an attached process that ended without a result
    return "failed"


def _done_text(job: dict) -> str | None:
    r = job.get("result")
    if job["status"] != "done" or not r:
        return None
    if job["kind"] in (EXTRACT, BN):
        return f"candidate #{r.get('candidate_id')}"
    if job["kind"] == SEARCH:
        acc, lat = r.get("accuracy", 0), r.get("latency_ms", 0)
        return f"acc {acc:.4f}, latency {lat:.2f} → #{r.get('candidate_id')}"
    if job["kind"] == PROXYLESS:
        meas = (r.get("measured") or {}).get("measured_ms")
        text = f"predicted {r.get('predicted_ms', 0):.3f} ms"
        text += f", measured {meas:.3f} ms" if meas is not None else ""
        return text + f" (target {r.get('target_ms', 0):g}) → #{r.get('candidate_id')}"
    return None


def progress_text(job: dict) -> str:
    """What a finished job produced, else where it is (phase, step, loss, ETA) and its error."""
    done = _done_text(job)
    if done is not None:
        return done
    p = job.get("progress") or {}
    if not p:
        return job.get("error") or ""
    bits = [f"{p.get('phase', '')} {p.get('step', 0)}/{p.get('total') or '?'}"]
    if p.get("loss") is not None:
        bits.append(f"loss {p['loss']:.3f}")
    if job["kind"] == PROXYLESS and p.get("message"):
        bits.append(p["message"])
    if p.get("eta_s") is not None and job["status"] == "running":
        bits.append(f"ETA {p['eta_s']:.0f}s")
    if job.get("error"):
        bits.append(job["error"])
    return "  ".join(bits)

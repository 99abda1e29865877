"""Peak memory and time of ONE GMPG policy-gradient step, by policy batch and memory lever.

    OMP_NUM_THREADS=1 python benchmarks/gmpg_memory.py [--config PATH] [--out PATH]
        [--max-seconds 180] [--grad-steps N] [--net HIDDEN:DEPTH]
        [--settings BATCH:MICRO:CKPT,...]

``--net 256:3`` sets the policy's width and depth (default: the config's; the committed
tables in docs/benchmarks/gmpg-cost.md used 256:3, the 291k-parameter net the published
configs had until they took the published 512:4, 1.63M parameters); ``--grad-steps`` overrides the
config's ``algo.grad_steps`` (the solver steps of both differentiable passes);
``--settings`` replaces the default list of (policy batch, micro-batch, checkpointing)
settings, e.g. ``256:256:0,1024:256:0``; a micro-batch of ``default`` leaves the config's
own ``algo.policy_microbatch`` (the shipped config with no memory settings).

Uses the model and algo settings of a shipped GMPG config (default
published/gmpg/vp/halfcheetah-medium) at halfcheetah sizes (17-D states, 6-D actions),
with random weights and random states: memory and time do not depend on the data. Each
setting runs in a fresh subprocess (one thread) that builds the algorithm, reads its RSS
high-water mark (``ru_maxrss``), runs one ``policy_update`` (both differentiable ODE
passes, backward, clip, Adam step) and reads it again; the difference is the step's peak
memory. The critic update is not part of the step.

Settings whose time (or, without micro-batching, memory), extrapolated linearly in the
batch from the settings measured before them, would exceed ``--max-seconds`` (or the
memory available) are skipped and recorded with the reason. The time of one step at the
published batch of 40,960 states is extrapolated as (seconds per 256-state micro-batch,
measured at the largest micro-batched batch) x 160. Times are wall and CPU seconds; CPU
seconds are the better guide on a busy machine.

RSS counts what glibc's malloc keeps after PyTorch frees it. With micro-batches that
retention, not live tensors, is what still grows with the batch: on this machine, batch 512
in micro-batches of 128 peaked 40% above batch 128 by default, and at the same peak as
batch 128 with ``MALLOC_MMAP_THRESHOLD_=131072`` (which also lowered the peak and made the
step about 1.8x slower).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from genpolicy.experiments.jsonio import compact_json

CONFIG = "published/gmpg/vp/halfcheetah-medium"
OBS_DIM, ACT_DIM = 17, 6
PUBLISHED_BATCH = 40_960
MICRO = 256
DEFAULT_MICRO = -1  # --settings BATCH:default:CKPT: the config's own policy_microbatch
# (policy batch, policy_microbatch, grad_checkpoint), in the order they run
SETTINGS: list[tuple[int, int, bool]] = [
    (256, 0, False),
    (1024, 0, False),
    (256, MICRO, False),
    (1024, MICRO, False),
    (4096, MICRO, False),
    (256, MICRO, True),
    (1024, MICRO, True),
]
MEMORY_HEADROOM_MB = 3000.0  # left free for everything else on the machine


def parse_net(text: str) -> tuple[int, int]:
    """``--net HIDDEN:DEPTH`` as two positive ints (argparse turns the error into one line)."""
    try:
        hidden, depth = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 256:3, got {text!r}") from None
    if hidden < 1 or depth < 1:
        raise argparse.ArgumentTypeError(f"width and depth must be >= 1, got {text!r}")
    return hidden, depth


def child(
    config: str, batch: int, micro: int, ckpt: bool, grad_steps: int | None, net: str = ""
) -> dict[str, Any]:
    """Build the algorithm, run one policy-gradient step, report memory and time."""
    import torch

    from genpolicy.rl.algos import build_algorithm
    from genpolicy.training.config import load

    torch.set_num_threads(1)
    over: dict[str, Any] = {
        "algo.pretrain_steps": 0,  # start in the policy-gradient phase (pi <- mu)
        "algo.policy_batch": batch,
        "algo.grad_checkpoint": ckpt,
    }
    if micro != DEFAULT_MICRO:
        over["algo.policy_microbatch"] = micro
    if grad_steps is not None:
        over["algo.grad_steps"] = grad_steps
    if net:
        hidden, depth = parse_net(net)
        over.update({"model.hidden": hidden, "model.depth": depth})
    if load(config).algo.batch_size < batch:  # a policy batch is drawn from the critic's
        over["algo.batch_size"] = batch
    cfg = load(config, over)
    torch.manual_seed(0)
    algo: Any = build_algorithm(cfg.algo, cfg.model, cfg.critic, OBS_DIM, ACT_DIM, "cpu")
    obs = torch.randn(batch, OBS_DIM)
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    micro_used = algo.cfg.policy_microbatch
    info = algo.policy_update(obs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "peak_mb": (peak_kb - base_kb) / 1024,
        "rss_after_build_mb": base_kb / 1024,
        "wall_s": wall,
        "cpu_s": cpu,
        "finite": bool(all(torch.isfinite(v) for v in info.values())),
        "policy_microbatch_used": micro_used,
    }


def available_mb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


def predict(
    done: list[dict[str, Any]], batch: int, micro: int, ckpt: bool, key: str
) -> float | None:
    """``key`` ("cpu_s" or "peak_mb") at ``batch``, scaled linearly from the largest measured
    setting with the same levers (for time, else the same ``grad_checkpoint``); None when
    nothing comparable ran yet.

    Memory is predicted only without micro-batching (with it, it follows the micro-batch).
    """
    if key == "peak_mb" and micro:
        return None
    same = [r for r in done if r["status"] == "ok" and r["grad_checkpoint"] == ckpt]
    alike = [r for r in same if (r["policy_microbatch"] > 0) == (micro > 0)]
    same = alike or ([] if key == "peak_mb" else same)  # prefer the same micro-batching
    if not same:
        return None
    ref = max(same, key=lambda r: r["policy_batch"])
    return ref[key] * batch / ref["policy_batch"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=CONFIG)
    ap.add_argument("--out", default="benchmarks/results/gmpg_memory.json")
    ap.add_argument("--max-seconds", type=float, default=180.0)
    ap.add_argument("--grad-steps", type=int, default=None, help="override algo.grad_steps")
    ap.add_argument(
        "--net",
        default=None,
        type=lambda t: parse_net(t) and t,  # checked here, passed on as written
        help="HIDDEN:DEPTH of the policy (default: config's)",
    )
    ap.add_argument("--settings", default="", help="BATCH:MICRO:CKPT,... (default: the list)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        batch, micro, ckpt = json.loads(args.child)
        print(json.dumps(child(args.config, batch, micro, ckpt, args.grad_steps, args.net or "")))
        return 0
    settings = SETTINGS
    if args.settings:
        try:
            settings = [
                (int(b), DEFAULT_MICRO if m == "default" else int(m), bool(int(c)))
                for b, m, c in (item.split(":") for item in args.settings.split(","))
            ]
        except ValueError:
            ap.error(f"--settings must look like 256:256:0,1024:256:1, got {args.settings!r}")

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows: list[dict[str, Any]] = []
    for batch, micro, ckpt in settings:
        row: dict[str, Any] = {"policy_batch": batch, "policy_microbatch": micro}
        row["grad_checkpoint"] = ckpt
        t_pred = predict(rows, batch, micro, ckpt, "cpu_s")
        m_pred = predict(rows, batch, micro, ckpt, "peak_mb")
        free = available_mb() - MEMORY_HEADROOM_MB
        if t_pred is not None and t_pred > args.max_seconds:
            row.update(
                status="skipped", reason=f"predicted {t_pred:.0f} s > {args.max_seconds:g} s"
            )
        elif m_pred is not None and m_pred > free:
            row.update(status="skipped", reason=f"predicted {m_pred:.0f} MB > {free:.0f} MB free")
        else:
            spec = json.dumps([batch, micro, ckpt])
            cmd = [sys.executable, __file__, "--config", args.config, "--child", spec]
            if args.grad_steps is not None:
                cmd += ["--grad-steps", str(args.grad_steps)]
            if args.net:
                cmd += ["--net", args.net]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                row.update(status="failed", reason=f"exit {proc.returncode}: {tail}")
            else:
                row.update(status="ok", **json.loads(proc.stdout.strip().splitlines()[-1]))
        rows.append(row)
        print(json.dumps(row), flush=True)

    per_micro = {}
    for ckpt in (False, True):
        mb = [
            r
            for r in rows
            if r["status"] == "ok"
            and r.get("policy_microbatch_used", r["policy_microbatch"]) == MICRO
        ]
        mb = [r for r in mb if r["grad_checkpoint"] == ckpt]
        if mb:
            ref = max(mb, key=lambda r: r["policy_batch"])
            k = ref["policy_batch"] / MICRO
            per_micro["checkpoint" if ckpt else "plain"] = {
                "measured_at_batch": ref["policy_batch"],
                "cpu_s_per_microbatch": ref["cpu_s"] / k,
                "wall_s_per_microbatch": ref["wall_s"] / k,
                f"cpu_s_at_{PUBLISHED_BATCH}": ref["cpu_s"] / k * PUBLISHED_BATCH / MICRO,
                f"wall_s_at_{PUBLISHED_BATCH}": ref["wall_s"] / k * PUBLISHED_BATCH / MICRO,
            }
    result = {
        "config": args.config,
        "net": args.net or "config",
        "grad_steps": args.grad_steps,
        "obs_dim": OBS_DIM,
        "act_dim": ACT_DIM,
        "threads": 1,
        "torch": __import__("torch").__version__,
        "machine": platform.processor() or platform.machine(),
        "peak_mb": "ru_maxrss after one policy_update minus ru_maxrss after building",
        "extrapolation": f"seconds per {MICRO}-state micro-batch x {PUBLISHED_BATCH // MICRO}",
        "settings": rows,
        "published_batch": per_micro,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(compact_json(result))

    print(f"\n{'batch':>6} {'micro':>6} {'ckpt':>5} {'peak MB':>9} {'wall s':>8} {'cpu s':>8}")
    for r in rows:
        head = f"{r['policy_batch']:>6} {r['policy_microbatch']:>6} {str(r['grad_checkpoint']):>5}"
        if r["status"] == "ok":
            print(f"{head} {r['peak_mb']:>9.0f} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f}")
        else:
            print(f"{head}  {r['status']}: {r['reason']}")
    for name, p in per_micro.items():
        print(
            f"{name}: {p['cpu_s_per_microbatch']:.2f} cpu s per {MICRO}-state micro-batch -> "
            f"one step at batch {PUBLISHED_BATCH}: ~{p[f'cpu_s_at_{PUBLISHED_BATCH}']:.0f} cpu s "
            f"(~{p[f'wall_s_at_{PUBLISHED_BATCH}']:.0f} wall s)"
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

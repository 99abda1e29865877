"""GenerativeRL's own GMPO on a D4RL-layout dataset, evaluated as genpolicy evaluates.

Two steps, two interpreters:

    # 1. with genpolicy's python: the dataset's arrays (a file, a suite name, a Minari id)
    python benchmarks/parity/peers/grl_gmpo.py export hopper-medium-v5 hopper-medium.npz
    # 2. with the peer's virtualenv (benchmarks/parity/peers/generativerl.sh VENV) and
    #    GenerativeRL's source on the path
    PYTHONPATH=GRL_SOURCE VENV/bin/python benchmarks/parity/peers/grl_gmpo.py run \\
        hopper-medium.npz --seed 0 --out results.jsonl

Step 2 builds GenerativeRL's ``GMPOPolicy`` (its I-CFM, GVP or VP-SDE model, ``--model``,
with the networks, probability path and ODE sampler of its D4RL configs
``grl_pipelines/benchmark/gmpo/<model>/<env>_<level>.py``) and runs the phases of its
``GMPOAlgorithm.train`` without the wandb, checkpoint and simulator plumbing (and without
its ``torch.compile`` wrapper, which its training never calls: it calls the wrapped
module's methods and submodules, which run uncompiled):

* behaviour model: none (the configs train it for 0 epochs; GMPO does not use it);
* critic: ``--critic-steps`` IQL updates with GenerativeRL's ``GMPOCritic.v_loss`` (expectile
  ``tau`` on the target double-Q minimum) and ``iql_q_loss`` (double Q towards
  r + gamma (1 - d) V(s')), V then Q stepped per batch, Polyak target update;
* policy: the critic frozen, ``--policy-steps`` updates of
  ``policy_optimization_loss_by_advantage_weighted_regression``: the model's per-sample
  matching loss weighted by min(exp(beta (Q(s, a) - V(s))), weight_clamp).

Batches are drawn as its replay buffer draws them: shuffled epochs without replacement, the
last batch of an epoch short. The data is what its ``GPD4RLTensorDictDataset`` makes of a
D4RL file: ``d4rl.qlearning_dataset``'s transitions (the rows that end in a time-out and the
last row dropped), raw observations (GenerativeRL normalises no observations for D4RL) and
IQL's locomotion reward scale, r * 1000 / (max - min) over the dataset's episode returns.

Evaluation is genpolicy's (``genpolicy.envs.evaluate.evaluate``, imported from this
checkout: it needs only numpy and Gymnasium): ``--eval-episodes`` episodes of the Gymnasium
environment seeded ``eval_seed + i``, the sampling noise seeded with ``eval_seed`` (the
training RNG is left as it was), D4RL-normalised scores. The policy acts as GenerativeRL's
evaluation does: one sample of the model's ODE on the grid ``linspace(0, 1, t_span)`` (Euler),
the action unclipped (``--clip-actions`` clips it to [-1, 1] as genpolicy's policies do).
Prints, and appends to ``--out``, one JSON line per evaluation.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
EVAL_SEED = 100_000  # genpolicy's train.eval_seed

# (beta, weight_clamp, critic epochs) of GenerativeRL's GMPO configs
# grl_pipelines/benchmark/gmpo/{icfm,gvp,vpsde}/<task>_<level>.py (the same for the three
# models); every one trains the critic and the policy at batch 4096, lr 3e-4 and 1e-4, for
# the critic epochs below and 10,000 policy epochs, with t_span 32 and 10 evaluation episodes
GRL_CONFIGS: dict[tuple[str, str], tuple[float, float, int]] = {
    ("hopper", "medium"): (16.0, 1000.0, 5000),
    ("hopper", "medium_replay"): (6.0, 100.0, 5000),
    ("hopper", "medium_expert"): (1.0, 100.0, 5000),
    ("walker2d", "medium"): (8.0, 100.0, 5000),
    ("walker2d", "medium_replay"): (8.0, 10000.0, 5000),
    ("walker2d", "medium_expert"): (1.0, 100.0, 2000),
    ("halfcheetah", "medium"): (8.0, 100.0, 5000),
    ("halfcheetah", "medium_replay"): (4.0, 400.0, 12000),
    ("halfcheetah", "medium_expert"): (1.0, 100.0, 2000),
}


def level_of(dataset: str) -> str | None:
    """The D4RL level a dataset name has ('hopper-medium-replay-v2' -> 'medium_replay')."""
    name = dataset.lower()
    for level in ("medium_replay", "medium_expert", "medium"):
        if re.search(level.replace("_", "[-_]") + r"(?![a-z])", name):
            return level
    return None


# --------------------------------------------------------------------------- export
def export(spec: str, out: str) -> None:
    from genpolicy.data.readers import D4RL_KEYS, read_raw
    from genpolicy.envs.gym_envs import guess_env_id

    raw = read_raw(spec)
    arrays = {k: raw.arrays[k] for k in D4RL_KEYS if k in raw.arrays}
    env_id = raw.env_id or guess_env_id(raw.name) or ""
    np.savez(out, **arrays, name=np.str_(raw.name), env_id=np.str_(env_id))
    print(f"wrote {out}: {len(arrays['actions'])} rows of {raw.name} ({env_id or 'no env id'})")


# --------------------------------------------------------------------------- data
def qlearning_transitions(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``d4rl.qlearning_dataset``'s transitions of D4RL arrays: every row but the last and
    those that end in a time-out (D4RL takes s' from the next row, which after a time-out
    starts another episode; the file's ``next_observations``, where present, equal it on
    every row kept and not terminal)."""
    n = len(d["actions"])
    keep = np.ones(n, dtype=bool)
    keep[-1] = False
    if "timeouts" in d:
        keep &= ~d["timeouts"].astype(bool)
    obs = d["observations"].astype(np.float32)
    nxt = d["next_observations"] if "next_observations" in d else np.roll(obs, -1, axis=0)
    return {
        "observations": obs[keep],
        "actions": d["actions"].astype(np.float32)[keep],
        "next_observations": nxt.astype(np.float32)[keep],
        "rewards": d["rewards"].astype(np.float32).reshape(-1)[keep],
        "terminals": d["terminals"].astype(np.float32).reshape(-1)[keep],
    }


def iql_reward_scale(rewards: np.ndarray, terminals: np.ndarray, max_steps: int = 1000) -> float:
    """1000 / (max - min) episode return, episodes split as GenerativeRL's
    ``GPD4RLDataset.return_range`` splits the transitions (at a terminal or every
    ``max_steps`` rows; the unfinished last one left out)."""
    returns, ret, length = [], 0.0, 0
    for r, d in zip(rewards, terminals, strict=True):
        ret += float(r)
        length += 1
        if d or length == max_steps:
            returns.append(ret)
            ret, length = 0.0, 0
    return 1000.0 / (max(returns) - min(returns))


# --------------------------------------------------------------------------- the peer
def policy_config(model: str, obs_dim: int, act_dim: int, device: str = "cpu") -> dict:
    """GenerativeRL's ``GPPolicy`` config of its GMPO D4RL configs for ``model``."""
    import grl_compat  # on sys.path: run() puts this folder there

    t_dim = 32
    backbone = {
        "type": "TemporalSpatialResidualNet",
        "args": {
            "hidden_sizes": [512, 256, 128],
            "output_dim": act_dim,
            "t_dim": t_dim,
            "condition_dim": obs_dim,
            "condition_hidden_dim": 32,
            "t_condition_hidden_dim": 128,
        },
    }
    t_encoder = {
        "type": "GaussianFourierProjectionTimeEncoder",
        "args": {"embed_dim": t_dim, "scale": 30.0},
    }
    gen = {
        "device": device,
        "x_size": act_dim,
        "solver": {"type": "ODESolver", "args": {"library": "torchdiffeq"}},  # Euler
    }
    if model == "icfm":
        model_type, loss = "IndependentConditionalFlowModel", "flow_matching"
        gen |= {"path": {"sigma": 0.1}}
        fn = "velocity_function"
    elif model == "gvp":
        model_type, loss = "DiffusionModel", "flow_matching"
        gen |= {"path": {"type": "gvp"}, "reverse_path": {"type": "gvp"}}
        fn = "velocity_function"
    elif model == "vpsde":
        model_type, loss = "DiffusionModel", "score_matching"
        path = {"type": "linear_vp_sde", "beta_0": 0.1, "beta_1": 20.0}
        gen |= {"path": path, "reverse_path": path}
        fn = "noise_function"
    else:
        raise ValueError(f"unknown model {model!r}")
    gen["model"] = {"type": fn, "args": {"t_encoder": t_encoder, "backbone": backbone}}
    mlp = {"output_size": 1, "activation": "relu"}
    return {
        "device": device,
        "model_type": model_type,
        "model_loss_type": loss,
        "model": gen,
        "critic": {
            "device": device,
            "q_alpha": 1.0,
            "DoubleQNetwork": grl_compat.double_q(act_dim + obs_dim),
            "VNetwork": {
                "backbone": {
                    "type": "MultiLayerPerceptron",
                    "args": {"hidden_sizes": [obs_dim, 256, 256], **mlp},
                }
            },
        },
    }


def epoch_batches(n: int, batch: int):
    """Index batches as GenerativeRL's ``SamplerWithoutReplacement`` draws them: a new
    shuffle (the global torch RNG) each epoch, the last batch of an epoch short."""
    import torch

    while True:
        perm = torch.randperm(n)
        yield from perm.split(batch)


def peer_commit() -> str | None:
    """The commit of the GenerativeRL checkout that ``grl`` is imported from, if it is one."""
    import grl

    src = Path(grl.__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True
        )
    except OSError:
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def run(a: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    import grl_compat  # noqa: F401  (before grl: see its docstring)
    import torch
    from easydict import EasyDict
    from grl.algorithms.gmpo import GMPOPolicy
    from grl.utils import set_seed

    sys.path.insert(0, str(ROOT))
    from genpolicy.envs.evaluate import evaluate, score_task
    from genpolicy.envs.registry import task_of

    warnings.filterwarnings("ignore", message="To copy construct from a tensor")
    torch.set_num_threads(a.threads)
    with np.load(a.data) as z:
        raw = {k: z[k] for k in z.files}
    dataset = str(raw.pop("name", Path(a.data).stem))
    env_id = a.env or str(raw.pop("env_id", ""))
    if not env_id:
        raise SystemExit("the data names no environment; pass --env (e.g. Hopper-v5)")
    task = score_task(env_id, dataset)
    level = level_of(dataset)
    beta, clamp, _ = GRL_CONFIGS.get((task_of(env_id) or "", level or ""), (None, None, 0))
    beta = a.beta if a.beta is not None else beta
    clamp = a.weight_clamp if a.weight_clamp is not None else clamp
    if beta is None or clamp is None:
        raise SystemExit(
            f"GenerativeRL has no GMPO config for {env_id} / {dataset}; pass --beta and "
            "--weight-clamp"
        )

    d = qlearning_transitions(raw)
    scale = iql_reward_scale(d["rewards"], d["terminals"])
    s = torch.from_numpy(d["observations"])
    act = torch.from_numpy(d["actions"])
    s2 = torch.from_numpy(d["next_observations"])
    r = torch.from_numpy(d["rewards"] * scale).view(-1, 1)
    done = torch.from_numpy(d["terminals"]).view(-1, 1)
    n, obs_dim, act_dim = len(s), s.shape[1], act.shape[1]

    set_seed(a.seed)  # as GMPOAlgorithm(seed=...): random, numpy and torch
    policy = GMPOPolicy(EasyDict(policy_config(a.model, obs_dim, act_dim)))
    critic = policy.critic
    t_span = torch.linspace(0.0, 1.0, a.t_span)
    base = {
        "peer": "GenerativeRL",
        "peer_commit": peer_commit(),
        "algo": "gmpo",
        "model": a.model,
        "env": env_id,
        "dataset": dataset,
        "seed": a.seed,
        "batch": a.batch,
        "beta": beta,
        "weight_clamp": clamp,
        "critic_steps": a.critic_steps,
    }
    print(
        f"{n} transitions, reward scale {scale:.4f}; beta {beta}, weight clamp {clamp}",
        file=sys.stderr,
    )

    # critic: V then Q per batch, then the target (GMPOAlgorithm.train's critic phase)
    q_opt = torch.optim.Adam(critic.q.parameters(), lr=a.critic_lr)
    v_opt = torch.optim.Adam(critic.v.parameters(), lr=a.critic_lr)
    batches = epoch_batches(n, a.batch)
    t0 = time.perf_counter()
    for _ in range(a.critic_steps):
        i = next(batches)
        v_loss, next_v = critic.v_loss(state=s[i], action=act[i], next_state=s2[i], tau=a.tau)
        v_opt.zero_grad(set_to_none=True)
        v_loss.backward()
        v_opt.step()
        q_loss, _, _ = critic.iql_q_loss(
            state=s[i],
            action=act[i],
            reward=r[i],
            done=done[i],
            next_v=next_v,
            discount=a.discount,
        )
        q_opt.zero_grad(set_to_none=True)
        q_loss.backward()
        q_opt.step()
        with torch.no_grad():
            for p, pt in zip(critic.q.parameters(), critic.q_target.parameters(), strict=True):
                pt.copy_(a.momentum * p + (1 - a.momentum) * pt)
    critic_s = time.perf_counter() - t0
    critic_ups = a.critic_steps / critic_s if a.critic_steps else None
    if a.critic_steps:
        print(
            f"critic: {a.critic_steps} updates in {critic_s:.1f} s ({critic_ups:.2f}/s), "
            f"v_loss {v_loss.item():.4f}, q_loss {q_loss.item():.4f}",
            file=sys.stderr,
        )

    def act_fn(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = policy.sample(state=torch.as_tensor(obs, dtype=torch.float32), t_span=t_span)
        return (out.clamp(-1.0, 1.0) if a.clip_actions else out).numpy()

    def log_eval(step: int, train_s: float) -> None:
        with torch.random.fork_rng():  # evaluation leaves the training RNG as it was
            torch.manual_seed(a.eval_seed)
            res = evaluate(act_fn, env_id, a.eval_episodes, a.eval_seed, task)
        row = {
            **base,
            "step": step,
            "return_mean": res.return_mean,
            "return_std": res.return_std,
            "score_mean": res.score_mean,
            "score_std": res.score_std,
            "episodes": res.episodes,
            "eval_s": round(res.seconds, 2),
            "updates_per_s": round(step / train_s, 3) if train_s > 0 else None,
            "critic_updates_per_s": round(critic_ups, 3) if critic_ups else None,
            "clip_actions": a.clip_actions,
        }
        line = json.dumps(row)
        print(line, flush=True)
        if a.out:
            with open(a.out, "a") as f:
                f.write(line + "\n")

    # policy: the advantage-weighted matching loss, the critic frozen (a new replay buffer,
    # so a new epoch, as in GMPOAlgorithm.train)
    p_opt = torch.optim.Adam(policy.guided_model.parameters(), lr=a.policy_lr)
    batches = epoch_batches(n, a.batch)
    train_s = 0.0
    for step in range(1, a.policy_steps + 1):
        t0 = time.perf_counter()
        i = next(batches)
        loss, _, _, _ = policy.policy_optimization_loss_by_advantage_weighted_regression(
            act[i], s[i], beta=beta, weight_clamp=clamp
        )
        p_opt.zero_grad()
        loss.backward()
        p_opt.step()
        train_s += time.perf_counter() - t0
        if step == a.policy_steps or (a.eval_every and step % a.eval_every == 0):
            log_eval(step, train_s)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the dataset's arrays (needs genpolicy)")
    e.add_argument("dataset", help="a D4RL-layout .hdf5, a suite name or a Minari id")
    e.add_argument("out", help="the .npz to write")
    r = sub.add_parser("run", help="train and evaluate the peer's GMPO (needs GenerativeRL)")
    r.add_argument("data", help="the .npz of the export step")
    r.add_argument("--env", help="Gymnasium id (default: the dataset's, e.g. Hopper-v5)")
    r.add_argument("--model", choices=("icfm", "gvp", "vpsde"), default="icfm")
    r.add_argument("--critic-steps", type=int, default=50_000)
    r.add_argument("--policy-steps", type=int, default=50_000)
    r.add_argument("--batch", type=int, default=4096)
    r.add_argument("--policy-lr", type=float, default=1e-4)
    r.add_argument("--critic-lr", type=float, default=3e-4)
    r.add_argument("--beta", type=float, help="default: the peer's config for the dataset")
    r.add_argument("--weight-clamp", type=float, help="default: as --beta")
    r.add_argument("--tau", type=float, default=0.7, help="the V expectile")
    r.add_argument("--discount", type=float, default=0.99)
    r.add_argument("--momentum", type=float, default=0.005, help="the Q target's update")
    r.add_argument("--t-span", type=int, default=32, help="ODE grid points (t_span - 1 steps)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--eval-every", type=int, default=10_000, help="policy updates; 0: at the end")
    r.add_argument("--eval-episodes", type=int, default=10)
    r.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    r.add_argument("--clip-actions", action="store_true", help="clip actions to [-1, 1]")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", help="append the JSON lines to this file")
    a = p.parse_args()
    export(a.dataset, a.out) if a.cmd == "export" else run(a)


if __name__ == "__main__":
    main()

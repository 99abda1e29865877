"""Train the 'medium' SAC behaviour policy for one task, D4RL style.

SAC (stable-baselines3 defaults for MuJoCo) is trained online and stopped as soon as its
stochastic evaluation return reaches the target (about one third of the expert's return).
What it writes:

- ``--weights``: the actor's state dict (``latent_pi.*``, ``mu.*``, ``log_std.*``), a few
  hundred kB, committed under ``genpolicy/assets/`` and used by ``genpolicy dataset make-suite``;
- ``--buffer``: the replay buffer up to the stopping point as an ``.npz`` (D4RL keys), the
  source of the ``medium-replay`` dataset;
- ``--log``: a JSON record of every evaluation (step, mean/std return, wall time).

Run one at a time, one thread::

    OMP_NUM_THREADS=1 python scripts/train_medium_sac.py --env Hopper-v5 --target 1200 \
        --weights datasets/sac/sac_medium_hopper-v5.pt \
        --buffer datasets/sac/sac_buffer_hopper-v5.npz --log logs/sac_hopper.json

Existing ``--weights`` and ``--buffer`` files are kept unless ``--overwrite`` is given.
The ``--stop-file`` or a SIGTERM (``kill PID``) stops the run early;
it still writes weights, buffer and log, with ``"reached_target": false``.
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback


def evaluate(model: SAC, env_id: str, episodes: int, seed: int) -> list[float]:
    env = gym.make(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=False)
            obs, reward, term, trunc, _ = env.step(action)
            total += float(reward)
            done = term or trunc
        returns.append(total)
    env.close()
    return returns


class StopAtTarget(BaseCallback):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__()
        self.args = args
        self.history: list[dict[str, float]] = []
        self.start = time.time()
        self.reached = False
        self.terminated = False  # set by SIGTERM: stop at the next step, keep what there is

    def _on_step(self) -> bool:
        a = self.args
        if self.terminated:
            print(f"SIGTERM: stopping at step {self.num_timesteps}", flush=True)
            return False
        if self.num_timesteps % a.eval_every != 0:
            return True
        assert isinstance(self.model, SAC)
        rets = evaluate(self.model, a.env, a.eval_episodes, seed=10_000 + self.num_timesteps)
        rec = {
            "step": self.num_timesteps,
            "mean": float(np.mean(rets)),
            "std": float(np.std(rets)),
            "wall_s": time.time() - self.start,
        }
        self.history.append(rec)
        print(json.dumps(rec), flush=True)
        Path(a.log).write_text(json.dumps({"args": vars(a), "evals": self.history}, indent=1))
        if rec["mean"] >= a.target:
            self.reached = True
            return False
        if a.stop_file and Path(a.stop_file).exists():  # out of time: stop here, keep all
            print(f"stop file {a.stop_file} found: stopping before the target", flush=True)
            return False
        return True


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", required=True)
    p.add_argument("--target", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=5000)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--max-steps", type=int, default=400_000)
    p.add_argument("--weights", required=True)
    p.add_argument("--buffer", required=True)
    p.add_argument("--log", required=True)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing --weights/--buffer files (refused otherwise)",
    )
    p.add_argument(
        "--stop-file",
        default="logs/STOP_SAC",
        help="stop early (saving weights and buffer) once this file exists",
    )
    args = p.parse_args()
    for f in (args.weights, args.buffer):
        if Path(f).exists() and not args.overwrite:
            raise SystemExit(
                f"{f} exists: pass --overwrite to replace it, or write elsewhere "
                "(the committed weights are genpolicy/assets/sac_medium_*.pt)"
            )
    torch.set_num_threads(1)
    for f in (args.weights, args.buffer, args.log):
        Path(f).parent.mkdir(parents=True, exist_ok=True)

    env = gym.make(args.env)
    model = SAC("MlpPolicy", env, seed=args.seed, verbose=0, device="cpu")
    cb = StopAtTarget(args)
    signal.signal(signal.SIGTERM, lambda *_: setattr(cb, "terminated", True))
    model.learn(total_timesteps=args.max_steps, callback=cb)
    steps = model.num_timesteps

    actor = {k: v.detach().cpu().clone() for k, v in model.actor.state_dict().items()}
    torch.save(actor, args.weights)

    buf = model.replay_buffer
    assert buf is not None
    n = buf.buffer_size if buf.full else buf.pos
    dones = buf.dones[:n, 0].astype(bool)
    timeouts = buf.timeouts[:n, 0].astype(bool)
    np.savez_compressed(
        args.buffer,
        observations=buf.observations[:n, 0].astype(np.float32),
        actions=buf.actions[:n, 0].astype(np.float32),
        rewards=buf.rewards[:n, 0].astype(np.float32),
        next_observations=buf.next_observations[:n, 0].astype(np.float32),
        terminals=dones & ~timeouts,
        timeouts=timeouts,
    )
    summary = {
        "args": vars(args),
        "evals": cb.history,
        "steps": steps,
        "reached_target": cb.reached,
        "buffer_transitions": int(n),
        "wall_s": time.time() - cb.start,
    }
    Path(args.log).write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "evals"}), flush=True)


if __name__ == "__main__":
    main()

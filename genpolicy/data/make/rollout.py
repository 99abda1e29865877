"""Roll a behaviour policy out in a Gymnasium task and record D4RL-layout transitions."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from genpolicy.data.make.agents import BehaviourPolicy


def collect(
    env_id: str,
    policy: BehaviourPolicy,
    size: int,
    *,
    seed: int,
    deterministic: bool = False,
    action_noise: float = 0.0,
    progress: bool = True,
    desc: str | None = None,
) -> dict[str, np.ndarray]:
    """``size`` transitions from consecutive episodes (the first reset uses ``seed``; later
    resets continue the environment's seeded generator). The final transition, cut by the
    budget, is marked as a timeout unless it terminated. ``action_noise`` > 0 adds
    N(0, action_noise^2) to every action (a generator seeded by ``seed``), clipped to the
    action box: the recorded action is the one executed."""
    from genpolicy.envs.gym_envs import make_env

    env = make_env(env_id, seed)
    obs_dim = int(np.prod(env.observation_space.shape))
    act_dim = int(np.prod(env.action_space.shape))
    observations = np.empty((size, obs_dim), np.float32)
    next_observations = np.empty((size, obs_dim), np.float32)
    actions = np.empty((size, act_dim), np.float32)
    rewards = np.empty(size, np.float32)
    terminals = np.zeros(size, bool)
    timeouts = np.zeros(size, bool)
    low, high = env.action_space.low, env.action_space.high
    noise_rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    bar = tqdm(total=size, desc=desc or env_id, disable=not progress, unit="step", mininterval=2)
    try:
        for i in range(size):
            action = policy(obs, deterministic)
            if action_noise > 0:
                action = np.clip(
                    action + action_noise * noise_rng.standard_normal(action.shape), low, high
                ).astype(np.float32)
            nxt, reward, term, trunc, _ = env.step(action)
            observations[i] = obs
            actions[i] = action
            rewards[i] = reward
            next_observations[i] = nxt
            terminals[i] = term
            timeouts[i] = trunc and not term
            if term or trunc:
                obs, _ = env.reset()
            else:
                obs = nxt
            if i % 1000 == 999:
                bar.update(1000)
        bar.update(size - bar.n)
    finally:
        bar.close()
        env.close()
    if size and not terminals[-1]:
        timeouts[-1] = True
    return {
        "observations": observations,
        "actions": actions,
        "rewards": rewards,
        "next_observations": next_observations,
        "terminals": terminals,
        "timeouts": timeouts,
    }

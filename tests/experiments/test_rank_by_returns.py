"""benchmarks/rank_by_returns.py: its return-to-go and that its score replaces the critic's."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from helpers import script
from torch import nn

from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import create
from genpolicy.training.policy import Policy

rank = script("benchmarks/rank_by_returns.py")


def test_returns_to_go_stop_at_each_episode_end() -> None:
    rewards = np.array([1.0, 2.0, 4.0, 1.0, 1.0])
    got = rank.returns_to_go(rewards, np.array([2, 4]), gamma=0.5)
    np.testing.assert_allclose(got, [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4, 1.5, 1])
    np.testing.assert_allclose(rank.returns_to_go(rewards, np.array([4]), 1.0)[0], 9.0)


class FirstCoordinate(nn.Module):
    """A 'critic' on [obs, act] that prefers a large first action coordinate."""

    def __init__(self, obs_dim: int) -> None:
        super().__init__()
        self.obs_dim = obs_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.obs_dim : self.obs_dim + 1]


def test_ranked_by_acts_with_the_given_score() -> None:
    cfg = create("toy-gmpg", {"model.hidden": 16, "model.depth": 1, "critic.hidden": 16})
    torch.manual_seed(0)
    algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
    obs = np.zeros((200, 2), dtype=np.float32)
    first = {}
    for n in (1, 16):
        act_cfg = dataclasses.replace(cfg.algo.act, candidates=n)
        actor = rank.ranked_by(Policy(algo, cfg, {}, act_cfg), FirstCoordinate(2))
        first[n] = float(actor.act(obs)[:, 0].mean())
    assert first[16] > first[1] + 0.5, first

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

from genpolicy.data import Batch, Normalizer, OfflineDataset
from genpolicy.errors import GenpolicyError


def test_from_arrays_keeps_data_and_episode_ends(arrays):
    ds = OfflineDataset.from_arrays(**arrays, name="toy", env_id="Hopper-v5")
    assert len(ds) == 15 and ds.obs_dim == 11 and ds.act_dim == 3
    assert ds.episode_ends.tolist() == [4, 9, 14]
    np.testing.assert_array_equal(ds.observations.numpy(), arrays["observations"])
    np.testing.assert_array_equal(ds.next_observations.numpy(), arrays["next_observations"])
    assert ds.terminals.tolist() == [float(x) for x in arrays["terminals"]]
    assert ds.timeouts.sum().item() == 2
    for t in (ds.observations, ds.actions, ds.rewards, ds.terminals, ds.timeouts):
        assert t.dtype == torch.float32
    rets = ds.episode_returns()
    np.testing.assert_allclose(rets, arrays["rewards"].reshape(3, 5).sum(1), rtol=1e-6)


def test_final_row_ends_an_episode(arrays):
    arrays["timeouts"][-1] = False
    ds = OfflineDataset.from_arrays(**arrays)
    assert ds.episode_ends.tolist() == [4, 9, 14]


def test_sample_applies_normalisation_and_reward_convention(arrays):
    ds = OfflineDataset.from_arrays(**arrays, reward_convention="locomotion")
    rets = ds.episode_returns()
    assert ds.reward_scale == pytest.approx(1000.0 / (rets.max() - rets.min()))
    g = torch.Generator().manual_seed(3)
    b = ds.sample(64, generator=g)
    assert isinstance(b, Batch)
    assert b.observations.shape == (64, 11) and b.actions.shape == (64, 3)
    assert b.rewards.shape == (64,) and b.terminals.shape == (64,)
    idx = torch.randint(0, len(ds), (64,), generator=torch.Generator().manual_seed(3))
    mean = arrays["observations"].astype(np.float64).mean(0)
    std = np.maximum(arrays["observations"].astype(np.float64).std(0), 1e-3)
    obs = (arrays["observations"][idx.numpy()] - mean) / std
    np.testing.assert_allclose(b.observations.numpy(), obs, rtol=1e-4, atol=1e-5)
    nxt = (arrays["next_observations"][idx.numpy()] - mean) / std
    np.testing.assert_allclose(b.next_observations.numpy(), nxt, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        b.rewards.numpy(), arrays["rewards"][idx.numpy()] * ds.reward_scale, rtol=1e-5
    )
    np.testing.assert_array_equal(b.actions.numpy(), arrays["actions"][idx.numpy()])
    b2 = ds.sample(64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(b.observations, b2.observations)


def test_antmaze_and_none_conventions(arrays):
    ds = OfflineDataset.from_arrays(**arrays, reward_convention="antmaze")
    assert (ds.reward_scale, ds.reward_shift) == (1.0, -1.0)
    b = ds.sample(8, generator=torch.Generator().manual_seed(0))
    raw = OfflineDataset.from_arrays(**arrays, reward_convention="none", normalize_obs=False)
    b0 = raw.sample(8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(b.rewards, b0.rewards - 1.0)
    assert torch.equal(raw.normalize_obs(raw.observations), raw.observations)
    with pytest.raises(GenpolicyError, match="unknown reward convention 'mystery'"):
        OfflineDataset.from_arrays(**arrays, reward_convention="mystery")


def test_constant_std_is_clamped(arrays):
    arrays["observations"][:, 0] = 2.0
    ds = OfflineDataset.from_arrays(**arrays)
    assert ds.obs_std[0].item() == pytest.approx(1e-3)


def test_normalizer_state_round_trips_through_json(arrays):
    ds = OfflineDataset.from_arrays(**arrays, reward_convention="locomotion")
    state = json.loads(json.dumps(ds.normalizer_state()))
    assert set(state) >= {"obs_mean", "obs_std", "reward_scale", "reward_shift", "normalize_obs"}
    norm = Normalizer.from_state(state)
    x = torch.randn(4, 11)
    torch.testing.assert_close(norm.normalize_obs(x), ds.normalize_obs(x))
    assert norm.reward_scale == ds.reward_scale
    with pytest.raises(GenpolicyError, match="lacks key 'obs_std'"):
        Normalizer.from_state({"obs_mean": [0.0]})


def test_to_device_and_torch_inputs(arrays):
    tensors: dict[str, Any] = {k: torch.as_tensor(v) for k, v in arrays.items()}
    ds = OfflineDataset.from_arrays(**tensors)
    assert ds.to("cpu") is ds
    assert len(ds.to(torch.device("cpu"))) == 15
    assert "transitions=15" in repr(ds)


def test_v0_layout_derives_next_observations(arrays):
    """No timeouts and no next observations: timeouts come from the step limit, the cut
    transitions (no stored successor) are dropped, terminal ones kept."""
    obs, term = arrays["observations"], arrays["terminals"]
    ds = OfflineDataset.from_arrays(
        obs, arrays["actions"], arrays["rewards"], term, max_episode_steps=5
    )
    # episode 0 terminates (kept whole); episodes 1 and 2 lose their last transition
    assert len(ds) == 13
    assert ds.episode_ends.tolist() == [4, 8, 12]
    assert ds.terminals.tolist()[4] == 1.0 and ds.timeouts[[8, 12]].tolist() == [1.0, 1.0]
    np.testing.assert_array_equal(ds.next_observations[:4].numpy(), obs[1:5])
    np.testing.assert_array_equal(ds.next_observations[5:9].numpy(), obs[6:10])
    # without a step limit the whole file is a terminal episode then one cut episode
    ds2 = OfflineDataset.from_arrays(obs, arrays["actions"], arrays["rewards"], term)
    assert len(ds2) == 14 and ds2.episode_ends.tolist() == [4, 13]

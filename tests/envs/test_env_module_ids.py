"""Environment ids of the form ``module:Env-v0``: the module is imported before the registry
is read, so a dataset is checked against the environment it names."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from genpolicy.data import load_dataset
from genpolicy.envs.gym_envs import env_id_for, env_spaces, guess_env_id, make_env, make_vector_env
from genpolicy.errors import GenpolicyError

gym = pytest.importorskip("gymnasium")

MODULE = """
import gymnasium as gym
import numpy as np
from gymnasium import spaces


class Toy(gym.Env):
    def __init__(self):
        self.observation_space = spaces.Box(-np.inf, np.inf, (11,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(11, np.float32), {}

    def step(self, action):
        return np.zeros(11, np.float32), 1.0, False, False, {}


gym.register("Toy-v0", entry_point=Toy, max_episode_steps=7)
"""


@pytest.fixture
def mymod(tmp_path, monkeypatch):
    """A module ``mymod`` on sys.path that registers ``Toy-v0`` when imported (not yet)."""
    (tmp_path / "mymod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mymod", None)
    gym.envs.registry.pop("Toy-v0", None)
    env_spaces.cache_clear()
    yield "mymod:Toy-v0"
    sys.modules.pop("mymod", None)
    gym.envs.registry.pop("Toy-v0", None)
    env_spaces.cache_clear()


def _npz(path, arrays, **extra):
    np.savez(path, **arrays, **extra)
    return str(path)


def test_actions_outside_the_box_of_a_module_env_are_refused(tmp_path, arrays, mymod):
    arrays["actions"][2, 0] = 3.0
    p = _npz(tmp_path / "toy.npz", arrays, env_id=np.array(mymod))
    with pytest.raises(GenpolicyError, match=r"leaves the action space of mymod:Toy-v0 \[-1, 1\]"):
        load_dataset(p)
    plain = _npz(tmp_path / "plain.npz", arrays)  # the id passed in instead of stored
    with pytest.raises(GenpolicyError, match=r"action space of mymod:Toy-v0 \[-1, 1\].*row 2"):
        load_dataset(plain, env_id=mymod)


def test_a_valid_dataset_gets_the_module_envs_spaces(tmp_path, arrays, mymod):
    ds = load_dataset(_npz(tmp_path / "toy.npz", arrays), env_id=mymod)
    assert ds.env_id == mymod
    spaces = env_spaces(mymod)
    assert spaces is not None and spaces.obs_dim == 11
    np.testing.assert_array_equal(spaces.act_high, np.ones(3, np.float32))


def test_module_ids_make_envs_and_pass_as_ids(mymod):
    assert env_id_for(mymod) == mymod and guess_env_id(mymod) == mymod
    env = make_env(mymod, seed=0)
    assert env.action_space.shape == (3,)
    vec = make_vector_env(mymod, 2, seed=0)
    assert vec.reset(seed=0)[0].shape == (2, 11)


def test_an_unimportable_module_is_a_one_line_error(tmp_path, arrays):
    p = _npz(tmp_path / "a.npz", arrays)
    with pytest.raises(GenpolicyError, match="cannot import module 'no_such_mod_xyz'") as err:
        load_dataset(p, env_id="no_such_mod_xyz:Toy-v0")
    assert "\n" not in str(err.value)
    with pytest.raises(GenpolicyError, match="no_such_mod_xyz"):
        make_env("no_such_mod_xyz:Toy-v0")

from __future__ import annotations

import numpy as np
import pytest

from genpolicy.envs.gym_envs import env_id_for, guess_env_id, make_env, make_vector_env
from genpolicy.envs.registry import normalized_score, reference_returns, task_for, task_of
from genpolicy.errors import GenpolicyError


@pytest.mark.parametrize(
    "name,task_ref",
    [
        ("hopper", (-20.272305, 3234.3)),
        ("Hopper-v5", (-20.272305, 3234.3)),
        ("hopper-medium-v2", (-20.272305, 3234.3)),
        ("HalfCheetah-v5", (-280.178953, 12135.0)),
        ("halfcheetah-medium-expert-v5", (-280.178953, 12135.0)),
        ("walker2d-medium-replay-v2", (1.629008, 4592.3)),
        ("mujoco/walker2d/expert-v0", (1.629008, 4592.3)),
        ("ant-medium-v2", (-325.6, 3879.7)),
        ("antmaze-umaze-v2", (0.0, 1.0)),
    ],
)
def test_reference_returns(name, task_ref):
    assert reference_returns(name) == task_ref


def test_normalized_score():
    assert normalized_score("hopper", 3234.3) == pytest.approx(100.0)
    assert normalized_score("hopper", -20.272305) == pytest.approx(0.0)
    s = normalized_score("walker2d", np.array([1.629008, 4592.3]))
    assert isinstance(s, np.ndarray)
    np.testing.assert_allclose(s, [0.0, 100.0])
    assert normalized_score("antmaze-large-play-v2", 0.5) == pytest.approx(50.0)
    with pytest.raises(GenpolicyError, match="unknown task for score normalisation 'pong'"):
        normalized_score("pong", 1.0)


def test_env_ids():
    assert env_id_for("hopper-medium-v2") == "Hopper-v5"
    assert env_id_for("halfcheetah") == "HalfCheetah-v5"
    assert env_id_for("Walker2d-v5") == "Walker2d-v5"
    assert guess_env_id("antmaze-umaze-v2") == "genpolicy/antmaze-umaze-v2"  # not Ant-v5
    with pytest.raises(GenpolicyError, match="unknown environment 'pong'"):
        env_id_for("pong")


def test_make_env_is_seeded():
    pytest.importorskip("gymnasium")
    a, b = make_env("Hopper-v5", seed=5), make_env("Hopper-v5", seed=5)
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    v = make_vector_env("Hopper-v5", 2, seed=5)
    obs, _ = v.reset(seed=5)
    assert obs.shape == (2, 11)
    with pytest.raises(GenpolicyError, match="cannot make environment 'NoSuchEnv-v0'"):
        make_env("NoSuchEnv-v0", seed=0)


@pytest.mark.parametrize(
    "name,task",
    [
        ("AntMaze_UMaze-v4", "antmaze"),
        ("antmaze-large-diverse-v2", "antmaze"),
        ("D4RL/antmaze/umaze-v1", "antmaze"),
        ("Ant-v5", "ant"),
        ("mujoco/ant/expert-v0", "ant"),
        ("half_cheetah_medium", "halfcheetah"),
        ("elephant", None),
        ("giant-ants", None),
        ("BipedalWalker-v3", None),
        ("mydata", None),
    ],
)
def test_task_of_matches_whole_tokens(name, task):
    assert task_of(name) == task


@pytest.mark.parametrize(
    "env_id,dataset,task",
    [
        ("Hopper-v5", "mydata", "hopper"),
        ("HalfCheetah-v5", "mydata", "halfcheetah"),
        ("Walker2d-v5", "elephant", "walker2d"),
        ("Ant-v5", "elephant", "ant"),
        ("Ant-v5", "antmaze-umaze-v2", "ant"),  # the environment decides, not the file name
        ("AntMaze_UMaze-v4", "ant-medium-v2", "antmaze"),
        ("AntMaze_Large_Diverse_GR-v4", None, "antmaze"),
        ("mymod:Hopper-v5", None, "hopper"),
        ("ant_envs:Toy-v0", None, None),  # a module name is no task
        ("mymod:Toy-v0", "walker2d-medium-v2", "walker2d"),  # unknown env: the name's
        (None, "hopper-medium-v2", "hopper"),
        (None, "elephant", None),
        (None, None, None),
    ],
)
def test_task_for_prefers_the_environment(env_id, dataset, task):
    assert task_for(env_id, dataset) == task


def test_guess_env_id_ignores_substrings():
    assert guess_env_id("elephant") is None
    assert guess_env_id("my-ant-data") == "Ant-v5"

"""Run configs: round trips, overrides with type coercion, clear errors for bad keys/values."""

from __future__ import annotations

from pathlib import Path

import pytest

from genpolicy.errors import GenpolicyError
from genpolicy.training.config import RunConfig, apply_overrides, create, load
from genpolicy.training.shipped import REMOVED, builtin_names, config_names, find_config


def test_round_trip_yaml_and_json(tmp_path: Path) -> None:
    cfg = create("toy-gmpg", ["algo.beta=3", "model.path_options={sigma_min: 0.001}"])
    for name in ("c.yaml", "c.json"):
        cfg.save(tmp_path / name)
        assert load(tmp_path / name) == cfg
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_overrides_are_coerced() -> None:
    cfg = create(
        "default",
        [
            "train.steps=1e3",
            "algo.beta=16",
            "train.tensorboard=false",
            "data.env_id=none",
            "algo.act.candidates=4",
            "critic.expectile=0.9",
        ],
    )
    assert cfg.train.steps == 1000 and isinstance(cfg.train.steps, int)
    assert cfg.algo.beta == 16.0 and isinstance(cfg.algo.beta, float)
    assert cfg.train.tensorboard is False and cfg.data.env_id is None
    assert cfg.algo.act.candidates == 4 and cfg.critic.expectile == 0.9
    # switching algorithm through algo.name gives that algorithm's dataclass
    cfg = create({"algo": {"name": "iql"}}, {"algo.beta": 3})
    assert type(cfg.algo).__name__ == "IQLConfig"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["algo.betta=3"], "unknown config key 'algo.betta'"),
        (["trian.steps=3"], "unknown config key 'trian'"),
        (["train.steps=many"], "'train.steps' expects int"),
        (["train.steps=2.5"], "'train.steps' expects int"),
        (["train.progress=maybe"], "'train.progress' expects bool"),
        (["algo.name=ppo"], "unknown algo.name 'ppo'"),
        (["model.kind=gan"], "unknown model.kind 'gan'"),
        (["model.path=cosine"], "unknown model.path 'cosine'"),
        (["algo.name=gmpg", "model.kind=flowmap"], "GMPG needs likelihoods"),
        (["critic.expectile=1.5"], "critic.expectile must be in (0, 1)"),
        (["train.steps=0"], "train.steps must be >= 1"),
        (["algo.act.candidates=0"], "act.candidates must be >= 1"),
        (["train.steps"], "must look like key=value"),
        (["train.steps.x=1"], "'train.steps' is not a section"),
    ],
)
def test_bad_keys_and_values_give_clear_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(GenpolicyError) as exc:
        create("default", overrides)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bc_cannot_rank_by_q() -> None:
    with pytest.raises(GenpolicyError, match="no critic"):
        create("toy-bc", ["algo.act.candidates=8"])


def test_missing_config_names_the_builtins() -> None:
    with pytest.raises(GenpolicyError, match="no shipped config has that name"):
        load("no/such/config")


def test_apply_overrides_nests() -> None:
    d: dict = {}
    apply_overrides(d, {"a.b.c": 1})
    assert d == {"a": {"b": {"c": 1}}}


def test_builtins_are_valid() -> None:
    names = builtin_names()
    assert {"default", "toy-gmpo", "toy-gmpg", "toy-bc", "toy-iql"} <= set(names)
    for name in names:
        create(name)


def test_shipped_configs_load_by_name() -> None:
    """Every per-dataset config loads, and its name says its algorithm: published/<algo>/...,
    cpu/<dataset>-<algo>[-published], <algo>/<dataset>."""
    names = [n for n in config_names() if "/" in n]
    published = [n for n in names if n.startswith("published/")]
    assert len(published) >= 100 and len([n for n in names if n.startswith("cpu/")]) >= 30
    for name in names:
        cfg = load(name)
        folder, *_, stem = name.split("/")
        if folder == "published":
            assert name.split("/")[1] == cfg.algo.name, name
        elif folder == "cpu":
            assert stem.removesuffix("-published").endswith(f"-{cfg.algo.name}"), name
        else:
            assert folder == cfg.algo.name, name


def test_per_dataset_configs_say_where_they_come_from() -> None:
    """A published config's first line names its source; any other per-dataset config's
    first line names the benchmark that needs it."""
    for name in config_names():
        if "/" not in name or name == "gtp/toy-bandit":
            continue
        path = find_config(name)
        assert path is not None
        first = path.read_text().splitlines()[0]
        if name.startswith("published/"):
            assert any(w in first for w in ("public code", "et al.")), (name, first)
        else:
            assert "benchmarks/" in first, (name, first)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("gmpo/vp/hopper-medium", "published/gmpo/vp/hopper-medium"),
        ("gmpg/linear/walker2d-medium-replay.yaml", "published/gmpg/linear/walker2d-medium-replay"),
        ("iql/antmaze-umaze", "published/iql/antmaze-umaze"),
        ("dql/hopper-medium-expert", "published/dql/hopper-medium-expert"),
    ],
)
def test_a_moved_name_fails_with_its_new_name(old: str, new: str) -> None:
    with pytest.raises(GenpolicyError) as exc:
        load(old)
    assert str(exc.value) == f"config {old!r} is now {new!r}"
    assert load(new).algo.name == new.split("/")[1]


def test_a_removed_name_fails_naming_the_default() -> None:
    assert REMOVED
    for name, algo in REMOVED.items():
        assert find_config(name) is None, name
        with pytest.raises(GenpolicyError) as exc:
            load(name)
        message = str(exc.value)
        assert "no longer ships" in message and f"genpolicy train {algo} " in message
        assert "\n" not in message


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("published/gmpo/vp/halfcheetah-medium", 1_630_790),  # the public GMPO/GMPG code's policy
        ("published/gmpg/linear/halfcheetah-medium", 1_630_790),
        ("published/gmpo/gvp/antmaze-umaze", None),
        ("cpu/halfcheetah-medium-replay-gmpo", 291_142),  # the CPU configs' 3 x 256 policy
        ("cpu/halfcheetah-medium-replay-gmpg", 291_142),
    ],
)
def test_published_configs_have_the_published_network(name: str, params: int | None) -> None:
    from genpolicy.generative.models import build_model

    cfg = load(name)
    if params is None:  # AntMaze sizes differ: check the width and depth
        assert (cfg.model.hidden, cfg.model.depth) == (512, 4)
        return
    model = build_model(cfg.model, action_dim=6, state_dim=17)
    assert sum(p.numel() for p in model.parameters()) == params

"""Each algorithm's default config: reachable by the algorithm's name, free of dataset-specific
settings, trainable on a file nobody tuned it for, what a partial config that names the
algorithm starts from, and what the docs' config tables state."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from helpers import ROOT, script

import genpolicy
from genpolicy.data.writers import write_d4rl
from genpolicy.generative.models import ModelConfig
from genpolicy.rl.algos import ALGORITHMS, GMPOConfig
from genpolicy.rl.critics import CriticConfig
from genpolicy.training.config import (
    DataConfig,
    RunConfig,
    TrainConfig,
    config_diff,
    create,
    load,
    resolve,
)
from genpolicy.training.shipped import (
    CONFIG_ROOT,
    builtin_names,
    config_names,
    default_names,
    find_config,
)


def test_every_algorithm_has_a_default_by_its_name() -> None:
    assert sorted(default_names()) == sorted(ALGORITHMS)
    assert not set(default_names()) & set(builtin_names())
    for name in default_names():
        cfg = load(name)
        assert cfg.algo.name == name
        assert cfg.train.steps == 50_000
        assert cfg.data.env_id is None  # taken from the dataset


def test_defaults_name_no_dataset_but_the_placeholder() -> None:
    for name in default_names():
        path = find_config(name)
        assert path is not None
        text = path.read_text()
        assert "--set data.dataset=FILE" in text.splitlines()[0]
        datasets = {
            line.split(":", 1)[1].strip() for line in text.splitlines() if "dataset:" in line
        }
        assert datasets == {"hopper-medium-v5"}, (name, datasets)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_default_trains_on_a_file_it_has_never_seen(
    name: str, tmp_path: Path, make_arrays: Callable[..., dict[str, np.ndarray]]
) -> None:
    arrays = make_arrays(n_episodes=8, length=40, obs_dim=11, act_dim=3, seed=1)
    arrays["actions"] = np.clip(arrays["actions"], -0.99, 0.99)
    data = write_d4rl(tmp_path / "mine.hdf5", arrays)
    cfg = genpolicy.create(
        name,
        {
            "data.dataset": str(data),
            "data.env_id": "Hopper-v5",
            "train.steps": 4,
            "train.eval_every": 0,
            "train.eval_episodes": 1,
            "train.checkpoint_every": 0,
            "train.log_every": 2,
            "train.out_dir": str(tmp_path / "runs"),
            "train.progress": False,
            "train.tensorboard": False,
        },
    )
    result = genpolicy.fit(cfg)
    assert (result.run_dir / "summary.json").is_file()


# -- one default per algorithm: a partial config, the shipped files, the docs -------------------
SECTIONS = ("algo", "model", "critic")  # what a partial config takes from its algorithm's default


def _sections(cfg: RunConfig) -> dict[str, Any]:
    d = cfg.to_dict()
    return {sec: d[sec] for sec in SECTIONS}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_partial_config_that_names_an_algorithm_is_its_default(name: str, tmp_path: Path) -> None:
    """A dict or file that names only the algorithm (and the data) trains what
    `genpolicy train <algo>` trains: its algo, model and critic sections are the default's;
    data and train keys it leaves out keep the dataclass defaults."""
    shipped = _sections(load(name))
    partial = {"algo": {"name": name}, "data": {"dataset": "hopper-medium-v5"}}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(partial))
    for cfg in (create(partial), load(path), RunConfig.from_dict({"algo": {"name": name}})):
        assert _sections(cfg) == shipped
        assert cfg.train == TrainConfig()
    assert create(partial).data == DataConfig(dataset="hopper-medium-v5")


def test_a_partial_section_keeps_the_rest_of_the_default() -> None:
    """Keys a section sets replace the default's one by one (``algo.act`` too); a section
    it leaves out is the default's; overrides go on top."""
    cfg = create(
        {"algo": {"name": "gmpg", "act": {"steps": 5}}, "model": {"hidden": 64}},
        ["critic.expectile=0.9", "model.path=vp"],
    )
    default = load("gmpg")
    assert cfg.algo == replace(default.algo, act=replace(default.algo.act, steps=5))
    assert cfg.model == replace(default.model, hidden=64, path="vp")
    assert cfg.critic == replace(default.critic, expectile=0.9)


@pytest.mark.parametrize(
    ("algo", "kind"), [("gmpo", "flowmap"), ("idql", "flow"), ("fql", "flowmap")]
)
def test_a_model_of_another_kind_takes_only_the_network_shape_of_the_default(
    algo: str, kind: str
) -> None:
    """Another model kind than the default's gets its own path and sampler (the dataclass
    ones), not the default's (e.g. GMPO's 32 Euler steps for a flow map), whether the partial
    config or a --set on it names the kind (a complete config, e.g. a shipped name, keeps
    every key it spells out)."""
    default = load(algo).model
    net = {
        k: getattr(default, k) for k in ("hidden", "depth", "time_dim", "residual", "activation")
    }
    expected = replace(ModelConfig(), kind=kind, **net)
    assert create({"algo": {"name": algo}, "model": {"kind": kind}}).model == expected
    assert create({"algo": {"name": algo}}, [f"model.kind={kind}"]).model == expected


def test_a_config_that_names_no_algorithm_takes_the_dataclass_defaults() -> None:
    cfg = create({"train": {"steps": 5}})
    assert cfg.algo == GMPOConfig() and cfg.model == ModelConfig()
    assert cfg.critic == CriticConfig() and cfg.data == DataConfig()
    assert cfg == RunConfig.from_dict({"train": {"steps": 5}}, algorithm_default=False)


def test_shipped_configs_resolve_alike_over_either_default() -> None:
    """Every shipped config spells out each key its algorithm's default sets otherwise, so
    it trains the same whether what it leaves out comes from that default or from the
    dataclasses (a default's change moves no other shipped config)."""
    for name in config_names():
        data = resolve(name)
        assert create(name) == RunConfig.from_dict(data, algorithm_default=False), name


def test_a_saved_config_takes_the_dataclass_defaults_for_keys_added_since(
    tmp_path: Path,
) -> None:
    """A run's config.yaml or checkpoint lacks the options added after it was written: they
    keep what the run did (the dataclass default), not what the algorithm's default sets.
    The same file outside a run folder is an ordinary partial config."""
    cfg = load("gtp", ["model.precondition=false"])
    saved = cfg.to_dict()
    del saved["model"]["precondition"]  # as written before the option existed
    assert load("gtp").model.precondition  # the default preconditions
    assert RunConfig.from_dict(saved, algorithm_default=False) == cfg
    assert config_diff(saved, cfg) == []  # a resume's and a sweep's check
    run = tmp_path / "runs" / "gtp-old"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    assert load(run / "config.yaml") == cfg == create(str(run / "config.yaml"))
    assert load(tmp_path / "config.yaml").model.precondition
    # a config genpolicy writes says it is complete, so a copy or a link of it reads alike
    cfg.save(tmp_path / "copy.yaml")
    text = (tmp_path / "copy.yaml").read_text()
    assert text.startswith("# genpolicy: a complete config")
    (tmp_path / "copy.yaml").write_text(text.replace("  precondition: false\n", ""))
    (tmp_path / "link.yaml").symlink_to(tmp_path / "copy.yaml")
    assert load(tmp_path / "copy.yaml") == cfg == load(tmp_path / "link.yaml")


def test_a_checkpoint_and_a_sweep_base_read_a_saved_config_as_complete(tmp_path: Path) -> None:
    """A checkpoint written before an option existed loads with that option's dataclass
    default (the network the run trained), and a sweep trial whose base is a run's
    config.yaml gets the run's config."""
    from genpolicy.experiments.spec import expand, load_spec, trial_config
    from genpolicy.training import checkpoint as ckpt_io

    cfg = load(
        "gtp/toy-bandit",
        [
            "model.precondition=false",
            "train.steps=2",
            "train.eval_every=0",
            f"train.out_dir={tmp_path / 'runs'}",
            "train.run_name=old",
            "train.progress=false",
            "train.tensorboard=false",
        ],
    )
    run = genpolicy.fit(cfg).run_dir
    meta = run / "checkpoints" / "last.json"
    doc = json.loads(meta.read_text())
    del doc["state"]["config"]["model"]["precondition"]  # as before the option existed
    meta.write_text(json.dumps(doc))
    _, loaded, _ = ckpt_io.load_algorithm(run)
    assert loaded.model.precondition is False
    saved_yaml = run / "config.yaml"
    saved_yaml.write_text(saved_yaml.read_text().replace("  precondition: false\n", ""))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "from-a-run",
                "out": str(tmp_path / "sweep"),
                "base": str(run / "config.yaml"),
                "grid": {"seed": [3]},
            }
        )
    )
    sweep = load_spec(spec)
    (trial,) = expand(sweep)
    assert trial_config(sweep, trial).model == cfg.model


def test_make_configs_writes_the_committed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python scripts/make_configs.py` rewrites every generated shipped config unchanged."""
    make = script("scripts/make_configs.py")
    monkeypatch.setattr(make, "ROOT", tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        for main in ("main", "maze_main", "fql_main", "qgpo_srpo_main", "idql_dql_main"):
            getattr(make, main)()
        make.curves_cpu_main()
        make.defaults_main()
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.yaml")}
    generated = {
        p.relative_to(CONFIG_ROOT).as_posix()
        for p in CONFIG_ROOT.rglob("*.yaml")
        if "generated by scripts/make_configs.py" in p.read_text()
    }
    assert written == generated
    for rel in sorted(written):
        assert (tmp_path / rel).read_text() == (CONFIG_ROOT / rel).read_text(), rel


# the "Config keys" tables: an algorithm page's own rows, then the snippets it includes (the
# shared algo and act keys), then the model and critic pages' tables (the dataclass defaults)
DOCS = ROOT / "docs"
PAGES = {
    "bc": "bc",
    "iql": "iql",
    "gmpo": "gmpo",
    "gmpg": "gmpg",
    "gtp": "gtp",
    "qgpo": "qgpo",
    "idql": "idql",
    "srpo": "srpo",
    "dql": "diffusion-ql",
    "fql": "fql",
}
CLASS_TABLES = {
    "model": (DOCS / "concepts" / "generative-models.md", "## Model config keys"),
    "critic": (DOCS / "concepts" / "critics.md", "## Config keys"),
}
UNSTATED = ("—", "see below")  # a row that names a key without a value


def _section(path: Path, heading: str) -> list[str]:
    lines = path.read_text().splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def _table_rows(lines: list[str], where: str) -> dict[str, str]:
    """``key -> default`` of the key/default tables in ``lines`` (a row may name several
    keys, comma-separated, with as many comma-separated defaults)."""
    rows: dict[str, str] = {}
    column: int | None = None
    for line in lines:
        if not line.startswith("|"):
            column = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if column is None:
            column = cells.index("default") if cells[:1] == ["key"] and "default" in cells else -1
            continue
        if column < 0 or set(cells[0]) <= {"-", " "}:
            continue
        keys = [k.strip().strip("`") for k in cells[0].split(",")]
        values = [cells[column]] if len(keys) == 1 else cells[column].split(", ")
        assert len(values) == len(keys), f"{where}: {line}"
        for key, value in zip(keys, values, strict=True):
            assert key not in rows, f"{where}: {key} twice"
            rows[key] = value.strip()
    return rows


def _documented(algo: str) -> dict[str, str]:
    """Every key's default as the docs state it for ``algo``."""
    page = DOCS / "algorithms" / f"{PAGES[algo]}.md"
    lines = _section(page, "## Config keys")
    found: dict[str, str] = {}
    for sec, (path, heading) in CLASS_TABLES.items():
        rows = _table_rows(_section(path, heading), path.name)
        assert rows and all(k.startswith(f"{sec}.") for k in rows), path
        found.update(rows)
    for line in lines:
        if line.startswith('--8<-- "'):
            snippet = DOCS / "snippets" / line.split('"')[1]
            found.update(_table_rows(snippet.read_text().splitlines(), snippet.name))
    found.update(_table_rows(lines, page.name))
    return found


def _same(stated: str, value: Any) -> bool:
    """A table's default against a config value: numbers as numbers (``1e-4``, ``100,000``),
    ``null``/``true``/``false``/``{}`` as YAML reads them, code spans and words as text."""
    text = stated.strip("`")
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        return yaml.safe_load(text) == value
    if isinstance(value, int | float):
        try:
            return float(text.replace(",", "")) == float(value)
        except ValueError:
            return False
    return text == str(value)


def _leaves(d: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict) and key != "path_options":
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_every_algorithm_has_a_page() -> None:
    pages = {p.stem for p in (DOCS / "algorithms").glob("*.md")} - {"index"}
    assert sorted(PAGES) == sorted(ALGORITHMS) and set(PAGES.values()) == pages


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_the_docs_state_the_shipped_default(algo: str) -> None:
    """Each key of an algorithm's algo, model and critic sections has, in its page's config
    tables (its own rows first, then the snippets it includes, then the model and critic
    pages' tables), the value the shipped `<algo>.yaml` trains with."""
    documented = _documented(algo)
    shipped = load(algo).to_dict()
    wrong = []
    for sec in SECTIONS:
        for key, value in _leaves(shipped[sec], f"{sec}.").items():
            if key == "algo.name":
                continue
            stated = documented.get(key)
            if stated is None or stated in UNSTATED or not _same(stated, value):
                wrong.append(f"{key}: docs {stated!r}, {algo}.yaml {value!r}")
    assert not wrong, f"docs/algorithms/{PAGES[algo]}.md: " + "; ".join(wrong)


@pytest.mark.parametrize("sec", sorted(CLASS_TABLES))
def test_the_model_and_critic_pages_state_the_dataclass_defaults(sec: str) -> None:
    path, heading = CLASS_TABLES[sec]
    rows = _table_rows(_section(path, heading), path.name)
    cls = {"model": ModelConfig, "critic": CriticConfig}[sec]
    values = _leaves(asdict(cls()), f"{sec}.")
    assert sorted(rows) == sorted(values)
    assert all(_same(rows[k], v) for k, v in values.items()), rows

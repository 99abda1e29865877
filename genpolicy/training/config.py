"""Typed run configuration that round-trips YAML/JSON, with ``--set a.b=value`` overrides.

A run is ``RunConfig(algo, model, critic, data, train)``. ``algo`` is the config dataclass
of the algorithm that ``algo.name`` names (``genpolicy.rl.algos``); the other sections are
fixed dataclasses. Loading a partial YAML fills in the defaults: a config that names an
algorithm takes the keys it leaves out of the ``algo``, ``model`` and ``critic`` sections
from that algorithm's default (the shipped ``<algo>.yaml``, what ``genpolicy train <algo>``
trains), everything else from the dataclasses. Unknown keys and values of the wrong type
raise ``GenpolicyError`` naming the key and what it accepts.

    cfg = load("published/gmpo/vp/hopper-medium", ["train.steps=20000", "algo.beta=8"])
    cfg = create("default", {"train.steps": 500})   # the built-in toy-bandit run
    cfg.save("run.yaml"); RunConfig.from_dict(cfg.to_dict()) == cfg
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpolicy.errors import GenpolicyError, unknown_name
from genpolicy.generative.models import MODEL_KINDS, ModelConfig, model_class
from genpolicy.rl.algos import ALGORITHMS, GMPOConfig, algo_config_class, check_model
from genpolicy.rl.algos.base import COMPILE_MODES
from genpolicy.rl.critics import CriticConfig
from genpolicy.training.shipped import (
    builtin_names,
    default_names,
    find_config,
    moved_to,
    removed_for,
)

REWARD_CONVENTIONS = ("auto", "none", "locomotion", "antmaze")
# the first line of a config that genpolicy wrote complete (a run's config.yaml): its missing
# keys are options added since, which take their dataclass defaults
SAVED_HEADER = "# genpolicy: a complete config, every key as the run used it"
TOY_DATASET = "toy-bandit"
WANDB_MODES = ("online", "offline", "disabled")


@dataclass
class DataConfig:
    dataset: str = (
        TOY_DATASET  # a file, a suite name (hopper-medium-v5), a Minari id, or toy-bandit
    )
    reward_convention: str = "auto"
    normalize_obs: bool = True
    env_id: str | None = None  # evaluation environment; default: from the dataset


@dataclass
class TrainConfig:
    steps: int = 3000
    log_every: int = 100  # steps between metric rows (losses are averaged over them)
    eval_every: int = 1000  # 0: evaluate only at the end
    eval_episodes: int = 10
    checkpoint_every: int = 1000  # 0: only at the end (and on Ctrl-C)
    seed: int = 0
    eval_seed: int = 100_000  # evaluation environments and action noise; never the train RNG
    device: str = "cpu"
    out_dir: str = "runs"
    run_name: str = ""  # default: <algo>-<dataset>-s<seed>
    tensorboard: bool = True  # also write TensorBoard events if tensorboard is installed
    wandb: bool = False  # also log to Weights & Biases (the logging extra installs wandb)
    wandb_project: str = "genpolicy"
    wandb_mode: str = "online"  # online | offline (no network; `wandb sync` later) | disabled
    progress: bool = True  # tqdm progress bar when stderr is a terminal
    # without a bar (progress off, or stderr not a terminal: a log file, a job scheduler) a
    # line with the step, steps/s and ETA every this many seconds; 0: none
    log_interval_s: float = 30.0
    threads: int = 0  # torch.set_num_threads; 0 leaves the default
    # torch.compile each update (and acting at the evaluation batch): off | default |
    # max-autotune | reduce-overhead (CUDA graphs, on CUDA); docs/guide/training.md
    compile: str = "off"
    # at each evaluation, also evaluate with algo.act.steps = k for each k (eval_k{k}/* keys)
    eval_act_steps: list[int] = field(default_factory=list)
    # likewise with algo.act.candidates = n: the best of n sampled actions by the critic's Q
    # (eval_c{n}/* keys; algorithms with a critic)
    eval_act_candidates: list[int] = field(default_factory=list)
    # start from another run's checkpoint (a run dir or checkpoint file): its weights,
    # optimiser states and step; the evaluations (unless init_history), the best checkpoint
    # and the batch RNG start fresh. '' starts from scratch. Example: the policy-gradient
    # phase of GMPG from a pretrained behaviour model (docs/algorithms/index.md).
    init_from: str = ""
    # with init_from: carry its evaluations up to its step and its training seconds over, so
    # this run's curve and seconds start at step 0 as if it had trained the shared part
    # itself (a branch of a longer run; the best checkpoint is still this run's own)
    init_history: bool = False
    # also keep checkpoint 'step<N>' at each of these steps (never overwritten): branch points
    # that other runs start from with init_from (docs/guide/sweeps.md)
    checkpoint_at: list[int] = field(default_factory=list)


@dataclass
class RunConfig:
    algo: Any = field(default_factory=GMPOConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, algorithm_default: bool = True) -> RunConfig:
        """A validated config from a (possibly partial) dict. A dict that names
        ``algo.name`` takes the keys it leaves out of ``algo``, ``model`` and ``critic`` from
        that algorithm's default (``<algo>.yaml``); the other keys, and every key of a dict
        that names no algorithm, take the dataclass defaults.

        ``algorithm_default=False``: every key left out takes the dataclass default. For a
        config that a run wrote (its ``config.yaml``, a checkpoint's), complete when written:
        the keys it lacks are options added to the library since, and their dataclass
        defaults keep what that run did."""
        if not isinstance(data, Mapping):
            raise GenpolicyError(
                f"a config must be a mapping of sections, got {type(data).__name__}"
            )
        data = dict(data)
        algo = data.get("algo") or {}
        if not isinstance(algo, Mapping):
            raise GenpolicyError(f"config section 'algo' must be a mapping, got {algo!r}")
        name = str(algo.get("name", "gmpo"))
        try:
            algo_cls = algo_config_class(name)
        except GenpolicyError:
            raise unknown_name("algo.name", name, ALGORITHMS) from None
        if algorithm_default and "name" in algo:
            data = over_default_of(name, data)
        sections = {"algo": algo_cls}
        out = _build(cls, data, "", overrides_types=sections)
        out.validate()
        return out

    def save(self, path: str | Path) -> None:
        """Write the complete config as JSON (``.json``) or YAML, the YAML under the
        ``SAVED_HEADER`` line that marks it as complete (``saved_by_a_run``)."""
        path = Path(path)
        text = (
            json.dumps(self.to_dict(), indent=2)
            if path.suffix == ".json"
            else SAVED_HEADER + "\n" + yaml.safe_dump(self.to_dict(), sort_keys=False)
        )
        path.write_text(text)

    # -- checks ----------------------------------------------------------------------------
    def _check_eval_candidates(self, counts: list[int]) -> None:
        """train.eval_act_candidates: distinct counts >= 2 that the algorithm's act accepts."""
        act = getattr(self.algo, "act", None)
        if not self.algo.samples_actions() or act is None:
            raise GenpolicyError(
                f"train.eval_act_candidates ranks sampled actions by Q, but {self.algo.name!r} "
                "acts without a sampler here (no algo.act); set train.eval_act_candidates=[]"
            )
        if any(n < 2 for n in counts) or len(set(counts)) != len(counts):
            raise GenpolicyError(
                f"train.eval_act_candidates must list distinct counts >= 2, got {counts}"
            )
        for n in counts:
            trial = dataclasses.replace(self.algo, act=dataclasses.replace(act, candidates=n))
            try:
                trial.validate()
            except GenpolicyError as exc:
                raise GenpolicyError(f"train.eval_act_candidates={counts}: {exc}") from None

    def _check_rates_and_steps(self) -> None:
        """Every learning rate (``lr`` and ``*_lr`` keys of the algorithm, model and critic)
        > 0, and the sampler's step counts >= 1: checked here, not at the first update or
        evaluation."""
        for sec in ("algo", "model", "critic"):
            section = getattr(self, sec)
            for f in dataclasses.fields(section):
                if f.name != "lr" and not f.name.endswith("_lr"):
                    continue
                value = getattr(section, f.name)
                if isinstance(value, (int, float)) and not (0 < value < float("inf")):
                    raise GenpolicyError(
                        f"{sec}.{f.name} is a learning rate and must be > 0, got {value}; "
                        f"set e.g. {sec}.{f.name}=3e-4"
                    )
        steps = self.model.steps
        if steps is not None and steps < 1:
            raise GenpolicyError(
                f"model.steps (the sampler's steps) must be >= 1, got {steps}; "
                "set model.steps=32 or leave it out for the model's default"
            )
        act = getattr(self.algo, "act", None)
        act_steps = getattr(act, "steps", None)
        if isinstance(act_steps, int) and act_steps < 1:
            raise GenpolicyError(
                f"algo.act.steps (the sampler's steps) must be >= 1, got {act_steps}; "
                "set algo.act.steps=32 or leave it out for the model's default"
            )

    def validate(self) -> None:
        self.algo.validate()
        t = self.train
        for key in ("steps", "log_every", "eval_episodes"):
            if getattr(t, key) < 1:
                raise GenpolicyError(f"train.{key} must be >= 1, got {getattr(t, key)}")
        if not t.log_interval_s >= 0:
            raise GenpolicyError(
                f"train.log_interval_s must be >= 0 (0: no progress lines), got {t.log_interval_s}"
            )
        for key in ("eval_every", "checkpoint_every", "threads"):
            if getattr(t, key) < 0:
                raise GenpolicyError(f"train.{key} must be >= 0, got {getattr(t, key)}")
        name = Path(t.run_name)
        if t.run_name and (name.is_absolute() or not name.parts or ".." in name.parts):
            raise GenpolicyError(  # --overwrite deletes the run folder: keep it in out_dir
                f"train.run_name={t.run_name!r} must name a folder inside train.out_dir "
                "(no '..', no absolute path); set train.run_name=NAME"
            )
        if t.wandb_mode not in WANDB_MODES:
            raise unknown_name("train.wandb_mode", t.wandb_mode, WANDB_MODES)
        if str(t.compile).lower() == "false":  # YAML reads a bare `off` as false
            t.compile = "off"
        if t.compile not in COMPILE_MODES:
            raise unknown_name("train.compile", str(t.compile), COMPILE_MODES)
        self._check_rates_and_steps()
        if t.init_history and not t.init_from:
            raise GenpolicyError(
                "train.init_history carries over the evaluations of train.init_from's run, "
                "but train.init_from is empty; set it or drop train.init_history"
            )
        bad_at = [s for s in t.checkpoint_at if not 1 <= s <= t.steps]
        if bad_at:
            raise GenpolicyError(
                f"train.checkpoint_at must list steps in 1..train.steps={t.steps}, got {bad_at}"
            )
        if t.eval_act_steps:
            if not self.algo.samples_actions():
                raise GenpolicyError(
                    f"train.eval_act_steps sets the sampler's steps, but {self.algo.name!r} "
                    "acts without a sampler here (no algo.act); set train.eval_act_steps=[]"
                )
            bad = [k for k in t.eval_act_steps if k < 1]
            if bad or len(set(t.eval_act_steps)) != len(t.eval_act_steps):
                raise GenpolicyError(
                    "train.eval_act_steps must list distinct step counts >= 1, "
                    f"got {t.eval_act_steps}"
                )
        if t.eval_act_candidates:
            self._check_eval_candidates(t.eval_act_candidates)
        if self.data.reward_convention not in REWARD_CONVENTIONS:
            raise unknown_name(
                "data.reward_convention", self.data.reward_convention, REWARD_CONVENTIONS
            )
        if self.model.kind not in MODEL_KINDS:
            raise unknown_name("model.kind", self.model.kind, MODEL_KINDS)
        from genpolicy.generative.probability_paths import PATHS

        if self.model.path not in PATHS:
            raise unknown_name("model.path", self.model.path, PATHS)
        check_model(self.algo, self.model)  # the algorithm's required model capabilities
        if self.algo.samples_actions():  # a solver the model cannot use fails here, not at act
            act = self.algo.act
            model_class(self.model.kind).resolve_sampler(self.model, act.steps, act.solver)
        c = self.critic
        if not c.grad_clip >= 0:
            raise GenpolicyError(f"critic.grad_clip must be >= 0 (0: off), got {c.grad_clip}")
        if not 0.0 < c.expectile < 1.0:
            raise GenpolicyError(f"critic.expectile must be in (0, 1), got {c.expectile}")
        if not 0.0 <= c.gamma <= 1.0 or not 0.0 < c.polyak <= 1.0:
            raise GenpolicyError(
                f"critic.gamma must be in [0, 1] and critic.polyak in (0, 1], "
                f"got {c.gamma} and {c.polyak}"
            )

    @property
    def run_name(self) -> str:
        if self.train.run_name:
            return self.train.run_name
        path = Path(self.data.dataset)
        data = path.stem if path.suffix.lower() in (".hdf5", ".h5", ".npz") else str(path)
        return f"{self.algo.name}-{data.replace('/', '_')}-s{self.train.seed}"


# algo keys that change how much memory and time an update takes but not one bit of its
# result (tests/rl/test_gmpg_memory.py): a run resumes, and a sweep's finished trial stays
# done, across a change of them
MEMORY_ONLY_ALGO_KEYS = ("grad_checkpoint",)


def config_diff(
    saved: Mapping[str, Any],
    current: RunConfig,
    ignore: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """Dotted keys whose values differ between a saved config dict and ``current``.

    The saved dict is rebuilt through ``RunConfig`` first, so options added to the library
    since it was written take their defaults instead of counting as differences. ``ignore``
    maps a section to the keys of it not compared (``"*"`` for the whole section).
    """
    try:
        old: Mapping[str, Any] = _effective_sampler(
            RunConfig.from_dict(saved, algorithm_default=False)
        )
    except GenpolicyError:
        old = saved
    new = _effective_sampler(current)
    out = []
    for sec in set(old) | set(new):
        skip = set((ignore or {}).get(sec, ()))
        if "*" in skip:
            continue
        o, n = old.get(sec) or {}, new.get(sec) or {}
        out += [f"{sec}.{k}" for k in set(o) | set(n) if k not in skip and o.get(k) != n.get(k)]
    return sorted(out)


def _effective_sampler(cfg: RunConfig) -> dict[str, Any]:
    """``cfg.to_dict()`` with the sampler as acting resolves it: ``algo.act.steps/solver``
    filled in from ``model.steps/solver`` or the model class's defaults, and the model's
    own ``steps``/``solver`` left out (they matter only as that fallback). So a config
    that spells a default out and one that leaves it to the model compare equal."""
    d = cfg.to_dict()
    model = d.get("model") or {}
    for key in ("steps", "solver"):
        model.pop(key, None)
    act = (d.get("algo") or {}).get("act")
    if isinstance(act, dict) and cfg.model.kind in MODEL_KINDS:
        try:
            steps, solver = model_class(cfg.model.kind).resolve_sampler(
                cfg.model, act.get("steps"), act.get("solver")
            )
        except GenpolicyError:
            return d
        act["steps"], act["solver"] = steps, solver
    return d


# -- an algorithm's default under a partial config ---------------------------------------------
OVER_DEFAULT = ("algo", "model", "critic")  # the sections a partial config takes from it
# the model keys that carry over from the default to a model of another kind
NETWORK_KEYS = ("hidden", "depth", "time_dim", "residual", "activation")


@functools.cache
def _default_sections(name: str) -> dict[str, Any]:
    """The ``algo``, ``model`` and ``critic`` sections of algorithm ``name``'s shipped
    default (``<name>.yaml``), as written; empty where the algorithm ships none."""
    path = find_config(name) if name in default_names() else None
    if path is None:
        return {}
    raw = read_file(path)
    return {sec: raw[sec] for sec in OVER_DEFAULT if isinstance(raw.get(sec), Mapping)}


def over_default_of(name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` laid over algorithm ``name``'s default: each of its ``algo``, ``model`` and
    ``critic`` sections keeps the keys it sets and takes the others (a nested section such
    as ``algo.act`` key by key) from the default's; a section it leaves out is the default's.
    A model section of another ``kind`` than the default's takes only the network's shape
    (``NETWORK_KEYS``) from it, the rest from the dataclass. Other sections, and anything
    that is not a mapping, stay as they are (building the config reports them)."""
    out = dict(data)
    types_ = {"algo": algo_config_class(name), "model": ModelConfig, "critic": CriticConfig}
    for sec, default in _default_sections(name).items():
        given = data.get(sec)
        if given is None:
            out[sec] = copy.deepcopy(default)
        elif isinstance(given, Mapping):
            if sec == "model" and given.get("kind", default.get("kind")) != default.get("kind"):
                # another kind of model: its path, sampler and kind-specific keys are not the
                # default's; only the network's shape carries over
                default = {k: v for k, v in default.items() if k in NETWORK_KEYS}
            out[sec] = _lay_over(types_[sec], default, given)
    return out


def _lay_over(cls: type, default: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` over ``default``, recursing into the keys that are dataclass sections."""
    hints = typing.get_type_hints(cls)
    out = copy.deepcopy(dict(default))
    for key, value in given.items():
        tp = hints.get(str(key))
        below = out.get(key)
        if (
            isinstance(tp, type)
            and dataclasses.is_dataclass(tp)
            and isinstance(value, Mapping)
            and isinstance(below, Mapping)
        ):
            out[key] = _lay_over(tp, below, value)
        else:
            out[key] = value
    return out


# -- building dataclasses from plain data, with coercion --------------------------------------
def _build(
    cls: type,
    data: Mapping[str, Any],
    prefix: str,
    overrides_types: Mapping[str, type] | None = None,
) -> Any:
    if not isinstance(data, Mapping):
        name = prefix.rstrip(".")
        fix = f"; set its keys one at a time, e.g. --set {name}.KEY=VALUE" if name else ""
        raise GenpolicyError(
            f"config section {name or '<root>'!r} must be a mapping, got {data!r}{fix}"
        )
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            where = f"in section {prefix.rstrip('.')!r}" if prefix else "at the top level"
            raise GenpolicyError(
                f"unknown config key {prefix + str(key)!r}; valid keys {where}: {', '.join(names)}"
            )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        tp = (overrides_types or {}).get(f.name, hints[f.name])
        kwargs[f.name] = _coerce(_over_default(f, tp, data[f.name]), tp, prefix + f.name)
    try:
        return cls(**kwargs)
    except GenpolicyError:
        raise
    except (TypeError, ValueError) as exc:
        raise GenpolicyError(
            f"bad config section {prefix.rstrip('.') or '<root>'!r}: {exc}"
        ) from None


def _over_default(f: dataclasses.Field[Any], tp: Any, value: Any) -> Any:
    """A partial section laid over the field's own default instead of its class's: an
    algorithm's ``act: {steps: 5}`` keeps the ``candidates`` its config defaults to."""
    if not isinstance(value, Mapping) or f.default_factory is dataclasses.MISSING:
        return value
    default = f.default_factory()
    if type(default) is not tp:  # e.g. RunConfig.algo: another algorithm's default config
        return value
    return {**dataclasses.asdict(default), **value}


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value if value is not None else {}, key + ".")
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            return None
        return _coerce(value, members[0], key)
    if tp is Any:
        return yaml.safe_load(value) if isinstance(value, str) else value
    if origin in (dict, list, tuple) or tp in (dict, list, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value)
        container = origin or tp
        args = typing.get_args(tp)
        if container is dict:
            if not isinstance(value, Mapping):
                raise GenpolicyError(f"config key {key!r} expects a mapping, got {value!r}")
            vt = args[1] if len(args) == 2 else Any
            return {str(k): _coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
        if not isinstance(value, (list, tuple)):
            raise GenpolicyError(f"config key {key!r} expects a list, got {value!r}")
        et = args[0] if args else Any
        items = [_coerce(v, et, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if container is tuple else items
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise ValueError
        if tp is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                return value
            f = float(str(value).replace("_", ""))
            if not f.is_integer():
                raise ValueError
            return int(f)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError
            return float(str(value).replace("_", "")) if isinstance(value, str) else float(value)
        if tp is str:
            if isinstance(value, (Mapping, list, tuple)) or value is None:
                raise ValueError
            return str(value)
    except (TypeError, ValueError):
        raise GenpolicyError(
            f"config key {key!r} expects {getattr(tp, '__name__', tp)}, got {value!r}"
        ) from None
    return value


# -- overrides, files, built-ins --------------------------------------------------------------
def apply_overrides(
    data: dict[str, Any], overrides: Iterable[str] | Mapping[str, Any]
) -> dict[str, Any]:
    """Set dotted keys (``"algo.beta=8"`` strings, or a mapping) in a nested dict, in place."""
    items: Iterable[tuple[str, Any]]
    if isinstance(overrides, Mapping):
        items = overrides.items()
    else:
        pairs = []
        for item in overrides:
            if "=" not in item:
                raise GenpolicyError(
                    f"override {item!r} must look like key=value, e.g. train.steps=1000"
                )
            k, v = item.split("=", 1)
            pairs.append((k.strip(), v.strip()))
        items = pairs
    for key, value in items:
        parts = key.split(".")
        if not all(parts):
            raise GenpolicyError(f"bad config key {key!r}; use dotted names like algo.beta")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise GenpolicyError(
                    f"config key {'.'.join(parts[: i + 1])!r} is not a section; cannot set {key!r}"
                )
            node = child
        node[parts[-1]] = value
    return data


def read_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GenpolicyError(f"cannot read config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise GenpolicyError(f"{path}: not a text file; pass a YAML or JSON file") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise GenpolicyError(f"{path}: not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
    if data is None:
        raise GenpolicyError(f"{path} is empty; write its `key: value` settings into it")
    if not isinstance(data, dict):
        raise GenpolicyError(
            f"{path} holds a {type(data).__name__}, not a mapping; write `key: value` settings"
        )
    return data


def resolve(spec: str | Path) -> dict[str, Any]:
    """The raw dict of a config file or a shipped config name (``genpolicy configs``)."""
    path = Path(spec).expanduser()
    if path.is_file():
        return read_file(path)
    shipped = find_config(str(spec))
    if shipped is not None:
        return read_file(shipped)
    new = moved_to(str(spec))
    if new is not None:
        raise GenpolicyError(f"config {str(spec)!r} is now {new!r}")
    algo = removed_for(str(spec))
    if algo is not None:
        raise GenpolicyError(
            f"config {str(spec)!r} no longer ships (nobody published its settings and no "
            f"benchmark trains from it): start from {algo}'s default, "
            f"`genpolicy train {algo} --set data.dataset=FILE`"
        )
    if path.suffix in (".yaml", ".yml", ".json") or path.parent != Path("."):
        what = "no such file" if not path.exists() else "not a file"
        hint = "and no shipped config has that name"
    else:
        what, hint = "no shipped config has that name", "and it is not a file"
    raise GenpolicyError(
        f"config {str(spec)!r}: {what}, {hint} (`genpolicy configs` lists the names; "
        f"built-in: {', '.join(builtin_names())})"
    )


def saved_by_a_run(spec: str | Path) -> bool:
    """Whether ``spec`` is a config a run wrote, complete when written, whose missing keys
    take the dataclass defaults: a file that starts with ``SAVED_HEADER`` (a copy or a link
    included), or a run folder's ``config.yaml`` from before the header (beside the run's
    ``metrics.jsonl`` or ``checkpoints``)."""
    path = Path(spec).expanduser()
    if not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            if f.readline().rstrip("\r\n") == SAVED_HEADER:
                return True
    except OSError:
        return False
    run = path.resolve().parent
    return path.name == "config.yaml" and (
        (run / "metrics.jsonl").is_file() or (run / "checkpoints").is_dir()
    )


def load_config(spec: str | Path, overrides: Iterable[str] | Mapping[str, Any] = ()) -> RunConfig:
    """Read a config (a file or a shipped name) and apply ``key=value`` overrides."""
    return create(spec, overrides)


def create(
    base: str | Path | Mapping[str, Any] = "default",
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> RunConfig:
    """A validated ``RunConfig`` from a shipped name, a file or a dict, plus overrides; what
    a config that names an algorithm leaves out comes from that algorithm's default, except
    in a run folder's own ``config.yaml`` (``saved_by_a_run``)."""
    if isinstance(base, Mapping):
        data, saved = copy.deepcopy(dict(base)), False
    else:
        data, saved = resolve(base), saved_by_a_run(base)
    return RunConfig.from_dict(apply_overrides(data, overrides), algorithm_default=not saved)


load = load_config  # the short name used across the library

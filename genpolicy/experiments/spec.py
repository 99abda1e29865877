"""Sweep specs: a base config, a grid of overrides (or a search space), an output folder.

A spec is a small YAML file::

    name: levers                       # default: the file's stem
    out: runs/sweeps/levers            # default: runs/sweeps/<name>
    base: cpu/hopper-medium-gmpo   # one base for every trial, or:
    bases: {gmpo: cpu/gmpo, iql: cpu/iql}  # picked by grid.algo
    # a base may name the trial's dataset label: published/gmpo/linear/{dataset}
    set: {train.steps: 20000}          # overrides applied to every trial; a string value
                                       # may name {seed}, {dataset} and {algo} (the labels)
                                       # and {out} (the output folder, after --out)
    grid:                              # every axis is a list; the trials are the product
      algo: [gmpo, iql]                # a key of `bases`
      dataset: [hopper-medium-v5, halfcheetah-medium-v5]   # short for data.dataset
      seed: [0, 1]                     # short for train.seed
      algo.lr: [0.0001, 0.0003]        # any dotted config key
      variant:                         # a named axis: each value is a bundle of overrides
        baseline: {}
        cosine: {algo.lr_schedule: cosine}
    order: [seed, variant, algo, dataset, algo.lr]   # run order (default: seed first, then
                                                      # the grid's); ids keep the grid's order
    search:                            # instead of (or on top of) the grid: Ray Tune only
      metric: eval/score_mean
      mode: max
      samples: 8
      scheduler: asha                  # or fifo
      grace_period: 500                # updates before ASHA may stop a trial
      space: {algo.beta: {loguniform: [1, 100]}, algo.lr: {choice: [0.0003, 0.001]}}

Each trial is an ordinary run folder ``<out>/runs/<trial id>`` made by the trainer. Its
id joins the grid values (``gmpo-hopper-medium-v5-cosine-s0``); its *group* is the same
without the dataset and the seed, which is what reports average over.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genpolicy.errors import GenpolicyError
from genpolicy.training.config import (
    TOY_DATASET,
    RunConfig,
    apply_overrides,
    read_file,
    resolve,
    saved_by_a_run,
)

SPEC_KEYS = ("name", "out", "base", "bases", "set", "grid", "order", "search")
SHORT_KEYS = {"dataset": "data.dataset", "seed": "train.seed"}
SEARCH_KEYS = (
    "metric",
    "mode",
    "samples",
    "scheduler",
    "grace_period",
    "reduction_factor",
    "space",
    "seed",
)
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint", "grid")
SCHEDULERS = ("asha", "fifo")


@dataclass
class SearchSpec:
    """A Ray Tune search: sampled overrides, an early-stopping scheduler, one metric."""

    space: dict[str, dict[str, Any]]
    metric: str = "eval/score_mean"
    mode: str = "max"
    samples: int = 8
    scheduler: str = "asha"
    grace_period: int = 1000  # updates before ASHA may stop a trial
    reduction_factor: int = 2
    seed: int = 0  # the searcher's own seed


@dataclass
class Trial:
    """One run of the sweep: a base config plus overrides, run in ``<out>/runs/<id>``."""

    id: str
    group: str
    base: str
    overrides: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)  # axis -> value (labels for bundles)
    seed: int = 0
    dataset: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.id,
            "group": self.group,
            "base": self.base,
            "overrides": self.overrides,
            "params": self.params,
            "seed": self.seed,
            "dataset": self.dataset,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Trial:
        return cls(
            id=str(d["trial"]),
            group=str(d["group"]),
            base=str(d["base"]),
            overrides=dict(d["overrides"]),
            params=dict(d.get("params", {})),
            seed=int(d.get("seed", 0)),
            dataset=str(d.get("dataset", "")),
        )


@dataclass
class SweepSpec:
    name: str
    out: Path
    base: str | None = None
    bases: dict[str, str] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, Any] = field(default_factory=dict)
    search: SearchSpec | None = None
    order: list[str] = field(default_factory=list)  # run order of the axes (ids keep grid's)
    root: Path = field(default_factory=Path.cwd)  # relative paths in the spec start here

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "out": str(self.out)}
        if self.base:
            d["base"] = self.base
        if self.bases:
            d["bases"] = self.bases
        d["set"], d["grid"] = self.set, self.grid
        if self.order:
            d["order"] = self.order
        if self.search is not None:
            d["search"] = dict(vars(self.search))
        return d


# -- reading --------------------------------------------------------------------------------
def load_spec(path: str | Path, out: str | Path | None = None) -> SweepSpec:
    """Read and check a sweep spec file (see the module docstring for its keys)."""
    path = Path(path)
    if not path.is_file():
        raise GenpolicyError(
            f"sweep spec {path} not found; pass a YAML file (see docs/guide/sweeps.md)"
        )
    data = read_file(path)
    return parse_spec(data, default_name=path.stem, out=out)


def parse_spec(
    data: Mapping[str, Any], default_name: str = "sweep", out: str | Path | None = None
) -> SweepSpec:
    if not isinstance(data, Mapping):
        raise GenpolicyError(f"a sweep spec must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise GenpolicyError(
            f"unknown sweep spec key(s) {unknown}; valid keys: {', '.join(SPEC_KEYS)}"
        )
    name = str(data.get("name") or default_name)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise GenpolicyError(f"sweep name {name!r} must use letters, digits, '.', '_' or '-'")
    base, bases = data.get("base"), data.get("bases") or {}
    if not isinstance(bases, Mapping):
        raise GenpolicyError("sweep spec 'bases' must map an algo label to a config")
    if base is None and not bases:
        raise GenpolicyError(
            "sweep spec needs 'base' (a config for every trial) or 'bases' (one per grid.algo)"
        )
    named = {"base": base} if base is not None else {}
    for key, value in {**named, **{f"bases.{k}": v for k, v in bases.items()}}.items():
        if not isinstance(value, str):
            raise GenpolicyError(
                f"sweep spec {key!r} must name a config (a shipped name or a file), got "
                f"{value!r}; put overrides for every trial under 'set'"
            )
    grid = data.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise GenpolicyError("sweep spec 'grid' must map axis names to lists of values")
    for axis, values in grid.items():
        if isinstance(values, Mapping):
            if not values or not all(isinstance(v, Mapping | type(None)) for v in values.values()):
                raise GenpolicyError(
                    f"grid axis {axis!r}: a named axis maps each label to a mapping of "
                    "overrides, e.g. {cosine: {algo.lr_schedule: cosine}}"
                )
        elif not isinstance(values, list):
            raise GenpolicyError(f"grid axis {axis!r} must be a list (or a mapping of bundles)")
        else:
            seen = [json.dumps(v, sort_keys=True, default=str) for v in values]
            twice = sorted({v for v in seen if seen.count(v) > 1})
            if twice:  # the trials would share one id and one run folder
                raise GenpolicyError(
                    f"grid axis {axis!r} lists {', '.join(twice)} more than once; "
                    "list each value once"
                )
    if bases and "algo" not in grid:
        raise GenpolicyError("sweep spec has 'bases' but no grid.algo axis to choose among them")
    if "algo" in grid and bases:
        missing = [a for a in grid["algo"] if str(a) not in bases]
        if missing:
            raise GenpolicyError(
                f"grid.algo value(s) {missing} have no config in 'bases' "
                f"(known: {', '.join(map(str, bases))})"
            )
    overrides = data.get("set") or {}
    if not isinstance(overrides, Mapping):
        raise GenpolicyError("sweep spec 'set' must map dotted keys to values")
    search = _parse_search(data["search"]) if data.get("search") is not None else None
    out_path = Path(out) if out is not None else Path(data.get("out") or f"runs/sweeps/{name}")
    return SweepSpec(
        name=name,
        out=out_path,
        base=str(base) if base is not None else None,
        bases={str(k): str(v) for k, v in bases.items()},
        set=dict(overrides),
        grid=dict(grid),
        search=search,
        order=_parse_order(data.get("order"), list(grid)),
    )


def _parse_order(raw: Any, axes: list[str]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or sorted(map(str, raw)) != sorted(axes):
        raise GenpolicyError(
            f"sweep spec 'order' must list every grid axis once ({', '.join(axes)}), got {raw!r}"
        )
    return [str(a) for a in raw]


def _parse_search(raw: Any) -> SearchSpec:
    if not isinstance(raw, Mapping):
        raise GenpolicyError("sweep spec 'search' must be a mapping (metric, mode, space, ...)")
    unknown = sorted(set(raw) - set(SEARCH_KEYS))
    if unknown:
        raise GenpolicyError(f"unknown search key(s) {unknown}; valid: {', '.join(SEARCH_KEYS)}")
    space = raw.get("space") or {}
    if not isinstance(space, Mapping) or not space:
        raise GenpolicyError("search.space must map dotted config keys to distributions")
    for key, dist in space.items():
        if not isinstance(dist, Mapping) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise GenpolicyError(
                f"search.space.{key} must be one of {{{', '.join(DISTRIBUTIONS)}: ARGS}}, "
                f"e.g. {{loguniform: [1, 100]}}; got {dist!r}"
            )
    s = SearchSpec(space={str(k): dict(v) for k, v in space.items()})
    for key in ("metric", "mode", "scheduler"):
        if key in raw:
            setattr(s, key, str(raw[key]))
    for key in ("samples", "grace_period", "reduction_factor", "seed"):
        if key in raw:
            setattr(s, key, int(raw[key]))
    if s.mode not in ("max", "min"):
        raise GenpolicyError(f"search.mode must be max or min, got {s.mode!r}")
    if s.scheduler not in SCHEDULERS:
        raise GenpolicyError(f"search.scheduler must be one of {SCHEDULERS}, got {s.scheduler!r}")
    if s.samples < 1:
        raise GenpolicyError(f"search.samples must be >= 1, got {s.samples}")
    return s


# -- expanding ------------------------------------------------------------------------------
def _slug(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = Path(text).stem if text.endswith((".hdf5", ".h5", ".npz")) else text
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text).strip("_") or "x"


def _axis_items(axis: str, values: Any) -> list[tuple[str, dict[str, Any], Any]]:
    """(label, overrides, param value) for each value of one grid axis."""
    if isinstance(values, Mapping):
        return [(str(lbl), dict(ov or {}), str(lbl)) for lbl, ov in values.items()]
    if axis == "algo":
        return [(str(v), {}, str(v)) for v in values]
    key = SHORT_KEYS.get(axis, axis)
    out = []
    for v in values:
        if axis in SHORT_KEYS:
            label = _slug(v) if axis == "dataset" else f"s{v}"
        else:
            label = f"{key.split('.')[-1]}={_slug(v)}"
        out.append((label, {key: v}, v))
    return out


def expand(spec: SweepSpec, check: bool = True) -> list[Trial]:
    """Every trial of the grid, in a stable order (seed-major, so a one-seed table comes
    first); with ``check`` each trial's config is built (unknown keys and algorithms fail
    here, before anything runs) and its dataset located."""
    axes = list(spec.grid)
    seed_axes = [a for a in axes if SHORT_KEYS.get(a, a) == "train.seed"]
    order = spec.order or seed_axes + [a for a in axes if a not in seed_axes]
    items = [_axis_items(a, spec.grid[a]) for a in order]
    trials: list[Trial] = []
    for combo in itertools.product(*items) if items else [()]:
        by_axis = dict(zip(order, combo, strict=True))
        overrides = dict(spec.set)
        labels_id, labels_group, params = [], [], {}
        for axis in axes:  # ids read in the spec's axis order
            label, ov, value = by_axis[axis]
            overrides.update(ov)
            params[axis] = value
            key = SHORT_KEYS.get(axis, axis)
            if key not in ("train.seed", "data.dataset"):
                labels_group.append(label)
            if key != "train.seed":
                labels_id.append(label)
        ds_label = next((by_axis[a][0] for a in axes if SHORT_KEYS.get(a) == "data.dataset"), "")
        base = spec.bases[str(params["algo"])] if spec.bases else str(spec.base)
        if "{" in base:  # a per-dataset config: published/gmpo/linear/{dataset}
            try:
                base = base.format(dataset=ds_label, algo=params.get("algo", ""))
            except (KeyError, IndexError):
                raise GenpolicyError(
                    f"base config {base!r}: only {{dataset}} and {{algo}} can be filled in"
                ) from None
        seed = int(overrides.get("train.seed", 0))
        fill = {
            "seed": str(seed),
            "dataset": ds_label,
            "algo": str(params.get("algo", "")),
            "out": str(spec.out),
        }
        overrides = {k: _fill_labels(v, fill) for k, v in overrides.items()}
        dataset = str(overrides.get("data.dataset", ""))
        group = " ".join(labels_group) or "default"
        tid = "-".join([*labels_id, f"s{seed}"])
        trials.append(Trial(tid, group, base, overrides, params, seed, dataset))
    ids = [t.id for t in trials]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:  # two grid values with the same label: make the ids unique by a short hash
        for t in trials:
            if t.id in dup:
                h = hashlib.sha1(json.dumps(t.overrides, sort_keys=True, default=str).encode())
                t.id = f"{t.id}-{h.hexdigest()[:6]}"
    if not trials:
        raise GenpolicyError("the sweep expands to zero trials: every grid axis needs a value")
    if check:
        check_trials(spec, trials)
    return trials


def check_trials(spec: SweepSpec, trials: list[Trial]) -> None:
    """Build each trial's config (unknown keys and algorithms fail here, before anything
    runs) and locate its dataset."""
    for t in trials:
        cfg = trial_config(spec, t)
        if not t.dataset:
            t.dataset = cfg.data.dataset
        check_dataset(cfg.data.dataset, f"trial {t.id}")


def _fill_labels(value: Any, fill: dict[str, str]) -> Any:
    """``value`` with ``{seed}``, ``{dataset}``, ``{algo}`` and ``{out}`` (the sweep's output
    folder) replaced (strings only)."""
    if not isinstance(value, str) or "{" not in value:
        return value
    for key, label in fill.items():
        value = value.replace("{" + key + "}", label)
    return value


def trial_config(
    spec: SweepSpec, trial: Trial, threads: int = 1, device: str | None = None
) -> RunConfig:
    """The trial's resolved RunConfig, writing into ``<out>/runs/<id>``; ``device`` (when
    given) replaces the spec's ``train.device`` (a free key: runs made on another device
    still count as done)."""
    data = copy.deepcopy(resolve(trial.base))
    apply_overrides(data, trial.overrides)
    apply_overrides(
        data,
        {
            "train.out_dir": str(spec.out / "runs"),
            "train.run_name": trial.id,
            "train.progress": False,
            "train.threads": threads,
            **({"train.device": device} if device else {}),
        },
    )
    try:
        return RunConfig.from_dict(data, algorithm_default=not saved_by_a_run(trial.base))
    except GenpolicyError as exc:
        raise GenpolicyError(f"trial {trial.id}: {exc}") from None


def check_dataset(spec: str, where: str) -> None:
    """Fail early, with the fix, for a dataset that no run could load."""
    from genpolicy.data.readers import suite_dirs

    if spec == TOY_DATASET or Path(spec).expanduser().exists():
        return
    if any((d / f"{spec}{sfx}").is_file() for d in suite_dirs() for sfx in (".hdf5", ".h5")):
        return
    if "/" in spec and not spec.startswith((".", "/", "~")):
        return  # a Minari id: found locally or downloaded by the run (the reader's own errors)
    places = ", ".join(str(d) for d in suite_dirs())
    raise GenpolicyError(
        f"{where}: dataset {spec!r} not found (not a file, not <name>.hdf5 under {places}, "
        "not a Minari id); make it with `genpolicy dataset make-suite` or fix data.dataset"
    )


def spec_text(spec: SweepSpec) -> str:
    return yaml.safe_dump(spec.to_dict(), sort_keys=False)

"""Populations: P runs of one config, different seeds or scalar settings, trained as one
batched computation.

Member k is the run ``cfgs[k]``: the members share their config but for the seed, the run
folder and the scalar settings of ``MEMBER_HYPERS`` (learning rates and the advantage
temperature), so a population is several seeds, a grid over those settings, or both. Every
parameter, buffer and
optimiser state of the algorithm gets a leading member dimension (P, ...): the member
networks start from the weights a lone run with that seed starts from, each member draws
its batches from its own generator (seeded as a lone run's) and its loss noise from its own
generator (continuing the global stream a lone run would use), and each optimiser step is

    L(theta_1..P) = sum_k L_k(theta_k),    L_k = loss_fn(theta_k, batch_k, noise_k)

computed with ``torch.func.vmap`` over the members, so the gradient of member k is that of
its own loss. Adam is elementwise, so per-member Adam states come for free; the gradient
norm is clipped per member; Polyak and EMA updates are elementwise too. A member's own
temperature reaches its loss as a ``hyper_<name>`` buffer (``Algorithm.hyper``), and its own
learning rate as a per-member scale of the Adam step (Adam's step is proportional to its
learning rate). Member k therefore follows the lone run ``cfgs[k]`` up to floating-point
rounding.

With ``train.compile`` the population's whole update compiles as one graph, as a lone run's
does. A compiled graph cannot draw from a ``torch.Generator``, so there the members draw
their loss noise one after another from the compiled graph's own stream: a compiled
population learns like its lone runs (a benchmark checks the scores) without following
them draw for draw, as a compiled lone run does not follow its eager run. Its members act
eagerly when they evaluate.

Each member keeps an ordinary run folder (``<out_dir>/<run_name>``, its own config, logs,
evaluations, checkpoints and summary): a member's checkpoint resumes as a lone run, and
``genpolicy report`` reads the folders like any others. Supported: algorithms whose update
runs every optimiser step through ``Algorithm.stepper`` (BC, IQL, GMPO, GTP with the IQL
critic).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos.base import Algorithm
from genpolicy.rl.optim import LossFn, Lr, NoiseFn, Stepper, clip_and_step, zero_grads
from genpolicy.training.config import RunConfig, config_diff
from genpolicy.training.stop import install_stop_handlers
from genpolicy.training.trainer import FitResult, NonFiniteLoss, Trainer

SUPPORTED = ("bc", "iql", "gmpo", "gtp")
# train-section keys that may differ between members (the rest of the config is shared)
MEMBER_KEYS = ("seed", "run_name", "out_dir", "progress", "log_interval_s", "tensorboard")
# scalar settings that may differ between members (section -> keys): learning rates and the
# advantage temperature (GMPO's and IQL's beta, GTP's eta)
MEMBER_HYPERS = {"algo": ("lr", "beta", "eta"), "critic": ("lr",)}
TEMPERATURES = ("beta", "eta")  # read through Algorithm.hyper
# every config key (section -> keys) in which a population's members may differ
MEMBER_SETTINGS = {"train": MEMBER_KEYS, **MEMBER_HYPERS}


class _Call(nn.Module):
    """Calls a bound method of ``m`` (so ``functional_call`` can swap ``m``'s tensors)."""

    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, fn: LossFn, args: tuple[Tensor, ...], noise: Any) -> Any:
        return fn(*args) if noise is None else fn(*args, noise=noise)


class PopulationStepper(Stepper):
    """Runs an optimiser step of every member at once (see the module docstring)."""

    def __init__(
        self,
        root: Algorithm,
        generators: Sequence[torch.Generator | None],
        lr_scales: dict[int, Tensor] | None = None,
    ) -> None:
        self.generators = generators
        # id(optimizer) -> (P,) member lr / the lead member's lr, where the members differ
        self.lr_scales = lr_scales or {}
        self.call = _Call(root)
        self.state = {
            **{f"m.{k}": v for k, v in root.named_parameters()},
            **{f"m.{k}": v for k, v in root.named_buffers()},
        }

    def step(
        self,
        opt: torch.optim.Optimizer,
        loss_fn: LossFn,
        args: tuple[Tensor, ...],
        *,
        lr: Lr = None,
        grad_clip: float = 0.0,
        noise: NoiseFn | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        draws = None
        if noise is not None:
            # compiled, the graph draws every member's from its own (global) stream in turn
            compiling = torch.compiler.is_compiling()
            per = [noise(None if compiling else g) for g in self.generators]
            draws = {k: torch.stack([d[k] for d in per]) for k in per[0]}

        def member(state: dict[str, Tensor], a: tuple[Tensor, ...], nz: Any) -> Any:
            return functional_call(self.call, state, (loss_fn, a, nz), strict=True)

        loss, info = vmap(member, in_dims=(0, 0, 0 if draws is not None else None))(
            self.state, args, draws
        )
        zero_grads(opt)
        params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
        grads = torch.autograd.grad(loss.sum(), params, allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        params = [p for p in params if p.grad is not None]
        if grad_clip > 0:
            clip_per_member(params, grad_clip)
        scale = self.lr_scales.get(id(opt))
        before = None if scale is None else [p.detach().clone() for p in params]
        # the lead's step (compiled, lr is the members' step_lr: one value for all)
        clip_and_step(opt, lr=lr[0] if isinstance(lr, Tensor) and lr.dim() else lr)
        if scale is not None and before is not None:  # each member's step at its own lr
            with torch.no_grad():
                for p, b in zip(params, before, strict=True):
                    p.sub_(b).mul_(scale.view(-1, *([1] * (p.dim() - 1)))).add_(b)
        return loss.detach(), {k: v.detach() for k, v in info.items()}


def stack_batches(parts: Sequence[Any]) -> Any:
    """Member batches (dataclasses of tensors, one per member) stacked into one batch of
    the same class with a leading member dimension (fields that are None stay None)."""
    names = [f.name for f in dataclasses.fields(parts[0])]
    stacked = {
        n: None if getattr(parts[0], n) is None else torch.stack([getattr(p, n) for p in parts])
        for n in names
    }
    return type(parts[0])(**stacked)


@torch.no_grad()
def clip_per_member(params: list[Tensor], max_norm: float) -> Tensor:
    """Clip each member's gradient norm (over all ``params``, sliced on dim 0) to
    ``max_norm`` as ``torch.nn.utils.clip_grad_norm_`` does for one run; returns the norms."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads]).norm(dim=0)
    coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
    return norms


def stack_members(template: Algorithm, members: Sequence[Algorithm]) -> None:
    """Give every parameter and buffer of ``template`` a leading member dimension holding the
    members' values (the optimisers keep their parameters, now (P, ...) tensors)."""
    named = [dict(m.named_parameters()) | dict(m.named_buffers()) for m in members]
    with torch.no_grad():
        for name, t in [*template.named_parameters(), *template.named_buffers()]:
            t.data = torch.stack([n[name].detach() for n in named]).to(t.device)
    for opt in template.optimizers().values():
        if opt.state:
            raise GenpolicyError("a population starts from fresh optimisers (no saved state)")


def population_of(
    cfg: RunConfig, members: Sequence[Algorithm], generators: Sequence[torch.Generator | None]
) -> Algorithm:
    """One algorithm of ``cfg``'s class holding ``members`` stacked (``stack_members``),
    whose steps run every member at once, member k's loss noise from ``generators[k]``."""
    why = refusal(cfg)
    if why is not None:
        raise GenpolicyError(why)
    lead = members[0]
    algo = type(lead)(
        dataclasses.replace(lead.cfg),
        cfg.model,
        cfg.critic,
        lead.obs_dim,
        lead.act_dim,
        str(lead.device),
    )
    stack_members(algo, members)
    for name in TEMPERATURES:
        values = [getattr(m.cfg, name, None) for m in members]
        if values[0] is not None and len(set(values)) > 1:
            hyper = torch.tensor(values, dtype=torch.float32, device=algo.device)
            algo.register_buffer(f"hyper_{name}", hyper, persistent=False)
    algo.set_stepper(PopulationStepper(algo, generators, lr_scales(algo, members)))
    return algo


def lr_scales(template: Algorithm, members: Sequence[Algorithm]) -> dict[int, Tensor]:
    """Per optimiser of ``template`` whose members start at different learning rates:
    each member's lr over the lead member's (a (P,) tensor), keyed by ``id(optimizer)``."""
    out: dict[int, Tensor] = {}
    for name, opt in template.optimizers().items():
        lrs = [float(m.optimizers()[name].param_groups[0]["lr"]) for m in members]
        if len(set(lrs)) == 1:
            continue
        if lrs[0] <= 0:
            raise GenpolicyError(
                f"a population whose {name} learning rates differ needs the first member's "
                f"to be > 0, got {lrs[0]}"
            )
        scale = torch.tensor([lr / lrs[0] for lr in lrs], device=template.device)
        out[id(opt)] = scale
    return out


@torch.no_grad()
def member_state(template: Algorithm, k: int, into: Algorithm) -> None:
    """Copy member k's weights, buffers, optimiser states and counters into ``into``."""
    state = template.state_dict()
    into.load_state_dict(
        {n: t[k].clone() if isinstance(t, Tensor) else t for n, t in state.items()}
    )
    for name, opt in template.optimizers().items():
        src = opt.state_dict()
        state = {  # copies: the member's state must not alias the population's
            i: {key: (v if key == "step" else v[k]).clone() for key, v in s.items()}
            for i, s in src["state"].items()
        }
        own = into.optimizers()[name]  # keeps its own learning rate (MEMBER_HYPERS)
        own.load_state_dict({"state": state, "param_groups": own.state_dict()["param_groups"]})
    into.num_updates = template.num_updates


def refusal(cfg: RunConfig) -> str | None:
    """Why ``cfg`` cannot train in a population (one line), or None if it can."""
    if cfg.algo.name not in SUPPORTED:
        return (
            f"populations support {', '.join(SUPPORTED)}, not {cfg.algo.name!r}; "
            "train it as separate runs (genpolicy sweep --workers N)"
        )
    if cfg.algo.name == "gtp" and getattr(cfg.algo, "critic", "iql") != "iql":
        return (
            "a GTP population needs algo.critic=iql (the TD critic samples actions inside "
            "its step); train TD-critic runs separately"
        )
    if cfg.train.init_from:
        return "a population starts from scratch: drop train.init_from"
    return None


def pack_key(cfg: RunConfig) -> str | None:
    """What runs of one population share (the config but for ``MEMBER_KEYS``), or None if
    ``cfg`` cannot train in a population."""
    if refusal(cfg) is not None:
        return None
    d = cfg.to_dict()
    for section, keys in MEMBER_SETTINGS.items():
        d[section] = {k: v for k, v in (d.get(section) or {}).items() if k not in keys}
    return json.dumps(d, sort_keys=True, default=str)


def _hyper_names() -> list[str]:
    return [f"{sec}.{k}" for sec, keys in MEMBER_HYPERS.items() for k in keys]


def check_members(cfgs: Sequence[RunConfig]) -> None:
    """The configs a population can train together: one algorithm it supports, the same
    settings but for the seed, the run folder and ``MEMBER_HYPERS``, and distinct run
    folders."""
    if not cfgs:
        raise GenpolicyError("a population needs at least one member config")
    first = cfgs[0]
    why = refusal(first)
    if why is not None:
        raise GenpolicyError(why)
    for cfg in cfgs[1:]:
        diff = config_diff(first.to_dict(), cfg, ignore=MEMBER_SETTINGS)
        if diff:
            raise GenpolicyError(
                f"population members {first.run_name!r} and {cfg.run_name!r} differ in "
                f"{', '.join(diff)}; a population's runs may differ only in train.seed, "
                f"{', '.join(_hyper_names())}"
            )
    dirs = [f"{c.train.out_dir}/{c.run_name}" for c in cfgs]
    if len(set(dirs)) != len(dirs):
        raise GenpolicyError(
            "population members share a run folder; give each its own train.run_name"
        )


def fit_population(
    cfgs: Sequence[RunConfig],
    *,
    dataset: Any = None,
    overwrite: bool = False,
    on_start: Callable[[list[Trainer]], None] | None = None,
) -> list[FitResult]:
    """Train the runs ``cfgs`` (differing only in seed, run folder and ``MEMBER_HYPERS``) as
    one population; returns one ``FitResult`` per member, as ``fit`` would for each.

    ``on_start(trainers)`` runs once every member's folder is made, before training. A
    member whose loss turns non-finite stops (its error is printed, its folder keeps its
    last checkpoint) while the others go on; ``FitResult.summary["failed"]`` then holds the
    error. Ctrl-C or SIGTERM stops every member after the current update with a checkpoint,
    as it stops a lone run. Unlike a lone run a population shows no progress bar, and each
    member's ``train_seconds`` is the whole population's training time."""
    check_members(cfgs)
    trainers: list[Trainer] = []
    generators: list[torch.Generator] = []
    try:
        for cfg in cfgs:
            tr = Trainer(cfg, dataset=dataset, overwrite=overwrite)
            dataset = tr.dataset  # members share the data
            # the global stream a lone run would draw its loss noise from
            g = torch.Generator(device=tr.algo.device)
            if tr.algo.device.type == "cpu":
                g.set_state(torch.get_rng_state())
            else:  # a CUDA run draws from the device's own generator
                g.set_state(torch.cuda.get_rng_state(tr.algo.device))
            tr.noise_gen = g  # its checkpoints save it (a member resumes as a lone run)
            trainers.append(tr)
            generators.append(g)
        if on_start is not None:
            on_start(trainers)
        return Population(trainers, generators).run()
    finally:
        for tr in trainers:
            tr.close()


class Population:
    """The loop of ``fit_population``: one batched update, then each member's bookkeeping
    (logging, evaluation and checkpoints through its own ``Trainer``)."""

    def __init__(self, trainers: list[Trainer], generators: list[torch.Generator]) -> None:
        self.trainers = trainers
        self.cfg = trainers[0].cfg
        self.algo = population_of(self.cfg, [tr.algo for tr in trainers], generators)
        self.algo.set_horizon(self.cfg.train.steps)
        mode = str(self.cfg.train.compile)
        if mode != "off":  # the population's update; its members act eagerly
            self.algo.compile_update(mode)
            for tr in trainers:
                tr.algo.compile_acting("off")
        self.failed: dict[int, str] = {}  # member -> its error
        self._stop_requested = False
        self.stop_signal: int | None = None

    def request_stop(self) -> None:
        self._stop_requested = True

    def batch(self) -> Any:
        """One batch per member (each from its own generator), stacked on dim 0."""
        parts = [
            tr.dataset.sample(self.algo.batch_size, generator=tr.batch_gen) for tr in self.trainers
        ]
        return stack_batches(parts)

    def sync(self) -> None:
        """Copy each member's state into its trainer's algorithm (before it evaluates or
        saves)."""
        for k, tr in enumerate(self.trainers):
            member_state(self.algo, k, tr.algo)

    def _live(self) -> list[tuple[int, Trainer]]:
        return [(k, tr) for k, tr in enumerate(self.trainers) if k not in self.failed]

    def run(self) -> list[FitResult]:
        t = self.cfg.train
        start = time.perf_counter()
        for tr in self.trainers:
            tr.begin()
        previous = install_stop_handlers(self)
        step, interrupted = 0, False
        try:
            while step < t.steps and len(self.failed) < len(self.trainers):
                info = self.algo.update(self.batch())
                step += 1
                if self.trainers[0].due(step):  # the members share their cadence
                    self.sync()
                for k, tr in self._live():
                    tr.step = step
                    tr.record({key: v[k] for key, v in info.items()})
                    try:
                        tr.after_step()
                    except NonFiniteLoss as exc:  # this member stops; the others go on
                        self.failed[k] = str(exc)
                        tr.logger.close()
                        print(f"genpolicy: {tr.cfg.run_name}: {exc}", file=sys.stderr, flush=True)
                if self._stop_requested and step < t.steps:
                    interrupted = True
                    break
            self.sync()
            elapsed = time.perf_counter() - start
            results = []
            for k, tr in enumerate(self.trainers):
                if k in self.failed:
                    summary = {"run": tr.cfg.run_name, "failed": self.failed[k]}
                    results.append(FitResult(tr.algo, tr.run_dir, summary, True, list(tr.evals)))
                    continue
                tr.stop_signal = self.stop_signal
                results.append(tr.finish(interrupted, elapsed))
            return results
        except BaseException:
            for _, tr in self._live():
                tr.logger.close()
            raise
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

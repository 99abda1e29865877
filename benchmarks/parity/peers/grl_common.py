"""What the GenerativeRL adapters share (``grl_gmpo``, ``grl_gmpg``, ``grl_srpo``, ``grl_idql``).

* ``export`` (``peer_common``'s, which ``d3rlpy_run`` shares): a dataset's D4RL arrays to an
  ``.npz`` (genpolicy's python);
* the data as GenerativeRL's ``GPD4RLTensorDictDataset`` makes it of a D4RL file
  (``peer_common``'s ``qlearning_transitions``, ``iql_reward_scale``, ``load_data``) and
  its replay buffer's sampler (``epoch_batches``);
* the peer's own D4RL configs, read from its checkout (``load_peer_config``) and counted in
  updates (``updates_for``);
* the start of a ``run`` on a config (``load_run``, ``phase_steps``, ``announce``);
* its IQL critic phase, the same in all four algorithms (``iql_critic_phase``,
  ``config_critic_phase``), and its Adam phases on batches of a replay buffer
  (``adam_phase``);
* genpolicy's evaluation, one JSON line per evaluation (``Evaluator``, ``run_evaluator``,
  ``Evaluator.after``, ``act_fn_of``), and the peer's commit (``peer_commit``, with
  ``peer_common``'s ``checkout_commit``);
* the command line every adapter shares (``add_run_args``, ``add_steps_args``, ``main``).

Nothing here copies GenerativeRL code: the losses and networks are its own, imported from
its checkout; this module only feeds them batches and steps its optimisers as its
``train`` methods do.
"""

from __future__ import annotations

import argparse
import ast
import math
import re
import runpy
import sys
import time
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import peer_common
from peer_common import (  # noqa: F401
    EVAL_SEED,
    ROOT,
    checkout_commit,
    emit,
    eval_row,
    export,
    qlearning_transitions,
    read_export,
)

HERE = Path(__file__).resolve().parent
LEVELS = ("medium_replay", "medium_expert", "medium")
SUMMARY_WINDOW = 100  # updates whose mean loss a phase reports


def level_of(dataset: str) -> str | None:
    """The D4RL level a dataset name has ('hopper-medium-replay-v2' -> 'medium_replay')."""
    name = dataset.lower()
    for level in LEVELS:
        if re.search(level.replace("_", "[-_]") + r"(?![a-z])", name):
            return level
    return None


# --------------------------------------------------------------------------- data
def iql_reward_scale(rewards: np.ndarray, terminals: np.ndarray, max_steps: int = 1000) -> float:
    """1000 / (max - min) episode return, episodes split as GenerativeRL's
    ``GPD4RLDataset.return_range`` splits the transitions (at a terminal or every
    ``max_steps`` rows; the unfinished last one left out)."""
    returns, ret, length = [], 0.0, 0
    for r, d in zip(rewards, terminals, strict=True):
        ret += float(r)
        length += 1
        if d or length == max_steps:
            returns.append(ret)
            ret, length = 0.0, 0
    return 1000.0 / (max(returns) - min(returns))


@dataclass
class PeerData:
    """A D4RL-layout file as GenerativeRL's D4RL dataset class makes it: transitions of
    ``d4rl.qlearning_dataset``, raw observations, IQL's locomotion reward scale."""

    s: Any  # torch tensors: (n, obs_dim), (n, act_dim), (n, obs_dim), (n, 1), (n, 1)
    a: Any
    s2: Any
    r: Any
    done: Any
    env_id: str
    dataset: str
    task: str | None  # genpolicy's task that normalises the scores ('hopper')
    level: str | None  # the D4RL level of the dataset's name ('medium_replay')
    reward_scale: float

    @property
    def n(self) -> int:
        return int(self.s.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.s.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.a.shape[1])


def load_data(path: str, env: str | None = None) -> PeerData:
    """The ``.npz`` of ``export`` as the peer's tensors (``env`` overrides its Gymnasium id)."""
    import torch

    from genpolicy.envs.evaluate import score_task

    raw, dataset, env_id = read_export(path, env)
    d = qlearning_transitions(raw)
    scale = iql_reward_scale(d["rewards"], d["terminals"])
    return PeerData(
        s=torch.from_numpy(d["observations"]),
        a=torch.from_numpy(d["actions"]),
        s2=torch.from_numpy(d["next_observations"]),
        r=torch.from_numpy(d["rewards"] * scale).view(-1, 1),
        done=torch.from_numpy(d["terminals"]).view(-1, 1),
        env_id=env_id,
        dataset=dataset,
        task=score_task(env_id, dataset),
        level=level_of(dataset),
        reward_scale=scale,
    )


def epoch_batches(n: int, batch: int) -> Iterator[Any]:
    """Index batches as GenerativeRL's ``SamplerWithoutReplacement`` draws them: a new
    shuffle (the global torch RNG) each epoch, the last batch of an epoch short."""
    import torch

    while True:
        perm = torch.randperm(n)
        yield from perm.split(batch)


def updates_for(epochs: int, n: int, batch: int) -> int:
    """Updates in ``epochs`` passes over ``n`` rows at ``batch`` (the last batch short)."""
    return int(epochs) * math.ceil(n / int(batch))


# --------------------------------------------------------------------------- the peer
def prepare_peer(threads: int) -> None:
    """Import order and warnings for a ``run``: ``grl_compat`` before ``grl``, this checkout
    on the path for ``genpolicy.envs``, and ``threads`` torch threads."""
    sys.path.insert(0, str(HERE))
    import grl_compat  # noqa: F401  (before grl: see its docstring)
    import torch

    if str(ROOT) not in sys.path:
        sys.path.insert(1, str(ROOT))
    warnings.filterwarnings("ignore", message="To copy construct from a tensor")
    warnings.filterwarnings("ignore", message="Implicit dimension choice for softmax")
    torch.set_num_threads(threads)


def peer_source() -> Path:
    """The folder ``grl`` is imported from the parent of (GenerativeRL's checkout)."""
    import grl

    return Path(grl.__file__).resolve().parents[1]


def peer_commit() -> str | None:
    """The commit of the GenerativeRL checkout that ``grl`` is imported from: its git
    metadata; else the one ``generativerl.sh`` recorded in the virtualenv for that checkout;
    else ``GRL_COMMIT`` from the environment (for a copy of the source without ``.git``)."""
    return checkout_commit(peer_source(), "generativerl-source.txt", "GRL_COMMIT")


def load_peer_config(
    algo: str, model: str, data: PeerData, path: str | None = None
) -> tuple[Any, str]:
    """GenerativeRL's own D4RL config for ``data``'s task and level,
    ``grl_pipelines/benchmark/<algo>/<model>/<task>_<level>.py`` in its checkout (or the
    file ``path``), with every ``device`` set to the CPU. Returns the config's ``EasyDict``
    and the file's name relative to the checkout. Its module imports ``d4rl`` (only for
    its own dataset class, which the adapters replace); an empty module stands in for it
    while the file runs when d4rl is not installed."""
    import torch

    src = peer_source()
    if path is None:
        from genpolicy.envs.registry import task_of

        task = task_of(data.env_id) or data.task or ""
        file = src / "grl_pipelines" / "benchmark" / algo / model / f"{task}_{data.level}.py"
        if not file.is_file():
            raise SystemExit(
                f"GenerativeRL has no {algo} config for {data.env_id} / {data.dataset} "
                f"(no {file.relative_to(src)}); pass --peer-config with one of its configs"
            )
    else:
        file = Path(path).resolve()
    stand_in = False
    if "d4rl" not in sys.modules:
        try:
            __import__("d4rl")
        except ImportError:
            sys.modules["d4rl"] = types.ModuleType("d4rl")
            stand_in = True
    try:
        ns = runpy.run_path(str(file), run_name="grl_peer_config")
    finally:
        if stand_in:
            sys.modules.pop("d4rl", None)
    config = ns["config"]
    for key, size in (("state_size", data.obs_dim), ("action_size", data.act_dim)):
        if key in ns and ns[key] != size:
            raise SystemExit(f"{file.name} is for {key} {ns[key]}, the data has {size}")
    _set_devices(config, torch.device("cpu"))
    name = str(file.relative_to(src)) if file.is_relative_to(src) else file.name
    return config, name


def _set_devices(node: Any, device: Any) -> None:
    if isinstance(node, dict):
        for key in list(node):
            if key == "device":
                node[key] = device
            else:
                _set_devices(node[key], device)
    elif isinstance(node, list | tuple):
        for item in node:
            _set_devices(item, device)


def apply_overrides(parameter: Any, items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items on a config's ``train.parameter`` section (dotted keys, each one
    the config has; values as Python literals, else strings). Returns what was set."""
    done: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set takes KEY=VALUE, got {item!r}")
        try:
            value: Any = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        node, parts = parameter, key.split(".")
        for part in parts[:-1]:
            if part not in node:
                raise SystemExit(f"--set {key}: the config has no {part!r} in {sorted(node)}")
            node = node[part]
        if parts[-1] not in node:
            raise SystemExit(f"--set {key}: the config has no {parts[-1]!r} in {sorted(node)}")
        node[parts[-1]] = value
        done[key] = value
    return done


def load_run(a: argparse.Namespace, algo: str, model: str) -> tuple[PeerData, Any, str, dict]:
    """A ``run``'s data, the peer's config for it (``--peer-config``, else its D4RL config for
    ``algo`` and ``model``) and its name, and the ``--set`` overrides applied to the config's
    ``train.parameter``."""
    data = load_data(a.data, a.env)
    config, config_name = load_peer_config(algo, model, data, a.peer_config)
    overrides = apply_overrides(config.train.parameter, a.set)
    return data, config, config_name, overrides


def phase_steps(
    a: argparse.Namespace, data: PeerData, sections: dict[str, Any], unit: str = "epochs"
) -> dict[str, int]:
    """Each phase's updates, in the order of ``sections`` (the phase's config section):
    ``--<phase>-steps``, else the section's ``unit`` (epochs) times its batches per epoch."""
    steps = {}
    for name, section in sections.items():
        given = getattr(a, f"{name}_steps")
        steps[name] = (
            updates_for(section[unit], data.n, section.batch_size) if given is None else given
        )
    return steps


def announce(config_name: str, data: PeerData, steps: dict[str, int], beta: Any = None) -> None:
    """The config, the data, the temperature (if any) and each phase's updates, to stderr."""
    counts = [f"{n} {name}" for name, n in steps.items()]
    updates = ", ".join(counts[:-1]) + f" and {counts[-1]} updates"
    temperature = "" if beta is None else f"beta {beta}; "
    print(
        f"{config_name}: {data.n} transitions, reward scale {data.reward_scale:.4f}; "
        f"{temperature}{updates}",
        file=sys.stderr,
        flush=True,
    )


# --------------------------------------------------------------------------- phases
@dataclass
class Phase:
    """A training phase's count, time and recent losses."""

    name: str
    steps: int = 0
    seconds: float = 0.0
    losses: dict[str, list[float]] = field(default_factory=dict)

    def record(self, **losses: float) -> None:
        for key, value in losses.items():
            window = self.losses.setdefault(key, [])
            window.append(float(value))
            del window[:-SUMMARY_WINDOW]

    @property
    def rate(self) -> float | None:
        return round(self.steps / self.seconds, 3) if self.steps and self.seconds > 0 else None

    def summary(self) -> dict[str, float]:
        return {k: round(float(np.mean(v)), 5) for k, v in self.losses.items() if v}

    def report(self) -> None:
        if self.steps:
            terms = ", ".join(f"{k} {v:.4f}" for k, v in self.summary().items())
            print(
                f"{self.name}: {self.steps} updates in {self.seconds:.1f} s "
                f"({self.rate:.2f}/s); {terms}",
                file=sys.stderr,
                flush=True,
            )


def run_phase(
    name: str, steps: int, update: Callable[[int], dict[str, float]], after: Any = None
) -> Phase:
    """``steps`` calls of ``update(step)`` (1-based), timed, each returning its losses;
    ``after(step, phase)``, if given, runs outside the clock after every update."""
    phase = Phase(name)
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        losses = update(step)
        phase.seconds += time.perf_counter() - t0
        phase.steps = step
        phase.record(**losses)
        if after is not None:
            after(step, phase)
    phase.report()
    return phase


def iql_critic_phase(
    critic: Any,
    data: PeerData,
    steps: int,
    batch: int,
    lr: float,
    tau: float,
    discount: float,
    momentum: float,
) -> Phase:
    """The critic phase of GenerativeRL's GMPO, GMPG, SRPO and IDQL ``train``: per batch its
    critic's ``v_loss`` (expectile ``tau`` of the target double-Q minimum) and an Adam step
    on V, then ``iql_q_loss`` (both Q towards r + discount (1 - d) V(s')) and an Adam step on
    Q, then the Polyak update of the Q target by ``momentum``; its own replay buffer, so
    batches start a new epoch."""
    import torch

    q_opt = torch.optim.Adam(critic.q.parameters(), lr=lr)
    v_opt = torch.optim.Adam(critic.v.parameters(), lr=lr)
    batches = epoch_batches(data.n, batch)

    def update(_: int) -> dict[str, float]:
        i = next(batches)
        v_loss, next_v = critic.v_loss(
            state=data.s[i], action=data.a[i], next_state=data.s2[i], tau=tau
        )
        v_opt.zero_grad(set_to_none=True)
        v_loss.backward()
        v_opt.step()
        q_loss, _, _ = critic.iql_q_loss(
            state=data.s[i],
            action=data.a[i],
            reward=data.r[i],
            done=data.done[i],
            next_v=next_v,
            discount=discount,
        )
        q_opt.zero_grad(set_to_none=True)
        q_loss.backward()
        q_opt.step()
        with torch.no_grad():
            for p, pt in zip(critic.q.parameters(), critic.q_target.parameters(), strict=True):
                pt.copy_(momentum * p + (1 - momentum) * pt)
        return {"v_loss": v_loss.item(), "q_loss": q_loss.item()}

    return run_phase("critic", steps, update)


def config_critic_phase(critic: Any, data: PeerData, steps: int, section: Any) -> Phase:
    """``iql_critic_phase`` with the batch, learning rate, expectile, discount and momentum of
    a config's ``critic`` section."""
    return iql_critic_phase(
        critic,
        data,
        steps,
        section.batch_size,
        section.learning_rate,
        section.tau,
        section.discount_factor,
        section.update_momentum,
    )


def adam_phase(
    name: str,
    steps: int,
    parameters: Any,
    lr: float,
    data: PeerData,
    batch: int,
    loss_of: Callable[[Any], Any],
    after: Any = None,
) -> Phase:
    """A phase of ``steps`` Adam updates (learning rate ``lr``) of ``loss_of(i)``, ``i`` the
    index batches of the phase's own replay buffer (``epoch_batches``), as the behaviour
    phases of GenerativeRL's ``train`` methods and GMPO's policy phase update."""
    import torch

    opt = torch.optim.Adam(parameters, lr=lr)
    batches = epoch_batches(data.n, batch)

    def update(_: int) -> dict[str, float]:
        loss = loss_of(next(batches))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    return run_phase(name, steps, update, after)


# --------------------------------------------------------------------------- evaluation
class Evaluator:
    """genpolicy's evaluation of a policy (``genpolicy.envs.evaluate.evaluate``): episodes of
    the Gymnasium environment seeded ``eval_seed + i``, the sampling noise seeded with
    ``eval_seed`` (the training RNG left as it was), D4RL-normalised scores; each
    evaluation printed, and appended to ``out``, as one JSON line of ``base``, the results
    and the fields given."""

    def __init__(
        self, data: PeerData, episodes: int, eval_seed: int, out: str | None, base: dict
    ) -> None:
        self.data, self.episodes, self.eval_seed, self.out = data, episodes, eval_seed, out
        self.base = base

    def __call__(
        self, act: Callable[[np.ndarray], np.ndarray], step: int, **fields: Any
    ) -> dict[str, Any]:
        import torch

        from genpolicy.envs.evaluate import evaluate

        with torch.random.fork_rng():
            torch.manual_seed(self.eval_seed)
            res = evaluate(act, self.data.env_id, self.episodes, self.eval_seed, self.data.task)
        row = eval_row(self.base, step, res, **fields)
        emit(row, self.out)
        return row

    def after(
        self,
        act: Callable[[np.ndarray], np.ndarray],
        last: int,
        every: int | None,
        earlier: list[Phase],
        clip_actions: bool,
        losses: bool = True,
    ) -> Callable[[int, Phase], None]:
        """``run_phase``'s ``after`` for the phase evaluated (``last`` updates): an evaluation
        when ``due``, with the updates per second of that phase and of the ``earlier`` ones
        and, with ``losses``, each phase's recent losses."""

        def after(step: int, phase: Phase) -> None:
            if due(step, last, every):
                fields: dict[str, Any] = {"updates_per_s": phase.rate}
                fields |= {f"{p.name}_updates_per_s": p.rate for p in earlier}
                if losses:
                    fields["losses"] = {p.name: p.summary() for p in [*earlier, phase]}
                self(act, step, **fields, clip_actions=clip_actions)

        return after


def run_evaluator(
    a: argparse.Namespace,
    data: PeerData,
    algo: str,
    model: str,
    config_name: str | None = None,
    **fields: Any,
) -> Evaluator:
    """The ``Evaluator`` of a ``run``: its lines start with the peer, its commit, the config
    file (if any), the algorithm, model, environment, dataset and seed, then ``fields``."""
    base: dict[str, Any] = {"peer": "GenerativeRL", "peer_commit": peer_commit()}
    if config_name is not None:
        base["peer_config"] = config_name
    base |= {
        "algo": algo,
        "model": model,
        "env": data.env_id,
        "dataset": data.dataset,
        "seed": a.seed,
        **fields,
    }
    return Evaluator(data, a.eval_episodes, a.eval_seed, a.out, base)


def act_fn_of(
    sample: Callable[[Any], Any], clip_actions: bool
) -> Callable[[np.ndarray], np.ndarray]:
    """The act function of an evaluation: ``sample`` of the states as a float32 tensor,
    without gradients, clipped to [-1, 1] with ``clip_actions``."""
    import torch

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = sample(torch.as_tensor(obs, dtype=torch.float32))
        return (out.clamp(-1.0, 1.0) if clip_actions else out).numpy()

    return act


def due(step: int, last: int, every: int | None) -> bool:
    """Whether an evaluation follows update ``step`` of a phase of ``last`` updates: every
    ``every`` updates (None: a fifth of the phase) and after the last."""
    if every is None:
        every = max(1, last // 5)
    return step == last or bool(every and step % every == 0)


# --------------------------------------------------------------------------- command line
def add_run_args(r: argparse.ArgumentParser) -> None:
    """The options of every adapter's ``run`` but its phases'."""
    r.add_argument("data", help="the .npz of the export step")
    r.add_argument("--env", help="Gymnasium id (default: the dataset's, e.g. Hopper-v5)")
    r.add_argument(
        "--peer-config",
        help="the peer's config file to use (default: its D4RL config for the dataset)",
    )
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the config's train.parameter (e.g. critic.tau=0.8)",
    )
    r.add_argument("--seed", type=int, default=0)
    r.add_argument(
        "--eval-every",
        type=int,
        help="updates of the last phase between evaluations (default: a fifth of the "
        "phase); 0: at its end only",
    )
    r.add_argument("--eval-episodes", type=int, default=10)
    r.add_argument("--eval-seed", type=int, default=EVAL_SEED)
    r.add_argument("--clip-actions", action="store_true", help="clip actions to [-1, 1]")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--out", help="append the JSON lines to this file")
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="print the config file, the temperature and each phase's updates, and stop",
    )


def add_steps_args(r: argparse.ArgumentParser, phases: tuple[str, ...], unit: str) -> None:
    """``--<phase>-steps`` for each phase, defaulting to the config's ``unit`` (epochs)."""
    for phase in phases:
        r.add_argument(
            f"--{phase}-steps",
            type=int,
            help=f"updates (default: the config's {unit} times the batches per epoch)",
        )


def main(doc: str, add_phase_args: Callable[[argparse.ArgumentParser], None], run: Any) -> None:
    """``export DATASET OUT`` / ``run DATA.npz ...`` of an adapter on the peer's configs."""
    peer_common.main(doc, "train and evaluate the peer (needs GenerativeRL)", add_phase_args, run)

"""The generic training loop: steps, evaluation, logging, checkpoints, resume.

It knows nothing about losses: each step draws a batch and calls ``algo.update(batch)``,
which returns scalar tensors. They are summed on the device and read back (one
synchronisation) every ``train.log_every`` steps, where a non-finite loss stops the run
and leaves the last good checkpoint in place.

Run directory ``<train.out_dir>/<run name>/``: ``config.yaml`` (resolved),
``metrics.jsonl``/``metrics.csv``/``tb/``, checkpoint ``checkpoints/last``
(``last.safetensors`` + ``last.json``; every ``checkpoint_every`` steps, at the end and on
Ctrl-C), checkpoint ``checkpoints/best`` (best evaluation), ``checkpoints/step<N>`` for each
N in ``train.checkpoint_at`` (branch points for ``train.init_from``) and ``summary.json``.
Checkpoints record the dataset's fingerprint; resuming or branching on other transitions
(a file remade under the same name) is refused.

Each evaluation row holds ``eval/*`` (the configured sampler) and, for every k in
``train.eval_act_steps``, ``eval_k{k}/*`` from the same weights acting with k sampler
steps, and for every n in ``train.eval_act_candidates``, ``eval_c{n}/*`` acting with the
best of n sampled actions by the critic's Q; ``best`` follows ``eval/*`` only.

    from genpolicy.training.config import create
    from genpolicy.training.trainer import fit
    result = fit(create("default", {"train.steps": 500}))
    result.algo.act(obs)                       # numpy in, numpy out
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
import shlex
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genpolicy.envs.evaluate import EvalResult, evaluate, score_task
from genpolicy.errors import GenpolicyError
from genpolicy.rl.algos import Algorithm, build_algorithm
from genpolicy.training import checkpoint as ckpt_io
from genpolicy.training import lock
from genpolicy.training.config import MEMORY_ONLY_ALGO_KEYS, RunConfig, config_diff
from genpolicy.training.device import check_device
from genpolicy.training.logger import MetricsLogger, WandbSettings
from genpolicy.training.progress import Ticker, progress_bar
from genpolicy.training.run_data import evaluation_env, load_data
from genpolicy.training.run_dir import (
    check_branch_source,
    check_same_file,
    check_writable,
    final_summary,
    saved_speed,
    warn,
    write_error,
)
from genpolicy.training.stop import install_stop_handlers

StepHook = Callable[[int, "Trainer"], bool | None]


@dataclass
class FitResult:
    algo: Algorithm
    run_dir: Path
    summary: dict[str, Any]
    interrupted: bool = False
    evals: list[dict[str, Any]] = field(default_factory=list)
    stop_signal: int | None = None  # SIGINT or SIGTERM when a signal stopped the run
    already_finished: bool = False  # resumed a run that had ended: nothing was trained


def _no_last_checkpoint(run_dir: Path, ckpt_dir: Path) -> str:
    """Why a run without a ``last`` checkpoint cannot resume, and a way on that keeps what
    the folder holds (``--overwrite`` would delete its other checkpoints)."""
    if not run_dir.is_dir():
        return f"cannot resume {run_dir}: there is no such run folder; drop --resume"
    names = ckpt_io.names(ckpt_dir)
    if not names:
        return (
            f"cannot resume {run_dir}: it has no checkpoint; drop --resume and pass --overwrite "
            "to start it again, or --set train.run_name=NEW to keep it"
        )
    steps = [n for n in names if ckpt_io.is_step(n)]
    newest = ckpt_dir / (steps[-1] if steps else names[0])  # the latest step, else best
    return (
        f"cannot resume {run_dir}: no checkpoint 'last' (it holds {', '.join(names)}); to keep "
        f"them, start a new run from one: --set train.run_name=NEW "
        f"--set {shlex.quote(f'train.init_from={newest}')} --set train.init_history=true"
    )


class Trainer:
    """One run: owns the algorithm, the dataset, the run directory and the loop state."""

    def __init__(
        self,
        cfg: RunConfig,
        *,
        dataset: Any = None,
        resume: bool = False,
        overwrite: bool = False,
    ) -> None:
        self.cfg = cfg
        t = cfg.train
        if resume and overwrite:
            raise GenpolicyError(
                "--resume continues a run and --overwrite replaces it; pass only one of them"
            )
        check_device(t.device, "train.device")
        if t.threads:
            torch.set_num_threads(t.threads)
        self.run_dir = Path(t.out_dir) / cfg.run_name
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.finished = False  # resumed a run that had already ended: run() changes nothing
        self.stop_signal: int | None = None  # the signal that stopped the run (SIGINT/SIGTERM)
        self._stop_requested = False
        self._locked = False
        # one writer per run folder, taken before the folder is looked at (or deleted)
        lock.acquire(self.run_dir)
        self._locked = True
        try:
            self._setup(dataset, resume, overwrite)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the run folder's lock (``run`` does so when it ends)."""
        if self._locked:
            self._locked = False
            lock.release(self.run_dir)

    def __del__(self) -> None:  # a trainer dropped without run() or close() frees its lock
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser (interpreter exit)
            pass

    def _setup(self, dataset: Any, resume: bool, overwrite: bool) -> None:
        cfg, t = self.cfg, self.cfg.train
        if resume:
            if not ckpt_io.exists(self.ckpt_dir, "last"):
                raise GenpolicyError(_no_last_checkpoint(self.run_dir, self.ckpt_dir))
            for folder in (self.run_dir, self.ckpt_dir):
                check_writable(folder, f"cannot resume {self.run_dir}:")
        elif self.run_dir.exists() and any(self.run_dir.iterdir()) and not overwrite:
            raise GenpolicyError(
                f"run directory {self.run_dir} exists; pass --resume to continue it, "
                "--overwrite to replace it, or --set train.run_name=NEW"
            )

        seed_everything(t.seed)
        self.dataset = dataset if dataset is not None else load_data(cfg)
        self.fingerprint: str = self.dataset.fingerprint()  # checkpoints record it
        self.env_id = evaluation_env(cfg, self.dataset)
        self.algo = build_algorithm(
            cfg.algo, cfg.model, cfg.critic, self.dataset.obs_dim, self.dataset.act_dim, t.device
        )
        self.algo.set_horizon(t.steps)  # learning-rate schedules run over the whole run
        self.algo.attach_dataset(self.dataset)
        norm = self.dataset.normalizer_state()
        if norm.get("normalize_obs", True):
            self.algo.set_obs_normalizer(
                torch.tensor(norm["obs_mean"]), torch.tensor(norm["obs_std"])
            )
        self.batch_gen = torch.Generator(device=self.dataset.device).manual_seed(t.seed + 1)
        self.noise_gen: torch.Generator | None = None  # a population member's (see rng_state)
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.evals: list[dict[str, Any]] = []
        self.elapsed = 0.0  # training seconds of earlier segments (resumes)
        self._segment_start: float | None = None  # perf_counter() when run() started
        if resume:
            self._restore(ckpt_io.load(self.ckpt_dir / "last", t.device))
            if self.step > t.steps:
                raise GenpolicyError(
                    f"cannot resume {self.run_dir}: its checkpoint is at step {self.step}, "
                    f"past train.steps={t.steps}; set train.steps={self.step} or more"
                )
            self.finished = self.step == t.steps and final_summary(self.run_dir, self.step)
            if self.finished:
                return  # nothing to train: nothing on disk changes
        elif t.init_from:
            self._init_from(t.init_from)
        pre = cfg.algo.pretrain_updates
        if pre and t.steps <= pre:
            warn(
                f"train.steps={t.steps} <= algo.pretrain_steps={pre}: the run ends in "
                f"{cfg.algo.name}'s pretraining and never trains its policy; raise train.steps "
                "or lower algo.pretrain_steps"
            )
        if t.compile != "off":  # after any restore: the compiled steps see the loaded state
            self.algo.compile_update(t.compile)
            self.algo.compile_acting(t.compile)
        if overwrite and self.run_dir.exists():
            shutil.rmtree(self.run_dir)  # only now that every check has passed
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.run_dir, exc) from None
        check_writable(self.run_dir, "cannot train:")
        cfg.save(self.run_dir / "config.yaml")
        wandb = None
        if t.wandb:
            wandb = WandbSettings(t.wandb_project, t.wandb_mode, cfg.run_name, cfg.to_dict())
        self.logger = MetricsLogger(
            self.run_dir, t.tensorboard, resume_step=self.step if resume else None, wandb=wandb
        )
        if not resume:
            for row in self.evals:  # init_history: the branch point's curve so far
                self.logger.log({"kind": "eval", **row})
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}  # per key: some losses exist only in some phases
        self._count = 0

    # -- checkpoints -----------------------------------------------------------------------
    def payload(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "step": self.step,
            "dims": {"obs": self.dataset.obs_dim, "act": self.dataset.act_dim},
            "env_id": self.env_id,
            "dataset": getattr(self.dataset, "name", self.cfg.data.dataset),
            "dataset_fingerprint": self.fingerprint,
            "normalizer": self.dataset.normalizer_state(),
            "algo": self.algo.training_state(),
            "rng": self.rng_state(),
            "progress": {"best": self.best, "evals": self.evals, "elapsed": self.live_elapsed()},
        }

    def rng_state(self) -> dict[str, Any]:
        """The random states a checkpoint keeps; a population member's loss noise comes
        from its own generator (``noise_gen``), saved where a lone run keeps the global one."""
        state = ckpt_io.rng_state(self.batch_gen)
        if self.noise_gen is not None:
            key = "torch" if self.noise_gen.device.type == "cpu" else "cuda"
            if key == "torch":
                state["torch"] = self.noise_gen.get_state()
            else:
                state["cuda"][self.noise_gen.device.index or 0] = self.noise_gen.get_state()
        return state

    def save(self, name: str = "last") -> Path:
        """Write checkpoint ``name`` (``checkpoints/<name>.safetensors`` + ``.json``); returns
        the JSON file's path."""
        return ckpt_io.save(self.ckpt_dir / name, self.payload())

    def _restore(self, ckpt: dict[str, Any]) -> None:
        diff = config_diff(
            ckpt["config"], self.cfg, ignore={"train": ["*"], "algo": MEMORY_ONLY_ALGO_KEYS}
        )
        if diff:
            raise GenpolicyError(
                f"cannot resume {self.run_dir}: config differs from the saved one in "
                f"{', '.join(diff)}; use the saved config ({self.run_dir / 'config.yaml'})"
            )
        check_same_file(
            ckpt,
            self.fingerprint,
            self.cfg.data.dataset,
            f"cannot resume {self.run_dir}:",
            "start a new run",
        )
        self.algo.load_training_state(ckpt["algo"])
        ckpt_io.set_rng_state(ckpt["rng"], self.batch_gen)
        self.step = int(ckpt["step"])
        prog = ckpt.get("progress", {})
        self.best, self.evals = prog.get("best"), list(prog.get("evals", []))
        self.elapsed = float(prog.get("elapsed", 0.0))

    def _init_from(self, path: str) -> None:
        """Start from the checkpoint at ``path``: the algorithm's state (weights, optimiser
        states, update counter) and the step counter; evaluations and best start empty, or
        with ``train.init_history`` the evaluations and seconds carry over (best does not)."""
        where = f"train.init_from={path!r}"
        try:
            ckpt = ckpt_io.load(Path(path).expanduser(), self.cfg.train.device)
        except GenpolicyError as e:
            raise GenpolicyError(f"{where}: {e}") from None
        check_branch_source(ckpt, self.cfg, self.dataset, self.fingerprint, where)
        try:
            self.algo.load_training_state(ckpt["algo"])
        except RuntimeError as exc:  # parameter names or shapes differ
            first = str(exc).strip().splitlines()[0]
            raise GenpolicyError(
                f"{where}: its networks do not fit this config's ({first}); keep the model "
                "and critic sections of the run it came from"
            ) from None
        self.step = int(ckpt["step"])
        if self.cfg.train.init_history:
            prog = ckpt.get("progress", {})
            self.evals = [e for e in prog.get("evals", []) if int(e["step"]) <= self.step]
            self.elapsed = float(prog.get("elapsed", 0.0))
        if self.step >= self.cfg.train.steps:
            raise GenpolicyError(
                f"{where} is at step {self.step}, not before train.steps="
                f"{self.cfg.train.steps}; raise train.steps (it counts the loaded steps)"
            )

    # -- evaluation ------------------------------------------------------------------------
    def _evaluate_once(self, episodes: int | None, act_cfg: Any = None) -> EvalResult:
        """One evaluation; ``act_cfg``: other sampler settings (default: ``algo.act``)."""
        assert self.env_id is not None
        t = self.cfg.train
        self.algo.seed_acting(t.eval_seed)
        self.algo.eval()
        act = self.algo.act
        if act_cfg is not None:
            act = functools.partial(self.algo.act, act_cfg=act_cfg)
        try:
            return evaluate(
                act,
                self.env_id,
                episodes or t.eval_episodes,
                t.eval_seed,
                score_task(self.env_id, getattr(self.dataset, "name", None)),
            )
        finally:
            self.algo.train()

    def _evaluate_with(self, episodes: int | None, **act_changes: int) -> EvalResult:
        """The same evaluation with an act config changed by ``act_changes`` (steps=K or
        candidates=N; the algorithm's own config is left as it is)."""
        algo_cfg: Any = self.algo.cfg
        return self._evaluate_once(episodes, dataclasses.replace(algo_cfg.act, **act_changes))

    def evaluate(self, episodes: int | None = None) -> EvalResult | None:
        if self.env_id is None:
            return None
        res = self._evaluate_once(episodes)
        row = {"step": self.step, **{f"eval/{k}": v for k, v in res.to_dict().items()}}
        extras = [(f"eval_k{k}", {"steps": k}) for k in self.cfg.train.eval_act_steps]
        extras += [(f"eval_c{n}", {"candidates": n}) for n in self.cfg.train.eval_act_candidates]
        for prefix, change in extras:
            extra = self._evaluate_with(episodes, **change)
            row[f"{prefix}/return_mean"] = extra.return_mean
            row[f"{prefix}/score_mean"] = extra.score_mean
            row[f"{prefix}/score_std"] = extra.score_std
        self.evals.append(row)
        key = "eval/score_mean" if res.score_mean is not None else "eval/return_mean"
        if self.best is None or row[key] > self.best[key]:
            self.best = row
            self.save("best")
        self.logger.log({"kind": "eval", **row})
        return res

    # -- the loop --------------------------------------------------------------------------
    def _flush(self) -> dict[str, float]:
        """Average the accumulated losses (one sync); raise on a non-finite value."""
        if not self._count:
            return {}
        keys = list(self._sums)
        counts = torch.tensor([float(self._counts[k]) for k in keys])
        vals = (torch.stack([self._sums[k] for k in keys]).cpu() / counts).tolist()
        means = dict(zip(keys, vals, strict=True))
        self._sums, self._counts, self._count = {}, {}, 0
        bad = [k for k, v in means.items() if not math.isfinite(v)]
        if bad:
            if ckpt_io.exists(self.ckpt_dir, "last"):
                last = self.ckpt_dir / "last.json"
                where = (
                    f"the last good checkpoint is {last}. Lower the learning rate or algo.beta, "
                    "or set a gradient clip, and start again (--overwrite), or branch from it "
                    f"with those changes: --set train.init_from={last} --set train.run_name=NEW"
                )
            else:
                where = (
                    "no checkpoint was written before it. Lower the learning rate or "
                    "algo.beta, or set a gradient clip, and start again (--overwrite)"
                )
            raise NonFiniteLoss(
                f"non-finite loss at step {self.step} ({', '.join(bad)}); stopped, {where}"
            )
        return means

    def live_elapsed(self) -> float:
        """Training seconds so far, this segment included: what a checkpoint saves, so a
        run resumed after a kill counts the time up to its last checkpoint."""
        if self._segment_start is None:
            return self.elapsed
        return self.elapsed + time.perf_counter() - self._segment_start

    def request_stop(self) -> None:
        self._stop_requested = True

    def run(self, on_step: StepHook | None = None) -> FitResult:
        try:
            if self.finished:  # resumed after its end: report the saved summary, write nothing
                summary = json.loads((self.run_dir / "summary.json").read_text())
                evals = list(self.evals)
                return FitResult(self.algo, self.run_dir, summary, False, evals, None, True)
            try:
                return self._run(on_step)
            except OSError as exc:  # e.g. the folder lost its write permission mid-run
                raise write_error(self.run_dir, exc, self._ckpt_note()) from None
        finally:
            self.close()

    def _ckpt_note(self) -> str:
        """Where the run's last good checkpoint is, if it has one."""
        if ckpt_io.exists(self.ckpt_dir, "last"):
            return f"the last checkpoint is {self.ckpt_dir / 'last.json'}"
        return "no checkpoint was written"

    def _run(self, on_step: StepHook | None) -> FitResult:
        t = self.cfg.train
        self.algo.set_horizon(t.steps)
        bar = progress_bar(t.progress, t.steps, self.step, self.cfg.run_name)
        ticker = None
        if bar is None and t.log_interval_s > 0:
            ticker = Ticker(self.cfg.run_name, t.steps, self.step, t.log_interval_s)
        previous = install_stop_handlers(self)
        interrupted = False
        self.begin()
        try:
            while self.step < t.steps:
                batch = self.dataset.sample(self.algo.batch_size, generator=self.batch_gen)
                info = self.algo.update(batch)
                self.step += 1
                self.record(info)
                means = self.after_step()
                if bar is not None:
                    if means:
                        bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in means.items()})
                    bar.update(1)
                elif ticker is not None:
                    ticker.tick(self.step)
                if (on_step is not None and on_step(self.step, self)) or self._stop_requested:
                    if self.step < t.steps:
                        interrupted = True
                        break
            return self.finish(interrupted)
        except BaseException:
            self.logger.close()
            raise
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if bar is not None:
                bar.close()

    # -- one step's bookkeeping (the lone loop above and a population's loop share it) ----
    def begin(self) -> None:
        """Start the clock of this training segment."""
        self._t_start, self._step_start = time.perf_counter(), self.step
        self._segment_start = self._t_start
        self._last_log = (self._t_start, self.step)

    def record(self, info: dict[str, Tensor]) -> None:
        """Add one update's metrics to the running sums of the next log row."""
        for k, v in info.items():
            v = v.detach().float()
            self._sums[k] = self._sums[k] + v if k in self._sums else v.clone()
            self._counts[k] = self._counts.get(k, 0) + 1
        self._count += 1

    def due(self, step: int) -> bool:
        """Whether ``after_step`` at ``step`` evaluates or writes a checkpoint (it reads the
        algorithm's weights then)."""
        t = self.cfg.train
        return (
            bool(t.eval_every and step % t.eval_every == 0 and step < t.steps)
            or bool(t.checkpoint_every and step % t.checkpoint_every == 0)
            or step in t.checkpoint_at
        )

    def after_step(self) -> dict[str, float]:
        """The log row, evaluation and checkpoints due at ``self.step``; returns the row's
        means (empty when no row was due)."""
        t = self.cfg.train
        means: dict[str, float] = {}
        if self.step % t.log_every == 0 or self.step == t.steps:
            means = self._flush()
            now = time.perf_counter()
            last_t, last_step = self._last_log
            sps = (self.step - last_step) / max(now - last_t, 1e-9)
            self._last_log = (now, self.step)
            self.logger.log({"kind": "train", "step": self.step, "steps_per_s": sps, **means})
        if t.eval_every and self.step % t.eval_every == 0 and self.step < t.steps:
            self.evaluate()
        if t.checkpoint_every and self.step % t.checkpoint_every == 0:
            self._flush_and_save()
        if self.step in t.checkpoint_at:
            self.save(f"step{self.step}")
        return means

    def finish(self, interrupted: bool = False, seconds: float | None = None) -> FitResult:
        """The final evaluation and checkpoint, and the summary; ``seconds``: this
        segment's training time when another loop measured it (a population's)."""
        if seconds is not None:
            self._segment_start = time.perf_counter() - seconds
        self.elapsed, self._segment_start = self.live_elapsed(), None
        evaluated = bool(self.evals) and self.evals[-1]["step"] == self.step
        if not interrupted and not evaluated:  # a run resumed after its final checkpoint
            self.evaluate()  # was evaluated already
        self._flush_and_save()
        done = self.step - self._step_start
        if done:
            wall = seconds if seconds is not None else time.perf_counter() - self._t_start
            sps = done / max(wall, 1e-9)
        else:  # resumed at its last step (stopped before its summary): the saved speed
            sps = saved_speed(self.run_dir)
        summary = self.summary(sps, interrupted, done)
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        self.logger.close()
        return FitResult(
            self.algo, self.run_dir, summary, interrupted, list(self.evals), self.stop_signal
        )

    def _flush_and_save(self) -> None:
        if self._count:  # check the losses since the last row before trusting the parameters
            means = self._flush()
            self.logger.log({"kind": "train", "step": self.step, **means})
        self.save("last")

    def summary(self, steps_per_s: float, interrupted: bool, segment_steps: int) -> dict[str, Any]:
        """The run's ``summary.json``; ``steps_per_s`` and ``segment_steps`` are this
        segment's (a resumed run or a branch trains fewer steps than ``steps``)."""
        from genpolicy import __version__

        last = self.evals[-1] if self.evals else None
        return {
            "run": self.cfg.run_name,
            "algo": self.cfg.algo.name,
            "dataset": getattr(self.dataset, "name", self.cfg.data.dataset),
            "dataset_fingerprint": self.fingerprint,
            "env_id": self.env_id,
            "seed": self.cfg.train.seed,
            "steps": self.step,
            "interrupted": interrupted,
            "steps_per_s": steps_per_s,
            "segment_steps": segment_steps,
            "train_seconds": self.elapsed,
            "acting_weights": self.algo.acting_weights(),
            "last": last,
            "best": self.best,
            "genpolicy_version": __version__,
        }


class NonFiniteLoss(GenpolicyError):
    """Raised when a logged loss is NaN or infinite."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(
    cfg: RunConfig,
    *,
    dataset: Any = None,
    resume: bool = False,
    overwrite: bool = False,
    on_step: StepHook | None = None,
) -> FitResult:
    """Train ``cfg`` end to end and return the algorithm, run directory and summary.

    ``on_step(step, trainer)`` is called after every step; returning True stops the run
    as Ctrl-C does (checkpoint saved, ``interrupted=True``).
    """
    return Trainer(cfg, dataset=dataset, resume=resume, overwrite=overwrite).run(on_step)

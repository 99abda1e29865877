"""What GMPG's policy-gradient phase does to the policy, step by step, from a pretrained run.

    OMP_NUM_THREADS=1 python benchmarks/gmpg_pg_diagnose.py RUN [--pg-steps 200] \
        [--every 50] [--states 1024] [--set algo.beta=5 ...] [--out FILE.json]

RUN is a GMPG run folder whose checkpoint ``last`` is at the end of pretraining (e.g. one
of ``benchmarks/sweeps/gmpg-pretrain.yaml``'s). The phase is run by the trainer itself
(``train.init_from``, into a temporary folder, no evaluation); every ``--every`` updates,
on a fixed set of dataset states and a fixed prior draw, it reports:

* ``q_train`` / ``q_act``: mean Q (the critic's target min-Q, as the loss uses) of the
  policy's actions from the differentiable sampler that the loss optimises
  (``algo.grad_steps`` x ``algo.grad_solver``) and from the sampler used to act
  (``algo.act``); ``q_mu_act``: the frozen behaviour model's, acting sampler; ``q_data``:
  the dataset actions';
* ``gap``: mean distance between the two samplers' actions from the same draw (how far the
  map the loss shapes is from the map that acts), and ``gap_mu`` the same for mu;
* ``move``: mean distance between the policy's and mu's actions (acting sampler);
* ``out_of_box``: share of acting-sampler action coordinates outside [-1, 1];
* the trainer's own logged terms over the last ``--every`` updates (kl_bits, q_term, ...).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from genpolicy.experiments.jsonio import compact_json
from genpolicy.training.checkpoint import load
from genpolicy.training.config import RunConfig, apply_overrides, resolve
from genpolicy.training.trainer import Trainer


def parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = json.loads(value) if value[:1] in "-0123456789[{tf" else value
    return out


@torch.no_grad()
def probe(trainer: Trainer, obs: torch.Tensor, noise: torch.Tensor) -> dict[str, float]:
    algo: Any = trainer.algo
    c = algo.cfg
    pi, mu = algo.policy, algo.behaviour
    q = algo.critic.q_min

    def draw(model: Any, steps: int, solver: str) -> torch.Tensor:
        return model.sample(obs, steps=steps, solver=solver, noise=noise)

    a_train = draw(pi, c.grad_steps, c.grad_solver)
    a_act = draw(pi, c.act.steps, c.act.solver)
    mu_train = draw(mu, c.grad_steps, c.grad_solver)
    mu_act = draw(mu, c.act.steps, c.act.solver)
    dist = lambda x, y: float((x - y).norm(dim=-1).mean())  # noqa: E731
    return {
        "q_train": float(q(obs, a_train).mean()),
        "q_act": float(q(obs, a_act).mean()),
        "q_act_clipped": float(q(obs, a_act.clamp(-1, 1)).mean()),
        "q_mu_act": float(q(obs, mu_act).mean()),
        "gap": dist(a_train, a_act),
        "gap_mu": dist(mu_train, mu_act),
        "move": dist(a_act, mu_act),
        "out_of_box": float((a_act.abs() > 1).float().mean()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--pg-steps", type=int, default=200)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--states", type=int, default=1024)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default="")
    args = p.parse_args()

    run = Path(args.run)
    data = resolve(run / "config.yaml")
    start = int(load(run)["step"])
    with tempfile.TemporaryDirectory() as tmp:
        apply_overrides(
            data,
            {
                **parse_sets(args.set),
                "train.init_from": str(run),
                "train.steps": start + args.pg_steps,
                "train.eval_every": 0,
                "train.checkpoint_every": 0,
                "train.log_every": args.every,
                "train.tensorboard": False,
                "train.progress": False,
                "train.out_dir": tmp,
                "train.run_name": "diagnose",
            },
        )
        cfg = RunConfig.from_dict(data, algorithm_default=False)  # the run's own config
        trainer = Trainer(cfg)
        trainer.env_id = None  # no evaluation: this measures the loss's effect, not the score
        gen = torch.Generator(device=trainer.dataset.device).manual_seed(1234)
        batch = trainer.dataset.sample(args.states, generator=gen)
        obs = batch.observations
        noise = trainer.algo.policy.draw_prior(obs, generator=gen)
        rows: list[dict[str, Any]] = []
        q_data = float(trainer.algo.critic.q_min(obs, batch.actions).mean())  # type: ignore[union-attr,operator]

        def record(step: int) -> None:
            row = {"step": step, "q_data": q_data, **probe(trainer, obs, noise)}
            logged = [
                json.loads(x)
                for x in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()
                if x.strip()
            ]
            if logged and logged[-1].get("kind") == "train" and logged[-1]["step"] == step:
                row.update({k: v for k, v in logged[-1].items() if k.startswith("policy/")})
            rows.append(row)
            print(
                json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
            )

        record(start)

        def hook(step: int, _: Trainer) -> None:
            if (step - start) % args.every == 0:
                record(step)

        trainer.run(on_step=hook)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        result = {"run": str(run), "set": args.set, "pg_steps": args.pg_steps, "rows": rows}
        Path(args.out).write_text(compact_json(result))


if __name__ == "__main__":
    main()

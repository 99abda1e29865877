"""Train a built-in toy config on the toy bandit and print its share of actions in the best mode.

    python benchmarks/parity/toy_best_mode.py toy-qgpo 0 [KEY=VALUE ...]

Seeding as ``tests/helpers.train`` (torch seed SEED, batch generator SEED + 1; seed 0 is the
tests' run and matches ``genpolicy train NAME --set train.seed=SEED``), acting on the tests'
2,000 states (``toy_bandit.mode_fractions``).
"""

import json
import sys
import time

import torch

from genpolicy.envs import toy_bandit as tb
from genpolicy.rl.algos import build_algorithm
from genpolicy.training.config import create

torch.set_num_threads(1)
name = sys.argv[1]
seed = int(sys.argv[2])
over = dict(kv.split("=", 1) for kv in sys.argv[3:])
over = {
    k: (json.loads(v) if v[:1] in '0123456789-tfn[{"' or v in ("true", "false", "null") else v)
    for k, v in over.items()
}
ds = tb.make_dataset()
cfg = create(name, over)
torch.manual_seed(seed)
algo = build_algorithm(cfg.algo, cfg.model, cfg.critic, 2, 2, "cpu")
algo.set_horizon(cfg.train.steps)
algo.attach_dataset(ds)
gen = torch.Generator().manual_seed(seed + 1)
t0 = time.time()
for _ in range(cfg.train.steps):
    algo.update(ds.sample(algo.batch_size, gen))
OBS = torch.rand(2000, 2, generator=torch.Generator().manual_seed(123)) * 2 - 1
algo.seed_acting(0)
f = tb.mode_fractions(OBS, torch.as_tensor(algo.act(OBS.numpy())))
print(
    json.dumps(
        {
            "name": name,
            "seed": seed,
            "over": over,
            "best": round(f["best"], 4),
            "fr": {k: round(v, 3) for k, v in f.items()},
            "train_s": round(time.time() - t0, 1),
        }
    )
)

"""Print the markdown table of the suite for docs/data/datasets.md.

python scripts/suite_table.py --datasets datasets --record logs/suite_records.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genpolicy.data.make.dataset import dataset_summary
from genpolicy.data.make.suite import KINDS, RECIPE, dataset_name
from genpolicy.data.readers import load_dataset


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", default="datasets")
    p.add_argument("--record", default="logs/suite_records.json")
    args = p.parse_args()
    walls: dict[str, float] = {}
    rec = Path(args.record)
    if rec.is_file():
        for r in json.loads(rec.read_text()):
            walls[r["dataset"]] = r["wall_s"]
    print(
        "| dataset | transitions | episodes | mean return | mean normalised score "
        "| return min / max | generation wall time (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for task in RECIPE:
        for kind in KINDS:
            name = dataset_name(task, kind)
            path = Path(args.datasets) / f"{name}.hdf5"
            if not path.is_file():
                print(f"| {name} | (not made) | | | | | |")
                continue
            s = dataset_summary(load_dataset(str(path), normalize_obs=False))
            wall = walls.get(name)
            print(
                f"| {name} | {s['transitions']:,} | {s['episodes']} | {s['return_mean']:.0f} "
                f"| {s['score_mean']:.1f} | {s['return_min']:.0f} / {s['return_max']:.0f} "
                f"| {'' if wall is None else f'{wall:.0f}'} |"
            )


if __name__ == "__main__":
    main()

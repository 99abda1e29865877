"""Speed of the generative core on this machine; see genpolicy/generative/bench.py.

    python benchmarks/bench_models.py [--threads 1] [--json out.json]

Same as ``genpolicy bench``.
"""

import sys

from genpolicy.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

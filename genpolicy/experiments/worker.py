"""Entry point of a local sweep worker: ``python -m genpolicy.experiments.worker PAYLOAD.json``."""

import sys

from genpolicy.experiments.trial import worker_main

if __name__ == "__main__":
    sys.exit(worker_main())

"""Entry point of a local sweep worker: ``python -m genpolicy.sweep.worker PAYLOAD.json``."""

import sys

from genpolicy.sweep.trial import worker_main

if __name__ == "__main__":
    sys.exit(worker_main())

"""``python -m genpolicy.cli``: the same as the ``genpolicy`` command."""

import sys

from genpolicy.cli import main

sys.exit(main())

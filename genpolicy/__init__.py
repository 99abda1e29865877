"""genpolicy: offline reinforcement learning with generative policies."""

from genpolicy.errors import GenpolicyError

__version__ = "0.1.0"

__all__ = ["GenpolicyError", "__version__"]

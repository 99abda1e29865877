"""Tasks and environments: the registry that maps a dataset or environment name to its task
and reference returns, Gymnasium evaluation environments, mazes, and the built-in toy tasks."""

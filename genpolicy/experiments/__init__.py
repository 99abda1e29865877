"""Experiments: sweeps of trials (each an ordinary run folder) and reports from run folders."""

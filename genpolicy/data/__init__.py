"""Offline datasets: ``OfflineDataset`` on the training device, readers for D4RL hdf5, Minari
folders and npz, validation, normalisation, and tools that make D4RL-style datasets."""

from genpolicy.data.dataset import Batch, OfflineDataset
from genpolicy.data.normalizer import Normalizer
from genpolicy.data.readers import load_dataset

__all__ = ["Batch", "Normalizer", "OfflineDataset", "load_dataset"]

"""Data: datasets, batching, and the digits and MNIST loaders (``gk.data``)."""

from gradkit.data.datasets import DatasetError, DatasetNotFoundError, DataSplit, load_digits, load_mnist
from gradkit.data.loader import DataLoader, TensorDataset

__all__ = [
    "DataLoader",
    "DataSplit",
    "DatasetError",
    "DatasetNotFoundError",
    "TensorDataset",
    "load_digits",
    "load_mnist",
]

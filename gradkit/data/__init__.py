"""Data: datasets, samplers, batching, and the digits and MNIST loaders (``gk.data``)."""

from gradkit.data.collate import default_collate, default_convert
from gradkit.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    random_split,
)
from gradkit.data.datasets import DatasetError, DatasetNotFoundError, DataSplit, load_digits, load_mnist
from gradkit.data.loader import DataLoader, TensorDataset
from gradkit.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from gradkit.data.workers import WorkerError, get_worker_info

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "DataSplit",
    "Dataset",
    "DatasetError",
    "DatasetNotFoundError",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerError",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "load_digits",
    "load_mnist",
    "random_split",
]

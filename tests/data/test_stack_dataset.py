"""gk.data.StackDataset (torch.utils.data.StackDataset): tuple and dict samples, lengths, batching."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import ConcatDataset, DataLoader, Dataset, IterableDataset, StackDataset, Subset, TensorDataset


class Numbers(Dataset):
    """Sample i is ``scale * i`` (a Python int); counts calls of ``__getitem__``."""

    def __init__(self, n: int, scale: int = 1) -> None:
        self.n, self.scale, self.calls = n, scale, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if not -self.n <= i < self.n:
            raise IndexError(i)
        self.calls += 1
        return self.scale * (i % self.n)


class Batched(Numbers):
    """Numbers with a ``__getitems__`` of its own (which records the indices it was given)."""

    def __getitems__(self, indices: list) -> list:
        self.asked = list(indices)
        return [self.scale * i for i in indices]


class Stream(IterableDataset):
    def __iter__(self):
        yield from range(3)


def test_tuple_samples(device):
    x = gk.tensor(np.arange(8.0).reshape(4, 2), device=device)
    ds = StackDataset(TensorDataset(x), Numbers(4, 10))
    assert len(ds) == 4 and isinstance(ds.datasets, tuple)
    (row,), label = ds[2]
    np.testing.assert_array_equal(row.numpy(), [4.0, 5.0])
    assert label == 20
    assert ds[-1][1] == 30


def test_dict_samples(device):
    x = gk.tensor(np.arange(4.0), device=device)
    ds = StackDataset(image=TensorDataset(x), label=Numbers(4, 10))
    assert list(ds.datasets) == ["image", "label"]
    sample = ds[1]
    assert list(sample) == ["image", "label"] and sample["label"] == 10
    assert sample["image"][0].item() == 1.0


def test_dataloader_batches_tuples_and_dicts(device):
    x = gk.tensor(np.arange(10.0).reshape(5, 2), device=device)
    loader = DataLoader(StackDataset(x=TensorDataset(x), y=Numbers(5, 3)), batch_size=2)
    batches = list(loader)
    assert len(batches) == 3 and list(batches[0]) == ["x", "y"]
    np.testing.assert_array_equal(batches[0]["x"][0].numpy(), [[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(batches[2]["y"].numpy(), [12])
    (xb,), yb = next(iter(DataLoader(StackDataset(TensorDataset(x), Numbers(5)), batch_size=5)))
    assert xb.shape == (5, 2)
    np.testing.assert_array_equal(yb.numpy(), np.arange(5))


def test_getitems_uses_the_datasets_own_batched_fetch():
    fast, slow = Batched(6, 2), Numbers(6, 5)
    ds = StackDataset(fast, slow)
    assert ds.__getitems__([4, 0, 1]) == [(8, 20), (0, 0), (2, 5)]
    assert fast.asked == [4, 0, 1] and fast.calls == 0 and slow.calls == 3
    named = StackDataset(a=fast, b=slow)
    assert named.__getitems__([5]) == [{"a": 10, "b": 25}]
    assert StackDataset(slow).__getitems__([]) == []


def test_getitems_checks_a_nested_batch_size():
    class Short(Numbers):
        def __getitems__(self, indices):
            return [0]

    with pytest.raises(gk.ShapeError, match="__getitems__ gave 1 samples for 2 indices"):
        StackDataset(Short(3), Numbers(3)).__getitems__([0, 1])


def test_nested_datasets():
    a = ConcatDataset([Numbers(2), Numbers(3, 10)])
    ds = StackDataset(Subset(Numbers(9), [8, 7, 6, 5, 4]), a)
    assert len(ds) == 5 and ds[4] == (4, 20)
    assert len(StackDataset(ds, ds)) == 5 and StackDataset(ds, ds)[0] == ((8, 0), (8, 0))


def test_errors():
    with pytest.raises(gk.ShapeError, match=r"different lengths \(dataset 0: 3, dataset 1: 4\)"):
        StackDataset(Numbers(3), Numbers(4))
    with pytest.raises(gk.ShapeError, match="'b': 2"):
        StackDataset(a=Numbers(3), b=Numbers(2))
    with pytest.raises(gk.InvalidArgumentError, match="not both"):
        StackDataset(Numbers(3), b=Numbers(3))
    with pytest.raises(gk.InvalidArgumentError, match="at least one dataset"):
        StackDataset()
    with pytest.raises(gk.ArgumentTypeError, match="IterableDataset"):
        StackDataset(Stream())
    with pytest.raises(gk.ArgumentTypeError, match="__len__ and __getitem__"):
        StackDataset(Numbers(3), 5)
    # ValueError, as PyTorch raises for these
    with pytest.raises(ValueError):
        StackDataset(Numbers(3), Numbers(4))
    with pytest.raises(IndexError):
        StackDataset(Numbers(3))[3]


def test_repr_and_length():
    assert repr(StackDataset(Numbers(2), Numbers(2))) == "StackDataset(2 samples: Numbers, Numbers)"
    assert repr(StackDataset(a=Numbers(0))) == "StackDataset(0 samples: a=Numbers)"
    assert len(StackDataset(a=Numbers(0))) == 0

"""gk.data.TensorDataset and gk.data.DataLoader: batching, seeded shuffling, drop_last, devices."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import DataLoader, TensorDataset


def _indexed(n: int, device: str = "cpu") -> TensorDataset:
    """A dataset whose sample i is (i as a float row, i as a label), so batches reveal which samples they hold."""
    x = gk.tensor(np.repeat(np.arange(n, dtype=np.float32)[:, None], 3, axis=1), device=device)
    y = gk.tensor(np.arange(n, dtype=np.int64), device=device)
    return TensorDataset(x, y)


def _epoch(loader: DataLoader) -> list[np.ndarray]:
    batches = []
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())  # features and labels stay aligned
        batches.append(yb.numpy())
    return batches


def test_tensor_dataset_basics():
    ds = _indexed(5)
    assert len(ds) == 5
    x, y = ds[3]
    assert x.tolist() == [3.0, 3.0, 3.0] and y.item() == 3
    assert "5 samples" in repr(ds)
    assert len(TensorDataset(np.zeros((4, 2)), [0, 1, 2, 3])) == 4  # arrays and lists are accepted


def test_tensor_dataset_errors():
    with pytest.raises(gk.ShapeError, match=r"different lengths \[3, 4\]"):
        TensorDataset(gk.zeros(3, 2), gk.zeros(4))
    with pytest.raises(gk.ShapeError, match="0-d"):
        TensorDataset(gk.tensor(1.0))
    with pytest.raises(gk.InvalidArgumentError, match="at least one"):
        TensorDataset()


@pytest.mark.parametrize("n,batch_size", [(10, 3), (12, 4), (7, 10), (1, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_sample_once_per_epoch(n, batch_size, shuffle):
    loader = DataLoader(_indexed(n), batch_size=batch_size, shuffle=shuffle, seed=0)
    for _ in range(3):
        batches = _epoch(loader)
        assert len(batches) == len(loader) == -(-n // batch_size)
        assert all(len(b) == batch_size for b in batches[:-1])
        seen = np.concatenate(batches)
        assert sorted(seen.tolist()) == list(range(n))
        if not shuffle:
            assert seen.tolist() == list(range(n))


def test_shuffle_changes_order_between_epochs_and_is_seeded():
    a = DataLoader(_indexed(50), batch_size=8, shuffle=True, seed=123)
    b = DataLoader(_indexed(50), batch_size=8, shuffle=True, seed=123)
    c = DataLoader(_indexed(50), batch_size=8, shuffle=True, seed=124)
    a1, a2 = np.concatenate(_epoch(a)), np.concatenate(_epoch(a))
    b1, b2 = np.concatenate(_epoch(b)), np.concatenate(_epoch(b))
    c1 = np.concatenate(_epoch(c))
    assert a1.tolist() != list(range(50))  # shuffled at all
    assert a1.tolist() != a2.tolist()  # a new order every epoch
    assert a1.tolist() == b1.tolist() and a2.tolist() == b2.tolist()  # same seed, same orders
    assert a1.tolist() != c1.tolist()


def test_set_epoch_reproduces_an_epoch():
    loader = DataLoader(_indexed(30), batch_size=4, shuffle=True, seed=7)
    epochs = [np.concatenate(_epoch(loader)).tolist() for _ in range(3)]
    fresh = DataLoader(_indexed(30), batch_size=4, shuffle=True, seed=7)
    fresh.set_epoch(2)
    assert np.concatenate(_epoch(fresh)).tolist() == epochs[2]
    assert fresh.epoch == 3
    assert loader.order(1).tolist() == epochs[1]


def test_seed_none_follows_manual_seed():
    gk.manual_seed(5)
    a = np.concatenate(_epoch(DataLoader(_indexed(20), batch_size=6, shuffle=True))).tolist()
    gk.manual_seed(5)
    b = np.concatenate(_epoch(DataLoader(_indexed(20), batch_size=6, shuffle=True))).tolist()
    assert a == b


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last(shuffle):
    loader = DataLoader(_indexed(10), batch_size=3, shuffle=shuffle, drop_last=True, seed=1)
    assert len(loader) == 3
    for _ in range(2):
        batches = _epoch(loader)
        assert [len(b) for b in batches] == [3, 3, 3]
        seen = np.concatenate(batches)
        assert len(set(seen.tolist())) == 9  # nine distinct samples, one left out
    assert len(DataLoader(_indexed(9), batch_size=3, drop_last=True)) == 3
    assert len(DataLoader(_indexed(2), batch_size=3, drop_last=True)) == 0
    assert list(DataLoader(_indexed(2), batch_size=3, drop_last=True)) == []


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_on_the_dataset_device(device, shuffle):
    loader = DataLoader(_indexed(9, device=device), batch_size=4, shuffle=shuffle, seed=0)
    want = gk.zeros(1, device=device).device
    batches = list(loader)
    assert all(xb.device == want and yb.device == want for xb, yb in batches)
    assert sorted(np.concatenate([yb.numpy() for _, yb in batches]).tolist()) == list(range(9))


def test_device_argument_moves_batches(device):
    loader = DataLoader(_indexed(9), batch_size=4, shuffle=True, seed=0, device=device)
    want = gk.zeros(1, device=device).device
    for xb, yb in loader:
        assert xb.device == want and yb.device == want
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())


def test_batches_do_not_require_grad():
    x = gk.randn(6, 2, requires_grad=True)
    for (xb,) in DataLoader(TensorDataset(x), batch_size=4):
        assert not xb.requires_grad and xb.grad_fn is None


def test_batch_dtypes_and_shapes():
    ds = TensorDataset(gk.randn(7, 2, 3), gk.arange(7))
    xb, yb = next(iter(DataLoader(ds, batch_size=5)))
    assert xb.shape == (5, 2, 3) and xb.dtype == np.float32
    assert yb.shape == (5,) and yb.dtype == np.int64


class _ListDataset:
    """A plain sequence dataset: samples are tuples of (array, int, Tensor)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full(2, i, dtype=np.float32), i, gk.tensor([float(i)])


def test_generic_dataset_is_collated():
    loader = DataLoader(_ListDataset(5), batch_size=2, shuffle=True, seed=3)
    seen = []
    for arrays, labels, tensors in loader:
        assert arrays.shape[1:] == (2,) and tensors.shape[1:] == (1,)
        assert labels.tolist() == arrays.numpy()[:, 0].astype(int).tolist() == tensors.numpy()[:, 0].tolist()
        seen += labels.tolist()
    assert sorted(seen) == [0, 1, 2, 3, 4]


def test_dict_samples_are_collated():
    class Dicts:
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"x": gk.tensor([i, i], dtype="float32"), "y": i}

    batch = next(iter(DataLoader(Dicts(), batch_size=3)))
    assert batch["x"].shape == (3, 2) and batch["y"].tolist() == [0, 1, 2]


def test_loader_argument_errors():
    ds = _indexed(4)
    with pytest.raises(gk.InvalidArgumentError, match="batch_size must be at least 1, got 0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(gk.ArgumentTypeError, match="batch_size must be an int"):
        DataLoader(ds, batch_size=2.5)
    with pytest.raises(gk.InvalidArgumentError, match="seed"):
        DataLoader(ds, batch_size=2, shuffle=True, seed=-1)
    with pytest.raises(gk.ArgumentTypeError, match="__len__"):
        DataLoader(object(), batch_size=2)
    with pytest.raises(gk.DeviceError):
        DataLoader(ds, batch_size=2, device="tpu")


def test_changing_a_batch_leaves_the_dataset_alone(device):
    data = gk.arange(6.0, device=device).reshape(6, 1)
    loader = gk.data.DataLoader(gk.data.TensorDataset(data), batch_size=2)
    for (x,) in loader:
        x -= 100
    np.testing.assert_array_equal(data.numpy().ravel(), [0, 1, 2, 3, 4, 5])

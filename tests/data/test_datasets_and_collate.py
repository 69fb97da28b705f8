"""gk.data.Dataset, Subset, ConcatDataset, random_split, default_collate and DataLoader(collate_fn=...)."""

from __future__ import annotations

import math
import warnings
from collections import namedtuple

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


class Squares(Dataset):
    """Sample i is (i as a float32 row of 2, i as a Python int): batches reveal which samples they hold."""

    def __init__(self, n: int, offset: int = 0) -> None:
        self.n, self.offset = n, offset

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if not 0 <= i < self.n:
            raise IndexError(i)
        i += self.offset
        return np.full(2, i, dtype=np.float32), i


def _indexed(n: int, device: str = "cpu") -> TensorDataset:
    x = gk.tensor(np.repeat(np.arange(n, dtype=np.float32)[:, None], 3, axis=1), device=device)
    return TensorDataset(x, gk.tensor(np.arange(n, dtype=np.int64), device=device))


def _labels(loader: DataLoader) -> list[list[int]]:
    out = []
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())  # rows and labels stay aligned
        out.append(yb.tolist())
    return out


def _default_device():
    return gk.zeros(1).device


# ------------------------------------------------------------------ Dataset
def test_dataset_base_class():
    ds = Squares(4)
    assert len(ds) == 4 and ds[2][1] == 2
    assert isinstance(_indexed(3), Dataset)  # TensorDataset is a Dataset, as in PyTorch
    with pytest.raises(NotImplementedError, match="Empty does not define __getitem__"):
        type("Empty", (Dataset,), {})()[0]
    with pytest.raises(NotImplementedError, match="Empty does not define __len__"):
        len(type("Empty", (Dataset,), {})())


def test_dataset_add_gives_a_concat_dataset():
    both = Squares(2) + Squares(3, offset=10)
    assert isinstance(both, ConcatDataset) and len(both) == 5
    assert [both[i][1] for i in range(5)] == [0, 1, 10, 11, 12]
    tensors = _indexed(2) + _indexed(3)
    assert isinstance(tensors, ConcatDataset) and [tensors[i][1].item() for i in range(5)] == [0, 1, 0, 1, 2]


# ------------------------------------------------------------------- Subset
def test_subset_indexes_through():
    sub = Subset(Squares(10), [7, 2, -1])
    assert len(sub) == 3 and sub.indices == [7, 2, 9]  # negative indices count from the end
    assert [sub[i][1] for i in range(3)] == [7, 2, 9]
    nested = Subset(sub, [2, 0])
    assert [nested[i][1] for i in range(2)] == [9, 7]
    x, y = Subset(_indexed(5), [4, 1])[[0, 1]]  # a list index goes to the dataset as a list, as in PyTorch
    assert y.tolist() == [4, 1]
    assert Subset(Squares(3), np.array([2, 0], dtype=np.int32)).indices == [2, 0]
    assert Subset(Squares(3), gk.tensor([1, 2])).indices == [1, 2]
    assert Subset(Squares(3), range(3)).indices == [0, 1, 2]
    assert len(Subset(Squares(3), [])) == 0
    assert "Subset(2 of Squares)" in repr(Subset(Squares(3), [0, 1]))


def test_subset_errors():
    with pytest.raises(gk.IndexOutOfRangeError, match=r"Subset: index 5 is out of range .* 5 samples"):
        Subset(Squares(5), [0, 5])
    with pytest.raises(gk.IndexOutOfRangeError, match="index -6"):
        Subset(Squares(5), [-6])
    with pytest.raises(gk.ArgumentTypeError, match="Subset: indices must be ints; one is float 1.5"):
        Subset(Squares(5), [0, 1.5])
    with pytest.raises(gk.ArgumentTypeError, match="one is bool True"):
        Subset(Squares(5), [True, 1])
    with pytest.raises(gk.ArgumentTypeError, match="1-d sequence of ints, got shape .* float64"):
        Subset(Squares(5), np.array([0.0, 1.0]))
    with pytest.raises(gk.ArgumentTypeError, match=r"got shape \(1, 2\)"):
        Subset(Squares(5), np.array([[0, 1]]))
    with pytest.raises(gk.ArgumentTypeError, match="indices must be a sequence of ints, got int"):
        Subset(Squares(5), 3)
    with pytest.raises(gk.ArgumentTypeError, match="Subset: the dataset must have __getitem__, got int"):
        Subset(3, [0])


# ------------------------------------------------------------ ConcatDataset
def test_concat_dataset_indexes_across_its_parts():
    cat = ConcatDataset([Squares(2), Squares(0), Squares(3, offset=10)])
    assert len(cat) == 5 and cat.cumulative_sizes == [2, 2, 5]
    assert [cat[i][1] for i in range(5)] == [0, 1, 10, 11, 12]
    assert cat[-1][1] == 12 and cat[-5][1] == 0
    assert cat[np.int64(3)][1] == 11
    assert "5 samples in 3 datasets" in repr(cat)
    assert len(ConcatDataset(d for d in [Squares(1), Squares(1)])) == 2  # any iterable


def test_concat_dataset_errors():
    cat = ConcatDataset([Squares(2), Squares(3)])
    with pytest.raises(gk.IndexOutOfRangeError, match="ConcatDataset: index 5 is out of range for 5 samples"):
        cat[5]
    with pytest.raises(gk.IndexOutOfRangeError, match="index -6"):
        cat[-6]
    with pytest.raises(gk.ArgumentTypeError, match="ConcatDataset: the index must be an int, got float"):
        cat[1.0]
    with pytest.raises(gk.ArgumentTypeError, match="got slice"):
        cat[0:2]
    with pytest.raises(gk.InvalidArgumentError, match="datasets is empty"):
        ConcatDataset([])
    with pytest.raises(gk.ArgumentTypeError, match="dataset 1 must have __len__ and __getitem__, got int"):
        ConcatDataset([Squares(2), 7])
    with pytest.raises(gk.ArgumentTypeError, match="iterable of datasets, got Squares"):
        ConcatDataset(Squares(2))  # one dataset, not a list of them


# ------------------------------------------------------------- random_split
def _split_indices(parts):
    return [list(p.indices) for p in parts]


def test_random_split_with_counts_covers_the_dataset_once():
    ds = Squares(10)
    parts = random_split(ds, [6, 0, 4], seed=0)
    assert [len(p) for p in parts] == [6, 0, 4]
    assert all(isinstance(p, Subset) and p.dataset is ds for p in parts)
    assert sorted(sum(_split_indices(parts), [])) == list(range(10))
    assert _split_indices(parts) != [list(range(6)), [], list(range(6, 10))]  # shuffled
    assert len(random_split(Squares(3), (np.int64(1), 2), seed=0)[1]) == 2


@pytest.mark.parametrize(
    "n,fractions,want",
    [
        (10, [0.8, 0.2], [8, 2]),
        (10, [0.33, 0.33, 0.34], [4, 3, 3]),  # floors 3, 3, 3; the one left over goes to the first split
        (11, [0.5, 0.5], [6, 5]),
        (5, [0.3, 0.3, 0.3, 0.1], [2, 2, 1, 0]),  # floors 1, 1, 1, 0; two left over: to splits 0 and 1
        (7, [1.0], [7]),
        (3, [0.25, 0.25, 0.25, 0.25], [1, 1, 1, 0]),
    ],
)
def test_random_split_with_fractions(n, fractions, want):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a split of length 0 is warned about, as in PyTorch
        parts = random_split(Squares(n), fractions, seed=1)
    assert [len(p) for p in parts] == want
    assert sorted(sum(_split_indices(parts), [])) == list(range(n))


def test_random_split_warns_about_an_empty_split_from_fractions():
    with pytest.warns(UserWarning, match="split 3 has length 0"):
        random_split(Squares(3), [0.25, 0.25, 0.25, 0.25], seed=0)


def test_random_split_is_reproducible():
    a = _split_indices(random_split(Squares(50), [0.7, 0.3], seed=3))
    b = _split_indices(random_split(Squares(50), [0.7, 0.3], seed=3))
    c = _split_indices(random_split(Squares(50), [0.7, 0.3], seed=4))
    assert a == b and a != c
    g1 = _split_indices(random_split(Squares(50), [35, 15], generator=np.random.default_rng(9)))
    g2 = _split_indices(random_split(Squares(50), [35, 15], generator=np.random.default_rng(9)))
    assert g1 == g2
    gk.manual_seed(11)
    m1 = _split_indices(random_split(Squares(50), [25, 25]))
    gk.manual_seed(11)
    m2 = _split_indices(random_split(Squares(50), [25, 25]))
    assert m1 == m2


def test_random_split_errors():
    ds = Squares(10)
    with pytest.raises(gk.InvalidArgumentError, match=r"lengths \[6, 3\] sum to 9, but the dataset has 10"):
        random_split(ds, [6, 3], seed=0)
    with pytest.raises(gk.InvalidArgumentError, match=r"lengths\[0\] must be >= 0, got -1"):
        random_split(ds, [-1, 11], seed=0)
    with pytest.raises(gk.InvalidArgumentError, match=r"fractions \[0.5, 0.4\] sum to 0.9"):
        random_split(ds, [0.5, 0.4], seed=0)
    with pytest.raises(gk.InvalidArgumentError, match=r"lengths\[1\] must be in \[0, 1\], got 1.5"):
        random_split(ds, [0.5, 1.5, -1.0], seed=0)
    with pytest.raises(gk.ArgumentTypeError, match=r"lengths\[1\] must be an int or a float fraction, got str"):
        random_split(ds, [5, "5"], seed=0)
    with pytest.raises(gk.ArgumentTypeError, match=r"lengths\[0\] must be an int .* got bool"):
        random_split(ds, [True, 9], seed=0)
    with pytest.raises(gk.ArgumentTypeError, match="lengths must be a sequence .* got int"):
        random_split(ds, 10, seed=0)
    with pytest.raises(gk.InvalidArgumentError, match="seed or generator, not both"):
        random_split(ds, [5, 5], generator=np.random.default_rng(0), seed=0)
    with pytest.raises(gk.ArgumentTypeError, match="generator must be a numpy.random.Generator, got int.*seed="):
        random_split(ds, [5, 5], generator=0)
    with pytest.raises(gk.InvalidArgumentError, match="random_split: seed must be >= 0, got -1"):
        random_split(ds, [5, 5], seed=-1)
    with pytest.raises(gk.ArgumentTypeError, match="random_split: seed must be an int"):
        random_split(ds, [5, 5], seed=1.5)
    with pytest.raises(gk.ArgumentTypeError, match="random_split: the dataset must have __len__"):
        random_split(object(), [1], seed=0)


def test_random_split_lengths_match_torch():
    torch = pytest.importorskip("torch")
    cases = [
        (10, [0.33, 0.33, 0.34]),
        (11, [0.5, 0.5]),
        (5, [0.3, 0.3, 0.3, 0.1]),
        (1797, [0.8, 0.1, 0.1]),
        (60000, [1 / 3, 1 / 3, 1 / 3]),
        (7, [0.1, 0.2, 0.3, 0.4]),
        (100, [0.55, 0.45]),
        (13, [0.2, 0.2, 0.2, 0.2, 0.2]),
        (10, [6, 4]),
        (0, [0.5, 0.5]),
    ]
    for n, lengths in cases:
        if all(isinstance(v, float) for v in lengths):
            assert math.isclose(sum(lengths), 1) and sum(lengths) <= 1  # where PyTorch takes them as fractions
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = [len(p) for p in random_split(Squares(n), lengths, seed=0)]
            theirs = [len(p) for p in torch.utils.data.random_split(range(n), lengths)]
        assert ours == theirs, (n, lengths)


# ---------------------------------------------------------- default_collate
def test_collate_numbers_follow_gk_tensor_dtypes():
    floats = default_collate([1.0, 2.5])
    assert floats.dtype == np.float32 and floats.tolist() == [1.0, 2.5]  # PyTorch gives float64 here
    ints = default_collate([1, 2])
    assert ints.dtype == np.int64 and ints.tolist() == [1, 2]
    assert default_collate([True, False]).dtype == np.bool_
    assert default_collate([1, 2.5]).dtype == np.float32
    assert default_collate([np.float64(1), np.float64(2)]).dtype == np.float64  # NumPy scalars keep their dtype
    assert default_collate([np.int32(1), np.int32(2)]).dtype == np.int32
    assert default_collate([1.0]).device == _default_device()


def test_collate_arrays_and_tensors_are_stacked():
    arrays = default_collate([np.zeros((2, 3)), np.ones((2, 3))])
    assert arrays.shape == (2, 2, 3) and arrays.dtype == np.float64  # the arrays' dtype is kept
    assert default_collate([np.array(1, dtype=np.int16), np.array(2, dtype=np.int16)]).dtype == np.int16
    x = gk.randn(3, requires_grad=True)
    stacked = default_collate([x, x * 2])
    assert stacked.shape == (2, 3) and stacked.dtype == np.float32
    assert not stacked.requires_grad and stacked.grad_fn is None
    np.testing.assert_allclose(stacked.numpy()[1], 2 * x.detach().numpy())


def test_collate_structures():
    Point = namedtuple("Point", "x label")
    batch = default_collate([Point(np.zeros(2), 0), Point(np.ones(2), 1)])
    assert isinstance(batch, Point) and batch.x.shape == (2, 2) and batch.label.tolist() == [0, 1]
    as_tuple = default_collate([(1.0, "a"), (2.0, "b")])
    assert isinstance(as_tuple, tuple) and as_tuple[0].tolist() == [1.0, 2.0] and as_tuple[1] == ["a", "b"]
    as_list = default_collate([[1, 2], [3, 4]])
    assert isinstance(as_list, list) and [t.tolist() for t in as_list] == [[1, 3], [2, 4]]
    nested = default_collate([{"x": {"a": 1.0}, "y": (1, 2)}, {"x": {"a": 2.0}, "y": (3, 4)}])
    assert nested["x"]["a"].tolist() == [1.0, 2.0] and [t.tolist() for t in nested["y"]] == [[1, 3], [2, 4]]
    assert list(nested) == ["x", "y"]


def test_collate_errors():
    with pytest.raises(gk.ArgumentTypeError, match="default_collate: the samples of a batch mix numbers with tensors"):
        default_collate([1.0, gk.tensor(1.0)])
    with pytest.raises(gk.ShapeError, match=r"array samples of a batch have different shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(gk.ShapeError, match="tensor samples of a batch have different shapes"):
        default_collate([gk.zeros(2), gk.zeros(3)])
    with pytest.raises(gk.InvalidArgumentError, match="different keys"):
        default_collate([{"x": 1}, {"y": 1}])
    with pytest.raises(gk.ShapeError, match=r"sequences of different lengths \[1, 2\]"):
        default_collate([(1,), (1, 2)])
    with pytest.raises(gk.ArgumentTypeError, match="cannot batch samples of type NoneType.*collate_fn="):
        default_collate([None, None])
    with pytest.raises(gk.DTypeError, match="default_collate: a batch of samples cannot become a tensor"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(gk.InvalidArgumentError, match="empty batch"):
        default_collate([])
    with pytest.raises(gk.ArgumentTypeError, match="batch must be a list of samples, got int"):
        default_collate(3)
    with pytest.raises(gk.DeviceError):
        default_collate([1.0], device="tpu")


def test_collate_device(device):
    want = gk.zeros(1, device=device).device
    assert default_collate([1.0, 2.0], device=device).device == want
    assert default_collate([np.zeros(2), np.zeros(2)], device=device).device == want
    on_cpu = default_collate([gk.zeros(2, device="cpu"), gk.ones(2, device="cpu")], device=device)
    assert on_cpu.device == want and on_cpu.tolist() == [[0, 0], [1, 1]]
    there = [gk.zeros(2, device=device), gk.ones(2, device=device)]
    assert default_collate(there).device == want  # tensors stay where they are


# ------------------------------------------------- DataLoader over a Dataset
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_over_a_generic_dataset(shuffle, drop_last):
    loader = DataLoader(Squares(10), batch_size=3, shuffle=shuffle, drop_last=drop_last, seed=5)
    assert len(loader) == (3 if drop_last else 4)
    for epoch in range(2):
        batches = _labels(loader)
        assert len(batches) == len(loader)
        assert [len(b) for b in batches] == ([3, 3, 3] if drop_last else [3, 3, 3, 1])
        seen = sum(batches, [])
        assert seen == loader.order(epoch).tolist()[: len(seen)]
        if not shuffle:
            assert seen == list(range(len(seen)))
    xb, yb = next(iter(DataLoader(Squares(4), batch_size=4)))
    assert xb.dtype == np.float32 and yb.dtype == np.int64 and xb.device == _default_device()


def test_loader_over_subsets_and_concat_matches_sample_by_sample(device):
    base = _indexed(20, device=device)
    train, test = random_split(base, [0.75, 0.25], seed=2)
    nested = Subset(train, [-1, 0, 3, 3])
    want = gk.zeros(1, device=device).device
    for ds in (train, test, nested, ConcatDataset([test, base])):
        for shuffle in (False, True):
            fast = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=1)
            slow = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=1, collate_fn=default_collate)
            got, ref = list(fast), list(slow)
            assert len(got) == len(ref) == len(fast)
            for (xb, yb), (xr, yr) in zip(got, ref, strict=True):
                assert xb.device == yb.device == want
                np.testing.assert_array_equal(xb.numpy(), xr.numpy())
                assert yb.tolist() == yr.tolist() and yb.dtype == yr.dtype
    assert (
        sum(_labels(DataLoader(nested, batch_size=4)), [])
        == [train.indices[-1], train.indices[0]] + [train.indices[3]] * 2
    )


def test_subset_fast_path_copies_rows(device):
    data = gk.arange(6.0, device=device).reshape(6, 1)
    for (x,) in DataLoader(Subset(TensorDataset(data), [1, 2, 3]), batch_size=2):
        x -= 100
    np.testing.assert_array_equal(data.numpy().ravel(), [0, 1, 2, 3, 4, 5])


def test_tensor_dataset_subclass_with_its_own_getitem_is_used():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2, y

    xb, yb = next(iter(DataLoader(Doubled(gk.ones(4, 2), gk.arange(4)), batch_size=4)))
    assert xb.tolist() == [[2.0, 2.0]] * 4 and yb.tolist() == [0, 1, 2, 3]


def test_generic_dataset_batches_go_to_the_loader_device(device):
    want = gk.zeros(1, device=device).device
    for xb, yb in DataLoader(Squares(5), batch_size=2, shuffle=True, seed=0, device=device):
        assert xb.device == yb.device == want


# -------------------------------------------------------------- collate_fn
def test_custom_collate_fn_gets_the_list_of_samples():
    calls = []

    def collate(samples):
        calls.append(samples)
        return [s[1] for s in samples]

    loader = DataLoader(Squares(5), batch_size=2, collate_fn=collate)
    assert list(loader) == [[0, 1], [2, 3], [4]]
    assert all(isinstance(c, list) for c in calls) and len(calls[0]) == 2
    assert isinstance(calls[0][0][0], np.ndarray)  # the samples as the dataset gives them

    seen = []
    batches = list(DataLoader(_indexed(4), batch_size=3, collate_fn=lambda s: seen.append(s) or len(s)))
    assert batches == [3, 1]  # a TensorDataset's samples go through collate_fn too
    assert isinstance(seen[0][0], tuple) and seen[0][0][1].item() == 0


def test_custom_collate_fn_can_wrap_default_collate(device):
    def collate(samples):
        x, y = default_collate(samples)
        return {"x": x * 0 + 1, "y": y, "n": len(samples)}

    want = gk.zeros(1, device=device).device
    for batch in DataLoader(Squares(5), batch_size=2, collate_fn=collate, device=device):
        assert batch["x"].device == batch["y"].device == want  # the loader's device applies to the result
        assert batch["n"] in (1, 2)
    Pair = namedtuple("Pair", "a b")
    pair = next(iter(DataLoader(Squares(2), batch_size=2, collate_fn=lambda s: Pair(*default_collate(s)))))
    assert isinstance(pair, Pair) and pair.b.tolist() == [0, 1]


def test_loader_collate_errors_name_the_loader():
    class Ragged(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.zeros(i + 1)

    with pytest.raises(gk.ShapeError, match="DataLoader: the array samples of a batch have different shapes"):
        list(DataLoader(Ragged(), batch_size=2))
    with pytest.raises(gk.ArgumentTypeError, match="DataLoader: collate_fn must be None or a callable, got int"):
        DataLoader(Squares(2), collate_fn=3)


# ------------------------------------------------- num_workers, pin_memory
def test_num_workers_and_pin_memory_at_pytorch_defaults():
    loader = DataLoader(Squares(4), batch_size=2, num_workers=0, pin_memory=False)
    assert loader.num_workers == 0 and loader.pin_memory is False and len(list(loader)) == 2
    threaded = DataLoader(Squares(4), batch_size=2, num_workers=2, pin_memory=True)  # worker threads; pinning a no-op
    assert threaded.num_workers == 2 and threaded.pin_memory is True and len(list(threaded)) == 2
    with pytest.raises(gk.InvalidArgumentError, match="DataLoader: num_workers must be >= 0, got -1"):
        DataLoader(Squares(4), num_workers=-1)
    with pytest.raises(gk.ArgumentTypeError, match="DataLoader: num_workers must be an int"):
        DataLoader(Squares(4), num_workers="2")
    with pytest.raises(gk.ArgumentTypeError, match="DataLoader: pin_memory must be True or False"):
        DataLoader(Squares(4), pin_memory="yes")


def test_pin_memory_device_is_pytorchs_str_kept_and_ignored():
    # PyTorch's DataLoader(pin_memory_device="") (keyword-only; deprecated there and ignored): a str, kept
    loader = DataLoader(Squares(4), batch_size=2)
    assert loader.pin_memory_device == ""
    for name in ("cuda", "cuda:0", "cpu", ""):
        pinned = DataLoader(Squares(4), batch_size=2, pin_memory=True, pin_memory_device=name)
        assert pinned.pin_memory_device == name and pinned.pin_memory is True
        plain = list(DataLoader(Squares(4), batch_size=2))
        got = list(pinned)  # the batches are unchanged, and stay where the dataset's tensors are
        assert len(got) == len(plain) == 2
        for (a, i), (b, j) in zip(got, plain, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            np.testing.assert_array_equal(i.numpy(), j.numpy())
            assert a.device == b.device
    assert DataLoader(Squares(4), pin_memory_device=gk.device("cuda")).pin_memory_device == "cuda"  # a str too
    for bad in (None, 0, True, b"cuda"):
        with pytest.raises(gk.ArgumentTypeError, match=r"DataLoader: pin_memory_device must be a str \('' for none\), "
                                                      f"got {type(bad).__name__}"):
            DataLoader(Squares(4), pin_memory_device=bad)
    with pytest.raises(TypeError):  # keyword-only, as in PyTorch
        DataLoader(Squares(4), 1, False, False, None, None, "cuda")


def test_a_subset_whose_indices_were_replaced_by_floats_is_refused_not_truncated():
    subset = gk.data.Subset(gk.data.TensorDataset(gk.arange(6.0)), [0, 1])
    subset.indices = [0.5]
    with pytest.raises(gk.ArgumentTypeError, match="Subset's indices must be integers"):
        list(gk.data.DataLoader(subset, batch_size=1))

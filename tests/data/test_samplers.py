"""gk.data samplers (torch.utils.data semantics) and DataLoader(sampler=, batch_sampler=).

Orders, lengths, repeatability from a seed, replacement, weights, batches, the DataLoader's use of
them (a TensorDataset still batched by indexing its tensors, on every device) and every error.
Where torch is installed, the deterministic behaviours are compared with torch.utils.data.
"""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

import gradkit as gk
from gradkit.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
)


def _indexed(n: int, device: str = "cpu") -> TensorDataset:
    """Sample i is (i as a float row, i as a label), so batches reveal which samples they hold."""
    x = gk.tensor(np.repeat(np.arange(n, dtype=np.float32)[:, None], 3, axis=1), device=device)
    y = gk.tensor(np.arange(n, dtype=np.int64), device=device)
    return TensorDataset(x, y)


def _labels(loader) -> list[list[int]]:
    """Each batch's labels (checking that features and labels stay aligned)."""
    out = []
    for xb, yb in loader:
        np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())
        out.append(yb.numpy().tolist())
    return out


def _flat(batches: list[list[int]]) -> list[int]:
    return list(itertools.chain.from_iterable(batches))


class _Plain:
    """A dataset that is not a TensorDataset: samples are collated one by one."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range")
        i %= self.n
        return np.full(2, i, dtype=np.float32), i


class _Unsized(Sampler[int]):
    """A user's sampler without __len__ (a stream of indices)."""

    def __init__(self, indices):
        self.indices = list(indices)
        self.iterations = 0

    def __iter__(self):
        self.iterations += 1
        yield from self.indices


class _Reversed(Sampler[int]):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source) - 1, -1, -1))

    def __len__(self):
        return len(self.data_source)


def _ints(values) -> bool:
    return all(type(v) is int for v in values)


# ---------------------------------------------------------------------------------------------
# Sampler, SequentialSampler


def test_sampler_base_class():
    s = Sampler()
    with pytest.raises(NotImplementedError, match="Sampler does not define __iter__"):
        iter(s)
    with pytest.raises(TypeError):
        len(s)  # no default __len__, as PyTorch
    Sampler(range(3))  # data_source is accepted (older PyTorch code passes it) and ignored
    assert Sampler[int] is not None and Sampler[list[int]] is not None
    assert list(_Reversed(range(4))) == [3, 2, 1, 0]


def test_sequential_sampler():
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and list(s) == [0, 1, 2, 3, 4]
    assert _ints(s) and len(s) == 5
    assert list(SequentialSampler([])) == [] and len(SequentialSampler([])) == 0
    data = [1, 2]
    s = SequentialSampler(data)
    data.append(3)  # the length is read at each iter(), as PyTorch
    assert list(s) == [0, 1, 2] and len(s) == 3
    assert s.data_source is data and "3 samples" in repr(s)


# ---------------------------------------------------------------------------------------------
# RandomSampler


def test_random_sampler_is_a_new_permutation_each_epoch():
    s = RandomSampler(range(30), seed=0)
    epochs = [list(s) for _ in range(3)]
    assert all(sorted(e) == list(range(30)) for e in epochs)
    assert all(_ints(e) for e in epochs)
    assert epochs[0] != list(range(30))
    assert epochs[0] != epochs[1] != epochs[2]
    assert len(s) == s.num_samples == 30 and s.epoch == 3


def test_random_sampler_is_repeatable_from_its_seed():
    a, b, c = RandomSampler(range(40), seed=5), RandomSampler(range(40), seed=5), RandomSampler(range(40), seed=6)
    ea = [list(a) for _ in range(3)]
    assert ea == [list(b) for _ in range(3)]
    assert ea[0] != list(c)
    fresh = RandomSampler(range(40), seed=5)
    fresh.set_epoch(2)
    assert list(fresh) == ea[2] and fresh.epoch == 3
    assert fresh._order(1).tolist() == ea[1]  # known ahead without drawing
    assert fresh.epoch == 3


def test_random_sampler_matches_a_shuffled_loader():
    """RandomSampler(ds, seed=s) gives the orders of DataLoader(ds, shuffle=True, seed=s)."""
    ds = _indexed(25)
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=11)
    s = RandomSampler(ds, seed=11)
    for _ in range(3):
        assert _flat(_labels(loader)) == list(s)


def test_random_sampler_follows_manual_seed():
    gk.manual_seed(3)
    a = RandomSampler(range(50))
    first = [list(a) for _ in range(2)]
    gk.manual_seed(3)
    b = RandomSampler(range(50))
    assert [list(b) for _ in range(2)] == first
    assert isinstance(a.seed, int) and a.generator is None


def test_random_sampler_with_a_generator():
    a = RandomSampler(range(20), generator=np.random.default_rng(1))
    b = RandomSampler(range(20), generator=np.random.default_rng(1))
    ea, eb = [list(a) for _ in range(3)], [list(b) for _ in range(3)]
    assert ea == eb and ea[0] != ea[1]
    assert a.seed is None and a._order(0) is None and "generator" in repr(a)


def test_random_sampler_replacement_and_num_samples():
    s = RandomSampler(range(5), replacement=True, num_samples=200, seed=0)
    drawn = list(s)
    assert len(drawn) == len(s) == 200 and _ints(drawn)
    assert set(drawn) == {0, 1, 2, 3, 4}  # with replacement: repeats, and every index shows up
    assert max(Counter(drawn).values()) > 1
    short = list(RandomSampler(range(10), replacement=True, num_samples=3, seed=0))
    assert len(short) == 3 and all(0 <= i < 10 for i in short)
    assert len(list(RandomSampler(range(10), replacement=True, seed=0))) == 10  # num_samples defaults to len


def test_random_sampler_without_replacement_chains_permutations():
    s = RandomSampler(range(4), num_samples=10, seed=2)
    drawn = list(s)
    assert len(drawn) == len(s) == 10
    assert sorted(drawn[:4]) == sorted(drawn[4:8]) == [0, 1, 2, 3]  # two whole permutations, as PyTorch 2
    assert len(set(drawn[8:])) == 2
    few = list(RandomSampler(range(10), num_samples=4, seed=2))
    assert len(few) == len(set(few)) == 4


def test_random_sampler_reads_the_length_at_iter_and_allows_an_empty_source():
    data = list(range(3))
    s = RandomSampler(data, seed=0)
    data.extend([3, 4])
    assert len(s) == 5 and sorted(s) == [0, 1, 2, 3, 4]
    empty = RandomSampler([], seed=0)
    assert len(empty) == 0 and list(empty) == []


# ---------------------------------------------------------------------------------------------
# SubsetRandomSampler


@pytest.mark.parametrize("indices", [[4, 8, 15, 16, 23, 42], np.array([4, 8, 15, 16, 23, 42]), (4, 8, 15, 16, 23, 42)])
def test_subset_random_sampler(indices):
    s = SubsetRandomSampler(indices, seed=1)
    epochs = [list(s) for _ in range(4)]
    assert all(sorted(e) == [4, 8, 15, 16, 23, 42] and _ints(e) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1  # the order changes between epochs
    assert len(s) == 6 and s.indices == [4, 8, 15, 16, 23, 42]
    again = SubsetRandomSampler(indices, seed=1)
    assert [list(again) for _ in range(4)] == epochs


def test_subset_random_sampler_reads_its_indices_at_iter():
    s = SubsetRandomSampler([1, 2, 3], seed=0)
    s.indices.append(9)
    assert sorted(s) == [1, 2, 3, 9]
    s.indices = [7, 8]
    assert sorted(s) == [7, 8] and len(s) == 2
    s.indices = np.array([5, 6])
    assert sorted(s) == [5, 6]
    s.indices = [1.5]
    with pytest.raises(gk.ArgumentTypeError, match="SubsetRandomSampler: indices must be ints; one is float 1.5"):
        list(s)


def test_subset_random_sampler_inputs_and_generator():
    assert sorted(SubsetRandomSampler(gk.tensor([3, 1]), seed=0)) == [1, 3]
    assert sorted(SubsetRandomSampler(range(2, 5), seed=0)) == [2, 3, 4]
    assert list(SubsetRandomSampler([], seed=0)) == []
    a = SubsetRandomSampler([0, 1, 2, 3, 4, 5], generator=np.random.default_rng(7))
    b = SubsetRandomSampler([0, 1, 2, 3, 4, 5], generator=np.random.default_rng(7))
    assert [list(a) for _ in range(3)] == [list(b) for _ in range(3)]
    gk.manual_seed(9)
    c = [list(SubsetRandomSampler(range(20))) for _ in range(2)]
    gk.manual_seed(9)
    assert [list(SubsetRandomSampler(range(20))) for _ in range(2)] == c


# ---------------------------------------------------------------------------------------------
# WeightedRandomSampler


def test_weighted_sampler_frequencies_follow_the_weights():
    weights = [1.0, 2.0, 3.0, 4.0, 0.0]
    s = WeightedRandomSampler(weights, num_samples=40_000, seed=0)
    drawn = list(s)
    assert len(drawn) == len(s) == 40_000 and _ints(drawn)
    counts = np.bincount(drawn, minlength=5) / len(drawn)
    np.testing.assert_allclose(counts, [0.1, 0.2, 0.3, 0.4, 0.0], atol=0.01)
    assert counts[4] == 0  # a zero weight is never drawn
    assert s.weights.dtype == np.float64 and s.weights.tolist() == weights


def test_weighted_sampler_without_replacement_draws_successively():
    """Without replacement each draw is proportional to the weights left (PyTorch's multinomial):
    P(index 3 among 2 draws from weights 1, 2, 3, 4) = 0.4 + 0.1*4/9 + 0.2*4/8 + 0.3*4/7 = 0.7159."""
    s = WeightedRandomSampler([1, 2, 3, 4], num_samples=2, replacement=False, seed=0)
    hits = 0
    for _ in range(3000):
        a, b = list(s)
        assert a != b
        hits += 3 in (a, b)
    assert abs(hits / 3000 - 0.7159) < 0.03
    every = list(WeightedRandomSampler([1, 0, 2, 5], num_samples=3, replacement=False, seed=1))
    assert sorted(every) == [0, 2, 3]  # the zero weight never, every positive one once


def test_weighted_sampler_is_repeatable_and_takes_arrays_and_tensors(device):
    a = WeightedRandomSampler(np.array([0.5, 0.1, 0.4]), 50, seed=4)
    b = WeightedRandomSampler(gk.tensor([0.5, 0.1, 0.4], device=device), 50, seed=4)
    ea = [list(a) for _ in range(2)]
    assert ea == [list(b) for _ in range(2)] and ea[0] != ea[1]
    g1 = WeightedRandomSampler([1, 1, 1], 10, generator=np.random.default_rng(0))
    g2 = WeightedRandomSampler([1, 1, 1], 10, generator=np.random.default_rng(0))
    assert list(g1) == list(g2)
    gk.manual_seed(1)
    m = list(WeightedRandomSampler([1, 2, 3], 20))
    gk.manual_seed(1)
    assert list(WeightedRandomSampler([1, 2, 3], 20)) == m
    huge = list(WeightedRandomSampler([1e308, 1e308], 100, seed=0))  # no overflow in the normalisation
    assert set(huge) == {0, 1}


# ---------------------------------------------------------------------------------------------
# BatchSampler


@pytest.mark.parametrize("n,size", [(10, 3), (12, 4), (2, 5), (0, 2), (1, 1)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_batches(n, size, drop_last):
    bs = BatchSampler(SequentialSampler(range(n)), size, drop_last)
    batches = list(bs)
    want = [list(range(i, min(i + size, n))) for i in range(0, n, size)]
    if drop_last:
        want = [b for b in want if len(b) == size]
    assert batches == want and len(bs) == len(want)
    assert all(type(b) is list and _ints(b) for b in batches)


def test_batch_sampler_over_any_iterable():
    assert list(BatchSampler([5, 3, 1, 0], 3, False)) == [[5, 3, 1], [0]]
    assert list(BatchSampler(iter(range(5)), 2, True)) == [[0, 1], [2, 3]]  # an iterator: one epoch
    random = BatchSampler(RandomSampler(range(10), seed=0), 4, False)
    e1, e2 = list(random), list(random)
    assert sorted(_flat(e1)) == list(range(10)) and e1 != e2 and [len(b) for b in e1] == [4, 4, 2]
    assert list(BatchSampler(_Unsized([1, 2, 3]), 2, False)) == [[1, 2], [3]]
    assert "batch_size=2" in repr(BatchSampler(range(3), 2, False))


# ---------------------------------------------------------------------------------------------
# DataLoader(sampler=...)


def test_loader_default_sampler_attributes():
    ds = _indexed(7)
    plain = DataLoader(ds, batch_size=3)
    assert type(plain.sampler) is SequentialSampler and len(plain.sampler) == 7
    assert type(plain.batch_sampler) is BatchSampler and plain.batch_sampler.batch_size == 3
    shuffled = DataLoader(ds, batch_size=3, shuffle=True, seed=4)
    assert type(shuffled.sampler) is RandomSampler and shuffled.sampler.seed == 4
    assert list(shuffled.sampler) == shuffled.order(0).tolist()  # it gives the loader's orders


@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_with_a_random_sampler_equals_shuffle(drop_last):
    ds = _indexed(23)
    a = DataLoader(ds, batch_size=5, drop_last=drop_last, sampler=RandomSampler(ds, seed=3))
    b = DataLoader(ds, batch_size=5, drop_last=drop_last, shuffle=True, seed=3)
    assert len(a) == len(b) == (4 if drop_last else 5)
    for _ in range(3):
        assert _labels(a) == _labels(b)
    assert a.seed is None and a.sampler.epoch == 3 and a.epoch == 3


def test_loader_with_a_sequential_sampler_over_a_shorter_source():
    ds = _indexed(10)
    loader = DataLoader(ds, batch_size=4, sampler=SequentialSampler(range(6)))
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5]] and len(loader) == 2


def test_loader_with_a_sampler_gathers_a_tensor_dataset_by_indexing(monkeypatch):
    import gradkit.data.loader as loader_module

    def no_collate(*args, **kwargs):
        raise AssertionError("a TensorDataset's batches must not be collated sample by sample")

    monkeypatch.setattr(loader_module, "collate", no_collate)
    ds = _indexed(12)
    for sampler in (RandomSampler(ds, seed=0), _Unsized([11, 0, -1, 5]), [3, 2, 1], WeightedRandomSampler([1] * 12, 9)):
        batches = _labels(DataLoader(ds, batch_size=4, sampler=sampler))
        assert all(len(b) <= 4 for b in batches)
    assert _labels(DataLoader(ds, batch_size=3, sampler=[3, -1, 0, 7])) == [[3, 11, 0], [7]]


def test_loader_with_samplers_on_every_device(device):
    ds = _indexed(11, device=device)
    want = gk.zeros(1, device=device).device
    samplers = [
        SequentialSampler(ds),
        RandomSampler(ds, seed=1),
        RandomSampler(ds, replacement=True, num_samples=20, seed=1),
        SubsetRandomSampler([0, 2, 4, 6, 8, 10], seed=1),
        WeightedRandomSampler([0] * 5 + [1] * 6, 5, replacement=False, seed=1),
        _Reversed(ds),
        _Unsized([10, 9, -11]),
    ]
    for sampler in samplers:
        served = []
        for xb, yb in DataLoader(ds, batch_size=4, sampler=sampler):
            assert xb.device == want and yb.device == want
            assert not xb.requires_grad and xb.shape[1:] == (3,)
            np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())
            served += yb.numpy().tolist()
        if isinstance(sampler, RandomSampler) and not sampler.replacement:
            assert sorted(served) == list(range(11))
    assert _flat(_labels(DataLoader(ds, batch_size=4, sampler=_Reversed(ds)))) == list(range(10, -1, -1))
    assert _flat(_labels(DataLoader(ds, batch_size=4, sampler=_Unsized([10, 9, -11])))) == [10, 9, 0]
    subset = SubsetRandomSampler([0, 2, 4, 6, 8, 10], seed=2)
    assert sorted(_flat(_labels(DataLoader(ds, batch_size=4, sampler=subset)))) == [0, 2, 4, 6, 8, 10]
    weighted = WeightedRandomSampler([0] * 5 + [1] * 6, 6, replacement=False, seed=2)
    assert all(5 <= i <= 10 for i in _flat(_labels(DataLoader(ds, batch_size=4, sampler=weighted))))
    batches = _labels(DataLoader(ds, batch_sampler=[[1, 2], [-1], []]))
    assert batches == [[1, 2], [10], []]


def test_loader_with_a_sampler_moves_batches_to_the_device_argument(device):
    want = gk.zeros(1, device=device).device
    loader = DataLoader(_indexed(9), batch_size=4, sampler=RandomSampler(range(9), seed=0), device=device)
    labels = []
    for xb, yb in loader:
        assert xb.device == want and yb.device == want
        labels += yb.numpy().tolist()
    assert sorted(labels) == list(range(9))
    lazy = DataLoader(_indexed(9), batch_size=2, sampler=_Unsized([8, -1, 0]), device=device)
    assert all(xb.device == want for xb, _ in lazy) and _labels(lazy) == [[8, 8], [0]]
    plain = DataLoader(_Plain(5), batch_size=2, sampler=_Unsized([4, 0, 2]), device=device)
    assert all(x.device == want for x, _ in plain)


def test_loader_with_a_sampler_over_a_subset():
    base = _indexed(20)
    subset = Subset(base, [19, 3, 7, 11, 0])
    loader = DataLoader(subset, batch_size=2, sampler=SequentialSampler(subset))
    assert _labels(loader) == [[19, 3], [7, 11], [0]]
    loader = DataLoader(subset, batch_size=2, sampler=[4, -1, 1])
    assert _labels(loader) == [[0, 0], [3]]
    shuffled = DataLoader(subset, batch_size=5, sampler=RandomSampler(subset, seed=0))
    assert sorted(_flat(_labels(shuffled))) == [0, 3, 7, 11, 19]


def test_loader_with_a_sampler_collates_other_datasets():
    loader = DataLoader(_Plain(6), batch_size=4, sampler=RandomSampler(range(6), seed=2))
    seen = []
    for arrays, labels in loader:
        assert labels.tolist() == arrays.numpy()[:, 0].astype(int).tolist()
        seen += labels.tolist()
    assert sorted(seen) == list(range(6))
    batches = [labels.tolist() for _, labels in DataLoader(_Plain(6), batch_size=2, sampler=[5, -1, 0])]
    assert batches == [[5, 5], [0]]
    with_fn = DataLoader(_indexed(5), batch_size=2, sampler=[4, 1, 3], collate_fn=lambda s: [int(y) for _, y in s])
    assert list(with_fn) == [[4, 1], [3]]

    class Keyed:  # a sampler may yield any key the dataset takes, as in PyTorch
        data = {"a": 1.0, "b": 2.0, "c": 3.0}

        def __len__(self):
            return 3

        def __getitem__(self, key):
            return self.data[key]

    assert [b.tolist() for b in DataLoader(Keyed(), batch_size=2, sampler=["c", "a", "b"])] == [[3.0, 1.0], [2.0]]


def test_loader_len_with_samplers():
    ds = _indexed(10)
    assert len(DataLoader(ds, batch_size=3, sampler=RandomSampler(ds, num_samples=7, replacement=True))) == 3
    assert len(DataLoader(ds, batch_size=3, drop_last=True, sampler=RandomSampler(ds, num_samples=7, seed=0))) == 2
    assert len(DataLoader(ds, batch_size=4, sampler=SubsetRandomSampler([1, 2, 3, 4, 5]))) == 2
    assert len(DataLoader(ds, batch_size=4, sampler=WeightedRandomSampler([1] * 10, 9))) == 3
    assert len(DataLoader(ds, batch_size=4, sampler=[1, 2])) == 1
    assert len(DataLoader(ds, batch_sampler=[[1], [2], [3]])) == 3
    assert len(DataLoader(ds, batch_sampler=BatchSampler(range(10), 4, True))) == 2
    unsized = DataLoader(ds, batch_size=2, sampler=_Unsized([1, 2, 3]))
    with pytest.raises(TypeError, match="_Unsized has no __len__"):
        len(unsized)
    assert _labels(unsized) == [[1, 2], [3]]
    assert [len(yb) for _, yb in list(unsized)] == [2, 1]  # list() copes with the missing length
    with pytest.raises(TypeError, match="__len__"):
        len(DataLoader(ds, batch_sampler=iter([[1]])))


def test_loader_set_epoch_and_order_with_a_sampler():
    ds = _indexed(16)
    loader = DataLoader(ds, batch_size=5, sampler=RandomSampler(ds, seed=8))
    epochs = [_flat(_labels(loader)) for _ in range(3)]
    assert loader.order(1).tolist() == epochs[1] and loader.epoch == 3
    resumed = DataLoader(ds, batch_size=5, sampler=RandomSampler(ds, seed=8))
    resumed.set_epoch(2)
    assert resumed.sampler.epoch == 2 and _flat(_labels(resumed)) == epochs[2]
    via_batches = DataLoader(ds, batch_sampler=BatchSampler(RandomSampler(ds, seed=8), 5, False))
    via_batches.set_epoch(1)
    assert via_batches.batch_sampler.sampler.epoch == 1 and _flat(_labels(via_batches)) == epochs[1]
    assert via_batches.order(2).tolist() == epochs[2]
    assert DataLoader(ds, batch_size=5, sampler=SequentialSampler(ds)).order(4).tolist() == list(range(16))

    class Distributed(_Reversed):  # a user's sampler with set_epoch (DistributedSampler's habit)
        epoch = None

        def set_epoch(self, epoch):
            self.epoch = epoch

    mine = DataLoader(ds, batch_size=5, sampler=Distributed(ds))
    mine.set_epoch(6)
    assert mine.sampler.epoch == 6 and mine.epoch == 6


def test_loader_with_a_weighted_sampler_repeats_samples():
    ds = _indexed(4)
    loader = DataLoader(ds, batch_size=8, sampler=WeightedRandomSampler([0, 0, 1, 3], 64, seed=0))
    labels = _flat(_labels(loader))
    assert len(labels) == 64 and set(labels) == {2, 3}
    assert labels.count(3) > labels.count(2)


# ---------------------------------------------------------------------------------------------
# DataLoader(batch_sampler=...)


def test_loader_with_a_batch_sampler():
    ds = _indexed(10)
    loader = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, True))
    assert loader.batch_size is None and loader.drop_last is False  # as PyTorch
    assert type(loader.sampler) is SequentialSampler
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(loader) == 2
    custom = DataLoader(ds, batch_sampler=[[9, 8, 7], [0], [1, 1]])
    assert _labels(custom) == [[9, 8, 7], [0], [1, 1]] == _labels(custom)  # a list serves every epoch
    random = DataLoader(ds, batch_sampler=BatchSampler(RandomSampler(ds, seed=1), 3, False))
    e1, e2 = _labels(random), _labels(random)
    assert sorted(_flat(e1)) == list(range(10)) and e1 != e2 and [len(b) for b in e1] == [3, 3, 3, 1]
    plain = DataLoader(_Plain(5), batch_sampler=[[4, 0], [2]])
    assert [labels.tolist() for _, labels in plain] == [[4, 0], [2]]
    assert "batch_sampler=" in repr(plain) and "sampler=" in repr(DataLoader(ds, sampler=[1]))


def test_loader_with_a_batch_sampler_yielding_arrays_and_tensors(device):
    ds = _indexed(6, device=device)
    batches = [np.array([5, 4]), gk.tensor([0, 1], device=device), range(2, 4)]
    assert _labels(DataLoader(ds, batch_sampler=batches)) == [[5, 4], [0, 1], [2, 3]]


# ---------------------------------------------------------------------------------------------
# Errors

ERRORS = {
    "SequentialSampler no length": (lambda: SequentialSampler(5), gk.ArgumentTypeError,
                                    r"SequentialSampler: data_source must have a length \(__len__\), got int 5"),
    "RandomSampler no length": (lambda: RandomSampler(object()), gk.ArgumentTypeError,
                                "RandomSampler: data_source must have a length"),
    "RandomSampler replacement": (lambda: RandomSampler(range(3), replacement="yes"), gk.ArgumentTypeError,
                                  "RandomSampler: replacement must be True or False, got str 'yes'"),
    "RandomSampler num_samples 0": (lambda: RandomSampler(range(3), num_samples=0), gk.InvalidArgumentError,
                                    "RandomSampler: num_samples must be >= 1, got 0"),
    "RandomSampler num_samples float": (lambda: RandomSampler(range(3), num_samples=2.5), gk.ArgumentTypeError,
                                        "RandomSampler: num_samples must be an int, got float 2.5"),
    "RandomSampler seed": (lambda: RandomSampler(range(3), seed=-1), gk.InvalidArgumentError,
                           "RandomSampler: seed must be >= 0, got -1"),
    "RandomSampler seed str": (lambda: RandomSampler(range(3), seed="1"), gk.ArgumentTypeError,
                               "RandomSampler: seed must be an int, got str"),
    "RandomSampler generator": (lambda: RandomSampler(range(3), generator=42), gk.ArgumentTypeError,
                                "RandomSampler: generator must be a numpy.random.Generator, got int"),
    "RandomSampler RandomState": (lambda: RandomSampler(range(3), generator=np.random.RandomState(0)),
                                  gk.ArgumentTypeError, "generator must be a numpy.random.Generator, got RandomState"),
    "RandomSampler both": (lambda: RandomSampler(range(3), generator=np.random.default_rng(), seed=1),
                           gk.InvalidArgumentError, "RandomSampler: pass seed or generator, not both"),
    "RandomSampler empty": (lambda: list(RandomSampler([], num_samples=3, seed=0)), gk.InvalidArgumentError,
                            "RandomSampler: cannot draw 3 samples from an empty data_source"),
    "RandomSampler set_epoch": (lambda: RandomSampler(range(3), seed=0).set_epoch(-1), gk.InvalidArgumentError,
                                "RandomSampler.set_epoch: epoch must be >= 0, got -1"),
    "SubsetRandomSampler str": (lambda: SubsetRandomSampler("abc"), gk.ArgumentTypeError,
                                "SubsetRandomSampler: indices must be a sequence of ints, got str"),
    "SubsetRandomSampler int": (lambda: SubsetRandomSampler(5), gk.ArgumentTypeError,
                                "SubsetRandomSampler: indices must be a sequence of ints, got int"),
    "SubsetRandomSampler floats": (lambda: SubsetRandomSampler([1, 2.5]), gk.ArgumentTypeError,
                                   "SubsetRandomSampler: indices must be ints; one is float 2.5"),
    "SubsetRandomSampler bools": (lambda: SubsetRandomSampler([True]), gk.ArgumentTypeError,
                                  "SubsetRandomSampler: indices must be ints; one is bool"),
    "SubsetRandomSampler 2-d": (lambda: SubsetRandomSampler(np.zeros((2, 2), dtype=int)), gk.ArgumentTypeError,
                                r"SubsetRandomSampler: indices must be a 1-d sequence of ints, got shape \(2, 2\)"),
    "SubsetRandomSampler generator": (lambda: SubsetRandomSampler([1], generator="x"), gk.ArgumentTypeError,
                                      "SubsetRandomSampler: generator must be a numpy.random.Generator, got str"),
    "SubsetRandomSampler seed": (lambda: SubsetRandomSampler([1], seed=1.5), gk.ArgumentTypeError,
                                 "SubsetRandomSampler: seed must be an int, got float 1.5"),
    "Weighted num_samples 0": (lambda: WeightedRandomSampler([1, 2], 0), gk.InvalidArgumentError,
                               "WeightedRandomSampler: num_samples must be >= 1, got 0"),
    "Weighted num_samples float": (lambda: WeightedRandomSampler([1, 2], 1.5), gk.ArgumentTypeError,
                                   "WeightedRandomSampler: num_samples must be an int, got float 1.5"),
    "Weighted replacement": (lambda: WeightedRandomSampler([1, 2], 2, replacement=None), gk.ArgumentTypeError,
                             "WeightedRandomSampler: replacement must be True or False, got NoneType"),
    "Weighted str": (lambda: WeightedRandomSampler("ab", 2), gk.ArgumentTypeError,
                     "WeightedRandomSampler: weights must be a 1-d sequence of numbers, got str"),
    "Weighted scalar": (lambda: WeightedRandomSampler(3.0, 2), gk.ArgumentTypeError,
                        "WeightedRandomSampler: weights must be a 1-d sequence of numbers, got float"),
    "Weighted strings": (lambda: WeightedRandomSampler(["a", "b"], 2), gk.ArgumentTypeError,
                         "WeightedRandomSampler: weights must be numbers, got dtype <U1"),
    "Weighted ragged": (lambda: WeightedRandomSampler([1, [2, 3]], 2), gk.ArgumentTypeError,
                        "WeightedRandomSampler: weights must be a 1-d sequence of numbers"),
    "Weighted 2-d": (lambda: WeightedRandomSampler([[1, 2], [3, 4]], 2), gk.ShapeError,
                     r"WeightedRandomSampler: weights must be a 1-d sequence, got shape \(2, 2\)"),
    "Weighted empty": (lambda: WeightedRandomSampler([], 2), gk.InvalidArgumentError,
                       "WeightedRandomSampler: weights is empty"),
    "Weighted negative": (lambda: WeightedRandomSampler([1, -0.5], 2), gk.InvalidArgumentError,
                          "WeightedRandomSampler: weights must be >= 0, got -0.5"),
    "Weighted nan": (lambda: WeightedRandomSampler([1, float("nan")], 2), gk.InvalidArgumentError,
                     "WeightedRandomSampler: weights must be finite, got nan"),
    "Weighted inf": (lambda: WeightedRandomSampler([1, float("inf")], 2), gk.InvalidArgumentError,
                     "WeightedRandomSampler: weights must be finite, got inf"),
    "Weighted zeros": (lambda: WeightedRandomSampler([0, 0], 2), gk.InvalidArgumentError,
                       "WeightedRandomSampler: every weight is 0"),
    "Weighted too many": (lambda: WeightedRandomSampler([1, 0, 1], 3, replacement=False), gk.InvalidArgumentError,
                          "WeightedRandomSampler: cannot draw num_samples=3 indices without replacement when only "
                          "2 weights are positive"),
    "Weighted both": (lambda: WeightedRandomSampler([1], 1, generator=np.random.default_rng(), seed=0),
                      gk.InvalidArgumentError, "WeightedRandomSampler: pass seed or generator, not both"),
    "BatchSampler sampler": (lambda: BatchSampler(5, 2, False), gk.ArgumentTypeError,
                             "BatchSampler: sampler must be a Sampler or an iterable of indices, got int 5"),
    "BatchSampler str": (lambda: BatchSampler("abc", 2, False), gk.ArgumentTypeError,
                         "BatchSampler: sampler must be a Sampler or an iterable of indices, got str"),
    "BatchSampler batch_size 0": (lambda: BatchSampler(range(3), 0, False), gk.InvalidArgumentError,
                                  "BatchSampler: batch_size must be >= 1, got 0"),
    "BatchSampler batch_size float": (lambda: BatchSampler(range(3), 2.5, False), gk.ArgumentTypeError,
                                      "BatchSampler: batch_size must be an int, got float 2.5"),
    "BatchSampler batch_size str": (lambda: BatchSampler(range(3), "2", False), gk.ArgumentTypeError,
                                    "BatchSampler: batch_size must be an int, got str"),
    "BatchSampler drop_last": (lambda: BatchSampler(range(3), 2, "no"), gk.ArgumentTypeError,
                               "BatchSampler: drop_last must be True or False, got str 'no'"),
    "BatchSampler len": (lambda: len(BatchSampler(_Unsized([1]), 2, False)), gk.ArgumentTypeError,
                         "BatchSampler: len.. needs the length of its sampler, and _Unsized has no __len__"),
    "DataLoader sampler type": (lambda: DataLoader(_indexed(3), sampler=5), gk.ArgumentTypeError,
                                "DataLoader: sampler must be None, a Sampler or an iterable of indices, got int 5"),
    "DataLoader batch_sampler type": (lambda: DataLoader(_indexed(3), batch_sampler=2.0), gk.ArgumentTypeError,
                                      "DataLoader: batch_sampler must be None, a Sampler or an iterable of lists"),
    "DataLoader sampler shuffle": (lambda: DataLoader(_indexed(3), shuffle=True, sampler=[0, 1]),
                                   gk.InvalidArgumentError, "DataLoader: got shuffle=True with sampler=list, which "
                                   "sets the order itself"),
    "DataLoader batch_sampler batch_size": (lambda: DataLoader(_indexed(3), 2, batch_sampler=[[0]]),
                                            gk.InvalidArgumentError,
                                            "DataLoader: got batch_size=2 with a batch_sampler, which makes the "
                                            "batches itself; batch_size, shuffle, sampler and drop_last must keep "
                                            r"their defaults \(1, False, None, False\) then"),
    "DataLoader batch_sampler shuffle": (lambda: DataLoader(_indexed(3), shuffle=True, batch_sampler=[[0]]),
                                         gk.InvalidArgumentError, "got shuffle=True with a batch_sampler"),
    "DataLoader batch_sampler sampler": (lambda: DataLoader(_indexed(3), sampler=[0], batch_sampler=[[0]]),
                                         gk.InvalidArgumentError, "got sampler=list with a batch_sampler"),
    "DataLoader batch_sampler drop_last": (lambda: DataLoader(_indexed(3), drop_last=True, batch_sampler=[[0]]),
                                           gk.InvalidArgumentError, "got drop_last=True with a batch_sampler"),
    "DataLoader batch_sampler several": (lambda: DataLoader(_indexed(3), 4, True, True, batch_sampler=[[0]]),
                                         gk.InvalidArgumentError, "got batch_size=4, shuffle=True, drop_last=True"),
    "DataLoader seed with sampler": (lambda: DataLoader(_indexed(3), seed=1, sampler=[0]), gk.InvalidArgumentError,
                                     "DataLoader: seed=1 only orders shuffle=True; with a sampler pass seed= to "
                                     "the sampler"),
    "DataLoader seed with batch_sampler": (lambda: DataLoader(_indexed(3), seed=1, batch_sampler=[[0]]),
                                           gk.InvalidArgumentError, "with a batch_sampler pass seed="),
    "DataLoader len unsized": (lambda: len(DataLoader(_indexed(3), sampler=_Unsized([0]))), gk.ArgumentTypeError,
                               "BatchSampler: len.. needs the length of its sampler"),
    "DataLoader len unsized batch_sampler": (lambda: len(DataLoader(_indexed(3), batch_sampler=iter([[0]]))),
                                             gk.ArgumentTypeError,
                                             "DataLoader: len.. needs the length of its batch_sampler, and "
                                             "list_iterator has no __len__"),
    "DataLoader sampler out of range (drawn)": (lambda: list(DataLoader(_indexed(3),
                                                                        sampler=SequentialSampler(range(5)))),
                                                gk.IndexOutOfRangeError,
                                                r"DataLoader: the sampler gave index 4, out of range for the dataset "
                                                r"of 3 samples \(indices must lie in \[-3, 3\)\)"),
    "DataLoader sampler out of range": (lambda: list(DataLoader(_indexed(3), sampler=[0, -4])),
                                        gk.IndexOutOfRangeError, "DataLoader: the sampler gave index -4"),
    "DataLoader batch_sampler out of range": (lambda: list(DataLoader(_indexed(3), batch_sampler=[[3]])),
                                              gk.IndexOutOfRangeError, "DataLoader: the batch_sampler gave index 3"),
    "DataLoader subset out of range": (lambda: list(DataLoader(Subset(_indexed(9), [1, 2]), sampler=[2])),
                                       gk.IndexOutOfRangeError, "gave index 2, out of range for the dataset of 2"),
    "DataLoader sampler float index": (lambda: list(DataLoader(_indexed(3), sampler=[0, 1.0])),
                                       gk.ArgumentTypeError,
                                       "DataLoader: the sampler gave index float 1.0; a TensorDataset's indices "
                                       "must be ints"),
    "DataLoader sampler bool index": (lambda: list(DataLoader(_indexed(3), sampler=[True])),
                                      gk.ArgumentTypeError, "the sampler gave index bool True"),
    "DataLoader batch_sampler float array": (lambda: list(DataLoader(_indexed(3), batch_sampler=[np.ones(2)])),
                                             gk.ArgumentTypeError,
                                             r"the batch_sampler gave a batch of shape \(2,\) and dtype float64"),
    "DataLoader batch_sampler int batch": (lambda: list(DataLoader(_indexed(3), batch_sampler=[0, 1])),
                                           gk.ArgumentTypeError,
                                           "DataLoader: the batch_sampler gave int 0 as a batch; expected a list of "
                                           "int indices"),
    "DataLoader batch_sampler int batch (collated)": (lambda: list(DataLoader(_Plain(3), batch_sampler=[0])),
                                                      gk.ArgumentTypeError,
                                                      "the batch_sampler gave int 0 as a batch; expected a list"),
    "DataLoader collated out of range": (lambda: list(DataLoader(_Plain(3), sampler=[0, 5])),
                                         gk.IndexOutOfRangeError,
                                         r"DataLoader: the sampler gave index 5, and dataset\[5\] failed for the "
                                         r"dataset \(_Plain, 3 samples\): IndexError"),
    "DataLoader collated bad key": (lambda: list(DataLoader({"a": 1.0}, sampler=["b"])), gk.ArgumentTypeError,
                                    r"the sampler gave index 'b', and dataset\['b'\] failed .*KeyError"),
    "DataLoader order unknown": (lambda: DataLoader(_indexed(3), sampler=[2, 1]).order(0), gk.InvalidArgumentError,
                                 "DataLoader.order: the order of epoch 0 is not known ahead for its sampler "
                                 r"\(list\)"),
    "DataLoader order generator": (lambda: DataLoader(_indexed(3), sampler=RandomSampler(
                                       range(3), generator=np.random.default_rng())).order(0),
                                   gk.InvalidArgumentError, r"not known ahead for its sampler \(RandomSampler\)"),
    "DataLoader order batch_sampler": (lambda: DataLoader(_indexed(3), batch_sampler=[[0]]).order(0),
                                       gk.InvalidArgumentError, r"not known ahead for its batch_sampler \(list\)"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors(case):
    call, error, message = ERRORS[case]
    with pytest.raises(error, match=message):
        call()


def test_errors_are_gradkit_errors_and_builtin_ones():
    for call, error, _ in ERRORS.values():
        assert issubclass(error, gk.GradkitError)
        with pytest.raises((ValueError, TypeError, IndexError)):
            call()


def test_a_failed_argument_check_draws_nothing():
    """Errors come before the global generator is touched, so a bad call does not shift later seeds."""
    gk.manual_seed(0)
    with pytest.raises(gk.InvalidArgumentError):
        RandomSampler(range(3), num_samples=0)
    a = list(RandomSampler(range(10)))
    gk.manual_seed(0)
    assert list(RandomSampler(range(10))) == a


# ---------------------------------------------------------------------------------------------
# Against torch.utils.data (deterministic behaviours only)


@pytest.fixture
def tud():
    torch = pytest.importorskip("torch")
    return torch.utils.data


@pytest.mark.parametrize("n", [0, 1, 7])
def test_sequential_sampler_as_torch(tud, n):
    assert list(SequentialSampler(range(n))) == list(tud.SequentialSampler(range(n)))
    assert len(SequentialSampler(range(n))) == len(tud.SequentialSampler(range(n)))


@pytest.mark.parametrize("n,size", [(10, 3), (12, 4), (2, 5), (0, 2), (1, 1), (9, 9)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_as_torch(tud, n, size, drop_last):
    ours = BatchSampler(SequentialSampler(range(n)), size, drop_last)
    theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), size, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    order = [5, 3, 9, 0, 1, 8, 2][: max(n, 0)]
    assert list(BatchSampler(order, size, drop_last)) == list(tud.BatchSampler(order, size, drop_last))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"replacement": True}, {"num_samples": 3}, {"num_samples": 25}, {"replacement": True, "num_samples": 40}],
)
def test_random_sampler_lengths_as_torch(tud, kwargs):
    ours, theirs = RandomSampler(range(10), seed=0, **kwargs), tud.RandomSampler(range(10), **kwargs)
    assert len(ours) == len(theirs) == len(list(ours)) == len(list(theirs))
    assert ours.num_samples == theirs.num_samples
    if not kwargs.get("replacement"):  # chained permutations: each index drawn k // n or k // n + 1 times
        for sampler in (ours, theirs):
            counts = Counter(list(sampler))
            assert max(counts.values()) - min(counts.values()) <= 1 and all(0 <= i < 10 for i in counts)
            assert len(counts) == min(10, len(sampler))


def test_other_sampler_lengths_as_torch(tud):
    assert len(SubsetRandomSampler([3, 1, 4, 1, 5])) == len(tud.SubsetRandomSampler([3, 1, 4, 1, 5]))
    assert sorted(SubsetRandomSampler([3, 1, 4], seed=0)) == sorted(tud.SubsetRandomSampler([3, 1, 4]))
    ours, theirs = WeightedRandomSampler([1, 2, 0], 7), tud.WeightedRandomSampler([1, 2, 0], 7)
    assert len(ours) == len(theirs) == len(list(ours)) == len(list(theirs))
    assert sorted(WeightedRandomSampler([1, 0, 2, 5], 3, False, seed=0)) == sorted(
        tud.WeightedRandomSampler([1, 0, 2, 5], 3, False)
    )


@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 3, False), (10, 3, True), (4, 8, False), (4, 8, True)])
def test_loader_lengths_and_batches_as_torch(tud, n, batch_size, drop_last):
    import torch

    ours_ds = _indexed(n)
    theirs_ds = tud.TensorDataset(torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3), torch.arange(n))
    order = list(range(n - 1, -1, -1))
    cases = [
        ({"sampler": order}, {"sampler": order}),
        ({"sampler": SequentialSampler(ours_ds)}, {"sampler": tud.SequentialSampler(theirs_ds)}),
    ]
    for ours_kw, theirs_kw in cases:
        ours = DataLoader(ours_ds, batch_size=batch_size, drop_last=drop_last, **ours_kw)
        theirs = tud.DataLoader(theirs_ds, batch_size=batch_size, drop_last=drop_last, **theirs_kw)
        assert len(ours) == len(theirs)
        assert _labels(ours) == [yb.tolist() for _, yb in theirs]
    batches = [[3, 1], [0], [2, 2, 1]][: n and 3]
    ours = DataLoader(ours_ds, batch_sampler=BatchSampler(order, batch_size, drop_last))
    theirs = tud.DataLoader(theirs_ds, batch_sampler=tud.BatchSampler(order, batch_size, drop_last))
    assert len(ours) == len(theirs) and _labels(ours) == [yb.tolist() for _, yb in theirs]
    assert ours.batch_size is theirs.batch_size is None and ours.drop_last is theirs.drop_last is False
    ours, theirs = DataLoader(ours_ds, batch_sampler=batches), tud.DataLoader(theirs_ds, batch_sampler=batches)
    assert len(ours) == len(theirs) and _labels(ours) == [yb.tolist() for _, yb in theirs]
    assert type(DataLoader(ours_ds, batch_sampler=batches).sampler).__name__ == type(theirs.sampler).__name__


def test_unsized_sampler_len_as_torch(tud):
    class TorchUnsized(tud.Sampler):
        def __iter__(self):
            yield from [0, 1]

    with pytest.raises(TypeError):
        len(tud.DataLoader(range(3), batch_size=2, sampler=TorchUnsized()))
    with pytest.raises(TypeError):
        len(DataLoader(_indexed(3), batch_size=2, sampler=_Unsized([0, 1])))
    with pytest.raises(TypeError):
        len(tud.Sampler())
    with pytest.raises(TypeError):
        len(Sampler())


def test_loader_conflicts_as_torch(tud):
    """The same argument combinations are refused, with the same built-in class (ValueError)."""
    data = list(range(4))
    conflicts = [
        {"shuffle": True, "sampler": [0, 1]},
        {"batch_size": 2, "batch_sampler": [[0]]},
        {"shuffle": True, "batch_sampler": [[0]]},
        {"sampler": [0], "batch_sampler": [[0]]},
        {"drop_last": True, "batch_sampler": [[0]]},
    ]
    for kwargs in conflicts:
        with pytest.raises(ValueError):
            tud.DataLoader(data, **kwargs)
        with pytest.raises(ValueError):
            DataLoader(data, **kwargs)
    for kwargs in [{"sampler": [0, 1]}, {"batch_sampler": [[0], [1, 2]]}, {"batch_size": 3, "sampler": [2, 1, 0]}]:
        ours, theirs = DataLoader(data, **kwargs), tud.DataLoader(data, **kwargs)  # accepted by both
        assert len(ours) == len(theirs)
        assert [b.tolist() for b in ours] == [b.tolist() for b in theirs]


def test_sampler_argument_errors_as_torch(tud):
    """Each argument torch refuses, gradkit refuses too (gradkit raises TypeError for a wrong type where
    torch says ValueError, and refuses bad weights when the sampler is made, torch at its first iter()).
    gradkit also refuses more draws without replacement than positive weights, which torch's documentation
    forbids but its CPU multinomial fills up with zero-weight indices."""
    refused = [
        (lambda m: m.RandomSampler(range(3), replacement="yes")),
        (lambda m: m.RandomSampler(range(3), num_samples=0)),
        (lambda m: m.RandomSampler(range(3), num_samples=-2)),
        (lambda m: m.RandomSampler(range(3), num_samples=2.5)),
        (lambda m: m.BatchSampler(range(3), 0, False)),
        (lambda m: m.BatchSampler(range(3), -1, False)),
        (lambda m: m.BatchSampler(range(3), 2.5, False)),
        (lambda m: m.BatchSampler(range(3), True, False)),
        (lambda m: m.BatchSampler(range(3), 2, "no")),
        (lambda m: m.WeightedRandomSampler([1, 2], 0)),
        (lambda m: m.WeightedRandomSampler([1, 2], 1.5)),
        (lambda m: m.WeightedRandomSampler([1, 2], 2, replacement=None)),
        (lambda m: m.WeightedRandomSampler([[1, 2], [3, 4]], 2)),
        (lambda m: list(m.WeightedRandomSampler([1, -1], 2))),
        (lambda m: list(m.WeightedRandomSampler([0, 0], 2))),
        (lambda m: list(m.WeightedRandomSampler([1, 2], 3, replacement=False))),
        (lambda m: list(m.WeightedRandomSampler([1, float("nan")], 2))),
        (lambda m: list(m.BatchSampler(5, 2, False))),
    ]
    for make in refused:
        with pytest.raises((ValueError, TypeError, RuntimeError)):
            make(tud)
        with pytest.raises(gk.GradkitError):
            make(gk.data)


def test_a_tensor_of_indices_is_a_sampler_for_a_tensor_dataset_too(device):
    """Iterating a tensor gives 0-d tensors: the TensorDataset fast path takes them as a plain dataset does."""
    x = gk.tensor(np.arange(12.0).reshape(6, 2), device=device)
    y = gk.tensor(np.arange(6), device=device)
    order = [4, 1, 5, 0, 2, 3]
    fast = gk.data.DataLoader(gk.data.TensorDataset(x, y), 4, sampler=gk.tensor(order))
    plain = gk.data.DataLoader(gk.data.TensorDataset(x, y), 4, sampler=order)
    for (xa, ya), (xb, yb) in zip(fast, plain, strict=True):
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())


def test_the_default_shuffled_loaders_sampler_and_the_loader_count_one_epoch():
    """loader.sampler.set_epoch(e) (PyTorch's resume idiom) and loader.set_epoch(e) both give epoch e's order."""
    ds = gk.data.TensorDataset(gk.tensor(np.arange(10)))
    first = gk.data.DataLoader(ds, 10, shuffle=True, seed=7)
    first.sampler.set_epoch(3)
    via_sampler = next(iter(first))[0].numpy()
    second = gk.data.DataLoader(ds, 10, shuffle=True, seed=7)
    second.set_epoch(3)
    via_loader = next(iter(second))[0].numpy()
    np.testing.assert_array_equal(via_sampler, first.order(3))
    np.testing.assert_array_equal(via_loader, first.order(3))
    assert first.epoch == first.sampler.epoch == second.epoch == second.sampler.epoch == 4

"""``gk.Generator`` (PyTorch's ``torch.Generator`` on the CPU) and the ``generator=`` keyword of the random draws.

Each draw given ``generator=`` must come from that generator (the same numbers for the same seed, and the numbers
gradkit's CPU generator gives after ``gk.manual_seed`` with that seed), leave gradkit's own generators alone, and
refuse a CUDA tensor (as PyTorch does). The generator's own methods follow torch's where torch imports.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import gradkit as gk
from gradkit.backends import NUMPY
from gradkit.errors import ArgumentTypeError, DeviceError, InvalidArgumentError, ShapeError

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


@pytest.fixture(autouse=True)
def _on_cpu():
    """The draws below are CPU draws on any backend (GRADKIT_BACKEND=cupy makes the GPU the default)."""
    with gk.device("cpu"):
        yield


def _global_state() -> dict:
    return NUMPY.rng.bit_generator.state


def _same_and_untouched(draw, seed: int = 7) -> np.ndarray:
    """``draw(generator)`` twice from fresh generators seeded alike: equal, equal to ``draw(None)`` after
    ``gk.manual_seed(seed)``, and gradkit's CPU generator left as it was. Returns the values."""
    gk.manual_seed(123)
    before = _global_state()
    a = draw(gk.Generator().manual_seed(seed))
    b = draw(gk.Generator().manual_seed(seed))
    assert _global_state() == before, "generator= drew from gradkit's generator"
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_array_equal(a, b)
    gk.manual_seed(seed)
    np.testing.assert_array_equal(a, np.asarray(draw(None)))
    return a


def _values(x):
    return x.numpy() if isinstance(x, gk.Tensor) else x


# ------------------------------------------------------------------------------------------- the object
def test_generator_is_a_numpy_generator_with_torchs_methods():
    g = gk.Generator()
    assert isinstance(g, np.random.Generator)
    assert g.device == gk.device("cpu") and g.device.type == "cpu"
    assert g.initial_seed() == 67280421310721  # torch.Generator()'s default seed: repeatable without manual_seed
    assert g.manual_seed(42) is g and g.initial_seed() == 42
    np.testing.assert_array_equal(g.random(3), np.random.default_rng(42).random(3))
    assert gk.Generator(device="cpu").initial_seed() == gk.Generator(gk.device("cpu")).initial_seed()
    assert "initial_seed=42" in repr(g) and str(g) == repr(g)
    assert gk.Generator().manual_seed(-1).initial_seed() == 2**64 - 1  # torch's wrap of negative seeds
    assert gk.Generator().manual_seed(np.int64(5)).initial_seed() == 5


def test_manual_seed_refuses_what_is_not_an_int_seed():
    g = gk.Generator()
    for bad in (1.5, "1", True, None):
        with pytest.raises(ArgumentTypeError, match="manual_seed: expected an int seed"):
            g.manual_seed(bad)
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(InvalidArgumentError, match="manual_seed: expected an int from"):
            g.manual_seed(bad)
    assert g.initial_seed() == 67280421310721


def test_seed_is_fresh_and_reported():
    g = gk.Generator()
    s = g.seed()
    assert isinstance(s, int) and 0 <= s < 2**64 and g.initial_seed() == s
    np.testing.assert_array_equal(g.random(4), gk.Generator().manual_seed(s).random(4))
    assert gk.Generator().seed() != s


def test_get_state_set_state_round_trip():
    g = gk.Generator().manual_seed(3)
    g.random(5)
    state = g.get_state()
    assert isinstance(state, gk.Tensor) and state.dtype == gk.uint8 and state.shape == (56,)
    assert state.device == gk.device("cpu")
    ahead = g.random(4)
    h = gk.Generator()
    assert h.set_state(state) is h and h.initial_seed() == 3  # torch's set_state brings the seed back too
    np.testing.assert_array_equal(h.random(4), ahead)
    g.set_state(state.numpy())  # a NumPy array too
    np.testing.assert_array_equal(g.random(4), ahead)
    # gk.get_rng_state()'s CPU words (six int64) set the stream and keep the initial seed
    gk.manual_seed(11)
    k = gk.Generator().manual_seed(5).set_state(gk.get_rng_state()["cpu"]) if gk.default_device() == "cpu" else None
    if k is not None:
        assert k.initial_seed() == 5
        np.testing.assert_array_equal(gk.rand(3, generator=k).numpy(), gk.rand(3).numpy())


def test_set_state_refuses_bad_states():
    g = gk.Generator().manual_seed(1)
    with pytest.raises(ArgumentTypeError, match="Generator.set_state: expected the uint8 tensor"):
        g.set_state([0] * 56)
    with pytest.raises(ShapeError, match="56 uint8 bytes"):
        g.set_state(gk.zeros(3, dtype=gk.uint8))
    with pytest.raises(ShapeError, match="56 uint8 bytes"):
        g.set_state(np.zeros(56, np.float32))
    with pytest.raises(InvalidArgumentError, match="not a PCG64 state"):
        g.set_state(np.zeros(56, np.uint8))  # an even increment
    assert g.initial_seed() == 1
    np.testing.assert_array_equal(g.random(2), np.random.default_rng(1).random(2))


def test_clone_state_pickle_and_deepcopy_keep_the_class_and_stream():
    g = gk.Generator().manual_seed(9)
    g.random(3)
    for other in (g.clone_state(), pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert type(other) is gk.Generator and other is not g and other.initial_seed() == 9
        np.testing.assert_array_equal(other.random(5), g.clone_state().random(5))
    c = g.clone_state()
    c.random(10)
    assert c.get_state().tolist() != g.get_state().tolist()  # independent streams


def test_cuda_generator_is_refused_with_a_pointer_to_gk_cuda_manual_seed():
    with pytest.raises(DeviceError, match=r"only device='cpu'.*gk\.cuda\.manual_seed"):
        gk.Generator(device="cuda")
    with pytest.raises(DeviceError, match="only device='cpu'"):
        gk.Generator("cuda:1")


@needs_torch
def test_matches_torch_generator_semantics():
    t, g = torch.Generator(), gk.Generator()
    assert t.initial_seed() == g.initial_seed()
    assert t.manual_seed(-5).initial_seed() == g.manual_seed(-5).initial_seed()
    assert isinstance(t.manual_seed(1), torch.Generator) and isinstance(g.manual_seed(1), gk.Generator)
    ts, gs = t.get_state(), g.get_state()
    assert ts.dtype == torch.uint8 and gs.dtype == gk.uint8 and ts.ndim == gs.ndim == 1
    assert t.set_state(ts) is t and g.set_state(gs) is g
    # the pattern of ported programs: same seed, same split, whatever the dataset's order
    ds = gk.data.TensorDataset(gk.arange(10))
    a = gk.data.random_split(ds, [0.8, 0.2], generator=gk.Generator().manual_seed(42))
    b = gk.data.random_split(ds, [0.8, 0.2], generator=gk.Generator().manual_seed(42))
    assert [len(s) for s in a] == [8, 2] and a[0].indices == b[0].indices


# ------------------------------------------------------------------------------------- creation draws
@pytest.mark.parametrize("dtype", [gk.float32, gk.float64, gk.float16])
def test_rand_randn(dtype):
    u = _same_and_untouched(lambda g: gk.rand(2, 3, generator=g, dtype=dtype))
    assert u.shape == (2, 3) and u.dtype == dtype and ((u >= 0) & (u < 1)).all()
    z = _same_and_untouched(lambda g: gk.randn((4,), generator=g, dtype=dtype))
    assert z.shape == (4,)


def test_like_draws():
    x = gk.zeros(3, 2, dtype=gk.float64)
    _same_and_untouched(lambda g: gk.rand_like(x, generator=g))
    _same_and_untouched(lambda g: gk.randn_like(x, generator=g))
    r = _same_and_untouched(lambda g: gk.randint_like(x, 10, generator=g))
    assert r.dtype == np.float64 and ((r >= 0) & (r < 10)).all()


def test_randint_randperm_multinomial():
    r = _same_and_untouched(lambda g: gk.randint(3, 9, (50,), generator=g))
    assert r.dtype == np.int64 and r.min() >= 3 and r.max() < 9
    _same_and_untouched(lambda g: gk.randint(5, (2, 2), generator=g))  # torch's randint(high, size)
    p = _same_and_untouched(lambda g: gk.randperm(20, generator=g))
    assert sorted(p.tolist()) == list(range(20))
    w = gk.tensor([[0.1, 0.2, 0.7, 0.0], [1.0, 1.0, 1.0, 1.0]])
    _same_and_untouched(lambda g: gk.multinomial(w, 3, generator=g))
    _same_and_untouched(lambda g: gk.multinomial(w, 6, replacement=True, generator=g))


def test_normal_bernoulli_poisson_binomial():
    _same_and_untouched(lambda g: gk.normal(1.0, 2.0, (5,), generator=g))
    mean = gk.zeros(4, requires_grad=True)
    out = _same_and_untouched(lambda g: gk.normal(mean, 0.5, generator=g).detach())
    assert out.shape == (4,)
    _same_and_untouched(lambda g: gk.normal(0.0, gk.ones(3, dtype=gk.float64), generator=g))
    probs = gk.tensor([0.0, 0.3, 0.5, 1.0, 0.9])
    b = _same_and_untouched(lambda g: gk.bernoulli(probs, generator=g))
    assert b.dtype == np.float32 and b[0] == 0 and b[3] == 1
    _same_and_untouched(lambda g: gk.bernoulli(gk.zeros(6), 0.5, generator=g))
    with pytest.raises(InvalidArgumentError, match="bernoulli: the probabilities"):
        gk.bernoulli(gk.tensor([1.5]), generator=gk.Generator())
    with pytest.raises(gk.errors.DTypeError, match="bernoulli"):
        gk.bernoulli(gk.tensor([1]), generator=gk.Generator())
    _same_and_untouched(lambda g: gk.poisson(gk.tensor([1.0, 4.0, 0.0]), generator=g))
    _same_and_untouched(lambda g: gk.binomial(gk.tensor([10.0, 3.0]), gk.tensor([0.5, 0.2]), generator=g))


def test_other_generator_values_are_refused():
    for call in (lambda: gk.rand(2, generator=42), lambda: gk.randperm(3, generator="g"),
                 lambda: gk.normal(0.0, 1.0, (2,), generator=np.random.RandomState(0)),
                 lambda: gk.zeros(2).exponential_(generator=1), lambda: gk.nn.init.normal_(gk.zeros(2), generator=1)):
        with pytest.raises(ArgumentTypeError, match="generator must be None or a gk.Generator"):
            call()
    # a plain numpy.random.Generator is taken too (gradkit's data package always took one)
    assert gk.rand(2, generator=np.random.default_rng(0)).shape == (2,)


# --------------------------------------------------------------------------------------- in-place fills
@pytest.mark.parametrize("fill", [
    lambda t, g: t.bernoulli_(0.3, generator=g),
    lambda t, g: t.bernoulli_(gk.full((5, 4), 0.7, dtype=gk.float64), generator=g),
    lambda t, g: t.cauchy_(1.0, 2.0, generator=g),
    lambda t, g: t.exponential_(3.0, generator=g),
    lambda t, g: t.geometric_(0.2, generator=g),
    lambda t, g: t.log_normal_(0.0, 0.5, generator=g),
    lambda t, g: t.random_(generator=g),
    lambda t, g: t.random_(10, generator=g),
    lambda t, g: t.random_(-3, 4, generator=g),
], ids=["bernoulli_", "bernoulli_tensor", "cauchy_", "exponential_", "geometric_", "log_normal_", "random_",
        "random_to", "random_from_to"])
def test_tensor_random_fills(fill):
    def draw(g):
        t = gk.zeros(5, 4, dtype=gk.float64)
        assert fill(t, g) is t
        return t.numpy()

    _same_and_untouched(draw)


# ------------------------------------------------------------------------------------------------ nn.init
@pytest.mark.parametrize("name, args", [
    ("uniform_", (-1.0, 2.0)), ("normal_", (0.5, 2.0)), ("trunc_normal_", (0.0, 1.0, -1.0, 1.0)),
    ("xavier_uniform_", (1.0,)), ("xavier_normal_", (1.0,)), ("kaiming_uniform_", ()), ("kaiming_normal_", ()),
    ("orthogonal_", (1.0,)), ("sparse_", (0.3, 0.5)),
])
def test_nn_init_generator(name, args):
    fn = getattr(gk.nn.init, name)

    def draw(g):
        t = gk.empty(6, 4, dtype=gk.float32)
        assert (fn(t, *args) if g is None else fn(t, *args, generator=g)) is t
        return t.numpy()

    _same_and_untouched(draw)


@needs_torch
def test_nn_init_takes_generator_where_torch_does():
    import inspect

    for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                 "kaiming_normal_", "orthogonal_", "sparse_"):
        assert "generator" in inspect.signature(getattr(torch.nn.init, name)).parameters, name
        assert "generator" in inspect.signature(getattr(gk.nn.init, name)).parameters, name
    assert gk.nn.init.uniform_(gk.empty(3), 0.0, 1.0, gk.Generator()) is not None  # torch's positional place


# ------------------------------------------------------------------------------------------------- data
def test_random_split_and_samplers():
    ds = gk.data.TensorDataset(gk.arange(20))

    def split(g):
        return [s.indices for s in gk.data.random_split(ds, [0.5, 0.3, 0.2], generator=g)] if g is not None else None

    gk.manual_seed(1)
    before = _global_state()
    a = split(gk.Generator().manual_seed(4))
    assert a == split(gk.Generator().manual_seed(4)) and a != split(gk.Generator().manual_seed(5))
    assert sorted(sum(a, [])) == list(range(20))
    samplers = (
        lambda g: gk.data.RandomSampler(ds, generator=g),
        lambda g: gk.data.RandomSampler(ds, replacement=True, num_samples=7, generator=g),
        lambda g: gk.data.SubsetRandomSampler([3, 5, 7, 11], generator=g),
        lambda g: gk.data.WeightedRandomSampler([0.1, 0.5, 0.4], 8, generator=g),
    )
    for make in samplers:
        s1, s2 = make(gk.Generator().manual_seed(8)), make(gk.Generator().manual_seed(8))
        assert list(s1) == list(s2) and list(s1) == list(s2)  # two epochs alike
    assert _global_state() == before


def test_dataloader_generator_orders_and_workers_leave_the_global_generator_alone():
    ds = gk.data.TensorDataset(gk.arange(12))

    def epochs(g, **kw):
        loader = gk.data.DataLoader(ds, batch_size=4, shuffle=True, generator=g, **kw)
        return [[b[0].tolist() for b in loader] for _ in range(2)]

    gk.manual_seed(2)
    before = _global_state()
    a = epochs(gk.Generator().manual_seed(42))
    assert a == epochs(gk.Generator().manual_seed(42)) and a[0] != a[1]
    # with workers: the same orders (the workers' base seed is a hash of the generator's state, not a draw)
    assert epochs(gk.Generator().manual_seed(42), num_workers=2) == a
    seen = []

    def init(worker_id):
        seen.append(gk.data.get_worker_info().seed)

    loaders = [gk.data.DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, worker_init_fn=init,
                                  generator=gk.Generator().manual_seed(s)) for s in (1, 1, 2)]
    seeds = []
    for loader in loaders:
        seen.clear()
        list(loader)
        seeds.append(sorted(seen))
    assert seeds[0] == seeds[1] != seeds[2]
    assert _global_state() == before


# ------------------------------------------------------------------------------- a CPU generator on a GPU
@pytest.mark.parametrize("device", [pytest.param("cuda", marks=pytest.mark.cuda)])
def test_cuda_tensor_with_cpu_generator_raises(device):
    g = gk.Generator().manual_seed(0)
    x = gk.zeros(3, device=device)
    calls = [
        lambda: gk.rand(3, device=device, generator=g),
        lambda: gk.randn(3, device=device, generator=g),
        lambda: gk.randint(0, 5, (3,), device=device, generator=g),
        lambda: gk.randperm(4, device=device, generator=g),
        lambda: gk.rand_like(x, generator=g),
        lambda: gk.multinomial(gk.ones(3, device=device), 2, generator=g),
        lambda: gk.normal(x, 1.0, generator=g),
        lambda: gk.bernoulli(x, generator=g),
        lambda: gk.poisson(x, generator=g),
        lambda: x.exponential_(generator=g),
        lambda: x.random_(5, generator=g),
        lambda: x.bernoulli_(0.5, generator=g),
        lambda: gk.nn.init.normal_(x, generator=g),
        lambda: gk.nn.init.kaiming_uniform_(gk.zeros(3, 3, device=device), generator=g),
        lambda: gk.nn.init.sparse_(gk.zeros(3, 3, device=device), 0.5, generator=g),
    ]
    state = g.get_state().tolist()
    for call in calls:
        with pytest.raises(DeviceError, match=r"CPU generator.*gk\.cuda\.manual_seed"):
            call()
    assert g.get_state().tolist() == state
    # a plain numpy Generator still fills a GPU tensor in sparse_ (drawn on the host, as before)
    assert gk.nn.init.sparse_(gk.zeros(4, 2, device=device), 0.5, generator=np.random.default_rng(0)).shape == (4, 2)


# ----------------------------------------------------------------------------------- the port's line
def test_the_ported_line():
    ds = gk.data.TensorDataset(gk.arange(10))
    g = gk.Generator().manual_seed(42)
    train, val = gk.data.random_split(ds, [0.8, 0.2], generator=g)
    assert len(train) == 8 and len(val) == 2
    loader = gk.data.DataLoader(train, batch_size=4, shuffle=True, generator=gk.Generator().manual_seed(0))
    assert sorted(sum((b[0].tolist() for b in loader), [])) == sorted(ds[i][0].item() for i in train.indices)


def test_the_tensor_methods_take_generator_too() -> None:
    """``t.uniform_/normal_(generator=)``, ``p.bernoulli(generator=)``, ``w.multinomial(n, generator=)``: the
    numbers the functions draw from a generator of the same seed, gradkit's global generator untouched."""
    gk.manual_seed(3)
    before = gk.rand(4).numpy()
    gk.manual_seed(3)
    a = gk.zeros(5).uniform_(-1.0, 2.0, generator=gk.Generator().manual_seed(7))
    b = gk.nn.init.uniform_(gk.zeros(5), -1.0, 2.0, generator=gk.Generator().manual_seed(7))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    a = gk.zeros(5).normal_(1.0, 0.5, generator=gk.Generator().manual_seed(8))
    b = gk.nn.init.normal_(gk.zeros(5), 1.0, 0.5, generator=gk.Generator().manual_seed(8))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    p = gk.full((50,), 0.5)
    np.testing.assert_array_equal(p.bernoulli(generator=gk.Generator().manual_seed(9)).numpy(),
                                  gk.bernoulli(p, generator=gk.Generator().manual_seed(9)).numpy())
    w = gk.tensor([0.1, 0.2, 0.7])
    np.testing.assert_array_equal(w.multinomial(2, generator=gk.Generator().manual_seed(4)).numpy(),
                                  gk.multinomial(w, 2, generator=gk.Generator().manual_seed(4)).numpy())
    np.testing.assert_array_equal(gk.rand(4).numpy(), before)  # the global generator was not drawn from

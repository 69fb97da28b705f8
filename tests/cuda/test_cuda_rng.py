"""gk.cuda.CounterRNG: a counter-based generator, the same bits on NumPy and (with a GPU) on CuPy."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.cuda import rng as R


def test_hash_is_splitmix64():
    # SplitMix64 seeded with 0 (Steele, Lea, Flood 2014): its first outputs
    assert [R.mix64_int(0, c) for c in range(3)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**63 + 17, 2**64 - 1])
@pytest.mark.parametrize("stream", [0, 1])
def test_vectorised_hash_matches_python_integers(seed, stream):
    counters = np.array([0, 1, 2, 1000, 2**32 - 1, 2**32, 2**62 + 3, 2**64 - 2], dtype=np.uint64)
    got = R.mix64(seed, counters, stream)
    assert got.dtype == np.uint64
    assert [int(v) for v in got] == [R.mix64_int(seed, int(c), stream) for c in counters]


def test_uniform_float32_and_float64():
    g = R.CounterRNG(7)
    a = g.random((1000,), np.float32)
    b = g.random((1000,), np.float64)
    assert a.dtype == np.float32 and b.dtype == np.float64
    for x in (a, b):
        assert x.min() >= 0 and x.max() < 1
    assert g.offset == 2000


def test_draws_depend_only_on_seed_and_counter():
    """Ten then twenty numbers are the first thirty; the same seed repeats, another does not."""
    g1, g2, g3 = R.CounterRNG(3), R.CounterRNG(3), R.CounterRNG(4)
    first = np.concatenate([g1.random((10,), np.float32), g1.random((20,), np.float32)])
    np.testing.assert_array_equal(first, g2.random((30,), np.float32))
    assert not np.array_equal(first, g3.random((30,), np.float32))
    assert g1.seed == 3 and g1.offset == 30


def test_uniformity_and_moments():
    x = R.CounterRNG(11).random((200_000,), np.float64)
    assert abs(x.mean() - 0.5) < 0.005 and abs(x.var() - 1 / 12) < 0.002
    counts, _ = np.histogram(x, bins=20, range=(0, 1))
    expected = len(x) / 20
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 60  # 19 degrees of freedom: p < 1e-5 above ~50
    # neighbours are uncorrelated
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01


def test_standard_normal():
    z = R.CounterRNG(5).standard_normal((200_000,), np.float32)
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs((np.abs(z) < 1).mean() - 0.6827) < 0.005


def test_integers_and_permutation():
    g = R.CounterRNG(9)
    k = g.integers(3, 13, size=(50_000,), dtype=np.int32)
    assert k.dtype == np.int32 and k.min() == 3 and k.max() == 12
    counts = np.bincount(k - 3, minlength=10)
    assert counts.min() > 4500
    assert g.integers(5, size=4).max() < 5
    p = g.permutation(100)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(100))


def test_backend_interface_and_errors():
    g = R.CounterRNG(1)
    assert g.random((2, 3), np.float32).shape == (2, 3)
    assert g.random(None).shape == ()
    assert g.standard_normal(4, np.float16).dtype == np.float16
    with pytest.raises(gk.InvalidArgumentError):
        g.random(3, np.int32)
    with pytest.raises(gk.InvalidArgumentError):
        g.integers(5, 5)
    with pytest.raises(gk.ArgumentTypeError):
        R.CounterRNG(1.5)
    assert repr(g) == "<CounterRNG device='cpu'>"


def test_can_stand_in_for_a_backends_generator():
    """What a capture does on the GPU: the backend's draws (gk.rand, dropout) come from the CounterRNG."""
    from gradkit.backends import NUMPY

    old = NUMPY.rng
    NUMPY.rng = R.CounterRNG(21)
    try:
        a = gk.rand(5, device="cpu")
        b = gk.randn(5, device="cpu", dtype=gk.float64)
        c = gk.randint(0, 10, (5,), device="cpu")
    finally:
        NUMPY.rng = old
    ref = R.CounterRNG(21)
    np.testing.assert_array_equal(a.numpy(), ref.random(5, np.float32))
    np.testing.assert_array_equal(b.numpy(), ref.standard_normal(5, np.float64))
    assert c.numpy().min() >= 0 and c.numpy().max() < 10


# ------------------------------------------------------------------ on a GPU
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_draws_equal_the_numpy_draws(dtype):
    import cupy as cp

    gpu, cpu = R.CounterRNG(123, device="cuda"), R.CounterRNG(123)
    for shape in [(1000,), (7, 33), ()]:
        np.testing.assert_array_equal(cp.asnumpy(gpu.random(shape, dtype)), cpu.random(shape, dtype))
        np.testing.assert_allclose(
            cp.asnumpy(gpu.standard_normal(shape, dtype)), cpu.standard_normal(shape, dtype), rtol=1e-6, atol=1e-6
        )
        np.testing.assert_array_equal(cp.asnumpy(gpu.integers(-5, 50, shape)), cpu.integers(-5, 50, shape))
    assert gpu.offset == cpu.offset


@pytest.mark.cuda
def test_gpu_offset_advances_on_the_device():
    g = R.CounterRNG(1, device="cuda")
    a = g.random((64,), np.float32)
    b = g.random((64,), np.float32)
    assert g.offset == 128
    assert not bool((a == b).all())


def test_counter_rng_sizes_take_arrays_as_numpy_does():
    rng = gk.cuda.CounterRNG(1)
    assert rng.random(np.array(3)).shape == (3,)
    assert rng.random(np.array([2, 3])).shape == (2, 3)
    assert rng.random((np.array(2), np.int64(3))).shape == (2, 3)

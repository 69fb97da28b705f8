"""The NumPy backend's scatter_add: NumPy's ``np.add.at`` results, bit for bit, by the flat-index route."""

import numpy as np
import pytest

import gradkit.backends.numpy_backend as numpy_backend
from gradkit.backends.numpy_backend import NumpyBackend


def _random_index(rng, shape):
    """Full slices, then integer arrays (negative ones too) that broadcast, then full slices."""
    a = int(rng.integers(0, len(shape)))
    k = int(rng.integers(1, len(shape) - a + 1))
    bshape = tuple(int(v) for v in rng.integers(1, 5, rng.integers(0, 3)))
    arrays = tuple(
        rng.integers(-shape[d], shape[d], bshape if rng.random() < 0.7 else bshape[-1:]) for d in range(a, a + k)
    )
    trail = int(rng.integers(0, len(shape) - a - k + 1))
    return (slice(None),) * a + arrays + (slice(None),) * trail


@pytest.mark.parametrize("threshold", [0, numpy_backend._FLAT_SCATTER_MIN])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.complex128])
def test_scatter_add_matches_add_at_bit_for_bit(monkeypatch, threshold, dtype):
    monkeypatch.setattr(numpy_backend, "_FLAT_SCATTER_MIN", threshold)
    rng = np.random.default_rng(7)
    backend = NumpyBackend()
    for _ in range(400):
        shape = tuple(int(v) for v in rng.integers(1, 6, rng.integers(1, 5)))
        index = _random_index(rng, shape)
        result_shape = np.zeros(shape)[index].shape
        full = rng.random() < 0.8
        values = (rng.standard_normal(result_shape if full else result_shape[-1:]) * 100).astype(dtype)
        expected = np.zeros(shape, dtype)
        np.add.at(expected, index, np.broadcast_to(values, result_shape).copy())
        got = np.zeros(shape, dtype)
        backend.scatter_add(got, index if len(index) > 1 or rng.random() < 0.5 else index[0], values)
        np.testing.assert_array_equal(got, expected)


def test_broadcast_values_into_a_1d_target_are_summed_right():
    # np.add.at itself gets this wrong on NumPy 1.26 to 2.4 (it reads past the values).
    got = np.zeros(3)
    NumpyBackend().scatter_add(got, (np.array([[0, 0, 2], [1, 2, 2], [1, 2, 1]]),), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(got, [3.0, 5.0, 10.0])


@pytest.mark.parametrize("bad", [[3] * 300, [-4] * 300, [3]])
def test_an_index_out_of_range_still_raises_numpys_error(bad):
    with pytest.raises(IndexError, match="out of bounds"):
        NumpyBackend().scatter_add(np.zeros((3, 4)), (np.array(bad),), np.ones((len(bad), 4)))


def test_other_indices_go_to_add_at_as_given():
    got = np.zeros((4, 3))
    NumpyBackend().scatter_add(got, (np.array([True, False, True, True]), slice(0, 2)), np.ones((3, 2)))
    np.testing.assert_array_equal(got, [[1, 1, 0], [0, 0, 0], [1, 1, 0], [1, 1, 0]])

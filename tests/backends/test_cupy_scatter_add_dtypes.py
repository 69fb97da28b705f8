"""Backend.scatter_add for every integer and bool dtype: CuPy's ``add.at`` takes only int32/int64/uint32/uint64
and float dtypes, so the CuPy backend adds the others in int64 and wraps as NumPy's ``add.at`` does."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

DTYPES = ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_add_matches_numpy_add_at(device, dtype):
    rng = np.random.default_rng(0)
    index = np.array([0, 2, 2, 2, 4, 0])
    if dtype == "bool":
        start, values = rng.random(5) < 0.3, rng.random(6) < 0.5
    else:
        info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
        high = 100 if info is None else int(info.max)  # big values: the integer sums wrap around
        start = rng.integers(0, high, 5).astype(dtype)
        values = rng.integers(0, high, 6).astype(dtype)
    expected = start.copy()
    np.add.at(expected, index, values)

    x, src = gk.tensor(start, device=device), gk.tensor(values, device=device)
    out = gk.scatter_add(x, 0, gk.tensor(index, device=device), src)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_scatter_add_in_place_on_a_view(device):
    backend = gk.tensor([0], device=device)._backend
    xp = backend.xp
    base = xp.zeros((2, 4), dtype=np.int8)
    backend.scatter_add(base[1], (xp.asarray(np.array([1, 1, 3])),), xp.asarray(np.array([100, 100, 7], np.int8)))
    got = backend.to_numpy(base)
    np.testing.assert_array_equal(got, np.array([[0, 0, 0, 0], [0, -56, 0, 7]], dtype=np.int8))

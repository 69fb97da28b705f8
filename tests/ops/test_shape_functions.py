"""NumPy's tile, repeat, roll, diag, diagonal, diff, cumprod, moveaxis, meshgrid, nonzero, argwhere,
atleast_1d/2d/3d and PyTorch's chunk, unbind, index_select, masked_fill, repeat_interleave.

The op-spec table (op_specs.py) gradchecks every differentiable one (first and second order, both
devices). This file holds the rest: exact values against NumPy for every dtype, the errors, cumprod's
gradient at zeros (gradchecked, and against the product of the other elements), closed-form
gradients, the Tensor methods (``repeat`` is NumPy's, ``tile`` PyTorch's ``repeat``), what is read
on the host, and (when torch is installed) parity with PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
from op_specs import build_specs

import gradkit as gk

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
DIFFERENTIABLE = """tile repeat repeat_interleave roll diag diagonal diff cumprod moveaxis meshgrid chunk unbind
index_select masked_fill atleast_1d atleast_2d atleast_3d""".split()


def _array(dtype, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    kind = np.dtype(dtype).kind
    if kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if kind == "b":
        return rng.uniform(size=shape) < 0.5
    if kind == "u":
        return rng.integers(0, 5, shape).astype(dtype)
    return rng.integers(-3, 4, shape).astype(dtype)


def _same(out, expected, what=""):
    expected = np.asarray(expected)
    assert isinstance(out, gk.Tensor), what
    assert out.shape == expected.shape, f"{what}: shape {out.shape}, NumPy gives {expected.shape}"
    assert out.dtype == expected.dtype, f"{what}: dtype {out.dtype}, NumPy gives {expected.dtype}"
    if expected.dtype.kind == "f":
        rtol = {2: 2e-3, 4: 1e-6, 8: 1e-14}[expected.dtype.itemsize]
        np.testing.assert_allclose(out.numpy(), expected, rtol=rtol, atol=0, err_msg=what)
    else:
        np.testing.assert_array_equal(out.numpy(), expected, err_msg=what)


def _t(values, device, requires_grad=True):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def _grad(f, *xs):
    for x in xs:
        x.grad = None
    f(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


# --------------------------------------------------------------------------- values, every dtype
CASES = {
    "tile": (lambda x: gk.tile(x, (2, 1, 2)), lambda a: np.tile(a, (2, 1, 2))),
    "tile_int": (lambda x: gk.tile(x, 2), lambda a: np.tile(a, 2)),
    "tile_zero": (lambda x: gk.tile(x, (0, 1)), lambda a: np.tile(a, (0, 1))),
    "repeat": (lambda x: gk.repeat(x, 2), lambda a: np.repeat(a, 2)),
    "repeat_axis": (lambda x: gk.repeat(x, 3, axis=-2), lambda a: np.repeat(a, 3, axis=-2)),
    "repeat_counts": (lambda x: gk.repeat(x, [1, 0, 3, 2], axis=1), lambda a: np.repeat(a, [1, 0, 3, 2], axis=1)),
    "repeat_zero": (lambda x: gk.repeat(x, 0, axis=0), lambda a: np.repeat(a, 0, axis=0)),
    "repeat_interleave": (lambda x: gk.repeat_interleave(x, 2, dim=1), lambda a: np.repeat(a, 2, axis=1)),
    "roll": (lambda x: gk.roll(x, 5), lambda a: np.roll(a, 5)),
    "roll_axes": (lambda x: gk.roll(x, (1, -1), (0, 1)), lambda a: np.roll(a, (1, -1), (0, 1))),
    "diag_matrix": (lambda x: gk.diag(x, 1), lambda a: np.diag(a, 1)),
    "diag_vector": (lambda x: gk.diag(x[0], -2), lambda a: np.diag(a[0], -2)),
    "diagonal": (lambda x: gk.diagonal(x, -1), lambda a: np.diagonal(a, -1)),
    "diagonal_3d": (lambda x: gk.diagonal(gk.reshape(x, (2, 3, 2)), 0, 2, 0),
                    lambda a: np.diagonal(a.reshape(2, 3, 2), 0, 2, 0)),
    "diff": (lambda x: gk.diff(x), lambda a: np.diff(a)),
    "diff_2_axis0": (lambda x: gk.diff(x, 2, axis=0), lambda a: np.diff(a, 2, axis=0)),
    "diff_long": (lambda x: gk.diff(x, 7), lambda a: np.diff(a, 7)),
    "cumprod": (lambda x: gk.cumprod(x), lambda a: np.cumprod(a)),
    "cumprod_axis": (lambda x: gk.cumprod(x, 1), lambda a: np.cumprod(a, 1)),
    "cumsum_cumprod_0d": (lambda x: gk.cumprod(x[0, 0], -1), lambda a: np.cumprod(a[0, 0], -1)),
    "moveaxis": (lambda x: gk.moveaxis(x, 0, -1), lambda a: np.moveaxis(a, 0, -1)),
    "atleast_3d": (lambda x: gk.atleast_3d(x), lambda a: np.atleast_3d(a)),
    "atleast_2d_0d": (lambda x: gk.atleast_2d(x[1, 1]), lambda a: np.atleast_2d(a[1, 1])),
    "atleast_1d_0d": (lambda x: gk.atleast_1d(x[1, 1]), lambda a: np.atleast_1d(a[1, 1])),
    "argwhere": (lambda x: gk.argwhere(x), lambda a: np.argwhere(a)),
    "argwhere_0d": (lambda x: gk.argwhere(x[0, 0]), lambda a: np.argwhere(a[0, 0])),
    "index_select": (lambda x: gk.index_select(x, 1, [3, 0, 0]), lambda a: a[:, [3, 0, 0]]),
    "masked_fill": (lambda x: gk.masked_fill(x, np.eye(3, 4, dtype=bool), 1), lambda a: np.where(np.eye(3, 4) > 0,
                                                                                              a.dtype.type(1), a)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_values_match_numpy_for_every_dtype(case, dtype, device):
    f, ref = CASES[case]
    a = _array(dtype)
    x = gk.tensor(a, device=device)
    with np.errstate(over="ignore"):  # int8 products wrap around, in NumPy too
        expected = ref(a)
        out = f(x)
    assert out.device.split(":")[0] == device
    _same(out, expected, f"{case} {dtype}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_several_results_match_numpy_for_every_dtype(dtype, device):
    a = _array(dtype, (5, 4))
    x = gk.tensor(a, device=device)
    for out, expected in zip(gk.nonzero(x), np.nonzero(a), strict=True):
        _same(out, expected.astype(np.int64), "nonzero")
    for out, expected in zip(gk.meshgrid(x[0], x[1, :3]), np.meshgrid(a[0], a[1, :3]), strict=True):
        _same(out, expected, "meshgrid")
    for out, expected in zip(gk.meshgrid(x[0], x[1, :3], indexing="ij", sparse=True),
                             np.meshgrid(a[0], a[1, :3], indexing="ij", sparse=True), strict=True):
        _same(out, expected, "meshgrid sparse")
    chunks = gk.chunk(x, 2)
    assert isinstance(chunks, tuple) and len(chunks) == 2
    _same(chunks[0], a[:3], "chunk")
    _same(chunks[1], a[3:], "chunk")
    pieces = gk.unbind(x, 1)
    assert isinstance(pieces, tuple) and len(pieces) == 4
    for i, piece in enumerate(pieces):
        _same(piece, a[:, i], "unbind")
    both = gk.atleast_2d(x[0, 0], x)
    assert isinstance(both, tuple)
    _same(both[0], np.atleast_2d(a[0, 0]), "atleast_2d")
    assert both[1] is x


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "uint8"])
def test_integer_and_bool_results_carry_no_gradient(dtype, device):
    x = gk.tensor(_array(dtype), device=device)
    v = gk.tensor(2.0, device=device, requires_grad=True)
    outs = [gk.tile(x, 2), gk.repeat(x, 2), gk.roll(x, 1), gk.diag(x), gk.diff(x), gk.cumprod(x, 0),
            gk.moveaxis(x, 0, 1), gk.index_select(x, 0, [1]), gk.masked_fill(x, x == x[0, 0], v), *gk.chunk(x, 2),
            *gk.unbind(x), *gk.meshgrid(x[0], x[1])]
    for out in outs:
        assert not out.requires_grad and out.grad_fn is None
    assert gk.masked_fill(x, x == x[0, 0], v).dtype == x.dtype


def test_cumprod_dtypes_follow_numpy(device):
    for dtype in DTYPES:
        a = _array(dtype)
        assert gk.cumprod(gk.tensor(a, device=device)).dtype == np.cumprod(a).dtype, dtype


# --------------------------------------------------------------------------- cumprod at zeros
ZERO_CASES = {
    "one_zero": [1.5, -0.7, 0.0, 2.0, 1.3],
    "two_zeros": [1.5, 0.0, -0.7, 0.0, 2.0],
    "zero_at_start": [0.0, 1.5, -0.7, 2.0, 1.3],
    "zero_at_end": [1.5, -0.7, 2.0, 1.3, 0.0],
    "adjacent_zeros": [1.5, 0.0, 0.0, 2.0, 1.3],
    "all_zeros": [0.0, 0.0, 0.0],
    "only_element_zero": [0.0],
    "no_zero": [1.5, -0.7, 2.0, 1.3],
}


def _product_of_others(a, g):
    """dx_j = sum_{i >= j} g_i prod_{k <= i, k != j} a_k, by brute force."""
    n = len(a)
    out = np.zeros(n)
    for j in range(n):
        for i in range(j, n):
            out[j] += g[i] * np.prod([a[k] for k in range(i + 1) if k != j])
    return out


@pytest.mark.parametrize("case", list(ZERO_CASES))
def test_cumprod_gradient_with_zeros_is_the_product_of_the_others(case, device):
    a = np.array(ZERO_CASES[case])
    g = np.linspace(0.5, 1.7, len(a))
    x = _t(a, device)
    gk.cumprod(x).backward(gk.tensor(g, device=device))
    np.testing.assert_allclose(x.grad.numpy(), _product_of_others(a, g), rtol=1e-13, atol=1e-15)
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("case", list(ZERO_CASES))
def test_cumprod_with_zeros_passes_gradcheck_first_and_second_order(case, device):
    """Exact zeros in the input: the running products are linear in each element, so central
    differences are exact there too; the second order goes through the recorded backward pass."""
    a = np.array(ZERO_CASES[case])
    x = _t(a, device)
    assert gk.gradcheck(gk.cumprod, [x])
    w = gk.tensor(np.linspace(-1.0, 2.0, len(a)), device=device)
    assert gk.gradcheck(lambda t: gk.grad(lambda u: (gk.cumprod(u) * w).sum())(t), [x])


def test_cumprod_zeros_in_rows_along_any_axis(device):
    a = np.array([[0.0, 1.5, -2.0], [1.2, 0.0, 0.0], [0.7, -1.1, 0.9], [2.0, 0.0, 3.0]])
    for axis in (0, 1, -1, None):
        x = _t(a, device)
        assert gk.gradcheck(lambda t, axis=axis: gk.cumprod(t, axis), [x])
        assert gk.gradcheck(lambda t, axis=axis: gk.grad(lambda u: gk.cumprod(u, axis).sum() ** 2)(t), [x])
    x = _t(a, device)
    (g,) = _grad(lambda t: gk.cumprod(t, 1), x)
    expected = np.stack([_product_of_others(row, np.ones(3)) for row in a])
    np.testing.assert_allclose(g, expected, rtol=1e-13)


def test_cumprod_hessian_at_a_zero(device):
    """d2/dx_k dx_j of sum(cumprod(x)) is not zero past the first zero: the exact path gives it."""
    a = np.array([1.5, 0.0, -0.7, 2.0])
    h = gk.hessian(lambda t: gk.cumprod(t).sum())(_t(a, device, requires_grad=False)).numpy()
    expected = np.zeros((4, 4))
    for j in range(4):
        for k in range(4):
            if j != k:
                expected[j, k] = sum(np.prod([a[m] for m in range(i + 1) if m not in (j, k)])
                                     for i in range(max(j, k), 4))
    np.testing.assert_allclose(h, expected, rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------- closed-form gradients
def test_tile_and_repeat_gradients_count_the_copies(device):
    x = _t(np.arange(6.0).reshape(2, 3), device)
    (g,) = _grad(lambda t: gk.tile(t, (2, 3, 1)), x)
    np.testing.assert_array_equal(g, np.full((2, 3), 6.0))
    (g,) = _grad(lambda t: gk.repeat(t, [3, 0, 1], axis=1), x)
    np.testing.assert_array_equal(g, [[3.0, 0.0, 1.0]] * 2)
    (g,) = _grad(lambda t: gk.repeat(t, 4), x)
    np.testing.assert_array_equal(g, np.full((2, 3), 4.0))
    w = gk.tensor(np.arange(12.0).reshape(2, 6), device=device)
    (g,) = _grad(lambda t: gk.repeat(t, 2, axis=1) * w, x)
    np.testing.assert_array_equal(g, [[1, 5, 9], [13, 17, 21]])


def test_roll_diff_and_diagonal_gradients(device):
    x = _t(np.arange(5.0), device)
    w = gk.tensor(np.array([1.0, 10.0, 100.0, 1000.0, 10000.0]), device=device)
    (g,) = _grad(lambda t: gk.roll(t, 2) * w, x)
    np.testing.assert_array_equal(g, np.roll(w.numpy(), -2))
    (g,) = _grad(lambda t: gk.diff(t) * w[:4], x)  # -w0, w0 - w1, ..., w3
    np.testing.assert_array_equal(g, [-1.0, -9.0, -90.0, -900.0, 1000.0])
    (g,) = _grad(lambda t: gk.diff(t, 2), x)
    np.testing.assert_array_equal(g, [1.0, -1.0, 0.0, -1.0, 1.0])
    m = _t(np.arange(12.0).reshape(3, 4), device)
    (g,) = _grad(lambda t: gk.diagonal(t, 1), m)
    np.testing.assert_array_equal(g, np.eye(3, 4, 1))
    (g,) = _grad(lambda t: gk.diag(gk.diag(t, -1), -1) * 2.0, _t(np.ones(3), device))
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])


def test_masked_fill_gradients(device):
    x = _t(np.arange(12.0).reshape(3, 4), device)
    mask = np.array([True, False, False, True])
    v = gk.tensor(0.5, device=device, requires_grad=True)
    w = gk.tensor(np.arange(1.0, 13.0).reshape(3, 4), device=device)
    (gx, gv) = _grad(lambda t, u: gk.masked_fill(t, mask, u) * w, x, v)
    np.testing.assert_array_equal(gx, w.numpy() * ~mask)
    assert gv.shape == () and gv == w.numpy()[:, mask].sum()
    (gx,) = _grad(lambda t: t.masked_fill(gk.tensor(mask, device=device), -1.0), x)  # gradient 0 where masked
    np.testing.assert_array_equal(gx, np.broadcast_to(~mask, (3, 4)).astype(float))
    row = _t(np.arange(4.0), device)  # a mask wider than x: the result broadcasts, x's gradient is summed back
    (gr,) = _grad(lambda t: gk.masked_fill(t, np.array([[True, False, False, False], [False] * 4]), 9.0), row)
    np.testing.assert_array_equal(gr, [1.0, 2.0, 2.0, 2.0])
    v32 = gk.tensor(np.float32(1.0), device=device, requires_grad=True)  # a float32 value for a float64 x
    (_, g32) = _grad(lambda t, u: gk.masked_fill(t, mask, u), x, v32)
    assert g32.dtype == np.float32 and g32 == 6.0


def test_chunk_unbind_and_index_select_gradients(device):
    x = _t(np.arange(10.0).reshape(5, 2), device)
    w = [gk.tensor(np.full(s, float(i + 1)), device=device) for i, s in enumerate([(2, 2), (2, 2), (1, 2)])]
    (g,) = _grad(lambda t: sum((c * wi).sum() for c, wi in zip(gk.chunk(t, 3), w, strict=True)), x)
    np.testing.assert_array_equal(g, [[1, 1], [1, 1], [2, 2], [2, 2], [3, 3]])
    (g,) = _grad(lambda t: (gk.unbind(t, 1)[1] * 3.0).sum() + gk.unbind(t)[4].sum(), x)
    np.testing.assert_array_equal(g, [[0, 3], [0, 3], [0, 3], [0, 3], [1, 4]])
    (g,) = _grad(lambda t: gk.index_select(t, 0, [4, 0, 4, 4]), x)  # repeats accumulate
    np.testing.assert_array_equal(g, [[1, 1], [0, 0], [0, 0], [0, 0], [3, 3]])
    h = gk.hessian(lambda t: (gk.unbind(t, 0)[2] ** 3).sum())(_t(np.arange(10.0).reshape(5, 2), device, False))
    assert h.numpy()[2, 1, 2, 1] == 6.0 * 5.0 and np.count_nonzero(h.numpy()) == 2
    h = gk.hessian(lambda t: (gk.index_select(t, 1, [1, 1]) ** 2).sum())(_t(np.ones((2, 2)), device, False))
    assert h.shape == (2, 2, 2, 2) and h.numpy()[0, 1, 0, 1] == 4.0 and h.numpy()[0, 0, 0, 0] == 0.0


def test_meshgrid_and_moveaxis_gradients(device):
    a, b = _t([1.0, 2.0], device), _t([3.0, 4.0, 5.0], device)
    ga, gb = _grad(lambda u, v: sum(m.sum() for m in gk.meshgrid(u, v * 2.0)), a, b)
    np.testing.assert_array_equal(ga, [3.0, 3.0])
    np.testing.assert_array_equal(gb, [4.0, 4.0, 4.0])
    x = _t(np.arange(24.0).reshape(2, 3, 4), device)
    w = gk.tensor(np.arange(24.0).reshape(4, 2, 3), device=device)
    (g,) = _grad(lambda t: gk.moveaxis(t, -1, 0) * w, x)
    np.testing.assert_array_equal(g, np.moveaxis(w.numpy(), 0, -1))


def test_views_and_copies(device):
    x = gk.tensor(np.arange(12.0).reshape(3, 4), device=device)
    d = gk.diagonal(x)  # a writable view on both backends, as PyTorch's (NumPy's is read-only)
    d += 100.0
    assert x.numpy()[0, 0] == 100.0 and x.numpy()[1, 1] == 105.0 and d._version is x._version
    x[0, 0] = 0.0
    m = gk.meshgrid(x[0], x[:, 0])[0]  # copies by default, as NumPy
    m += 1.0
    assert x.numpy()[0, 0] == 0.0
    r = gk.roll(x, 0)
    r += 1.0
    assert x.numpy()[0, 0] == 0.0
    assert gk.moveaxis(x, 0, 1)._version is x._version  # a view, as transpose
    with pytest.raises(gk.InvalidArgumentError, match="read-only"):
        gk.meshgrid(x[0], x[:, 0], copy=False)[0].add_(1.0)


# --------------------------------------------------------------------------- Tensor methods
def test_tensor_repeat_is_numpys_and_tile_is_pytorchs_repeat(device):
    a = np.arange(6.0).reshape(2, 3)
    x = gk.tensor(a, device=device)
    _same(x.repeat(2), a.repeat(2), "repeat")
    _same(x.repeat(2, 1), a.repeat(2, 1), "repeat(2, 1): elements twice along axis 1, not tiled")
    _same(x.repeat([1, 2], axis=0), a.repeat([1, 2], axis=0), "repeat counts")
    _same(x.repeat_interleave(2, dim=0), a.repeat(2, axis=0), "repeat_interleave")
    _same(x.repeat_interleave(2), a.repeat(2), "repeat_interleave flat")
    _same(x.tile(2, 1), np.tile(a, (2, 1)), "tile ints")
    _same(x.tile((1, 2)), np.tile(a, (1, 2)), "tile tuple")
    _same(x.tile(3), np.tile(a, 3), "tile int")
    with pytest.raises(gk.ShapeError, match=r"gk\.tile"):  # PyTorch's x.repeat((2, 2, 2)): a hint to tile
        x.repeat((2, 2, 2))
    with pytest.raises(gk.IndexOutOfRangeError, match=r"repeat: axis 3 .*gk\.tile"):
        x.repeat(2, 3)
    with pytest.raises(gk.ArgumentTypeError, match=r"Tensor\.repeat\(\*sizes\), which tiles, is Tensor\.tile"):
        x.repeat(2, 2, 2)
    assert "tile" in gk.Tensor.repeat.__doc__ and "NumPy" in gk.Tensor.repeat.__doc__


def test_other_tensor_methods(device):
    a = np.arange(1.0, 13.0).reshape(3, 4)
    x = gk.tensor(a, device=device)
    _same(x.roll(1, 0), np.roll(a, 1, 0), "roll")
    _same(x.moveaxis(0, 1), np.moveaxis(a, 0, 1), "moveaxis")
    _same(x.diagonal(1), a.diagonal(1), "diagonal")
    _same(x.diag(), np.diag(a), "diag")
    _same(x.diff(axis=0), np.diff(a, axis=0), "diff")
    _same(x.cumprod(), a.cumprod(), "cumprod")
    _same(x.cumprod(1), a.cumprod(1), "cumprod axis")
    nz = (x > 6.0).nonzero()
    assert isinstance(nz, tuple) and len(nz) == 2
    for out, expected in zip(nz, (a > 6).nonzero(), strict=True):
        _same(out, expected.astype(np.int64), "nonzero")
    _same((x > 6.0).argwhere(), np.argwhere(a > 6), "argwhere")
    assert [c.shape for c in x.chunk(2, 1)] == [(3, 2), (3, 2)]
    assert [u.shape for u in x.unbind(1)] == [(3,)] * 4
    _same(x.index_select(0, [2, 2]), a[[2, 2]], "index_select")
    _same(x.masked_fill(x > 6.0, 0.0), np.where(a > 6, 0.0, a), "masked_fill")


def test_table_covers_every_new_differentiable_function():
    ids = [s.id for s in build_specs()]
    missing = [n for n in DIFFERENTIABLE if not any(i == n or i.startswith((n + "(", n + "[", n + "_")) for i in ids)]
    assert not missing, f"no op-spec row for gk.{missing}"
    for name in DIFFERENTIABLE + ["nonzero", "argwhere"]:
        assert callable(getattr(gk, name)) and name in gk.ops.__all__, name
    assert isinstance(gk.trace(lambda u: u * 2.0, 1.0), gk.Trace)  # gk.trace is still the primal/adjoint table


# --------------------------------------------------------------------------- NumPy's edges
def test_edges_follow_numpy(device):
    a = np.arange(6.0).reshape(2, 3)
    x = gk.tensor(a, device=device)
    _same(gk.tile(x, ()), np.tile(a, ()), "tile ()")
    _same(gk.tile(x[0, 0], (2, 2)), np.tile(a[0, 0], (2, 2)), "tile 0-d")
    _same(gk.repeat(x[0, 0], 3, axis=-1), np.repeat(a[0, 0], 3, axis=-1), "repeat 0-d")
    _same(gk.repeat(x, [2], axis=1), np.repeat(a, [2], axis=1), "repeat one count")
    _same(gk.repeat(x, np.int64(2)), np.repeat(a, np.int64(2)), "repeat NumPy int")
    _same(gk.repeat(x, gk.tensor([1, 2], device=device), axis=0), np.repeat(a, [1, 2], axis=0), "repeat tensor")
    _same(gk.roll(x[0, 0], 2), np.roll(a[0, 0], 2), "roll 0-d")
    _same(gk.roll(x, (1, 2)), np.roll(a, (1, 2)), "roll shifts flattened")
    _same(gk.roll(x, -7, 1), np.roll(a, -7, 1), "roll more than the length")
    _same(gk.roll(gk.zeros((0, 3), device=device), 1, 0), np.roll(np.zeros((0, 3), np.float32), 1, 0), "roll empty")
    _same(gk.diff(x, 0), np.diff(a, 0), "diff n=0")
    _same(gk.diff(x, 5), np.diff(a, 5), "diff n > length")
    _same(gk.diff(x, prepend=x[:, :1], append=7), np.diff(a, prepend=a[:, :1], append=7), "diff prepend/append")
    _same(gk.diagonal(x, 5), np.diagonal(a, 5), "diagonal beyond")
    _same(gk.diag(x, -3), np.diag(a, -3), "diag beyond")
    _same(gk.cumprod(gk.zeros((2, 0), device=device), 1), np.cumprod(np.zeros((2, 0), np.float32), 1), "cumprod empty")
    _same(gk.moveaxis(x, [], []), np.moveaxis(a, [], []), "moveaxis nothing")
    assert gk.meshgrid() == ()
    (m,) = gk.meshgrid(x)
    _same(m, np.meshgrid(a)[0], "meshgrid one, flattened")
    assert [c.shape for c in gk.chunk(gk.zeros((0, 2), device=device), 3)] == [(0, 2)] * 3  # as PyTorch
    assert [c.shape for c in gk.chunk(gk.zeros(6, device=device), 4)] == [(2,)] * 3  # fewer pieces, as PyTorch
    assert gk.unbind(gk.zeros((0, 2), device=device)) == ()
    _same(gk.index_select(x, 1, []), a[:, []], "index_select nothing")
    _same(gk.index_select(x[0, 0], 0, [0]), a[0, 0], "index_select 0-d")
    for out, expected in zip(gk.nonzero(gk.zeros((2, 0), device=device)), np.nonzero(np.zeros((2, 0))),
                             strict=True):
        _same(out, expected.astype(np.int64), "nonzero empty")
    _same(gk.masked_fill(x, True, 2.0), np.full((2, 3), 2.0), "masked_fill scalar mask")
    _same(gk.masked_fill(gk.tensor([1, 2], device=device), np.array([True, False]), 2.7),
          np.array([2, 2]), "masked_fill int truncates, as PyTorch")
    _same(gk.masked_fill(x.astype(gk.float32), np.array([True, False, True]), 0.1),
          np.where([True, False, True], np.float32(0.1), a.astype(np.float32)), "masked_fill keeps float32")


def test_errors_name_the_op(device):
    x = gk.tensor(np.arange(6.0).reshape(2, 3), device=device)
    cases = [
        (gk.IndexOutOfRangeError, "repeat: axis 2", lambda: gk.repeat(x, 2, axis=2)),
        (gk.IndexOutOfRangeError, "repeat_interleave: axis -3", lambda: gk.repeat_interleave(x, 2, dim=-3)),
        (gk.InvalidArgumentError, "repeat: repeats must be >= 0", lambda: gk.repeat(x, -1)),
        (gk.InvalidArgumentError, "repeat: repeats must be non-negative", lambda: gk.repeat(x, [1, -1], axis=0)),
        (gk.ShapeError, "repeat: 2 repeats for an axis of length 3", lambda: gk.repeat(x, [1, 2], axis=1)),
        (gk.ShapeError, "repeat: repeats must be an int or a 1-d", lambda: gk.repeat(x, [[1, 2]], axis=0)),
        (gk.ArgumentTypeError, "repeat: repeats must be an int", lambda: gk.repeat(x, 1.5)),
        (gk.ArgumentTypeError, "repeat: repeats must be an int", lambda: gk.repeat(x, [1.5, 2.0], axis=0)),
        (gk.ArgumentTypeError, "repeat: repeats must be an int", lambda: gk.repeat(x, "2")),
        (gk.ArgumentTypeError, "repeat: axis must be an int", lambda: gk.repeat(x, 2, axis=1.0)),
        (gk.InvalidArgumentError, "tile: reps must be non-negative", lambda: gk.tile(x, (2, -1))),
        (gk.ArgumentTypeError, "tile: reps must be an int", lambda: gk.tile(x, (2, "a"))),
        (gk.ArgumentTypeError, "tile: reps must be an int", lambda: gk.tile(x, 1.5)),
        (gk.IndexOutOfRangeError, "roll: axis 2", lambda: gk.roll(x, 1, 2)),
        (gk.IndexOutOfRangeError, "roll: axis 0 is out of range for a 0-d", lambda: gk.roll(x[0, 0], 1, 0)),
        (gk.ShapeError, "roll: shift", lambda: gk.roll(x, (1, 2, 3), (0, 1))),
        (gk.ArgumentTypeError, "roll: shift must be an int", lambda: gk.roll(x, 1.5)),
        (gk.IndexOutOfRangeError, "moveaxis: axis 3", lambda: gk.moveaxis(x, 3, 0)),
        (gk.IndexOutOfRangeError, "moveaxis: axis -3", lambda: gk.moveaxis(x, 0, -3)),
        (gk.InvalidArgumentError, "moveaxis: repeated axis in source", lambda: gk.moveaxis(x, [0, -2], [0, 1])),
        (gk.InvalidArgumentError, "moveaxis: repeated axis in destination", lambda: gk.moveaxis(x, [0, 1], [1, 1])),
        (gk.ShapeError, "moveaxis: source", lambda: gk.moveaxis(x, [0, 1], [0])),
        (gk.ShapeError, "diagonal: needs a tensor of at least 2", lambda: gk.diagonal(x[0])),
        (gk.InvalidArgumentError, "diagonal: axis1 and axis2 must differ", lambda: gk.diagonal(x, 0, 1, -1)),
        (gk.IndexOutOfRangeError, "diagonal: axis 2", lambda: gk.diagonal(x, 0, 0, 2)),
        (gk.ArgumentTypeError, "diagonal: offset must be an int", lambda: gk.diagonal(x, 0.5)),
        (gk.ShapeError, "diag: expected a 1-d or 2-d", lambda: gk.diag(gk.reshape(x, (1, 2, 3)))),
        (gk.ShapeError, "diag: expected a 1-d or 2-d", lambda: gk.diag(x[0, 0])),
        (gk.InvalidArgumentError, "diff: n \\(the order\\) must be non-negative", lambda: gk.diff(x, -1)),
        (gk.ShapeError, "diff: needs a tensor of at least 1", lambda: gk.diff(x[0, 0])),
        (gk.IndexOutOfRangeError, "diff: axis 2", lambda: gk.diff(x, axis=2)),
        (gk.ShapeError, "diff: prepend/append", lambda: gk.diff(x, prepend=x[0])),
        (gk.IndexOutOfRangeError, "cumprod: axis 2", lambda: gk.cumprod(x, 2)),
        (gk.IndexOutOfRangeError, "cumprod: axis 1", lambda: gk.cumprod(x[0, 0], 1)),
        (gk.InvalidArgumentError, "meshgrid: indexing must be 'xy' or 'ij'", lambda: gk.meshgrid(x, indexing="xz")),
        (gk.ArgumentTypeError, "meshgrid: sparse must be True or False", lambda: gk.meshgrid(x, sparse="no")),
        (gk.DeviceError, "meshgrid", lambda: gk.meshgrid(x, gk.ones(2, device="cpu"))) if device != "cpu" else None,
        (gk.ShapeError, "nonzero: a 0-d tensor", lambda: gk.nonzero(x[0, 0])),
        (gk.InvalidArgumentError, "chunk: chunks must be greater than 0", lambda: gk.chunk(x, 0)),
        (gk.ShapeError, "chunk: a 0-d tensor", lambda: gk.chunk(x[0, 0], 2)),
        (gk.IndexOutOfRangeError, "chunk: axis 2", lambda: gk.chunk(x, 2, dim=2)),
        (gk.ShapeError, "unbind: a 0-d tensor", lambda: gk.unbind(x[0, 0])),
        (gk.IndexOutOfRangeError, "unbind: axis -3", lambda: gk.unbind(x, -3)),
        (gk.IndexOutOfRangeError, "index_select: index -1 is out of range", lambda: gk.index_select(x, 1, [-1])),
        (gk.IndexOutOfRangeError, "index_select: index 3 is out of range", lambda: gk.index_select(x, 1, [0, 3])),
        (gk.ShapeError, "index_select: index must be 1-d", lambda: gk.index_select(x, 1, [[0]])),
        (gk.DTypeError, "index_select: index must be integers", lambda: gk.index_select(x, 1, [True, False])),
        (gk.DTypeError, "index_select: index arrays must be integer", lambda: gk.index_select(x, 1, [0.5])),
        (gk.IndexOutOfRangeError, "index_select: axis 2", lambda: gk.index_select(x, 2, [0])),
        (gk.ShapeError, "index_select: a 0-d tensor takes exactly one", lambda: gk.index_select(x[0, 0], 0, [0, 0])),
        (gk.DTypeError, "masked_fill: mask must be a bool tensor", lambda: gk.masked_fill(x, [1, 0, 1], 0.0)),
        (gk.ShapeError, "masked_fill: mask of shape \\(2,\\)", lambda: gk.masked_fill(x, [True, False], 0.0)),
        (gk.ShapeError, "masked_fill: value must be a number or a 0-d", lambda: gk.masked_fill(x, x > 1, x[0])),
        (gk.ArgumentTypeError, "masked_fill: value must be a number", lambda: gk.masked_fill(x, x > 1, "a")),
        (gk.ArgumentTypeError, "masked_fill: value must be a number", lambda: gk.masked_fill(x, x > 1, None)),
        (gk.InvalidArgumentError, "masked_fill: 300 is out of range for a int8",
         lambda: gk.masked_fill(x.astype(gk.int8), x > 1, 300)),
        (gk.InvalidArgumentError, "masked_fill: nan cannot be held by a int64",
         lambda: gk.masked_fill(x.astype(gk.int64), x > 1, float("nan"))),
        (gk.ArgumentTypeError, "atleast_1d: needs at least one tensor", lambda: gk.atleast_1d()),
    ]
    for error, message, call in filter(None, cases):
        with pytest.raises(error, match=message):
            call()


# --------------------------------------------------------------------------- host reads
def _refuse_host_reads(monkeypatch):
    from emulated_cupy import core

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)


def _needs_emulated_cuda(device):
    import emulated_cupy

    if device != "cuda" or not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")


def test_ops_of_fixed_shape_read_nothing_on_the_host(device, monkeypatch):
    """Forward and backward of the ops whose result's shape does not depend on values (cumprod's
    zero-safe gradient too) make no host read: they can be captured in a CUDA graph. (index_select
    checks its indices on the host as gather and take do, except while a graph is captured: below.)"""
    _needs_emulated_cuda(device)
    x = gk.tensor(np.array([[1.5, 0.0, 2.0, -1.0], [0.5, 1.0, 0.0, 0.0], [2.0, 1.0, 3.0, 4.0]]), device=device,
                  requires_grad=True)
    mask = x.detach() > 1.0
    value = gk.tensor(0.5, device=device, requires_grad=True)
    _refuse_host_reads(monkeypatch)
    outs = [gk.tile(x, (2, 1)), gk.repeat(x, 2, axis=1), gk.repeat_interleave(x, 3), gk.roll(x, (1, 2), (0, 1)),
            gk.diag(x), gk.diag(x[0]), gk.diagonal(x, 1), gk.diff(x, 2, prepend=1.0), gk.cumprod(x, 1),
            gk.cumprod(x), gk.moveaxis(x, 0, 1), *gk.meshgrid(x[0], x[1]), *gk.chunk(x, 2, 1), *gk.unbind(x),
            gk.masked_fill(x, mask, value), gk.atleast_3d(x)]
    total = outs[0].sum()
    for out in outs[1:]:
        total = total + out.sum()
    total.backward()
    assert x.grad is not None and value.grad is not None


def test_value_dependent_shapes_are_refused_while_capturing(device):
    """nonzero, argwhere and per-element repeat counts must read the device: a CUDA graph cannot."""
    _needs_emulated_cuda(device)
    from gradkit.backends import get_backend
    from gradkit.cuda import graphs

    x = gk.tensor(np.array([[1.0, 0.0], [0.0, 2.0]]), device=device)
    counts = gk.tensor([1, 2], device=device)
    with graphs._Routing(get_backend(device), None, None):
        for op, call in (("nonzero", gk.nonzero), ("argwhere", gk.argwhere)):
            with pytest.raises(gk.cuda.CaptureError, match=f"{op}: the size of the result depends on the values"):
                call(x)
        with pytest.raises(gk.cuda.CaptureError):
            gk.repeat(x, counts, axis=0)
        assert gk.repeat(x, 2, axis=0).shape == (4, 2)  # an int count: nothing to read


def test_index_select_skips_its_bounds_check_while_capturing(device, monkeypatch):
    _needs_emulated_cuda(device)
    from gradkit.backends import get_backend
    from gradkit.cuda import graphs

    x = gk.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    index = gk.tensor([2, 0, 2], device=device)
    with graphs._Routing(get_backend(device), None, None):
        _refuse_host_reads(monkeypatch)
        gk.index_select(x, 1, index).sum().backward()
        monkeypatch.undo()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 0.0, 2.0]] * 2)


# --------------------------------------------------------------------------- PyTorch parity
def test_parity_with_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4))
    a[1, 2] = a[2, 0] = a[2, 3] = 0.0  # zeros for cumprod
    g = rng.standard_normal

    def check(gk_fn, torch_fn, shape=(3, 4), values=a):
        x = gk.tensor(values, requires_grad=True)
        tx = torch.tensor(values, requires_grad=True)
        out, tout = gk_fn(x), torch_fn(tx)
        outs = out if isinstance(out, tuple) else (out,)
        touts = tout if isinstance(tout, tuple) else (tout,)
        assert len(outs) == len(touts)
        total, ttotal = 0.0, 0.0
        for o, t in zip(outs, touts, strict=True):
            np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-14, atol=1e-15)
            w = g(o.shape)
            total = total + (o * gk.tensor(w)).sum()
            ttotal = ttotal + (t * torch.tensor(w)).sum()
        total.backward()
        ttotal.backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-14)

    check(lambda x: x.tile(2, 1, 3), lambda t: t.repeat(2, 1, 3))  # PyTorch's repeat is tile
    check(lambda x: gk.tile(x, (2, 2)), lambda t: torch.tile(t, (2, 2)))
    check(lambda x: x.repeat(2, 1), lambda t: t.repeat_interleave(2, dim=1))
    check(lambda x: x.repeat_interleave([1, 0, 2], 0), lambda t: t.repeat_interleave(torch.tensor([1, 0, 2]), dim=0))
    check(lambda x: gk.repeat_interleave(x, 3), lambda t: torch.repeat_interleave(t, 3))
    check(lambda x: gk.roll(x, (1, -3), (0, 1)), lambda t: torch.roll(t, (1, -3), (0, 1)))
    check(lambda x: gk.roll(x, 5), lambda t: torch.roll(t, 5))
    check(lambda x: gk.diag(x, 1), lambda t: torch.diag(t, 1))
    check(lambda x: gk.diag(x[0], -1), lambda t: torch.diag(t[0], -1))
    check(lambda x: gk.diagonal(gk.reshape(x, (2, 3, 2)), 1, 2, 1),
          lambda t: torch.diagonal(t.reshape(2, 3, 2), 1, 2, 1))
    check(lambda x: gk.diff(x, 2, axis=0), lambda t: torch.diff(t, 2, dim=0))
    check(lambda x: x.diff(prepend=x[:, :1], append=x[:, :2]),
          lambda t: t.diff(prepend=t[:, :1], append=t[:, :2]))
    for axis in (0, 1):
        check(lambda x, axis=axis: gk.cumprod(x, axis), lambda t, axis=axis: torch.cumprod(t, axis))
    check(lambda x: gk.moveaxis(gk.reshape(x, (2, 3, 2)), (0, 1), (2, 0)),
          lambda t: torch.moveaxis(t.reshape(2, 3, 2), (0, 1), (2, 0)))
    check(lambda x: gk.meshgrid(x[0], x[1, :3], indexing="ij"),
          lambda t: torch.meshgrid(t[0], t[1, :3], indexing="ij"))
    check(lambda x: gk.meshgrid(x[0], x[1, :3]), lambda t: torch.meshgrid(t[0], t[1, :3], indexing="xy"))
    check(lambda x: gk.chunk(x, 3, dim=1), lambda t: torch.chunk(t, 3, dim=1))
    check(lambda x: gk.unbind(x, 1), lambda t: torch.unbind(t, 1))
    check(lambda x: gk.index_select(x, 1, [3, 3, 0]), lambda t: torch.index_select(t, 1, torch.tensor([3, 3, 0])))
    mask = a > 0.3
    check(lambda x: gk.masked_fill(x, mask, -2.0), lambda t: t.masked_fill(torch.tensor(mask), -2.0))
    check(lambda x: gk.masked_fill(x, mask[:1], x[0, 0] * 3.0),
          lambda t: t.masked_fill(torch.tensor(mask[:1]), t[0, 0] * 3.0))
    # second order of cumprod at zeros, as PyTorch's
    x, tx = gk.tensor(a[2]), torch.tensor(a[2], requires_grad=True)
    h = gk.hessian(lambda u: (gk.cumprod(u, 0) ** 2).sum())(x).numpy()
    th = torch.autograd.functional.hessian(lambda u: (torch.cumprod(u, 0) ** 2).sum(), tx).numpy()
    np.testing.assert_allclose(h, th, rtol=1e-12, atol=1e-14)
    # results without gradients
    b = (a > 0).astype(np.float64)
    np.testing.assert_array_equal(gk.argwhere(gk.tensor(b)).numpy(), torch.nonzero(torch.tensor(b)).numpy())
    for ours, theirs in zip(gk.tensor(b).nonzero(), torch.nonzero(torch.tensor(b), as_tuple=True), strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert [c.shape for c in gk.chunk(gk.zeros(5), 3)] == [tuple(c.shape) for c in torch.chunk(torch.zeros(5), 3)]
    assert [c.shape for c in gk.chunk(gk.zeros(0), 2)] == [tuple(c.shape) for c in torch.chunk(torch.zeros(0), 2)]
    ints = gk.tensor([1, 2, 3]).masked_fill(np.array([True, False, True]), 7.9)
    np.testing.assert_array_equal(ints.numpy(), torch.tensor([1, 2, 3]).masked_fill(torch.tensor([True, False, True]),
                                                                                    7.9).numpy())


def test_diff_with_a_python_int_beyond_the_integer_dtype_is_a_clear_error():
    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        pytest.skip("NumPy 1.x widens the dtype for a large Python int")
    with pytest.raises(gk.InvalidArgumentError, match="diff: 1000 is out of range for a int8 tensor"):
        gk.diff(gk.tensor(np.array([1, 2, 3], np.int8)), prepend=1000)


def test_masked_fill_refuses_a_value_beyond_a_float16_range():
    x = gk.ones(3, dtype="float16")
    mask = gk.tensor([True, False, True])
    with pytest.raises(gk.InvalidArgumentError, match="masked_fill: 1000000.0 is too large"):
        gk.masked_fill(x, mask, 1e6)
    assert gk.masked_fill(x, mask, float("inf")).tolist() == [float("inf"), 1.0, float("inf")]  # inf is a value

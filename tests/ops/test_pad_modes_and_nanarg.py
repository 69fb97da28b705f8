"""numpy.pad's statistic, ramp, odd-reflection and "empty" modes, and NumPy's nanargmax and nanargmin.

gk.pad's new modes are made of recorded ops (slices, reductions, broadcasts, concatenation, arithmetic):
their values are checked against np.pad on random shapes, widths, stat_length and end_values forms and
dtypes (NumPy pads axis by axis, so the corners of a later axis come from the earlier axes' padding),
their gradients against central differences, and on the emulated CuPy that nothing is read back. The
older modes keep their index-gather path (test_closed_forms.py). nanargmax and nanargmin: values against
NumPy, the slice of NaNs only (one device read on CuPy), axes, keepdims and the errors.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F

STATS = ("maximum", "minimum", "mean", "median")


def _emulated():
    import emulated_cupy

    return emulated_cupy.enabled()


def _close(got, expected, what):
    """Shape and dtype as NumPy's; integers and bools exactly, floats to a few ulps (NumPy's mean sums
    pairwise, its linspace may take another rounding path)."""
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, NumPy {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype}, NumPy {expected.dtype}"
    if expected.dtype.kind == "f":
        tol = 1e-5 if expected.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def _data(rng, shape, dtype):
    a = rng.standard_normal(shape) * 5
    return a > 0 if dtype is bool else a.astype(dtype)


def _cases(rng, ndim):
    """(mode, keyword arguments) for the new modes, with every form of stat_length and end_values."""
    pair = lambda hi: tuple(int(v) for v in rng.integers(1, hi, 2))  # noqa: E731
    for mode in STATS:
        for length in (None, int(rng.integers(1, 4)), pair(4), [pair(5) for _ in range(ndim)], np.int32(2)):
            yield mode, ({} if length is None else {"stat_length": length})
    yield "linear_ramp", {}
    yield "linear_ramp", {"end_values": float(rng.standard_normal() * 3)}
    yield "linear_ramp", {"end_values": (-2, 7)}
    yield "linear_ramp", {"end_values": [tuple(float(v) for v in rng.standard_normal(2) * 3) for _ in range(ndim)]}
    for mode in ("reflect", "symmetric"):
        yield mode, {"reflect_type": "odd"}
        yield mode, {"reflect_type": "even"}


# --------------------------------------------------------------------------- values against np.pad
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8, bool])
def test_new_modes_match_numpy(device, dtype):
    rng = np.random.default_rng(7)
    for _ in range(4):
        ndim = int(rng.integers(1, 4))
        shape = tuple(int(v) for v in rng.integers(1, 5, ndim))
        a = _data(rng, shape, dtype)
        x = gk.tensor(a, device=device)
        widths = [int(rng.integers(0, 5)), tuple(int(v) for v in rng.integers(0, 5, 2)),
                  [tuple(int(v) for v in rng.integers(0, 7, 2)) for _ in range(ndim)]]  # fmt: skip
        for width in widths:
            for mode, kw in _cases(rng, ndim):
                if dtype is bool and kw.get("reflect_type") == "odd":
                    continue  # NumPy's 2 * edge - chunk subtracts bools: a TypeError there
                expected = np.pad(a, width, mode=mode, **kw)
                out = gk.pad(x, width, mode=mode, **kw)
                assert out.device == x.device
                _close(out.numpy(), expected, f"{dtype} {shape} {width} {mode} {kw}")


def test_odd_reflection_wider_than_the_axis(device):
    """Widths past the axis length: NumPy mirrors chunk by chunk, each about the edge made so far."""
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 5):
        a = rng.standard_normal((n, 2))
        x = gk.tensor(a, device=device)
        for mode in ("reflect", "symmetric"):
            for width in ((0, 11), (9, 0), (7, 13)):
                pw = (width, (3, 4))
                expected = np.pad(a, pw, mode=mode, reflect_type="odd")
                _close(gk.pad(x, pw, mode=mode, reflect_type="odd").numpy(), expected, f"{n} {mode} {width}")
        ints = (a * 10).astype(np.int16)
        expected = np.pad(ints, ((5, 6), (1, 1)), mode="reflect", reflect_type="odd")
        _close(gk.pad(gk.tensor(ints, device=device), ((5, 6), (1, 1)), mode="reflect", reflect_type="odd").numpy(),
               expected, f"int16 {n}")  # fmt: skip


def test_corners_come_from_the_earlier_axes(device):
    a = np.arange(12.0).reshape(3, 4) ** 2
    x = gk.tensor(a, device=device)
    for mode, kw in (("mean", {"stat_length": ((1, 2), (2, 1))}), ("linear_ramp", {"end_values": ((1, 2), (3, 4))}),
                     ("maximum", {}), ("median", {"stat_length": 2}),
                     ("reflect", {"reflect_type": "odd"})):  # fmt: skip
        expected = np.pad(a, ((2, 1), (1, 3)), mode=mode, **kw)
        _close(gk.pad(x, ((2, 1), (1, 3)), mode=mode, **kw).numpy(), expected, mode)
    # the top-left corner of "mean" is the mean of the first column's padding, made from axis 0's means
    out = gk.pad(x, 1, mode="mean").numpy()
    assert out[0, 0] == pytest.approx(np.mean(out[0, 1:-1]), rel=1e-12)


def test_integer_rounding_as_numpy(device):
    a = np.array([[1, 2], [2, 2], [4, 3]], dtype=np.int32)  # means 2.5 and 2.333..: rounded half to even
    x = gk.tensor(a, device=device)
    for mode in ("mean", "median", "linear_ramp"):
        kw = {"end_values": 9} if mode == "linear_ramp" else {}
        _close(gk.pad(x, ((1, 3), (2, 1)), mode=mode, **kw).numpy(), np.pad(a, ((1, 3), (2, 1)), mode=mode, **kw), mode)
    # NumPy's linspace takes (k / width) * (edge - end) when one row's step is 0 (here the second row's): 1 / 49 * 49
    # is 0.999..., floored to 0 where k * step would give 1
    ramp = np.array([[49], [0]])
    expected = np.pad(ramp, ((0, 0), (49, 0)), mode="linear_ramp")
    assert expected[0, 1] == 0
    _close(gk.pad(gk.tensor(ramp, device=device), ((0, 0), (49, 0)), mode="linear_ramp").numpy(), expected, "k / width")


def test_empty_mode_is_zeros(device):
    x = gk.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    out = gk.pad(x, ((1, 0), (2, 1)), mode="empty")
    assert out.shape == np.pad(np.zeros((2, 3)), ((1, 0), (2, 1)), mode="empty").shape
    np.testing.assert_array_equal(out.numpy(), np.pad(np.arange(6.0).reshape(2, 3), ((1, 0), (2, 1))))
    (out * gk.tensor(np.arange(18.0).reshape(3, 6), device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(18.0).reshape(3, 6)[1:, 2:5])
    # like "constant", "empty" may extend an axis of length 0
    assert gk.pad(gk.zeros((0, 2), device=device), 1, mode="empty").shape == (2, 4)


def test_empty_tensors(device):
    x = gk.zeros((0, 3), device=device)
    for mode in (*STATS, "linear_ramp"):
        out = gk.pad(x, ((0, 0), (2, 1)), mode=mode)
        assert out.shape == np.pad(np.zeros((0, 3)), ((0, 0), (2, 1)), mode=mode).shape == (0, 6)
        with pytest.raises(gk.ShapeError, match=f"mode '{mode}' cannot extend axis 0 of length 0"):
            gk.pad(x, 1, mode=mode)
    with pytest.raises(gk.ShapeError, match="cannot extend axis 0"):
        gk.pad(x, 1, mode="reflect", reflect_type="odd")
    assert gk.pad(gk.tensor(2.0, device=device), 3, mode="median").shape == ()  # 0-d: nothing to pad, as NumPy


def test_mean_of_no_values_is_nan_as_numpy(device):
    x = gk.tensor([1.0, 2.0, 3.0], device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.pad(np.array([1.0, 2.0, 3.0]), (1, 2), mode="mean", stat_length=(0, 1))
        out = gk.pad(x, (1, 2), mode="mean", stat_length=(0, 1))
    np.testing.assert_array_equal(out.numpy(), expected.astype(np.float32))


# --------------------------------------------------------------------------- gradients
GRAD_CASES = [
    ("maximum", {}), ("minimum", {"stat_length": 2}), ("mean", {}),
    ("mean", {"stat_length": ((1, 3), (2, 1), (1, 1))}), ("median", {}), ("median", {"stat_length": (2, 3)}),
    ("linear_ramp", {}), ("linear_ramp", {"end_values": (1.5, -2)}),
    ("reflect", {"reflect_type": "odd"}), ("symmetric", {"reflect_type": "odd"}),
]  # fmt: skip


@pytest.mark.parametrize("mode,kw", GRAD_CASES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(GRAD_CASES)])
def test_gradients_match_central_differences(device, mode, kw):
    rng = np.random.default_rng(11)
    x = gk.tensor(rng.standard_normal((3, 4, 2)), device=device, requires_grad=True)  # no ties
    w = gk.tensor(rng.standard_normal(np.pad(np.zeros((3, 4, 2)), ((2, 1), (1, 6), (0, 2))).shape), device=device)
    assert gk.gradcheck(lambda t: (gk.pad(t, ((2, 1), (1, 6), (0, 2)), mode=mode, **kw) * w).sum(), (x,))


def test_gradient_closed_forms(device):
    x = gk.tensor([1.0, 5.0, 2.0, 4.0], device=device, requires_grad=True)
    # mean of the first 2 on the left (3 copies), of all 4 on the right (1 copy)
    gk.pad(x, (3, 1), mode="mean", stat_length=(2, 9)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 + 1.5 + 0.25, 1 + 1.5 + 0.25, 1.25, 1.25])
    x.grad = None
    gk.pad(x, (2, 0), mode="maximum").sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 3, 1, 1])
    x.grad = None
    # ramp from 0 to the edge in 4 steps: 0, 1/4, 2/4, 3/4 of x[0]
    gk.pad(x, (4, 0), mode="linear_ramp").sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 + 1.5, 1, 1, 1])
    x.grad = None
    # odd reflection: 2 * x[0] - x[1], 2 * x[0] - x[2] on the left
    gk.pad(x, (2, 0), mode="reflect", reflect_type="odd").sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5, 0, 0, 1])


def test_nothing_is_read_on_the_host(device, monkeypatch):
    if device != "cuda" or not _emulated():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    x = gk.tensor(np.random.default_rng(0).standard_normal((3, 4, 2)), device=device, requires_grad=True)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    total = gk.pad(x, 1, mode="empty").sum()
    for mode, kw in GRAD_CASES:
        total = total + gk.pad(x, ((2, 1), (3, 2), (1, 0)), mode=mode, **kw).sum()
    total.backward()
    assert x.grad is not None


# --------------------------------------------------------------------------- errors, the older modes, F.pad
def test_pad_errors(device):
    x = gk.tensor(np.arange(6.0).reshape(2, 3), device=device)
    with pytest.raises(gk.InvalidArgumentError, match="unknown mode 'circular'.*'maximum'.*'linear_ramp'.*'empty'"):
        gk.pad(x, 1, mode="circular")
    with pytest.raises(gk.InvalidArgumentError, match="reflect_type must be 'even' or 'odd', got 'oddish'"):
        gk.pad(x, 1, mode="reflect", reflect_type="oddish")
    with pytest.raises(gk.ArgumentTypeError, match="reflect_type must be a str"):
        gk.pad(x, 1, mode="symmetric", reflect_type=1)
    # a keyword the mode does not take, as NumPy refuses it
    for mode, kw in (("edge", {"stat_length": 2}), ("mean", {"end_values": 1}),
                     ("linear_ramp", {"reflect_type": "odd"}), ("wrap", {"constant_values": 3}),
                     ("empty", {"constant_values": 1}), ("constant", {"stat_length": 1})):  # fmt: skip
        name = next(iter(kw))
        with pytest.raises(gk.InvalidArgumentError, match=f"mode '{mode}' takes no {name}"):
            gk.pad(x, 1, mode=mode, **kw)
        with pytest.raises(ValueError):  # NumPy's error
            np.pad(np.zeros((2, 3)), 1, mode=mode, **kw)
    with pytest.raises(gk.InvalidArgumentError, match="stat_length must be non-negative"):
        gk.pad(x, 1, mode="mean", stat_length=-1)
    with pytest.raises(gk.ArgumentTypeError, match="stat_length must be None or non-negative integers"):
        gk.pad(x, 1, mode="mean", stat_length=1.5)
    with pytest.raises(gk.ShapeError, match="stat_length .* does not fit a tensor of 2 dimension"):
        gk.pad(x, 1, mode="median", stat_length=((1, 2),) * 3)
    with pytest.raises(gk.ShapeError, match="stat_length .* is ragged"):
        gk.pad(x, 1, mode="median", stat_length=[(1, 2), 3])
    with pytest.raises(gk.InvalidArgumentError, match="stat_length of 0 yields no value for mode 'maximum'"):
        gk.pad(x, 1, mode="maximum", stat_length=(0, 1))
    with pytest.raises(gk.InvalidArgumentError, match="stat_length of 0 gives no mean of an integer"):
        gk.pad(gk.tensor([1, 2], device=device), 1, mode="mean", stat_length=0)
    with pytest.raises(gk.ArgumentTypeError, match="end_values must be numbers"):
        gk.pad(x, 1, mode="linear_ramp", end_values="a")
    with pytest.raises(gk.ShapeError, match="end_values .* does not fit"):
        gk.pad(x, 1, mode="linear_ramp", end_values=(1, 2, 3))
    # the defaults may be passed to any mode
    gk.pad(x, 1, mode="edge", constant_values=0, stat_length=None, end_values=0, reflect_type="even")


def test_older_modes_unchanged(device):
    a = np.random.default_rng(2).standard_normal((3, 4))
    x = gk.tensor(a, device=device, requires_grad=True)
    for mode in ("constant", "edge", "reflect", "symmetric", "wrap"):
        pw = ((2, 5), (4, 1))
        _close(gk.pad(x, pw, mode=mode).numpy(), np.pad(a, pw, mode=mode), mode)
    _close(gk.pad(x, 2, constant_values=1.5).numpy(), np.pad(a, 2, constant_values=1.5), "constant 1.5")


def test_functional_pad_unaffected(device):
    a = np.random.default_rng(4).standard_normal((2, 3, 5))
    x = gk.tensor(a, device=device)
    last = lambda lo, hi: ((0, 0), (0, 0), (lo, hi))  # noqa: E731
    np.testing.assert_array_equal(F.pad(x, (1, 2)).numpy(), np.pad(a, last(1, 2)))
    np.testing.assert_array_equal(F.pad(x, (1, 2), value=3.0).numpy(), np.pad(a, last(1, 2), constant_values=3.0))
    np.testing.assert_array_equal(F.pad(x, (2, 1, 1, 1), mode="circular").numpy(),
                                  np.pad(a, ((0, 0), (1, 1), (2, 1)), mode="wrap"))  # fmt: skip
    np.testing.assert_array_equal(F.pad(x, (2, 1), mode="reflect").numpy(), np.pad(a, last(2, 1), mode="reflect"))
    np.testing.assert_array_equal(F.pad(x, (2, 1), mode="replicate").numpy(), np.pad(a, last(2, 1), mode="edge"))
    with pytest.raises(gk.InvalidArgumentError, match="unknown mode 'maximum'"):
        F.pad(x, (1, 1), mode="maximum")


# --------------------------------------------------------------------------- nanargmax, nanargmin
@pytest.mark.parametrize("op", ["nanargmax", "nanargmin"])
def test_nanarg_matches_numpy(device, op):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 5, 6))
    i, j, k = np.indices(a.shape)
    a[(rng.random(a.shape) < 0.4) & ((i + j + k) % 3 != 0)] = np.nan  # no slice of NaNs only along any axis
    a[0, 0, :3] = -np.inf
    a[1, 1, :2] = np.inf
    fn, ref = getattr(gk, op), getattr(np, op)
    for dtype in (np.float64, np.float32):
        x = gk.tensor(a.astype(dtype), device=device, requires_grad=True)
        for axis in (None, 0, 1, 2, -1, -3):
            for keepdims in (False, True):
                out = fn(x, axis=axis, keepdims=keepdims)
                expected = ref(a.astype(dtype), axis=axis, keepdims=keepdims)
                assert out.dtype == gk.int64 and not out.requires_grad and out.device == x.device
                _close(out.numpy(), np.asarray(expected), f"{op} {dtype} {axis} {keepdims}")
    # NaN taken as -inf (+inf): NumPy's index where a NaN ties with an infinity
    special = np.array([np.nan, -np.inf, np.inf, np.nan])
    assert fn(gk.tensor(special, device=device)).item() == ref(special)
    assert fn(gk.tensor(special[:2], device=device)).item() == ref(special[:2])
    for ints in (np.array([[3, 1, 3], [0, 7, 7]]), np.array([True, False, True]), np.array([[2, 9]], np.uint8)):
        for axis in (None, 0, -1):
            _close(fn(gk.tensor(ints, device=device), axis=axis).numpy(), np.asarray(ref(ints, axis=axis)), f"{ints}")
    t0 = gk.tensor(2.5, device=device)
    for axis in (None, 0, -1):
        assert fn(t0, axis=axis).shape == () and fn(t0, axis=axis).item() == 0
    assert fn(t0, keepdims=True).shape == np.shape(ref(np.array(2.5), keepdims=True))
    empty_rows = gk.zeros((0, 3), device=device)
    assert fn(empty_rows, axis=1).shape == ref(np.zeros((0, 3)), axis=1).shape == (0,)
    assert fn(empty_rows, axis=1, keepdims=True).shape == (0, 1)


@pytest.mark.parametrize("op", ["nanargmax", "nanargmin"])
def test_nanarg_errors(device, op):
    fn = getattr(gk, op)
    a = np.array([[1.0, np.nan], [np.nan, np.nan]])
    x = gk.tensor(a, device=device)
    np.testing.assert_array_equal(fn(x).numpy(), getattr(np, op)(a))
    for bad in (0, 1, -1):
        with pytest.raises(ValueError, match="All-NaN"):
            getattr(np, op)(a, axis=bad)
        with pytest.raises(gk.InvalidArgumentError, match=f"{op}: All-NaN slice encountered"):
            fn(x, axis=bad)
    with pytest.raises(gk.InvalidArgumentError, match=f"{op}: All-NaN"):
        fn(gk.tensor(np.nan, device=device))
    with pytest.raises(gk.ArgumentTypeError, match=f"{op}: axis must be an int"):  # a TypeError, as NumPy's
        fn(x, axis=(0, 1))
    with pytest.raises(gk.IndexOutOfRangeError, match=f"{op}: axis 2 is out of range"):
        fn(x, axis=2)
    with pytest.raises(gk.ShapeError, match=f"{op}: an empty"):
        fn(gk.zeros((0, 3), device=device), axis=0)
    with pytest.raises(gk.ShapeError, match=f"{op}: an empty"):
        fn(gk.zeros((0, 3), device=device))
    with pytest.raises(gk.ArgumentTypeError, match=f"{op}: keepdims"):
        fn(x, keepdims="yes")


def test_nanarg_reads_the_device_once(device, monkeypatch):
    """The check for a slice of NaNs only is one read back from the device; integers need none."""
    from nn._host_reads import count_host_reads

    reads = count_host_reads(device, monkeypatch)
    x = gk.tensor(np.array([[1.0, np.nan, 3.0], [np.nan, 0.5, -1.0]]), device=device)
    out = gk.nanargmax(x, axis=1)
    assert len(reads) == 1
    gk.nanargmin(x, keepdims=True)
    assert len(reads) == 2
    gk.nanargmax(gk.tensor(np.array([[1, 2], [4, 3]]), device=device), axis=0)
    assert len(reads) == 2
    monkeypatch.undo()
    np.testing.assert_array_equal(out.numpy(), [2, 1])


def test_nanarg_inside_a_capture_reads_nothing(device, monkeypatch):
    """While a CUDA graph is captured the check is skipped: a slice of NaNs only gives -1, as CuPy's own."""
    if device != "cuda" or not _emulated():
        pytest.skip("needs the emulated CuPy (GRADKIT_TEST_EMULATED_CUPY=1)")
    from emulated_cupy import core

    x = gk.tensor(np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]]), device=device)

    def refuse(*args, **kwargs):
        raise AssertionError("a host read")

    monkeypatch.setattr(gk.cuda, "is_capturing", lambda: True)
    for name in ("__bool__", "__int__", "__float__", "item", "get", "tolist"):
        monkeypatch.setattr(core.ndarray, name, refuse)
    outs = [gk.nanargmax(x, axis=1), gk.nanargmin(x, axis=-1, keepdims=True), gk.nanargmax(x, axis=0)]
    monkeypatch.undo()
    np.testing.assert_array_equal(outs[0].numpy(), [2, -1])
    np.testing.assert_array_equal(outs[1].numpy(), [[0], [-1]])
    np.testing.assert_array_equal(outs[2].numpy(), [0, -1, 0])

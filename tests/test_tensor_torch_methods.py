"""PyTorch's everyday Tensor methods that gradkit's Tensor gained: gather, flip, masked_select, narrow, select,
new_zeros/ones/full/empty/tensor, clamp_min/max, logical_and/or/xor/not, mm, bmm, mv, outer/ger, where,
scatter, scatter_add, index_add, nelement, element_size, and NumPy's nbytes and itemsize."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk

RNG = np.random.default_rng(0)
X34 = RNG.standard_normal((3, 4))
IDX = np.array([[0, 2, 1, 0], [2, 2, 0, 1]])  # for dim 0 of a (3, 4) tensor; repeats in columns 0 and 1
IDX_UNIQUE = np.array([[0, 2, 1, 0], [2, 1, 0, 1]])


def _t(values, device, dtype=None, requires_grad=False):
    return gk.tensor(np.asarray(values), dtype=dtype, device=device, requires_grad=requires_grad)


def _x(device, values=X34):
    return _t(values, device, gk.float64, requires_grad=True)


# ------------------------------------------------------------------ values against NumPy, and gradients
def test_gather_flip_narrow_select_values_and_gradients(device):
    x = _x(device)
    np.testing.assert_array_equal(x.gather(1, _t([[0, 0], [3, 1], [2, 2]], device)).numpy(),
                                  np.take_along_axis(X34, np.array([[0, 0], [3, 1], [2, 2]]), 1))
    np.testing.assert_array_equal(x.gather(dim=0, index=_t(IDX, device)).numpy(), np.take_along_axis(X34, IDX, 0))
    for args, kwargs, ref in (((), {}, np.flip(X34)), ((0, 1), {}, X34[::-1, ::-1]), (([1],), {}, X34[:, ::-1]),
                              (((),), {}, X34), ((), {"dims": (0,)}, X34[::-1])):
        np.testing.assert_array_equal(x.flip(*args, **kwargs).numpy(), ref)
    np.testing.assert_array_equal(x.narrow(1, -3, 2).numpy(), X34[:, 1:3])
    np.testing.assert_array_equal(x.narrow(0, 3, 0).numpy(), X34[3:])
    np.testing.assert_array_equal(x.narrow(1, _t(1, device), 2).numpy(), X34[:, 1:3])
    np.testing.assert_array_equal(x.select(1, -1).numpy(), X34[:, -1])
    np.testing.assert_array_equal(x.select(0, 2).numpy(), X34[2])
    assert gk.gradcheck(lambda a: a.gather(0, _t(IDX, device)), (x,))  # repeats: the gradients add up
    assert gk.gradcheck(lambda a: a.flip(0, 1), (x,))
    assert gk.gradcheck(lambda a: a.narrow(1, 1, 2), (x,))
    assert gk.gradcheck(lambda a: a.select(1, -2), (x,))


def test_narrow_and_select_are_views(device):
    x = _t(np.arange(6.0).reshape(2, 3), device)
    n, s = x.narrow(1, 1, 2), x.select(0, 1)
    x += 1
    np.testing.assert_array_equal(n.numpy(), [[2.0, 3.0], [5.0, 6.0]])
    np.testing.assert_array_equal(s.numpy(), [4.0, 5.0, 6.0])


def test_masked_select_broadcasts_and_its_gradient_adds_up(device):
    x = _x(device)
    mask = X34 > 0
    out = x.masked_select(_t(mask, device))
    np.testing.assert_array_equal(out.numpy(), X34[mask])
    assert out.ndim == 1 and out.dtype == np.float64
    row = _x(device, X34[0])
    np.testing.assert_array_equal(row.masked_select(_t(mask, device)).numpy(), np.broadcast_to(X34[0], (3, 4))[mask])
    np.testing.assert_array_equal(x.masked_select([True, False, True, False]).numpy(), X34[:, [0, 2]].ravel())
    assert gk.gradcheck(lambda a: a.masked_select(_t(mask, device)), (row,))
    assert gk.gradcheck(lambda a: a.masked_select(_t(mask, device)), (x,))
    assert _t(2.0, device).masked_select(_t(True, device)).shape == (1,)


def test_new_tensor_methods_take_dtype_and_device_from_self(device):
    x = _t([[1.0, 2.0]], device, gk.float64)
    for out, shape, fill in ((x.new_zeros(2, 3), (2, 3), 0.0), (x.new_ones((4,)), (4,), 1.0),
                             (x.new_full((2,), 7), (2,), 7.0), (x.new_full(3, 2.5), (3,), 2.5)):
        assert out.shape == shape and out.dtype == np.float64 and out.device == x.device
        assert not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), np.full(shape, fill))
    assert x.new_empty(2, 2).shape == (2, 2) and x.new_empty(()).shape == ()
    assert x.new_zeros(2, dtype=gk.int32).dtype == np.int32
    assert x.new_ones(2, requires_grad=True).requires_grad
    assert x.new_zeros(1, device="cpu").device == "cpu"
    y = x.new_tensor([1, 2])
    assert y.dtype == np.float64 and y.device == x.device
    assert x.new_tensor([1, 2], dtype=gk.int64).dtype == np.int64
    w = gk.tensor([1.0], requires_grad=True)
    copied = x.new_tensor(w)
    assert not copied.requires_grad and copied.dtype == np.float64
    source = np.array([1.0, 2.0])
    made = x.new_tensor(source)
    source[0] = 9.0  # a copy, as PyTorch's
    assert made.numpy()[0] == 1.0
    assert x.long().new_tensor([3]).dtype == np.int64


def test_clamp_min_max_values_and_gradients(device):
    x = _x(device)
    np.testing.assert_array_equal(x.clamp_min(0.1).numpy(), np.maximum(X34, 0.1))
    np.testing.assert_array_equal(x.clamp_max(-0.2).numpy(), np.minimum(X34, -0.2))
    bound = _t(RNG.standard_normal(4), device, gk.float64, requires_grad=True)
    np.testing.assert_array_equal(x.clamp_min(bound).numpy(), np.maximum(X34, bound.numpy()))
    assert gk.gradcheck(lambda a, b: a.clamp_min(b), (x, bound))
    assert gk.gradcheck(lambda a, b: a.clamp_max(b), (x, bound))
    assert gk.gradcheck(lambda a: a.clamp_min(0.3), (x,))


def test_logical_methods(device):
    a = _t([0.0, 1.5, -2.0, 0.0], device)
    b = _t([1, 0, 3, 0], device)
    for name in ("logical_and", "logical_or", "logical_xor"):
        out = getattr(a, name)(b)
        assert out.dtype == np.bool_
        np.testing.assert_array_equal(out.numpy(), getattr(np, name)(a.numpy(), b.numpy()))
    np.testing.assert_array_equal(a.logical_not().numpy(), [True, False, False, True])
    np.testing.assert_array_equal(a.logical_and(True).numpy(), [False, True, True, False])


def test_matrix_products_values_and_gradients(device):
    a, b = _x(device), _x(device, RNG.standard_normal((4, 2)))
    v, w = _x(device, RNG.standard_normal(4)), _x(device, RNG.standard_normal(3))
    p, q = _x(device, RNG.standard_normal((2, 3, 4))), _x(device, RNG.standard_normal((2, 4, 5)))
    np.testing.assert_allclose(a.mm(b).numpy(), X34 @ b.numpy())
    np.testing.assert_allclose(p.bmm(q).numpy(), p.numpy() @ q.numpy())
    np.testing.assert_allclose(a.mv(v).numpy(), X34 @ v.numpy())
    np.testing.assert_allclose(w.outer(v).numpy(), np.outer(w.numpy(), v.numpy()))
    np.testing.assert_allclose(w.ger(v).numpy(), np.outer(w.numpy(), v.numpy()))
    assert a.mm(b.astype(gk.float32)).dtype == np.float64  # NumPy's promotion, as @
    for f, args in ((lambda x, y: x.mm(y), (a, b)), (lambda x, y: x.bmm(y), (p, q)),
                    (lambda x, y: x.mv(y), (a, v)), (lambda x, y: x.outer(y), (w, v))):
        assert gk.gradcheck(f, args)


def test_where_method_is_self_where_true(device):
    x = _x(device)
    other = _x(device, RNG.standard_normal(4))
    cond = X34 > 0
    np.testing.assert_array_equal(x.where(_t(cond, device), other).numpy(), np.where(cond, X34, other.numpy()))
    np.testing.assert_array_equal(x.where(cond.tolist(), 0.0).numpy(), np.where(cond, X34, 0.0))
    assert _t([1.0, 2.0], device, gk.float32).where(_t([True, False], device), 0).dtype == np.float32
    assert gk.gradcheck(lambda a, b: a.where(_t(cond, device), b), (x, other))


def test_scatter_values_and_gradients(device):
    x = _x(device)
    src = _x(device, RNG.standard_normal((2, 5)))  # larger than the index: only its (2, 4) corner is read
    out = x.scatter(0, _t(IDX_UNIQUE, device), src)
    ref = X34.copy()
    np.put_along_axis(ref, IDX_UNIQUE, src.numpy()[:, :4], 0)
    np.testing.assert_array_equal(out.numpy(), ref)
    assert gk.gradcheck(lambda a, s: a.scatter(0, _t(IDX_UNIQUE, device), s), (x, src))
    wide = _x(device, RNG.standard_normal((3, 5)))
    assert gk.gradcheck(lambda a, s: a.scatter(1, _t([[3, 1], [0, 2], [1, 1]], device), s), (x, wide))
    np.testing.assert_array_equal(x.scatter(1, _t([[1], [0], [3]], device), 2.5).numpy()[[0, 1, 2], [1, 0, 3]], 2.5)
    assert gk.gradcheck(lambda a: a.scatter(1, _t([[1], [0], [3]], device), 2.5), (x,))
    # A repeated index: one of its values is written (the last on the CPU; on a GPU whichever write lands
    # last) and only that one gets the gradient (the derivative).
    rep = x.scatter(0, _t([[1, 1], [1, 1]], device), src)
    written = rep.numpy()[1, :2]
    rows = np.argmax(src.numpy()[:2, :2] == written, axis=0)
    np.testing.assert_array_equal(written, src.numpy()[rows, [0, 1]])
    if device == "cpu":
        np.testing.assert_array_equal(rows, [1, 1])
    rep.sum().backward()
    expected = np.zeros((2, 2))
    expected[rows, [0, 1]] = 1.0
    np.testing.assert_array_equal(src.grad.numpy()[:, :2], expected)
    ints = _t(np.zeros((2, 3), np.int64), device)
    np.testing.assert_array_equal(ints.scatter(1, _t([[2], [0]], device), 2.7).numpy(), [[0, 0, 2], [2, 0, 0]])
    assert x.scatter(0, _t(np.zeros((0, 4), np.int64), device), src).numpy().tolist() == X34.tolist()


def test_scatter_add_and_index_add_values_and_gradients(device):
    x = _x(device)
    src = _x(device, RNG.standard_normal((2, 4)))
    ref = X34.copy()
    np.add.at(ref, (IDX, np.arange(4)), src.numpy())
    np.testing.assert_allclose(x.scatter_add(0, _t(IDX, device), src).numpy(), ref)
    assert gk.gradcheck(lambda a, s: a.scatter_add(0, _t(IDX, device), s), (x, src))
    source = _x(device, RNG.standard_normal((3, 3)))
    index = _t([3, 0, 3], device)
    ref = X34.copy()
    np.add.at(ref, (slice(None), [3, 0, 3]), 2.0 * source.numpy())
    np.testing.assert_allclose(x.index_add(1, index, source, alpha=2.0).numpy(), ref)
    assert gk.gradcheck(lambda a, s: a.index_add(1, index, s, alpha=-1.5), (x, source))
    assert gk.gradcheck(lambda a, s: a.index_add(0, _t(2, device), s), (x, _x(device, X34[:1])))
    ints = _t(np.zeros((2, 2), np.int64), device)
    np.testing.assert_array_equal(ints.index_add(0, _t([1, 1], device), _t([[1, 2], [3, 4]], device), alpha=2).numpy(),
                                  [[0, 0], [8, 12]])
    np.testing.assert_array_equal(ints.scatter_add(1, _t([[1, 1]], device), _t([[5, 6]], device)).numpy(),
                                  [[0, 11], [0, 0]])


def test_sizes_in_elements_and_bytes(device):
    x = _t(np.zeros((2, 3), np.float32), device)
    assert (x.nelement(), x.element_size(), x.itemsize, x.nbytes) == (6, 4, 4, 24)
    assert _t([1, 2], device, gk.int16).nbytes == 4
    assert isinstance(x.nbytes, int) and isinstance(x.element_size(), int)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.narrow(1, 5, 0), gk.IndexOutOfRangeError, r"narrow: start 5 is out of range .* \(expected -4 to 4\)"),
    (lambda x: x.narrow(1, 2, 3), gk.IndexOutOfRangeError, "narrow: start 2 \\+ length 3 exceeds the size 4"),
    (lambda x: x.narrow(1, 0, -1), gk.InvalidArgumentError, "narrow: length must be >= 0"),
    (lambda x: x.narrow(2, 0, 1), gk.IndexOutOfRangeError, "narrow: axis 2 is out of range"),
    (lambda x: x.narrow(0, 0.5, 1), gk.ArgumentTypeError, "narrow: start must be an int"),
    (lambda x: x.select(0, 3), gk.IndexOutOfRangeError, "select: index 3 is out of range"),
    (lambda x: x.select(0, "1"), gk.ArgumentTypeError, "select: index must be an int"),
    (lambda x: x.sum().narrow(0, 0, 1), gk.ShapeError, "narrow: a 0-d tensor"),
    (lambda x: x.sum().select(0, 0), gk.ShapeError, "select: a 0-d tensor"),
    (lambda x: x.flip(0, dims=1), gk.InvalidArgumentError, "flip: give the dims"),
    (lambda x: x.flip(0, 0), gk.InvalidArgumentError, "flip: repeated axis"),
    (lambda x: x.gather(0, [[3]]), gk.IndexOutOfRangeError, "gather: index 3 is out of range"),
    (lambda x: x.masked_select([1, 0, 1, 0]), gk.DTypeError, "masked_select: mask must be a bool"),
    (lambda x: x.masked_select([True, False]), gk.ShapeError, "masked_select: mask of shape \\(2,\\) does not"),
    (lambda x: x.new_zeros(-1), gk.ShapeError, "new_zeros: negative dimension"),
    (lambda x: x.new_full((2,), "a"), gk.ArgumentTypeError, "new_full: fill_value must be a single number"),
    (lambda x: x.long().new_ones(2, requires_grad=True), gk.DTypeError, "new_ones: requires_grad=True needs"),
    (lambda x: x.clamp_min(None), gk.ArgumentTypeError, "clamp_min: min must be a number or a tensor"),
    (lambda x: x.clamp_max(None), gk.ArgumentTypeError, "clamp_max: max must be a number or a tensor"),
    (lambda x: x.clamp_max("1"), gk.ArgumentTypeError, "clamp_max: max must be a number or a tensor, got str"),
    (lambda x: x.mm(x[0]), gk.ShapeError, r"mm: mat2 must be 2-d, got shape \(4,\)"),
    (lambda x: x.mm(x), gk.ShapeError, "mm: shapes .* do not fit"),
    (lambda x: x[0].mm(x), gk.ShapeError, "mm: self must be 2-d"),
    (lambda x: x.bmm(x[None]), gk.ShapeError, "bmm: self must be 3-d"),
    (lambda x: x[None].bmm(x.new_ones(2, 4, 1)), gk.ShapeError, "bmm: the batch sizes differ"),
    (lambda x: x.mv(x), gk.ShapeError, "mv: vec must be 1-d"),
    (lambda x: x.mv(x[:, 0]), gk.ShapeError, "mv: shapes .* do not fit"),
    (lambda x: x.outer(x[0]), gk.ShapeError, "outer: self must be 1-d"),
    (lambda x: x[0].ger(x), gk.ShapeError, "outer: vec2 must be 1-d"),
    (lambda x: x.where(x.long(), 0.0), gk.DTypeError, "where: condition must be a bool tensor, got dtype int64"),
    (lambda x: x.scatter(0, [[1.0]], x), gk.DTypeError, "scatter: index arrays must be integer"),
    (lambda x: x.scatter(0, [0, 1], x), gk.ShapeError, "scatter: index must be an integer tensor with as many"),
    (lambda x: x.scatter(0, [[3]], x), gk.IndexOutOfRangeError, r"scatter: index 3 is out .* \(expected 0 to 2\)"),
    (lambda x: x.scatter(0, [[-1]], x), gk.IndexOutOfRangeError, "scatter: index -1 is out of range"),
    (lambda x: x.scatter(0, [[0] * 5], x), gk.ShapeError, "scatter: index of shape \\(1, 5\\) must be no larger"),
    (lambda x: x.scatter(0, [[0, 0]], x[:, :1]), gk.ShapeError, "no larger than src's \\(3, 1\\)"),
    (lambda x: x.scatter(0, [[0]], x.astype(gk.float32)), gk.DTypeError, "scatter: src must have self's dtype float64"),
    (lambda x: x.scatter(0, [[0]], x[0]), gk.ShapeError, "scatter: src must have as many dimensions"),
    (lambda x: x.scatter(0, [[0]], "a"), gk.ArgumentTypeError, "scatter: value must be a number"),
    (lambda x: x.scatter(2, [[0]], x), gk.IndexOutOfRangeError, "scatter: axis 2 is out of range"),
    (lambda x: x.sum().scatter(0, 0, 1.0), gk.ShapeError, "scatter: a 0-d tensor"),
    (lambda x: x.long().scatter(0, [[0]], 1e30), gk.InvalidArgumentError, "scatter: 1e\\+30 is out of range"),
    (lambda x: x.astype(gk.int8).scatter(0, [[0]], 300.0), gk.InvalidArgumentError, "scatter: 300.0 is out of range"),
    (lambda x: x.scatter_add(0, [[0]], 1.0), gk.ArgumentTypeError, "scatter_add: src must be a tensor"),
    (lambda x: x.index_add(0, [[0]], x[:1]), gk.ShapeError, "index_add: index must be a 1-d"),
    (lambda x: x.index_add(0, [0, 3], x[:2]), gk.IndexOutOfRangeError, "index_add: index 3 is out of range"),
    (lambda x: x.index_add(0, [0, 1], x[:1]), gk.ShapeError, r"index_add: source must have shape \(2, 4\)"),
    (lambda x: x.index_add(0, [0], x[:1].astype(gk.float32)), gk.DTypeError, "index_add: source must have self's"),
    (lambda x: x.long().index_add(0, [0], x[:1].long(), alpha=0.5), gk.InvalidArgumentError,
     "index_add: alpha must not be a float"),
    (lambda x: x.index_add(0, [0], x[:1], alpha="2"), gk.ArgumentTypeError, "index_add: alpha must be a number"),
])
def test_argument_errors_name_the_method(device, call, error, message):
    with pytest.raises(error, match=message):
        call(_t(X34, device, gk.float64))


def test_other_device_index_is_refused():
    if not gk.cuda_available():
        pytest.skip("needs a second device")
    x = _t(X34, "cpu")
    with pytest.raises(gk.DeviceError):
        x.scatter(0, _t([[0]], "cuda"), x)


_TORCH_2_14 = False  # set by the parity test below from the PyTorch it compares with


# ------------------------------------------------------------------ parity with PyTorch
def test_values_dtypes_and_gradients_match_pytorch(device):
    global _TORCH_2_14
    torch = pytest.importorskip("torch")
    _TORCH_2_14 = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 14)

    def pair(values):
        values = np.array(values, dtype=np.float64)  # a copy: PyTorch takes no negative strides
        return _t(values, device, gk.float64, requires_grad=True), torch.tensor(values, requires_grad=True)

    def same(ours, theirs, inputs):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
        assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", ""))
        g = RNG.standard_normal(ours.shape)
        ours.backward(_t(g, device, gk.float64))
        theirs.backward(torch.tensor(g))
        for a, b in inputs:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-12)

    idx, tidx = _t(IDX_UNIQUE, device), torch.tensor(IDX_UNIQUE)
    dup, tdup = _t(IDX, device), torch.tensor(IDX)
    mask = X34 > 0
    cases = [
        (lambda a: a.gather(0, dup), lambda a: a.gather(0, tdup), [X34]),
        (lambda a: a.flip(1, 0), lambda a: a.flip(1, 0), [X34]),
        (lambda a: a.masked_select(_t(mask, device)), lambda a: a.masked_select(torch.tensor(mask)), [X34[1]]),
        (lambda a: a.narrow(1, -3, 2), lambda a: a.narrow(1, -3, 2), [X34]),
        (lambda a: a.select(0, -1), lambda a: a.select(0, -1), [X34]),
        # PyTorch 2.14 splits clamp's gradient at ties with a tensor bound (as maximum does); gradkit keeps
        # PyTorch 2.13's (all to the input): the ties are compared only against PyTorch before 2.14
        (lambda a, b: a.clamp_min(b), lambda a, b: a.clamp_min(b), [X34, X34[0] + (0.125 if _TORCH_2_14 else 0)]),
        (lambda a: a.clamp_max(0.2), lambda a: a.clamp_max(0.2), [X34]),
        (lambda a, b: a.mm(b), lambda a, b: a.mm(b), [X34, X34.T]),
        (lambda a, b: a.bmm(b), lambda a, b: a.bmm(b), [X34[None], X34.T[None]]),
        (lambda a, b: a.mv(b), lambda a, b: a.mv(b), [X34, X34[0]]),
        (lambda a, b: a.outer(b), lambda a, b: a.outer(b), [X34[:, 0], X34[0]]),
        (lambda a, b: a.where(_t(mask, device), b), lambda a, b: a.where(torch.tensor(mask), b), [X34, X34[0]]),
        (lambda a, b: a.scatter(0, idx, b), lambda a, b: a.scatter(0, tidx, b), [X34, X34[:2]]),
        (lambda a: a.scatter(1, idx[:, :2], -1.0), lambda a: a.scatter(1, tidx[:, :2], -1.0), [X34]),
        (lambda a, b: a.scatter_add(0, dup, b), lambda a, b: a.scatter_add(0, tdup, b), [X34, X34[:2]]),
        (lambda a, b: a.index_add(0, _t([2, 0, 2], device), b, alpha=0.5),
         lambda a, b: a.index_add(0, torch.tensor([2, 0, 2]), b, alpha=0.5), [X34, X34[::-1]]),
    ]
    for ours, theirs, values in cases:
        pairs = [pair(v) for v in values]
        same(ours(*[p[0] for p in pairs]), theirs(*[p[1] for p in pairs]), pairs)


def test_no_gradient_results_match_pytorch(device):
    torch = pytest.importorskip("torch")
    a, b = np.array([0.0, 1.5, -2.0, 0.0], np.float32), np.array([1, 0, 3, 0])
    for name in ("logical_and", "logical_or", "logical_xor"):
        ours = getattr(_t(a, device), name)(_t(b, device))
        np.testing.assert_array_equal(ours.numpy(), getattr(torch.tensor(a), name)(torch.tensor(b)).numpy())
    np.testing.assert_array_equal(_t(a, device).logical_not().numpy(), torch.tensor(a).logical_not().numpy())
    t = torch.zeros(2, 3, dtype=torch.int32)
    x = _t(np.zeros((2, 3), np.int32), device)
    for ours, theirs in ((x.new_zeros(2), t.new_zeros(2)), (x.new_full((2,), 3), t.new_full((2,), 3)),
                         (x.new_tensor([1.0, 2.0]), t.new_tensor([1.0, 2.0])), (x.new_ones(1), t.new_ones(1))):
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    ints = x.scatter(1, _t([[2], [0]], device), 7)
    np.testing.assert_array_equal(ints.numpy(), t.scatter(1, torch.tensor([[2], [0]]), 7).numpy())
    f = torch.zeros(2, 3)
    assert (x.nelement(), x.element_size(), x.nbytes, x.itemsize) == (t.nelement(), t.element_size(), t.nbytes,
                                                                     t.itemsize)
    assert _t(np.zeros((2, 3), np.float32), device).nbytes == f.nbytes

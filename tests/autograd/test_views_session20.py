"""Gaps left by the recorded in-place operations (gradkit/autograd/inplace.py), checked against PyTorch 2.x
(float64) by running the programs in both libraries; the tests are torch-free (closed forms and NumPy twins),
and each docstring says what PyTorch does.

- ``diagonal()`` is a writable view of its tensor (registered with its base, on its version counter), so that
  a change through it reaches the tensor and, in the graph, is recorded (``y.diagonal().mul_(w)``);
  ``diag`` of a matrix stays a copy, as PyTorch's.
- A value that requires grad written into an integer (or bool) tensor is cast and its gradient dropped.
- ``addmm``-family with ``beta=0``: input's values are ignored, its gradient is the output's times 0.
- ``detach()`` shares the version counter; ``.data`` (the backend array) is the escape hatch that does not.
"""

import numpy as np
import pytest

import gradkit as gk
from gradkit.errors import AutogradError, InvalidArgumentError


def _t(values, device, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def _rand(shape, seed, device, requires_grad=True, low=-1.0, high=1.0):
    return _t(np.random.default_rng(seed).uniform(low, high, shape), device, requires_grad)


def _np_diag_view(a, offset, axis1, axis2):
    """NumPy's diagonal as a writable view (the reference the tests write through)."""
    d = np.diagonal(a, offset, axis1, axis2)
    d.flags.writeable = True
    return d


# (shape, offset, axis1, axis2): plain, offsets both ways and past the end, other axes, batched, negative axes
_CASES = [
    ((3, 3), 0, 0, 1),
    ((3, 4), 1, 0, 1),
    ((4, 3), -2, 0, 1),
    ((3, 4), 7, 0, 1),
    ((2, 3, 4), 1, 2, 0),
    ((2, 3, 4), -1, 2, 0),
    ((2, 3, 4, 3), 0, -1, -3),
    ((5, 2, 3), 1, -2, -1),
]


# ----------------------------------------------------------------------------------------------------------
# diagonal: a view
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, offset, axis1, axis2", _CASES)
def test_a_change_through_diagonal_reaches_the_tensor_under_no_grad(device, shape, offset, axis1, axis2):
    """PyTorch: ``K.diagonal().add_(eps)`` under no_grad changes K (a view); its version counter is K's."""
    start = np.random.default_rng(3).uniform(-1, 1, shape)
    k = _t(start, device, requires_grad=True)
    with gk.no_grad():
        d = k.diagonal(offset, dim1=axis1, dim2=axis2)
        d.add_(0.5)
    expected = start.copy()
    _np_diag_view(expected, offset, axis1, axis2)[...] += 0.5
    np.testing.assert_array_equal(k.detach().numpy(), expected)
    assert d.shape == np.diagonal(start, offset, axis1, axis2).shape
    assert d._base is k and d._version is k._version and k._version[0] == 1
    d2 = gk.diagonal(k, offset, axis1, axis2)  # NumPy's positional names, the function form
    np.testing.assert_array_equal(d2.detach().numpy(), np.diagonal(expected, offset, axis1, axis2))


@pytest.mark.parametrize("shape, offset, axis1, axis2", _CASES)
def test_a_change_through_diagonal_in_the_graph_is_recorded(device, shape, offset, axis1, axis2):
    """PyTorch: ``y.diagonal(o, d1, d2).mul_(w)`` changes y and records it (CopySlices): x's gradient is the
    weights scaled by w on the diagonal, w's the weighted x there."""
    x = _rand(shape, 1, device)
    dshape = np.diagonal(np.zeros(shape), offset, axis1, axis2).shape
    w = _rand(dshape, 2, device, low=0.5, high=1.5)
    weights = np.random.default_rng(9).uniform(0.5, 1.5, shape)
    y = x * 1
    y.diagonal(offset, axis1, axis2).mul_(w)
    (y * _t(weights, device)).sum().backward()
    scale = np.ones(shape)
    _np_diag_view(scale, offset, axis1, axis2)[...] = w.detach().numpy()
    xv = x.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), xv * scale, rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), weights * scale, rtol=1e-14)
    np.testing.assert_allclose(w.grad.numpy(), np.diagonal(xv * weights, offset, axis1, axis2), rtol=1e-14)


def test_the_other_views_of_the_tensor_see_a_change_through_its_diagonal(device):
    """PyTorch: a live row ``r = y[0]`` takes the new values and their history after ``y.diagonal().mul_(w)``:
    x's gradient through r is w[0] at (0, 0) and 1 at the rest of the row."""
    x = _rand((3, 3), 1, device)
    y = x * 1
    r = y[0]
    y.diagonal().mul_(_t([2.0, 3.0, 4.0], device))
    (r * _t([1.0, 2.0, 3.0], device)).sum().backward()
    np.testing.assert_allclose(r.detach().numpy(), x.detach().numpy()[0] * [2.0, 1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 2.0, 3.0], [0, 0, 0], [0, 0, 0]])


def test_the_diagonal_of_a_tensor_changed_in_place_takes_its_new_history(device):
    """PyTorch: ``d = y.diagonal(); y.mul_(2)``: d reads the doubled values, and x's gradient through d is 2."""
    x = _rand((3, 3), 1, device)
    y = x * 1
    d = y.diagonal()
    y.mul_(2.0)
    (d * _t([1.0, 2.0, 3.0], device)).sum().backward()
    np.testing.assert_allclose(d.detach().numpy(), 2 * np.diag(x.detach().numpy()))
    np.testing.assert_array_equal(x.grad.numpy(), np.diag([2.0, 4.0, 6.0]))


def test_a_saved_diagonal_changed_through_its_tensor_is_refused_at_backward(device):
    """PyTorch: ``z = d * d`` saved d (a view of y); ``y.add_(1)`` bumps their shared version: backward raises."""
    x = _rand((3, 3), 1, device)
    y = x * 1
    d = y.diagonal()
    z = d * d
    y.add_(1.0)
    with pytest.raises(AutogradError, match="modified in place"):
        z.sum().backward()


def test_copy_into_a_diagonal_of_a_batch(device):
    """PyTorch: ``y.diagonal(0, 0, 2).copy_(w)`` (y of shape (2, 3, 3): the diagonal (3, 2)) writes w there; x's
    gradient is 0 there, w's the weights at those places."""
    x = _rand((2, 3, 3), 1, device)
    w = _rand((3, 2), 2, device)
    weights = np.random.default_rng(9).uniform(0.5, 1.5, (2, 3, 3))
    y = x * 1
    y.diagonal(0, 0, 2).copy_(w)
    (y * _t(weights, device)).sum().backward()
    mask = np.zeros((2, 3, 3))
    _np_diag_view(mask, 0, 0, 2)[...] = 1.0
    np.testing.assert_allclose(x.grad.numpy(), weights * (1 - mask))
    np.testing.assert_allclose(w.grad.numpy(), np.diagonal(weights, 0, 0, 2))
    np.testing.assert_allclose(np.diagonal(y.detach().numpy(), 0, 0, 2), w.detach().numpy())


def test_diagonal_of_a_leaf_that_requires_grad(device):
    """PyTorch: a change through the diagonal of such a leaf is refused, except under no_grad (initialisation)."""
    x = _t(np.ones((3, 3)), device, requires_grad=True)
    with pytest.raises(AutogradError, match="view of a leaf"):
        x.diagonal().mul_(2.0)
    with gk.no_grad():
        x.diagonal().mul_(2.0)
    np.testing.assert_array_equal(x.detach().numpy(), np.ones((3, 3)) + np.eye(3))


def test_diagonal_gradients(device):
    """The gradient (the output's put back on the diagonal) and the second order, through the view."""
    for shape, offset, axis1, axis2 in _CASES:
        x = _rand(shape, 4, device)
        assert gk.gradcheck(lambda t, o=offset, a1=axis1, a2=axis2: gk.diagonal(t * t, o, a1, a2), (x,))
        assert gk.autograd.gradgradcheck(lambda t, o=offset, a1=axis1, a2=axis2: (t * t).diagonal(o, dim1=a1, dim2=a2),
                                              (x,))
    x = _rand((4, 4), 5, device)
    assert gk.gradcheck(lambda t: gk.linalg.diagonal(t * 1, offset=1), (x,))
    assert gk.gradcheck(lambda t: (t * 1).trace(), (x,))


def test_diagonal_keywords(device):
    """PyTorch's ``dim1=``/``dim2=`` name NumPy's ``axis1``/``axis2``; both for one axis is an error."""
    x = _t(np.zeros((2, 3, 4)), device)
    assert gk.diagonal(x, 1, dim1=2, dim2=0).shape == (3, 1)
    assert x.diagonal(offset=1, dim1=-1, dim2=-2).shape == (2, 2)
    with pytest.raises(InvalidArgumentError, match="both"):
        x.diagonal(0, 1, dim1=2)
    with pytest.raises(InvalidArgumentError, match="differ"):
        x.diagonal(dim1=1, dim2=-2)


def test_diag_of_a_matrix_is_a_copy_and_linalg_diagonal_a_view(device):
    """PyTorch: ``torch.diag(m)`` (and ``m.diag()``) of a matrix is a new tensor; ``torch.linalg.diagonal`` a view."""
    m = _t(np.arange(9.0).reshape(3, 3), device)
    for d in (gk.diag(m), m.diag(), gk.diag(m, 1)):
        d += 100.0
    np.testing.assert_array_equal(m.numpy(), np.arange(9.0).reshape(3, 3))
    gk.linalg.diagonal(m, offset=-1).add_(100.0)
    np.testing.assert_array_equal(np.diag(m.numpy(), -1), [103.0, 107.0])
    x = _rand((3, 3), 1, device)
    (g,) = gk.autograd.grad((gk.diag(x) * _t([1.0, 2.0, 3.0], device)).sum(), x)
    np.testing.assert_array_equal(g.numpy(), np.diag([1.0, 2.0, 3.0]))


# ----------------------------------------------------------------------------------------------------------
# A value that requires grad written into an integer tensor
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_a_value_in_the_graph_written_into_an_integer_tensor_is_cast_and_its_gradient_dropped(device, dtype):
    """PyTorch 2.x: ``n[0] = w[0]``, ``n[:] = w``, ``n[1:] = w[0]`` and ``n.copy_(w)`` cast (as a plain write) and
    n stays outside the graph; ``n.fill_(w[0])`` also casts (PyTorch marks n as requiring grad, and any backward
    through it then fails: an integer tensor has no gradient, so gradkit drops it there too). w's gradient from
    its other uses is unchanged."""
    values = [1.5, 2.5, 3.7] if dtype == "uint8" else [1.5, -2.5, 3.7]
    w = _t(values, device, requires_grad=True)
    cast = np.array(values).astype(dtype)
    n = gk.tensor(np.array([1, 2, 3], dtype=dtype), device=device)
    n[0] = w[0]
    assert n.numpy().tolist() == [cast[0], *np.array([2, 3], dtype=dtype)]
    n[:] = w
    assert n.numpy().tolist() == cast.tolist()
    n[1:] = w[2]
    assert n.numpy().tolist() == [cast[0], cast[2], cast[2]]
    n.copy_(w[[1, 0, 2]])
    assert n.numpy().tolist() == cast[[1, 0, 2]].tolist()
    n.fill_(w[1])
    assert n.numpy().tolist() == [cast[1]] * 3
    assert n.dtype == dtype and not n.requires_grad and n.grad_fn is None and n._version[0] == 5
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])


def test_a_value_in_the_graph_written_into_a_float32_tensor_keeps_its_gradient(device):
    """PyTorch: into a float tensor of another dtype the write is recorded (CopyBackwards; the gradient cast)."""
    w = _t([1.5, -2.5, 3.7], device, requires_grad=True)
    n = gk.zeros(3, dtype="float32", device=device)
    n.copy_(w * 2)
    assert n.requires_grad and n.dtype == "float32"
    n[0] = w[1]
    (n * _t([1.0, 2.0, 3.0], device)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [0.0, 1.0 + 4.0, 6.0])


def test_an_integer_value_into_an_integer_tensor_in_the_graph_is_still_refused(device):
    """PyTorch: ``n.add_(w)`` for an integer n and a float w raises (the result type cannot be cast)."""
    w = _t([1.5, -2.5, 3.7], device, requires_grad=True)
    n = gk.tensor(np.array([1, 2, 3]), device=device)
    with pytest.raises(gk.DTypeError):
        n.add_(w)
    assert n.numpy().tolist() == [1, 2, 3]


# ----------------------------------------------------------------------------------------------------------
# addmm and its family with beta=0
# ----------------------------------------------------------------------------------------------------------
_FAMILY = [
    ("addmm", (2, 3), [(2, 4), (4, 3)], lambda i, a, b, **k: gk.addmm(i, a, b, **k), lambda a, b: a @ b),
    ("addmm, broadcast input", (3,), [(2, 4), (4, 3)], lambda i, a, b, **k: i.addmm(a, b, **k), lambda a, b: a @ b),
    ("addmv", (2,), [(2, 4), (4,)], lambda i, a, b, **k: i.addmv(a, b, **k), lambda a, b: a @ b),
    ("addr", (2, 3), [(2,), (3,)], lambda i, a, b, **k: i.addr(a, b, **k), np.outer),
    ("baddbmm", (5, 2, 3), [(5, 2, 4), (5, 4, 3)], lambda i, a, b, **k: gk.baddbmm(i, a, b, **k), np.matmul),
    ("baddbmm, broadcast input", (1, 3), [(5, 2, 4), (5, 4, 3)], lambda i, a, b, **k: i.baddbmm(a, b, **k),
     np.matmul),
    ("addbmm", (2, 3), [(5, 2, 4), (5, 4, 3)], lambda i, a, b, **k: i.addbmm(a, b, **k),
     lambda a, b: np.matmul(a, b).sum(0)),
]


@pytest.mark.parametrize("name, ishape, shapes, fn, product", _FAMILY, ids=[f[0] for f in _FAMILY])
def test_beta_zero_ignores_the_input_and_gives_it_a_zero_gradient(device, name, ishape, shapes, fn, product):
    """PyTorch: with beta=0 input's NaN and inf do not reach the output, and input's gradient is the output's
    times 0 summed to its shape (zeros; NaN where the output's gradient is inf)."""
    x = _t(np.full(ishape, np.nan), device, requires_grad=True)
    a, b = (_rand(s, i + 1, device) for i, s in enumerate(shapes))
    out = fn(x, a, b, beta=0, alpha=2.0)
    expected = 2.0 * product(a.detach().numpy(), b.detach().numpy())
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-13)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(ishape))
    np.testing.assert_allclose(a.grad.numpy(), 2.0 * _grad_of_product(name, b.detach().numpy(), shapes),
                               rtol=1e-13)
    x.grad = None
    out = fn(x, a, b, beta=0.0)
    with np.errstate(invalid="ignore"):
        out.backward(gk.full(out.shape, np.inf, dtype="float64", device=device))
    assert np.isnan(x.grad.numpy()).all()


def _grad_of_product(name, b, shapes):
    """d(sum(a op b))/da for the family's products."""
    if name.startswith("addr"):
        return np.full(shapes[0], b.sum())
    if name.startswith("addmv"):
        return np.broadcast_to(b, shapes[0])
    if name.startswith("addmm"):
        return np.broadcast_to(b.sum(1), shapes[0])
    return np.broadcast_to(b.sum(-1)[:, None, :], shapes[0])  # batched: (B, N, K) from b (B, K, M)


def test_beta_zero_with_only_the_input_in_the_graph(device):
    """PyTorch: the output requires grad (AddmmBackward) and input's gradient is zeros, also at second order."""
    x = _t(np.ones((2, 3)), device, requires_grad=True)
    a, b = _rand((2, 4), 1, device, False), _rand((4, 3), 2, device, False)
    out = gk.addmm(x, a, b, beta=0)
    assert out.requires_grad
    (g,) = gk.autograd.grad(out.sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), np.zeros((2, 3)))
    assert not gk.addmm(x.detach(), a, b, beta=0).requires_grad


@pytest.mark.parametrize("method, shapes", [
    ("addmm_", [(2, 4), (4, 3)]), ("baddbmm_", [(1, 2, 4), (1, 4, 3)]), ("addbmm_", [(5, 2, 4), (5, 4, 3)]),
])
def test_beta_zero_in_place(device, method, shapes):
    """PyTorch: ``y.addmm_(a, b, beta=0)`` on y = x * 1 (x NaN): y is alpha a @ b, x's gradient zeros."""
    shape = (1, 2, 3) if method == "baddbmm_" else (2, 3)
    x = _t(np.full(shape, np.nan), device, requires_grad=True)
    a, b = _rand(shapes[0], 1, device), _rand(shapes[1], 2, device)
    y = x * 1
    getattr(y, method)(a, b, beta=0)
    assert np.isfinite(y.detach().numpy()).all()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(shape))
    assert a.grad is not None and np.isfinite(a.grad.numpy()).all()
    v = _t(np.full((2,), np.nan), device, requires_grad=True)
    m, u = _rand((2, 3), 3, device), _rand((3,), 4, device)
    z = v * 1
    z.addmv_(m, u, beta=0)
    z.sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [0.0, 0.0])


# ----------------------------------------------------------------------------------------------------------
# detach and .data
# ----------------------------------------------------------------------------------------------------------
def test_detach_shares_the_version_counter(device):
    """PyTorch: ``y = x.exp(); y.detach().zero_(); y.sum().backward()`` raises (exp saved y, modified through
    the detached alias on the same version counter); so does a change through a detached view."""
    x = _t([0.5, 1.0], device, requires_grad=True)
    y = x.exp()
    d = y.detach()
    assert d._version is y._version and not d.requires_grad
    d.zero_()
    with pytest.raises(AutogradError, match="modified in place"):
        y.sum().backward()
    y = x.exp()
    y.detach()[1:].mul_(2.0)
    with pytest.raises(AutogradError, match="modified in place"):
        (y * 1).sum().backward()


def test_data_is_the_escape_hatch(device):
    """PyTorch: ``y.data`` does not share the version counter: a change through it is not seen at backward (the
    gradient silently uses the new values, as PyTorch's: zeros here). gradkit's ``.data`` is the backend array."""
    x = _t([0.5, 1.0], device, requires_grad=True)
    y = x.exp()
    y.data[...] = 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


# ----------------------------------------------------------------------------------------------------------
# Review (R2): reproducers
# ----------------------------------------------------------------------------------------------------------
def test_the_gradient_of_diag_and_diagonal_embed_is_a_dense_tensor_of_its_own(device):
    """PyTorch: the ``.grad`` of v in ``diag(v)`` (a vector's gradient: the diagonal of the matrix gradient) is a
    dense tensor of v's size; a view would keep the whole (n, n) gradient alive and be registered as its view."""
    v = _rand((5,), 1, device)
    (gk.diag(v, 1) * _t(np.arange(36.0).reshape(6, 6), device)).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), np.diag(np.arange(36.0).reshape(6, 6), 1))
    x = _rand((4, 4), 2, device)
    (g,) = gk.autograd.grad((x * x).diagonal().sum(), x, create_graph=True)
    (v2,) = gk.autograd.grad(gk.diagonal(g).sum(), x)  # the second order goes through the VJP's diagonal
    np.testing.assert_allclose(v2.numpy(), 2 * np.eye(4))
    for grad in (v.grad, v2):
        data = grad._data
        assert data.flags.c_contiguous and grad.__dict__.get("_base") is None
        assert getattr(data, "base", None) is None or data.base.size == data.size


@pytest.mark.parametrize("name", ["transposed", "sliced", "permuted 3-d", "view of a view", "F-ordered base"])
def test_a_change_through_the_diagonal_of_a_strided_tensor_is_recorded(device, name):
    """PyTorch: the diagonal of a transposed, sliced or permuted view (or of a base whose memory is F-ordered:
    ``y = x.T * 1``) writes through to the base, and x's gradient is the weights scaled on those places."""
    three = name in ("permuted 3-d", "view of a view")
    shape = (2, 4, 4) if three else (4, 5)
    x = _rand(shape, 1, device)
    weights = np.random.default_rng(9).uniform(0.5, 1.5, (5, 4) if name == "F-ordered base" else shape)
    y = x.T * 1 if name == "F-ordered base" else x * 1
    pick = {  # (gradkit view, NumPy twin of the same places)
        "transposed": (lambda t: t.T.diagonal(-1), lambda a: _np_diag_view(a.T, -1, 0, 1)),
        "sliced": (lambda t: t[1:, ::2].diagonal(1), lambda a: _np_diag_view(a[1:, ::2], 1, 0, 1)),
        "permuted 3-d": (lambda t: t.permute(2, 0, 1).diagonal(0, 0, 2),
                         lambda a: _np_diag_view(a.transpose(2, 0, 1), 0, 0, 2)),
        "view of a view": (lambda t: t[1].T.diagonal(1), lambda a: _np_diag_view(a[1].T, 1, 0, 1)),
        "F-ordered base": (lambda t: t.diagonal(1), lambda a: _np_diag_view(a, 1, 0, 1)),
    }[name]
    d = pick[0](y)
    w = _rand(d.shape, 2, device, low=0.5, high=1.5)
    d.mul_(w)
    (y * _t(weights, device)).sum().backward()
    scale = np.ones(weights.shape)
    pick[1](scale)[...] = w.detach().numpy()
    xv = x.detach().numpy().T if name == "F-ordered base" else x.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), xv * scale, rtol=1e-14)
    expected = weights * scale
    np.testing.assert_allclose(x.grad.numpy(), expected.T if name == "F-ordered base" else expected, rtol=1e-14)
    np.testing.assert_allclose(w.grad.numpy(), pick[1](xv * weights), rtol=1e-14)


def test_a_view_made_under_no_grad_then_changed_in_place_in_the_graph_is_refused(device):
    """PyTorch: ``with no_grad(): d = y.diagonal()`` then ``d.mul_(2)`` with grad mode on raises ("A view was
    created in no_grad mode and is being modified inplace with grad mode enabled"). gradkit wrote the change
    unrecorded (a constant operand: the fast path), so x's gradient silently missed the factor 2; before
    diagonal became a view this reached y only through slices, now also through the diagonal. Both refused."""
    x = _rand((3, 3), 1, device)
    y = x * 1
    with gk.no_grad():
        d, row = y.diagonal(), y[0]
    for view in (d, row):
        with pytest.raises(AutogradError):
            view.mul_(2.0)
    with pytest.raises(AutogradError, match="view of a tensor that is part of a graph"):
        row.uniform_()  # (the in-place ops that are never recorded say so)
    y.sum().backward()  # nothing was written
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 3)))


def test_a_change_through_the_diagonal_of_an_expanded_tensor(device, request):
    """PyTorch: ``x.expand(3, 3).diagonal().add_(10)`` adds 10 to each element of x (the diagonal's elements are
    x's, once each). On CuPy (no read-only flag; the strides are checked) gradkit does too; on NumPy it raises, as
    for ``x.expand(3, 3)[0].add_(10)`` (before diagonal became a view, it changed a copy and x stayed as it was)."""
    if device == "cpu":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="on NumPy gradkit refuses every write through a view of a broadcast (expand) view: "
                                "NumPy marks its memory read-only (pre-existing, also for rows); PyTorch and "
                                "gradkit's CuPy backend write through when no stride is 0"))
    x = _t([1.0, 2.0, 3.0], device)
    x.expand(3, 3).diagonal().add_(10.0)
    np.testing.assert_array_equal(x.numpy(), [11.0, 12.0, 13.0])


def test_a_value_in_the_graph_written_into_a_float16_tensor_keeps_its_gradient(device):
    """PyTorch: ``h[1:] = w[0]`` and ``h.fill_(w[2])`` into a float16 h from a float32 w are recorded (CopySlices,
    FillBackward): the gradient reaches w, in w's dtype."""
    w = gk.tensor(np.array([1.7, -0.5, 2.5], dtype=np.float32), device=device, requires_grad=True)
    h = gk.zeros(3, dtype="float16", device=device)
    h[1:] = w[0]
    assert h.requires_grad and h.dtype == "float16"
    (g,) = gk.autograd.grad((h * gk.tensor(np.array([1.0, 2.0, 3.0], np.float16), device=device)).sum(), w)
    assert g.dtype == "float32"
    np.testing.assert_array_equal(g.numpy(), [5.0, 0.0, 0.0])
    h.fill_(w[2])
    (g,) = gk.autograd.grad(h.sum(), w)
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0, 3.0])


def test_beta_zero_second_order(device):
    """PyTorch: with beta=0 the second order is that of alpha * a @ b; input's gradient (zeros) has none."""
    x = _t(np.full((2, 3), np.inf), device, requires_grad=True)
    a, b = _rand((2, 4), 1, device), _rand((4, 3), 2, device)
    weights = _rand((2, 3), 3, device, requires_grad=False)
    out = gk.addmm(x, a, b, beta=0, alpha=0.5)
    gx, ga = gk.autograd.grad((out * weights).sum(), (x, a), create_graph=True)
    np.testing.assert_array_equal(gx.numpy(), np.zeros((2, 3)))
    gx2, gb = gk.autograd.grad((ga * ga).sum() + (gx * gx).sum(), (x, b), allow_unused=True)
    assert gx2 is None or not np.asarray(gx2.numpy()).any()
    wv, bv = weights.numpy(), b.detach().numpy()
    ga_ref = 0.5 * wv @ bv.T
    np.testing.assert_allclose(ga.detach().numpy(), ga_ref, rtol=1e-13)
    np.testing.assert_allclose(gb.numpy(), ga_ref.T @ wv, rtol=1e-13)  # d/db sum(ga^2) = 2 * 0.5 * ga^T w

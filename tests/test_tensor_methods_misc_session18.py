"""PyTorch's Tensor methods of gradkit/ops/tensor_methods_misc.py: predicates, shape and layout (in-place shape
changes, the scatter family, unfold), in-place random fills, sorting and statistics (kthvalue, mode, aminmax,
histc, histogram, bincount, unique, unique_consecutive, nonzero_static), cumsum_/cumprod_/tril_/triu_ and
byte/char/short. Reference values were computed once with PyTorch 2.14 (CPU) and are written in; torch is not
imported."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit import return_types
from gradkit.ops import tensor_methods_misc as tmm

tmm.install(gk.Tensor)  # idempotent: harmless once tensor.py installs them too

RNG = np.random.default_rng(18)


def _t(values, device, dtype=gk.float64, requires_grad=False):
    return gk.tensor(np.array(values), dtype=dtype, device=device, requires_grad=requires_grad)


def _r(shape, device):
    return _t(RNG.standard_normal(shape), device, requires_grad=True)


def _grad_ok(fn, *inputs):
    assert gk.gradcheck(fn, inputs)


# ------------------------------------------------------------------------------------------- install
def test_install_is_idempotent_and_never_replaces():
    tmm.install(gk.Tensor)
    for name in list(tmm.METHODS) + list(tmm.PROPERTIES):
        assert hasattr(gk.Tensor, name), name

    class Other:
        def take(self):
            return "mine"

    with pytest.raises(AttributeError, match="take"):
        tmm.install(Other)
    assert Other().take() == "mine"

    class Clash:
        H = 1

    with pytest.raises(AttributeError, match="'H'"):
        tmm.install(Clash)


def test_every_function_has_a_one_line_docstring():
    for name, fn in {**tmm.METHODS, **tmm.PROPERTIES}.items():
        assert fn.__doc__ and fn.__doc__.strip(), name


# ------------------------------------------------------------------------------------------ predicates
def test_predicates_and_info(device):
    x = _t([[1.0, 2.0], [3.0, 4.0]], device)
    assert x.is_complex() is False
    assert x.is_signed() and _t([1], device, gk.int32).is_signed()
    assert not _t([1], device, gk.uint8).is_signed() and not _t([True], device, gk.bool).is_signed()
    assert x.is_contiguous() and not x.mT.is_contiguous()
    assert _t([0.0], device).is_nonzero() is False and _t([[2]], device, gk.int64).is_nonzero() is True
    for bad in (_t([], device), _t([1.0, 2.0], device)):
        with pytest.raises(gk.ShapeError, match="is_nonzero"):
            bad.is_nonzero()
    assert x.is_same_size(_t(np.zeros((2, 2)), device)) and not x.is_same_size(_t([1.0], device))
    assert x.is_cpu == (device == "cpu")
    assert x.get_device() == (-1 if device == "cpu" else 0)
    assert x.ndimension() == 2 and _t(1.0, device).ndimension() == 0
    assert (x.is_inference(), x.is_pinned(), x.is_shared()) == (False, False, False)


def test_H_and_equal(device):
    x = _r((2, 3), device)
    assert x.H.shape == (3, 2) and np.array_equal(x.H.numpy(), x.numpy().T)
    _grad_ok(lambda a: a.H * 2, x)
    s = _t(1.5, device)
    assert s.H is s
    with pytest.raises(gk.ShapeError, match="H"):
        _t([1.0, 2.0], device).H  # noqa: B018
    a = _t([1, 2], device, gk.int64)
    assert a.equal(_t([1.0, 2.0], device)) is True  # torch.equal compares the values
    assert a.equal(_t([1, 3], device, gk.int64)) is False
    assert a.equal(_t([[1, 2]], device, gk.int64)) is False
    assert _t([math.nan], device).equal(_t([math.nan], device)) is False
    with pytest.raises(gk.ArgumentTypeError, match="equal"):
        a.equal([1, 2])


# ----------------------------------------------------------------------------------- shape in place
def test_in_place_shape_changes_keep_memory_and_bump_the_version(device):
    x = _t(np.arange(6.0).reshape(2, 3), device)
    row = x[0]  # a view of x's memory
    v = x._version[0]
    assert x.t_() is x and x.shape == (3, 2) and x._version[0] > v
    x[0, 1] = 100.0  # row 1, column 0 before the transpose
    assert x.numpy()[0, 1] == 100.0 and row.numpy()[0] == 0.0
    assert x.transpose_(0, 1).shape == (2, 3) and x.numpy()[1, 0] == 100.0
    assert x.swapdims_(0, 1).shape == (3, 2) and x.swapaxes_(1, 0).shape == (2, 3)
    assert x.unsqueeze_(1).shape == (2, 1, 3) and x.unsqueeze_(-1).shape == (2, 1, 3, 1)
    assert x.squeeze_(0).shape == (2, 1, 3, 1) and x.squeeze_(1).shape == (2, 3, 1)  # PyTorch's dim rule
    assert x.squeeze_().shape == (2, 3)
    assert x.swapdims(0, 1).shape == (3, 2)
    with pytest.raises(gk.ShapeError, match="t"):
        _t(np.zeros((2, 2, 2)), device).t_()


def test_in_place_shape_changes_are_refused_in_the_graph(device):
    w = _r((2, 3), device)
    for call in (lambda: w.t_(), lambda: w.transpose_(0, 1), lambda: w.unsqueeze_(0), lambda: w.squeeze_()):
        with pytest.raises(gk.AutogradError, match="_"):
            call()
    assert w.shape == (2, 3)
    with gk.no_grad():
        w.t_()
    assert w.shape == (3, 2)


def test_resize_keeps_the_number_of_elements(device):
    x = _t(np.arange(6.0).reshape(2, 3), device)
    assert x.resize_(3, 2) is x and x.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert x.resize_((6,)).shape == (6,)
    assert x.resize_as_(_t(np.zeros((1, 6)), device)).shape == (1, 6)
    with pytest.raises(gk.InvalidArgumentError, match="resize_"):
        x.resize_(7)


# -------------------------------------------------------------------------------- shape out of place
def test_flips_rot90_and_narrow_copy(device):
    x = _t([[1.0, 2.0], [3.0, 4.0]], device)
    assert x.fliplr().tolist() == [[2.0, 1.0], [4.0, 3.0]]
    assert x.flipud().tolist() == [[3.0, 4.0], [1.0, 2.0]]
    assert x.rot90(1, [0, 1]).tolist() == [[2.0, 4.0], [1.0, 3.0]]  # torch.rot90
    assert x.rot90(-1, (0, 1)).tolist() == [[3.0, 1.0], [4.0, 2.0]]
    with pytest.raises(gk.ShapeError, match="fliplr"):
        _t([1.0], device).fliplr()
    y = _t(np.arange(6.0).reshape(2, 3), device)
    c = y.narrow_copy(1, 1, 2)
    assert c.tolist() == [[1.0, 2.0], [4.0, 5.0]]
    c[0, 0] = -1.0
    assert y.numpy()[0, 1] == 1.0  # a copy, not a view
    z = _r((3, 4), device)
    _grad_ok(lambda a: a.fliplr() * a.flipud(), z)
    _grad_ok(lambda a: a.rot90(1, (0, 1)) ** 2, z)
    _grad_ok(lambda a: a.narrow_copy(1, 1, 2) ** 2, z)


def test_hsplit_vsplit_dsplit_and_split_variants(device):
    x = _t(np.arange(12).reshape(3, 4), device, gk.int64)
    parts = x.hsplit([1, 3])
    assert isinstance(parts, tuple)
    assert [p.tolist() for p in parts] == [[[0], [4], [8]], [[1, 2], [5, 6], [9, 10]], [[3], [7], [11]]]
    assert [p.shape for p in x.hsplit(2)] == [(3, 2), (3, 2)]
    with pytest.raises(gk.InvalidArgumentError, match="hsplit"):
        x.hsplit(3)
    assert [p.tolist() for p in _t(np.arange(4), device, gk.int64).hsplit(2)] == [[0, 1], [2, 3]]
    assert [p.shape for p in x.vsplit(3)] == [(1, 4)] * 3
    assert [p.shape for p in _t(np.zeros((2, 2, 4)), device).dsplit([1])] == [(2, 2, 1), (2, 2, 3)]
    with pytest.raises(gk.ShapeError, match="dsplit"):
        x.dsplit(2)
    assert [p.shape for p in x.split_with_sizes([1, 3], dim=1)] == [(3, 1), (3, 3)]
    assert [p.shape for p in x.unsafe_split_with_sizes([2, 1])] == [(2, 4), (1, 4)]
    assert [p.shape for p in x.unsafe_chunk(2, 1)] == [(3, 2), (3, 2)]
    assert [p.shape for p in x.unsafe_split(2)] == [(2, 4), (1, 4)]
    z = _r((4, 4), device)
    _grad_ok(lambda a: gk.concatenate([p * (i + 1) for i, p in enumerate(a.hsplit(2))], 1), z)


def test_sum_to_size(device):
    x = _t([[1.0, 2.0], [3.0, 4.0]], device)
    assert x.sum_to_size(1, 2).tolist() == [[4.0, 6.0]]
    assert x.sum_to_size(2).tolist() == [4.0, 6.0]
    assert x.sum_to_size((2, 1)).tolist() == [[3.0], [7.0]]
    assert x.sum_to_size(2, 2).tolist() == x.tolist()
    with pytest.raises(gk.ShapeError, match="sum_to_size"):
        x.sum_to_size(3)
    _grad_ok(lambda a: a.sum_to_size(1, 3) ** 2, _r((2, 4, 3), device))


def test_take_and_take_along_dim(device):
    x = _t(np.arange(10.0), device)
    assert x.take(_t([-1, 0], device, gk.int64)).tolist() == [9.0, 0.0]
    m = _t(np.arange(6.0).reshape(2, 3), device)
    assert m.take(_t([[5, 0]], device, gk.int64)).tolist() == [[5.0, 0.0]]
    assert m.take_along_dim(_t([[0], [2]], device, gk.int64), 1).tolist() == [[0.0], [5.0]]
    assert m.take_along_dim(_t([[0, 2]], device, gk.int64), 1).tolist() == [[0.0, 2.0], [3.0, 5.0]]
    assert m.take_along_dim(_t([5, 0], device, gk.int64)).tolist() == [5.0, 0.0]
    with pytest.raises(gk.DTypeError, match="take"):
        x.take(_t([1.0], device))
    z = _r((3, 4), device)
    idx = _t([[0, 5, 5], [11, 2, 0]], device, gk.int64)
    _grad_ok(lambda a: a.take(idx) ** 2, z)
    _grad_ok(lambda a: a.take_along_dim(_t([[1], [0], [3]], device, gk.int64), 1) ** 2, z)


# -------------------------------------------------------------------------------------- scatter family
def test_index_put_and_put_values(device):
    z = _t(np.zeros((3, 3)), device)
    rows = _t([0, 0], device, gk.int64)
    out = z.index_put((rows,), _t(1.0, device), accumulate=True)
    assert out.tolist() == [[2.0] * 3, [0.0] * 3, [0.0] * 3] and z.numpy().sum() == 0  # out of place
    out = z.index_put((_t([0, 2], device, gk.int64), _t([1, 1], device, gk.int64)), _t([5.0, 6.0], device))
    assert out.numpy()[0, 1] == 5.0 and out.numpy()[2, 1] == 6.0 and out.numpy().sum() == 11.0
    with pytest.raises(gk.DTypeError, match="index_put"):
        z.index_put((rows,), _t(1.0, device, gk.float32))
    x = _t(np.arange(10.0), device)
    assert x.put(_t([-1, 0], device, gk.int64), _t([5.0, 6.0], device)).tolist() == [6.0, 1, 2, 3, 4, 5, 6, 7, 8, 5]
    y = _t(np.arange(4.0), device)
    assert y.put(_t([1, 1], device, gk.int64), _t([5.0, 6.0], device), accumulate=True).tolist() == [0, 12, 2, 3]
    with pytest.raises(gk.ShapeError, match="put"):
        y.put(_t([1, 2], device, gk.int64), _t([5.0], device))
    v = y._version[0]
    assert y.put_(_t([[0, 3]], device, gk.int64), _t([[7.0, 8.0]], device)) is y
    assert y.tolist() == [7.0, 1.0, 2.0, 8.0] and y._version[0] > v
    w = _r((4,), device)
    with pytest.raises(gk.AutogradError, match="put_"):
        w.put_(_t([0], device, gk.int64), _t([1.0], device))


def test_index_put_and_put_gradients(device):
    x, v = _r((3, 4), device), _r((2,), device)
    i, j = _t([0, 2], device, gk.int64), _t([3, 1], device, gk.int64)
    _grad_ok(lambda a, b: a.index_put((i, j), b) ** 2, x, v)
    _grad_ok(lambda a, b: a.index_put((i, j), b, accumulate=True) ** 2, x, v)
    rows, vr = _t([2, 0, 2], device, gk.int64), _r((3, 4), device)
    _grad_ok(lambda a, b: a.index_put((rows,), b, accumulate=True) ** 2, x, vr)
    _grad_ok(lambda a, b: a.put(_t([[11, 0]], device, gk.int64), b.reshape(1, 2)) ** 2, x, v)
    _grad_ok(lambda a, b: a.put(_t([5, 5], device, gk.int64), b, accumulate=True) ** 2, x, v)
    # second order through the recorded write: d/dx of (grad of sum(out**2)) is 2 off the written places
    xx = _r((3,), device)
    out = xx.index_put((_t([1], device, gk.int64),), _t([0.5], device))
    (g,) = gk.autograd.grad((out**2).sum(), [xx], create_graph=True)
    (h,) = gk.autograd.grad(g.sum(), [xx])
    assert h.tolist() == [2.0, 0.0, 2.0]


def test_select_slice_diagonal_scatter(device):
    z = _t(np.zeros((3, 3)), device)
    assert z.select_scatter(_t(np.ones(3), device), 0, -1).tolist() == [[0.0] * 3, [0.0] * 3, [1.0] * 3]
    assert z.slice_scatter(_t(np.ones((3, 1)), device), 1, 0, 1).tolist() == [[1.0, 0, 0]] * 3
    assert z.slice_scatter(_t(np.ones((2, 3)), device), start=0, step=2).tolist() == [[1.0] * 3, [0.0] * 3,
                                                                                      [1.0] * 3]
    assert z.diagonal_scatter(_t([1.0, 2.0], device), 1).tolist() == [[0, 1.0, 0], [0, 0, 2.0], [0, 0, 0]]
    assert z.diagonal_scatter(_t([1.0, 2.0, 3.0], device)).tolist() == [[1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]]
    for call in (lambda: z.select_scatter(_t(np.ones((1, 3)), device), 0, 0),
                 lambda: z.slice_scatter(_t([1.0], device), 1, 0, 1),
                 lambda: z.diagonal_scatter(_t(np.ones((2, 2)), device))):
        with pytest.raises(gk.ShapeError, match="scatter"):
            call()
    with pytest.raises(gk.IndexOutOfRangeError, match="select_scatter"):
        z.select_scatter(_t(np.ones(3), device), 0, 3)
    x = _r((2, 3, 4), device)
    _grad_ok(lambda a, s: a.select_scatter(s, 1, 2) ** 2, x, _r((2, 4), device))
    _grad_ok(lambda a, s: a.slice_scatter(s, 2, 1, None, 2) ** 2, x, _r((2, 3, 2), device))
    _grad_ok(lambda a, s: a.diagonal_scatter(s, -1, 2, 1) ** 2, x, _r((2, 3), device))
    _grad_ok(lambda a, s: a.diagonal_scatter(s, 0, 0, 2) ** 2, x, _r((3, 2), device))


def test_fill_diagonal_(device):
    z = _t(np.zeros((5, 3)), device)
    assert z.fill_diagonal_(1.0, wrap=True) is z
    assert z.tolist() == [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [0, 0, 0], [1.0, 0, 0]]
    assert _t(np.zeros((5, 3)), device).fill_diagonal_(2.0).numpy().sum() == 6.0
    assert _t(np.zeros((3, 3, 3)), device).fill_diagonal_(1).numpy().sum() == 3.0
    with pytest.raises(gk.ShapeError, match="fill_diagonal_"):
        _t(np.zeros((3, 4, 3)), device).fill_diagonal_(1)
    with pytest.raises(gk.AutogradError, match="fill_diagonal_"):
        _r((2, 2), device).fill_diagonal_(0.0)


def test_unfold(device):
    x = _t(np.arange(7.0), device)
    assert x.unfold(0, 3, 2).tolist() == [[0.0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert _t(5.0, device).unfold(0, 1, 1).tolist() == [5.0]
    m = _t(np.arange(12.0).reshape(3, 4), device)
    u = m.unfold(1, 2, 1)
    assert u.shape == (3, 3, 2) and u.tolist()[1] == [[4.0, 5.0], [5.0, 6.0], [6.0, 7.0]]
    assert m.unfold(0, 2, 1).shape == (2, 4, 2) and m.unfold(0, 2, 1).tolist()[1][3] == [7.0, 11.0]
    with pytest.raises(gk.ShapeError, match="unfold"):
        m.unfold(0, 4, 1)
    _grad_ok(lambda a: a.unfold(1, 3, 2) ** 2, _r((2, 7, 3), device))


def test_apply_and_map_on_the_cpu(device):
    x = _t(np.zeros((2, 3)), device)
    if device != "cpu":
        with pytest.raises(gk.DeviceError, match="apply_"):
            x.apply_(lambda v: v + 1)
        return
    assert x.apply_(lambda v: v + 1) is x and x.tolist() == [[1.0] * 3] * 2
    y = _t(np.zeros(3), device)
    assert y.map_(_t(np.ones(3), device), lambda a, b: a + b + 1).tolist() == [2.0, 2.0, 2.0]
    assert y.map_(_t(10.0, device), lambda a, b: a * b).tolist() == [20.0, 20.0, 20.0]


# ---------------------------------------------------------------------------------------- random fills
def test_random_fills_are_seeded_and_in_range(device):
    def draw(seed):
        gk.manual_seed(seed)
        z = _t(np.zeros(2000), device)
        return [z.clone().bernoulli_(0.3), z.clone().cauchy_(1.0, 2.0), z.clone().exponential_(2.0),
                z.clone().geometric_(0.25), z.clone().log_normal_(0.0, 0.5), z.clone().random_(3, 9)]

    first, again = draw(5), draw(5)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.numpy(), b.numpy())
    bern, cauchy, expo, geom, lognorm, rnd = (t.numpy() for t in first)
    assert set(np.unique(bern)) <= {0.0, 1.0} and abs(bern.mean() - 0.3) < 0.05
    assert abs(np.median(cauchy) - 1.0) < 0.3
    assert expo.min() >= 0 and abs(expo.mean() - 0.5) < 0.05
    assert geom.min() >= 1 and np.all(geom == np.floor(geom)) and abs(geom.mean() - 4.0) < 0.4
    assert lognorm.min() > 0 and abs(np.log(lognorm).std() - 0.5) < 0.05
    assert set(np.unique(rnd)) == set(range(3, 9))


def test_random_fill_dtypes_and_errors(device):
    gk.manual_seed(0)
    assert _t(np.zeros(50), device, gk.int32).geometric_(0.5).numpy().min() >= 1
    assert set(_t(np.zeros(50), device, gk.int32).bernoulli_(0.5).tolist()) <= {0, 1}
    assert set(_t(np.zeros(50), device).bernoulli_(_t(np.ones(50), device)).tolist()) == {1.0}
    assert set(_t(np.zeros(50), device, gk.bool).random_().tolist()) <= {False, True}
    assert _t(np.zeros(50), device, gk.float32).random_().numpy().max() <= 2**24
    assert set(_t(np.zeros(200), device, gk.int8).random_(5, 8).tolist()) <= {5, 6, 7}
    assert set(_t(np.zeros(200), device, gk.int64).random_(4).tolist()) <= {0, 1, 2, 3}
    assert _t(np.zeros(50), device, gk.uint8).random_().numpy().max() <= 255
    h = _t(np.zeros(50), device, gk.float16).random_(-5, 3).numpy()
    assert h.min() >= -5 and h.max() <= 2
    z = _t(np.zeros(3), device)
    bad = [(lambda: z.bernoulli_(1.5), "bernoulli_"), (lambda: z.exponential_(0), "exponential_"),
           (lambda: z.geometric_(1), "geometric_"), (lambda: z.geometric_(0), "geometric_"),
           (lambda: z.cauchy_(0, 0), "cauchy_"), (lambda: z.log_normal_(0, 0), "log_normal_"),
           (lambda: z.random_(5, 3), "random_"), (lambda: z.random_(5, 5), "random_"),
           (lambda: _t([0], device, gk.int8).random_(200), "random_"),
           (lambda: _t([0], device, gk.uint8).random_(-5, 3), "random_")]
    for call, name in bad:
        with pytest.raises(gk.GradkitError, match=name):
            call()
    for name in ("exponential_", "cauchy_", "log_normal_"):
        with pytest.raises(gk.DTypeError, match=name):
            getattr(_t([0], device, gk.int32), name)()
    w = _r((3,), device)
    for name in ("bernoulli_", "exponential_", "random_"):
        with pytest.raises(gk.AutogradError, match=name):
            getattr(w, name)()
    with gk.no_grad():
        w.exponential_()
    assert w.numpy().min() >= 0


# ------------------------------------------------------------------------------------ sort, statistics
def test_msort_kthvalue_mode(device):
    m = _t([[3, 1, 2], [0, 5, -1]], device, gk.int64)
    assert m.msort().tolist() == [[0, 1, -1], [3, 5, 2]]
    k = _t([3, 1, 1, 2, 1], device, gk.int64).kthvalue(4)
    assert isinstance(k, return_types.kthvalue) and (k.values.item(), k.indices.item()) == (2, 3)
    k = _t([3.0, 1, math.nan, 2], device).kthvalue(4)
    assert math.isnan(k.values.item()) and k.indices.item() == 2
    k = _t([[3.0, 1, 4], [1, 5, 9]], device).kthvalue(2, 1, keepdim=True)
    assert k.values.tolist() == [[3.0], [5.0]] and k.indices.tolist() == [[0], [1]]
    k = _t([[3.0, 1, 4], [1, 5, 9]], device).kthvalue(1, dim=0)
    assert k.values.tolist() == [1.0, 1.0, 4.0] and k.indices.tolist() == [1, 0, 0]
    with pytest.raises(gk.IndexOutOfRangeError, match="kthvalue"):
        _t([1.0, 2.0], device).kthvalue(3)
    s = _t(2.5, device).kthvalue(1)
    assert s.values.shape == () and s.indices.item() == 0
    md = _t([1, 1, 2, 2, 3, 3, 3, 0, 0, 0], device, gk.int64).mode()
    assert isinstance(md, return_types.mode) and (md.values.item(), md.indices.item()) == (0, 9)  # torch
    md = _t([[3.0, 1, 1, 2], [2, 2, 5, 5]], device).mode(1)
    assert md.values.tolist() == [1.0, 2.0] and md.indices.tolist() == [2, 1]  # torch
    md = _t([[3.0, 1, 1, 2], [2, 2, 5, 5]], device).mode(0, keepdim=True)
    assert md.values.tolist() == [[2.0, 1.0, 1.0, 2.0]] and md.indices.tolist() == [[1, 0, 0, 0]]  # torch
    x = _r((3, 5), device)
    _grad_ok(lambda a: a.msort() * _t(np.arange(15.0).reshape(3, 5), device), x)
    _grad_ok(lambda a: a.kthvalue(2, 1).values ** 2, x)
    _grad_ok(lambda a: a.mode(0).values ** 2, x)


def test_aminmax(device):
    r = _t([1.0, 2.0], device).aminmax()
    assert isinstance(r, return_types.aminmax) and (r.min.item(), r.max.item()) == (1.0, 2.0)
    r = _t([[1.0, 2.0], [0.0, 5.0]], device).aminmax(dim=1, keepdim=True)
    assert r.min.tolist() == [[1.0], [0.0]] and r.max.tolist() == [[2.0], [5.0]]
    assert _t([[1.0, 2.0]], device).aminmax(keepdim=True).max.shape == (1, 1)
    with pytest.raises(gk.ShapeError, match="aminmax"):
        _t([], device).aminmax()
    x = _r((3, 4), device)
    _grad_ok(lambda a: a.aminmax(dim=0).min * a.aminmax(dim=0).max, x)


def test_histc_histogram_bincount(device):
    x = _t([1.0, 2.0, 1.0, 7.0], device, gk.float32)
    h = x.histc(4)
    assert h.dtype == gk.float32 and h.tolist() == [3.0, 0.0, 0.0, 1.0]
    assert x.histc(4, 0, 3).tolist() == [0.0, 2.0, 1.0, 0.0]
    assert _t([2.0, 2.0], device).histc(4).tolist() == [0.0, 0.0, 2.0, 0.0]
    assert _t([], device).histc(3).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(gk.DTypeError, match="histc"):
        _t([1, 2], device, gk.int64).histc(4)
    with pytest.raises(gk.InvalidArgumentError, match="histc"):
        x.histc(4, 3, 1)
    hist, edges = x.histogram(3)
    assert hist.tolist() == [3.0, 0.0, 1.0] and edges.tolist() == [1.0, 3.0, 5.0, 7.0]
    hg = x.histogram(_t([0.0, 1.0, 5.0, 8.0], device, gk.float32))
    assert isinstance(hg, return_types.histogram) and hg.hist.tolist() == [0.0, 3.0, 1.0]
    assert hg.hist.dtype == gk.float32 and hg.bin_edges.dtype == gk.float32
    w = x.histogram(2, range=(0.0, 8.0), weight=_t([1.0, 2.0, 3.0, 4.0], device, gk.float32))
    assert w.hist.tolist() == [6.0, 4.0]
    i = _t([1, 2, 0], device, gk.int64)
    assert i.bincount(minlength=5).tolist() == [1, 1, 1, 0, 0]
    b = i.bincount(_t([0.5, 0.5, 1.0], device, gk.float32))
    assert b.dtype == gk.float32 and b.tolist() == [1.0, 0.5, 0.5]
    b = i.bincount(_t([1, 2, 3], device, gk.int32))
    assert b.dtype == gk.float64 and b.tolist() == [3.0, 1.0, 2.0]


def test_unique_and_unique_consecutive(device):
    out, inv, cnt = _t([3.0, 1, math.nan, 1, math.nan], device).unique(return_inverse=True, return_counts=True)
    assert out.tolist()[:2] == [1.0, 3.0] and all(math.isnan(v) for v in out.tolist()[2:])  # torch
    assert inv.tolist() == [1, 0, 2, 0, 3] and cnt.tolist() == [2, 1, 1, 1]
    m = _t([[3, 1], [3, 1], [0, 2]], device, gk.int64)
    out, inv, cnt = m.unique(dim=0, return_inverse=True, return_counts=True)
    assert out.tolist() == [[0, 2], [3, 1]] and inv.tolist() == [1, 1, 0] and cnt.tolist() == [1, 2]
    out, inv = _t([[3, 1], [3, 1]], device, gk.int64).unique(return_inverse=True)
    assert out.tolist() == [1, 3] and inv.tolist() == [[1, 0], [1, 0]]
    assert _t([2, 1, 2], device, gk.int64).unique(sorted=False).tolist() == [1, 2]
    v = _t([1, 1, 2, 2, 3, 1, 1, 2], device, gk.int64)
    out, inv, cnt = v.unique_consecutive(return_inverse=True, return_counts=True)
    assert out.tolist() == [1, 2, 3, 1, 2] and inv.tolist() == [0, 0, 1, 1, 2, 3, 3, 4]
    assert cnt.tolist() == [2, 2, 1, 2, 1]
    assert v.unique_consecutive().tolist() == [1, 2, 3, 1, 2]
    r = _t([[1, 1], [1, 1], [2, 3], [1, 1]], device, gk.int64)
    out, inv, cnt = r.unique_consecutive(dim=0, return_inverse=True, return_counts=True)
    assert out.tolist() == [[1, 1], [2, 3], [1, 1]] and inv.tolist() == [0, 0, 1, 2] and cnt.tolist() == [2, 1, 1]
    out = _t([[1, 1, 2], [1, 1, 3]], device, gk.int64).unique_consecutive(dim=1)
    assert out.tolist() == [[1, 2], [1, 3]]
    out, inv = _t([[1, 1], [2, 2]], device, gk.int64).unique_consecutive(return_inverse=True)
    assert out.tolist() == [1, 2] and inv.tolist() == [[0, 0], [1, 1]]
    assert _t([], device).unique_consecutive(return_counts=True)[1].tolist() == []


def test_nonzero_static(device):
    x = _t([[1, 0], [1, 1]], device, gk.int64)
    assert x.nonzero_static(size=5).tolist() == [[0, 0], [1, 0], [1, 1], [-1, -1], [-1, -1]]
    assert x.nonzero_static(size=1, fill_value=7).tolist() == [[0, 0]]
    assert x.nonzero_static(size=0).shape == (0, 2)
    assert _t([0.0, 2.0, 0.0, 3.0], device).nonzero_static(size=3, fill_value=9).tolist() == [[1], [3], [9]]


def test_in_place_cumulative_and_triangles(device):
    a = _t([1, 2], device, gk.int32)
    assert a.cumsum_(0) is a and a.tolist() == [1, 3] and a.dtype == gk.int32
    b = _t([[1.0, 2.0], [3.0, 4.0]], device)
    assert b.cumprod_(1).tolist() == [[1.0, 2.0], [3.0, 12.0]]
    assert b.cumsum_(dim=0).tolist() == [[1.0, 2.0], [4.0, 14.0]]
    c = _t(np.ones((3, 3)), device)
    assert c.tril_().tolist() == [[1.0, 0, 0], [1, 1, 0], [1, 1, 1]]
    d = _t(np.ones((3, 3)), device)
    assert d.triu_(1).tolist() == [[0, 1.0, 1], [0, 0, 1], [0, 0, 0]]
    with pytest.raises(gk.AutogradError, match="cumsum_"):
        _r((3,), device).cumsum_(0)


def test_byte_char_short(device):
    x = _t([1.7, 2.0, -1.0], device)
    assert x.byte().dtype == gk.uint8 and x.char().dtype == gk.int8 and x.short().dtype == gk.int16
    assert x.char().tolist() == [1, 2, -1] and x.short().tolist() == [1, 2, -1]

"""Mixed-precision normalisation and a few PyTorch keywords (session 20).

float16 input beside float32 weight, bias or running statistics (``model.half()`` activations next to float32
norm parameters): ``F.layer_norm``, ``F.group_norm``, ``F.batch_norm``, ``F.instance_norm``, ``F.rms_norm`` and
their layers return float16, computed in float32 (one rounding), the input's gradient in float16 and the
parameters' in float32, as PyTorch (compared with torch's CPU kernels where torch is installed); the running
statistics stay float32, updated from float32 sums. The float32/float64 paths are unchanged (layer_norm's one
node). ``rms_norm`` takes a weight of any float dtype and returns the input's.

PyTorch's keywords: ``dtype=`` (and the ``_stacklevel`` slot) of ``F.softmax``/``log_softmax``/``softmin``,
``Tensor.softmax``/``log_softmax`` and ``gk.softmax``/``log_softmax``; ``gk.tensordot(a, b, dims=)``;
``gk.cross(a, b, dim=)``.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit import amp, nn
from gradkit.errors import DTypeError, InvalidArgumentError, ShapeError
from gradkit.nn import functional as F

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


def _t(a, device, dtype=None, requires_grad=False):
    return gk.tensor(np.asarray(a) if dtype is None else np.asarray(a).astype(dtype), device=device,
                     requires_grad=requires_grad)


def _data(shape, seed=0, shift=300.0):
    # values near 300: a float16 mean would be off by up to 0.125 (a quarter of the unit-variance output)
    return np.random.default_rng(seed).standard_normal(shape) * 3 + shift


def _params(c, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(c) * 0.5 + 1, rng.standard_normal(c) * 0.5


# name: (input shape, channels of weight/bias, function(x, w, b, rm, rv) for gradkit, and for torch)
CASES = {
    "layer_norm": ((4, 6, 10), 10, lambda x, w, b, rm, rv: F.layer_norm(x, (10,), w, b),
                   lambda tF, x, w, b, rm, rv: tF.layer_norm(x, (10,), w, b)),
    "group_norm": ((4, 6, 10), 6, lambda x, w, b, rm, rv: F.group_norm(x, 3, w, b),
                   lambda tF, x, w, b, rm, rv: tF.group_norm(x, 3, w, b)),
    "batch_norm_train": ((4, 6, 10), 6, lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5),
                         lambda tF, x, w, b, rm, rv: tF.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5)),
    "batch_norm_eval": ((4, 6, 10), 6, lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5),
                        lambda tF, x, w, b, rm, rv: tF.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5)),
    "instance_norm": ((4, 6, 10), 6, lambda x, w, b, rm, rv: F.instance_norm(x, rm, rv, w, b),
                      lambda tF, x, w, b, rm, rv: tF.instance_norm(x, rm, rv, w, b)),
    "rms_norm": ((4, 6, 10), 10, lambda x, w, b, rm, rv: F.rms_norm(x, (10,), w),
                 lambda tF, x, w, b, rm, rv: tF.rms_norm(x, (10,), w)),
}


def _stats(c, device, dtype=np.float32):
    # eval-mode statistics a trained layer could have: means near the data's, variances near its
    return _t(np.full(c, 299.0), device, dtype), _t(np.linspace(8, 10, c), device, dtype)


def _run(name, device, xdtype, pdtype, seed=0):
    """The gradkit case on (x in xdtype, params in pdtype): output, grads of (x, w, b), running stats."""
    shape, c, fn, _ = CASES[name]
    # the same values in every dtype: the data and output gradient float16's, the parameters float32's
    x = _t(_data(shape, seed).astype(F16), device, xdtype, True)
    wv, bv = (p.astype(F32) for p in _params(c))
    w, b = _t(wv, device, pdtype, True), _t(bv, device, pdtype, True)
    rm, rv = _stats(c if name.startswith(("batch", "instance")) else 1, device)
    g = _t(np.random.default_rng(seed + 7).standard_normal(shape).astype(F16), device, xdtype)
    y = fn(x, w, b, rm, rv)
    y.backward(g)
    used_b = name != "rms_norm"
    return y, x.grad, w.grad, (b.grad if used_b else None), rm, rv


@pytest.mark.parametrize("name", list(CASES))
def test_float16_input_float32_params_give_float16_computed_in_float32(device, name):
    y, gx, gw, gb, rm, rv = _run(name, device, F16, F32)
    assert y.dtype == F16 and gx.dtype == F16 and gw.dtype == F32
    assert gb is None or gb.dtype == F32
    assert rm.dtype == F32 and rv.dtype == F32
    # reference: the float64 computation on the same values, rounded once
    ref = _run(name, device, F64, F64)
    np.testing.assert_allclose(y.numpy().astype(F64), ref[0].numpy().astype(F16).astype(F64), rtol=1e-3, atol=2e-3)
    for mine, want in ((gx, ref[1]), (gw, ref[2]), (gb, ref[3])):
        if mine is None:
            continue
        w64 = want.numpy()
        np.testing.assert_allclose(mine.numpy().astype(F64), w64, rtol=2e-3, atol=2e-3 * np.abs(w64).max())


@pytest.mark.parametrize("name", list(CASES))
def test_mixed_norms_match_torch(name):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    shape, c, fn, tfn = CASES[name]
    xv = _data(shape).astype(F16)
    wv, bv = _params(c)
    gv = np.random.default_rng(0 + 7).standard_normal(shape).astype(F16)
    ours = _run(name, "cpu", F16, F32)
    tx = torch.tensor(xv, requires_grad=True)
    tw = torch.tensor(wv.astype(F32), requires_grad=True)
    tb = torch.tensor(bv.astype(F32), requires_grad=True)
    stats_c = c if name.startswith(("batch", "instance")) else 1
    trm, trv = (torch.tensor(a.numpy()) for a in _stats(stats_c, "cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rms_norm: "Mismatch dtype ... Cannot dispatch to fused implementation"
        ty = tfn(tF, tx, tw, tb, trm, trv)
    ty.backward(torch.tensor(gv))
    assert str(ty.dtype) == "torch.float16" and str(tx.grad.dtype) == "torch.float16"
    assert str(tw.grad.dtype) == "torch.float32"
    np.testing.assert_allclose(ours[0].numpy().astype(F64), ty.detach().numpy().astype(F64), rtol=1e-3, atol=2e-3)
    # torch's CPU kernel sums the parameters' gradients less exactly (in float16 partial sums): loose there
    for mine, theirs in ((ours[1], tx.grad), (ours[2], tw.grad), (ours[3], tb.grad)):
        if mine is None:
            continue
        t = theirs.numpy().astype(F64)
        np.testing.assert_allclose(mine.numpy().astype(F64), t, rtol=3e-3, atol=3e-3 * np.abs(t).max())
    np.testing.assert_allclose(ours[4].numpy(), trm.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours[5].numpy(), trv.numpy(), rtol=1e-6, atol=1e-6)


def test_the_output_is_rounded_once(device):
    # float32 throughout then one rounding: what torch 2.14 gives (rounding x-hat first would differ by an ulp)
    x = _t(_data((8, 40), 3), device, F16)
    wv, bv = _params(40, 4)
    w, b = _t(wv, device, F32), _t(bv, device, F32)
    once = F.layer_norm(x.astype(F32), (40,), w, b).astype(F16)
    np.testing.assert_array_equal(F.layer_norm(x, (40,), w, b).numpy(), once.numpy())
    once = F.rms_norm(x.astype(F32), (40,), w).astype(F16)
    np.testing.assert_array_equal(F.rms_norm(x, (40,), w).numpy(), once.numpy())


def test_batch_norm_running_stats_from_float32_sums(device):
    xv = _data((16, 3, 20), 5).astype(F16)
    rm, rv = gk.zeros(3, device=device), gk.ones(3, device=device)
    F.batch_norm(_t(xv, device), rm, rv, None, None, True, 0.1, 1e-5)
    x64 = xv.astype(F64)
    assert rm.dtype == F32 and rv.dtype == F32
    np.testing.assert_allclose(rm.numpy(), 0.1 * x64.mean((0, 2)), rtol=1e-6)
    np.testing.assert_allclose(rv.numpy(), 0.9 + 0.1 * x64.var((0, 2), ddof=1), rtol=1e-5)


def test_float16_stats_with_float32_weight_and_float16_bias_are_computed_in_float32(device):
    # combinations PyTorch refuses on the CPU ("mixed dtype") are computed in float32 too, not refused
    x = _t(_data((4, 6, 5)), device, F16, True)
    w, b = _t(np.ones(6), device, F32, True), _t(np.zeros(6), device, F16, True)
    rm, rv = _t(np.zeros(6), device, F16), _t(np.ones(6), device, F16)
    for y in (F.batch_norm(x, rm, rv, w, b, True), F.group_norm(x, 2, w, b), F.instance_norm(x, rm, rv, w, b)):
        assert y.dtype == F16
        y.sum().backward()
        assert x.grad.dtype == F16 and w.grad.dtype == F32 and b.grad.dtype == F16
        x.grad = w.grad = b.grad = None
    assert rm.dtype == F16 and rv.dtype == F16


def test_same_dtype_paths_are_unchanged(device):
    x = _t(_data((3, 4, 8)), device, F32, True)
    w, b = _t(np.ones(8), device, F32, True), _t(np.zeros(8), device, F32, True)
    assert F.layer_norm(x, 8, w, b).grad_fn.name == "layer_norm"  # the one fused node
    x16 = _t(_data((3, 4, 8)), device, F16)
    assert F.layer_norm(x16, 8, w.astype(F16), b.astype(F16)).grad_fn.name == "layer_norm"
    # other mixes keep NumPy's promotion (PyTorch's CPU kernels refuse them)
    assert F.layer_norm(x, 8, w.astype(F16), b.astype(F16)).dtype == F32
    assert F.layer_norm(x.astype(F64), 8, w, b).dtype == F64


def test_rms_norm_weight_of_any_float_dtype_gives_the_input_dtype(device):
    torch = None
    try:
        import torch
    except ImportError:
        pass
    xv, wv = _data((3, 5), 2, 0.0), _params(5)[0]
    for xd, wd in ((F32, F16), (F64, F32), (F16, F64), (F32, F64)):
        x, w = _t(xv, device, xd, True), _t(wv, device, wd, True)
        y = F.rms_norm(x, (5,), w)
        y.sum().backward()
        assert y.dtype == xd and x.grad.dtype == xd and w.grad.dtype == wd
        if torch is not None and xd != F16:
            tx, tw = torch.tensor(x.numpy(), requires_grad=True), torch.tensor(w.numpy(), requires_grad=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ty = torch.nn.functional.rms_norm(tx, (5,), tw)
            ty.sum().backward()
            assert str(ty.dtype) == f"torch.{xd}" and str(tw.grad.dtype) == f"torch.{wd}"
            tol = 1e-6 if F32 in (xd,) else 1e-12
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol * 10, atol=tol)
            np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-3, atol=1e-3)
    with pytest.raises(DTypeError, match="float tensor"):
        F.rms_norm(_t(xv, device, F32), (5,), _t([1, 2, 3, 4, 5], device))


def test_rms_norm_float64_gradcheck_with_weight(device):
    x = _t(_data((2, 3, 4), 3, 0.5), device, F64, True)
    w = _t(_params(4)[0], device, F64, True)
    assert gk.gradcheck(lambda u, v: F.rms_norm(u, (4,), v), (x, w))
    assert gk.gradcheck(lambda u: F.rms_norm(u, (3, 4)), (x,))


def test_mixed_gradients_against_float64_second_order(device):
    x = _t(_data((3, 8), 6, 0.0), device, F16, True)
    w = _t(_params(8)[0], device, F32, True)
    (gx,) = gk.autograd.grad((F.layer_norm(x, 8, w) ** 2).sum(), (x,), create_graph=True)
    assert gx.dtype == F16
    (ggw,) = gk.autograd.grad(gx.astype(F32).sum(), (w,))
    assert ggw.dtype == F32
    x64, w64 = x.detach().astype(F64).requires_grad_(), w.detach().astype(F64).requires_grad_()
    (gx64,) = gk.autograd.grad((F.layer_norm(x64, 8, w64) ** 2).sum(), (x64,), create_graph=True)
    (ggw64,) = gk.autograd.grad(gx64.sum(), (w64,))
    np.testing.assert_allclose(ggw.numpy(), ggw64.numpy(), rtol=2e-2, atol=2e-2 * np.abs(ggw64.numpy()).max())


LAYERS = [
    (lambda d: nn.LayerNorm(8, device=d), (2, 3, 8)),
    (lambda d: nn.GroupNorm(2, 4, device=d), (2, 4, 5)),
    (lambda d: nn.BatchNorm1d(4, device=d), (6, 4)),
    (lambda d: nn.BatchNorm1d(4, device=d), (3, 4, 5)),
    (lambda d: nn.BatchNorm2d(4, device=d), (2, 4, 3, 3)),
    (lambda d: nn.BatchNorm3d(4, device=d), (2, 4, 2, 2, 2)),
    (lambda d: nn.InstanceNorm1d(4, affine=True, track_running_stats=True, device=d), (2, 4, 6)),
    (lambda d: nn.InstanceNorm2d(4, affine=True, device=d), (2, 4, 3, 3)),
    (lambda d: nn.InstanceNorm3d(4, track_running_stats=True, device=d), (2, 4, 2, 2, 2)),
    (lambda d: nn.RMSNorm(8, device=d), (2, 3, 8)),
]


@pytest.mark.parametrize("i", range(len(LAYERS)))
def test_layers_with_float32_parameters_take_float16_input(device, i):
    make, shape = LAYERS[i]
    m = make(device)
    for p in m.parameters():
        p._data[...] = p._backend.asarray(np.linspace(0.5, 1.5, p.size).reshape(p.shape).astype(F32))
    x = _t(_data(shape, i), device, F16, True)
    for training in (True, False):
        m.train(training)
        y = m(x)
        assert y.dtype == F16
        y.sum().backward()
        assert x.grad.dtype == F16
        assert all(p.grad.dtype == F32 for p in m.parameters())
        assert all(b.dtype == F32 for n, b in m.named_buffers() if b is not None and "num_batches" not in n)
        x.grad = None
        m.zero_grad()


@pytest.mark.parametrize("i", range(len(LAYERS)))
def test_layers_match_torch(i):
    """Against torch's layer on the input in float32 (rounded once to float16: what its mixed path stands for),
    and at least as close to it as torch's own mixed path (whose InstanceNorm with float32 running statistics
    is off by up to 0.03 on values near 300: it is computed in float16 there)."""
    torch = pytest.importorskip("torch")
    make, shape = LAYERS[i]
    m = make("cpu")
    tm = getattr(torch.nn, type(m).__name__)(*_torch_args(m), **_torch_kwargs(m))
    for (n, p), (tn, tp) in zip(m.named_parameters(), tm.named_parameters(), strict=True):
        assert n == tn
        p._data[...] = np.linspace(0.5, 1.5, p.size).reshape(p.shape)
        tp.data = torch.tensor(p.numpy())
    tm32 = copy.deepcopy(tm)
    xv = _data(shape, i).astype(F16)
    for training in (True, False):
        for mod in (m, tm, tm32):
            mod.train(training)
        y = m(gk.tensor(xv, device="cpu")).numpy().astype(F64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ty = tm(torch.tensor(xv))
        want = tm32(torch.tensor(xv).float()).detach().half().numpy().astype(F64)
        assert str(ty.dtype) == "torch.float16"
        np.testing.assert_allclose(y, want, rtol=1e-3, atol=2e-3)
        assert np.abs(y - want).max() <= np.abs(ty.detach().numpy().astype(F64) - want).max() + 2e-3
    for (n, b), (tn, tb) in zip(m.named_buffers(), tm32.named_buffers(), strict=True):
        assert n == tn
        if b is not None and "num_batches" not in n:
            np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6)


def _torch_args(m):
    name = type(m).__name__
    if name == "GroupNorm":
        return (m.num_groups, m.num_channels)
    if name in ("LayerNorm", "RMSNorm"):
        return (m.normalized_shape,)
    return (m.num_features,)


def _torch_kwargs(m):
    if type(m).__name__.startswith("InstanceNorm"):
        return {"affine": m.affine, "track_running_stats": m.track_running_stats}
    return {}


def test_mixed_norms_make_no_host_reads(device, monkeypatch):
    refuse_host_reads(device, monkeypatch)
    x = _t(_data((4, 6, 10)), device, F16, True)
    w6, b6 = gk.ones(6, device=device, requires_grad=True), gk.zeros(6, device=device, requires_grad=True)
    w10 = gk.ones(10, device=device, requires_grad=True)
    rm, rv = gk.zeros(6, device=device), gk.ones(6, device=device)
    for y in (F.layer_norm(x, 10, w10, w10), F.rms_norm(x, 10, w10), F.group_norm(x, 3, w6, b6),
              F.batch_norm(x, rm, rv, w6, b6, True), F.batch_norm(x, rm, rv, w6, b6, False),
              F.instance_norm(x, rm, rv, w6, b6)):
        assert y.dtype == F16
        y.sum().backward()


def test_empty_mixed_input(device):
    x = gk.zeros(0, 4, 3, dtype="float16", device=device, requires_grad=True)
    w = gk.ones(3, device=device, requires_grad=True)
    assert F.layer_norm(x, 3, w, w).dtype == F16
    assert F.group_norm(x, 2, gk.ones(4, device=device)).dtype == F16
    assert F.batch_norm(x, gk.zeros(4, device=device), gk.ones(4, device=device), None, None, True).dtype == F16


# ------------------------------------------------------------------ softmax dtype=
def test_softmax_dtype_casts_first_and_gradient_returns_in_the_input_dtype(device):
    xv = np.random.default_rng(0).standard_normal((3, 5)).astype(F16) * 4
    for fn, ref in ((lambda t: F.softmax(t, -1, dtype=gk.float32), F.softmax),
                    (lambda t: F.log_softmax(t, -1, 3, gk.float32), F.log_softmax),  # PyTorch's _stacklevel slot
                    (lambda t: F.softmin(t, -1, dtype="float32"), F.softmin),
                    (lambda t: t.softmax(-1, gk.float32), F.softmax),
                    (lambda t: t.log_softmax(dim=-1, dtype=gk.float32), F.log_softmax),
                    (lambda t: gk.softmax(t, -1, gk.float32), F.softmax),
                    (lambda t: gk.log_softmax(t, dim=-1, dtype=gk.float32), F.log_softmax)):
        x = _t(xv, device, requires_grad=True)
        y = fn(x)
        assert y.dtype == F32
        x32 = x.detach().astype(F32).requires_grad_()
        want = ref(x32, -1)
        np.testing.assert_array_equal(y.numpy(), want.numpy())
        g = _t(np.linspace(-1, 1, 15).reshape(3, 5), device, F32)
        y.backward(g)
        want.backward(g)
        assert x.grad.dtype == F16
        np.testing.assert_array_equal(x.grad.numpy(), x32.grad.numpy().astype(F16))


def test_softmax_dtype_matches_torch():
    torch = pytest.importorskip("torch")
    xv = np.random.default_rng(1).standard_normal((4, 6)).astype(F16) * 3
    for name in ("softmax", "log_softmax", "softmin"):
        x = gk.tensor(xv, requires_grad=True)
        tx = torch.tensor(xv, requires_grad=True)
        y = getattr(F, name)(x, 1, 3, gk.float64)
        ty = getattr(torch.nn.functional, name)(tx, 1, 3, torch.float64)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        assert str(tx.grad.dtype) == "torch.float16" and x.grad.dtype == F16
        np.testing.assert_allclose(x.grad.numpy().astype(F64), tx.grad.numpy().astype(F64), rtol=2e-3, atol=1e-3)
    ints = np.arange(4)
    want = torch.nn.functional.softmax(torch.tensor(ints), 0, dtype=torch.float32).numpy()
    np.testing.assert_allclose(F.softmax(gk.tensor(ints), 0, dtype=gk.float32).numpy(), want, rtol=1e-6)


def test_softmax_dtype_refusals_and_details(device):
    x = _t([1.0, 2.0, 3.0], device, F32)
    for fn in (F.softmax, F.log_softmax, F.softmin):
        with pytest.raises(DTypeError, match="floating dtype"):
            fn(x, 0, dtype=gk.int64)
    # an unsigned input is cast before softmin negates it (PyTorch's (-input) would wrap around)
    u = F.softmin(_t(np.arange(4, dtype=np.uint8), device), 0, dtype=gk.float32)
    np.testing.assert_allclose(u.numpy(), F.softmax(-_t(np.arange(4.0), device, F32), 0).numpy(), rtol=1e-6)
    assert F.softmax(x, 0, dtype=gk.float32).grad_fn is None  # nothing required grad
    y = gk.softmax(_t([[1.0, 2.0]], device, F16), axis=None, dtype=gk.float64)  # SciPy's all-elements form too
    assert y.dtype == F64 and abs(float(y.sum()) - 1) < 1e-12


def test_softmax_dtype_under_autocast(device):
    if device != "cuda":
        pytest.skip("softmax is on gk.autocast's float32 list on 'cuda' only")
    x = _t(np.ones((2, 3)), device, F16)
    with amp.autocast("cuda", dtype=gk.float16):
        assert F.softmax(x, -1).dtype == F32  # autocast's float32 list
        assert F.softmax(x, -1, dtype=gk.float16).dtype == F16  # an explicit dtype is kept, as PyTorch's
        assert gk.log_softmax(x, -1, gk.float64).dtype == F64


def test_softmax_float64_gradcheck_through_the_cast(device):
    x = _t(np.random.default_rng(2).standard_normal((2, 4)), device, F64, True)
    assert gk.gradcheck(lambda u: F.softmin(u, 1, dtype=gk.float64) * u, (x,))
    assert gk.gradcheck(lambda u: F.log_softmax(u, 1, 3, gk.float64) * u, (x,))


# ------------------------------------------------------------------ tensordot dims=, cross dim=
def test_tensordot_dims_keyword(device):
    rng = np.random.default_rng(3)
    av, bv = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 3, 5))
    a, b = _t(av, device, requires_grad=True), _t(bv, device, requires_grad=True)
    np.testing.assert_allclose(gk.tensordot(a, b, dims=([1, 2], [1, 0])).numpy(),
                               np.tensordot(av, bv, axes=([1, 2], [1, 0])))
    c = _t(rng.standard_normal((4, 5)), device)
    np.testing.assert_allclose(gk.tensordot(a, c, dims=1).numpy(), gk.tensordot(a, c, 1).numpy())
    np.testing.assert_allclose(gk.tensordot(a, c, dims=0).numpy(), np.tensordot(av, c.numpy(), 0))
    gk.tensordot(a, b, dims=[[1, 2], [1, 0]]).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.einsum("ijk,kjl->ijk", np.ones_like(av), bv))
    with pytest.raises(InvalidArgumentError, match="axes.*dims"):
        gk.tensordot(a, c, 1, dims=1)
    with pytest.raises(InvalidArgumentError):
        gk.tensordot(a, b, axes=([1], [1]), dims=([1, 2], [1, 0]))


def test_tensordot_dims_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    av, bv = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4, 5))
    for dims in (2, ([1, 2], [0, 1]), [[2], [1]], 0):
        np.testing.assert_allclose(gk.tensordot(gk.tensor(av), gk.tensor(bv), dims=dims).numpy(),
                                   torch.tensordot(torch.tensor(av), torch.tensor(bv), dims=dims).numpy(), rtol=1e-12)


def test_cross_dim_keyword(device):
    rng = np.random.default_rng(5)
    av, bv = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    a, b = _t(av, device, requires_grad=True), _t(bv, device)
    y = gk.cross(a, b, dim=0)
    np.testing.assert_allclose(y.numpy(), np.cross(av, bv, axis=0))
    np.testing.assert_allclose(gk.cross(a, b, dim=-2).numpy(), y.numpy())
    y.sum().backward()
    assert a.grad.shape == (3, 4)
    with pytest.warns(UserWarning, match="first dim of length 3") as caught:
        z = gk.cross(a, b, dim=None)  # PyTorch's deprecated default
    assert caught[0].filename == __file__  # the warning names the caller's line
    np.testing.assert_allclose(z.numpy(), y.numpy())
    with pytest.raises(InvalidArgumentError, match="axis=0.*dim=0"):
        gk.cross(a, b, axis=0, dim=0)
    with pytest.raises(InvalidArgumentError, match="axisa"):
        gk.cross(a, b, 0, dim=0)
    with pytest.raises(ShapeError):
        gk.cross(_t(np.ones((4, 2)), device), _t(np.ones((4, 2)), device), dim=1)  # no 2-vectors, as PyTorch
    # NumPy's form is unchanged: axis -1 by default, axisa positional, 2-vectors
    cv, dv = rng.standard_normal((4, 3)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(gk.cross(_t(cv, device), _t(cv[::-1].copy(), device)).numpy(), np.cross(cv, cv[::-1]))
    np.testing.assert_allclose(gk.cross(_t(cv, device), _t(dv, device), -1, 0).numpy(), np.cross(cv, dv, -1, 0))


def test_cross_dim_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    av, bv = rng.standard_normal((2, 3, 4)), rng.standard_normal((1, 3, 4))
    np.testing.assert_allclose(gk.cross(gk.tensor(av), gk.tensor(bv), dim=1).numpy(),
                               torch.cross(torch.tensor(av), torch.tensor(bv), dim=1).numpy(), rtol=1e-12)

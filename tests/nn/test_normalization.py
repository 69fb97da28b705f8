"""GroupNorm, InstanceNorm1d/2d/3d and LocalResponseNorm with their functional forms.

NumPy closed forms in float64, first- and second-order gradchecks on tiny shapes, running statistics in
training and evaluation modes, state-dict keys and round trips, argument errors, and, where torch is
importable, value, gradient and running-statistic parity with it (its weights copied in). The one-node
group_norm / instance_norm (float32/float64): against the ops it replaces (NumPy blocks of rows small and
default), central differences of first and second order, double backward, gradients for any inputs
requiring grad and their hand-over, float16 and mixed dtypes left composed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn.normalization import (
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LocalResponseNorm,
    group_norm,
    instance_norm,
    local_response_norm,
)


def _t(a, device: str, grad: bool = True) -> gk.Tensor:
    return gk.tensor(np.asarray(a, dtype="float64"), device=device, requires_grad=grad)


def _rand(*shape: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _gradchecks(fn, args, seed: int = 7) -> None:
    """First order in every argument, and second order in the first through a fixed random cotangent."""
    assert gk.gradcheck(fn, args)
    y = fn(*args)
    c = gk.tensor(_rand(*y.shape, seed=seed), device=y.device)
    assert gk.gradcheck(lambda *a: gk.grad(lambda u: (fn(u, *a[1:]) * c).sum())(a[0]), args)


def _group_norm_np(x: np.ndarray, groups: int, w=None, b=None, eps: float = 1e-5) -> np.ndarray:
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    out = ((g - g.mean(2, keepdims=True)) / np.sqrt(g.var(2, keepdims=True) + eps)).reshape(x.shape)
    shape = (-1,) + (1,) * (x.ndim - 2)
    if w is not None:
        out = out * w.reshape(shape)
    if b is not None:
        out = out + b.reshape(shape)
    return out


def _instance_norm_np(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    axes = tuple(range(2, x.ndim))
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


def _lrn_np(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    c = x.shape[1]
    sq = x * x
    div = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(ch - size // 2, 0), min(ch + (size - 1) // 2, c - 1)
        div[:, ch] = sq[:, lo : hi + 1].sum(1)
    return x / (k + alpha / size * div) ** beta


# ================================================================== group norm
def test_group_norm_values_and_gradients(device):
    x = _t(_rand(2, 4, 3, seed=0), device)
    w, b = _t(_rand(4, seed=1), device), _t(_rand(4, seed=2), device)
    np.testing.assert_allclose(group_norm(x, 2, w, b).numpy(),
                               _group_norm_np(x.numpy(), 2, w.numpy(), b.numpy()), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(group_norm(x, 4, eps=0.1).numpy(), _group_norm_np(x.numpy(), 4, eps=0.1),
                               rtol=1e-12, atol=1e-12)
    flat = _t(_rand(3, 6, seed=3), device)  # (N, C): each group is its channels
    np.testing.assert_allclose(group_norm(flat, 3).numpy(), _group_norm_np(flat.numpy(), 3), atol=1e-12)
    _gradchecks(lambda a, ww, bb: group_norm(a, 2, ww, bb, 1e-3), (x, w, b))
    assert group_norm(gk.zeros(0, 4, 2, device=device), 2).shape == (0, 4, 2)


def test_group_norm_module_and_errors(device):
    m = GroupNorm(2, 4)
    assert m.weight.dtype == np.float32 and list(m.state_dict()) == ["weight", "bias"]
    np.testing.assert_array_equal(m.weight.numpy(), 1)
    np.testing.assert_array_equal(m.bias.numpy(), 0)
    assert repr(m) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
    assert list(GroupNorm(2, 4, affine=False).state_dict()) == []
    no_bias = GroupNorm(2, 4, bias=False)
    assert no_bias.bias is None and list(no_bias.state_dict()) == ["weight"]
    m = GroupNorm(2, 4, dtype="float64").to(device)
    x = _t(_rand(3, 4, 2, 2, seed=4), device)
    np.testing.assert_allclose(m(x).numpy(), _group_norm_np(x.numpy(), 2), atol=1e-12)

    with pytest.raises(gk.InvalidArgumentError, match=r"GroupNorm: num_channels \(5\) must be divisible by "
                                                      r"num_groups \(2\)"):
        GroupNorm(2, 5)
    with pytest.raises(gk.InvalidArgumentError, match="GroupNorm: num_groups"):
        GroupNorm(0, 4)
    with pytest.raises(gk.ShapeError, match=r"GroupNorm: expected input of shape \(N, 4, \*\), got \(3, 6\)"):
        m(gk.zeros(3, 6, dtype="float64", device=device))
    with pytest.raises(gk.ShapeError, match=r"group_norm: the input's 6 channels .* divisible by num_groups \(4\)"):
        group_norm(gk.zeros(2, 6, device=device), 4)
    with pytest.raises(gk.ShapeError, match="group_norm: expected input of shape"):
        group_norm(gk.zeros(4, device=device), 2)
    with pytest.raises(gk.ShapeError, match=r"group_norm: weight has shape \(3,\), expected \(4,\)"):
        group_norm(gk.zeros(2, 4, device=device), 2, gk.ones(3, device=device))
    with pytest.raises(gk.DTypeError, match="group_norm: input must be a float tensor"):
        group_norm(gk.zeros(2, 4, dtype="int64", device=device), 2)


def _same_repr(m, ref):
    """gradkit's repr is PyTorch's; PyTorch before the norms' ``bias`` argument (2.11 has none) leaves it out."""
    mine = repr(m)
    if "bias=" not in repr(ref):
        mine = mine.replace(", bias=True", "")
    assert mine == repr(ref)


def test_group_norm_matches_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.GroupNorm(3, 6, eps=1e-4).double()
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
    m = GroupNorm(3, 6, eps=1e-4, dtype="float64")
    m.load_state_dict(ref.state_dict())
    xv = _rand(2, 6, 3, 2, seed=5)
    x = gk.tensor(xv, requires_grad=True)
    tx = torch.tensor(xv, requires_grad=True)
    cot = _rand(2, 6, 3, 2, seed=6)
    (m(x) * gk.tensor(cot)).sum().backward()
    y = ref(tx)
    (y * torch.tensor(cot)).sum().backward()
    np.testing.assert_allclose(m(x).numpy(), y.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
    back = torch.nn.GroupNorm(3, 6, eps=1e-4).double()  # and back into torch
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    np.testing.assert_array_equal(back.weight.detach().numpy(), m.weight.numpy())
    _same_repr(m, ref)


# ================================================================== instance norm
def test_instance_norm_values_gradients_and_running_stats(device):
    x = _t(_rand(2, 3, 4, seed=10), device)
    w, b = _t(_rand(3, seed=11), device), _t(_rand(3, seed=12), device)
    expected = _instance_norm_np(x.numpy()) * w.numpy()[:, None] + b.numpy()[:, None]
    np.testing.assert_allclose(instance_norm(x, weight=w, bias=b).numpy(), expected, rtol=1e-12, atol=1e-12)
    _gradchecks(lambda a, ww, bb: instance_norm(a, None, None, ww, bb, eps=1e-3), (x, w, b))

    rm, rv = gk.zeros(3, dtype="float64", device=device), gk.ones(3, dtype="float64", device=device)
    instance_norm(x, rm, rv, momentum=0.25)
    xv = x.numpy()
    np.testing.assert_allclose(rm.numpy(), 0.25 * xv.mean(2).mean(0), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * xv.var(2, ddof=1).mean(0), rtol=1e-12)
    out = instance_norm(x, rm, rv, w, b, use_input_stats=False)  # the running statistics, unchanged
    manual = (xv - rm.numpy()[:, None]) / np.sqrt(rv.numpy()[:, None] + 1e-5) * w.numpy()[:, None] + b.numpy()[:, None]
    np.testing.assert_allclose(out.numpy(), manual, rtol=1e-12)
    with pytest.raises(gk.InvalidArgumentError, match="instance_norm: running_mean and running_var are needed"):
        instance_norm(x, use_input_stats=False)
    with pytest.raises(gk.ShapeError, match="instance_norm: expected more than 1 spatial element"):
        instance_norm(gk.zeros(2, 3, 1, device=device))
    with pytest.raises(gk.ShapeError, match=r"instance_norm: running_mean has shape \(4,\), expected \(3,\)"):
        instance_norm(x, gk.zeros(4, dtype="float64", device=device))


def test_instance_norm_module_modes_and_state(device):
    m = InstanceNorm1d(3)
    assert m.weight is None and m.running_mean is None and list(m.state_dict()) == []
    assert repr(m) == "InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=False)"
    x = _t(_rand(2, 3, 5, seed=13), device)
    m = InstanceNorm1d(3).to(device)
    np.testing.assert_allclose(m(x).numpy(), _instance_norm_np(x.numpy()), atol=1e-12)
    m.eval()  # no running statistics: still the input's own
    np.testing.assert_allclose(m(x).numpy(), _instance_norm_np(x.numpy()), atol=1e-12)
    unbatched = m(x[0])
    assert unbatched.shape == (3, 5)
    np.testing.assert_allclose(unbatched.numpy(), _instance_norm_np(x.numpy()[:1])[0], atol=1e-12)

    t = InstanceNorm2d(3, momentum=0.5, affine=True, track_running_stats=True, dtype="float64").to(device)
    keys = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(t.state_dict()) == keys
    x4 = _t(_rand(2, 3, 2, 3, seed=14), device)
    t(x4)
    xv = x4.numpy().reshape(2, 3, -1)
    np.testing.assert_allclose(t.running_mean.numpy(), 0.5 * xv.mean(2).mean(0), rtol=1e-12)
    np.testing.assert_allclose(t.running_var.numpy(), 0.5 + 0.5 * xv.var(2, ddof=1).mean(0), rtol=1e-12)
    assert int(t.num_batches_tracked.numpy()) == 0  # kept for PyTorch's state dicts, never counted (as PyTorch)
    t.eval()
    before = t.running_mean.numpy().copy()
    expected = (x4.numpy() - before[:, None, None]) / np.sqrt(t.running_var.numpy()[:, None, None] + 1e-5)
    np.testing.assert_allclose(t(x4).numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(t.running_mean.numpy(), before)
    t(gk.zeros(2, 3, 1, 1, dtype="float64", device=device))  # one spatial element is fine in evaluation mode
    frozen = InstanceNorm1d(3, momentum=None, track_running_stats=True, dtype="float64").to(device)
    frozen(x)
    np.testing.assert_array_equal(frozen.running_mean.numpy(), 0)  # momentum=None: PyTorch passes 0
    assert InstanceNorm3d(2)(gk.ones(2, 2, 2, 2, device=device)).shape == (2, 2, 2, 2)
    no_bias = InstanceNorm1d(3, affine=True, bias=False)
    assert list(no_bias.state_dict()) == ["weight"]
    sd = t.state_dict()
    fresh = InstanceNorm2d(3, affine=True, track_running_stats=True, dtype="float64").to(device)
    fresh.load_state_dict(sd)
    np.testing.assert_array_equal(fresh.running_var.numpy(), t.running_var.numpy())
    del sd["num_batches_tracked"]  # optional, as for BatchNorm
    fresh.load_state_dict(sd)


def test_instance_norm_errors(device):
    m = InstanceNorm1d(3)
    with pytest.raises(gk.ShapeError, match=r"InstanceNorm1d: expected a 2-D \(C, ...\) or 3-D \(N, C, ...\) input, "
                                            r"got input of shape \(2, 3, 4, 5\)"):
        m(gk.zeros(2, 3, 4, 5, device=device))
    with pytest.raises(gk.ShapeError, match=r"InstanceNorm2d: expected 3 channels .* got input of shape "
                                            r"\(2, 4, 2, 2\)"):
        InstanceNorm2d(3, affine=True)(gk.zeros(2, 4, 2, 2, device=device))
    with pytest.warns(UserWarning, match="InstanceNorm1d: the input has 4 channels, not num_features=3"):
        m(gk.ones(2, 4, 3, device=device))
    with pytest.raises(gk.ShapeError, match="expected more than 1 spatial element"):
        m(gk.zeros(2, 3, 1, device=device))
    with pytest.raises(gk.InvalidArgumentError, match="InstanceNorm1d: momentum must be in"):
        InstanceNorm1d(3, momentum=2.0)
    with pytest.raises(gk.ArgumentTypeError, match="InstanceNorm1d: expected a Tensor"):
        m([[1.0, 2.0]])


def test_instance_norm_matches_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.InstanceNorm2d(3, momentum=0.3, affine=True, track_running_stats=True).double()
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
    m = InstanceNorm2d(3, momentum=0.3, affine=True, track_running_stats=True, dtype="float64")
    m.load_state_dict(ref.state_dict())
    for step, shape in enumerate([(2, 3, 4, 3), (3, 4, 2), (2, 3, 4, 3)]):  # the middle one unbatched
        xv = _rand(*shape, seed=20 + step)
        x, tx = gk.tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
        y, ty = m(x), ref(tx)
        cot = _rand(*shape, seed=30 + step)
        (y * gk.tensor(cot)).sum().backward()
        (ty * torch.tensor(cot)).sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
        for name in ("running_mean", "running_var"):
            np.testing.assert_allclose(getattr(m, name).numpy(), getattr(ref, name).numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-10)
    m.eval()
    ref.eval()
    xv = _rand(2, 3, 2, 2, seed=40)
    np.testing.assert_allclose(m(gk.tensor(xv)).numpy(), ref(torch.tensor(xv)).detach().numpy(), rtol=1e-10)
    back = torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True).double()
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    np.testing.assert_array_equal(back.running_var.numpy(), m.running_var.numpy())
    _same_repr(m, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert repr(InstanceNorm1d(4)) == repr(torch.nn.InstanceNorm1d(4))


# ================================================================== local response norm
@pytest.mark.parametrize("shape, size", [((2, 5, 3), 3), ((1, 4, 2, 2), 2), ((1, 3, 2, 1, 2), 5)])
def test_local_response_norm_values_and_gradients(device, shape, size):
    x = _t(_rand(*shape, seed=50), device)
    np.testing.assert_allclose(local_response_norm(x, size, 0.3, 0.75, 1.5).numpy(),
                               _lrn_np(x.numpy(), size, 0.3, 0.75, 1.5), rtol=1e-12)
    if len(shape) == 3:
        _gradchecks(lambda a: local_response_norm(a, size, 0.3, 0.75, 1.5), (x,))
    m = LocalResponseNorm(size, alpha=0.3, k=1.5)
    np.testing.assert_array_equal(m(x).numpy(), local_response_norm(x, size, 0.3, 0.75, 1.5).numpy())


def test_local_response_norm_module_errors_and_torch(device):
    assert repr(LocalResponseNorm(3)) == "LocalResponseNorm(3, alpha=0.0001, beta=0.75, k=1.0)"
    assert LocalResponseNorm(3).state_dict() == {}
    with pytest.raises(gk.ShapeError, match=r"local_response_norm: expected input of shape \(N, C, \*\) with at least "
                                            r"3 axes, got \(2, 3\)"):
        LocalResponseNorm(2)(gk.zeros(2, 3, device=device))
    with pytest.raises(gk.InvalidArgumentError, match="LocalResponseNorm: size must be an int >= 1"):
        LocalResponseNorm(0)
    torch = pytest.importorskip("torch")
    xv = _rand(2, 6, 3, 2, seed=60)
    x, tx = gk.tensor(xv, requires_grad=True), torch.tensor(xv, requires_grad=True)
    local_response_norm(x, 4, 0.5, 0.6, 2.0).sum().backward()
    y = torch.nn.functional.local_response_norm(tx, 4, 0.5, 0.6, 2.0)
    y.sum().backward()
    np.testing.assert_allclose(local_response_norm(x, 4, 0.5, 0.6, 2.0).numpy(), y.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    x = gk.tensor(_rand(2, 4, 3, seed=70), device=device, requires_grad=True)
    layers = [GroupNorm(2, 4, dtype="float64"), InstanceNorm1d(4, affine=True, track_running_stats=True,
                                                                dtype="float64"), LocalResponseNorm(3)]
    layers = [m.to(device) for m in layers]
    refuse_host_reads(device, monkeypatch)
    for m in layers:
        for training in (True, False):
            y = m.train(training)(x)
            (y * y).sum().backward()


# ================================================================== the fused group / instance norm node
def _composed_group_norm(x, groups, w=None, b=None, eps=1e-5):
    """group_norm as it was composed of ops before it became one node (the reference for the node)."""
    n = x.shape[0]
    grouped = gk.ops.reshape(x, (n, groups, x.size // (n * groups)))
    centred = grouped - gk.ops.mean(grouped, (2,), keepdims=True)
    out = centred / gk.ops.sqrt(gk.ops.mean(centred * centred, (2,), keepdims=True) + eps)
    out = gk.ops.reshape(out, x.shape)
    shape = (-1,) + (1,) * (x.ndim - 2)
    if w is not None:
        out = out * gk.ops.reshape(w, shape)
    if b is not None:
        out = out + gk.ops.reshape(b, shape)
    return out


@pytest.fixture(params=[64, 1 << 16], ids=["small-blocks", "blocks"])
def gn_blocks(request, monkeypatch):
    """NumPy's blocks of rows: 64 elements (several blocks, a short last one, a row longer than a block) or
    the default."""
    from gradkit.nn import normalization

    monkeypatch.setattr(normalization, "_GN_BLOCK", request.param)


_GN_SHAPES = [((3, 6), 3), ((3, 6), 1), ((3, 6), 6), ((2, 6, 5), 2), ((2, 6, 5), 6), ((3, 4, 3, 5), 1),
              ((3, 4, 3, 5), 2), ((5, 4, 1, 1), 4), ((2, 6, 2, 3, 4), 3), ((2, 6, 2, 3, 4), 6), ((7, 2, 9), 1)]


@pytest.mark.parametrize("xs, groups", _GN_SHAPES)
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_group_norm_node_matches_the_composed_ops(device, gn_blocks, xs, groups, affine, dtype):
    rng = np.random.default_rng(sum(xs) + groups)
    c = xs[1]
    x = gk.tensor(rng.standard_normal(xs) * 3 + 2, dtype=dtype, device=device, requires_grad=True)
    w = gk.tensor(rng.standard_normal(c), dtype=dtype, device=device, requires_grad=True) if affine[0] else None
    b = gk.tensor(rng.standard_normal(c), dtype=dtype, device=device, requires_grad=True) if affine[1] else None
    g = gk.tensor(rng.standard_normal(xs), dtype=dtype, device=device)
    y, want = group_norm(x, groups, w, b), _composed_group_norm(x, groups, w, b)
    assert y.grad_fn.name == "group_norm" and y.dtype == x.dtype and y.shape == x.shape
    tol = 1e-12 if dtype == "float64" else 3e-6
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=tol, atol=tol)
    with gk.no_grad():
        np.testing.assert_allclose(group_norm(x, groups, w, b).numpy(), y.numpy(), rtol=tol, atol=tol)
    inputs = [t for t in (x, w, b) if t is not None]
    got, exp = gk.autograd.grad(y, inputs, g), gk.autograd.grad(want, inputs, g)
    # x's gradient is a difference of terms of the size of g * w / std (a group of one element: all of it
    # cancels), each rounded: the tolerance scales with that size
    std = np.sqrt(x.numpy().astype("float64").reshape(xs[0], groups, -1).var(2) + 1e-5).min()
    scale = max(1.0, np.abs(g.numpy()).max() * (1.0 if w is None else np.abs(w.numpy()).max()) / std)
    for a, e, t in zip(got, exp, inputs, strict=True):
        assert a.shape == t.shape and a.dtype == t.dtype
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=tol, atol=20 * tol * scale)


@pytest.mark.parametrize("xs, groups", [((3, 6), 3), ((2, 4, 3), 1), ((2, 4, 3), 4), ((2, 4, 2, 3), 2),
                                        ((1, 2, 2, 1, 3), 2)])  # fmt: skip
@pytest.mark.parametrize("affine", [(True, True), (False, True), (True, False), (False, False)])
def test_group_norm_node_gradcheck_first_and_second_order(device, gn_blocks, xs, groups, affine):
    """float64 central differences: the node's closed-form VJPs, and its recorded backward (create_graph,
    composed of ops) differentiated again."""
    rng = np.random.default_rng(len(xs) + groups)
    c = xs[1]
    x = gk.tensor(rng.standard_normal(xs), device=device, requires_grad=True)
    args = [x]
    if affine[0]:
        args.append(gk.tensor(rng.standard_normal(c), device=device, requires_grad=True))
    if affine[1]:
        args.append(gk.tensor(rng.standard_normal(c), device=device, requires_grad=True))

    def fn(*a):
        rest = list(a[1:])
        w = rest.pop(0) if affine[0] else None
        b = rest.pop(0) if affine[1] else None
        return group_norm(a[0], groups, w, b, 0.1)

    assert fn(*args).grad_fn.name == "group_norm"
    v = gk.tensor(rng.standard_normal(xs), device=device)
    assert gk.gradcheck(fn, tuple(args))
    assert gk.gradcheck(lambda *a: gk.autograd.grad(fn(*a), list(a), v, create_graph=True), tuple(args))


def test_group_norm_node_double_backward_matches_the_composed_ops(device):
    rng = np.random.default_rng(40)
    x = gk.tensor(rng.standard_normal((3, 4, 5)), device=device, requires_grad=True)
    w = gk.tensor(rng.standard_normal(4), device=device, requires_grad=True)
    b = gk.tensor(rng.standard_normal(4), device=device, requires_grad=True)
    g = gk.tensor(rng.standard_normal((3, 4, 5)), device=device, requires_grad=True)
    results = []
    for f in (group_norm, _composed_group_norm):
        first = gk.autograd.grad(f(x, 2, w, b), [x, w, b], g, create_graph=True)
        total = sum(((t * t).sum() for t in first), gk.tensor(0.0, device=device))
        results.append([a.numpy() for a in gk.autograd.grad(total, [x, w, g])])
    for a, e in zip(*results, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("requires", [(True, True, True), (True, False, True), (True, True, False),
                                      (False, True, True), (False, True, False), (False, False, True),
                                      (True, False, False)])  # fmt: skip
def test_group_norm_node_grads_for_any_inputs_requiring_grad(device, gn_blocks, requires):
    rng = np.random.default_rng(41)
    vals = (rng.standard_normal((4, 6, 3)), rng.standard_normal(6), rng.standard_normal(6))
    g = gk.tensor(rng.standard_normal((4, 6, 3)), device=device)
    x, w, b = (gk.tensor(v, device=device, requires_grad=r) for v, r in zip(vals, requires, strict=True))
    group_norm(x, 3, w, b).backward(g)
    xs = [gk.tensor(v, device=device, requires_grad=True) for v in vals]
    want = gk.autograd.grad(_composed_group_norm(xs[0], 3, xs[1], xs[2]), xs, g)
    for t, e, r in zip((x, w, b), want, requires, strict=True):
        if r:
            np.testing.assert_allclose(t.grad.numpy(), e.numpy(), atol=1e-12)
        else:
            assert t.grad is None


def test_group_norm_node_grads_handed_over_for_the_same_gradient_only(device, gn_blocks):
    """x's rule makes w's and b's gradients too; they go only to the rules called next for that same
    gradient (not after a retained graph's backward with another gradient, or this one changed in place)."""
    rng = np.random.default_rng(42)
    x, w, b = (gk.tensor(rng.standard_normal(s), device=device, requires_grad=True) for s in ((3, 4, 5), 4, 4))
    g = gk.tensor(rng.standard_normal((3, 4, 5)), device=device)

    def expected(grad):
        xs = [t.detach().requires_grad_() for t in (x, w, b)]
        return [a.numpy() for a in gk.autograd.grad(_composed_group_norm(xs[0], 2, xs[1], xs[2]), xs, grad)]

    y = group_norm(x, 2, w, b)
    (dx,) = gk.autograd.grad(y, [x], g, retain_graph=True)
    g2 = g * 2.0
    dw, db = gk.autograd.grad(y, [w, b], g2, retain_graph=True)
    np.testing.assert_allclose(dx.numpy(), expected(g)[0], atol=1e-12)
    np.testing.assert_allclose(dw.numpy(), expected(g2)[1], atol=1e-12)
    np.testing.assert_allclose(db.numpy(), expected(g2)[2], atol=1e-12)
    gk.autograd.grad(y, [x], g, retain_graph=True)
    with gk.no_grad():
        g.mul_(3.0)
    dw3, db3 = gk.autograd.grad(y, [w, b], g, retain_graph=True)
    np.testing.assert_allclose(dw3.numpy(), expected(g)[1], atol=1e-12)
    np.testing.assert_allclose(db3.numpy(), expected(g)[2], atol=1e-12)


def test_group_norm_node_output_is_private_and_x_is_version_checked(device):
    x = gk.tensor(_rand(2, 4, 3, seed=43), device=device, requires_grad=True)
    y = group_norm(x, 2)
    with gk.no_grad():
        y.mul_(0.0)  # the output's buffer is the node's own: its saved statistics are untouched
    x.grad = None
    group_norm(x, 2).backward(gk.tensor(_rand(2, 4, 3, seed=44), device=device))
    assert np.isfinite(x.grad.numpy()).all()
    leaf = gk.tensor(_rand(2, 4, 3, seed=45), device=device, requires_grad=True)
    z = leaf * 1.0
    out = group_norm(z, 2)
    with gk.no_grad():
        z.add_(1.0)
    with pytest.raises(gk.AutogradError):
        out.sum().backward()


def test_group_norm_float16_and_mixed_dtypes_stay_composed(device):
    x = gk.tensor(_rand(2, 4, 3, seed=46), dtype="float16", device=device, requires_grad=True)
    w32 = gk.ones(4, dtype="float32", device=device, requires_grad=True)
    for out in (group_norm(x, 2), group_norm(x, 2, w32), group_norm(x.astype("float64"), 2, w32)):
        assert out.grad_fn.name != "group_norm"
    assert group_norm(x, 2, w32).dtype == np.float16


@pytest.mark.parametrize("xs", [(2, 3, 4), (3, 2, 3, 2), (1, 4, 2, 1, 3)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_instance_norm_training_node_matches_the_composed_ops(device, gn_blocks, xs, affine, dtype):
    rng = np.random.default_rng(sum(xs))
    c = xs[1]
    x = gk.tensor(rng.standard_normal(xs) * 2 - 1, dtype=dtype, device=device, requires_grad=True)
    w = gk.tensor(rng.standard_normal(c), dtype=dtype, device=device, requires_grad=True) if affine else None
    b = gk.tensor(rng.standard_normal(c), dtype=dtype, device=device, requires_grad=True) if affine else None
    rm = gk.tensor(rng.standard_normal(c), dtype=dtype, device=device)
    rv = gk.tensor(rng.random(c) + 0.5, dtype=dtype, device=device)
    rm0, rv0 = rm.numpy().copy(), rv.numpy().copy()
    y = instance_norm(x, rm, rv, w, b, momentum=0.3)
    assert y.grad_fn.name == "instance_norm"
    want = _composed_group_norm(x, c, w, b)
    tol = 1e-12 if dtype == "float64" else 3e-6
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=tol, atol=tol)
    xv = x.numpy().astype("float64").reshape(xs[0], c, -1)
    np.testing.assert_allclose(rm.numpy(), 0.7 * rm0 + 0.3 * xv.mean(2).mean(0), rtol=tol, atol=tol)
    np.testing.assert_allclose(rv.numpy(), 0.7 * rv0 + 0.3 * xv.var(2, ddof=1).mean(0), rtol=tol, atol=tol)
    g = gk.tensor(rng.standard_normal(xs), dtype=dtype, device=device)
    inputs = [t for t in (x, w, b) if t is not None]
    for a, e in zip(gk.autograd.grad(y, inputs, g), gk.autograd.grad(want, inputs, g), strict=True):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=tol, atol=20 * tol)
    if dtype == "float64":
        _gradchecks(lambda a, ww, bb: instance_norm(a, None, None, ww, bb, eps=0.1),
                    (x, *(inputs[1:] if affine else (None, None))))  # fmt: skip

"""Second order through more piecewise selections: zeros where PyTorch 2.14 gives zeros, None where it gives None.

``test_piecewise_second_order.py`` covers relu and its kin. Here: a gradient penalty ``P = |dF/dx|^2`` for
``F = sum(w * op(x + b))``, whose gradient ``dF/dx`` routes ``w`` by a selection that is piecewise constant in
``x + b``; ``P``'s derivative for ``b`` is therefore zero. Whether ``b`` is reached at all is PyTorch's choice,
op by op:

- max pooling (``max_pool1d``/``max_pool2d``): PyTorch's backward node keeps the pooled input, so ``b`` gets
  zeros; gradkit ties its scatter to the input with a zero derivative (``tied_record``) and gives zeros too;
- ``maximum``/``minimum``/``fmax``/``fmin``, ``clip``/``clamp`` with tensor bounds, the ``max``/``min``/``amax``/
  ``amin`` reductions (both forms), ``where``, ``sort`` and ``topk``: PyTorch's backward reads only a mask or
  indices, so ``b`` is unused (None, or an error without ``allow_unused``); gradkit likewise.

The closed form: with ``J`` the op's Jacobian at ``x + b`` (0/1 entries), ``dF/dx = J^T w``, so ``dP/dw = 2 J J^T w``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import functional as F

_RNG = np.random.default_rng(7)
C = _RNG.standard_normal((3, 4))  # the constant other operand (and the clip bounds' centre)
C4 = _RNG.standard_normal(4)


# ------------------------------------------------------------------ closed-form Jacobians (NumPy only)
def _diag(mask: np.ndarray) -> np.ndarray:
    return np.diag(mask.reshape(-1).astype(np.float64))


def _select(v: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """The Jacobian of an output whose element i is v.flat[picked[i]]."""
    j = np.zeros((picked.size, v.size))
    j[np.arange(picked.size), picked.reshape(-1)] = 1.0
    return j


def _along_rows(v: np.ndarray, cols: np.ndarray, axis: int) -> np.ndarray:
    """Flat indices of ``v`` (2-D) picked by ``cols`` (indices along ``axis``)."""
    if axis == 1:
        return np.arange(v.shape[0])[:, None] * v.shape[1] + cols
    return cols * v.shape[1] + np.arange(v.shape[1])[None, :]


def _max_broadcast_jac(v: np.ndarray) -> np.ndarray:
    """maximum(v, C4) with v (3, 1): output (i, j) is v[i] where v[i] > C4[j]."""
    j = np.zeros((v.shape[0] * C4.size, v.size))
    for i, k in itertools.product(range(v.shape[0]), range(C4.size)):
        j[i * C4.size + k, i] = float(v[i, 0] > C4[k])
    return j


def _pool_jac(v: np.ndarray, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> np.ndarray:
    """max pooling's Jacobian by brute force: each output copies its window's first maximum (padding -inf)."""
    size = v.shape[-len(kernel):]
    planes = v.reshape((-1, *size))
    axes = list(zip(size, kernel, stride, padding, dilation, strict=True))
    out = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in axes]
    rows = []
    for plane in range(planes.shape[0]):
        for o in itertools.product(*(range(n) for n in out)):
            best, where = -np.inf, None
            for kidx in itertools.product(*(range(k) for k in kernel)):
                pos = tuple(oi * s - p + ki * d for oi, ki, (_, _, s, p, d) in zip(o, kidx, axes, strict=True))
                inside = all(0 <= q < n for q, n in zip(pos, size, strict=True))
                if inside and (where is None or planes[(plane, *pos)] > best):
                    best, where = planes[(plane, *pos)], pos
            rows.append(plane * int(np.prod(size)) + int(np.ravel_multi_index(where, size)))
    return _select(v, np.array(rows))


def _pool(fn: str, shape: tuple, kernel: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
          indices: bool = False) -> tuple:
    """An entry of OPS for a max pooling of input ``shape`` (b gets zeros)."""
    dims = int(fn[-2])
    def ours(v):
        y = getattr(F, fn)(v, kernel, stride, padding, dilation, return_indices=indices)
        return y[0] if indices else y

    def theirs(torch, v):
        return getattr(torch.nn.functional, fn)(v, kernel, stride, padding, dilation)

    s = kernel if stride is None else stride
    return ours, theirs, shape, lambda v: _pool_jac(v, *((k,) * dims for k in (kernel, s, padding, dilation))), True


def _on(v: gk.Tensor, a: np.ndarray) -> gk.Tensor:
    """A constant operand on ``v``'s device."""
    return gk.tensor(a, device=v.device)


# name: (gradkit op, torch op (torch, v, consts), input shape, closed-form Jacobian, b gets zeros (else None))
OPS = {
    "max_pool1d": _pool("max_pool1d", (2, 3, 6), 2),
    "max_pool1d_overlapping": _pool("max_pool1d", (2, 2, 7), 3, 1, 1),
    "max_pool2d": _pool("max_pool2d", (2, 2, 4, 4), 2),
    "max_pool2d_padded_dilated": _pool("max_pool2d", (1, 2, 7, 7), 3, 2, 1, 2),
    "max_pool2d_unbatched": _pool("max_pool2d", (2, 4, 4), 2),
    "max_pool2d_return_indices": _pool("max_pool2d", (1, 2, 4, 4), 2, indices=True),
    "maximum": (lambda v: gk.maximum(v, _on(v, C)), lambda t, v: t.maximum(v, t.tensor(C)), (3, 4),
                lambda v: _diag(v > C), False),
    "maximum_broadcast": (lambda v: gk.maximum(v, _on(v, C4)), lambda t, v: t.maximum(v, t.tensor(C4)), (3, 1),
                          _max_broadcast_jac, False),
    "minimum": (lambda v: gk.minimum(v, _on(v, C)), lambda t, v: t.minimum(v, t.tensor(C)), (3, 4),
                lambda v: _diag(v < C), False),
    "fmax": (lambda v: gk.fmax(v, _on(v, C)), lambda t, v: t.fmax(v, t.tensor(C)), (3, 4),
             lambda v: _diag(v > C), False),
    "fmin": (lambda v: gk.fmin(v, _on(v, C)), lambda t, v: t.fmin(v, t.tensor(C)), (3, 4),
             lambda v: _diag(v < C), False),
    "clip_tensor_bounds": (lambda v: gk.clip(v, _on(v, C - 0.5), _on(v, C + 0.5)),
                           lambda t, v: t.clamp(v, t.tensor(C - 0.5), t.tensor(C + 0.5)), (3, 4),
                           lambda v: _diag((v >= C - 0.5) & (v <= C + 0.5)), False),
    "clamp_tensor_min": (lambda v: gk.clamp(v, min=_on(v, C)),
                         lambda t, v: t.clamp(v, min=t.tensor(C)), (3, 4), lambda v: _diag(v >= C), False),
    "max": (gk.max, lambda t, v: t.max(v), (3, 4), lambda v: _select(v, np.array([np.argmax(v)])), False),
    "min": (gk.min, lambda t, v: t.min(v), (3, 4), lambda v: _select(v, np.array([np.argmin(v)])), False),
    "max_axis": (lambda v: gk.max(v, 1), lambda t, v: t.amax(v, 1), (3, 4),
                 lambda v: _select(v, _along_rows(v, np.argmax(v, 1)[:, None], 1)), False),
    "max_dim": (lambda v: gk.max(v, dim=1).values, lambda t, v: t.max(v, dim=1).values, (3, 4),
                lambda v: _select(v, _along_rows(v, np.argmax(v, 1)[:, None], 1)), False),
    "min_dim": (lambda v: gk.min(v, dim=0).values, lambda t, v: t.min(v, dim=0).values, (3, 4),
                lambda v: _select(v, _along_rows(v, np.argmin(v, 0)[None, :], 0)), False),
    "amax": (lambda v: gk.amax(v, dim=1), lambda t, v: t.amax(v, dim=1), (3, 4),
             lambda v: _select(v, _along_rows(v, np.argmax(v, 1)[:, None], 1)), False),
    "amin": (lambda v: gk.amin(v, axis=0), lambda t, v: t.amin(v, dim=0), (3, 4),
             lambda v: _select(v, _along_rows(v, np.argmin(v, 0)[None, :], 0)), False),
    "where": (lambda v: gk.where(_on(v, C > 0), v, 0.0),
              lambda t, v: t.where(t.tensor(C > 0), v, 0.0), (3, 4), lambda v: _diag(C > 0), False),
    "sort": (lambda v: gk.sort(v, dim=1).values, lambda t, v: t.sort(v, dim=1).values, (3, 4),
             lambda v: _select(v, _along_rows(v, np.argsort(v, 1, kind="stable"), 1)), False),
    "topk": (lambda v: gk.topk(v, 2, dim=1).values, lambda t, v: t.topk(v, 2, dim=1).values, (3, 4),
             lambda v: _select(v, _along_rows(v, np.argsort(-v, 1, kind="stable")[:, :2], 1)), False),
}
TIED = sorted(n for n, op in OPS.items() if op[4])
UNTIED = sorted(n for n, op in OPS.items() if not op[4])


def _leaves(device: str, name: str) -> tuple:
    """x, b (the bias before the op) and w (the weights of its output), float64 leaves."""
    ours, _, shape, _, _ = OPS[name]
    rng = np.random.default_rng(3)
    x = gk.tensor(rng.standard_normal(shape), device=device, requires_grad=True)
    b = gk.tensor(rng.standard_normal(shape) * 0.5, device=device, requires_grad=True)
    w = gk.tensor(rng.standard_normal(ours(x + b).shape), device=device, requires_grad=True)
    return x, b, w


def _penalty(name: str, x: gk.Tensor, b: gk.Tensor, w: gk.Tensor) -> gk.Tensor:
    (gx,) = gk.autograd.grad((OPS[name][0](x + b) * w).sum(), x, create_graph=True)
    return (gx * gx).sum()


def _closed_form_dw(name: str, x: gk.Tensor, b: gk.Tensor, w: gk.Tensor) -> np.ndarray:
    j = OPS[name][3](x.numpy() + b.numpy())
    return (2 * j @ (j.T @ w.numpy().reshape(-1))).reshape(w.shape)


@pytest.mark.parametrize("name", TIED)
def test_a_bias_before_max_pooling_gets_zeros(device, name):
    x, b, w = _leaves(device, name)
    gw, gb = gk.autograd.grad(_penalty(name, x, b, w), [w, b])
    np.testing.assert_allclose(gw.numpy(), _closed_form_dw(name, x, b, w), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(gb.numpy(), np.zeros(b.shape))  # the routing is constant in b: zero
    assert gb.dtype == b.dtype and gb.device == b.device


@pytest.mark.parametrize("name", UNTIED)
def test_a_bias_before_a_mask_or_index_selection_is_unused(device, name):
    x, b, w = _leaves(device, name)
    gw, gb = gk.autograd.grad(_penalty(name, x, b, w), [w, b], allow_unused=True)
    np.testing.assert_allclose(gw.numpy(), _closed_form_dw(name, x, b, w), rtol=1e-13, atol=1e-13)
    assert gb is None  # as PyTorch's: its backward reads only a mask or indices, not the input
    with pytest.raises(gk.AutogradError, match="not part of the graph"):
        gk.autograd.grad(_penalty(name, x, b, w), [b])


@pytest.mark.parametrize("name", sorted(OPS))
def test_the_penaltys_gradients_match_central_differences(device, name):
    x, b, w = _leaves(device, name)
    assert gk.gradcheck(lambda w_, b_: _penalty(name, x, b_, w_), (w, b), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_a_first_order_backward_through_max_pooling_records_nothing(device):
    x, b, w = _leaves(device, "max_pool2d")
    (gx,) = gk.autograd.grad((F.max_pool2d(x + b, 2) * w).sum(), x)
    assert gx.grad_fn is None and not gx.requires_grad


def test_a_constant_output_gradient_still_reaches_the_input(device):
    """F = sum(max_pool(x + b)): dF/dx is a constant scatter of ones, yet, as PyTorch's, it is recorded with an
    edge to the pooled input, so b is reached (with zeros) rather than unused."""
    x, b, _ = _leaves(device, "max_pool2d")
    (gx,) = gk.autograd.grad(F.max_pool2d(x + b, 2).sum(), x, create_graph=True)
    assert gx.requires_grad
    (gb,) = gk.autograd.grad((gx * gx).sum(), [b])
    np.testing.assert_array_equal(gb.numpy(), np.zeros(b.shape))


def _conv_critic(nn, device=None):
    kw = {} if device is None else {"dtype": "float64", "device": device}
    return nn.Sequential(nn.Conv2d(1, 2, 3, **kw), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 1, **kw))


def _conv_penalty(critic, x, grad):
    (gx,) = grad(critic(x).sum(), x, create_graph=True)
    return (((gx * gx).sum((1, 2, 3)) - 1.0) ** 2).mean()


def test_a_conv_bias_before_max_pool2d_gets_zeros(device):
    gk.manual_seed(0)
    critic = _conv_critic(gk.nn, device)
    x = gk.tensor(np.random.default_rng(4).standard_normal((3, 1, 6, 6)), device=device, requires_grad=True)
    conv_w, conv_b, lin_w, lin_b = critic.parameters()
    g_conv_w, g_conv_b, g_lin_w = gk.autograd.grad(_conv_penalty(critic, x, gk.autograd.grad), [conv_w, conv_b, lin_w])
    np.testing.assert_array_equal(g_conv_b.numpy(), np.zeros(2))
    assert np.abs(g_conv_w.numpy()).sum() > 0 and np.abs(g_lin_w.numpy()).sum() > 0
    with pytest.raises(gk.AutogradError, match="not part of the graph"):  # as PyTorch: the last bias is unused
        gk.autograd.grad(_conv_penalty(critic, x, gk.autograd.grad), [lin_b])


# ------------------------------------------------------------------ against PyTorch
@pytest.mark.parametrize("name", sorted(OPS))
def test_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    x, b, w = _leaves("cpu", name)
    gw, gb = gk.autograd.grad(_penalty(name, x, b, w), [w, b], allow_unused=True)
    tx, tb, tw = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, b, w))
    (tgx,) = torch.autograd.grad((OPS[name][1](torch, tx + tb) * tw).sum(), tx, create_graph=True)
    tgw, tgb = torch.autograd.grad((tgx * tgx).sum(), [tw, tb], allow_unused=True)
    np.testing.assert_allclose(gw.numpy(), tgw.numpy(), rtol=1e-13, atol=1e-13)
    assert (gb is None) == (tgb is None) == (not OPS[name][4])
    if gb is not None:
        np.testing.assert_array_equal(gb.numpy(), tgb.numpy())


def test_a_conv_critic_with_max_pool2d_matches_pytorch():
    torch = pytest.importorskip("torch")
    gk.manual_seed(0)
    ours = _conv_critic(gk.nn, "cpu")
    theirs = _conv_critic(torch.nn).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    xd = np.random.default_rng(4).standard_normal((3, 1, 6, 6))
    grads = gk.autograd.grad(_conv_penalty(ours, gk.tensor(xd, device="cpu", requires_grad=True), gk.autograd.grad),
                             list(ours.parameters())[:3])
    t_grads = torch.autograd.grad(_conv_penalty(theirs, torch.tensor(xd, requires_grad=True), torch.autograd.grad),
                                  list(theirs.parameters())[:3])
    for g, tg in zip(grads, t_grads, strict=True):
        np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-12, atol=1e-14)


def test_third_order_through_max_pool2d_matches_pytorch():
    """The penalty's gradient for w, itself recorded and differentiated: b is reached (zeros) in both."""
    torch = pytest.importorskip("torch")
    x, b, w = _leaves("cpu", "max_pool2d_padded_dilated")
    u = np.random.default_rng(5).standard_normal(w.shape)
    (gw,) = gk.autograd.grad(_penalty("max_pool2d_padded_dilated", x, b, w), [w], create_graph=True)
    hw, hb = gk.autograd.grad((gw * gk.tensor(u, device="cpu")).sum(), [w, b])
    tx, tb, tw = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, b, w))
    op = OPS["max_pool2d_padded_dilated"][1]
    (tgx,) = torch.autograd.grad((op(torch, tx + tb) * tw).sum(), tx, create_graph=True)
    (tgw,) = torch.autograd.grad((tgx * tgx).sum(), [tw], create_graph=True)
    thw, thb = torch.autograd.grad((tgw * torch.tensor(u)).sum(), [tw, tb])
    np.testing.assert_allclose(hw.numpy(), thw.numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(hb.numpy(), thb.numpy())
    np.testing.assert_array_equal(hb.numpy(), np.zeros(b.shape))

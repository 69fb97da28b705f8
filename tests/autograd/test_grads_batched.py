"""gk.autograd.grad(..., is_grads_batched=True): one vector-Jacobian product per row of grad_outputs."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit import autograd


def t64(values, device, requires_grad=True):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def f(x):
    """R^3 -> R^3: (x0 x1, sin x2, x0^2 x2)."""
    return gk.stack([x[0] * x[1], gk.sin(x[2]), x[0] ** 2 * x[2]])


def f_jacobian(a):
    x0, x1, x2 = a
    return np.array([[x1, x0, 0.0], [0.0, 0.0, np.cos(x2)], [2 * x0 * x2, 0.0, x0**2]])


def central_jacobian(fn, a, eps=1e-6):
    cols = []
    for k in range(a.size):
        e = np.zeros_like(a)
        e[k] = eps
        cols.append((fn(a + e) - fn(a - e)) / (2 * eps))
    return np.stack(cols, axis=-1)


X0 = [0.7, -1.3, 0.4]


# ------------------------------------------------------------------ values
def test_jacobian_matches_rows_closed_form_and_finite_differences(device):
    x = t64(X0, device)
    y = f(x)
    eye = t64(np.eye(3), device, False)
    (jac,) = autograd.grad(y, x, eye, retain_graph=True, is_grads_batched=True)
    assert jac.shape == (3, 3) and jac.device == x.device and jac.dtype == np.float64
    rows = [autograd.grad(y, x, eye[i], retain_graph=True)[0].numpy() for i in range(3)]
    np.testing.assert_allclose(jac.numpy(), np.stack(rows), rtol=0, atol=0)
    np.testing.assert_allclose(jac.numpy(), f_jacobian(np.array(X0)), rtol=1e-12)
    numeric = central_jacobian(lambda a: f(gk.tensor(a)).numpy(), np.array(X0))
    np.testing.assert_allclose(jac.numpy(), numeric, rtol=1e-6, atol=1e-8)
    assert x.grad is None


def test_several_outputs_and_inputs_with_matrix_shapes(device):
    rng = np.random.default_rng(0)
    a, w = t64(rng.normal(size=(2, 3)), device), t64(rng.normal(size=(3, 4)), device)
    y1, y2 = a @ w, (a * a).sum(axis=1)  # shapes (2, 4) and (2,)
    v1, v2 = rng.normal(size=(5, 2, 4)), rng.normal(size=(5, 2))
    ga, gw = autograd.grad([y1, y2], [a, w], [t64(v1, device, False), v2], is_grads_batched=True)
    assert ga.shape == (5, 2, 3) and gw.shape == (5, 3, 4)
    an, wn = a.numpy(), w.numpy()
    np.testing.assert_allclose(ga.numpy(), v1 @ wn.T + 2 * v2[:, :, None] * an, rtol=1e-12)
    np.testing.assert_allclose(gw.numpy(), np.einsum("ij,bik->bjk", an, v1), rtol=1e-12)


def test_dict_inputs_scalar_output_and_seed_dtype_cast():
    x = t64([1.0, 2.0], None)
    s = (x * x).sum()  # a 0-d output: grad_outputs of shape (B,)
    grads = autograd.grad(s, {"x": x}, np.array([1.0, 3.0], dtype=np.float32), is_grads_batched=True)
    assert list(grads) == ["x"] and grads["x"].dtype == np.float64
    np.testing.assert_allclose(grads["x"].numpy(), [[2.0, 4.0], [6.0, 12.0]])


def test_hessian_rows_and_full_hessian_from_a_batched_grad(device):
    x = t64(X0, device)
    s = x[0] ** 2 * x[1] + gk.exp(x[1] * x[2])
    x0, x1, x2 = X0
    e = np.exp(x1 * x2)
    hess = np.array([[2 * x1, 2 * x0, 0.0],
                     [2 * x0, x2 * x2 * e, e + x1 * x2 * e],
                     [0.0, e + x1 * x2 * e, x1 * x1 * e]])
    (g,) = autograd.grad(s, x, create_graph=True)
    (rows,) = autograd.grad(g, x, t64(np.eye(3)[[2, 0]], device, False), retain_graph=True, is_grads_batched=True)
    np.testing.assert_allclose(rows.numpy(), hess[[2, 0]], rtol=1e-12)
    # grad of a batched grad: a (1, 3) batched gradient, then its batched gradient is the Hessian
    (gb,) = autograd.grad(s, x, t64([1.0], device, False), create_graph=True, is_grads_batched=True)
    assert gb.shape == (1, 3) and gb.requires_grad
    (h,) = autograd.grad(gb, x, t64(np.eye(3).reshape(3, 1, 3), device, False), is_grads_batched=True)
    np.testing.assert_allclose(h.numpy(), hess, rtol=1e-12)


# ------------------------------------------------------------------ create_graph
def test_create_graph_results_are_differentiable_in_inputs_and_seeds():
    rng = np.random.default_rng(1)
    v = t64(rng.normal(size=(2, 3)), None)

    def batched_vjp(x, v):
        (g,) = autograd.grad(gk.tanh(x) * x, x, v, create_graph=True, is_grads_batched=True)
        return g * g  # not linear in v: the check sees the seed's gradient too

    assert gk.gradcheck(batched_vjp, (t64(X0, None), v))

    def jacobian_sum(x):
        (jac,) = autograd.grad(f(x), x, gk.eye(3, dtype=gk.float64), create_graph=True, is_grads_batched=True)
        return (jac * jac).sum()

    assert gk.gradcheck(jacobian_sum, (t64(X0, None),))


def test_no_create_graph_gives_plain_tensors():
    x = t64(X0, None)
    (jac,) = autograd.grad(f(x), x, gk.eye(3, dtype=gk.float64), is_grads_batched=True)
    assert not jac.requires_grad and jac.grad_fn is None


# ------------------------------------------------------------------ retain_graph
@pytest.mark.parametrize("batch", [1, 3])
def test_the_last_row_frees_the_graph_unless_retained(device, batch):
    x = t64(X0, device)
    y = f(x)
    seeds = t64(np.eye(3)[:batch], device, False)
    autograd.grad(y, x, seeds, is_grads_batched=True)
    with pytest.raises(gk.AutogradError, match="a second time"):
        autograd.grad(y, x, t64(np.ones(3), device, False))
    with pytest.raises(gk.AutogradError, match="a second time"):
        autograd.grad(y, x, seeds, is_grads_batched=True)


def test_retain_graph_and_create_graph_keep_the_graph(device):
    x = t64(X0, device)
    y = f(x)
    eye = t64(np.eye(3), device, False)
    autograd.grad(y, x, eye, retain_graph=True, is_grads_batched=True)
    autograd.grad(y, x, eye, create_graph=True, is_grads_batched=True)  # retain_graph defaults to create_graph
    (g,) = autograd.grad(y, x, t64(np.ones(3), device, False))
    np.testing.assert_allclose(g.numpy(), f_jacobian(np.array(X0)).sum(axis=0), rtol=1e-12)


def test_retained_grads_and_leaf_grads_are_left_alone():
    x = t64(X0, None)
    h = x * 2
    h.retain_grad()
    autograd.grad(h * h, x, gk.eye(3, dtype=gk.float64), is_grads_batched=True)
    assert h.grad is None and x.grad is None


def test_an_empty_batch_gives_empty_gradients_and_frees_the_graph():
    x, w = t64(X0, None), t64([1.0], None)
    y = f(x)
    gx, gw = autograd.grad(y, [x, w], np.zeros((0, 3)), materialize_grads=True, is_grads_batched=True)
    assert gx.shape == (0, 3) and gw.shape == (0, 1)
    with pytest.raises(gk.AutogradError, match="a second time"):
        autograd.grad(y, x, np.ones(3))


# ------------------------------------------------------------------ unused inputs
def test_unused_inputs_raise_give_none_or_batched_zeros(device):
    x, w = t64(X0, device), t64([[1.0, 2.0]], device)
    y = f(x)
    eye = t64(np.eye(3)[:2], device, False)
    with pytest.raises(gk.AutogradError, match=r"inputs\[1\].*allow_unused=True"):
        autograd.grad(y, [x, w], eye, retain_graph=True, is_grads_batched=True)
    gx, gw = autograd.grad(y, [x, w], eye, retain_graph=True, allow_unused=True, is_grads_batched=True)
    assert gx.shape == (2, 3) and gw is None
    gx, gw = autograd.grad(y, [x, w], eye, materialize_grads=True, is_grads_batched=True)
    assert gw.shape == (2, 1, 2) and gw.device == w.device  # PyTorch gives unbatched zeros here
    np.testing.assert_array_equal(gw.numpy(), 0.0)


# ------------------------------------------------------------------ errors
def test_bad_grad_outputs_are_refused_before_any_pass():
    x = t64(X0, None)
    y, s = f(x), (x * x).sum()
    with pytest.raises(gk.AutogradError, match=r"needs its grad_outputs.*got None for output 1 of shape \(\)"):
        autograd.grad([y, s], x, [np.eye(3), None], is_grads_batched=True)
    with pytest.raises(gk.ArgumentTypeError, match=r"needs grad_outputs.*got None"):
        autograd.grad(s, x, is_grads_batched=True)
    with pytest.raises(gk.ShapeError, match=r"grad_outputs\[0\] must have shape \(B, 3\) .*output 0\), got \(3, 2\)"):
        autograd.grad(y, x, np.ones((3, 2)), is_grads_batched=True)
    with pytest.raises(gk.ShapeError, match=r"grad_outputs\[0\] must have shape \(B, 3\) .*got \(3,\)"):
        autograd.grad(y, x, np.ones(3), is_grads_batched=True)  # an unbatched seed
    with pytest.raises(gk.ShapeError, match=r"grad_outputs\[0\] must have shape \(B,\) .*got \(\)"):
        autograd.grad(s, x, np.float64(1.0), is_grads_batched=True)
    same_batch = r"same batch size.*grad_outputs\[1\] has shape \(4,\) \(B=4\).*\(2, 3\) \(B=2\)"
    with pytest.raises(gk.ShapeError, match=same_batch):
        autograd.grad([y, s], x, [np.ones((2, 3)), np.ones(4)], is_grads_batched=True)
    with pytest.raises(gk.InvalidArgumentError, match="1 grad_outputs for 2 outputs"):
        autograd.grad([y, s], x, [np.ones((2, 3))], is_grads_batched=True)
    with pytest.raises(gk.InvalidArgumentError, match="at least one output"):
        autograd.grad([], x, [], is_grads_batched=True)
    with pytest.raises(gk.AutogradError, match="output 0 .* does not require grad"):
        autograd.grad(t64([1.0], None, False), x, np.ones((2, 1)), is_grads_batched=True)
    with pytest.raises(gk.ArgumentTypeError, match="is_grads_batched"):
        autograd.grad(y, x, np.eye(3), is_grads_batched="yes")
    (jac,) = autograd.grad([y, s], x, [np.eye(3), np.zeros(3)], is_grads_batched=True)  # the graph is intact
    np.testing.assert_allclose(jac.numpy(), f_jacobian(np.array(X0)), rtol=1e-12)


# ------------------------------------------------------------------ PyTorch parity
def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    an, wn = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    v1, v2 = rng.normal(size=(4, 2, 4)), rng.normal(size=(4, 2))

    def model(lib, a, w):
        h = lib.tanh(a @ w)
        return h * h, (a * a).sum(1) if lib is torch else (a * a).sum(axis=1)

    a, w = t64(an, None), t64(wn, None)
    ta, tw = torch.tensor(an, requires_grad=True), torch.tensor(wn, requires_grad=True)
    ours = autograd.grad(model(gk, a, w), [a, w], [v1, v2], create_graph=True, is_grads_batched=True)
    theirs = torch.autograd.grad(model(torch, ta, tw), [ta, tw], [torch.tensor(v1), torch.tensor(v2)],
                                 create_graph=True, is_grads_batched=True)
    for o, t in zip(ours, theirs, strict=True):
        assert o.shape == tuple(t.shape)
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-14)
    # second order through the batched gradients
    (ga,) = autograd.grad((ours[0] * ours[1][:, :2, :3]).sum(), a)
    (tga,) = torch.autograd.grad((theirs[0] * theirs[1][:, :2, :3]).sum(), ta)
    np.testing.assert_allclose(ga.numpy(), tga.numpy(), rtol=1e-12, atol=1e-14)


def test_hessian_matches_pytorch():
    torch = pytest.importorskip("torch")
    xn = np.array(X0)
    x, tx = t64(xn, None), torch.tensor(xn, requires_grad=True)
    (g,) = autograd.grad((gk.sin(x) * x.sum()).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad((torch.sin(tx) * tx.sum()).sum(), tx, create_graph=True)
    (h,) = autograd.grad(g, x, np.eye(3), is_grads_batched=True)
    (th,) = torch.autograd.grad(tg, tx, torch.eye(3, dtype=torch.float64), is_grads_batched=True)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-12, atol=1e-14)

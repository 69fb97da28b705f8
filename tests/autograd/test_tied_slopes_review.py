"""Review of the tied slopes (``tied_slope``/``tied_record`` in gradkit/autograd/function.py).

In a recorded backward (create_graph) the slope of a piecewise-linear op (relu, leaky_relu, hardtanh, abs,
clip, the fused Linear+ReLU, max pooling, ...) is tied to the op's input with a zero derivative. Here:
what that must not change (nothing recorded in a first-order backward; no reference cycle keeping a node's
saved arrays alive; results of the fused Linear+ReLU equal to the unfused ops, on several threads too),
and where it must agree with PyTorch (third order, Hessians, batched gradients, 0-d and empty tensors,
float16/32/64, checkpointing, anomaly mode).
"""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest
from test_piecewise_second_order import ACTIVATIONS as PIECEWISE

import gradkit as gk
from gradkit import nn
from gradkit.autograd import function as autograd_function
from gradkit.nn import functional as F
from gradkit.utils.checkpoint import checkpoint

ACTIVATIONS = {
    **PIECEWISE,
    "rrelu (eval)": F.rrelu,
    "max_pool1d": lambda v: F.max_pool1d(v, 2, 1, 1),  # (C, L): unbatched
}


def _mlp(device, fused: bool):
    """Linear -> ReLU -> Linear -> ReLU -> Linear (float64); ``fused``: Sequential's one-node Linear+ReLU."""
    gk.manual_seed(0)
    layers = [nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1)]
    model = nn.Sequential(*layers).double().to(device)
    if fused:
        return model
    return lambda x: layers[4](gk.relu(layers[2](gk.relu(layers[0](x))))), model


def _penalty_grads(f, params, x, loss=lambda out: out.sum()):
    (gx,) = gk.autograd.grad(loss(f(x)), x, create_graph=True)
    return gk.autograd.grad(((gx * gx).sum(axis=1) - 1.0).square().mean(), params, materialize_grads=True)


X = np.random.default_rng(0).standard_normal((6, 3))


# ------------------------------------------------------------------ the first-order hot path
def test_a_first_order_backward_records_nothing_for_any_tied_op(device):
    x = gk.tensor(np.random.default_rng(1).standard_normal((2, 6)), device=device, requires_grad=True)
    w = gk.tensor(np.random.default_rng(2).standard_normal((5, 6)), device=device, requires_grad=True)
    y = sum((act(x) * act(x)).sum() for act in ACTIVATIONS.values()) + (F.linear_relu(x, w) ** 2).sum()
    seen = []

    def watch(node, out):
        seen.append(node.name)

    autograd_function.add_observer(watch)
    try:
        y.backward()
    finally:
        autograd_function.remove_observer(watch)
    assert seen == []
    assert x.grad.grad_fn is None and not x.grad.requires_grad


# ------------------------------------------------------------------ the fused Linear+ReLU
@pytest.mark.parametrize("loss", ["sum", "square"])
def test_the_fused_linear_relu_is_freed_without_the_garbage_collector_after_a_recorded_backward(device, loss):
    """Its three rules used to share the masked gradient through the node's own saved cache; with the slope
    tied to the node, that cache closed a cycle (node -> cache -> masked -> slope -> node) and the node, with
    its saved input and output, lived on until the garbage collector ran."""
    rng = np.random.default_rng(3)
    w = gk.tensor(rng.standard_normal((4, 3)), device=device, requires_grad=True)
    b = gk.tensor(rng.standard_normal(4), device=device, requires_grad=True)
    x = gk.tensor(rng.standard_normal((5, 3)), device=device, requires_grad=True)
    enabled = gc.isenabled()
    gc.disable()
    try:
        y = F.linear_relu(x, w, b)
        node = weakref.ref(y.grad_fn)
        out = y.sum() if loss == "sum" else (y * y).sum()
        (gx,) = gk.autograd.grad(out, x, create_graph=True)
        gk.autograd.grad((gx * gx).sum(), [w, b], retain_graph=True)  # through the slope into the node
        y.sum().backward(create_graph=True)  # all three rules, recorded
        del y, out, gx
        w.grad = b.grad = x.grad = None
        assert node() is None
    finally:
        if enabled:
            gc.enable()


def test_the_fused_linear_relu_gives_the_unfused_results_to_second_order(device):
    fused = _mlp(device, fused=True)
    unfused, twin = _mlp(device, fused=False)
    assert any(n.name == "linear_relu" for n in _names(fused(gk.tensor(X, device=device, requires_grad=True))))
    for loss in (lambda o: o.sum(), lambda o: (o * o).sum()):
        got = _penalty_grads(fused, list(fused.parameters()), gk.tensor(X, device=device, requires_grad=True), loss)
        want = _penalty_grads(unfused, list(twin.parameters()), gk.tensor(X, device=device, requires_grad=True), loss)
        for g, h in zip(got, want, strict=True):
            np.testing.assert_allclose(g.numpy(), h.numpy(), rtol=1e-12, atol=1e-12)
    # backward(create_graph=True) runs all three rules of each fused node in one recorded pass
    x = gk.tensor(X, device=device, requires_grad=True)
    (fused(x) ** 2).sum().backward(create_graph=True)
    hv = gk.autograd.grad(sum((p.grad * p.grad).sum() for p in fused.parameters()), x)[0]
    x2 = gk.tensor(X, device=device, requires_grad=True)
    (unfused(x2) ** 2).sum().backward(create_graph=True)
    hv2 = gk.autograd.grad(sum((p.grad * p.grad).sum() for p in twin.parameters()), x2)[0]
    np.testing.assert_allclose(hv.numpy(), hv2.numpy(), rtol=1e-12, atol=1e-12)


def _names(t):
    out, stack, seen = [], [t.grad_fn], set()
    while stack:
        n = stack.pop()
        if n is None or not hasattr(n, "next") or id(n) in seen:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(n.next)
    return out


def test_threads_share_one_fused_graph_in_recorded_passes(device):
    model = _mlp(device, fused=True)
    params = list(model.parameters())
    x = gk.tensor(X, device=device, requires_grad=True)
    out = model(x)
    (gx,) = gk.autograd.grad(out.sum(), x, create_graph=True)
    want = [g.numpy() for g in gk.autograd.grad((gx * gx).sum(), params, retain_graph=True, materialize_grads=True)]
    errors, results = [], []

    def work(seed):
        try:
            for _ in range(20):
                g = gk.tensor(np.full((6, 1), float(seed)), device=device)
                (gxs,) = gk.autograd.grad(out, x, grad_outputs=g, create_graph=True, retain_graph=True)
                got = gk.autograd.grad((gxs * gxs).sum(), params, retain_graph=True, materialize_grads=True)
                results.append(all(np.allclose(a.numpy(), seed * seed * b) for a, b in zip(got, want, strict=True)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 60 and all(results)


# ------------------------------------------------------------------ shapes and dtypes
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (2, 3)])
@pytest.mark.parametrize("name", [n for n in sorted(ACTIVATIONS) if n != "max_pool1d"])
def test_a_scalar_before_the_op_gets_zeros_of_its_dtype_and_shape(device, name, shape, dtype):
    act = ACTIVATIONS[name]
    b = gk.tensor(np.asarray(0.3, dtype), device=device, requires_grad=True)
    x = gk.tensor((np.random.default_rng(4).standard_normal(shape) * 2).astype(dtype), device=device,
                  requires_grad=True)
    (gx,) = gk.autograd.grad((act(x * 1.5 + b) * 3.0).sum(), x, create_graph=True)
    gb, gx2 = gk.autograd.grad((gx * gx).sum(), [b, x])
    assert gb.shape == () and gx2.shape == shape
    assert gb.dtype == dtype and gx2.dtype == dtype and gb.device == b.device
    assert not gb.numpy().any() and not gx2.numpy().any()


# ------------------------------------------------------------------ against PyTorch
def _torch_ops(torch):
    tf = torch.nn.functional
    return {
        "relu^3": (lambda x: (gk.relu(x) ** 3).sum(), lambda x: (torch.relu(x) ** 3).sum()),
        "leaky(x^3)": (lambda x: F.leaky_relu(x ** 3, 0.1).sum(), lambda x: tf.leaky_relu(x ** 3, 0.1).sum()),
        "abs*sin": (lambda x: (gk.abs(x) * gk.sin(x)).sum(), lambda x: (torch.abs(x) * torch.sin(x)).sum()),
        "hardtanh^3": (lambda x: (F.hardtanh(x) ** 3).sum(), lambda x: (tf.hardtanh(x) ** 3).sum()),
        "softshrink^2*x": (lambda x: (F.softshrink(x) ** 2 * x).sum(), lambda x: (tf.softshrink(x) ** 2 * x).sum()),
        "max_pool2d": (lambda x: (F.max_pool2d(gk.sin(x), 3, 1, 1) * gk.cos(x) ** 2).sum(),
                       lambda x: (tf.max_pool2d(torch.sin(x), 3, 1, 1) * torch.cos(x) ** 2).sum()),
    }


@pytest.mark.parametrize("name", ["relu^3", "leaky(x^3)", "abs*sin", "hardtanh^3", "softshrink^2*x", "max_pool2d"])
def test_third_order_matches_pytorch(device, name):
    torch = pytest.importorskip("torch")
    ours, theirs = _torch_ops(torch)[name]
    rng = np.random.default_rng(5)
    xs, v, u = (rng.standard_normal((2, 2, 4, 4)) * 2 for _ in range(3))
    x = gk.tensor(xs, device=device, requires_grad=True)
    (g1,) = gk.autograd.grad(ours(x), x, create_graph=True)
    (g2,) = gk.autograd.grad((g1 * gk.tensor(v, device=device)).sum(), x, create_graph=True)
    (g3,) = gk.autograd.grad((g2 * gk.tensor(u, device=device)).sum(), x, materialize_grads=True)
    tx = torch.tensor(xs, requires_grad=True)
    (t1,) = torch.autograd.grad(theirs(tx), tx, create_graph=True)
    (t2,) = torch.autograd.grad((t1 * torch.tensor(v)).sum(), tx, create_graph=True)
    (t3,) = torch.autograd.grad((t2 * torch.tensor(u)).sum(), tx, materialize_grads=True)
    for a, b in ((g1, t1), (g2, t2), (g3, t3)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_hessians_of_piecewise_functions_match_pytorch_and_strict_accepts_them(device):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional

    def f(x):
        return (F.leaky_relu(x, 0.1) ** 2 * gk.abs(x)).sum()

    def ft(x):
        return (tf.leaky_relu(x, 0.1) ** 2 * torch.abs(x)).sum()

    xs = X[0]
    want = torch.func.hessian(ft)(torch.tensor(xs)).numpy()
    x = gk.tensor(xs, device=device)
    np.testing.assert_allclose(gk.func.hessian(f)(x).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(gk.func.jacrev(gk.func.grad(f))(x).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(gk.func.jacfwd(gk.func.grad(f))(x).numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(gk.autograd.functional.hessian(f, x).numpy(), want, rtol=1e-12)
    per_row = torch.func.vmap(torch.func.grad(ft))(torch.tensor(X)).numpy()
    np.testing.assert_allclose(gk.func.vmap(gk.func.grad(f))(gk.tensor(X, device=device)).numpy(), per_row)
    # the gradient of relu(x).sum() is piecewise constant, yet tied to x: strict=True accepts it, as PyTorch's
    h = gk.autograd.functional.hessian(lambda v: gk.relu(v).sum(), x, strict=True)
    th = torch.autograd.functional.hessian(lambda v: torch.relu(v).sum(), torch.tensor(xs), strict=True)
    np.testing.assert_array_equal(h.numpy(), th.numpy())


def test_batched_hessian_vector_products_to_third_order_match_pytorch(device):
    torch = pytest.importorskip("torch")
    v = np.random.default_rng(6).standard_normal((3, *X.shape))
    x = gk.tensor(X, device=device, requires_grad=True)
    (gx,) = gk.autograd.grad((F.hardtanh(x * 3) * x * x).sum(), x, create_graph=True)
    (hv,) = gk.autograd.grad(gx, x, grad_outputs=gk.tensor(v, device=device), is_grads_batched=True,
                             create_graph=True)
    (third,) = gk.autograd.grad((hv * hv).sum(), x)
    tx = torch.tensor(X, requires_grad=True)
    (tgx,) = torch.autograd.grad((torch.nn.functional.hardtanh(tx * 3) * tx * tx).sum(), tx, create_graph=True)
    (thv,) = torch.autograd.grad(tgx, tx, grad_outputs=torch.tensor(v), is_grads_batched=True, create_graph=True)
    (tthird,) = torch.autograd.grad((thv * thv).sum(), tx)
    np.testing.assert_allclose(hv.numpy(), thv.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(third.numpy(), tthird.numpy(), rtol=1e-12)


@pytest.mark.parametrize("mode", ["checkpoint", "anomaly"])
def test_a_gradient_penalty_under_checkpointing_or_anomaly_mode_matches_the_plain_one(device, mode):
    model = _mlp(device, fused=True)
    params = list(model.parameters())

    def penalty(f):
        return [g.numpy() for g in _penalty_grads(f, params, gk.tensor(X, device=device, requires_grad=True),
                                                   lambda o: (o * o).sum())]

    want = penalty(model)
    if mode == "checkpoint":
        got = penalty(lambda x: checkpoint(model, x))
    else:
        with gk.autograd.detect_anomaly():
            got = penalty(model)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_an_intermediate_input_reached_only_through_a_slope_gets_zeros_as_in_pytorch(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    xs, ws = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    x = gk.tensor(xs, device=device, requires_grad=True)
    w = gk.tensor(ws, device=device, requires_grad=True)
    h = x @ w
    a = gk.relu(h)
    (gh,) = gk.autograd.grad((a * a).sum(), h, create_graph=True)
    got = gk.autograd.grad((gh * gh).sum(), [h, a, w])
    tx, tw = torch.tensor(xs, requires_grad=True), torch.tensor(ws, requires_grad=True)
    th = tx @ tw
    ta = torch.relu(th)
    (tgh,) = torch.autograd.grad((ta * ta).sum(), th, create_graph=True)
    want = torch.autograd.grad((tgh * tgh).sum(), [th, ta, tw])
    for g, t in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-12)


def test_a_penalty_differentiated_after_its_forward_graph_was_freed_raises_as_in_pytorch(device):
    """The tied slope reaches the critic's forward graph again (PyTorch's double backward does too), so
    freeing that graph first (a plain ``loss.backward()``) makes the penalty's backward a second pass through
    it: an AutogradError that names the remedy, where gradkit used to succeed for a ReLU-only critic."""
    gk.manual_seed(0)
    critic = nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)).double().to(device)

    def run(retain):
        x = gk.tensor(X, device=device, requires_grad=True)
        out = critic(x)
        (gx,) = gk.autograd.grad(out.sum(), x, create_graph=True)
        penalty = ((gx * gx).sum(axis=1) - 1.0).square().mean()
        out.mean().backward(retain_graph=retain)
        penalty.backward()

    with pytest.raises(gk.errors.AutogradError, match="retain_graph=True"):
        run(retain=False)
    critic.zero_grad()
    run(retain=True)
    assert all(p.grad is not None for p in critic.parameters())

"""F.layer_norm as one node, F.linear on batched input as 2-D products, and F.dropout's integer-threshold mask.

layer_norm: the fused node against the composition of ops it replaced (values and gradients, every dtype,
normalised shapes of one and several axes, weight and bias None), float64 central differences of first and
second order, the composed path it still takes for mixed dtypes and integer input, no host reads on the
emulated CuPy, and PyTorch's values. linear: a 3-D and a 4-D input against the 2-D product, gradients of
both orders. dropout: the keep rate and the exact scale, seeding, p = 0 and p = 1, dtypes and shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from _host_reads import refuse_host_reads
from _norm_reference import composed_layer_norm as _composed_layer_norm

import gradkit as gk
import gradkit.nn.functional as F
from gradkit import ops

CASES = [((4, 5, 6), (6,)), ((3, 4, 5), (4, 5)), ((7,), (7,)), ((2, 3, 4), (2, 3, 4))]
AFFINE = [(True, True), (True, False), (False, True), (False, False)]


def _leaf(rng, shape, dtype, device, scale=1.0, shift=0.0):
    return gk.tensor(rng.standard_normal(shape) * scale + shift, dtype=dtype, device=device, requires_grad=True)


def _operands(rng, xs, shape, affine, dtype, device):
    x = _leaf(rng, xs, dtype, device, 3.0, 1.0)
    w = _leaf(rng, shape, dtype, device) if affine[0] else None
    b = _leaf(rng, shape, dtype, device) if affine[1] else None
    return x, w, b


@pytest.mark.parametrize("xs, shape", CASES)
@pytest.mark.parametrize("affine", AFFINE, ids=["affine", "weight", "bias", "plain"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layer_norm_matches_the_composed_ops(device, xs, shape, affine, dtype):
    rng = np.random.default_rng(0)
    x, w, b = _operands(rng, xs, shape, affine, dtype, device)
    g = gk.tensor(rng.standard_normal(xs), dtype=dtype, device=device)
    fused, composed = F.layer_norm(x, shape, w, b), _composed_layer_norm(x, shape, w, b)
    assert fused.grad_fn.name == "layer_norm" and fused.dtype == composed.dtype == x.dtype
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=tol, atol=tol)
    inputs = [t for t in (x, w, b) if t is not None]
    for a, c, t in zip(gk.autograd.grad(fused, inputs, g), gk.autograd.grad(composed, inputs, g), inputs, strict=True):
        assert a.shape == t.shape and a.dtype == t.dtype
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=tol, atol=10 * tol)


@pytest.mark.parametrize("xs, shape", CASES[:2])
def test_layer_norm_float16_forward_as_before_gradients_closer(device, xs, shape):
    """float16: the forward bit for bit as the composed ops; the gradients (summed in float32) nearer float64's."""
    rng = np.random.default_rng(1)
    x, w, b = _operands(rng, xs, shape, (True, True), "float16", device)
    g = gk.tensor(rng.standard_normal(xs), dtype="float16", device=device)
    y = F.layer_norm(x, shape, w, b)
    assert y.dtype == gk.float16
    np.testing.assert_array_equal(y.numpy(), _composed_layer_norm(x, shape, w, b).numpy())
    exact = [t.astype(gk.float64).detach().requires_grad_() for t in (x, w, b)]
    want = gk.autograd.grad(F.layer_norm(exact[0], shape, exact[1], exact[2]), exact, g.astype(gk.float64))
    got = gk.autograd.grad(y, [x, w, b], g)
    old = gk.autograd.grad(_composed_layer_norm(x, shape, w, b), [x, w, b], g)
    for a, o, e in zip(got, old, want, strict=True):
        assert a.dtype == gk.float16
        assert np.abs(a.numpy() - e.numpy()).max() <= np.abs(o.numpy() - e.numpy()).max() + 1e-3


@pytest.mark.parametrize("xs, shape", [((3, 4), (4,)), ((2, 2, 3), (2, 3))])
@pytest.mark.parametrize("affine", AFFINE, ids=["affine", "weight", "bias", "plain"])
def test_layer_norm_gradcheck_first_and_second_order(device, xs, shape, affine):
    rng = np.random.default_rng(2)
    x, w, b = _operands(rng, xs, shape, affine, "float64", device)
    params = [t for t in (w, b) if t is not None]

    def f(x, *p):
        it = iter(p)
        return F.layer_norm(x, shape, next(it) if affine[0] else None, next(it) if affine[1] else None, 0.1)

    assert gk.gradcheck(f, (x, *params))
    v = gk.tensor(rng.standard_normal(xs), device=device)

    def first(x, *p):  # a recorded backward, differentiated again
        return gk.autograd.grad(f(x, *p), [x, *p], v, create_graph=True)

    raw = gk.autograd.grad(f(x, *params), [x, *params], v)  # the closed form on arrays: the same values
    for a, r in zip(first(x, *params), raw, strict=True):
        np.testing.assert_allclose(a.numpy(), r.numpy(), atol=1e-12)
    assert gk.gradcheck(first, (x, *params))


def test_layer_norm_is_one_node_with_private_saved_values(device):
    x = gk.tensor(np.random.default_rng(3).standard_normal((4, 6)), device=device, requires_grad=True)
    y = F.layer_norm(x, 6)
    assert y.grad_fn.name == "layer_norm" and y.grad_fn.next[0] is x
    expected = gk.autograd.grad(F.layer_norm(x, 6), x, gk.ones_like(x))[0].numpy()
    with gk.no_grad():
        y.mul_(3.0)  # the output is not what the backward reads
    y.backward(gk.ones_like(x))
    np.testing.assert_allclose(x.grad.numpy(), expected, atol=1e-12)


def test_layer_norm_input_changed_in_place_before_backward_is_an_error(device):
    """The node saves its input (a recorded backward differentiates through it), as PyTorch's does."""
    x = gk.ones(3, 4, device=device, requires_grad=True)
    h = x * 2.0
    y = F.layer_norm(h, 4)
    with gk.no_grad():
        h.add_(1.0)
    with pytest.raises(gk.AutogradError, match="layer_norm"):
        y.sum().backward()


def test_layer_norm_mixed_dtypes_and_integers(device):
    x16 = gk.tensor(np.linspace(-1, 1, 12).reshape(3, 4), dtype="float16", device=device, requires_grad=True)
    w32 = gk.ones(4, dtype="float32", device=device, requires_grad=True)
    y = F.layer_norm(x16, 4, w32)
    assert y.dtype == gk.float16 and y.grad_fn.name == "astype"  # computed in float32, returned float16, as PyTorch
    y.sum().backward()
    assert x16.grad.dtype == gk.float16 and w32.grad.dtype == gk.float32
    xi = gk.tensor(np.arange(12).reshape(3, 4), device=device)
    np.testing.assert_allclose(F.layer_norm(xi, 4).numpy(), _composed_layer_norm(xi, (4,), None, None).numpy())
    empty = gk.zeros(0, 4, device=device, requires_grad=True)
    assert F.layer_norm(empty, 4).shape == (0, 4)


def test_layer_norm_eps_and_non_contiguous_input(device):
    base = gk.tensor(np.random.default_rng(4).standard_normal((5, 3)) * 1e-3, device=device, requires_grad=True)
    # base.T: (3, 5), not contiguous
    for eps in (1e-5, 1.0):
        fused, composed = F.layer_norm(base.T, 5, eps=eps), _composed_layer_norm(base.T, (5,), None, None, eps)
        np.testing.assert_allclose(fused.numpy(), composed.numpy(), atol=1e-12)
        g1 = gk.autograd.grad(fused, base, gk.ones_like(fused))[0]
        g2 = gk.autograd.grad(composed, base, gk.ones_like(composed))[0]
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), atol=1e-9)


def test_layer_norm_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, wa, ba, ga = (rng.standard_normal(s) for s in ((2, 3, 4, 5), (4, 5), (4, 5), (2, 3, 4, 5)))
    x, w, b = (gk.tensor(v, device=device, requires_grad=True) for v in (a, wa, ba))
    y = F.layer_norm(x, (4, 5), w, b, 1e-3)
    y.backward(gk.tensor(ga, device=device))
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, wa, ba))
    ty = torch.nn.functional.layer_norm(tx, (4, 5), tw, tb, 1e-3)
    ty.backward(torch.tensor(ga))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-12)
    for mine, theirs in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), atol=1e-10)


def test_layer_norm_and_linear_make_no_host_reads(device, monkeypatch):
    refuse_host_reads(device, monkeypatch)
    x = gk.ones(2, 3, 4, device=device, requires_grad=True)
    w, b = gk.ones(5, 4, device=device, requires_grad=True), gk.zeros(5, device=device, requires_grad=True)
    lw, lb = gk.ones(5, device=device, requires_grad=True), gk.zeros(5, device=device, requires_grad=True)
    y = F.layer_norm(F.dropout(F.linear(x, w, b), 0.25), 5, lw, lb)
    y.backward(gk.ones_like(y))


# ------------------------------------------------------------------ linear on batched input
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 2, 5), (5,), (0, 2, 5)])
@pytest.mark.parametrize("fn", [F.linear, F.linear_relu])
def test_linear_batched_input_is_the_2d_product(device, shape, fn):
    rng = np.random.default_rng(6)
    a, wa, ba = rng.standard_normal(shape), rng.standard_normal((7, 5)), rng.standard_normal(7)
    x, w, b = (gk.tensor(v, device=device, requires_grad=True) for v in (a, wa, ba))
    y = fn(x, w, b)
    want = a @ wa.T + ba
    if fn is F.linear_relu:
        want = np.maximum(want, 0)
    assert y.shape == (*shape[:-1], 7)
    np.testing.assert_allclose(y.numpy(), want, atol=1e-12)
    ga = rng.standard_normal(y.shape)
    y.backward(gk.tensor(ga, device=device))
    gm = ga * (want > 0) if fn is F.linear_relu else ga
    np.testing.assert_allclose(x.grad.numpy(), gm @ wa, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), gm.reshape(-1, 7).T @ a.reshape(-1, 5), atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gm.reshape(-1, 7).sum(0), atol=1e-12)


def test_linear_batched_second_order(device):
    rng = np.random.default_rng(7)
    x = gk.tensor(rng.standard_normal((2, 3, 4)), device=device, requires_grad=True)
    w = gk.tensor(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    b = gk.tensor(rng.standard_normal(3), device=device, requires_grad=True)
    assert gk.gradcheck(lambda x, w, b: F.linear(x, w, b), (x, w, b))
    v = gk.tensor(rng.standard_normal((2, 3, 3)), device=device)

    def first(x, w, b):  # tanh makes the second derivative in x non-zero
        return gk.autograd.grad(gk.tanh(F.linear(x, w, b)), [x, w, b], v, create_graph=True)

    assert gk.gradcheck(first, (x, w, b))


def test_linear_non_contiguous_batched_input(device):
    a = np.random.default_rng(8).standard_normal((4, 3, 2))
    x = gk.tensor(a, device=device, requires_grad=True)
    w = gk.tensor(np.arange(8.0).reshape(2, 4), device=device, requires_grad=True)
    xt = ops.transpose(x, (2, 1, 0))  # (2, 3, 4), strided
    y = F.linear(xt, w)
    np.testing.assert_allclose(y.numpy(), a.transpose(2, 1, 0) @ np.arange(8.0).reshape(2, 4).T, atol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(np.arange(8.0).reshape(2, 4).sum(0), (2, 3, 4))
                               .transpose(2, 1, 0))


# ------------------------------------------------------------------ dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_dropout_keep_rate_and_exact_scale(device, p, dtype):
    gk.manual_seed(0)
    n = 200_000
    y = F.dropout(gk.ones(n, dtype=dtype, device=device), p).numpy()
    scale = np.dtype(dtype).type(1 / (1 - p))
    assert set(np.unique(y)) == {0, scale}
    kept = (y != 0).mean()
    assert abs(kept - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)  # five standard errors
    assert abs(y.astype(np.float64).mean() - 1) < 5 * np.sqrt(p / (1 - p) / n) + 1e-3 * (dtype == "float16")


def test_dropout_mask_is_uniform_over_positions_and_independent(device):
    gk.manual_seed(1)
    y = F.dropout(gk.ones(400, 501, device=device), 0.3).numpy() != 0  # odd size: half a word left over
    cols, rows = y.mean(0), y.mean(1)
    assert abs(cols.mean() - 0.7) < 0.005 and cols.std() < 0.035 and rows.std() < 0.035
    pairs = (y[:, :-1] & y[:, 1:]).mean()  # neighbours (two halves of one random word) are independent
    assert abs(pairs - 0.49) < 0.005


def test_dropout_seeding_gradient_and_edges(device):
    x = gk.tensor(np.random.default_rng(9).standard_normal((3, 7, 5)), device=device, requires_grad=True)
    gk.manual_seed(11)
    a = F.dropout(x, 0.4)
    gk.manual_seed(11)
    b = F.dropout(x, 0.4)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(F.dropout(x, 0.4).numpy(), a.numpy())  # the generator moved on
    a.backward(gk.ones_like(a))
    np.testing.assert_array_equal(x.grad.numpy(), (a.numpy() != 0) / 0.6)
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.4, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)
    assert F.dropout(x, 1e-12).numpy().tolist() == (x.numpy() * (1 / (1 - 1e-12))).tolist()  # no bit below 2^-33
    z = F.dropout(gk.tensor(2.0, device=device), 0.5)
    assert z.shape == () and z.dtype == gk.float32 and z.item() in (0.0, 4.0)
    assert F.dropout(gk.zeros(0, 3, device=device), 0.5).shape == (0, 3)


def test_dropout_makes_no_host_reads(device, monkeypatch):
    refuse_host_reads(device, monkeypatch)
    x = gk.ones(4, 5, device=device, requires_grad=True)
    F.dropout(x, 0.3).backward(gk.ones_like(x))

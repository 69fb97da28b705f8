"""Huber, smooth L1, BCE (probabilities) and KL losses; normalize, cosine similarity, pairwise distance;
LogSigmoid, Hardtanh, ReLU6, Softsign, Hardsigmoid, Hardswish, GLU, Softmin and Unflatten.

Closed forms in float64 NumPy, gk.gradcheck against central differences (first order, and second
order where the function is smooth at the points checked), module-versus-functional equality,
reductions, argument errors, extreme inputs (no NaN and no NumPy warning where PyTorch is finite),
the gradients at the kinks as PyTorch defines them, and, where torch is importable, value and
gradient parity with it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F


def _t(data, device: str, dtype: str = "float64", grad: bool = True):
    return gk.tensor(np.asarray(data, dtype=dtype), device=device, requires_grad=grad)


def _rand(device: str, *shape: int, seed: int = 0, scale: float = 1.0, grad: bool = True):
    return _t(np.random.default_rng(seed).standard_normal(shape) * scale, device, grad=grad)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _second(fn, x):
    """d/dx of sum(d/dx sum(fn(x))): the diagonal of the Hessian of an elementwise function."""
    return gk.grad(lambda z: gk.grad(lambda w: fn(w).sum())(z).sum())(x)


# ================================================================== activations
ACTIVATIONS = {
    "logsigmoid": (F.logsigmoid, nn.LogSigmoid(), lambda x: -np.logaddexp(0, -x), True),
    "hardtanh": (F.hardtanh, nn.Hardtanh(), lambda x: np.clip(x, -1, 1), False),
    "hardtanh_bounds": (lambda x: F.hardtanh(x, -2.0, 0.5), nn.Hardtanh(-2.0, 0.5), lambda x: np.clip(x, -2, 0.5),
                        False),
    "relu6": (F.relu6, nn.ReLU6(), lambda x: np.clip(x, 0, 6), False),
    "softsign": (F.softsign, nn.Softsign(), lambda x: x / (1 + np.abs(x)), True),
    "hardsigmoid": (F.hardsigmoid, nn.Hardsigmoid(), lambda x: np.clip(x + 3, 0, 6) / 6, False),
    "hardswish": (F.hardswish, nn.Hardswish(), lambda x: x * np.clip(x + 3, 0, 6) / 6, False),
}  # fmt: skip

# Away from every kink (+-1, -2, 0.5, 0, 6, +-3), so that central differences apply.
POINTS = np.array([[-4.2, -2.6, -1.7, -0.6, 0.35, 0.8, 1.4], [2.1, 2.7, 3.6, 5.2, 6.9, -0.15, 9.0]])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_values_gradients_and_module(device, name):
    fn, module, reference, smooth = ACTIVATIONS[name]
    x = _t(POINTS, device)
    np.testing.assert_allclose(fn(x).numpy(), reference(POINTS), rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())
    assert gk.gradcheck(fn, (x,))
    assert gk.gradcheck(lambda a: gk.grad(lambda z: fn(z).sum())(a), (x,))  # second order (create_graph)
    # the rules' two paths (raw arrays; Tensor ops when the backward pass is recorded) agree
    fn(x).sum().backward()
    plain = x.grad.numpy()
    x.grad = None
    fn(x).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), plain, rtol=1e-14, atol=1e-16)
    if not smooth:  # piecewise linear or quadratic: the closed-form slope
        xv = POINTS
        slope = {
            "hardtanh": (np.abs(xv) < 1) * 1.0,
            "hardtanh_bounds": ((xv > -2) & (xv < 0.5)) * 1.0,
            "relu6": ((xv > 0) & (xv < 6)) * 1.0,
            "hardsigmoid": (np.abs(xv) < 3) / 6,
            "hardswish": np.where(xv <= -3, 0.0, np.where(xv < 3, xv / 3 + 0.5, 1.0)),
        }[name]
        np.testing.assert_allclose(plain, slope, rtol=1e-15)


@pytest.mark.parametrize("name", ["logsigmoid", "hardtanh", "relu6", "hardsigmoid", "hardswish"])
def test_activation_is_one_node(device, name):
    x = _rand(device, 3)
    y = getattr(F, name)(x)
    assert y.grad_fn.name == name and y.grad_fn.next == (x,)


# PyTorch's gradients at the kinks (read from torch 2.13): hardtanh and relu6 are 0 at the bounds;
# hardsigmoid is 0 at +-3; hardswish is 0 at -3 and 1 at 3, and its second derivative is 1/3 only
# strictly inside (-3, 3).
KINKS = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0])
KINK_SLOPES = {
    "hardtanh": ([0, 0, 1, 0, 0, 0], [0] * 6),
    "relu6": ([0, 0, 0, 1, 1, 0], [0] * 6),
    "hardsigmoid": ([0, 1 / 6, 1 / 6, 1 / 6, 0, 0], [0] * 6),
    "hardswish": ([0, 1 / 6, 0.5, 5 / 6, 1, 1], [0, 1 / 3, 1 / 3, 1 / 3, 0, 0]),
}


@pytest.mark.parametrize("name", list(KINK_SLOPES))
def test_gradients_at_the_kinks_are_pytorchs(device, name):
    fn = getattr(F, name)
    first, second = KINK_SLOPES[name]
    for create_graph in (False, True):
        x = _t(KINKS, device)
        fn(x).sum().backward(create_graph=create_graph)
        np.testing.assert_allclose(x.grad.numpy(), first, rtol=1e-15, atol=0)
    np.testing.assert_allclose(_second(fn, _t(KINKS, device)).numpy(), second, rtol=1e-15, atol=0)


def test_smooth_activations_second_derivatives_closed_form(device):
    xv = POINTS.ravel()
    s = _sigmoid(xv)
    np.testing.assert_allclose(_second(F.logsigmoid, _t(xv, device)).numpy(), -s * (1 - s), rtol=1e-11)
    np.testing.assert_allclose(_second(F.softsign, _t(xv, device)).numpy(), -2 * np.sign(xv) / (1 + np.abs(xv)) ** 3,
                               rtol=1e-11)


@pytest.mark.parametrize("name", ["logsigmoid", "hardtanh", "relu6", "softsign", "hardsigmoid", "hardswish"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_activations_keep_the_dtype_and_stay_finite_at_huge_inputs(device, name, dtype):
    big = 6e4 if dtype == "float16" else 1e30
    xv = np.array([-big, -100.0, -20.0, -3.0, 0.0, 3.0, 20.0, 100.0, big])
    x = _t(xv, device, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way (exp of a large input, x * x)
        y = getattr(F, name)(x)
        y.sum().backward()
    assert y.dtype == np.dtype(dtype) and x.grad.dtype == np.dtype(dtype)
    assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    xv = x.numpy().astype(np.float64)
    _, _, reference, _ = ACTIVATIONS[name]
    np.testing.assert_allclose(y.numpy().astype(np.float64), reference(xv), rtol=2e-3, atol=1e-3)


def test_logsigmoid_is_exact_far_out(device):
    y = F.logsigmoid(_t([-1e4, -800.0, 40.0, 800.0], device))
    np.testing.assert_allclose(y.numpy(), [-1e4, -800.0, -np.exp(-40.0), 0.0], rtol=1e-15, atol=0)


def test_glu_values_gradients_and_module(device):
    x = _rand(device, 3, 4, 6, seed=1)
    xv = x.numpy()
    for dim in (-1, 1, 2, -2):
        half = xv.shape[dim] // 2
        a, b = np.split(xv, [half], axis=dim)
        np.testing.assert_allclose(F.glu(x, dim).numpy(), a * _sigmoid(b), rtol=1e-14)
        np.testing.assert_array_equal(nn.GLU(dim)(x).numpy(), F.glu(x, dim).numpy())
        assert gk.gradcheck(lambda z, dim=dim: F.glu(z, dim), (x,))
        assert gk.gradcheck(lambda z, dim=dim: gk.grad(lambda w: F.glu(w, dim).sum())(z), (x,))
    assert F.glu(x).shape == (3, 4, 3) and F.glu(gk.zeros(2, 0, device=device)).shape == (2, 0)


def test_softmin_values_gradients_and_module(device):
    x = _rand(device, 3, 5, seed=2, scale=3.0)
    xv = x.numpy()
    for dim in (0, 1, -1):
        e = np.exp(-(xv - xv.min(axis=dim, keepdims=True)))
        np.testing.assert_allclose(F.softmin(x, dim).numpy(), e / e.sum(axis=dim, keepdims=True), rtol=1e-14)
        np.testing.assert_array_equal(nn.Softmin(dim)(x).numpy(), F.softmin(x, dim).numpy())
        assert gk.gradcheck(lambda z, dim=dim: F.softmin(z, dim), (x,))
    np.testing.assert_array_equal(nn.Softmin()(x).numpy(), F.softmin(x).numpy())  # None: the last axis
    np.testing.assert_allclose(F.softmin(_t([-1e4, 0.0, 1e4], device), 0).numpy(), [1.0, 0.0, 0.0])


def test_activation_modules_repr_and_attributes():
    assert repr(nn.LogSigmoid()) == "LogSigmoid()" and repr(nn.Softsign()) == "Softsign()"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.Hardtanh(-2, 3, True)) == "Hardtanh(min_val=-2.0, max_val=3.0, inplace=True)"
    assert repr(nn.ReLU6()) == "ReLU6()" and repr(nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"
    assert (nn.ReLU6().min_val, nn.ReLU6().max_val) == (0.0, 6.0) and isinstance(nn.ReLU6(), nn.Hardtanh)
    assert repr(nn.Hardswish(inplace=True)) == "Hardswish()" and repr(nn.Hardsigmoid()) == "Hardsigmoid()"
    assert repr(nn.GLU()) == "GLU(dim=-1)" and repr(nn.Softmin()) == "Softmin(dim=None)"
    assert repr(nn.Softmin(0)) == "Softmin(dim=0)"
    assert repr(nn.CosineSimilarity()) == "CosineSimilarity()" and repr(nn.PairwiseDistance()) == "PairwiseDistance()"
    assert (nn.CosineSimilarity().dim, nn.CosineSimilarity().eps) == (1, 1e-8)
    assert (nn.PairwiseDistance().norm, nn.PairwiseDistance().eps, nn.PairwiseDistance().keepdim) == (2.0, 1e-6, False)
    for m in (nn.LogSigmoid(), nn.Hardtanh(), nn.GLU(), nn.CosineSimilarity(), nn.Unflatten(1, (2, 3))):
        assert list(m.state_dict()) == [] and list(m.parameters()) == []


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: F.hardtanh(gk.ones(2), 2.0, 1.0), gk.InvalidArgumentError,
         r"hardtanh: min_val \(2.0\) cannot be greater than max_val \(1.0\)"),
        (lambda: nn.Hardtanh(1, -1), gk.InvalidArgumentError, "Hardtanh: min_val .* cannot be greater"),
        (lambda: F.hardtanh(gk.ones(2), "a"), gk.ArgumentTypeError, "hardtanh: min_val must be a number"),
        (lambda: nn.Hardtanh(max_val=None), gk.ArgumentTypeError, "Hardtanh: max_val must be a number"),
        (lambda: nn.ReLU6(inplace="yes"), gk.ArgumentTypeError, "ReLU6: inplace must be True or False"),
        (lambda: nn.Hardswish(inplace=2), gk.ArgumentTypeError, "Hardswish: inplace must be True or False"),
        (lambda: nn.Hardsigmoid(inplace=[]), gk.ArgumentTypeError, "Hardsigmoid: inplace"),
        (lambda: nn.GLU(dim=0.5), gk.ArgumentTypeError, "GLU: dim must be an int"),
        (lambda: nn.Softmin(dim="0"), gk.ArgumentTypeError, "Softmin: dim must be an int"),
        (lambda: F.glu(gk.ones(2, 3)), gk.ShapeError, "glu: dimension -1 to halve must have an even size, got 3"),
        (lambda: F.glu(gk.tensor(1.0)), gk.ShapeError, "glu: a 0-d tensor"),
        (lambda: F.glu(gk.ones(2, 4), dim=2), gk.IndexOutOfRangeError, "glu: axis 2 is out of range"),
        (lambda: F.softmin(gk.ones(2, 4), dim=-3), gk.IndexOutOfRangeError, "softmin: axis -3 is out of range"),
        (lambda: F.logsigmoid(gk.tensor([1, 2])), gk.DTypeError, "logsigmoid: input must be a float tensor"),
        (lambda: F.relu6(gk.tensor([1, 7])), gk.DTypeError, "relu6: input must be a float tensor, got dtype int64"),
        (lambda: F.hardtanh(gk.tensor([True])), gk.DTypeError, "hardtanh: input must be a float tensor"),
        (lambda: F.softsign(gk.tensor([1])), gk.DTypeError, "softsign: input must be a float tensor"),
        (lambda: F.hardswish(gk.tensor([1])), gk.DTypeError, "hardswish: input must be a float tensor"),
        (lambda: F.hardsigmoid(gk.tensor([1])), gk.DTypeError, "hardsigmoid: input must be a float tensor"),
        (lambda: F.glu(gk.tensor([1, 2])), gk.DTypeError, "glu: input must be a float tensor"),
        (lambda: F.softmin(gk.tensor([1, 2])), gk.DTypeError, "softmin: input must be a float tensor"),
        (lambda: F.softsign("x"), gk.GradkitError, "softsign"),
    ],
)  # fmt: skip
def test_activation_argument_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


# ================================================================== Unflatten
def test_unflatten_shapes_gradient_and_repr(device):
    x = _rand(device, 3, 10, 2)
    assert nn.Unflatten(1, (2, 5))(x).shape == (3, 2, 5, 2)
    assert nn.Unflatten(-2, [5, -1])(x).shape == (3, 5, 2, 2)
    assert nn.Unflatten(2, (1, 2, 1))(x).shape == (3, 10, 1, 2, 1)
    assert nn.Unflatten(0, (3,))(x).shape == (3, 10, 2)
    np.testing.assert_array_equal(nn.Unflatten(1, (2, 5))(x).numpy(), x.numpy().reshape(3, 2, 5, 2))
    assert gk.gradcheck(nn.Unflatten(1, (5, 2)), (x,))
    flat = nn.Flatten()(x)
    np.testing.assert_array_equal(nn.Unflatten(1, (10, 2))(flat).numpy(), x.numpy())  # undoes Flatten
    assert repr(nn.Unflatten(1, (2, 5))) == "Unflatten(dim=1, unflattened_size=(2, 5))"
    assert nn.Unflatten(1, [2, 5]).unflattened_size == (2, 5)


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: nn.Unflatten(1, 5), gk.ArgumentTypeError, "Unflatten: unflattened_size must be a tuple or list"),
        (lambda: nn.Unflatten(1, (2.5, 2)), gk.ArgumentTypeError, r"Unflatten: unflattened_size\[0\] must be an int"),
        (lambda: nn.Unflatten("1", (2, 5)), gk.ArgumentTypeError, "Unflatten: dim must be an int"),
        (lambda: nn.Unflatten(1, (-1, -1)), gk.InvalidArgumentError, "at most one -1"),
        (lambda: nn.Unflatten(1, (-2, 5)), gk.InvalidArgumentError, "at most one -1"),
        (lambda: nn.Unflatten(1, (3, 3))(gk.ones(2, 10)), gk.ShapeError,
         r"Unflatten: unflattened_size \(3, 3\) does not fit dimension 1 of size 10"),
        (lambda: nn.Unflatten(1, (3, -1))(gk.ones(2, 10)), gk.ShapeError, "does not fit dimension 1 of size 10"),
        (lambda: nn.Unflatten(3, (2, 5))(gk.ones(2, 10)), gk.IndexOutOfRangeError, "Unflatten: axis 3 is out of range"),
        (lambda: nn.Unflatten(0, (1,))(gk.tensor(1.0)), gk.ShapeError, "Unflatten: a 0-d tensor"),
    ],
)  # fmt: skip
def test_unflatten_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


# ================================================================== normalize, cosine similarity, pairwise distance
def _pnorm(v: np.ndarray, p: float, axis: int, keepdims: bool = False) -> np.ndarray:
    if p == np.inf:
        return np.abs(v).max(axis=axis, keepdims=keepdims)
    return (np.abs(v) ** p).sum(axis=axis, keepdims=keepdims) ** (1 / p)


@pytest.mark.parametrize(("p", "dim"), [(2.0, 1), (1.0, 0), (3.0, -1), (np.inf, 1)])
def test_normalize_closed_form_and_gradients(device, p, dim):
    x = _rand(device, 4, 5, seed=3)
    xv = x.numpy()
    expected = xv / np.maximum(_pnorm(xv, p, dim, keepdims=True), 1e-12)
    np.testing.assert_allclose(F.normalize(x, p, dim).numpy(), expected, rtol=1e-14)
    assert gk.gradcheck(lambda z: F.normalize(z, p, dim), (x,))
    if p != np.inf:  # the max has kinks; the p-norms are smooth away from zero
        assert gk.gradcheck(lambda z: gk.grad(lambda w: (F.normalize(w, p, dim) * xv).sum())(z), (x,))


def test_normalize_of_zero_and_tiny_vectors_as_pytorch(device):
    x = _t([[0.0, 0.0], [1e-13, 0.0], [3.0, 4.0]], device)
    y = F.normalize(x)
    np.testing.assert_allclose(y.numpy(), [[0, 0], [0.1, 0], [0.6, 0.8]], rtol=1e-14)
    y.sum().backward()  # where the clamp bites the gradient is 1/eps (no gradient through the norm)
    np.testing.assert_allclose(x.grad.numpy()[:2], [[1e12, 1e12], [1e12, 1e12]], rtol=1e-14)
    assert np.isfinite(x.grad.numpy()).all()
    for dtype in ("float16", "float32"):  # float16 has no 1e-12: a zero vector still gives 0, not 0/0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            z = F.normalize(gk.zeros(2, 3, dtype=dtype, device=device))
        assert z.dtype == np.dtype(dtype) and (z.numpy() == 0).all()


def test_cosine_similarity_closed_form_broadcasting_and_gradients(device):
    a, b = _rand(device, 5, 6, seed=4), _rand(device, 5, 6, seed=5)
    av, bv = a.numpy(), b.numpy()
    expected = (av * bv).sum(1) / np.linalg.norm(av, axis=1) / np.linalg.norm(bv, axis=1)
    np.testing.assert_allclose(F.cosine_similarity(a, b).numpy(), expected, rtol=1e-14)
    np.testing.assert_array_equal(nn.CosineSimilarity()(a, b).numpy(), F.cosine_similarity(a, b).numpy())
    np.testing.assert_allclose(F.cosine_similarity(a, b, dim=0).numpy(),
                               (av * bv).sum(0) / np.linalg.norm(av, axis=0) / np.linalg.norm(bv, axis=0), rtol=1e-14)
    assert gk.gradcheck(F.cosine_similarity, (a, b))
    assert gk.gradcheck(lambda x, y: gk.grad(lambda u, v: F.cosine_similarity(u, v).sum(), (0, 1))(x, y)[0], (a, b))
    # the inputs broadcast before the norms are taken (PyTorch's expand first)
    c = _rand(device, 5, 1, seed=6)
    cv = np.broadcast_to(c.numpy(), (5, 6))
    got = F.cosine_similarity(c, b)
    np.testing.assert_allclose(got.numpy(), (cv * bv).sum(1) / np.linalg.norm(cv, axis=1) / np.linalg.norm(bv, axis=1),
                               rtol=1e-14)
    assert gk.gradcheck(F.cosine_similarity, (c, b))
    assert F.cosine_similarity(_rand(device, 6), _rand(device, 3, 6), dim=-1).shape == (3,)
    # parallel, opposite and orthogonal; the result stays in [-1, 1]
    u = _t([[1e150, 2e150], [1.0, 0.0]], device)
    np.testing.assert_allclose(F.cosine_similarity(u, _t([[-3e150, -6e150], [0.0, 5.0]], device)).numpy(), [-1.0, 0.0])


def test_cosine_similarity_eps_clamp_passes_the_norms_gradient_as_pytorch_2(device):
    a = _t([[1e-10, 0.0]], device)
    b = _t([[1.0, 1.0]], device)
    y = F.cosine_similarity(a, b)
    np.testing.assert_allclose(y.numpy(), [1e-10 / 1e-8 / np.sqrt(2)], rtol=1e-14)
    y.backward()
    s = 1 / np.sqrt(2)  # d/da of sum(a/N1 * b/N2), N1 = max(|a|, eps) = eps, with dN1/da = a/|a| (not 0)
    np.testing.assert_allclose(a.grad.numpy(), [[s / 1e-8 - 1e-10 * s / 1e-16, s / 1e-8]], rtol=1e-12)
    zero = F.cosine_similarity(gk.zeros(2, 3, device=device), gk.ones(2, 3, device=device))
    np.testing.assert_array_equal(zero.numpy(), [0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        half = F.cosine_similarity(gk.zeros(2, 3, dtype="float16", device=device),
                                   gk.zeros(2, 3, dtype="float16", device=device))
    assert half.dtype == np.float16 and (half.numpy() == 0).all()


@pytest.mark.parametrize(("p", "keepdim"), [(2.0, False), (1.0, True), (3.0, False), (np.inf, False)])
def test_pairwise_distance_closed_form_and_gradients(device, p, keepdim):
    a, b = _rand(device, 4, 5, seed=7), _rand(device, 4, 5, seed=8)
    expected = _pnorm(a.numpy() - b.numpy() + 1e-6, p, -1, keepdims=keepdim)
    got = F.pairwise_distance(a, b, p, keepdim=keepdim)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-14)
    np.testing.assert_array_equal(nn.PairwiseDistance(p, keepdim=keepdim)(a, b).numpy(), got.numpy())
    assert gk.gradcheck(lambda x, y: F.pairwise_distance(x, y, p, keepdim=keepdim), (a, b))
    if p in (2.0, 3.0):
        assert gk.gradcheck(lambda x: gk.grad(lambda u: F.pairwise_distance(u, b, p).sum())(x), (a,))


def test_pairwise_distance_broadcasting_eps_and_equal_inputs(device):
    a, b = _rand(device, 3, 4, seed=9), _rand(device, 4, seed=10)
    np.testing.assert_allclose(F.pairwise_distance(a, b).numpy(),
                               np.linalg.norm(a.numpy() - b.numpy() + 1e-6, axis=-1), rtol=1e-14)
    assert F.pairwise_distance(b, b).shape == () and F.pairwise_distance(b, b, keepdim=True).shape == (1,)
    np.testing.assert_allclose(F.pairwise_distance(b, b).item(), 2e-6, rtol=1e-12)  # sqrt(4) * eps
    same = _t(np.ones((2, 3)), device)
    F.pairwise_distance(same, same.detach(), eps=0.0).sum().backward()  # distance 0: slope 0, not NaN
    np.testing.assert_array_equal(same.grad.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_glu_softmin_and_distances_keep_the_dtype(device, dtype):
    rng = np.random.default_rng(11)
    a = gk.tensor(rng.standard_normal((3, 4)) * 100, dtype=dtype, device=device, requires_grad=True)
    b = gk.tensor(rng.standard_normal((3, 4)), dtype=dtype, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outs = [F.glu(a), F.softmin(a), F.normalize(a), F.cosine_similarity(a, b), F.pairwise_distance(a, b)]
        sum(o.sum() for o in outs).backward()
    for o in outs:
        assert o.dtype == np.dtype(dtype) and np.isfinite(o.numpy()).all()
    assert a.grad.dtype == np.dtype(dtype) and np.isfinite(a.grad.numpy()).all()
    av, bv = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
    cos = (av * bv).sum(1) / np.linalg.norm(av, axis=1) / np.linalg.norm(bv, axis=1)
    np.testing.assert_allclose(outs[3].numpy().astype(np.float64), cos, rtol=5e-3, atol=2e-3)


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: F.normalize(gk.ones(3)), gk.IndexOutOfRangeError, "normalize: axis 1 is out of range"),
        (lambda: F.normalize(gk.ones(2, 3), p=0), gk.InvalidArgumentError, "normalize: p must be > 0"),
        (lambda: F.normalize(gk.ones(2, 3), p="2"), gk.ArgumentTypeError, "normalize: p must be a number"),
        (lambda: F.normalize(gk.ones(2, 3), eps=-1.0), gk.InvalidArgumentError, "normalize: eps must be >= 0"),
        (lambda: F.normalize(gk.tensor([[1, 2]])), gk.DTypeError, "normalize: input must be a float tensor"),
        (lambda: F.cosine_similarity(gk.ones(2, 3), gk.ones(2, 4)), gk.ShapeError,
         r"cosine_similarity: x1 of shape \(2, 3\) and x2 of shape \(2, 4\) do not broadcast"),
        (lambda: F.cosine_similarity(gk.ones(2, 3), gk.ones(2, 3, dtype="float64")), gk.DTypeError,
         r"cosine_similarity: x1 \(float32\) and x2 \(float64\) must have the same dtype"),
        (lambda: F.cosine_similarity(gk.ones(3), gk.ones(3)), gk.IndexOutOfRangeError, "cosine_similarity: axis 1"),
        (lambda: F.cosine_similarity(gk.tensor([[1, 2]]), gk.ones(1, 2)), gk.DTypeError, "cosine_similarity: input"),
        (lambda: nn.CosineSimilarity(eps="x"), gk.ArgumentTypeError, "CosineSimilarity: eps must be a number"),
        (lambda: F.pairwise_distance(gk.ones(2, 3), gk.ones(3, 2)), gk.ShapeError, "pairwise_distance: x1 of shape"),
        (lambda: F.pairwise_distance(gk.ones(2), gk.ones(2), p=-1), gk.InvalidArgumentError,
         "pairwise_distance: p must be > 0"),
        (lambda: F.pairwise_distance(gk.ones(2), gk.ones(2), keepdim="no"), gk.ArgumentTypeError,
         "pairwise_distance: keepdim must be True or False"),
        (lambda: nn.PairwiseDistance(p=0), gk.InvalidArgumentError, "PairwiseDistance: p must be > 0"),
        (lambda: nn.PairwiseDistance(keepdim=None), gk.ArgumentTypeError, "PairwiseDistance: keepdim"),
    ],
)  # fmt: skip
def test_distance_argument_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


# ================================================================== losses: closed forms
def _huber(d: np.ndarray, delta: float) -> np.ndarray:
    z = np.abs(d)
    return np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))


def _smooth_l1(d: np.ndarray, beta: float) -> np.ndarray:
    z = np.abs(d)
    return np.where(z < beta, 0.5 * z * z / beta, z - 0.5 * beta)


def _bce(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


def _reduced(v: np.ndarray, reduction: str) -> np.ndarray:
    return {"none": v, "sum": v.sum(), "mean": v.mean()}[reduction]


def _loss_cases(device: str):
    rng = np.random.default_rng(20)
    x, y = _rand(device, 4, 5, seed=21, scale=2.0), _rand(device, 4, 5, seed=22, grad=False)
    d = x.numpy() - y.numpy()
    p = _t(rng.uniform(0.05, 0.95, (4, 5)), device)
    t = _t(rng.uniform(0, 1, (4, 5)), device, grad=False)
    logp = _t(np.log(rng.uniform(0.05, 1, (4, 5))), device)
    return [
        ("huber", F.huber_loss, nn.HuberLoss, {}, (x, y), _huber(d, 1.0)),
        ("huber_delta", F.huber_loss, nn.HuberLoss, dict(delta=0.6), (x, y), _huber(d, 0.6)),
        ("smooth_l1", F.smooth_l1_loss, nn.SmoothL1Loss, {}, (x, y), _smooth_l1(d, 1.0)),
        ("smooth_l1_beta", F.smooth_l1_loss, nn.SmoothL1Loss, dict(beta=0.4), (x, y), _smooth_l1(d, 0.4)),
        ("smooth_l1_beta0", F.smooth_l1_loss, nn.SmoothL1Loss, dict(beta=0.0), (x, y), np.abs(d)),
        ("bce", F.binary_cross_entropy, nn.BCELoss, {}, (p, t), _bce(p.numpy(), t.numpy())),
        ("kl", F.kl_div, nn.KLDivLoss, {}, (logp, t), t.numpy() * (np.log(t.numpy()) - logp.numpy())),
        ("kl_log_target", F.kl_div, nn.KLDivLoss, dict(log_target=True), (logp, _t(np.log(t.numpy()), device)),
         t.numpy() * (np.log(t.numpy()) - logp.numpy())),
    ]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_closed_forms_reductions_and_modules(device, reduction):
    for name, fn, module, kw, (a, b), expected in _loss_cases(device):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # kl_div's 'mean' warning (tested below)
            got = fn(a, b, reduction=reduction, **kw)
            m = module(reduction=reduction, **kw)
            by_module = m(a, b)
        np.testing.assert_allclose(got.numpy(), _reduced(expected, reduction), rtol=1e-13, err_msg=name)
        np.testing.assert_array_equal(by_module.numpy(), got.numpy(), err_msg=name)
        assert got.dtype == np.float64 and got.shape == (() if reduction != "none" else a.shape)


def test_losses_gradcheck_first_and_second_order(device):
    for name, fn, _, kw, (a, b), _ in _loss_cases(device):
        b = b.detach().requires_grad_(True) if name != "smooth_l1_beta0" else b
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert gk.gradcheck(lambda u, v, fn=fn, kw=kw: fn(u, v, reduction="sum", **kw), (a, b)), name
            if name != "smooth_l1_beta0":  # the others are smooth away from their kinks
                for reduction, which in (("sum", 0), ("mean", 1)):  # d/d input and d/d target, each differentiated

                    def slope(u, v, fn=fn, kw=kw, reduction=reduction, which=which):
                        return gk.grad(lambda s, r: fn(s, r, reduction=reduction, **kw), (0, 1))(u, v)[which]

                    assert gk.gradcheck(slope, (a, b)), name


def test_huber_and_smooth_l1_gradients_at_the_kinks_are_pytorchs(device):
    d = _t([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0], device)
    zero = gk.zeros(6, dtype="float64", device=device)
    for fn, kw in ((F.huber_loss, dict(delta=1.0)), (F.smooth_l1_loss, dict(beta=1.0))):
        for create_graph in (False, True):
            d.grad = None
            fn(d, zero, "sum", **kw).backward(create_graph=create_graph)
            np.testing.assert_array_equal(d.grad.numpy(), [-1, -1, 0, 0.5, 1, 1])
        np.testing.assert_array_equal(_second(lambda z, fn=fn, kw=kw: fn(z, zero, "none", **kw), d).numpy(),
                                      [0, 0, 1, 1, 0, 0])  # 0 at |d| == delta, as PyTorch
    h = _second(lambda z: F.smooth_l1_loss(z, zero, "none", beta=0.5), d)
    np.testing.assert_array_equal(h.numpy(), [0, 0, 2, 0, 0, 0])
    assert F.huber_loss(d, zero, "none").grad_fn.name == "huber_loss"  # one node over x - t


def test_huber_weight_as_pytorch_2(device):
    x, y = _rand(device, 4, 3, seed=34), _rand(device, 4, 3, seed=35, grad=False)
    w = _t(np.random.default_rng(36).uniform(0, 2, (4, 3)), device)
    per = w.numpy() * _huber(x.numpy() - y.numpy(), 0.8)
    for reduction in ("none", "sum", "mean"):  # "mean": over the elements, not over the weights
        np.testing.assert_allclose(F.huber_loss(x, y, reduction, 0.8, w).numpy(), _reduced(per, reduction), rtol=1e-14)
    assert gk.gradcheck(lambda a, b: F.huber_loss(a, y, "sum", 0.8, weight=b), (x, w))
    with pytest.raises(gk.ShapeError, match=r"huber_loss: weight of shape \(3,\) must have the input's shape \(4, 3\)"):
        F.huber_loss(x, y, weight=gk.ones(3, dtype="float64", device=device))


def test_huber_equals_smooth_l1_times_delta(device):
    x, y = _rand(device, 30, seed=23, scale=3.0), _rand(device, 30, seed=24, grad=False)
    for delta in (0.3, 1.0, 2.5):
        np.testing.assert_allclose(F.huber_loss(x, y, "none", delta).numpy(),
                                   delta * F.smooth_l1_loss(x, y, "none", delta).numpy(), rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_losses_keep_the_dtype_and_stay_finite_at_extremes(device, dtype):
    big = 3e4 if dtype == "float16" else 1e30
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no log(0), no 0/0 on the way
        x = _t([-big, -5.0, 0.0, 0.5, big], device, dtype)
        y = gk.zeros(5, dtype=dtype, device=device)
        for fn in (F.huber_loss, F.smooth_l1_loss):
            loss = fn(x, y, "none")
            loss.sum().backward()
            assert loss.dtype == np.dtype(dtype) and x.grad.dtype == np.dtype(dtype)
            assert np.isfinite(loss.numpy()).all() and np.isfinite(x.grad.numpy()).all()
            np.testing.assert_array_equal(x.grad.numpy(), [-1, -1, 0, 0.5, 1])
            x.grad = None
        # probabilities at 0 and 1: PyTorch's log clamp gives 0 or 100, never inf or NaN
        p = _t([0.0, 1.0, 0.0, 1.0, 0.25], device, dtype)
        t = gk.tensor([0.0, 1.0, 1.0, 0.0, 0.5], dtype=dtype, device=device)
        loss = F.binary_cross_entropy(p, t, reduction="none")
        assert loss.dtype == np.dtype(dtype)
        np.testing.assert_allclose(loss.numpy().astype(np.float64), [0, 0, 100, 100, -np.log(0.25 * 0.75) / 2],
                                   rtol=1e-3)
        loss.sum().backward()
        assert p.grad.dtype == np.dtype(dtype)
        assert p.grad.numpy()[0] == 0 and p.grad.numpy()[1] == 0 and not np.isnan(p.grad.numpy()).any()
        # KL: a target of 0 adds 0 (0 log 0 = 0), whatever the finite log-probability
        logp = _t([-1e4 if dtype != "float16" else -6e4, -2.0, -0.5], device, dtype)
        q = gk.tensor([0.0, 0.0, 0.5], dtype=dtype, device=device)
        kl = F.kl_div(logp, q, "none")
        np.testing.assert_allclose(kl.numpy().astype(np.float64), [0, 0, 0.5 * (np.log(0.5) + 0.5)], rtol=3e-3)
        kl.sum().backward()
        np.testing.assert_array_equal(logp.grad.numpy(), np.array([0, 0, -0.5], dtype=dtype))


def test_binary_cross_entropy_gradients_at_zero_and_one_are_pytorchs(device):
    p = _t([0.0, 1.0, 0.0, 1.0, 1e-50, 0.3], device)
    t = _t([0.0, 1.0, 1.0, 0.0, 0.5, 0.6], device)
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [0, 0, 100, 100, 50, -(0.6 * np.log(0.3) + 0.4 * np.log(0.7))],
                               rtol=1e-14)
    eps = float(np.float32(1e-12))  # PyTorch floors x (1 - x) at a float 1e-12
    for create_graph in (False, True):
        p.grad = t.grad = None
        F.binary_cross_entropy(p, t, reduction="none").sum().backward(create_graph=create_graph)
        pv = p.numpy()
        np.testing.assert_allclose(p.grad.numpy(), (pv - t.numpy()) / np.maximum(pv * (1 - pv), eps), rtol=1e-13)
        # the target's gradient is PyTorch's -logit(x), unclamped: +-inf at exactly 0 and 1
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(t.grad.numpy(), np.log1p(-pv) - np.log(pv), rtol=1e-13)


def test_binary_cross_entropy_weight(device):
    p = _t(np.random.default_rng(25).uniform(0.1, 0.9, (4, 3)), device)
    t = gk.tensor(np.random.default_rng(26).uniform(0, 1, (4, 3)), device=device)
    w = _t(np.random.default_rng(27).uniform(0, 2, (4, 1)), device)
    expected = w.numpy() * _bce(p.numpy(), t.numpy())
    for reduction in ("none", "sum", "mean"):
        got = F.binary_cross_entropy(p, t, w, reduction)  # weight third, as in PyTorch
        np.testing.assert_allclose(got.numpy(), _reduced(expected, reduction), rtol=1e-13)
        np.testing.assert_array_equal(nn.BCELoss(w, reduction=reduction)(p, t).numpy(), got.numpy())
    assert gk.gradcheck(lambda a, b: F.binary_cross_entropy(a, t, b), (p, w))  # the weight gets a gradient too
    assert F.binary_cross_entropy(p, t, [1.0, 2.0, 0.5]).shape == ()


def test_kl_div_reductions_and_the_mean_warning(device):
    logp = _t(np.log(np.random.default_rng(28).dirichlet(np.ones(5), 4)), device)
    q = gk.tensor(np.random.default_rng(29).dirichlet(np.ones(5), 4), device=device)
    per = q.numpy() * (np.log(q.numpy()) - logp.numpy())
    np.testing.assert_allclose(F.kl_div(logp, q, "batchmean").numpy(), per.sum() / 4, rtol=1e-14)
    np.testing.assert_allclose(nn.KLDivLoss(reduction="batchmean")(logp, q).numpy(), per.sum() / 4, rtol=1e-14)
    np.testing.assert_allclose(F.kl_div(logp[0], q[0], "batchmean").numpy(), per[0].sum() / 5, rtol=1e-14)
    zero_d = F.kl_div(logp[0, 0], q[0, 0], "batchmean")  # 0-d: no batch axis, the sum (as PyTorch)
    np.testing.assert_allclose(zero_d.numpy(), per[0, 0], rtol=1e-14)
    with pytest.warns(UserWarning, match="kl_div: reduction='mean' divides the total loss by both") as caught:
        np.testing.assert_allclose(F.kl_div(logp, q).numpy(), per.mean(), rtol=1e-14)
    assert caught[0].filename == __file__
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size") as caught:
        nn.KLDivLoss()(logp, q)
    assert caught[0].filename == __file__  # through the module too: the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for reduction in ("batchmean", "sum", "none"):
            F.kl_div(logp, q, reduction)
            nn.KLDivLoss(reduction=reduction)(logp, q)


def test_kl_div_target_gradient_at_zero_is_finite(device):
    x = _t([-1.0, -2.0, -0.5], device)
    q = _t([0.0, 0.5, 0.2], device)
    for create_graph in (False, True):
        x.grad = q.grad = None
        F.kl_div(x, q, "sum").backward(create_graph=create_graph)
        np.testing.assert_allclose(x.grad.numpy(), [0, -0.5, -0.2], rtol=1e-15)
        # log(t) + 1 - x, and 1 - x at t == 0 (PyTorch's is 0/0 = NaN there)
        np.testing.assert_allclose(q.grad.numpy(), [2.0, np.log(0.5) + 3, np.log(0.2) + 1.5], rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bad = F.kl_div(x, gk.tensor([-0.5, 0.5, np.nan], dtype="float64", device=device), "none")
    assert np.isnan(bad.numpy()[[0, 2]]).all()  # a negative or NaN target: NaN, as xlogy gives


def test_binary_cross_entropy_refuses_values_outside_zero_one(device):
    t = gk.ones(3, dtype="float64", device=device)
    for bad in ([0.5, 1.5, 0.2], [-1e-9, 0.5, 0.5], [0.5, np.nan, 0.5]):
        message = r"binary_cross_entropy: every element of input must be a probability in \[0, 1\].*_with_logits"
        with pytest.raises(gk.InvalidArgumentError, match=message):
            F.binary_cross_entropy(gk.tensor(bad, dtype="float64", device=device), t)
    assert F.binary_cross_entropy(gk.zeros(0, device=device), gk.zeros(0, device=device), reduction="sum").item() == 0


# ------------------------------------------------------------------ loss modules
def test_loss_module_attributes_repr_and_state_dict(device):
    assert repr(nn.HuberLoss()) == "HuberLoss(reduction='mean', delta=1.0)"
    assert repr(nn.SmoothL1Loss(beta=0.5)) == "SmoothL1Loss(reduction='mean', beta=0.5)"
    assert repr(nn.KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean', log_target=False)"
    assert repr(nn.BCELoss(reduction="sum")) == "BCELoss(reduction='sum')"
    assert nn.HuberLoss(delta=2).delta == 2.0 and nn.KLDivLoss(log_target=True).log_target is True
    assert list(nn.BCELoss().state_dict()) == [] and nn.BCELoss().weight is None
    w = gk.tensor([1.0, 2.0, 0.5], device="cpu")
    loss = nn.BCELoss(weight=w)
    assert list(loss.state_dict()) == ["weight"] and [n for n, _ in loss.named_buffers()] == ["weight"]
    assert loss.to(device) is loss and loss.weight.device.startswith(device) and w.device == "cpu"
    p = gk.tensor([[0.2, 0.5, 0.9]], dtype="float32", device=device)
    expected = F.binary_cross_entropy(p, gk.ones(1, 3, device=device), gk.tensor([1.0, 2.0, 0.5], device=device))
    np.testing.assert_allclose(loss(p, gk.ones(1, 3, device=device)).numpy(), expected.numpy(), rtol=1e-6)
    for m in (nn.HuberLoss(), nn.SmoothL1Loss(), nn.KLDivLoss()):
        assert list(m.state_dict()) == [] and list(m.parameters()) == []


def test_pytorchs_positional_order_and_deprecated_size_average_and_reduce():
    assert nn.HuberLoss("sum", 0.5).delta == 0.5 and nn.HuberLoss("sum").reduction == "sum"
    assert nn.SmoothL1Loss(None, None, "none", 0.3).beta == 0.3
    assert nn.KLDivLoss(None, None, "sum", True).log_target is True
    assert nn.BCELoss(gk.ones(2), None, None, "sum").reduction == "sum"
    for cls in (nn.SmoothL1Loss, nn.BCELoss, nn.KLDivLoss):
        message = f"{cls.__name__}: size_average and reduce are deprecated.*'sum'"
        with pytest.warns(UserWarning, match=message) as caught:
            assert cls(size_average=False).reduction == "sum"
        assert caught[0].filename == __file__


@pytest.mark.parametrize("cls", [nn.HuberLoss, nn.SmoothL1Loss, nn.BCELoss], ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", ["avg", None, "batchmean"])
def test_reduction_is_checked_at_construction(cls, bad):
    with pytest.raises(gk.InvalidArgumentError, match=f"{cls.__name__}: reduction must be 'mean', 'sum' or 'none'"):
        cls(reduction=bad)


def test_kl_div_reductions_include_batchmean():
    message = "reduction must be 'mean', 'batchmean', 'sum' or 'none'"
    with pytest.raises(gk.InvalidArgumentError, match=f"KLDivLoss: {message}, got str 'avg'"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(gk.InvalidArgumentError, match=f"kl_div: {message}"):
        F.kl_div(gk.ones(2), gk.ones(2), "Mean")
    with pytest.raises(gk.InvalidArgumentError, match="mse_loss: reduction must be 'mean', 'sum' or 'none'"):
        F.mse_loss(gk.ones(2), gk.ones(2), "batchmean")  # only kl_div has it


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: F.huber_loss(gk.ones(2), gk.ones(2), delta=0.0), gk.InvalidArgumentError,
         "huber_loss: delta must be > 0"),
        (lambda: nn.HuberLoss(delta=-1), gk.InvalidArgumentError, "HuberLoss: delta must be > 0"),
        (lambda: nn.HuberLoss(delta="1"), gk.ArgumentTypeError, "HuberLoss: delta must be a number"),
        (lambda: F.smooth_l1_loss(gk.ones(2), gk.ones(2), beta=-0.5), gk.InvalidArgumentError,
         "smooth_l1_loss: beta must be >= 0"),
        (lambda: nn.SmoothL1Loss(beta=float("nan")), gk.InvalidArgumentError, "SmoothL1Loss: beta"),
        (lambda: nn.KLDivLoss(log_target="yes"), gk.ArgumentTypeError, "KLDivLoss: log_target must be True or False"),
        (lambda: F.kl_div(gk.ones(2), gk.ones(2), "sum", log_target=2), gk.ArgumentTypeError, "kl_div: log_target"),
        (lambda: F.huber_loss(gk.ones(2), gk.ones(3)), gk.ShapeError, "huber_loss: input of shape"),
        (lambda: F.kl_div(gk.ones(2, 3), gk.ones(3), "sum"), gk.ShapeError, "kl_div: input of shape"),
        (lambda: F.huber_loss(gk.tensor([1, 2]), gk.tensor([1, 2])), gk.DTypeError,
         "huber_loss: input must be a float tensor, got dtype int64"),
        (lambda: F.smooth_l1_loss(gk.ones(2), gk.ones(2, dtype="float64")), gk.DTypeError,
         r"smooth_l1_loss: target \(float64\) must have the input's dtype \(float32\)"),
        (lambda: F.binary_cross_entropy(gk.ones(2), gk.tensor([1, 0])), gk.DTypeError,
         r"binary_cross_entropy: target \(int64\) must have the input's dtype"),
        (lambda: F.kl_div(gk.tensor([1, 2]), gk.ones(2), "sum"), gk.DTypeError, "kl_div: input must be a float"),
        (lambda: F.binary_cross_entropy(gk.ones(2), gk.ones(2), "sum"), gk.ArgumentTypeError,
         "binary_cross_entropy: weight must be a tensor or None, got str 'sum'; the third argument is weight"),
        (lambda: F.binary_cross_entropy(gk.ones(2, 3), gk.ones(2, 3), gk.ones(2)), gk.ShapeError,
         r"binary_cross_entropy: weight of shape \(2,\) does not broadcast to the input's shape \(2, 3\)"),
        (lambda: nn.BCELoss(weight=[[1.0], [2.0, 3.0]]), gk.ShapeError, "BCELoss: .*ragged"),
        (lambda: F.binary_cross_entropy(gk.ones(2), gk.ones(2), reduction="avg"), gk.InvalidArgumentError,
         "binary_cross_entropy: reduction must be"),
    ],
)  # fmt: skip
def test_loss_argument_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_a_constant_target_takes_the_inputs_dtype(device):
    x = gk.tensor([0.2, 0.7], dtype="float32", device=device)
    assert F.huber_loss(x, [0.0, 1.0]).dtype == np.float32
    assert F.binary_cross_entropy(x, np.array([0.0, 1.0])).dtype == np.float32
    assert F.kl_div(x.log(), [0.5, 0.5], "sum").dtype == np.float32


def test_a_training_step_with_the_new_modules(device):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Hardswish(), nn.Linear(16, 16), nn.ReLU6(), nn.Linear(16, 12),
                          nn.GLU(), nn.Unflatten(1, (2, 3)), nn.Flatten(), nn.Softsign(), nn.Linear(6, 3),
                          nn.Sigmoid()).to(device)
    opt = gk.optim.SGD(model.parameters(), lr=0.5)
    x = gk.randn(32, 4, device=device)
    y = (gk.randn(32, 3, device=device) > 0).astype("float32")
    criterion = nn.BCELoss()
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = criterion(model(x), y) + nn.SmoothL1Loss()(model(x), y) + nn.HuberLoss(delta=0.5)(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


# ================================================================== parity with PyTorch (when installed)
def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_activations_match_pytorch(device, dtype):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(30)
    data = np.concatenate([rng.standard_normal(200) * 4, [0.0, -3.0, 3.0, 6.0, -1.0, 1.0, 1e3, -1e3, 30.0]])
    data = data.astype(dtype)
    cases = [
        ("logsigmoid", F.logsigmoid, tf.logsigmoid, nn.LogSigmoid(), torch.nn.LogSigmoid()),
        ("hardtanh", F.hardtanh, tf.hardtanh, nn.Hardtanh(), torch.nn.Hardtanh()),
        ("hardtanh(-2, 3)", lambda a: F.hardtanh(a, -2.0, 3.0), lambda a: tf.hardtanh(a, -2.0, 3.0),
         nn.Hardtanh(-2.0, 3.0), torch.nn.Hardtanh(-2.0, 3.0)),
        ("relu6", F.relu6, tf.relu6, nn.ReLU6(), torch.nn.ReLU6()),
        ("softsign", F.softsign, tf.softsign, nn.Softsign(), torch.nn.Softsign()),
        ("hardsigmoid", F.hardsigmoid, tf.hardsigmoid, nn.Hardsigmoid(), torch.nn.Hardsigmoid()),
        ("hardswish", F.hardswish, tf.hardswish, nn.Hardswish(), torch.nn.Hardswish()),
    ]  # fmt: skip
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    for name, fn, tfn, module, tmodule in cases:
        x = gk.tensor(data, device=device, requires_grad=True)
        tx = torch.tensor(data, requires_grad=True)
        y, ty = fn(x), tfn(tx)
        cot = rng.standard_normal(data.shape).astype(dtype)
        y.backward(gk.tensor(cot, device=device))
        ty.backward(torch.tensor(cot))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol, err_msg=name)
        # PyTorch's hardsigmoid slope is the float 1/6 even in float64: 3e-8 relative
        gtol = dict(rtol=1e-7, atol=0) if name == "hardsigmoid" and dtype == "float64" else tol
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **gtol, err_msg=name)
        np.testing.assert_allclose(module(x).numpy(), tmodule(tx).detach().numpy(), **tol, err_msg=name)
        assert repr(module) == repr(tmodule)


def test_second_derivatives_match_pytorch(device):
    torch = _torch()
    data = np.concatenate([np.random.default_rng(31).standard_normal(50) * 4, [-3.0, 3.0, 0.0, 6.0, -1.0, 1.0]])
    for name in ("logsigmoid", "softsign", "hardswish", "hardtanh", "relu6"):
        tx = torch.tensor(data, requires_grad=True)
        (g,) = torch.autograd.grad(getattr(torch.nn.functional, name)(tx).sum(), tx, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), tx, allow_unused=True)
        h = np.zeros_like(data) if h is None else h.numpy()
        np.testing.assert_allclose(_second(getattr(F, name), _t(data, device)).numpy(), h, rtol=1e-12, atol=1e-15,
                                   err_msg=name)


def test_glu_softmin_and_distances_match_pytorch(device):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(32)
    a, b = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    a[0] = 0.0
    a[1] = 1e-10
    b1 = rng.standard_normal((1, 6))
    cases = [
        ("glu", lambda u, v: F.glu(u), lambda u, v: tf.glu(u)),
        ("glu0", lambda u, v: nn.GLU(0)(u[:4]), lambda u, v: torch.nn.GLU(0)(u[:4])),
        ("softmin", lambda u, v: F.softmin(u, 1), lambda u, v: tf.softmin(u, 1)),
        ("normalize", lambda u, v: F.normalize(u), lambda u, v: tf.normalize(u)),
        ("normalize p=1 dim=0", lambda u, v: F.normalize(u, 1, 0), lambda u, v: tf.normalize(u, 1, 0)),
        ("cosine", F.cosine_similarity, tf.cosine_similarity),
        ("cosine dim=0 eps", lambda u, v: F.cosine_similarity(u, v, 0, 1e-3),
         lambda u, v: tf.cosine_similarity(u, v, 0, 1e-3)),
        ("cosine module", nn.CosineSimilarity(), torch.nn.CosineSimilarity()),
        ("pairwise", F.pairwise_distance, tf.pairwise_distance),
        ("pairwise p=1 keepdim", lambda u, v: F.pairwise_distance(u, v, 1.0, keepdim=True),
         lambda u, v: tf.pairwise_distance(u, v, 1.0, keepdim=True)),
        ("pairwise module p=3", nn.PairwiseDistance(3.0, 1e-3), torch.nn.PairwiseDistance(3.0, 1e-3)),
    ]  # fmt: skip
    for second in (b, b1):  # the same shape, and one that broadcasts
        for name, fn, tfn in cases:
            x, y = gk.tensor(a, device=device, requires_grad=True), gk.tensor(second, device=device, requires_grad=True)
            tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(second, requires_grad=True)
            out, tout = fn(x, y), tfn(tx, ty)
            cot = rng.standard_normal(tuple(tout.shape))
            out.backward(gk.tensor(cot, device=device))
            tout.backward(torch.tensor(cot))
            np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=name)
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
            if ty.grad is not None:
                np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_losses_match_pytorch(device):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(33)
    x, y = rng.standard_normal((6, 4)) * 2, rng.standard_normal((6, 4))
    p, t = rng.uniform(0, 1, (6, 4)), rng.uniform(0, 1, (6, 4))
    p[0] = [0.0, 1.0, 0.0, 1.0]
    t[0] = [0.0, 1.0, 1.0, 0.0]
    t[1, :2] = 0.0  # KL terms with a zero target
    logp = np.log(rng.dirichlet(np.ones(4), 6))
    w = rng.uniform(0, 2, 4)
    cases = [
        ("HuberLoss", {}, x, y), ("HuberLoss", dict(delta=0.4), x, y), ("HuberLoss", dict(delta=3.0), x, y),
        ("SmoothL1Loss", {}, x, y), ("SmoothL1Loss", dict(beta=0.3), x, y), ("SmoothL1Loss", dict(beta=0.0), x, y),
        ("BCELoss", {}, p, t), ("BCELoss", dict(weight=w), p, t),
        ("KLDivLoss", {}, logp, t), ("KLDivLoss", dict(log_target=True), logp, np.log(t[2:])),
    ]  # fmt: skip
    for name, kw, a, b in cases:
        a = a[: len(b)]
        for reduction in ("mean", "sum", "none") + (("batchmean",) if name == "KLDivLoss" else ()):
            gkw = {k: (gk.tensor(v, device=device) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
            tkw = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
            ours, theirs = getattr(nn, name)(reduction=reduction, **gkw), getattr(torch.nn, name)(reduction=reduction,
                                                                                                 **tkw)
            u, v = gk.tensor(a, device=device, requires_grad=True), gk.tensor(b, device=device, requires_grad=True)
            tu, tv = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # both warn about KL's 'mean'
                out, tout = ours(u, v), theirs(tu, tv)
            out.sum().backward()
            tout.sum().backward()
            msg = f"{name} {kw} {reduction}"
            np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=msg)
            np.testing.assert_allclose(u.grad.numpy(), tu.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=msg)
            theirs_t = tv.grad.numpy()
            known = ~np.isnan(theirs_t)  # PyTorch's KL target gradient at t == 0 is 0/0
            assert known.all() or (name == "KLDivLoss" and not kw)
            np.testing.assert_allclose(v.grad.numpy()[known], theirs_t[known], rtol=1e-12, atol=1e-14, err_msg=msg)
            assert list(ours.state_dict()) == list(theirs.state_dict())
    # PyTorch 2's huber weight
    hw = rng.uniform(0, 2, (6, 4))
    for reduction in ("mean", "sum", "none"):
        u, tu = gk.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
        out = F.huber_loss(u, gk.tensor(y, device=device), reduction, 0.6, gk.tensor(hw, device=device))
        tout = tf.huber_loss(tu, torch.tensor(y), reduction, 0.6, torch.tensor(hw))
        out.sum().backward()
        tout.sum().backward()
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-13)
        np.testing.assert_allclose(u.grad.numpy(), tu.grad.numpy(), rtol=1e-13)
    # the functional forms, positionally, and PyTorch's float16 BCE at 0 and 1 (0/0 = NaN there; 0 here)
    np.testing.assert_allclose(F.binary_cross_entropy(gk.tensor(p, device=device), gk.tensor(t, device=device),
                                                      gk.tensor(w, device=device), "sum").numpy(),
                               tf.binary_cross_entropy(torch.tensor(p), torch.tensor(t), torch.tensor(w),
                                                       reduction="sum").numpy(), rtol=1e-13)
    half = gk.tensor(p[:2], dtype="float16", device=device, requires_grad=True)
    thalf = torch.tensor(p[:2], dtype=torch.float16, requires_grad=True)
    loss = F.binary_cross_entropy(half, gk.tensor(t[:2], dtype="float16", device=device), reduction="none")
    tloss = tf.binary_cross_entropy(thalf, torch.tensor(t[:2], dtype=torch.float16), reduction="none")
    np.testing.assert_allclose(loss.numpy().astype(np.float64), tloss.detach().numpy().astype(np.float64), rtol=2e-3)
    loss.sum().backward()
    tloss.sum().backward()
    known = ~np.isnan(thalf.grad.numpy())
    np.testing.assert_allclose(half.grad.numpy()[known].astype(np.float64),
                               thalf.grad.numpy()[known].astype(np.float64), rtol=2e-3)
    assert not np.isnan(half.grad.numpy()).any() and not known.all()


def test_module_reprs_match_pytorch():
    torch = _torch()
    pairs = [
        (nn.LogSigmoid(), torch.nn.LogSigmoid()), (nn.Hardtanh(), torch.nn.Hardtanh()),
        (nn.Hardtanh(-2.0, 3.0, True), torch.nn.Hardtanh(-2.0, 3.0, True)), (nn.ReLU6(), torch.nn.ReLU6()),
        (nn.ReLU6(True), torch.nn.ReLU6(True)), (nn.Softsign(), torch.nn.Softsign()),
        (nn.Hardswish(), torch.nn.Hardswish()), (nn.Hardsigmoid(True), torch.nn.Hardsigmoid(True)),
        (nn.GLU(), torch.nn.GLU()), (nn.GLU(0), torch.nn.GLU(0)), (nn.Softmin(), torch.nn.Softmin()),
        (nn.Softmin(1), torch.nn.Softmin(1)), (nn.CosineSimilarity(), torch.nn.CosineSimilarity()),
        (nn.PairwiseDistance(), torch.nn.PairwiseDistance()),
        (nn.Unflatten(1, (2, 5)), torch.nn.Unflatten(1, (2, 5))),
    ]  # fmt: skip
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
    x = torch.arange(60.0).reshape(3, 20)
    for size in ((4, 5), (2, -1, 5)):
        np.testing.assert_array_equal(nn.Unflatten(1, size)(gk.tensor(x.numpy())).numpy(),
                                      torch.nn.Unflatten(1, size)(x).numpy())

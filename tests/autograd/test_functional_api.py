"""gk.autograd.functional: torch.autograd.functional's jacobian, hessian, vjp, jvp, hvp and vhp."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd import functional as AF


def t64(values, device=None, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a.numpy() if hasattr(a, "numpy") else a), np.asarray(b), rtol=tol, atol=tol)


def f_two(x, y):  # R^3 x R^2 -> (R^2, R): both outputs depend on both inputs
    return gk.stack([(x * x).sum() * y[0], gk.sin(x).sum() + y[1] ** 3]), (x.exp().sum() * y).sum()


def t_two(torch, x, y):
    return torch.stack([(x * x).sum() * y[0], torch.sin(x).sum() + y[1] ** 3]), (x.exp().sum() * y).sum()


def scalar(x, y):
    return (gk.sin(x) * y.sum()).sum() + (x ** 3).sum() * y[0] ** 2


def t_scalar(x, y):
    return (x.sin() * y.sum()).sum() + (x ** 3).sum() * y[0] ** 2


XV, YV = [0.3, -1.2, 0.7], [1.5, -0.4]


def central_jacobian(f, xs, i, eps=1e-6):
    """d f(*xs) / d xs[i] by central differences, shape out.shape + xs[i].shape (one Tensor output)."""
    base = [np.asarray(x.numpy(), dtype=np.float64) for x in xs]
    cols = []
    for k in range(base[i].size):
        up, down = [b.copy() for b in base], [b.copy() for b in base]
        up[i].flat[k] += eps
        down[i].flat[k] -= eps
        fu = f(*[t64(a) for a in up]).numpy()
        fd = f(*[t64(a) for a in down]).numpy()
        cols.append((fu - fd) / (2 * eps))
    out = np.stack(cols, axis=-1)
    return out.reshape(out.shape[:-1] + base[i].shape)


# ------------------------------------------------------------------ jacobian
def test_jacobian_structures_follow_pytorch(device):
    x, y = t64(XV, device), t64(YV, device)
    j = AF.jacobian(lambda x: x * x, x)
    assert isinstance(j, gk.Tensor) and j.shape == (3, 3) and not j.requires_grad
    close(j, np.diag(2 * np.asarray(XV)))
    by_input = AF.jacobian(lambda x, y: (x * y.sum()).sum(), (x, y))
    assert isinstance(by_input, tuple) and [t.shape for t in by_input] == [(3,), (2,)]
    by_output = AF.jacobian(lambda x: (x * 2, x.sum()), x)
    assert isinstance(by_output, tuple) and [t.shape for t in by_output] == [(3, 3), (3,)]
    both = AF.jacobian(f_two, (x, y))
    assert [[t.shape for t in row] for row in both] == [[(2, 3), (2, 2)], [(3,), (2,)]]
    assert both[0][0].device == x.device


def test_jacobian_matches_central_differences_and_pytorch():
    x, y = t64(XV), t64(YV)
    ours = AF.jacobian(f_two, (x, y))
    for i in range(2):
        for j in range(2):
            close(ours[i][j], central_jacobian(lambda a, b, i=i: f_two(a, b)[i], [x, y], j), tol=1e-7)
    # forward-mode and vectorize give the same numbers
    fwd = AF.jacobian(f_two, (x, y), vectorize=True, strategy="forward-mode")
    close(fwd[1][0], ours[1][0].numpy(), tol=0)
    torch = pytest.importorskip("torch")
    tx, ty = torch.tensor(XV, dtype=torch.float64), torch.tensor(YV, dtype=torch.float64)
    theirs = torch.autograd.functional.jacobian(lambda a, b: t_two(torch, a, b), (tx, ty))
    for row, trow in zip(ours, theirs, strict=True):
        for a, b in zip(row, trow, strict=True):
            close(a, b.numpy())


def test_jacobian_strict_and_unused_inputs():
    x, y = t64(XV), t64(YV)
    lazy = AF.jacobian(lambda x, y: x * 2, (x, y))
    close(lazy[1], np.zeros((3, 2)))
    with pytest.raises(gk.AutogradError, match=r"jacobian: output 0 is independent of input 1.*strict=True") as info:
        AF.jacobian(lambda x, y: x * 2, (x, y), strict=True)
    assert isinstance(info.value, RuntimeError)  # PyTorch raises RuntimeError
    # a zero derivative by arithmetic is still a dependence
    AF.jacobian(lambda x, y: x * 2 + y.sum() * 0, (x, y), strict=True)


def test_jacobian_create_graph_is_differentiable():
    torch = pytest.importorskip("torch")
    x = t64(XV, requires_grad=True)
    j = AF.jacobian(lambda x: gk.sin(x) * x.sum(), x, create_graph=True)
    assert j.requires_grad
    (j * j).sum().backward()
    tx = torch.tensor(XV, dtype=torch.float64, requires_grad=True)
    tj = torch.autograd.functional.jacobian(lambda a: a.sin() * a.sum(), tx, create_graph=True)
    (tj * tj).sum().backward()
    close(x.grad, tx.grad.numpy())
    assert not AF.jacobian(lambda x: x * x, x).requires_grad  # create_graph=False: detached


def test_jacobian_bad_input_names_the_function():
    with pytest.raises(gk.ArgumentTypeError, match=r"autograd.functional.jacobian: inputs must be a Tensor"):
        AF.jacobian(lambda x: x, [1.0, 2.0])
    with pytest.raises(gk.DTypeError, match=r"autograd.functional.jacobian: inputs\[0\] must be a floating"):
        AF.jacobian(lambda x, y: x, (gk.tensor([1, 2]), t64(YV)))
    with pytest.raises(gk.InvalidArgumentError, match=r"jacobian: strategy must be 'reverse-mode'"):
        AF.jacobian(lambda x: x, t64(XV), strategy="forward")
    with pytest.raises(gk.ArgumentTypeError, match=r"jacobian: expected a function"):
        AF.jacobian(3, t64(XV))
    with pytest.raises(gk.ArgumentTypeError, match=r"jacobian: create_graph must be True or False"):
        AF.jacobian(lambda x: x, t64(XV), create_graph="yes")
    with pytest.raises(gk.AutogradError, match=r"autograd.functional.jacobian: the function returned a NumPy"):
        AF.jacobian(lambda x: np.float64(1.0), t64(XV))


# ------------------------------------------------------------------- hessian
def test_hessian_matches_central_differences_and_pytorch():
    x, y = t64(XV), t64(YV)
    h = AF.hessian(lambda a: scalar(a, y), x)
    assert isinstance(h, gk.Tensor) and h.shape == (3, 3)
    hh = AF.hessian(scalar, (x, y), outer_jacobian_strategy="forward-mode")
    assert [[t.shape for t in row] for row in hh] == [[(3, 3), (3, 2)], [(2, 3), (2, 2)]]
    close(hh[0][0], h.numpy(), tol=0)
    for i in range(2):
        for j in range(2):
            grad_i = lambda a, b, i=i: gk.grad(scalar, argnums=i)(a, b)  # noqa: E731
            close(hh[i][j], central_jacobian(grad_i, [x, y], j), tol=1e-7)
    torch = pytest.importorskip("torch")
    tx, ty = torch.tensor(XV, dtype=torch.float64), torch.tensor(YV, dtype=torch.float64)
    close(h, torch.autograd.functional.hessian(lambda a: t_scalar(a, ty), tx).numpy())
    th = torch.autograd.functional.hessian(t_scalar, (tx, ty))
    for row, trow in zip(hh, th, strict=True):
        for a, b in zip(row, trow, strict=True):
            close(a, b.numpy())


def test_hessian_strict_and_errors():
    x, y = t64(XV), t64(YV)
    close(AF.hessian(lambda x: (x * 3.0).sum(), x), np.zeros((3, 3)))
    with pytest.raises(gk.AutogradError, match=r"hessian: the gradient with respect to input 0 is independent"):
        AF.hessian(lambda x: (x * 3.0).sum(), x, strict=True)
    with pytest.raises(gk.AutogradError, match=r"hessian: the gradient with respect to input 0 is independent of "
                                               r"input 1"):
        AF.hessian(lambda x, y: (x * x).sum() + (y * y).sum(), (x, y), strict=True)
    AF.hessian(scalar, (x, y), strict=True)
    with pytest.raises(gk.ShapeError, match=r"autograd.functional.hessian: the function must return a scalar"):
        AF.hessian(lambda x: x * x, x)
    with pytest.raises(gk.ArgumentTypeError, match=r"autograd.functional.hessian: the function must return a scalar"):
        AF.hessian(lambda x: (x.sum(), x.sum()), x)


# ---------------------------------------------------------------- vjp / jvp
def test_vjp_and_jvp_match_the_jacobian_central_differences_and_pytorch():
    x, y = t64(XV), t64(YV)
    jac = AF.jacobian(f_two, (x, y))
    v_out = (t64([0.5, -2.0]), t64(3.0))
    out, vjps = AF.vjp(f_two, (x, y), v_out)
    assert isinstance(out, tuple) and isinstance(vjps, tuple) and len(vjps) == 2
    assert not any(t.requires_grad for t in out + vjps)
    for j in range(2):
        expected = v_out[0].numpy() @ jac[0][j].numpy() + v_out[1].numpy() * jac[1][j].numpy()
        close(vjps[j], expected)
    v_in = (t64([1.0, 0.5, -1.0]), t64([2.0, 0.25]))
    out, jvps = AF.jvp(f_two, (x, y), v_in)
    eps = 1e-6
    ups = f_two(x + eps * v_in[0], y + eps * v_in[1])
    downs = f_two(x - eps * v_in[0], y - eps * v_in[1])
    for jv, up, down in zip(jvps, ups, downs, strict=True):
        close(jv, (up.numpy() - down.numpy()) / (2 * eps), tol=1e-7)
    torch = pytest.importorskip("torch")
    tx, ty = torch.tensor(XV, dtype=torch.float64), torch.tensor(YV, dtype=torch.float64)
    tf = lambda a, b: t_two(torch, a, b)  # noqa: E731
    tout, tvjps = torch.autograd.functional.vjp(tf, (tx, ty), tuple(torch.tensor(v.numpy()) for v in v_out))
    for a, b in zip(vjps, tvjps, strict=True):
        close(a, b.numpy())
    tout, tjvps = torch.autograd.functional.jvp(tf, (tx, ty), tuple(torch.tensor(v.numpy()) for v in v_in))
    for a, b in zip(out + jvps, tout + tjvps, strict=True):
        close(a, b.numpy())


def test_vjp_jvp_single_tensors_and_implicit_v(device):
    x = t64(XV, device)
    out, g = AF.vjp(lambda x: (x * x).sum(), x)  # one-element output: v defaults to 1
    assert isinstance(g, gk.Tensor)
    close(g, 2 * np.asarray(XV))
    out, jv = AF.jvp(lambda s: s * t64([1.0, 2.0], device), t64(3.0, device))  # one-element input
    close(jv, [1.0, 2.0])
    with pytest.raises(gk.InvalidArgumentError, match=r"autograd.functional.vjp: v can be None only"):
        AF.vjp(lambda x: x * 2, x)
    with pytest.raises(gk.InvalidArgumentError, match=r"autograd.functional.jvp: v can be None only"):
        AF.jvp(lambda x: x * 2, x)
    with pytest.raises(gk.ShapeError, match=r"autograd.functional.vjp: v has shape \(2,\)"):
        AF.vjp(lambda x: x * 2, x, t64([1.0, 2.0], device))
    with pytest.raises(gk.InvalidArgumentError, match=r"autograd.functional.jvp: v has 1 Tensor\(s\), but there "
                                                      r"are 2 inputs"):
        AF.jvp(lambda a, b: a * b.sum(), (x, x), (x,))


def test_vjp_jvp_strict():
    x, y = t64(XV), t64(YV)
    with pytest.raises(gk.AutogradError, match=r"vjp: the function's outputs are independent of input 1"):
        AF.vjp(lambda x, y: x * 2, (x, y), x, strict=True)
    with pytest.raises(gk.AutogradError, match=r"vjp: output 1 of the function does not require grad"):
        AF.vjp(lambda x: (x * 2, t64(YV)), x, (x, y), strict=True)
    with pytest.raises(gk.AutogradError, match=r"jvp: output 1 is independent of the inputs"):
        AF.jvp(lambda x: (x * 2, t64(YV)), x, x, strict=True)
    _, (g0, g1) = AF.vjp(lambda x, y: x * 2, (x, y), x)  # not strict: zeros
    close(g1, [0.0, 0.0])


def test_vjp_create_graph_second_derivative():
    torch = pytest.importorskip("torch")
    x = t64(XV, requires_grad=True)
    _, g = AF.vjp(lambda x: gk.sin(x) * x, x, t64([1.0, 2.0, 3.0]), create_graph=True)
    assert g.requires_grad
    g.sum().backward()
    tx = torch.tensor(XV, dtype=torch.float64, requires_grad=True)
    _, tg = torch.autograd.functional.vjp(lambda a: a.sin() * a, tx, torch.tensor([1.0, 2.0, 3.0],
                                          dtype=torch.float64), create_graph=True)
    tg.sum().backward()
    close(x.grad, tx.grad.numpy())


# ---------------------------------------------------------------- hvp / vhp
def test_hvp_and_vhp_match_the_hessian_and_pytorch():
    x, y = t64(XV), t64(YV)
    v = (t64([1.0, -0.5, 2.0]), t64([0.3, 1.1]))
    hh = AF.hessian(scalar, (x, y))
    for fn in (AF.hvp, AF.vhp):
        value, prods = fn(scalar, (x, y), v)
        close(value, scalar(x, y).numpy())
        for i in range(2):
            close(prods[i], sum(hh[i][j].numpy() @ v[j].numpy() for j in range(2)))
    torch = pytest.importorskip("torch")
    tx, ty = torch.tensor(XV, dtype=torch.float64), torch.tensor(YV, dtype=torch.float64)
    v = (t64([1.0, -0.5, 2.0]), t64([0.3, 1.1]))
    tv = tuple(torch.tensor(a.numpy()) for a in v)
    for ours, theirs in ((AF.hvp, torch.autograd.functional.hvp), (AF.vhp, torch.autograd.functional.vhp)):
        value, prods = ours(scalar, (x, y), v)
        tvalue, tprods = theirs(t_scalar, (tx, ty), tv)
        assert value.shape == () and isinstance(prods, tuple) and len(prods) == 2
        close(value, tvalue.numpy())
        for a, b in zip(prods, tprods, strict=True):
            close(a, b.numpy())
        value, prod = ours(lambda a: scalar(a, y), x, v[0])
        assert isinstance(prod, gk.Tensor) and prod.shape == (3,)
        close(prod, theirs(lambda a: t_scalar(a, ty), tx, tv[0])[1].numpy())


def test_hvp_vhp_strict_create_graph_and_errors():
    x = t64(XV, requires_grad=True)
    with pytest.raises(gk.AutogradError, match=r"hvp: the gradient with respect to input 0 is independent of the "
                                               r"inputs"):
        AF.hvp(lambda x: (x * 3.0).sum(), x.detach(), x.detach(), strict=True)
    with pytest.raises(gk.AutogradError, match=r"vhp: the gradient with respect to input 1 is independent of the "
                                               r"inputs"):
        AF.vhp(lambda a, b: (a ** 3).sum() + b.sum(), (x.detach(), t64(YV)), (x.detach(), t64(YV)), strict=True)
    _, prod = AF.vhp(lambda a: (a ** 3).sum(), x, t64([1.0, 1.0, 1.0]), create_graph=True)
    assert prod.requires_grad  # 6 x * v: differentiable
    prod.sum().backward()
    close(x.grad, [6.0, 6.0, 6.0])
    with pytest.raises(gk.ShapeError, match=r"autograd.functional.hvp: the function must return a scalar"):
        AF.hvp(lambda a: a * a, x, x)
    with pytest.raises(gk.InvalidArgumentError, match=r"autograd.functional.vhp: v can be None only"):
        AF.vhp(lambda a: (a * a).sum(), x)


def test_reachable_as_gk_autograd_functional():
    assert gk.autograd.functional is AF
    assert "functional" in dir(gk.autograd)


@pytest.mark.parametrize("name", ["hvp", "vhp", "hessian", "jvp"])
def test_create_graph_third_order_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    v = np.array([1.0, 2.0, -1.0])

    def run(lib, x, fn):
        if name == "hessian":
            return fn(lambda a: (lib.sin(a) * a.sum()).sum() + (a ** 4).sum(), x, create_graph=True)
        if name == "jvp":
            return fn(lambda a: lib.sin(a) * a.sum(), x, lib.tensor(v), create_graph=True)[1]
        return fn(lambda a: (lib.sin(a) * a.sum()).sum() + (a ** 4).sum(), x, lib.tensor(v), create_graph=True)[1]

    x = t64(XV, requires_grad=True)
    (run(gk, x, getattr(AF, name)) ** 2).sum().backward()
    tx = torch.tensor(XV, dtype=torch.float64, requires_grad=True)
    (run(torch, tx, getattr(torch.autograd.functional, name)) ** 2).sum().backward()
    close(x.grad, tx.grad.numpy(), tol=1e-9)

"""Review of gk.func and gk.autograd.functional as torch.func / torch.autograd.functional code uses them."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit import func, nn
from gradkit.autograd import functional as AF

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

RNG = np.random.default_rng(11)
X, Y = RNG.normal(size=(5, 3)), RNG.normal(size=(5, 2))


def t64(values, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def close(a, b, tol=1e-9):
    a = a.detach().numpy() if hasattr(a, "detach") else a
    b = b.detach().numpy() if hasattr(b, "detach") else b
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def central(f, x, eps=1e-6):
    """d f / d x (f: NumPy array -> NumPy array) by central differences, shape ``f(x).shape + x.shape``."""
    cols = []
    for k in range(x.size):
        up, down = x.copy(), x.copy()
        up.flat[k] += eps
        down.flat[k] -= eps
        cols.append((np.asarray(f(up)) - np.asarray(f(down))) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(f(x)) + x.shape)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, dtype="float64")
        self.fc2 = nn.Linear(4, 2, dtype="float64")

    def forward(self, x):
        return self.fc2(gk.tanh(self.fc1(x)))


NAMES = {"fc1.weight": "0.weight", "fc1.bias": "0.bias", "fc2.weight": "2.weight", "fc2.bias": "2.bias"}


def torch_net(torch, net):
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    with torch.no_grad():
        for k, tk in NAMES.items():
            ref.get_parameter(tk).copy_(torch.tensor(net.get_parameter(k).numpy()))
    return ref


# ------------------------------------------------------------------ torch.func idioms
def test_per_sample_gradients_over_functional_call_match_torch():
    torch = pytest.importorskip("torch")
    net = Net()
    ref = torch_net(torch, net)
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss(p, x, y):
        return ((func.functional_call(net, p, (x[None],)) - y[None]) ** 2).mean()

    def t_loss(p, x, y):
        return ((torch.func.functional_call(ref, p, (x[None],)) - y[None]) ** 2).mean()

    per = func.vmap(func.grad(loss), in_dims=(None, 0, 0))(params, t64(X), t64(Y))
    t_per = torch.func.vmap(torch.func.grad(t_loss), in_dims=(None, 0, 0))(
        {k: v.detach() for k, v in ref.named_parameters()}, torch.tensor(X), torch.tensor(Y))
    for k, tk in NAMES.items():
        assert per[k].shape == (5, *params[k].shape)
        close(per[k], t_per[tk])
    assert all(p.grad is None for p in net.parameters())


def test_ensembling_with_vmap_over_stacked_parameters():
    nets = [Net() for _ in range(3)]
    base = nets[0]
    stacked = {k: gk.stack([n.get_parameter(k).detach() for n in nets]) for k in NAMES}
    expected = np.stack([n(t64(X)).detach().numpy() for n in nets])
    run = func.vmap(lambda p, x: func.functional_call(base, p, (x,)), in_dims=(0, 0))
    close(run(stacked, t64(np.stack([X] * 3))), expected)
    close(func.vmap(lambda p, x: func.functional_call(base, p, (x,)), in_dims=(0, None))(stacked, t64(X)), expected)


def test_jacrev_and_jacfwd_of_a_dict_output():
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=3)

    def f(a):
        return {"a": a.sin() * a[0], "b": (a * a).sum()}

    for jac, t_jac in ((func.jacrev, torch.func.jacrev), (func.jacfwd, torch.func.jacfwd)):
        j, tj = jac(f)(t64(x)), t_jac(f)(torch.tensor(x))
        assert set(j) == {"a", "b"} and j["a"].shape == (3, 3) and j["b"].shape == (3,)
        close(j["a"], tj["a"])
        close(j["b"], tj["b"])
    close(func.jacrev(f)(t64(x))["a"], central(lambda v: np.sin(v) * v[0], x), tol=1e-7)


def test_jac_with_argnums_tuple_and_has_aux_match_torch():
    torch = pytest.importorskip("torch")
    x, y = RNG.normal(size=3), RNG.normal(size=2)

    def f(a, b):
        return (a[:, None] * b).sin(), {"s": a.sum() * 2}

    for jac, t_jac in ((func.jacrev, torch.func.jacrev), (func.jacfwd, torch.func.jacfwd)):
        (jx, jy), aux = jac(f, argnums=(0, 1), has_aux=True)(t64(x), t64(y))
        (tjx, tjy), t_aux = t_jac(f, argnums=(0, 1), has_aux=True)(torch.tensor(x), torch.tensor(y))
        assert jx.shape == (3, 2, 3) and jy.shape == (3, 2, 2)
        close(jx, tjx)
        close(jy, tjy)
        close(aux["s"], t_aux["s"])
        assert not aux["s"].requires_grad


def test_hessian_of_a_function_of_two_arguments():
    torch = pytest.importorskip("torch")
    x, y = RNG.normal(size=3), RNG.normal(size=2)

    def f(a, b):
        return a.sin().sum() * b.cos().sum() + (a ** 2).sum() * (b ** 3).sum()

    h = func.hessian(f, argnums=(0, 1))(t64(x), t64(y))
    th = torch.func.hessian(f, argnums=(0, 1))(torch.tensor(x), torch.tensor(y))
    ah = AF.hessian(f, (t64(x), t64(y)))
    for i in range(2):
        for j in range(2):
            close(h[i][j], th[i][j])
            close(ah[i][j], th[i][j])
    close(func.hessian(f, argnums=1)(t64(x), t64(y)), th[1][1])
    g1 = func.grad(f, argnums=1)
    close(h[0][1], central(lambda a: g1(t64(a), t64(y)).numpy(), x).T, tol=1e-6)


# ------------------------------------------------------------------------- vmap
def test_nested_vmap_and_negative_in_dims_match_torch():
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(2, 3, 4))
    inner = x[0, 0]
    out = func.vmap(func.vmap(lambda a, b: (a * b).sum(), in_dims=(0, None)), in_dims=(0, None))(t64(x), t64(inner))
    t_out = torch.vmap(torch.vmap(lambda a, b: (a * b).sum(), in_dims=(0, None)), in_dims=(0, None))(
        torch.tensor(x), torch.tensor(inner))
    close(out, t_out)
    close(func.vmap(func.vmap(lambda a: a.sum(), in_dims=1), in_dims=-1)(t64(x)),
          torch.vmap(torch.vmap(lambda a: a.sum(), in_dims=1), in_dims=-1)(torch.tensor(x)))


def test_vmap_out_dims_match_torch():
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(2, 3, 4))

    def f(a):
        return a * 2, a.sum(0), a.sum()

    for dims in ((0, 1, 0), (2, -1, 0), (-1, 0, -1)):
        for a, b in zip(func.vmap(f, in_dims=-2, out_dims=dims)(t64(x)),
                        torch.vmap(f, in_dims=-2, out_dims=dims)(torch.tensor(x)), strict=True):
            close(a, b)
    # one Tensor returned: out_dims=(d,) is accepted, as by torch (regression: it raised)
    close(func.vmap(lambda a: a * 2, out_dims=(1,))(t64(x[0])), (x[0] * 2).T)


def test_vmap_out_dims_none_refuses_a_mapped_output():
    x = t64(RNG.normal(size=(3, 2)))
    c = t64([1.0, 2.0])
    close(func.vmap(lambda a: (a * 2, c * 3), out_dims=(0, None))(x)[1], [3.0, 6.0])
    # regression: it returned the first call's result, silently dropping the others
    with pytest.raises(gk.InvalidArgumentError, match=r"func.vmap: out_dims is None for the function's output\[0\], "
                                                      r"but it differs between index 0 and index 1"):
        func.vmap(lambda a: (a * 2, c), out_dims=(None, 0))(x)


def test_vmap_in_dims_of_the_wrong_length_says_so():
    x = t64(np.zeros((2, 3)))
    with pytest.raises(gk.InvalidArgumentError, match=r"func.vmap: in_dims=\(0,\) has 1 entries, one per positional "
                                                      r"argument, but the function was called with 2"):
        func.vmap(lambda a, b: a * b, in_dims=(0,))(x, x)


def test_vmap_of_numbers_none_and_a_raising_function():
    x = t64(np.zeros((3, 2)))
    with pytest.raises(gk.ArgumentTypeError, match=r"func.vmap: the function's output is float 3.0 at index 0"):
        func.vmap(lambda a: 3.0)(x)
    with pytest.raises(gk.ArgumentTypeError, match=r"func.vmap: the function's output\[1\] is int 2 at index 0"):
        func.vmap(lambda a: (a, 2))(x)
    s, nothing = func.vmap(lambda a: (a.sum(), None))(x)
    assert s.shape == (3,) and nothing is None
    calls = []

    def boom(a):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("boom at 1")
        return a

    with pytest.raises(ValueError, match="boom at 1"):
        func.vmap(boom)(x)


# ---------------------------------------------------------------- functional_call
def test_functional_call_batchnorm_buffers_match_torch():
    torch = pytest.importorskip("torch")
    bn, t_bn = nn.BatchNorm1d(3, dtype="float64"), torch.nn.BatchNorm1d(3).double()
    x = RNG.normal(size=(6, 3))
    mean, var, n = gk.zeros(3, dtype="float64"), gk.ones(3, dtype="float64"), gk.tensor(0)
    t_mean, t_var, t_n = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), torch.tensor(0)
    out = func.functional_call(bn, {"running_mean": mean, "running_var": var, "num_batches_tracked": n}, (t64(x),))
    t_out = torch.func.functional_call(
        t_bn, {"running_mean": t_mean, "running_var": t_var, "num_batches_tracked": t_n}, (torch.tensor(x),))
    close(out, t_out)
    close(mean, t_mean)
    close(var, t_var)
    assert n.item() == t_n.item() == 1
    close(bn.running_mean, np.zeros(3))
    assert bn.num_batches_tracked.item() == 0
    # under vmap over stacked buffers: each slice's statistics land in the stacked tensors, as in torch
    xs = RNG.normal(size=(2, 6, 3))
    means, t_means = gk.zeros((2, 3), dtype="float64"), torch.zeros((2, 3), dtype=torch.float64)
    vars_, t_vars = gk.ones((2, 3), dtype="float64"), torch.ones((2, 3), dtype=torch.float64)
    func.vmap(lambda m, s, a: func.functional_call(bn, {"running_mean": m, "running_var": s}, (a,)))(
        means, vars_, t64(xs))
    torch.vmap(lambda m, s, a: torch.func.functional_call(t_bn, {"running_mean": m, "running_var": s}, (a,)))(
        t_means, t_vars, torch.tensor(xs))
    close(means, t_means)
    close(vars_, t_vars)


class TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(5, 3, dtype="float64")
        self.out = nn.Linear(3, 5, bias=False, dtype="float64")
        self.out.weight = self.emb.weight

    def forward(self, i):
        return self.out(self.emb(i))


def test_functional_call_tied_embedding_and_linear_match_torch():
    torch = pytest.importorskip("torch")

    class TTiedLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(5, 3).double()
            self.out = torch.nn.Linear(3, 5, bias=False).double()
            self.out.weight = self.emb.weight

        def forward(self, i):
            return self.out(self.emb(i))

    m, tm = TiedLM(), TTiedLM()
    with torch.no_grad():
        tm.emb.weight.copy_(torch.tensor(m.emb.weight.numpy()))
    w, idx = RNG.normal(size=(5, 3)), [0, 3, 4]
    for tie in (True, False):
        for key in ("emb.weight", "out.weight"):
            out = func.functional_call(m, {key: t64(w)}, (gk.tensor(idx),), tie_weights=tie)
            close(out, torch.func.functional_call(tm, {key: torch.tensor(w)}, (torch.tensor(idx),), tie_weights=tie))
    func.functional_call(m, {"emb.weight": t64(w)}, (gk.tensor(idx),), strict=True)  # one name covers both
    with pytest.raises(gk.InvalidArgumentError, match=r"missing \['out.weight'\]"):
        func.functional_call(m, {"emb.weight": t64(w)}, (gk.tensor(idx),), tie_weights=False, strict=True)
    g = func.grad(lambda p: func.functional_call(m, p, (gk.tensor(idx),)).sum())({"emb.weight": t64(w)})
    tg = torch.func.grad(lambda p: torch.func.functional_call(tm, p, (torch.tensor(idx),)).sum())(
        {"emb.weight": torch.tensor(w)})
    close(g["emb.weight"], tg["emb.weight"])
    assert m.out.weight is m.emb.weight


def test_functional_call_restores_after_errors_and_nests():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(gk.ones(2, dtype="float64"))
            self.register_buffer("b", gk.zeros(2, dtype="float64"))
            self.fail = False
            self.depth = 0

        def forward(self, x):
            if self.fail:
                raise RuntimeError("forward failed")
            out = (self.w * self.w * x).sum() + self.b.sum()  # the parameter used twice
            if self.depth == 0:
                self.depth = 1
                try:
                    out = out + func.functional_call(self, {"w": t64([5.0, 5.0])}, (x,))
                finally:
                    self.depth = 0
            return out

    m = M()
    w0, b0 = m.w, m.b
    x = RNG.normal(size=2)
    out = func.functional_call(m, {"w": t64([2.0, 3.0]), "b": t64([1.0, 1.0])}, (t64(x),))
    close(out, (np.array([4.0, 9.0]) * x).sum() + 2 + (25 * x).sum() + 2)  # the inner call sees b
    g = func.grad(lambda p: func.functional_call(m, p, (t64(x),)))({"w": t64([2.0, 3.0])})
    close(g["w"], 2 * np.array([2.0, 3.0]) * x)
    m.fail = True
    with pytest.raises(RuntimeError, match="forward failed"):
        func.functional_call(m, {"w": t64([2.0, 3.0]), "b": t64([1.0, 1.0])}, (t64(x),))
    with pytest.raises(gk.InvalidArgumentError, match=r"'zz.q' names no submodule"):
        func.functional_call(m, {"w": t64([2.0, 3.0]), "zz.q": t64([1.0])}, (t64(x),))
    assert m.w is w0 and m.b is b0 and isinstance(m.w, nn.Parameter)
    assert [n for n, _ in m.named_parameters()] == ["w"] and [n for n, _ in m.named_buffers()] == ["b"]


def test_functional_call_of_an_lstm_matches_torch():
    torch = pytest.importorskip("torch")
    m, tm = nn.LSTM(3, 4, num_layers=2, dtype="float64"), torch.nn.LSTM(3, 4, num_layers=2).double()
    p = {k: RNG.normal(size=v.shape) for k, v in m.named_parameters()}
    x = RNG.normal(size=(4, 2, 3))
    g = func.grad(lambda q: (func.functional_call(m, q, t64(x))[0] ** 2).sum())({k: t64(v) for k, v in p.items()})
    tg = torch.func.grad(lambda q: (torch.func.functional_call(tm, q, torch.tensor(x))[0] ** 2).sum())(
        {k: torch.tensor(v) for k, v in p.items()})
    for k in p:
        close(g[k], tg[k])


# ------------------------------------------------------- gk.autograd.functional
STRICT_CASES = [
    ("jacobian", lambda a, b: a * 2, None),
    ("jacobian", lambda a, b: a * 0 + b.sum(), None),
    ("jacobian", lambda a, b: b * 2, None),
    ("jacobian", lambda a, b: a * b.sum(), None),
    ("vjp", lambda a, b: a * 2, "out"),
    ("vjp", lambda a, b: a * b.sum(), "out"),
    ("jvp", lambda a, b: a * 2, "in"),
    ("hessian", lambda a, b: a.sum() + b.sum(), None),
    ("hessian", lambda a, b: (a ** 2).sum() + b.sum(), None),
    ("hessian", lambda a, b: (a ** 2).sum() * (b ** 2).sum(), None),
    ("hvp", lambda a, b: a.sum() + b.sum(), "in"),
    ("hvp", lambda a, b: (a ** 2).sum() + b.sum(), "in"),
    ("vhp", lambda a, b: (a ** 2).sum() + b.sum(), "in"),
    ("vhp", lambda a, b: (a ** 2).sum() * (b ** 2).sum(), "in"),
]


@pytest.mark.parametrize("kind, f, v", STRICT_CASES)
def test_strict_raises_where_torch_does(kind, f, v):
    torch = pytest.importorskip("torch")
    a, b = RNG.normal(size=3), RNG.normal(size=2)
    vs = {None: (), "out": ((np.ones(3),),), "in": ((a, b),)}[v]
    gk_args = [tuple(t64(u) for u in vv) for vv in vs]
    t_args = [tuple(torch.tensor(u) for u in vv) for vv in vs]
    try:
        getattr(torch.autograd.functional, kind)(f, (torch.tensor(a), torch.tensor(b)), *t_args, strict=True)
        torch_raises = False
    except RuntimeError:
        torch_raises = True
    if torch_raises:
        with pytest.raises(gk.AutogradError, match=rf"autograd.functional.{kind}: .*strict=True does not allow"):
            getattr(AF, kind)(f, (t64(a), t64(b)), *gk_args, strict=True)
    else:
        getattr(AF, kind)(f, (t64(a), t64(b)), *gk_args, strict=True)


def test_hvp_vhp_and_create_graph_match_torch():
    torch = pytest.importorskip("torch")
    x, v = RNG.normal(size=3), RNG.normal(size=3)

    def f(a):
        return (a.sin() * a ** 2).sum()

    h = AF.hessian(f, t64(x)).numpy()
    close(AF.hvp(f, t64(x), t64(v))[1], h @ v)
    close(AF.vhp(f, t64(x), t64(v))[1], v @ h)
    close(AF.hvp(f, t64(x), t64(v))[1], torch.autograd.functional.hvp(f, torch.tensor(x), torch.tensor(v))[1])
    for kind in ("hvp", "vhp"):
        xg, xt = t64(x, True), torch.tensor(x, requires_grad=True)
        value, prod = getattr(AF, kind)(f, xg, t64(v), create_graph=True)
        t_value, t_prod = getattr(torch.autograd.functional, kind)(f, xt, torch.tensor(v), create_graph=True)
        assert (value.requires_grad, prod.requires_grad) == (t_value.requires_grad, t_prod.requires_grad) == (True,) * 2
        prod.sum().backward()
        t_prod.sum().backward()
        close(xg.grad, xt.grad)
        _, prod = getattr(AF, kind)(f, xg, t64(v))
        assert not prod.requires_grad
    xg, xt = t64(x, True), torch.tensor(x, requires_grad=True)
    (AF.jacobian(lambda a: a.sin() * a.sum(), xg, create_graph=True) ** 2).sum().backward()
    (torch.autograd.functional.jacobian(lambda a: a.sin() * a.sum(), xt, create_graph=True) ** 2).sum().backward()
    close(xg.grad, xt.grad)


def test_autograd_functional_argument_errors():
    x = t64(RNG.normal(size=3))
    with pytest.raises(gk.InvalidArgumentError, match=r"autograd.functional.vjp: v can be None only when there is a "
                                                      r"single output with a single element"):
        AF.vjp(lambda a: a * 2, x)
    with pytest.raises(gk.DTypeError, match=r"autograd.functional.jacobian: inputs\[1\] must be a floating-point "
                                            r"tensor to be differentiated, got dtype int64"):
        AF.jacobian(lambda a, b: a * b, (x, gk.tensor([1, 2, 3])))
    with pytest.raises(gk.ShapeError, match=r"autograd.functional.jvp: v\[1\] has shape \(2,\), but the input has "
                                            r"shape \(3,\)"):
        AF.jvp(lambda a, b: a * b, (x, x), (x, t64([1.0, 2.0])))
    with pytest.raises(gk.ShapeError, match=r"func.grad: the function must return a scalar"):
        func.grad(lambda a: a * 2)(x)
    with pytest.raises(gk.DTypeError, match=r"func.grad: argument 0 must be a floating-point tensor"):
        func.grad(lambda a: (a * 2).sum())(gk.tensor([1, 2]))
    # v of another dtype is cast to the output's, as before
    _, prod = AF.vjp(lambda a: a * 2, x, x.astype(gk.float32))
    assert prod.dtype == np.float64
    close(prod, 2 * x.numpy(), tol=1e-6)

"""gk.func: torch.func's grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, functional_call, vmap."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit import func, nn

# importing torch.func scripts a few functions with torch.jit, which warns on recent PyTorch
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def t64(values, device=None, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a.numpy() if hasattr(a, "numpy") else a), np.asarray(b), rtol=tol, atol=tol)


def loss(params, x, y):  # a pytree (dict) of parameters, as torch.func code writes it
    h = gk.tanh(x @ params["w1"].T + params["b1"])
    return ((h @ params["w2"].T - y) ** 2).mean()


def t_loss(params, x, y):
    h = (x @ params["w1"].T + params["b1"]).tanh()
    return ((h @ params["w2"].T - y) ** 2).mean()


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"w1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4), "w2": rng.normal(size=(2, 4))}


def to_gk(d, device=None, requires_grad=False):
    return {k: t64(v, device, requires_grad) for k, v in d.items()}


def to_torch(torch, d, requires_grad=False):
    return {k: torch.tensor(v, dtype=torch.float64, requires_grad=requires_grad) for k, v in d.items()}


def central_grad(f, x, eps=1e-6):
    """Gradient of scalar ``f`` at NumPy array ``x`` by central differences."""
    g = np.zeros_like(x)
    for k in range(x.size):
        up, down = x.copy(), x.copy()
        up.flat[k] += eps
        down.flat[k] -= eps
        g.flat[k] = (f(t64(up)).item() - f(t64(down)).item()) / (2 * eps)
    return g


DATA = np.random.default_rng(1)
XS, YS = DATA.normal(size=(5, 3)), DATA.normal(size=(5, 2))


# -------------------------------------------------------------------- grad
def test_grad_of_a_dict_of_parameters_matches_pytorch_and_central_differences(device):
    p = make_params()
    g = func.grad(loss)(to_gk(p, device), t64(XS, device), t64(YS, device))
    assert list(g) == ["w1", "b1", "w2"] and g["w1"].shape == (4, 3) and not g["w1"].requires_grad
    numeric = central_grad(lambda b1: loss({**to_gk(p), "b1": b1}, t64(XS), t64(YS)), p["b1"])
    close(g["b1"], numeric, tol=1e-7)
    torch = pytest.importorskip("torch")
    tg = torch.func.grad(t_loss)(to_torch(torch, p), torch.tensor(XS), torch.tensor(YS))
    for k in p:
        close(g[k], tg[k].numpy())


def test_grad_argnums_has_aux_and_grad_and_value():
    def f(x, y):
        return (gk.sin(x) * y).sum(), {"y2": y * 2}

    xv, yv = np.array([0.1, 0.2]), np.array([3.0, 4.0])
    x, y = t64(xv), t64(yv, requires_grad=True)
    (gx, gy), aux = func.grad(f, argnums=(0, 1), has_aux=True)(x, y)
    close(gx, np.cos(xv) * yv)
    close(gy, np.sin(xv))
    close(aux["y2"], 2 * yv)
    assert aux["y2"].requires_grad  # connected to y, which requires grad outside the transform
    grads, (value, aux) = func.grad_and_value(f, argnums=1, has_aux=True)(x, y)
    close(grads, np.sin(xv))
    close(value, (np.sin(xv) * yv).sum())
    g, v = func.grad_and_value(lambda x: (x ** 3).sum())(t64([2.0]))
    close(g, [12.0])
    close(v, 8.0)
    close(func.grad(func.grad(lambda x: x ** 3))(t64(2.0)), 12.0)  # composes: second derivative
    torch = pytest.importorskip("torch")
    (tgx, tgy), taux = torch.func.grad(lambda a, b: ((a.sin() * b).sum(), b * 2), argnums=(0, 1), has_aux=True)(
        torch.tensor(xv), torch.tensor(yv))
    close(gx, tgx.numpy())
    close(gy, tgy.numpy())


def test_grad_errors_name_the_function():
    with pytest.raises(gk.ArgumentTypeError, match=r"func.grad: with has_aux=True the function must return a tuple"):
        func.grad(lambda x: x.sum(), has_aux=True)(t64([1.0]))
    with pytest.raises(gk.ShapeError, match=r"func.grad: the function must return a scalar"):
        func.grad(lambda x: x * 2)(t64([1.0, 2.0]))
    with pytest.raises(gk.DTypeError, match=r"func.grad: argument 0\['a'\] must be a floating-point"):
        func.grad(lambda d: d["a"].sum())({"a": gk.tensor([1, 2])})
    with pytest.raises(gk.IndexOutOfRangeError, match=r"func.grad: argnums=3"):
        func.grad(lambda x: x.sum(), argnums=3)(t64([1.0]))
    with pytest.raises(gk.ArgumentTypeError, match=r"func.grad_and_value: expected a function"):
        func.grad_and_value(None)


# --------------------------------------------------------------- vjp / jvp
def test_vjp_with_pytrees_and_aux():
    x, y = t64([1.0, 2.0]), t64([3.0, -1.0])

    def f(a, b):
        return a * b, {"s": (a ** 2).sum()}

    out, vjp_fn = func.vjp(f, x, y)
    assert isinstance(out, tuple) and isinstance(out[1], dict)
    grads = vjp_fn((t64([1.0, 1.0]), {"s": t64(2.0)}))
    assert isinstance(grads, tuple) and len(grads) == 2
    close(grads[0], y.numpy() + 2.0 * 2 * x.numpy())
    close(grads[1], x.numpy())
    out, vjp_fn, aux = func.vjp(lambda a: (a * 2, a.sum()), x, has_aux=True)
    (g,) = vjp_fn(t64([1.0, 3.0]))
    close(g, [2.0, 6.0])
    close(aux, 3.0)
    assert not aux.requires_grad
    with pytest.raises(gk.ArgumentTypeError, match=r"func.vjp: vjp_fn's cotangents must have the structure"):
        vjp_fn((t64([1.0, 3.0]),))
    with pytest.raises(gk.ShapeError, match=r"func.vjp: vjp_fn's cotangent has shape \(3,\), but the output has "
                                            r"shape \(2,\)"):
        vjp_fn(t64([1.0, 3.0, 4.0]))
    torch = pytest.importorskip("torch")
    _, tvjp = torch.func.vjp(f, torch.tensor([1.0, 2.0], dtype=torch.float64),
                             torch.tensor([3.0, -1.0], dtype=torch.float64))
    tgrads = tvjp((torch.ones(2, dtype=torch.float64), {"s": torch.tensor(2.0, dtype=torch.float64)}))
    for a, b in zip(grads, tgrads, strict=True):
        close(a, b.numpy())


def test_jvp_matches_central_differences_and_pytorch_and_checks_its_arguments():
    x, v = t64([0.5, -1.0]), t64([1.0, 2.0])
    out, tan = func.jvp(lambda a: gk.exp(a) * a.sum(), (x,), (v,))
    eps = 1e-6
    f = lambda a: gk.exp(a) * a.sum()  # noqa: E731
    close(tan, (f(x + eps * v).numpy() - f(x - eps * v).numpy()) / (2 * eps), tol=1e-7)
    out, tan, aux = func.jvp(lambda a: (a * 3, "note"), (x,), (v,), has_aux=True)
    close(tan, [3.0, 6.0])
    assert aux == "note"
    with pytest.raises(gk.ArgumentTypeError, match=r"func.jvp: primals must be a tuple"):
        func.jvp(lambda a: a, x, (v,))
    with pytest.raises(gk.ShapeError, match=r"func.jvp: tangents\[0\] has shape \(1,\)"):
        func.jvp(lambda a: a, (x,), (t64([1.0]),))
    with pytest.raises(gk.AutogradError, match=r"func.jvp: the output\[1\] is independent of the primals"):
        func.jvp(lambda a: (a * 2, t64([1.0])), (x,), (v,), strict=True)
    out, tan = func.jvp(lambda a: (a * 2, t64([1.0])), (x,), (v,))
    close(tan[1], [0.0])
    torch = pytest.importorskip("torch")
    out, tan = func.jvp(f, (x,), (v,))
    tout, ttan = torch.func.jvp(lambda a: a.exp() * a.sum(), (torch.tensor(x.numpy()),), (torch.tensor(v.numpy()),))
    close(out, tout.numpy())
    close(tan, ttan.numpy())


# ------------------------------------------------------ jacrev / jacfwd / hessian
def jf(x, y):
    return {"a": gk.sin(x) * y.sum(), "b": (x * x).sum() * y}


def js(x, y):
    return (gk.sin(x) * (y ** 2).sum()).sum()


JX, JY = [0.3, -0.7, 1.1], [2.0, 0.5]


def test_jacrev_jacfwd_and_hessian_structures_and_values():
    x, y = t64(JX), t64(JY)
    xv, yv = np.asarray(JX), np.asarray(JY)
    for jac in (func.jacrev, func.jacfwd):
        j = jac(jf, argnums=(0, 1))(x, y)
        assert list(j) == ["a", "b"] and [t.shape for t in j["a"]] == [(3, 3), (3, 2)]
        close(j["a"][0], np.diag(np.cos(xv)) * yv.sum())
        close(j["a"][1], np.tile(np.sin(xv)[:, None], (1, 2)))
        close(j["b"][0], np.outer(yv, 2 * xv))
        close(jac(jf)(x, y)["b"], np.outer(yv, 2 * xv))  # argnums=0: no tuple
    j, aux = func.jacrev(lambda a: (a * a, a.sum()), has_aux=True)(x)
    close(j, np.diag(2 * xv))
    close(aux, xv.sum())
    h = func.hessian(js, argnums=(0, 1))(x, y)
    assert [[t.shape for t in row] for row in h] == [[(3, 3), (3, 2)], [(2, 3), (2, 2)]]
    close(h[0][0], np.diag(-np.sin(xv)) * (yv ** 2).sum())
    close(h[0][1], np.outer(np.cos(xv), 2 * yv))
    close(h[1][1], 2 * np.eye(2) * np.sin(xv).sum())
    with pytest.raises(gk.InvalidArgumentError, match=r"func.jacfwd: randomness must be"):
        func.jacfwd(jf, randomness="maybe")
    with pytest.raises(gk.ArgumentTypeError, match=r"func.jacrev: the function's output\['x'\] must be a Tensor"):
        func.jacrev(lambda a: {"x": 1.0})(x)


def test_jacrev_jacfwd_and_hessian_match_pytorch():
    torch = pytest.importorskip("torch")

    def tf(x, y):
        return {"a": x.sin() * y.sum(), "b": (x * x).sum() * y}

    x, y = t64(JX), t64(JY)
    tx, ty = torch.tensor(JX, dtype=torch.float64), torch.tensor(JY, dtype=torch.float64)
    for ours, theirs in ((func.jacrev, torch.func.jacrev), (func.jacfwd, torch.func.jacfwd)):
        j = ours(jf, argnums=(0, 1))(x, y)
        tj = theirs(tf, argnums=(0, 1))(tx, ty)
        for k in ("a", "b"):
            for a, b in zip(j[k], tj[k], strict=True):
                close(a, b.numpy())
    h = func.hessian(js, argnums=(0, 1))(x, y)
    th = torch.func.hessian(lambda a, b: (a.sin() * (b ** 2).sum()).sum(), argnums=(0, 1))(tx, ty)
    for row, trow in zip(h, th, strict=True):
        for a, b in zip(row, trow, strict=True):
            close(a, b.numpy())


# --------------------------------------------------------- functional_call
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4, dtype="float64")
        self.fc2 = nn.Linear(4, 2, dtype="float64")

    def forward(self, x):
        return self.fc2(gk.tanh(self.fc1(x)))


def test_functional_call_swaps_and_restores(device):
    net = Net().to(device)
    before = {k: v for k, v in net.named_parameters()}
    new = {k: gk.zeros_like(v.detach()) for k, v in before.items()}
    new["fc2.bias"] = t64([1.0, 2.0], device)
    out = func.functional_call(net, new, t64(XS, device))  # a single argument need not be a tuple
    close(out, np.tile([1.0, 2.0], (5, 1)))
    assert all(net.get_parameter(k) is v for k, v in before.items())
    assert isinstance(net.fc1.weight, nn.Parameter)

    def boom(module, args):
        raise ValueError("boom")

    handle = net.register_forward_pre_hook(boom)
    with pytest.raises(ValueError, match="boom"):
        func.functional_call(net, ({"fc1.weight": new["fc1.weight"]}, {"fc1.bias": new["fc1.bias"]}), (t64(XS),))
    handle.remove()
    assert net.fc1.weight is before["fc1.weight"] and net.fc1.bias is before["fc1.bias"]


def test_functional_call_checks():
    net = Net()
    w = gk.zeros((4, 3), dtype="float64")
    with pytest.raises(gk.InvalidArgumentError, match=r"func.functional_call: with strict=True.*missing \['fc1.bias'"):
        func.functional_call(net, {"fc1.weight": w}, (t64(XS),), strict=True)
    with pytest.raises(gk.InvalidArgumentError, match=r"\['fc1.weight'\] appear in more than one of the dicts"):
        func.functional_call(net, ({"fc1.weight": w}, {"fc1.weight": w}), (t64(XS),))
    with pytest.raises(gk.ArgumentTypeError, match=r"the value for 'fc1.weight' must be a Tensor"):
        func.functional_call(net, {"fc1.weight": np.zeros((4, 3))}, (t64(XS),))
    with pytest.raises(gk.ArgumentTypeError, match=r"module must be a gk.nn.Module"):
        func.functional_call(lambda x: x, {}, (t64(XS),))
    with pytest.raises(gk.InvalidArgumentError, match=r"'fc9.weight' names no submodule"):
        func.functional_call(net, {"fc9.weight": w}, (t64(XS),))


def tied_net():
    net = nn.Sequential(nn.Linear(3, 3, dtype="float64"), nn.Tanh(), nn.Linear(3, 3, dtype="float64"))
    net[2].weight = net[0].weight  # one Parameter under two names
    return net


def test_functional_call_tied_weights_and_buffers():
    net = tied_net()
    w = t64(np.arange(9.0).reshape(3, 3) / 10)
    b0, b2, w_own = (net.get_parameter(k).numpy() for k in ("0.bias", "2.bias", "0.weight"))
    x = t64(XS)
    out = func.functional_call(net, {"0.weight": w}, (x,))
    close(out, np.tanh(XS @ w.numpy().T + b0) @ w.numpy().T + b2)
    untied = func.functional_call(net, {"0.weight": w}, (x,), tie_weights=False)
    close(untied, np.tanh(XS @ w.numpy().T + b0) @ w_own.T + b2)
    with pytest.raises(gk.InvalidArgumentError, match=r"\['0.weight', '2.weight'\] are one tied tensor"):
        func.functional_call(net, {"0.weight": w, "2.weight": w * 2}, (x,))
    bn = nn.BatchNorm1d(3, dtype="float64")
    mean = gk.zeros(3, dtype="float64")
    func.functional_call(bn, {"running_mean": mean}, (x,))
    close(mean, 0.1 * XS.mean(axis=0))  # the given buffer is updated in place, as in PyTorch
    close(bn.running_mean, np.zeros(3))


def test_functional_call_tied_weights_match_pytorch():
    torch = pytest.importorskip("torch")
    net = tied_net()
    ref = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3)).double()
    ref[2].weight = ref[0].weight
    with torch.no_grad():
        for k in ("0.weight", "0.bias", "2.bias"):
            ref.get_parameter(k).copy_(torch.tensor(net.get_parameter(k).numpy()))
    w = t64(np.arange(9.0).reshape(3, 3) / 10)
    for tie in (True, False):
        out = func.functional_call(net, {"0.weight": w}, (t64(XS),), tie_weights=tie)
        tout = torch.func.functional_call(ref, {"0.weight": torch.tensor(w.numpy())}, (torch.tensor(XS),),
                                          tie_weights=tie)
        close(out, tout.detach().numpy())


MAML_LR = 0.4


def maml_query_loss(net, params, use_func_grad):
    """Two inner SGD steps on the support set (differentiated through), then the query loss."""
    xs, ys, xq, yq = t64(XS[:3]), t64(YS[:3]), t64(XS[3:]), t64(YS[3:])
    for _ in range(2):
        if use_func_grad:
            grads = func.grad(lambda p: ((func.functional_call(net, p, (xs,)) - ys) ** 2).mean())(params)
            grads = [grads[k] for k in params]
        else:
            step_loss = ((func.functional_call(net, params, (xs,)) - ys) ** 2).mean()
            grads = gk.autograd.grad(step_loss, list(params.values()), create_graph=True)
        params = {k: p - MAML_LR * g for (k, p), g in zip(params.items(), grads, strict=True)}
    return ((func.functional_call(net, params, (xq,)) - yq) ** 2).mean()


def maml_meta_grads(net, use_func_grad):
    params = dict(net.named_parameters())
    q = maml_query_loss(net, params, use_func_grad)
    meta = gk.autograd.grad(q, list(params.values()))
    assert all(p.grad is None for p in params.values())
    return q, dict(zip(params, meta, strict=True))


def test_maml_two_inner_steps_matches_central_differences():
    net = Net()
    q, meta = maml_meta_grads(net, use_func_grad=False)
    q2, meta2 = maml_meta_grads(net, use_func_grad=True)
    close(q2, q.item())
    for k in meta:
        close(meta2[k], meta[k].numpy())
    base = {k: v.detach() for k, v in net.named_parameters()}
    for name in ("fc2.bias", "fc1.bias"):
        numeric = central_grad(
            lambda b, name=name: maml_query_loss(net, {**base, name: b}, use_func_grad=True), base[name].numpy())
        close(meta[name], numeric, tol=1e-7)


def test_maml_two_inner_steps_matches_pytorch():
    torch = pytest.importorskip("torch")
    net = Net()
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    names = {"fc1.weight": "0.weight", "fc1.bias": "0.bias", "fc2.weight": "2.weight", "fc2.bias": "2.bias"}
    with torch.no_grad():
        for k, tk in names.items():
            tnet.get_parameter(tk).copy_(torch.tensor(net.get_parameter(k).numpy()))
    tparams = dict(tnet.named_parameters())
    tp = tparams
    for _ in range(2):
        tl = ((torch.func.functional_call(tnet, tp, (torch.tensor(XS[:3]),)) - torch.tensor(YS[:3])) ** 2).mean()
        tg = torch.autograd.grad(tl, list(tp.values()), create_graph=True)
        tp = {k: p - MAML_LR * g for (k, p), g in zip(tp.items(), tg, strict=True)}
    tq = ((torch.func.functional_call(tnet, tp, (torch.tensor(XS[3:]),)) - torch.tensor(YS[3:])) ** 2).mean()
    tmeta = torch.autograd.grad(tq, list(tparams.values()))
    for use_func_grad in (False, True):
        q, meta = maml_meta_grads(net, use_func_grad)
        close(q, tq.item())
        for k, tg_ in zip(names, tmeta, strict=True):
            close(meta[k], tg_.numpy(), tol=1e-9)


# -------------------------------------------------------------------- vmap
def test_vmap_per_sample_gradients_match_pytorch(device):
    p = make_params()
    per = func.vmap(func.grad(lambda prm, x, y: loss(prm, x[None], y[None])), in_dims=(None, 0, 0))(
        to_gk(p, device), t64(XS, device), t64(YS, device))
    assert per["w1"].shape == (5, 4, 3) and per["b1"].shape == (5, 4)
    one = func.grad(loss)(to_gk(p), t64(XS[2:3]), t64(YS[2:3]))
    close(per["w2"].numpy()[2], one["w2"].numpy())
    torch = pytest.importorskip("torch")
    tper = torch.func.vmap(torch.func.grad(lambda prm, x, y: t_loss(prm, x[None], y[None])), in_dims=(None, 0, 0))(
        to_torch(torch, p), torch.tensor(XS), torch.tensor(YS))
    for k in p:
        close(per[k], tper[k].numpy())


def test_vmap_dims_and_structures():
    x = t64(np.arange(6.0).reshape(2, 3))
    close(func.vmap(lambda r: r.sum())(x), [3.0, 12.0])
    close(func.vmap(lambda c: c.sum(), in_dims=1)(x), [3.0, 5.0, 7.0])
    close(func.vmap(lambda c: c.sum(), in_dims=-1)(x), [3.0, 5.0, 7.0])
    a, s = func.vmap(lambda r: (r * 2, r.sum()), out_dims=(1, 0))(x)
    assert a.shape == (3, 2) and s.shape == (2,)
    close(func.vmap(lambda r: r * 2, out_dims=-1)(x), (x.numpy() * 2).T)
    out = func.vmap(lambda d, k: d["v"] * k, in_dims=({"v": 1}, None))({"v": x}, 3.0)
    close(out, x.numpy().T * 3)
    close(func.vmap(lambda r, scale=1.0: r * scale)(x, scale=2.0), x.numpy() * 2)  # keywords pass whole
    nested = func.vmap(func.vmap(lambda e: e * e))(x)
    close(nested, x.numpy() ** 2)
    first = func.vmap(lambda r: (r, "tag"), out_dims=(0, None))(x)
    assert first[1] == "tag"


def test_vmap_is_differentiable_and_matches_a_loop():
    x = t64(np.arange(6.0).reshape(2, 3) / 5, requires_grad=True)
    w = t64([0.5, -1.0, 2.0], requires_grad=True)
    out = func.vmap(lambda r, w: gk.sin(r * w).sum(), in_dims=(0, None))(x, w)
    out.sum().backward()
    close(x.grad, np.cos(x.numpy() * w.numpy()) * w.numpy())
    close(w.grad, (np.cos(x.numpy() * w.numpy()) * x.numpy()).sum(axis=0))


def test_vmap_errors():
    x, y = t64(np.zeros((2, 3))), t64(np.zeros((3, 3)))
    with pytest.raises(gk.ShapeError, match=r"func.vmap: the mapped dimensions must all have one size, got "
                                            r"argument\[0\]: 2, argument\[1\]: 3"):
        func.vmap(lambda a, b: a + b)(x, y)
    with pytest.raises(gk.ArgumentTypeError, match=r"func.vmap: in_dims gives argument\[1\] the mapped dimension 0, "
                                                   r"but it is int"):
        func.vmap(lambda a, n: a * n)(x, 3)
    with pytest.raises(gk.InvalidArgumentError, match=r"func.vmap: in_dims=\(None,\) maps no Tensor"):
        func.vmap(lambda a: a, in_dims=(None,))(x)
    with pytest.raises(gk.InvalidArgumentError, match=r"func.vmap: in_dims=\(0, 0\) has 2 entries, one per "
                                                     r"positional argument, but the function was called with 1"):
        func.vmap(lambda a: a, in_dims=(0, 0))(x)
    with pytest.raises(gk.IndexOutOfRangeError, match=r"func.vmap: in_dims gives argument\[0\] \(shape \(2, 3\)\) "
                                                      r"the mapped dimension 2"):
        func.vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(gk.ArgumentTypeError, match=r"func.vmap: the function's output is float"):
        func.vmap(lambda a: 3.0)(x)
    with pytest.raises(gk.ShapeError, match=r"func.vmap: the mapped dimension has size 0"):
        func.vmap(lambda a: a)(t64(np.zeros((0, 3))))
    with pytest.raises(gk.InvalidArgumentError, match=r"func.vmap: randomness must be"):
        func.vmap(lambda a: a, randomness="bogus")
    with pytest.raises(gk.ArgumentTypeError, match=r"func.vmap: in_dims must be an int, None"):
        func.vmap(lambda a: a, in_dims="0")
    with pytest.raises(gk.InvalidArgumentError, match=r"func.vmap: chunk_size must be >= 1"):
        func.vmap(lambda a: a, chunk_size=0)

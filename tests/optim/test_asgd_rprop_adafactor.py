"""ASGD, Rprop and Adafactor: steps against their formulas written out here in NumPy, convergence, PyTorch's
state names, state dicts (and checkpoint files), capture, host reads, scratch memory, argument checks and,
where it is installed, PyTorch itself (20 steps side by side, and its state dicts loaded here)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from nn._host_reads import count_host_reads
from training_steps import replays_match_eager_steps

import gradkit as gk
from gradkit import optim
from gradkit.cuda import graphs as C

P = np.array([1.0, -2.0, 0.5, 3.0])
G = np.array([0.5, -1.0, 2.0, 0.0])
M = np.array([[0.3, -1.2, 2.0, 0.7], [1.5, 0.1, -0.4, -2.2], [-0.9, 0.6, 1.1, 0.2]])  # a 2-D parameter
GM = np.array([[0.5, -0.2, 1.0, -1.5], [0.05, 0.8, -0.3, 0.4], [2.0, -0.6, 0.1, 0.9]])
for _a in (P, G, M, GM):
    _a.setflags(write=False)  # a tensor made from them without a copy must not be stepped
NAMES = ["ASGD", "Rprop", "Adafactor"]
STATE_KEYS = {"ASGD": ["ax", "eta", "mu", "step"], "Rprop": ["prev", "step", "step_size"],
              "Adafactor": ["step", "variance"]}  # Adafactor's for a 1-D parameter; ["col_var", "row_var", "step"] 2-D


def _steps(name: str, device: str, grads: list, start: np.ndarray = P, dtype: str = "float64", **kwargs) -> tuple:
    p = gk.tensor(start.astype(dtype), device=device, requires_grad=True)
    opt = getattr(optim, name)([p], **kwargs)
    for g in grads:
        p.grad = gk.tensor(np.asarray(g, dtype=dtype), device=device)
        opt.step()
    return p, opt


def _close(t: gk.Tensor, expected: np.ndarray, rtol: float = 1e-13) -> None:
    np.testing.assert_allclose(t.numpy(), expected, rtol=rtol, atol=1e-15)


# ------------------------------------------------------------------ the formulas, by hand
def test_asgd_three_steps_with_weight_decay_and_averaging(device):
    lr, lambd, alpha, t0, wd = 0.1, 0.05, 0.75, 1.5, 0.2
    p, opt = _steps("ASGD", device, [G, -G, G / 2], lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=wd)
    eta = lambda t: lr / (1 + lambd * lr * t) ** alpha  # noqa: E731  (after step t)
    g1 = G + wd * P
    p1 = P * (1 - lambd * lr) - lr * g1  # eta starts at lr
    g2 = -G + wd * p1
    p2 = p1 * (1 - lambd * eta(1)) - eta(1) * g2
    g3 = G / 2 + wd * p2
    p3 = p2 * (1 - lambd * eta(2)) - eta(2) * g3
    _close(p, p3)
    # mu after steps 1 and 2: 1 / max(1, t - t0) = 1 (t - t0 = -0.5, 0.5): ax is the iterate itself
    _close(opt.state[p]["ax"], p3)
    st = opt.state[p]
    assert st["step"] == 3
    assert st["eta"] == pytest.approx(eta(3), rel=1e-15) and st["mu"] == pytest.approx(1 / 1.5, rel=1e-15)
    # a fourth step averages with mu = 1 / 1.5
    p.grad = gk.tensor(G, device=device)
    opt.step()
    p4 = p3 * (1 - lambd * eta(3)) - eta(3) * (G + wd * p3)
    _close(p, p4)
    _close(opt.state[p]["ax"], p3 + (p4 - p3) / 1.5)
    assert opt.state[p]["mu"] == pytest.approx(1 / 2.5, rel=1e-15)


def test_rprop_three_steps_by_hand(device):
    g2, g3 = np.array([0.25, 1.0, -3.0, 1.0]), np.array([1.0, 1.0, 1.0, -1.0])
    p, opt = _steps("Rprop", device, [G, g2, g3], lr=0.1, etas=(0.5, 1.2), step_sizes=(0.06, 0.13))
    # step 1: prev = 0, so every factor is 1 and the step size is lr; G's last entry is 0: no move there
    p1 = P - np.sign(G) * 0.1
    # step 2: sign(g2 * G) = [+, -, -, 0]: factors [1.2, 0.5, 0.5, 1], clipped to [0.06, 0.13]
    s2 = np.clip(0.1 * np.array([1.2, 0.5, 0.5, 1.0]), 0.06, 0.13)
    kept2 = np.array([0.25, 0.0, 0.0, 1.0])  # the gradient where its sign flipped is dropped
    p2 = p1 - np.sign(kept2) * s2
    # step 3: sign(g3 * kept2) = [+, 0, 0, -]
    s3 = np.clip(s2 * np.array([1.2, 1.0, 1.0, 0.5]), 0.06, 0.13)
    p3 = p2 - np.sign(np.array([1.0, 1.0, 1.0, 0.0])) * s3
    _close(p, p3)
    _close(opt.state[p]["step_size"], s3)
    _close(opt.state[p]["prev"], np.array([1.0, 1.0, 1.0, 0.0]))
    assert opt.state[p]["step"] == 3
    np.testing.assert_allclose(s3, [0.13, 0.06, 0.06, 0.06])  # both ends of the clip were reached


def _adafactor_by_hand(start, grads, lr, decay=-0.8, eps=(None, 1e-3), d=1.0, wd=0.0, maximize=False):
    """Adafactor as its docstring writes it, with plain NumPy: the parameter and its state after ``grads``."""
    p = start.astype(np.float64)
    e1 = np.finfo(start.dtype).eps if eps[0] is None else eps[0]
    rms = lambda x: np.sqrt(np.mean(x * x))  # noqa: E731
    row = col = var = 0.0
    for t, g in enumerate(grads, 1):
        g = -np.asarray(g, np.float64) if maximize else np.asarray(g, np.float64)
        w = t**decay  # 1 - beta2_t
        alpha = max(eps[1], rms(p)) * min(lr, 1 / np.sqrt(t))
        p = p * (1 - lr * wd)
        if p.ndim >= 2:
            row = row + w * ((g * g).mean(axis=-1, keepdims=True) - row)
            col = col + w * ((g * g).mean(axis=-2, keepdims=True) - col)
            v = row * col / np.maximum(np.mean(row, axis=-2, keepdims=True), e1)
        else:
            var = var + w * (g * g - var)
            v = var
        u = g / np.sqrt(np.maximum(v, e1 * e1))
        p = p - alpha / max(1.0, rms(u) / d) * u
    return p, {"row_var": row, "col_var": col, "variance": var}


def test_adafactor_two_steps_of_a_matrix_and_a_vector(device):
    kw = {"lr": 0.2, "beta2_decay": -0.6, "eps": (1e-30, 1e-3), "d": 1.2, "weight_decay": 0.1}
    x = gk.tensor(M.copy(), device=device, requires_grad=True)
    y = gk.tensor(P.copy(), device=device, requires_grad=True)
    opt = optim.Adafactor([x, y], **kw)
    for gx, gy in ((GM, G), (GM[::-1] * 0.5, -G)):
        x.grad, y.grad = gk.tensor(gx.copy(), device=device), gk.tensor(gy, device=device)
        opt.step()
    by_hand = dict(lr=0.2, decay=-0.6, eps=(1e-30, 1e-3), d=1.2, wd=0.1)
    px, sx = _adafactor_by_hand(M, [GM, GM[::-1] * 0.5], **by_hand)
    py, sy = _adafactor_by_hand(P, [G, -G], **by_hand)
    _close(x, px)
    _close(y, py)
    assert sorted(opt.state[x]) == ["col_var", "row_var", "step"] and sorted(opt.state[y]) == ["step", "variance"]
    assert opt.state[x]["row_var"].shape == (3, 1) and opt.state[x]["col_var"].shape == (1, 4)
    _close(opt.state[x]["row_var"], sx["row_var"])
    _close(opt.state[x]["col_var"], sx["col_var"])
    _close(opt.state[y]["variance"], sy["variance"])
    # the first step of the matrix, in closed form: beta2_1 = 0, so the factors are the means of g * g
    r, c = (GM**2).mean(axis=1, keepdims=True), (GM**2).mean(axis=0, keepdims=True)
    u = GM / np.sqrt(r * c / r.mean())
    one, _ = _steps("Adafactor", device, [GM], start=M, lr=0.2)
    _close(one, M - max(1e-3, np.sqrt(np.mean(M**2))) * 0.2 / max(1.0, np.sqrt(np.mean(u**2))) * u)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adafactor_eps1_defaults_to_the_dtypes_epsilon(device, dtype):
    """A gradient far below eps1 meets the floor eps1 * eps1 on the variance: its update is g / eps1."""
    g = np.array([1e-20, 1.0, -2.0, 0.5])
    p, _ = _steps("Adafactor", device, [g], dtype=dtype, lr=0.1, maximize=True)
    by_hand, _ = _adafactor_by_hand(P.astype(dtype), [g.astype(dtype)], lr=0.1, maximize=True)
    _close(p, by_hand, rtol=1e-13 if dtype == "float64" else 2e-6)
    assert p.dtype == np.dtype(dtype)
    same, _ = _steps("Adafactor", device, [g], dtype=dtype, lr=0.1, maximize=True, eps=(np.finfo(dtype).eps, 1e-3))
    np.testing.assert_array_equal(p.numpy(), same.numpy())
    other, _ = _steps("Adafactor", device, [g], dtype=dtype, lr=0.1, maximize=True, eps=(1e-30, 1e-3))
    assert other.numpy()[0] != p.numpy()[0]  # eps1 = 1e-30: that entry's update is g / |g|


def test_adafactor_zero_dimensional_parameter(device):
    s = np.array(1.5)
    p, opt = _steps("Adafactor", device, [np.array(-0.3), np.array(0.2)], start=s, lr=0.1, weight_decay=0.5)
    by_hand, st = _adafactor_by_hand(s, [np.array(-0.3), np.array(0.2)], lr=0.1, wd=0.5)
    _close(p, by_hand)
    assert opt.state[p]["variance"].shape == ()
    _close(opt.state[p]["variance"], st["variance"])


@pytest.mark.parametrize(("name", "kw"), [("ASGD", {"weight_decay": 0.1, "t0": 1}), ("Rprop", {}),
                                          ("Adafactor", {"weight_decay": 0.1})])
def test_maximize_is_descent_on_the_negated_gradient(device, name, kw):
    grads = [G, G / 2, -G, G * 3]
    p, opt = _steps(name, device, grads, lr=0.1, maximize=True, **kw)
    q, ref = _steps(name, device, [-g for g in grads], lr=0.1, **kw)
    np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert sorted(opt.state[p]) == STATE_KEYS[name]
    for key, value in opt.state[p].items():
        want = ref.state[q][key]
        if isinstance(value, gk.Tensor):
            np.testing.assert_array_equal(value.numpy(), want.numpy())
        else:
            assert value == want


# ------------------------------------------------------------------ behaviour
A = np.array([[1.0, 2.0, 0.5, 3.0], [0.2, 1.0, 4.0, 0.7]])
TARGET = np.array([[1.0, -2.0, 0.5, 1.5], [-0.3, 0.8, 2.0, -1.0]])


@pytest.mark.parametrize(("name", "kw", "steps", "tol"), [
    ("ASGD", {"lr": 0.3}, 300, 1e-6), ("Rprop", {"lr": 0.1}, 100, 1e-5), ("Adafactor", {"lr": 0.1}, 400, 1e-6),
])
def test_converges_on_a_small_quadratic(device, name, kw, steps, tol):
    x = gk.tensor(np.zeros((2, 4)), device=device, requires_grad=True)  # factored by Adafactor
    y = gk.tensor(np.zeros(4), device=device, requires_grad=True)
    a, t = gk.tensor(A, device=device), gk.tensor(TARGET, device=device)
    opt = getattr(optim, name)([x, y], **kw)
    for _ in range(steps):
        opt.zero_grad()
        ((a * 0.5 * (x - t) ** 2).sum() + (a[0] * 0.5 * (y - t[0]) ** 2).sum()).backward()
        opt.step()
    # ASGD's decay term (lambd * p) moves the fixed point to a * target / (a + lambd)
    lambd = opt.param_groups[0].get("lambd", 0.0)
    np.testing.assert_allclose(x.numpy(), A * TARGET / (A + lambd), atol=tol)
    np.testing.assert_allclose(y.numpy(), A[0] * TARGET[0] / (A[0] + lambd), atol=tol)


@pytest.mark.parametrize("name", NAMES)
def test_state_is_made_lazily_and_parameters_without_a_gradient_are_skipped(name):
    p, q = (gk.tensor(P.copy(), requires_grad=True) for _ in range(2))
    opt = getattr(optim, name)([p, q], lr=0.1)
    assert opt.state == {} and opt.state_dict()["state"] == {}
    q.grad = gk.tensor(G + 0.1)
    opt.step()
    np.testing.assert_array_equal(p.numpy(), P)
    assert not (q.numpy() == P).any()
    assert p not in opt.state and opt.state[q]["step"] == 1 and sorted(opt.state[q]) == STATE_KEYS[name]


def test_float32_parameters_keep_their_dtype(device):
    for name, kw in (("ASGD", {"weight_decay": 0.1}), ("Rprop", {}), ("Adafactor", {"weight_decay": 0.1})):
        p, opt = _steps(name, device, [G + 0.1, G - 0.2], dtype="float32", lr=0.1, **kw)
        q, _ = _steps(name, device, [G + 0.1, G - 0.2], lr=0.1, **kw)
        assert p.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, gk.Tensor))
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=2e-6, atol=1e-7)


def test_asgd_capturable_keeps_its_numbers_on_the_device_with_the_same_results(device):
    kw = {"lr": 0.05, "weight_decay": 0.1, "t0": 3, "lambd": 0.01}
    grads = [G * s for s in (1.0, -0.5, 0.3, 2.0, -1.0, 0.7, 0.2, -0.1)]
    for dtype, rtol in (("float64", 1e-13), ("float32", 1e-6)):
        plain, ref = _steps("ASGD", device, grads, dtype=dtype, **kw)
        cap, opt = _steps("ASGD", device, grads, dtype=dtype, capturable=True, **kw)
        np.testing.assert_allclose(cap.numpy(), plain.numpy(), rtol=rtol, atol=1e-7)
        np.testing.assert_allclose(opt.state[cap]["ax"].numpy(), ref.state[plain]["ax"].numpy(), rtol=rtol, atol=1e-7)
        for key in ("step", "eta", "mu"):
            value = opt.state[cap][key]
            assert isinstance(value, gk.Tensor) and value.device == cap.device and value.dtype == np.float64
            assert value.item() == pytest.approx(ref.state[plain][key], rel=1e-15)
    sd = opt.state_dict()  # device numbers load into a plain optimiser, and continue there
    plain_opt = optim.ASGD([cap], **kw)
    plain_opt.load_state_dict(sd)
    st = plain_opt.state[cap]
    assert plain_opt.param_groups[0]["capturable"] is True and st["step"] == len(grads)
    assert isinstance(st["eta"], float) and isinstance(st["mu"], float)


def test_step_hooks_run(device):
    for name in NAMES:
        p = gk.tensor(P.copy(), device=device, requires_grad=True)
        opt = getattr(optim, name)([p], lr=0.1)
        calls = []
        opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
        opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
        p.grad = gk.tensor(G, device=device)
        opt.step()
        opt.step()
        assert calls == ["pre", "post", "pre", "post"], name


CONFIGS = [
    ("ASGD", {"weight_decay": 0.1, "maximize": True, "t0": 0}),
    ("ASGD", {"capturable": True, "t0": 0}),
    ("Rprop", {"maximize": True}),
    ("Adafactor", {"weight_decay": 0.1, "maximize": True}),
]


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_steps_read_nothing_on_the_host(device, monkeypatch, name, kw):
    x = gk.tensor(M.copy(), device=device, requires_grad=True)
    y = gk.tensor(P.copy(), device=device, requires_grad=True)
    opt = getattr(optim, name)([x, y], lr=0.1, **kw)
    reads = count_host_reads(device, monkeypatch)
    for s in (1.0, -0.5, 2.0):
        x.grad, y.grad = gk.tensor(GM * s, device=device), gk.tensor(G * s, device=device)
        opt.step()
    assert reads == []


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_a_step_allocates_nothing_parameter_sized(name, kw):
    """After the first step (which makes the state and the scratch arrays), a step's temporaries are the
    optimiser's scratch arrays (Adafactor's row and column means are of the factors' sizes)."""
    if name == "Rprop" and np.lib.NumpyVersion(np.__version__) < "2.0.0":
        pytest.skip("NumPy 1.x's ufuncs make one bool temporary in Rprop's sign products (1.3 bytes an element)")
    n = 100_000
    x = gk.tensor(np.linspace(-1.0, 1.0, n).reshape(400, 250), requires_grad=True)
    y = gk.tensor(np.linspace(-1.0, 1.0, n), requires_grad=True)
    x.grad = gk.tensor(np.linspace(0.5, -0.5, n).reshape(400, 250))
    y.grad = gk.tensor(np.linspace(0.5, -0.5, n))
    opt = getattr(optim, name)([x, y], **kw)
    opt.step()
    tracemalloc.start()
    try:
        opt.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * n / 10, peak


# ------------------------------------------------------------------ state dicts
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_continues_identically(device, name, tmp_path):
    def make(lr):
        x = gk.tensor(M.copy(), device=device, requires_grad=True)
        y = gk.tensor(P.copy(), device=device, requires_grad=True)
        return x, y, getattr(optim, name)([{"params": [x]}, {"params": [y], "lr": lr / 2}], lr=lr)

    def step(x, y, opt, s):
        x.grad, y.grad = gk.tensor(GM * s, device=device), gk.tensor(G * s, device=device)
        opt.step()

    x, y, opt = make(0.05)
    for s in (1.0, -0.5):
        step(x, y, opt, s)
    sd = opt.state_dict()
    assert sorted(sd["state"][1]) == STATE_KEYS[name]
    x2, y2, other = make(1.0)
    x2.data, y2.data = x.detach().clone(), y.detach().clone()
    other.load_state_dict(sd)
    assert [g["lr"] for g in other.param_groups] == [0.05, 0.025]
    for t, t2 in ((x, x2), (y, y2)):
        for key, value in other.state[t2].items():
            if isinstance(value, gk.Tensor):
                assert value.data is not opt.state[t][key].data and value.device == t2.device
    pytest.importorskip("safetensors")
    gk.save({"optim": sd}, tmp_path / "opt.safetensors")
    x3, y3, third = make(1.0)
    x3.data, y3.data = x.detach().clone(), y.detach().clone()
    third.load_state_dict(gk.load(tmp_path / "opt.safetensors")["optim"])
    for s in (0.3, 2.0):
        for args in ((x, y, opt), (x2, y2, other), (x3, y3, third)):
            step(*args, s)
    for a, b in ((x, x2), (y, y2), (x, x3), (y, y3)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_older_state_dicts_without_the_newer_group_keys_load():
    p, asgd = _steps("ASGD", "cpu", [G], capturable=True)
    sd = asgd.state_dict()
    for key in ("maximize", "capturable"):
        del sd["param_groups"][0][key]
    fresh = optim.ASGD([p], maximize=True)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["maximize"] is True and fresh.param_groups[0]["capturable"] is False
    p, rprop = _steps("Rprop", "cpu", [G])
    sd = rprop.state_dict()
    del sd["param_groups"][0]["maximize"]
    optim.Rprop([p]).load_state_dict(sd)


def test_bad_state_dicts_are_refused_and_change_nothing():
    p, asgd = _steps("ASGD", "cpu", [G])
    _, rprop = _steps("Rprop", "cpu", [G])
    before = repr(asgd.state_dict())
    with pytest.raises(gk.InvalidArgumentError, match="no 'lambd'.*another optimiser"):
        asgd.load_state_dict(rprop.state_dict())
    for value, match in ((np.ones(2), "shape"), (-1.0, ">= 0"), (None, "NoneType"), (True, "bool")):
        sd = asgd.state_dict()
        sd["state"][0]["eta"] = value
        with pytest.raises(gk.InvalidArgumentError, match=f"'eta' of parameter 0.*{match}"):
            asgd.load_state_dict(sd)
    sd = asgd.state_dict()
    sd["state"][0]["mu"] = 1.5
    with pytest.raises(gk.InvalidArgumentError, match=r"'mu' of parameter 0 must be a finite number \[0, 1\]"):
        asgd.load_state_dict(sd)
    del sd["state"][0]["mu"]
    with pytest.raises(gk.InvalidArgumentError, match="has no 'mu'"):
        asgd.load_state_dict(sd)
    assert repr(asgd.state_dict()) == before
    sd["state"][0]["mu"] = np.array(0.5, dtype=np.float32)  # a 0-d array, as PyTorch's tensor
    asgd.load_state_dict(sd)
    assert asgd.state[p]["mu"] == 0.5

    x, ada = _steps("Adafactor", "cpu", [GM], start=M)
    before = repr(ada.state_dict())
    sd = ada.state_dict()
    sd["state"][0]["row_var"] = np.zeros((1, 4))
    match = r"'row_var' of parameter 0 has shape \(1, 4\), expected \(3, 1\)"
    with pytest.raises(gk.InvalidArgumentError, match=match):
        ada.load_state_dict(sd)
    del sd["state"][0]["col_var"]
    with pytest.raises(gk.InvalidArgumentError, match="has no 'col_var'"):
        ada.load_state_dict(sd)
    _, vec = _steps("Adafactor", "cpu", [G])
    with pytest.raises(gk.InvalidArgumentError, match=r"'variance' has shape \(4,\), its parameter \(3, 4\)"):
        ada.load_state_dict(vec.state_dict())  # a vector's variance for a matrix
    sd = vec.state_dict()
    sd["state"][0]["variance"] = np.zeros((3, 4))  # the right shape, but a matrix needs its factors
    with pytest.raises(gk.InvalidArgumentError, match="of 2 dimension.*has no 'row_var', 'col_var'"):
        ada.load_state_dict(sd)
    assert repr(ada.state_dict()) == before


# ------------------------------------------------------------------ capture
class _FakeGemm:
    def matmul(self, a, b):
        return None


@pytest.mark.parametrize(("name", "kw"), [("ASGD", {"capturable": True}), ("Rprop", {})])
def test_steps_inside_a_capture(device, name, kw):
    """While a step is captured: capturable ASGD and Rprop (whose update does not depend on the count) read
    nothing on the host and change their state in place; plain ASGD and Adafactor refuse with CaptureError."""
    w = gk.nn.Parameter(gk.tensor(P.copy(), device=device))
    opt = getattr(optim, name)([w], lr=0.05, **kw)
    w.grad = gk.tensor(G + 0.1, device=device)
    opt.step()  # the warm-up: the state is made outside the capture
    state = dict(opt.state[w])
    with C._Routing(w._backend, _FakeGemm(), None):  # host data cannot become device data in here
        for _ in range(2):
            opt.step()
    assert all(opt.state[w][k] is v for k, v in state.items() if isinstance(v, gk.Tensor))
    if name == "ASGD":
        assert opt.state[w]["step"].item() == 3
    for plain, match in ((optim.ASGD([w]), "capturable=True"), (optim.Adafactor([w]), "without gk.cuda.capture")):
        with C._Routing(w._backend, _FakeGemm(), None), pytest.raises(gk.cuda.CaptureError, match=match):
            plain.step()


@pytest.mark.cuda
@pytest.mark.parametrize(("name", "kw"), [("ASGD", {"capturable": True, "t0": 3}), ("Rprop", {})])
def test_captured_steps_replay_as_eager_steps_on_the_gpu(name, kw):
    """A real CUDA graph: a small model, cross_entropy and the optimiser in one graph, against eager steps."""
    from gradkit import nn

    def make():
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).to("cuda")
        return model, getattr(optim, name)(model.parameters(), lr=0.01, **kw)

    replays_match_eager_steps(make, 8)


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("ASGD", {"lr": -0.1}, r"ASGD: invalid lr=-0.1; expected 0 <= lr"),
        ("ASGD", {"weight_decay": -1}, r"ASGD: invalid weight_decay=-1"),
        ("ASGD", {"lambd": -1e-4}, r"ASGD: invalid lambd=-0.0001"),
        ("ASGD", {"alpha": float("nan")}, r"ASGD: invalid alpha=nan"),
        ("ASGD", {"t0": -5}, r"ASGD: invalid t0=-5"),
        ("Rprop", {"lr": -1.0}, r"Rprop: invalid lr=-1.0"),
        ("Rprop", {"etas": (1.2, 0.5)}, r"Rprop: invalid etas\[0\]=1.2; expected 0 < etas\[0\] < 1"),
        ("Rprop", {"etas": (0.5, 1.0)}, r"Rprop: invalid etas\[1\]=1.0; expected 1 < etas\[1\]"),
        ("Rprop", {"etas": (0.5,)}, r"Rprop: etas must be a pair \(etaminus, etaplus\)"),
        ("Rprop", {"step_sizes": (1.0, 0.5)}, r"Rprop: invalid step_sizes\[1\]=0.5; expected 1.0 <= step_sizes\[1\]"),
        ("Rprop", {"step_sizes": (-1e-6, 50)}, r"Rprop: invalid step_sizes\[0\]=-1e-06"),
        ("Adafactor", {"lr": -0.01}, r"Adafactor: invalid lr=-0.01"),
        ("Adafactor", {"beta2_decay": 0.1}, r"Adafactor: invalid beta2_decay=0.1; expected beta2_decay <= 0"),
        ("Adafactor", {"eps": (-1e-30, 1e-3)}, r"Adafactor: invalid eps\[0\]=-1e-30"),
        ("Adafactor", {"eps": (None, -1.0)}, r"Adafactor: invalid eps\[1\]=-1.0"),
        ("Adafactor", {"eps": 1e-3}, r"Adafactor: eps must be a pair"),
        ("Adafactor", {"d": 0.5}, r"Adafactor: invalid d=0.5; expected 1 <= d"),
        ("Adafactor", {"weight_decay": -0.1}, r"Adafactor: invalid weight_decay=-0.1"),
        ("ASGD", {"differentiable": True}, r"ASGD: differentiable=True is not supported"),
        ("Rprop", {"differentiable": True}, r"Rprop: differentiable=True is not supported"),
    ],
)
def test_invalid_hyperparameters(name, kwargs, match):
    with pytest.raises(gk.InvalidArgumentError, match=match):
        getattr(optim, name)([gk.ones(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize(("name", "key"), [("ASGD", "maximize"), ("ASGD", "capturable"), ("Rprop", "maximize"),
                                           ("Adafactor", "maximize")])
def test_flags_must_be_flags(name, key):
    p = gk.ones(2, requires_grad=True)
    with pytest.raises(gk.ArgumentTypeError, match=f"^{name}: {key} must be True or False, got str 'yes'"):
        getattr(optim, name)([p], **{key: "yes"})
    opt = getattr(optim, name)([p], **{key: 1})
    assert opt.param_groups[0][key] is True
    opt.param_groups[0][key] = "on"  # edited into a bad value: the step says so and changes nothing
    p.grad = gk.ones(2)
    with pytest.raises(gk.ArgumentTypeError, match=f"^{name}.step: {key} must be True or False, got str 'on'"):
        opt.step()
    np.testing.assert_array_equal(p.numpy(), [1.0, 1.0])


def test_keywords_and_positional_arguments_follow_pytorch():
    p = gk.ones(2, requires_grad=True)
    group = optim.ASGD([p], 0.1, 0.2, 0.3, 4.0, 0.5, None, True, False, True).param_groups[0]
    assert {k: group[k] for k in ("lr", "lambd", "alpha", "t0", "weight_decay", "maximize", "capturable")} == {
        "lr": 0.1, "lambd": 0.2, "alpha": 0.3, "t0": 4.0, "weight_decay": 0.5, "maximize": True, "capturable": True}
    group = optim.Rprop([p], 0.1, (0.4, 1.5), (1e-3, 1.0), capturable=True, foreach=False).param_groups[0]
    assert (group["etas"], group["step_sizes"], "capturable" in group) == ((0.4, 1.5), (1e-3, 1.0), False)
    group = optim.Adafactor([p], 0.1, -0.5, (1e-30, 1e-2), 2.0, 0.1, foreach=True).param_groups[0]
    assert {k: group[k] for k in ("beta2_decay", "eps", "d", "weight_decay")} == {
        "beta2_decay": -0.5, "eps": (1e-30, 1e-2), "d": 2.0, "weight_decay": 0.1}
    assert optim.Adafactor([p]).param_groups[0]["eps"] == (None, 1e-3)
    with pytest.raises(TypeError):
        optim.Rprop([p], 0.1, (0.4, 1.5), (1e-3, 1.0), True)  # capturable is keyword-only, as in PyTorch
    with pytest.raises(TypeError):
        optim.Adafactor([p], 0.1, -0.5, (None, 1e-2), 2.0, 0.1, None)  # foreach too
    with pytest.raises(TypeError):
        optim.Adafactor([p], differentiable=False)  # PyTorch's Adafactor has no such keyword
    with pytest.raises(gk.ArgumentTypeError, match="Adafactor: foreach must be True or False"):
        optim.Adafactor([p], foreach="yes")


# ------------------------------------------------------------------ PyTorch
TORCH_CASES = [
    ("ASGD", {"lr": 0.05, "t0": 5, "weight_decay": 0.1, "lambd": 0.01}, {"maximize": True, "alpha": 0.5, "t0": 12}),
    ("Rprop", {"lr": 0.05, "etas": (0.4, 1.3)}, {"step_sizes": (1e-3, 0.08), "maximize": True}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1},
     {"eps": (1e-4, 1e-2), "d": 1.5, "maximize": True, "beta2_decay": -0.5, "lr": 0.3}),
]
SHAPES = [(3, 4), (5,), (), (2, 3, 4)]


@pytest.mark.parametrize(("name", "kwargs", "group"), TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_matches_pytorch(name, kwargs, group):
    """Twenty steps on random float64 parameters and gradients (some entries zero, signs flipping), two
    parameter groups, side by side with PyTorch; then PyTorch's state dict, its tensors as they are, loads
    here, and gradkit's loads there, and each pair goes on alike. PyTorch keeps its scalars (step, eta, mu) in
    its default dtype, set to float64 here."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    starts = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) * (rng.random(s) > 0.2) for s in SHAPES] for _ in range(30)]
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    tol = {"rtol": 1e-12, "atol": 1e-14}

    def pair():
        tps = [torch.nn.Parameter(torch.tensor(x)) for x in starts]
        gps = [gk.tensor(x.copy(), requires_grad=True) for x in starts]
        topt = getattr(torch.optim, name)([{"params": tps[:2]}, {"params": tps[2:], **group}], **kwargs)
        gopt = getattr(optim, name)([{"params": gps[:2]}, {"params": gps[2:], **group}], **kwargs)
        return tps, gps, topt, gopt

    def run(tps, gps, topt, gopt, steps):
        for step_grads in steps:
            for t, g, x in zip(tps, gps, step_grads, strict=True):
                t.grad, g.grad = torch.tensor(x), gk.tensor(x)
            topt.step()
            gopt.step()

    def same(tps, gps, topt, gopt):
        for t, g in zip(tps, gps, strict=True):
            np.testing.assert_allclose(g.numpy(), t.detach().numpy(), **tol)
            tstate = topt.state[t]
            assert sorted(gopt.state[g]) == sorted(tstate)
            for key, value in gopt.state[g].items():
                mine = value.numpy() if isinstance(value, gk.Tensor) else np.asarray(value, dtype=np.float64)
                np.testing.assert_allclose(mine, tstate[key].numpy(), **tol, err_msg=key)

    try:
        tps, gps, topt, gopt = pair()
        run(tps, gps, topt, gopt, grads[:20])
        same(tps, gps, topt, gopt)
        # PyTorch's state dict (torch tensors) into a fresh gradkit optimiser
        fresh = getattr(optim, name)([{"params": gps[:2]}, {"params": gps[2:]}])
        fresh.load_state_dict(topt.state_dict())
        assert fresh.param_groups[1]["maximize"] is True
        run(tps, gps, topt, fresh, grads[20:25])
        same(tps, gps, topt, fresh)
        # and gradkit's (Tensors as torch tensors, numbers as they are) into a fresh PyTorch one
        sd = fresh.state_dict()
        sd = {"state": {k: {key: torch.tensor(v.numpy()) if isinstance(v, gk.Tensor) else v for key, v in s.items()}
                        for k, s in sd["state"].items()}, "param_groups": sd["param_groups"]}
        tfresh = getattr(torch.optim, name)([{"params": tps[:2]}, {"params": tps[2:]}])
        tfresh.load_state_dict(sd)
        run(tps, gps, tfresh, fresh, grads[25:])
        same(tps, gps, tfresh, fresh)
    finally:
        torch.set_default_dtype(default)

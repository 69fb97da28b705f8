"""Review of ASGD, Rprop and Adafactor: Rprop's NaN and infinite gradients as PyTorch's (whose sign(NaN) is 0),
bit for bit in float16, float32 and float64, an infinite etaplus; Adafactor's norms of a float16 parameter (summed
in float32: no inf) and of a one-element parameter (|p|, no overflow of its square); and a mixed run side by side
with PyTorch (groups with their own hyperparameters, a group added after some steps, gradients missing or zeroed,
an lr schedule, state dicts both ways mid-run), plus the emulated CuPy's host reads and capture for the new paths."""

from __future__ import annotations

import numpy as np
import pytest
from nn._host_reads import count_host_reads

import gradkit as gk
from gradkit import optim
from gradkit.cuda import graphs as C

NAN, INF = float("nan"), float("inf")


def _param(values, device, dtype="float64"):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=True)


def _step(opt, p, grad, device):
    p.grad = gk.tensor(np.asarray(grad, dtype=p.dtype), device=device)
    with np.errstate(invalid="ignore"):  # NumPy's warning for inf * 0 (an infinite g against prev = 0)
        opt.step()


# ------------------------------------------------------------------ Rprop: NaN and inf as PyTorch's
@pytest.mark.parametrize("maximize", [False, True])
def test_rprop_nan_and_infinite_gradients(device, maximize):
    """g * prev NaN (a NaN g, or an infinite g against prev = 0) is neither > 0 nor < 0: factor 1; a NaN g does
    not move its parameter (PyTorch's sign(NaN) = 0) and goes into prev; an infinite one moves it by its step."""
    s = -1.0 if maximize else 1.0  # the gradients are given negated with maximize: the same run
    p = _param([1.0, -2.0, 0.5, 3.0, 1.5], device)
    opt = optim.Rprop([p], lr=0.1, maximize=maximize)
    _step(opt, p, [s * NAN, s * INF, -s * INF, s * 1.0, 0.0], device)
    np.testing.assert_allclose(p.numpy(), [1.0, -2.1, 0.6, 2.9, 1.5], rtol=1e-15)
    np.testing.assert_array_equal(opt.state[p]["step_size"].numpy(), [0.1] * 5)
    np.testing.assert_array_equal(opt.state[p]["prev"].numpy(), [NAN, INF, -INF, 1.0, 0.0])
    # g * prev = [nan, inf, -inf, -1, nan]: factors [1, 1.2, 0.5, 0.5, 1]; the flipped entries are dropped
    _step(opt, p, [s * 1.0, s * 1.0, s * 1.0, -s * 1.0, s * NAN], device)
    np.testing.assert_allclose(opt.state[p]["step_size"].numpy(), [0.1, 0.12, 0.05, 0.05, 0.1], rtol=1e-15)
    np.testing.assert_array_equal(opt.state[p]["prev"].numpy(), [1.0, 1.0, 0.0, 0.0, NAN])
    np.testing.assert_allclose(p.numpy(), [0.9, -2.22, 0.6, 2.9, 1.5], rtol=1e-15)
    assert np.isfinite(p.numpy()).all()


def test_rprop_infinite_etaplus(device):
    """etaplus = inf (accepted, as PyTorch): a step size that grows is clipped to the upper bound, not made NaN
    by inf * 0 where it does not grow; float16 rounds a large etaplus to inf as well."""
    for dtype, etaplus in (("float64", INF), ("float32", INF), ("float16", 1e5)):
        p = _param([1.0, 1.0, 1.0], device, dtype)
        opt = optim.Rprop([p], lr=0.1, etas=(0.5, etaplus), step_sizes=(0.0, 2.0))
        for g in ([1.0, 1.0, 0.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0]):
            _step(opt, p, g, device)
        # entry 0 grew twice (clipped to 2), entry 1 flipped then restarted, entry 2 started late and grew once
        np.testing.assert_allclose(opt.state[p]["step_size"].numpy().astype(float), [2.0, 0.05, 2.0], rtol=1e-3)
        np.testing.assert_allclose(p.numpy().astype(float), [1 - 0.1 - 2 - 2, 0.9 - 0.05, 1 - 0.1 - 2], rtol=1e-3)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_rprop_matches_pytorch_bit_for_bit(device, dtype):
    """Every operation of the update is exact or rounded once, as PyTorch's: the same bits, NaN, inf and signed
    zeros included, with and without maximize."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    specials = np.array([NAN, INF, -INF, 0.0, -0.0, 1e-30, 6e4]).astype(dtype)
    for maximize, shape in ((False, (3, 5)), (True, (7,)), (False, ())):
        x0 = rng.standard_normal(shape).astype(dtype)
        t = torch.nn.Parameter(torch.tensor(x0))
        p = gk.tensor(x0.copy(), device=device, requires_grad=True)
        kw = {"lr": 0.05, "etas": (0.3, 1.7), "step_sizes": (1e-4, 0.2), "maximize": maximize}
        topt, gopt = torch.optim.Rprop([t], foreach=False, **kw), optim.Rprop([p], **kw)
        for _ in range(12):
            g = (rng.standard_normal(shape) * 10.0 ** rng.integers(-2, 3)).astype(dtype)
            g = np.where(rng.random(shape) < 0.15, rng.choice(specials, shape), g).astype(dtype)
            t.grad, p.grad = torch.tensor(g), gk.tensor(g, device=device)
            with np.errstate(invalid="ignore", over="ignore"):
                topt.step()
                gopt.step()
            for mine, theirs in ((p, t), (gopt.state[p]["prev"], topt.state[t]["prev"]),
                                 (gopt.state[p]["step_size"], topt.state[t]["step_size"])):
                a, b = mine.numpy().reshape(-1), theirs.detach().numpy().reshape(-1)
                np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


# ------------------------------------------------------------------ Adafactor's norms
def test_adafactor_float16_parameter_with_a_large_sum_of_squares(device):
    """A 300 x 300 float16 parameter of unit values: its squares sum past float16's 65504, which made the RMS,
    and so every entry of the update, inf or NaN; summed in float32 it steps as the float32 run does."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((300, 300)).astype(np.float16)
    grads = [rng.standard_normal((300, 300)).astype(np.float16) for _ in range(3)]
    runs = {}
    for dtype in ("float16", "float32"):
        p = gk.tensor(x0.astype(dtype), device=device, requires_grad=True)
        opt = optim.Adafactor([p], lr=0.05, weight_decay=0.1)
        with np.errstate(over="raise", invalid="raise"):
            for g in grads:
                _step(opt, p, g.astype(dtype), device)
        assert p.dtype == np.dtype(dtype)
        runs[dtype] = p.numpy().astype(np.float64)
    assert np.isfinite(runs["float16"]).all()
    np.testing.assert_allclose(runs["float16"], runs["float32"], rtol=0, atol=2e-2)
    assert not np.array_equal(runs["float16"], x0.astype(np.float64))


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
def test_adafactor_one_element_parameter_of_a_large_value(device, shape):
    """The RMS of one element is its absolute value (as PyTorch's norm), not sqrt(p * p), which overflows past
    1.8e19 in float32: the step is alpha = |p| * lr times sign(g), not -inf."""
    p = gk.tensor(np.full(shape, 1e20, dtype=np.float32), device=device, requires_grad=True)
    opt = optim.Adafactor([p], lr=0.01)
    _step(opt, p, np.full(shape, 0.5), device)  # step 1: variance = g * g, u = g / |g| = 1, RMS(u) = 1
    np.testing.assert_allclose(p.numpy(), np.full(shape, 1e20 * 0.99), rtol=1e-6)


# ------------------------------------------------------------------ a mixed run beside PyTorch
CASES = [
    ("ASGD", {"lr": 0.05, "t0": 4, "lambd": 0.01, "weight_decay": 0.1},
     {"alpha": 0.5, "maximize": True, "lr": 0.02}, {"t0": 0, "lambd": 0.1}),
    ("Rprop", {"lr": 0.05}, {"etas": (0.4, 1.3), "maximize": True}, {"step_sizes": (1e-3, 0.08)}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1}, {"beta2_decay": -0.5, "maximize": True, "d": 1.5},
     {"eps": (1e-3, 1e-2), "lr": 0.3}),
]


@pytest.mark.parametrize(("name", "kwargs", "group", "late"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_mixed_run_matches_pytorch(device, name, kwargs, group, late, dtype):
    """Two groups with their own hyperparameters and a third added after four steps; some gradients missing
    (None), some zeroed; a StepLR schedule; after the sixth step PyTorch's state dict goes on in a fresh
    gradkit optimiser, after the ninth gradkit's in a fresh PyTorch one."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    shapes = [(3, 4), (5,), (), (2, 3, 4), (4, 1)]
    starts = [rng.standard_normal(s).astype(dtype) for s in shapes]
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == "float64" else torch.float32)
    tol = {"rtol": 1e-11, "atol": 1e-13} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}
    try:
        tps = [torch.nn.Parameter(torch.tensor(x)) for x in starts]
        gps = [gk.tensor(x.copy(), device=device, requires_grad=True) for x in starts]
        topt = getattr(torch.optim, name)([{"params": tps[:2]}, {"params": tps[2:4], **group}], **kwargs)
        gopt = getattr(optim, name)([{"params": gps[:2]}, {"params": gps[2:4], **group}], **kwargs)
        tsched = torch.optim.lr_scheduler.StepLR(topt, 3, gamma=0.5)
        gsched = optim.lr_scheduler.StepLR(gopt, 3, gamma=0.5)
        for step in range(12):
            if step == 4:
                topt.add_param_group({"params": tps[4:], **late})
                gopt.add_param_group({"params": gps[4:], **late})
            for t, p, s in zip(tps, gps, shapes, strict=True):
                if (step + len(s)) % 5 == 0:
                    t.grad = p.grad = None
                    continue
                g = rng.standard_normal(s) if (step + len(s)) % 7 else np.zeros(s)
                t.grad, p.grad = torch.tensor(g.astype(dtype)), gk.tensor(g.astype(dtype), device=device)
            topt.step()
            gopt.step()
            tsched.step()
            gsched.step()
            if step == 5:
                fresh = getattr(optim, name)([{"params": g["params"]} for g in gopt.param_groups])
                fresh.load_state_dict(topt.state_dict())
                gopt = gsched.optimizer = fresh
            if step == 8:
                sd = gopt.state_dict()
                sd = {"state": {k: {key: torch.tensor(v.numpy()) if isinstance(v, gk.Tensor) else v
                                    for key, v in st.items()} for k, st in sd["state"].items()},
                      "param_groups": sd["param_groups"]}
                fresh = getattr(torch.optim, name)([{"params": g["params"]} for g in topt.param_groups])
                fresh.load_state_dict(sd)
                topt = tsched.optimizer = fresh
            assert [g["lr"] for g in gopt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups])
            for t, p in zip(tps, gps, strict=True):
                np.testing.assert_allclose(p.numpy(), t.detach().numpy(), **tol, err_msg=f"step {step}")
                assert (p in gopt.state) == (t in topt.state)
                for key, value in gopt.state.get(p, {}).items():
                    mine = value.numpy() if isinstance(value, gk.Tensor) else np.asarray(value, dtype=np.float64)
                    np.testing.assert_allclose(mine, topt.state[t][key].numpy(), **tol, err_msg=f"{key} {step}")
    finally:
        torch.set_default_dtype(default)


# ------------------------------------------------------------------ the emulated CuPy
@pytest.mark.parametrize(("name", "kw", "dtype"), [
    ("Rprop", {"maximize": True}, "float32"),
    ("Rprop", {"etas": (0.5, INF)}, "float64"),
    ("Adafactor", {"weight_decay": 0.1}, "float16"),
])
def test_new_paths_read_nothing_on_the_host(device, monkeypatch, name, kw, dtype):
    x = gk.tensor(np.linspace(-1, 1, 12).reshape(3, 4).astype(dtype), device=device, requires_grad=True)
    y = gk.tensor(np.array([2.0]).astype(dtype), device=device, requires_grad=True)  # one element: |p|
    opt = getattr(optim, name)([x, y], lr=0.1, **kw)
    reads = count_host_reads(device, monkeypatch)
    for g in ([NAN, INF, -1.0, 0.5], [1.0, -1.0, 2.0, -0.5], [0.0, 1.0, 1.0, 1.0]):
        x.grad = gk.tensor(np.tile(np.array(g, dtype=dtype), (3, 1)), device=device)
        y.grad = gk.tensor(np.array([g[2]], dtype=dtype), device=device)
        with np.errstate(invalid="ignore"):
            opt.step()
    assert reads == []


class _FakeGemm:
    def matmul(self, a, b):
        return None


@pytest.mark.parametrize("etas", [(0.5, 1.2), (0.5, INF)])
def test_rprop_steps_inside_a_capture(device, etas):
    """Both ways of making the factor run inside a capture (no host data becomes device data) and give the
    eager steps' numbers."""
    runs = []
    for captured in (False, True):
        w = gk.nn.Parameter(gk.tensor(np.array([1.0, -2.0, 0.5]), device=device))
        opt = optim.Rprop([w], lr=0.05, etas=etas)
        w.grad = gk.tensor(np.array([0.5, -1.0, 2.0]), device=device)
        opt.step()  # the state and the constants are made outside the capture
        for g in ([1.0, 1.0, -2.0], [1.0, -1.0, 3.0]):
            w.grad._data[...] = w._backend.asarray(np.array(g))
            if captured:
                with C._Routing(w._backend, _FakeGemm(), None):
                    opt.step()
            else:
                opt.step()
        runs.append(w.numpy())
    np.testing.assert_array_equal(runs[0], runs[1])

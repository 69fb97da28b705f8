"""Adagrad, Adadelta, Adamax, NAdam and RAdam: one or two steps against their formulas written out here,
PyTorch's state names, state dicts, capture, argument checks and, where it is installed, PyTorch itself.

The hand-written steps use a fixed gradient ``G`` (set as ``p.grad``), so each formula can be read
off directly; the PyTorch comparison runs a dozen steps of a small problem with two parameter groups.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from training_steps import replays_match_eager_steps

import gradkit as gk
from gradkit import optim
from gradkit.cuda import graphs as C

P = np.array([1.0, -2.0, 0.5])
G = np.array([0.5, -1.0, 2.0])
for _a in (P, G):
    _a.setflags(write=False)  # a tensor made from them without a copy must not be stepped
EXTRA = ["Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]
COUNTED = ["Adamax", "NAdam", "RAdam"]  # their update depends on the step count: capturable=True exists
STATE_KEYS = {
    "Adagrad": ["step", "sum"],
    "Adadelta": ["acc_delta", "square_avg", "step"],
    "Adamax": ["exp_avg", "exp_inf", "step"],
    "NAdam": ["exp_avg", "exp_avg_sq", "mu_product", "step"],
    "RAdam": ["exp_avg", "exp_avg_sq", "step"],
}


def _steps(name: str, device: str, grads: list, dtype: str = "float64", **kwargs) -> tuple:
    p = gk.tensor(P.astype(dtype), device=device, requires_grad=True)
    opt = getattr(optim, name)([p], **kwargs)
    for g in grads:
        p.grad = gk.tensor(np.asarray(g, dtype=dtype), device=device)
        opt.step()
    return p, opt


def _close(t: gk.Tensor, expected: np.ndarray) -> None:
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------ the formulas, by hand
def test_adagrad_two_steps(device):
    p, opt = _steps("Adagrad", device, [G, G], lr=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.25)
    g1 = G + 0.1 * P
    s1 = 0.25 + g1**2
    p1 = P - 0.1 * g1 / (np.sqrt(s1) + 1e-10)
    g2 = G + 0.1 * p1
    s2 = s1 + g2**2
    _close(p, p1 - 0.1 / 1.5 * g2 / (np.sqrt(s2) + 1e-10))  # the second step's rate: lr / (1 + lr_decay)
    _close(opt.state[p]["sum"], s2)
    assert opt.state[p]["step"] == 2


def test_adagrad_makes_its_state_with_the_group_as_pytorch(device):
    p = gk.tensor(P.copy(), device=device, requires_grad=True)
    q = gk.tensor(P.copy(), device=device, requires_grad=True)
    opt = optim.Adagrad([{"params": [p]}, {"params": [q], "initial_accumulator_value": 2.0}], lr=0.1,
                        initial_accumulator_value=0.5)  # fmt: skip
    assert sorted(opt.state_dict()["state"][0]) == ["step", "sum"]  # before any step, as PyTorch
    _close(opt.state[p]["sum"], np.full(3, 0.5))
    _close(opt.state[q]["sum"], np.full(3, 2.0))  # the group's own value (PyTorch takes the default's)
    assert opt.state[q]["sum"].device == q.device
    q.grad = gk.tensor(G, device=device)
    opt.step()  # p has no gradient: skipped
    assert opt.state[p]["step"] == 0 and opt.state[q]["step"] == 1
    _close(p, P)
    _close(q, P - 0.1 * G / (np.sqrt(2.0 + G**2) + 1e-10))


def test_adadelta_two_steps(device):
    rho, eps, lr = 0.9, 1e-6, 0.5
    p, opt = _steps("Adadelta", device, [G, G], lr=lr, rho=rho, eps=eps, weight_decay=0.1)
    g1 = G + 0.1 * P
    sq1 = 0.1 * g1**2
    d1 = np.sqrt(eps) / np.sqrt(sq1 + eps) * g1  # acc_delta starts at zero
    acc1 = 0.1 * d1**2
    p1 = P - lr * d1
    g2 = G + 0.1 * p1
    sq2 = rho * sq1 + 0.1 * g2**2
    d2 = np.sqrt(acc1 + eps) / np.sqrt(sq2 + eps) * g2
    _close(p, p1 - lr * d2)
    _close(opt.state[p]["square_avg"], sq2)
    _close(opt.state[p]["acc_delta"], rho * acc1 + 0.1 * d2**2)


def test_adamax_two_steps(device):
    b1, b2, eps, lr = 0.8, 0.9, 1e-8, 0.1
    p, opt = _steps("Adamax", device, [G, G / 4], lr=lr, betas=(b1, b2), eps=eps, weight_decay=0.1)
    g1 = G + 0.1 * P
    p1 = P - lr * g1 / (np.abs(g1) + eps)  # step 1: lr / (1 - b1) * (1 - b1) * g1 / (|g1| + eps)
    g2 = G / 4 + 0.1 * p1
    m2 = b1 * (1 - b1) * g1 + (1 - b1) * g2
    u2 = np.maximum(b2 * (np.abs(g1) + eps), np.abs(g2) + eps)
    _close(p, p1 - lr / (1 - b1**2) * m2 / u2)
    _close(opt.state[p]["exp_avg"], m2)
    _close(opt.state[p]["exp_inf"], u2)


def test_nadam_first_step_and_a_step_from_a_loaded_state(device):
    b1, b2, eps, lr, md = 0.9, 0.999, 1e-8, 0.1, 4e-3
    p, opt = _steps("NAdam", device, [G], lr=lr)
    mu1, mu2 = b1 * (1 - 0.5 * 0.96**md), b1 * (1 - 0.5 * 0.96 ** (2 * md))
    # exp_avg = (1 - b1) G, and sqrt(exp_avg_sq / (1 - b2)) = |G|
    _close(p, P - lr * G / (np.abs(G) + eps) * (1 + (1 - b1) * mu2 / (1 - mu1 * mu2)))
    assert opt.state[p]["mu_product"] == pytest.approx(mu1, rel=1e-15)
    # step 5 from a state set by hand, decoupled weight decay
    m, v, prod = np.array([0.1, -0.2, 0.3]), np.array([0.01, 0.04, 0.5]), 0.4
    q = gk.tensor(P.copy(), device=device, requires_grad=True)
    opt = optim.NAdam([q], lr=lr, weight_decay=0.2, decoupled_weight_decay=True)
    opt.load_state_dict({"state": {0: {"step": 4, "mu_product": prod, "exp_avg": m, "exp_avg_sq": v}},
                         "param_groups": opt.state_dict()["param_groups"]})  # fmt: skip
    q.grad = gk.tensor(G, device=device)
    opt.step()
    mu5, mu6 = (b1 * (1 - 0.5 * 0.96 ** (t * md)) for t in (5, 6))
    m5, v5 = b1 * m + (1 - b1) * G, b2 * v + (1 - b2) * G**2
    denom = np.sqrt(v5 / (1 - b2**5)) + eps
    expected = P * (1 - lr * 0.2) - lr * (1 - mu5) / (1 - prod * mu5) * G / denom
    _close(q, expected - lr * mu6 / (1 - prod * mu5 * mu6) * m5 / denom)
    assert opt.state[q]["mu_product"] == pytest.approx(prod * mu5, rel=1e-15)


def test_radam_unrectified_and_rectified_steps(device):
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.1
    p, _ = _steps("RAdam", device, [G, G], lr=lr, weight_decay=0.1)
    g1 = G + 0.1 * P
    p1 = P - lr * g1  # rho_1 = 1: the bias-corrected momentum alone
    g2 = G + 0.1 * p1
    _close(p, p1 - lr * (b1 * 0.1 * g1 + 0.1 * g2) / (1 - b1**2))
    # step 10 from a state set by hand: rho_10 > 5, rectified
    m, v = np.array([0.1, -0.2, 0.3]), np.array([0.01, 0.04, 0.5])
    q = gk.tensor(P.copy(), device=device, requires_grad=True)
    opt = optim.RAdam([q], lr=lr)
    opt.load_state_dict({"state": {0: {"step": 9, "exp_avg": m, "exp_avg_sq": v}},
                         "param_groups": opt.state_dict()["param_groups"]})  # fmt: skip
    q.grad = gk.tensor(G, device=device)
    opt.step()
    m10, v10 = b1 * m + (1 - b1) * G, b2 * v + (1 - b2) * G**2
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 20 * b2**10 / (1 - b2**10)
    assert rho > 5
    rect = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    _close(q, P - lr * m10 / (1 - b1**10) * rect * np.sqrt(1 - b2**10) / (np.sqrt(v10) + eps))


@pytest.mark.parametrize("name", EXTRA)
def test_maximize_is_descent_on_the_negated_gradient(device, name):
    kw = {"lr": 0.1, "weight_decay": 0.1}
    p, opt = _steps(name, device, [G, G / 2, -G], maximize=True, **kw)
    q, ref = _steps(name, device, [-G, -G / 2, G], **kw)
    np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert sorted(opt.state[p]) == STATE_KEYS[name]
    for key, value in opt.state[p].items():
        want = ref.state[q][key]
        if isinstance(value, gk.Tensor):
            np.testing.assert_array_equal(value.numpy(), want.numpy())
        else:
            assert value == want


@pytest.mark.parametrize("name", EXTRA)
def test_parameters_without_a_gradient_are_skipped(name):
    p, q = (gk.tensor(P.copy(), requires_grad=True) for _ in range(2))
    opt = getattr(optim, name)([p, q], lr=0.1)
    q.grad = gk.tensor(G)
    opt.step()
    np.testing.assert_array_equal(p.numpy(), P)
    assert not (q.numpy() == P).any()
    if name == "Adagrad":  # its state is made with the group, as PyTorch's
        assert opt.state[p]["step"] == 0 and opt.state[q]["step"] == 1
    else:
        assert p not in opt.state and opt.state[q]["step"] == 1


def test_float32_parameters_keep_their_dtype(device):
    for name in EXTRA:
        p, opt = _steps(name, device, [G, G], dtype="float32", weight_decay=0.1)
        q, _ = _steps(name, device, [G, G], weight_decay=0.1)
        assert p.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, gk.Tensor))
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", EXTRA)
def test_a_step_allocates_nothing_parameter_sized(name):
    """After the first step (which makes the state and the scratch arrays), a step's temporaries, the
    L2-decayed or negated gradient included, are the optimiser's scratch arrays. (NumPy may still take an
    iteration buffer of 8 KiB, for copyto with a mask: the parameter is large enough that it is not counted.)"""
    n = 100_000
    p = gk.tensor(np.linspace(-1.0, 1.0, n), requires_grad=True)
    p.grad = gk.tensor(np.linspace(0.5, -0.5, n))
    cases = [{"weight_decay": 0.1, "maximize": True}] + ([{"capturable": True}] if name in COUNTED else [])
    for kwargs in cases:
        opt = getattr(optim, name)([p], **kwargs)
        opt.step()
        tracemalloc.start()
        try:
            opt.step()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 8 * n / 10, (kwargs, peak)


# ------------------------------------------------------------------ state dicts
@pytest.mark.parametrize("name", EXTRA)
def test_state_dict_round_trip_continues_identically(device, name):
    p, opt = _steps(name, device, [G, -G / 2], lr=0.05, weight_decay=0.1)
    sd = opt.state_dict()
    assert sorted(sd["state"][0]) == STATE_KEYS[name]
    q = gk.tensor(p.numpy(), device=device, requires_grad=True)
    other = getattr(optim, name)([q], lr=1.0)
    other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == 0.05
    for key, value in other.state[q].items():
        if isinstance(value, gk.Tensor):
            assert value.data is not opt.state[p][key].data and value.device == q.device
    for g in (G, G / 3):
        for t, o in ((p, opt), (q, other)):
            t.grad = gk.tensor(g, device=device)
            o.step()
    np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_loading_another_optimisers_state_is_refused():
    p, adamax = _steps("Adamax", "cpu", [G])
    _, radam = _steps("RAdam", "cpu", [G])
    adam = optim.Adam([p])
    with pytest.raises(gk.InvalidArgumentError, match="no 'exp_inf'.*another optimiser"):
        adamax.load_state_dict(radam.state_dict())
    nadam = optim.NAdam([p])
    with pytest.raises(gk.InvalidArgumentError, match="no 'momentum_decay'"):
        nadam.load_state_dict(adam.state_dict())
    with pytest.raises(gk.InvalidArgumentError, match="no 'lr_decay'"):
        optim.Adagrad([p]).load_state_dict(optim.Adadelta([p]).state_dict())


@pytest.mark.parametrize(
    ("value", "match"),
    [(None, "NoneType"), (1.5, r"in \[0, 1\], got float 1.5"), (np.ones(2), "shape"), (True, "bool")],
)
def test_a_bad_mu_product_is_refused_and_changes_nothing(value, match):
    p, opt = _steps("NAdam", "cpu", [G])
    before = repr(opt.state_dict())
    sd = opt.state_dict()
    sd["state"][0]["mu_product"] = value
    with pytest.raises(gk.InvalidArgumentError, match=f"'mu_product' of parameter 0.*{match}"):
        opt.load_state_dict(sd)
    del sd["state"][0]["mu_product"]
    with pytest.raises(gk.InvalidArgumentError, match="has no 'mu_product'"):
        opt.load_state_dict(sd)
    assert repr(opt.state_dict()) == before
    sd["state"][0]["mu_product"] = np.array(0.5, dtype=np.float32)  # a 0-d array, as PyTorch's tensor
    opt.load_state_dict(sd)
    assert opt.state[p]["mu_product"] == 0.5


# ------------------------------------------------------------------ capture
@pytest.mark.parametrize("name", COUNTED)
def test_capturable_keeps_the_count_on_the_device_with_the_same_results(device, name):
    kw = {"lr": 0.05, "weight_decay": 0.1, "betas": (0.8, 0.9)}
    grads = [G * s for s in (1.0, -0.5, 0.3, 2.0, -1.0, 0.7, 0.2, -0.1)]  # RAdam rectifies from step 6
    for dtype, rtol in (("float64", 1e-13), ("float32", 1e-6)):
        plain, _ = _steps(name, device, grads, dtype=dtype, **kw)
        cap, opt = _steps(name, device, grads, dtype=dtype, capturable=True, **kw)
        np.testing.assert_allclose(cap.numpy(), plain.numpy(), rtol=rtol, atol=0)  # pow may differ by an ulp
        count = opt.state[cap]["step"]
        assert isinstance(count, gk.Tensor) and count.device == cap.device and count.item() == len(grads)
    sd = opt.state_dict()  # a device count loads into a plain optimiser, and back
    plain = getattr(optim, name)([cap], **kw)
    plain.load_state_dict(sd)
    assert plain.param_groups[0]["capturable"] is True and plain.state[cap]["step"] == len(grads)


class _FakeGemm:
    def matmul(self, a, b):
        return None


@pytest.mark.parametrize("name", EXTRA)
def test_steps_inside_a_capture(device, name):
    """While a step is captured: capturable updates (and those that do not depend on the count) read
    nothing on the host and change their state in place; the others refuse with CaptureError."""
    kwargs = {"capturable": True} if name in COUNTED else {}
    w = gk.nn.Parameter(gk.tensor(P.copy(), device=device))
    opt = getattr(optim, name)([w], lr=0.05, **kwargs)
    w.grad = gk.tensor(G, device=device)
    opt.step()  # the warm-up: the state is made outside the capture
    state = dict(opt.state[w])
    with C._Routing(w._backend, _FakeGemm(), None):  # host data cannot become device data in here
        for _ in range(2):
            opt.step()
    assert all(opt.state[w][k] is v for k, v in state.items() if isinstance(v, gk.Tensor))
    if name in COUNTED:
        assert opt.state[w]["step"].item() == 3
        plain, match = getattr(optim, name)([w], lr=0.05), "capturable=True"
    else:
        plain, match = optim.Adagrad([w], lr_decay=0.1), "lr_decay=0"
    with C._Routing(w._backend, _FakeGemm(), None), pytest.raises(gk.cuda.CaptureError, match=match):
        plain.step()


@pytest.mark.cuda
@pytest.mark.parametrize("name", EXTRA)
def test_captured_steps_replay_as_eager_steps_on_the_gpu(name):
    """A real CUDA graph: a small model, cross_entropy and the optimiser in one graph, against eager steps."""
    from gradkit import nn

    kwargs = {"capturable": True} if name in COUNTED else {}

    def make():
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).to("cuda")
        return model, getattr(optim, name)(model.parameters(), lr=0.01, weight_decay=0.01, **kwargs)

    replays_match_eager_steps(make, 8)


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("Adagrad", {"lr": -0.1}, r"Adagrad: invalid lr=-0.1; expected 0 <= lr"),
        ("Adagrad", {"lr_decay": -1}, r"Adagrad: invalid lr_decay=-1"),
        ("Adagrad", {"initial_accumulator_value": -0.5}, r"Adagrad: invalid initial_accumulator_value=-0.5"),
        ("Adadelta", {"rho": 1.5}, r"Adadelta: invalid rho=1.5; expected 0 <= rho <= 1"),
        ("Adadelta", {"weight_decay": -0.1}, r"Adadelta: invalid weight_decay=-0.1"),
        ("Adamax", {"betas": (1.0, 0.9)}, r"Adamax: invalid betas\[0\]=1.0; expected 0 <= betas\[0\] < 1"),
        ("Adamax", {"betas": (0.9,)}, r"Adamax: betas must be a pair"),
        ("NAdam", {"momentum_decay": -1e-3}, r"NAdam: invalid momentum_decay=-0.001"),
        ("NAdam", {"eps": -1.0}, r"NAdam: invalid eps=-1.0"),
        ("RAdam", {"betas": (0.9, -0.1)}, r"RAdam: invalid betas\[1\]=-0.1"),
        ("RAdam", {"lr": float("nan")}, r"RAdam: invalid lr=nan"),
    ],
)
def test_invalid_hyperparameters(name, kwargs, match):
    with pytest.raises(gk.InvalidArgumentError, match=match):
        getattr(optim, name)([gk.ones(2, requires_grad=True)], **kwargs)


@pytest.mark.parametrize(
    ("name", "key"),
    [("Adagrad", "maximize"), ("Adadelta", "maximize"), ("Adamax", "capturable"), ("NAdam", "decoupled_weight_decay"),
     ("RAdam", "decoupled_weight_decay")],
)
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


def test_positional_arguments_follow_pytorch():
    p = gk.ones(2, requires_grad=True)
    cases = [
        (optim.Adagrad([p], 0.1, 0.2, 0.3, 0.4, 1e-9),
         {"lr": 0.1, "lr_decay": 0.2, "weight_decay": 0.3, "initial_accumulator_value": 0.4, "eps": 1e-9}),
        (optim.Adadelta([p], 0.1, 0.2, 1e-5, 0.3), {"lr": 0.1, "rho": 0.2, "eps": 1e-5, "weight_decay": 0.3}),
        (optim.Adamax([p], 0.1, (0.2, 0.3), 1e-5, 0.4), {"betas": (0.2, 0.3), "eps": 1e-5, "weight_decay": 0.4}),
        (optim.NAdam([p], 0.1, (0.2, 0.3), 1e-5, 0.4, 0.5), {"weight_decay": 0.4, "momentum_decay": 0.5}),
        (optim.RAdam([p], 0.1, (0.2, 0.3), 1e-5, 0.4), {"betas": (0.2, 0.3), "eps": 1e-5, "weight_decay": 0.4}),
    ]
    for opt, expected in cases:
        assert {k: opt.param_groups[0][k] for k in expected} == expected
    # decoupled_weight_decay is the last positional argument, as in PyTorch 2.13; maximize is keyword-only
    assert optim.NAdam([p], 0.1, (0.9, 0.99), 1e-8, 0, 4e-3, True).param_groups[0]["decoupled_weight_decay"] is True
    assert optim.RAdam([p], 0.1, (0.9, 0.99), 1e-8, 0, True).param_groups[0]["decoupled_weight_decay"] is True
    with pytest.raises(TypeError):
        optim.NAdam([p], 0.1, (0.9, 0.99), 1e-8, 0, 4e-3, True, True)
    with pytest.raises(TypeError):
        optim.RAdam([p], 0.1, (0.9, 0.99), 1e-8, 0, True, True)


# ------------------------------------------------------------------ PyTorch
TORCH_CASES = [
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.2}, {"lr": 0.3}),
    ("Adagrad", {"lr": 0.1, "maximize": True}, {"weight_decay": 0.2, "eps": 1e-3}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.1}, {"rho": 0.5}),
    ("Adadelta", {"maximize": True, "eps": 1e-3}, {"weight_decay": 0.2}),
    ("Adamax", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}, {"lr": 0.02}),
    ("Adamax", {"lr": 0.05, "maximize": True}, {"weight_decay": 0.2}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1}, {"lr": 0.02, "momentum_decay": 0.1}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
     {"betas": (0.7, 0.8)}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1}, {"lr": 0.02, "betas": (0.8, 0.9)}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
     {"betas": (0.5, 0.6)}),
]
Q = np.array([0.4, -0.9, 1.3])
A = np.array([1.0, 2.0, 0.5])
for _a in (Q, A):
    _a.setflags(write=False)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "kwargs", "group"), TORCH_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)])
def test_matches_pytorch(name, kwargs, group, dtype):
    """Twelve steps of ``sum(0.5 * a * p**2 + G * p) + sum(q**3)`` (negated with maximize, so the ascent
    converges), two parameter groups; then PyTorch's state dict, as arrays, loads here and the two go on alike.
    PyTorch keeps its scalars (step, mu_product) in its default dtype, set to float64 for the float64 run."""
    torch = pytest.importorskip("torch")
    sign = -1.0 if kwargs.get("maximize") else 1.0
    default = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        tp, tq = (torch.nn.Parameter(torch.tensor(x.astype(dtype))) for x in (P, Q))
        topt = getattr(torch.optim, name)([{"params": [tp]}, {"params": [tq], **group}], **kwargs)
        p, q = (gk.tensor(x.astype(dtype), requires_grad=True) for x in (P, Q))
        opt = getattr(optim, name)([{"params": [p]}, {"params": [q], **group}], **kwargs)
        a, b = (x.astype(dtype) for x in (A, G))

        def run(steps):
            for _ in range(steps):
                topt.zero_grad()
                opt.zero_grad()
                (sign * ((torch.tensor(a) * 0.5 * tp * tp + torch.tensor(b) * tp).sum() + (tq**3).sum())).backward()
                (sign * ((gk.tensor(a) * 0.5 * p * p + gk.tensor(b) * p).sum() + (q**3).sum())).backward()
                topt.step()
                opt.step()

        run(12)
        tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == "float64" else {"rtol": 2e-6, "atol": 2e-7}
        for mine, theirs in ((p, tp), (q, tq)):
            np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), **tol)
            tstate = topt.state[theirs]
            assert sorted(opt.state[mine]) == sorted(tstate)
            for key, value in opt.state[mine].items():
                want = tstate[key].numpy()
                np.testing.assert_allclose(value.numpy() if isinstance(value, gk.Tensor) else value, want, **tol)
        tsd = topt.state_dict()
        sd = {"state": {k: {key: v.numpy() for key, v in s.items()} for k, s in tsd["state"].items()},
              "param_groups": tsd["param_groups"]}  # fmt: skip
        opt = getattr(optim, name)([{"params": [p]}, {"params": [q]}])
        opt.load_state_dict(sd)
        run(3)
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **tol)
        np.testing.assert_allclose(q.numpy(), tq.detach().numpy(), **tol)
    finally:
        torch.set_default_dtype(default)

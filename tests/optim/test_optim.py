"""Optimisers against PyTorch's published update rules, written out here in plain NumPy (float64).

The problem: ``loss(p) = sum(0.5 * a * p**2 + b * p)``, whose gradient is
``a * p + b``; each optimiser runs a few steps through gradkit's autograd and
the NumPy reference runs the documented algorithm on the same gradients.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import gradkit as gk
from gradkit import optim

A = np.array([[1.0, 2.0, 0.5], [3.0, 0.1, 1.5]])
B = np.array([[0.3, -1.0, 2.0], [0.0, 0.7, -0.2]])
P0 = np.array([[0.5, -1.5, 1.0], [2.0, -0.3, 0.8]])
STEPS = 5
for _a in (A, B, P0):
    _a.setflags(write=False)  # a tensor made from them without a copy must not be stepped


def _loss(p: gk.Tensor) -> gk.Tensor:
    a = gk.tensor(A.astype(p.dtype), device=p.device)
    b = gk.tensor(B.astype(p.dtype), device=p.device)
    return (a * p * p * 0.5 + b * p).sum()


def _grad(p: np.ndarray) -> np.ndarray:
    return A * p + B


def _run(opt_cls: type, device: str, dtype: str = "float64", steps: int = STEPS, **kwargs) -> np.ndarray:
    p = gk.tensor(P0.astype(dtype), device=device, requires_grad=True)
    opt = opt_cls([p], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        _loss(p).backward()
        opt.step()
        assert p.is_leaf and p.grad_fn is None and p.dtype == np.dtype(dtype)
    return p.numpy()


# ------------------------------------------------------------------ references (PyTorch's documented algorithms)
def _sgd_ref(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False, steps=STEPS):
    p, buf = P0.copy(), None
    for t in range(1, steps + 1):
        g = (-_grad(p) if maximize else _grad(p)) + weight_decay * p
        if momentum != 0:
            buf = g.copy() if t == 1 else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def _adam_ref(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, maximize=False, steps=STEPS):
    p, m, v = P0.copy(), 0.0, 0.0
    b1, b2 = betas
    for t in range(1, steps + 1):
        g = -_grad(p) if maximize else _grad(p)
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def _rmsprop_ref(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False,
                 steps=STEPS):
    p, v, g_ave, buf = P0.copy(), 0.0, 0.0, 0.0
    for _ in range(steps):
        g = (-_grad(p) if maximize else _grad(p)) + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v_tilde - g_ave * g_ave
        if momentum > 0:
            buf = momentum * buf + g / (np.sqrt(v_tilde) + eps)
            p = p - lr * buf
        else:
            p = p - lr * g / (np.sqrt(v_tilde) + eps)
    return p


# ------------------------------------------------------------------ updates
SGD_CASES = [
    {"lr": 0.1},
    {"lr": 0.1, "weight_decay": 0.05},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
]


@pytest.mark.parametrize("kwargs", SGD_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_sgd_matches_reference(device, kwargs):
    np.testing.assert_allclose(_run(optim.SGD, device, **kwargs), _sgd_ref(**kwargs), rtol=1e-12, atol=1e-14)
    got32 = _run(optim.SGD, device, dtype="float32", **kwargs)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, _sgd_ref(**kwargs), rtol=1e-5, atol=1e-6)


ADAM_CASES = [{}, {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-6}, {"lr": 0.01, "weight_decay": 0.1}]


@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=["default", "betas", "l2"])
def test_adam_matches_reference(device, kwargs):
    np.testing.assert_allclose(_run(optim.Adam, device, **kwargs), _adam_ref(**kwargs), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_run(optim.Adam, device, dtype="float32", **kwargs), _adam_ref(**kwargs), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.05, "weight_decay": 0.3, "betas": (0.5, 0.6)}], ids=["default", "wd"])
def test_adamw_matches_reference(device, kwargs):
    ref = _adam_ref(decoupled=True, **{"weight_decay": 1e-2, **kwargs})
    np.testing.assert_allclose(_run(optim.AdamW, device, **kwargs), ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_capturable_adam_gives_the_same_parameters_as_plain_adam(device, name):
    """capturable=True keeps each step count on the device (for gk.cuda.capture); the arithmetic is the same."""
    kwargs = {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}
    exact = device == "cpu" and np.lib.NumpyVersion(np.__version__) >= "2.0.0"  # NumPy 1.x: a power may differ
    for dtype, rtol in (("float64", 1e-14), ("float32", 1e-6)):  # by an ulp (GPU: pow in the kernel, FMA)
        plain = _run(getattr(optim, name), device, dtype=dtype, steps=7, **kwargs)
        capturable = _run(getattr(optim, name), device, dtype=dtype, steps=7, capturable=True, **kwargs)
        if exact:
            np.testing.assert_array_equal(capturable, plain)
        else:
            np.testing.assert_allclose(capturable, plain, rtol=rtol, atol=0)


def test_capturable_step_count_is_a_device_tensor_and_state_dicts_cross_over(device):
    p = gk.tensor(P0.copy(), device=device, requires_grad=True)
    opt = optim.Adam([p], lr=0.05, capturable=True)
    for _ in range(3):
        opt.zero_grad()
        _loss(p).backward()
        opt.step()
    count = opt.state[p]["step"]
    assert isinstance(count, gk.Tensor) and count.device == p.device and count.dtype == np.float64
    assert count.shape == () and count.item() == 3
    sd = opt.state_dict()
    assert sd["param_groups"][0]["capturable"] is True
    # into a plain Adam: the saved flag wins (as in PyTorch) unless dropped, and the count becomes a number
    q = gk.tensor(p.numpy(), device=device, requires_grad=True)
    plain = optim.Adam([q], lr=0.05)
    del sd["param_groups"][0]["capturable"]  # a state dict saved before the option existed
    plain.load_state_dict(sd)
    assert plain.param_groups[0]["capturable"] is False and plain.state[q]["step"] == 3
    for o, t in ((opt, p), (plain, q)):
        o.zero_grad()
        _loss(t).backward()
        o.step()
    np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert plain.state[q]["step"] == 4 and opt.state[p]["step"].item() == 4
    # and back: a number loaded into a capturable Adam becomes a device count at its next step
    r = gk.tensor(q.numpy(), device=device, requires_grad=True)
    again = optim.Adam([r], lr=0.05, capturable=True)
    again.load_state_dict(plain.state_dict())
    assert again.param_groups[0]["capturable"] is False  # the saved group's flag, as PyTorch
    again.param_groups[0]["capturable"] = True
    again.zero_grad()
    _loss(r).backward()
    again.step()
    assert isinstance(again.state[r]["step"], gk.Tensor) and again.state[r]["step"].item() == 5


def test_capturable_must_be_a_bool():
    with pytest.raises(gk.InvalidArgumentError, match="Adam: capturable must be True or False, got str 'yes'"):
        optim.Adam([gk.ones(2, requires_grad=True)], capturable="yes")


RMS_CASES = [{}, {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1}, {"momentum": 0.5}, {"centered": True},
             {"lr": 0.003, "momentum": 0.7, "centered": True, "eps": 1e-6}]


@pytest.mark.parametrize("kwargs", RMS_CASES, ids=["default", "wd", "momentum", "centered", "all"])
def test_rmsprop_matches_reference(device, kwargs):
    np.testing.assert_allclose(_run(optim.RMSprop, device, **kwargs), _rmsprop_ref(**kwargs), rtol=1e-11,
                               atol=1e-13)


# ------------------------------------------------------------------ maximize (PyTorch's keyword: ascend)
MAXIMIZE_CASES = [
    (optim.SGD, _sgd_ref, {"lr": 0.05}),
    (optim.SGD, _sgd_ref, {"lr": 0.05, "weight_decay": 0.1}),
    (optim.SGD, _sgd_ref, {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    (optim.SGD, _sgd_ref, {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    (optim.Adam, _adam_ref, {"lr": 0.05, "betas": (0.8, 0.9)}),
    (optim.Adam, _adam_ref, {"lr": 0.05, "weight_decay": 0.1}),
    (optim.AdamW, lambda **k: _adam_ref(decoupled=True, **k), {"lr": 0.05, "weight_decay": 0.3}),
    (optim.RMSprop, _rmsprop_ref, {"lr": 0.01, "alpha": 0.9}),
    (optim.RMSprop, _rmsprop_ref, {"lr": 0.01, "weight_decay": 0.1, "momentum": 0.5}),
    (optim.RMSprop, _rmsprop_ref, {"lr": 0.003, "momentum": 0.7, "centered": True, "eps": 1e-6}),
    (optim.RMSprop, _rmsprop_ref, {"lr": 0.01, "centered": True, "weight_decay": 0.2}),
]
MAXIMIZE_IDS = [f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(MAXIMIZE_CASES)]


@pytest.mark.parametrize(("cls", "ref", "kwargs"), MAXIMIZE_CASES, ids=MAXIMIZE_IDS)
def test_maximize_matches_reference(device, cls, ref, kwargs):
    expected = ref(maximize=True, **kwargs)
    np.testing.assert_allclose(_run(cls, device, maximize=True, **kwargs), expected, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(_run(cls, device, dtype="float32", maximize=True, **kwargs), expected, rtol=1e-5,
                               atol=1e-6)
    # it climbs: the objective grows where the same steps without maximize made it fall
    up, down = _run(cls, device, maximize=True, **kwargs), _run(cls, device, **kwargs)
    f = lambda p: (0.5 * A * p * p + B * p).sum()  # noqa: E731
    assert f(up) > f(P0) > f(down)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_maximize_with_capturable_adam_gives_the_same_parameters(device, name):
    kwargs = {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1, "maximize": True}
    plain = _run(getattr(optim, name), device, steps=7, **kwargs)
    capturable = _run(getattr(optim, name), device, steps=7, capturable=True, **kwargs)
    np.testing.assert_allclose(capturable, plain, rtol=1e-14, atol=0)


def test_maximize_is_a_group_setting_and_old_state_dicts_keep_the_optimisers_own():
    p, q = gk.tensor(P0.copy(), requires_grad=True), gk.tensor(P0.copy(), requires_grad=True)
    opt = optim.SGD([{"params": [p]}, {"params": [q], "maximize": True}], lr=0.1)
    assert [g["maximize"] for g in opt.param_groups] == [False, True]
    (_loss(p) + _loss(q)).backward()
    opt.step()
    np.testing.assert_allclose(p.numpy(), _sgd_ref(0.1, steps=1))
    np.testing.assert_allclose(q.numpy(), _sgd_ref(0.1, maximize=True, steps=1))
    for cls in (optim.SGD, optim.Adam, optim.RMSprop):
        sd = cls([gk.ones(2, requires_grad=True)], lr=0.1).state_dict()
        del sd["param_groups"][0]["maximize"]  # saved before the option existed
        loader = cls([gk.ones(2, requires_grad=True)], lr=0.1, maximize=True)
        loader.load_state_dict(sd)
        assert loader.param_groups[0]["maximize"] is True


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop])
def test_maximize_must_be_a_flag(cls):
    with pytest.raises(gk.ArgumentTypeError, match=f"{cls.__name__}: maximize must be True or False, got str 'yes'"):
        cls([gk.ones(2, requires_grad=True)], lr=0.1, maximize="yes")
    opt = cls([gk.ones(2, requires_grad=True)], lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["maximize"] = np.ones(2)
    with pytest.raises(gk.ArgumentTypeError, match=f"{cls.__name__}: maximize must be True or False, got ndarray"):
        opt.load_state_dict(sd)


TORCH_MAXIMIZE = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1, "momentum": 0.5, "centered": True}),
    ("RMSprop", {"lr": 0.01}),
]


@pytest.mark.parametrize(("name", "kwargs"), TORCH_MAXIMIZE, ids=[f"{n}{i}" for i, (n, _) in enumerate(TORCH_MAXIMIZE)])
def test_maximize_matches_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    for maximize in (False, True):
        tp = torch.nn.Parameter(torch.tensor(P0, dtype=torch.float64))
        topt = getattr(torch.optim, name)([tp], maximize=maximize, **kwargs)
        for _ in range(STEPS):
            topt.zero_grad()
            loss = (torch.tensor(A) * tp * tp * 0.5 + torch.tensor(B) * tp).sum()
            loss.backward()
            topt.step()
        got = _run(getattr(optim, name), "cpu", maximize=maximize, **kwargs)
        np.testing.assert_allclose(got, tp.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_parameter_groups_use_their_own_hyperparameters(device):
    p1 = gk.tensor(P0.copy(), device=device, requires_grad=True)
    p2 = gk.tensor(P0.copy(), device=device, requires_grad=True)
    opt = optim.SGD([{"params": [p1]}, {"params": [p2], "lr": 0.01, "momentum": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[1]["momentum"] == 0.5 and opt.param_groups[1]["dampening"] == 0
    for _ in range(STEPS):
        opt.zero_grad()
        (_loss(p1) + _loss(p2)).backward()
        opt.step()
    np.testing.assert_allclose(p1.numpy(), _sgd_ref(0.1, 0.9), rtol=1e-12)
    np.testing.assert_allclose(p2.numpy(), _sgd_ref(0.01, 0.5), rtol=1e-12)
    p3 = gk.zeros(2, device=device, requires_grad=True)
    opt.add_param_group({"params": p3, "lr": 0.3})
    assert opt.param_groups[2]["params"] == [p3] and opt.param_groups[2]["momentum"] == 0.9
    with pytest.raises(gk.InvalidArgumentError, match="more than once"):
        opt.add_param_group({"params": [p1]})


def test_parameters_without_grad_are_skipped():
    p = gk.ones(3, requires_grad=True)
    q = gk.ones(3, requires_grad=True)
    opt = optim.Adam([p, q], lr=0.1)
    (p * 2).sum().backward()
    opt.step()
    assert q not in opt.state
    np.testing.assert_array_equal(q.numpy(), 1)
    assert p.numpy()[0] < 1


def test_step_updates_in_place_without_a_graph(device):
    lin = gk.nn.Linear(4, 3, device=device)
    data_before = lin.weight.data
    version = lin.weight._version[0]
    opt = optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    lin(gk.ones(2, 4, device=device)).sum().backward()
    opt.step()
    assert lin.weight.data is data_before and lin.weight._version[0] == version + 1
    assert lin.weight.grad_fn is None and lin.weight.is_leaf
    # a graph that saved the weight before the step can no longer be differentiated
    out = lin(gk.ones(2, 4, device=device)).sum()
    opt.step()
    with pytest.raises(gk.AutogradError, match="modified"):
        out.backward()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9),
        lambda ps: optim.Adam(ps, lr=0.01),
        lambda ps: optim.AdamW(ps, lr=0.01),
        lambda ps: optim.SGD(ps, lr=0.01, maximize=True),
        lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=0.1, maximize=True),
        lambda ps: optim.Adam(ps, lr=0.01, maximize=True),
        lambda ps: optim.AdamW(ps, lr=0.01, maximize=True),
    ],
    ids=["sgd", "adam", "adamw", "sgd-maximize", "sgd-momentum-wd-maximize", "adam-maximize", "adamw-maximize"],
)
def test_steady_state_step_allocates_no_parameter_sized_array(make):
    p = gk.zeros(512, 512, requires_grad=True)  # 1 MiB of float32
    p.grad = gk.ones(512, 512)
    opt = make([p])
    opt.step()  # creates the state
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"a step allocated {peak} bytes"


def test_zero_grad_and_closure():
    p = gk.tensor(P0.copy(), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = _loss(p)
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert np.isclose(loss.item(), (0.5 * A * P0**2 + B * P0).sum())
    np.testing.assert_allclose(p.numpy(), _sgd_ref(0.1, steps=1))
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad  # zeroed in place, as PyTorch: a reference to .grad sees the zeros
    np.testing.assert_array_equal(grad.numpy(), 0)
    opt.zero_grad()
    assert p.grad is None


def test_zero_grad_in_place_leaves_other_parameters_gradients_alone(device):
    a = gk.ones(3, device=device, requires_grad=True)
    b = gk.ones(3, device=device, requires_grad=True)
    (a + b).sum().backward()  # add hands one gradient to both inputs: each .grad must own its array
    optim.SGD([a], lr=0.1).zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0, 0.0] and b.grad.tolist() == [1.0, 1.0, 1.0]
    (a * 2).sum().backward()
    assert a.grad.tolist() == [2.0, 2.0, 2.0] and b.grad.tolist() == [1.0, 1.0, 1.0]


# ------------------------------------------------------------------ state dicts
@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
        lambda ps: optim.Adam(ps, lr=0.05, betas=(0.8, 0.9)),
        lambda ps: optim.AdamW(ps, lr=0.05),
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    ],
    ids=["sgd", "adam", "adamw", "rmsprop"],
)
def test_state_dict_round_trip_continues_identically(make):
    p = gk.tensor(P0.copy(), requires_grad=True)
    opt = make([p])
    for _ in range(3):
        opt.zero_grad()
        _loss(p).backward()
        opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and list(sd["state"]) == [0]
    q = gk.tensor(p.numpy(), requires_grad=True)
    fresh = make([q])
    fresh.param_groups[0]["lr"] = 123.0  # overwritten by the load
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == opt.param_groups[0]["lr"] and fresh.param_groups[0]["params"] == [q]
    for _ in range(2):
        for o, t in ((opt, p), (fresh, q)):
            o.zero_grad()
            _loss(t).backward()
            o.step()
    np.testing.assert_array_equal(p.numpy(), q.numpy())
    # the loaded state is a copy: it does not alias the saved one
    for key, value in fresh.state[q].items():
        if isinstance(value, gk.Tensor):
            assert value.data is not opt.state[p][key].data


def test_state_dict_through_a_checkpoint_file(tmp_path):
    pytest.importorskip("safetensors")
    p = gk.tensor(P0.astype(np.float32), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    _loss(p).backward()
    opt.step()
    gk.save({"optim": opt.state_dict()}, tmp_path / "opt.safetensors")
    loaded = gk.load(tmp_path / "opt.safetensors")["optim"]
    q = gk.tensor(p.numpy(), requires_grad=True)
    fresh = optim.Adam([q], lr=0.5)
    fresh.load_state_dict(loaded)
    assert fresh.state[q]["step"] == 1 and fresh.param_groups[0]["betas"] == (0.9, 0.999)
    np.testing.assert_array_equal(fresh.state[q]["exp_avg"].numpy(), opt.state[p]["exp_avg"].numpy())


def test_load_state_dict_errors():
    p = gk.ones(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    other = optim.SGD([gk.ones(2, requires_grad=True), gk.ones(2, requires_grad=True)], lr=0.1)
    with pytest.raises(gk.InvalidArgumentError, match="group 0 has 2 parameter"):
        opt.load_state_dict(other.state_dict())
    with pytest.raises(gk.InvalidArgumentError, match="'state'"):
        opt.load_state_dict({"foo": 1})


# ------------------------------------------------------------------ invalid hyperparameters
@pytest.mark.parametrize(
    "make,match",
    [
        (lambda ps: optim.SGD(ps, lr=-0.1), r"SGD: invalid lr=-0.1; expected 0 <= lr"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), r"SGD: invalid momentum=-0.5"),
        (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), r"SGD: invalid weight_decay=-1"),
        (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), r"SGD: nesterov=True needs momentum > 0"),
        (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening == 0"),
        (lambda ps: optim.SGD(ps, lr=float("nan")), r"SGD: invalid lr=nan"),
        (lambda ps: optim.SGD(ps), r"SGD: .*'lr'.*no default"),
        (lambda ps: optim.Adam(ps, lr=-1e-3), r"Adam: invalid lr=-0.001"),
        (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), r"Adam: invalid betas\[0\]=1.0; expected 0 <= betas\[0\] < 1"),
        (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), r"Adam: invalid betas\[1\]=-0.1"),
        (lambda ps: optim.Adam(ps, betas=(0.9,)), r"Adam: betas must be a pair"),
        (lambda ps: optim.Adam(ps, eps=-1e-8), r"Adam: invalid eps"),
        (lambda ps: optim.AdamW(ps, weight_decay=-0.1), r"AdamW: invalid weight_decay=-0.1"),
        (lambda ps: optim.RMSprop(ps, alpha=1.5), r"RMSprop: invalid alpha=1.5; expected 0 <= alpha <= 1"),
        (lambda ps: optim.RMSprop(ps, momentum=-1), r"RMSprop: invalid momentum=-1"),
    ],
)
def test_invalid_hyperparameters(make, match):
    with pytest.raises(gk.InvalidArgumentError, match=match):
        make([gk.ones(2, requires_grad=True)])


def test_invalid_parameter_lists():
    with pytest.raises(gk.InvalidArgumentError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(gk.ArgumentTypeError, match="iterable"):
        optim.SGD(gk.ones(2, requires_grad=True), lr=0.1)
    with pytest.raises(gk.InvalidArgumentError, match="not a leaf"):
        optim.SGD([gk.ones(2, requires_grad=True) * 2], lr=0.1)
    with pytest.raises(gk.ArgumentTypeError, match="not a Tensor"):
        optim.Adam([np.ones(2)])
    with pytest.raises(gk.InvalidArgumentError, match="lr"):
        optim.SGD([{"params": [gk.ones(1, requires_grad=True)], "lr": -1.0}], lr=0.1)


def _trained(opt_cls, **kw):
    p = gk.tensor(np.ones(3), requires_grad=True)
    opt = opt_cls([p], lr=0.1, **kw)
    p.grad = gk.tensor(np.ones(3))
    opt.step()
    return p, opt


@pytest.mark.parametrize(
    ("target", "source"),
    [(gk.optim.SGD, gk.optim.Adam), (gk.optim.Adam, gk.optim.SGD), (gk.optim.RMSprop, gk.optim.Adam)],
)
def test_loading_another_optimisers_state_is_refused_and_changes_nothing(target, source):
    p, opt = _trained(target, **({"momentum": 0.9} if target is gk.optim.SGD else {}))
    before = repr(opt.state_dict())
    _, other = _trained(source, **({"momentum": 0.9} if source is gk.optim.SGD else {}))
    with pytest.raises(gk.GradkitError, match="another optimiser"):
        opt.load_state_dict(other.state_dict())
    assert repr(opt.state_dict()) == before


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("exp_avg", np.zeros(()), "shape"),
        ("exp_avg", np.float32(1.0), "expected a tensor"),
        ("exp_avg", np.ones(3, dtype=np.int64), "dtype"),
        ("exp_avg", [1.0, 2.0, 3.0], "expected a tensor"),
        ("step", -1, "whole number"),
        ("step", 2.5, "whole number"),
    ],
)
def test_malformed_optimiser_state_is_refused_at_load(key, value, match):
    p, opt = _trained(gk.optim.Adam)
    sd = opt.state_dict()
    sd["state"][0][key] = value
    with pytest.raises(gk.GradkitError, match=match):
        opt.load_state_dict(sd)
    opt.step()  # still usable


def test_malformed_optimiser_state_dict_structure_is_a_gradkit_error():
    _, opt = _trained(gk.optim.SGD, momentum=0.9)
    sd = opt.state_dict()
    sd["state"] = {"zero": {}}
    with pytest.raises(gk.GradkitError, match="malformed"):
        opt.load_state_dict(sd)
    sd = opt.state_dict()
    sd["state"][0] = "not a dict"
    with pytest.raises(gk.GradkitError, match="expected a dict"):
        opt.load_state_dict(sd)

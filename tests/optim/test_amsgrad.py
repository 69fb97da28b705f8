"""Adam and AdamW with ``amsgrad=True`` (PyTorch's AMSGrad), against a float64 NumPy transcription of
PyTorch 2's update and, where it is installed, against ``torch.optim`` itself.

The problem is ``loss(p) = sum(0.5 * a * p**2 + b * p)`` (gradient ``a * p + b``), negated for
``maximize=True`` (so that the ascent converges too), run long enough, with a small ``beta2``, that
the second moment falls below its running maximum: the maximum then changes the result (each case
checks that it does).
"""

from __future__ import annotations

import numpy as np
import pytest
from training_steps import replays_match_eager_steps

import gradkit as gk
from gradkit import kernels, optim
from gradkit.cuda import graphs as C
from gradkit.kernels import reference

A = np.array([[1.0, 2.0, 0.5], [3.0, 0.1, 1.5]])
B = np.array([[0.3, -1.0, 2.0], [0.0, 0.7, -0.2]])
P0 = np.array([[0.5, -1.5, 1.0], [2.0, -0.3, 0.8]])
STEPS = 20
for _a in (A, B, P0):
    _a.setflags(write=False)


def _loss(p: gk.Tensor, sign: float = 1.0) -> gk.Tensor:
    a = gk.tensor((sign * A).astype(p.dtype), device=p.device)
    b = gk.tensor((sign * B).astype(p.dtype), device=p.device)
    return (a * p * p * 0.5 + b * p).sum()


def _step(opt: optim.Optimizer, p: gk.Tensor, sign: float = 1.0) -> None:
    opt.zero_grad()
    _loss(p, sign).backward()
    opt.step()


def _run(name: str, device: str, dtype: str = "float64", steps: int = STEPS, **kwargs) -> tuple:
    p = gk.tensor(P0.astype(dtype), device=device, requires_grad=True)
    opt = getattr(optim, name)([p], **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    for _ in range(steps):
        _step(opt, p, sign)
        assert p.dtype == np.dtype(dtype)
    return p, opt


def _ref(
    lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, maximize=False, amsgrad=True, steps=STEPS
):
    """PyTorch 2's Adam/AdamW step (``_single_tensor_adam``), in float64: the maximum is of the raw
    ``exp_avg_sq``, and the bias correction divides its square root."""
    p, m, v, vmax = P0.copy(), np.zeros_like(P0), np.zeros_like(P0), np.zeros_like(P0)
    b1, b2 = betas
    for t in range(1, steps + 1):
        g = A * p + B  # maximize: the gradient of -loss, negated
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - b2**t) + eps
        p = p - lr / (1 - b1**t) * m / denom
    return p, m, v, vmax


CASES = [
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.9)}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}),  # L2
    ("Adam", {"lr": 0.05, "betas": (0.7, 0.85), "eps": 1e-6, "maximize": True}),
    ("Adam", {"lr": 0.03, "betas": (0.8, 0.9), "weight_decay": 0.2, "maximize": True}),
    ("AdamW", {"lr": 0.05, "betas": (0.8, 0.9)}),  # its default weight decay, 1e-2 (decoupled)
    ("AdamW", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.3}),
    ("AdamW", {"lr": 0.03, "betas": (0.8, 0.9), "weight_decay": 0.3, "maximize": True}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def _ref_for(name: str, kwargs: dict, **extra) -> tuple:
    kw = dict(kwargs)
    if name == "AdamW":
        kw.setdefault("weight_decay", 1e-2)
    return _ref(decoupled=name == "AdamW", **kw, **extra)


def _state(opt: optim.Optimizer, p: gk.Tensor, key: str) -> np.ndarray:
    return opt.state[p][key].numpy()


# ------------------------------------------------------------------ the formula
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_amsgrad_matches_the_formula(device, name, kwargs):
    p_ref, m_ref, v_ref, vmax_ref = _ref_for(name, kwargs)
    plain, *_ = _ref_for(name, kwargs, amsgrad=False)
    assert np.abs(p_ref - plain).max() > 1e-3  # the maximum mattered in this case
    assert (vmax_ref > v_ref).any()
    p, opt = _run(name, device, amsgrad=True, **kwargs)
    tol = {"rtol": 1e-12, "atol": 1e-13}
    np.testing.assert_allclose(p.numpy(), p_ref, **tol)
    np.testing.assert_allclose(_state(opt, p, "exp_avg"), m_ref, **tol)
    np.testing.assert_allclose(_state(opt, p, "exp_avg_sq"), v_ref, **tol)
    np.testing.assert_allclose(_state(opt, p, "max_exp_avg_sq"), vmax_ref, **tol)
    assert opt.state[p]["max_exp_avg_sq"].device == p.device and opt.state[p]["step"] == STEPS
    assert opt.param_groups[0]["amsgrad"] is True
    # float32: the same to float32 rounding
    p32, opt32 = _run(name, device, dtype="float32", amsgrad=True, **kwargs)
    assert opt32.state[p32]["max_exp_avg_sq"].dtype == np.float32
    np.testing.assert_allclose(p32.numpy(), p_ref, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_amsgrad_false_is_plain_adam_with_plain_state(device, name):
    kwargs = {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}
    p, opt = _run(name, device, amsgrad=False, **kwargs)
    q, default = _run(name, device, **kwargs)
    np.testing.assert_array_equal(p.numpy(), q.numpy())
    np.testing.assert_allclose(p.numpy(), _ref_for(name, kwargs, amsgrad=False)[0], rtol=1e-12, atol=1e-13)
    for o, t in ((opt, p), (default, q)):
        assert sorted(o.state[t]) == ["exp_avg", "exp_avg_sq", "step"]  # as PyTorch: no maximum without amsgrad
        assert o.param_groups[0]["amsgrad"] is False


def test_amsgrad_is_a_group_setting(device):
    p = gk.tensor(P0.copy(), device=device, requires_grad=True)
    q = gk.tensor(P0.copy(), device=device, requires_grad=True)
    kw = {"lr": 0.05, "betas": (0.8, 0.9)}
    opt = optim.Adam([{"params": [p]}, {"params": [q], "amsgrad": True}], **kw)
    assert [g["amsgrad"] for g in opt.param_groups] == [False, True]
    for _ in range(STEPS):
        opt.zero_grad()
        (_loss(p) + _loss(q)).backward()
        opt.step()
    np.testing.assert_allclose(p.numpy(), _ref(amsgrad=False, **kw)[0], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(q.numpy(), _ref(**kw)[0], rtol=1e-12, atol=1e-13)
    assert "max_exp_avg_sq" not in opt.state[p] and "max_exp_avg_sq" in opt.state[q]


# ------------------------------------------------------------------ PyTorch
TORCH_CASES = CASES + [
    ("Adam", {}),
    ("AdamW", {}),
    ("Adam", {"lr": 0.05, "capturable": True}),
    ("AdamW", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.3, "capturable": True}),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "kwargs"), TORCH_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_CASES)])
def test_amsgrad_matches_pytorch(name, kwargs, dtype):
    torch = pytest.importorskip("torch")
    torch_kw = {k: v for k, v in kwargs.items() if k != "capturable"}  # PyTorch's capturable needs a GPU
    tp = torch.nn.Parameter(torch.tensor(P0.astype(dtype)))
    topt = getattr(torch.optim, name)([tp], amsgrad=True, **torch_kw)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    ta, tb = torch.tensor((sign * A).astype(dtype)), torch.tensor((sign * B).astype(dtype))
    for _ in range(STEPS):
        topt.zero_grad()
        (ta * tp * tp * 0.5 + tb * tp).sum().backward()
        topt.step()
    p, opt = _run(name, "cpu", dtype=dtype, amsgrad=True, **kwargs)
    tol = {"rtol": 1e-12, "atol": 1e-13} if dtype == "float64" else {"rtol": 2e-6, "atol": 2e-7}
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **tol)
    tstate = topt.state[tp]
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):  # the same state, under PyTorch's names
        np.testing.assert_allclose(_state(opt, p, key), tstate[key].numpy(), **tol)
    assert sorted(opt.state[p]) == sorted(tstate)
    assert opt.param_groups[0]["amsgrad"] is topt.param_groups[0]["amsgrad"] is True


# ------------------------------------------------------------------ capturable
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_capturable_amsgrad_gives_the_same_parameters(device, name, kwargs):
    """The step count on the device (capturable=True): the same arithmetic, with the maximum."""
    exact = device == "cpu" and np.lib.NumpyVersion(np.__version__) >= "2.0.0"  # NumPy 1.x: a power may differ
    for dtype, rtol in (("float64", 1e-14), ("float32", 1e-6)):  # by an ulp
        plain, _ = _run(name, device, dtype=dtype, amsgrad=True, **kwargs)
        cap, opt = _run(name, device, dtype=dtype, amsgrad=True, capturable=True, **kwargs)
        count = opt.state[cap]["step"]
        assert isinstance(count, gk.Tensor) and count.device == cap.device and count.item() == STEPS
        if exact:
            np.testing.assert_array_equal(cap.numpy(), plain.numpy())
        else:
            np.testing.assert_allclose(cap.numpy(), plain.numpy(), rtol=rtol, atol=0)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_capturable_amsgrad_runs_inside_a_capture(device, name):
    """While a step is captured (gk.cuda.is_capturing()), capturable AMSGrad reads nothing on the host, and
    its state is updated in place (a replay sees it)."""
    w = gk.nn.Parameter(gk.tensor(P0.copy(), device=device))
    opt = getattr(optim, name)([w], lr=0.05, betas=(0.8, 0.9), amsgrad=True, capturable=True)
    _step(opt, w)  # the warm-up: state made outside the capture
    state = dict(opt.state[w])
    with C._Routing(w._backend, _FakeGemm(), None):  # host data cannot become device data in here
        for _ in range(3):
            opt.step()  # the warm-up's gradient, again
    assert all(opt.state[w][k] is v for k, v in state.items())  # the same tensors, changed in place
    assert opt.state[w]["step"].item() == 4
    assert (opt.state[w]["max_exp_avg_sq"].numpy() >= opt.state[w]["exp_avg_sq"].numpy()).all()
    plain = getattr(optim, name)([w], lr=0.05, amsgrad=True)
    with C._Routing(w._backend, _FakeGemm(), None), pytest.raises(gk.cuda.CaptureError, match="step count"):
        plain.step()


class _FakeGemm:
    def matmul(self, a, b):
        return None


@pytest.mark.cuda
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_capturable_amsgrad_replays_match_eager_steps_on_the_gpu(name):
    """A real CUDA graph: nn.Sequential, cross_entropy and AMSGrad in one graph, against eager steps."""
    from gradkit import nn

    def make():
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)).to("cuda")
        return model, getattr(optim, name)(model.parameters(), lr=0.01, betas=(0.8, 0.9), amsgrad=True, capturable=True)

    (m1, o1), (m2, o2) = replays_match_eager_steps(make, 6)
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_allclose(
            o1.state[p]["max_exp_avg_sq"].numpy(), o2.state[q]["max_exp_avg_sq"].numpy(), rtol=1e-4, atol=1e-9
        )
        assert o1.state[p]["step"].item() == 8


# ------------------------------------------------------------------ state dicts
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("capturable", [False, True])
def test_state_dict_round_trip_continues_identically(device, name, capturable):
    kw = {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1, "amsgrad": True, "capturable": capturable}
    p, opt = _run(name, device, steps=8, **kw)
    sd = opt.state_dict()
    assert sd["param_groups"][0]["amsgrad"] is True
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]  # PyTorch's keys
    q = gk.tensor(p.numpy(), device=device, requires_grad=True)
    fresh = getattr(optim, name)([q], lr=0.5)  # plain: the saved group's amsgrad wins, as PyTorch
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["amsgrad"] is True
    vmax = fresh.state[q]["max_exp_avg_sq"]
    assert vmax.data is not opt.state[p]["max_exp_avg_sq"].data and vmax.device == q.device
    for _ in range(STEPS - 8):
        _step(opt, p)
        _step(fresh, q)
    np.testing.assert_array_equal(p.numpy(), q.numpy())
    np.testing.assert_array_equal(_state(fresh, q, "max_exp_avg_sq"), _state(opt, p, "max_exp_avg_sq"))
    expected = _ref_for(name, {k: v for k, v in kw.items() if k not in ("amsgrad", "capturable")})[0]
    np.testing.assert_allclose(q.numpy(), expected, rtol=1e-12, atol=1e-13)


def test_state_dict_crosses_devices_and_dtypes(device):
    p, opt = _run("Adam", "cpu", steps=5, lr=0.05, betas=(0.8, 0.9), amsgrad=True)
    q = gk.tensor(p.numpy().astype(np.float32), device=device, requires_grad=True)
    other = optim.Adam([q], amsgrad=True)
    other.load_state_dict(opt.state_dict())
    vmax = other.state[q]["max_exp_avg_sq"]
    assert vmax.device == q.device and vmax.dtype == np.float32
    np.testing.assert_allclose(vmax.numpy(), _state(opt, p, "max_exp_avg_sq"), rtol=1e-6)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_an_old_state_dict_without_amsgrad_loads(device, name):
    """A state dict saved before the option existed has no group key "amsgrad" (and no maximum): it loads,
    the optimiser keeps its own flag, and an AMSGrad optimiser starts the maximum at its next step."""
    kw = {"lr": 0.05, "betas": (0.8, 0.9)}
    p, opt = _run(name, device, steps=5, **kw)
    sd = opt.state_dict()
    del sd["param_groups"][0]["amsgrad"]
    for amsgrad in (False, True):
        q = gk.tensor(p.numpy(), device=device, requires_grad=True)
        loader = getattr(optim, name)([q], amsgrad=amsgrad, **kw)
        loader.load_state_dict(sd)
        assert loader.param_groups[0]["amsgrad"] is amsgrad and "max_exp_avg_sq" not in loader.state[q]
        _step(loader, q)
        if amsgrad:  # from zeros: the maximum is this step's exp_avg_sq, so the step is plain Adam's
            np.testing.assert_array_equal(_state(loader, q, "max_exp_avg_sq"), _state(loader, q, "exp_avg_sq"))
        else:
            assert "max_exp_avg_sq" not in loader.state[q]
        twin = gk.tensor(p.numpy(), device=device, requires_grad=True)
        plain = getattr(optim, name)([twin], **kw)
        plain.load_state_dict(sd)
        _step(plain, twin)
        if device == "cuda":  # the AMSGrad kernel is compiled apart: CUDA may contract its multiply-adds otherwise
            np.testing.assert_allclose(q.numpy(), twin.numpy(), rtol=4 * np.finfo(q.numpy().dtype).eps, atol=0)
        else:
            np.testing.assert_array_equal(q.numpy(), twin.numpy())


def test_turning_amsgrad_on_later_starts_the_maximum(device):
    p, opt = _run("Adam", device, steps=3, lr=0.05, betas=(0.8, 0.9))
    opt.param_groups[0]["amsgrad"] = True
    _step(opt, p)
    v = _state(opt, p, "exp_avg_sq")
    np.testing.assert_array_equal(_state(opt, p, "max_exp_avg_sq"), v)
    _step(opt, p)
    assert (_state(opt, p, "max_exp_avg_sq") >= _state(opt, p, "exp_avg_sq")).all()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (None, "'max_exp_avg_sq' of parameter 0 is a NoneType, expected a tensor"),
        (0.5, "'max_exp_avg_sq' of parameter 0 is a float, expected a tensor"),
        (np.zeros(3), "shape"),
        (np.zeros((2, 3), dtype=np.int64), "dtype"),
        ([1.0] * 6, "expected a tensor"),
    ],
)
def test_a_malformed_maximum_is_refused_at_load_and_changes_nothing(value, match):
    p, opt = _run("Adam", "cpu", steps=2, amsgrad=True)
    sd = opt.state_dict()
    before = repr(sd)
    sd = opt.state_dict()
    sd["state"][0]["max_exp_avg_sq"] = value
    with pytest.raises(gk.InvalidArgumentError, match=match):
        opt.load_state_dict(sd)
    assert repr(opt.state_dict()) == before
    _step(opt, p)  # still usable


# ------------------------------------------------------------------ arguments
def test_amsgrad_is_keyword_only_and_capturable_keeps_its_position():
    p = gk.ones(2, requires_grad=True)
    for cls in (optim.Adam, optim.AdamW):
        opt = cls([p], 1e-3, (0.9, 0.999), 1e-8, 0, True)  # the sixth positional argument is capturable
        assert opt.param_groups[0]["capturable"] is True and opt.param_groups[0]["amsgrad"] is False
        with pytest.raises(TypeError):
            cls([p], 1e-3, (0.9, 0.999), 1e-8, 0, False, True)
    assert optim.AdamW([p], amsgrad=True).param_groups[0]["weight_decay"] == 1e-2


def test_amsgrad_accepts_what_a_flag_accepts():
    for value in (1, 0, np.bool_(True), np.array(True), gk.tensor(True)):
        opt = optim.Adam([gk.ones(2, requires_grad=True)], amsgrad=value)
        assert opt.param_groups[0]["amsgrad"] is bool(value)


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_amsgrad_must_be_a_flag(cls):
    name = cls.__name__
    with pytest.raises(gk.ArgumentTypeError, match=f"^{name}: amsgrad must be True or False, got str 'yes'"):
        cls([gk.ones(2, requires_grad=True)], amsgrad="yes")
    with pytest.raises(gk.ArgumentTypeError, match=f"^{name}: amsgrad must be True or False, got int 2"):
        cls([{"params": [gk.ones(2, requires_grad=True)], "amsgrad": 2}])
    with pytest.raises(gk.ArgumentTypeError, match=f"^{name}: amsgrad must be True or False, got NoneType"):
        cls([gk.ones(2, requires_grad=True)], amsgrad=None)
    p = gk.ones(2, requires_grad=True)
    opt = cls([p], lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["amsgrad"] = np.ones(2)
    with pytest.raises(gk.ArgumentTypeError, match=f"^{name}: amsgrad must be True or False, got ndarray"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["amsgrad"] is False
    p.grad = gk.ones(2)
    opt.param_groups[0]["amsgrad"] = "on"  # edited into a bad value: the step says so and changes nothing
    with pytest.raises(gk.ArgumentTypeError, match=f"^{name}.step: amsgrad must be True or False, got str 'on'"):
        opt.step()
    assert opt.state == {}
    np.testing.assert_array_equal(p.numpy(), [1.0, 1.0])


# ------------------------------------------------------------------ the kernel
@pytest.mark.parametrize("device_step", [False, True], ids=["int-step", "device-step"])
@pytest.mark.parametrize("use_scratch", [False, True])
@pytest.mark.parametrize(
    "weight_decay,decoupled,maximize", [(0.0, False, False), (0.1, False, True), (0.1, True, False), (0.2, True, True)]
)
def test_adam_kernel_with_max_exp_avg_sq_matches_the_formula(
    device, weight_decay, decoupled, maximize, device_step, use_scratch
):
    backend = gk.tensor(0.0, device=device).backend
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) * s for s in (2.0, 1.0, 0.3, 0.1, 0.05)]  # shrinking: v falls
    p = backend.asarray(p0.copy())
    m, v, vmax = p * 0, p * 0, p * 0
    xp = reference.get_array_module(p)
    lr, b1, b2, eps = 0.01, 0.8, 0.7, 1e-6
    rp, rm, rv, rvmax = p0.copy(), 0.0, 0.0, 0.0
    for t, gh in enumerate(grads, start=1):
        step = xp.asarray(float(t)) if device_step else t
        g = backend.asarray(gh)
        kernels.adam_update(p, g, m, v, lr, b1, b2, eps, weight_decay, step, decoupled,
                            p * 0 + 7 if use_scratch else None, maximize, vmax)  # fmt: skip
        np.testing.assert_array_equal(backend.to_numpy(g), gh)  # read only
        gh = -gh if maximize else gh
        if decoupled:
            rp = rp * (1 - lr * weight_decay)
        else:
            gh = gh + weight_decay * rp
        rm = b1 * rm + (1 - b1) * gh
        rv = b2 * rv + (1 - b2) * gh * gh
        rvmax = np.maximum(rvmax, rv)
        rp = rp - lr / (1 - b1**t) * rm / (np.sqrt(rvmax) / np.sqrt(1 - b2**t) + eps)
        for got, want in ((p, rp), (m, rm), (v, rv), (vmax, rvmax)):
            np.testing.assert_allclose(backend.to_numpy(got), want, rtol=1e-12, atol=1e-14)
    assert (backend.to_numpy(vmax) > backend.to_numpy(v)).any()


def test_adam_kernel_maximum_propagates_nan(device):
    backend = gk.tensor(0.0, device=device).backend
    p, g = backend.asarray(np.ones(3)), backend.asarray(np.array([1.0, np.nan, 1.0]))
    m, v, vmax = p * 0, p * 0, p * 0 + 5
    kernels.adam_update(p, g, m, v, 0.1, 0.9, 0.999, 1e-8, 0.0, 1, False, None, False, vmax)
    assert np.isnan(backend.to_numpy(vmax)).tolist() == [False, True, False]  # as torch.maximum


def test_blockwise_amsgrad_updates_are_bit_identical(monkeypatch):
    def run(block, maximize):
        monkeypatch.setattr(reference, "BLOCK", block)
        rng = np.random.default_rng(0)
        p, g, m, t = (rng.standard_normal((300, 1000), dtype=np.float32) for _ in range(4))
        v, vmax = (np.abs(rng.standard_normal((300, 1000), dtype=np.float32)) for _ in range(2))
        reference.adam_update(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, 3, True, t, maximize, vmax)
        return p, m, v, vmax

    for maximize in (False, True):
        for x, y in zip(run(1 << 12, maximize), run(1 << 40, maximize), strict=True):
            np.testing.assert_array_equal(x, y)


def test_cupy_adam_update_runs_the_reference_for_amsgrad_only(monkeypatch):
    """cupy_kernels.adam_update (importable without CuPy): with max_exp_avg_sq it hands every argument to
    the reference; without it the existing call is unchanged (here float16, which the fused kernels leave to the
    reference too)."""
    from gradkit.kernels import cupy_kernels

    calls = []
    monkeypatch.setattr(reference, "adam_update", lambda *args: calls.append(args))
    arrays = [np.ones(3, dtype=np.float16) for _ in range(5)]
    p, g, m, v, vmax = arrays
    cupy_kernels.adam_update(p, g, m, v, 0.1, 0.9, 0.99, 1e-8, 0.0, 4, True, None, True, vmax)
    cupy_kernels.adam_update(p, g, m, v, 0.1, 0.9, 0.99, 1e-8, 0.0, 4, True, None, True)
    assert [len(c) for c in calls] == [14, 13]
    assert calls[0][-1] is vmax and calls[0][:13] == calls[1]


def test_the_dispatch_passes_the_maximum_only_with_amsgrad(monkeypatch):
    """gradkit.kernels.adam_update calls a CuPy implementation with the old arguments unless amsgrad is on."""
    calls = []

    class FakeModule:
        @staticmethod
        def adam_update(*args):
            calls.append(args)

    monkeypatch.setattr(kernels, "_gpu_module", FakeModule)
    monkeypatch.setattr(kernels, "_gpu_cache", {})
    monkeypatch.setattr(kernels, "_ndarray", type(None))  # take the NumPy arrays for device arrays
    p = np.ones(2)
    kernels.adam_update(p, p, p, p, 0.1, 0.9, 0.99, 1e-8, 0.0, 1, False)
    kernels.adam_update(p, p, p, p, 0.1, 0.9, 0.99, 1e-8, 0.0, 1, False, None, False, p)
    assert [len(c) for c in calls] == [13, 14]

"""``gk.autocast``: the matmul family in float16 inside, gradients in the parameters' dtype, nesting, threads,
the decorator, enabled=False and the bfloat16 refusal (closed forms; no PyTorch needed).

On NumPy the tests use ``autocast("cpu", dtype=gk.float16)``; with the emulated CuPy, ``autocast("cuda")``.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from _amp_helpers import autocast_on, kind

import gradkit as gk
from gradkit import amp
from gradkit.amp import autocast_mode
from gradkit.nn import functional as F

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


_kind, _ac = kind, autocast_on


def _rand(device: str, *shape: int, seed: int = 0, requires_grad: bool = False, dtype: str = "float32") -> gk.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return gk.tensor(data, device=device, requires_grad=requires_grad)


def test_matmul_family_returns_float16(device: str) -> None:
    x, w, b = _rand(device, 2, 3), _rand(device, 4, 3, seed=1), _rand(device, 4, seed=2)
    xb, wb = _rand(device, 2, 2, 3, seed=3), _rand(device, 2, 3, 4, seed=4)
    with _ac(device):
        results = {
            "@": x @ w.T, "matmul": gk.matmul(x, w.T), "mm": gk.mm(x, w.T), "Tensor.mm": x.mm(w.T),
            "bmm": gk.bmm(xb, wb), "linear": F.linear(x, w, b), "linear no bias": F.linear(x, w),
            "addmm": gk.addmm(b, x, w.T), "baddbmm": gk.baddbmm(gk.zeros(2, 2, 4, device=device), xb, wb),
            "einsum": gk.einsum("ij,kj->ik", x, w),
            "conv1d": F.conv1d(_rand(device, 1, 3, 6), _rand(device, 2, 3, 3)),
            "conv2d": F.conv2d(_rand(device, 1, 3, 5, 5), _rand(device, 2, 3, 3, 3), _rand(device, 2)),
            "conv3d": F.conv3d(_rand(device, 1, 2, 4, 4, 4), _rand(device, 2, 2, 3, 3, 3)),
            "conv_transpose2d": F.conv_transpose2d(_rand(device, 1, 2, 4, 4), _rand(device, 2, 3, 3, 3)),
            "nn.Linear": gk.nn.Linear(3, 4).to(device)(x),
            "Sequential(Linear, ReLU)": gk.nn.Sequential(gk.nn.Linear(3, 4), gk.nn.ReLU()).to(device)(x),
            "nn.Conv2d": gk.nn.Conv2d(3, 2, 3).to(device)(_rand(device, 1, 3, 5, 5)),
        }
    for name, y in results.items():
        assert y.dtype == F16, name
        assert y.device == x.device, name
    np.testing.assert_allclose(results["linear"].numpy(), x.numpy() @ w.numpy().T + b.numpy(), rtol=2e-2, atol=2e-2)


def test_values_are_the_float16_products(device: str) -> None:
    x, w = _rand(device, 3, 5), _rand(device, 5, 2, seed=1)
    with _ac(device):
        y = x @ w
    expected = x.numpy().astype(np.float16) @ w.numpy().astype(np.float16)
    np.testing.assert_array_equal(y.numpy(), expected)


def test_left_alone_float64_integers_and_dot(device: str) -> None:
    a64, i = _rand(device, 2, 2, dtype="float64"), gk.tensor(np.ones((2, 2), np.int64), device=device)
    v = _rand(device, 3)
    with _ac(device):
        assert (a64 @ a64).dtype == F64  # PyTorch's rule: float64 is not cast
        assert (i @ i).dtype == np.dtype(np.int64)
        assert gk.dot(v, v).dtype == F32  # torch.dot is not on autocast's list
        assert (v + v).dtype == F32 and gk.exp(v).dtype == F32  # elementwise ops untouched


def test_gradients_flow_back_in_the_parameters_dtype(device: str) -> None:
    x = _rand(device, 4, 3)
    w = _rand(device, 2, 3, seed=1, requires_grad=True)
    b = _rand(device, 2, seed=2, requires_grad=True)
    with _ac(device):
        y = F.linear(x, w, b)
        assert y.dtype == F16 and y.requires_grad
    loss = y.astype(gk.float32).sum()
    loss.backward()
    assert w.grad.dtype == F32 and b.grad.dtype == F32
    # d(sum(x W^T + b))/dW = column sums of x (computed in float16, returned as float32), db = rows
    np.testing.assert_allclose(w.grad.numpy(), np.tile(x.numpy().astype(np.float16).sum(0), (2, 1)), rtol=1e-2)
    np.testing.assert_array_equal(b.grad.numpy(), np.full(2, 4.0, np.float32))
    node = y.grad_fn
    assert any(n is not None and "astype" in n.name for n in node.next), "the cast is a recorded node"


def test_gradient_of_an_input_in_float32(device: str) -> None:
    x = _rand(device, 2, 3, requires_grad=True)
    w = _rand(device, 3, 3, seed=1, requires_grad=True)
    with _ac(device):
        y = x @ w
    g, = gk.autograd.grad(y.sum(), [x])
    assert g.dtype == F32
    np.testing.assert_allclose(g.numpy(), np.tile(w.numpy().astype(np.float16).sum(1), (2, 1)), rtol=1e-2)


def test_enabled_false_is_the_identity(device: str) -> None:
    x, w = _rand(device, 2, 3), _rand(device, 3, 3, seed=1)
    plain = (x @ w).numpy()
    with _ac(device, enabled=False) as ctx:
        assert isinstance(ctx, amp.autocast)
        assert not amp.is_autocast_enabled(_kind(device))
        y = x @ w
    assert y.dtype == F32
    np.testing.assert_array_equal(y.numpy(), plain)
    assert autocast_mode.active == 0
    with amp.autocast("cpu", enabled=False):  # PyTorch's CPU default (bfloat16), off: no error
        assert (x @ w).dtype == F32


def test_nesting_restores_the_previous_state(device: str) -> None:
    kind = _kind(device)
    x, w = _rand(device, 2, 3), _rand(device, 3, 3, seed=1)
    before = (amp.is_autocast_enabled(kind), amp.get_autocast_dtype(kind))
    with _ac(device):
        assert amp.is_autocast_enabled(kind) and amp.get_autocast_dtype(kind) == F16
        with _ac(device, enabled=False):
            assert not amp.is_autocast_enabled(kind)
            assert (x @ w).dtype == F32
            with _ac(device):
                assert (x @ w).dtype == F16
            assert (x @ w).dtype == F32
        assert amp.is_autocast_enabled(kind)
        assert (x @ w).dtype == F16
        with pytest.raises(RuntimeError, match="inside"):
            with _ac(device):
                raise RuntimeError("inside")
        assert amp.is_autocast_enabled(kind)  # an exception leaves the state as it was too
    assert (amp.is_autocast_enabled(kind), amp.get_autocast_dtype(kind)) == before
    assert autocast_mode.active == 0
    other = "cuda" if kind == "cpu" else "cpu"
    with _ac(device):
        assert not amp.is_autocast_enabled(other)  # per device type


def test_other_device_types_tensors_are_not_cast() -> None:
    x = _rand("cpu", 2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "cuda" without a GPU disables itself with a warning
        with amp.autocast("cuda"):
            assert (x @ x).dtype == F32  # a CPU tensor under autocast("cuda"), as PyTorch's


def test_decorator_and_reentry(device: str) -> None:
    x, w = _rand(device, 2, 3), _rand(device, 3, 3, seed=1)
    ac = _ac(device)

    @ac
    def f(depth: int) -> list:
        inner = f(depth - 1) if depth else []
        return [(x @ w).dtype, *inner]

    assert f(2) == [F16] * 3  # the same instance entered three times at once
    assert f.__name__ == "f"
    assert (x @ w).dtype == F32 and autocast_mode.active == 0
    with pytest.raises(TypeError, match="requires a callable"):
        ac(3)


def test_state_is_per_thread(device: str) -> None:
    x, w = _rand(device, 2, 3), _rand(device, 3, 3, seed=1)
    seen = {}
    inside, done = threading.Event(), threading.Event()

    def other() -> None:
        inside.wait()
        seen["dtype"] = (x @ w).dtype
        seen["enabled"] = amp.is_autocast_enabled(_kind(device))
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with _ac(device):
        inside.set()
        done.wait(10)
        assert (x @ w).dtype == F16
    t.join()
    assert seen == {"dtype": F32, "enabled": False}


def test_weight_casts_are_cached_per_region(device: str) -> None:
    w = _rand(device, 3, 3, seed=1, requires_grad=True)
    x = _rand(device, 2, 3)
    with _ac(device):
        a, b = x @ w, x @ w
        assert a.grad_fn.next[1] is b.grad_fn.next[1]  # one cast node for the weight
        with gk.no_grad():
            c = x @ w
        assert not c.requires_grad  # a cast made without grad is not reused with grad, nor the reverse
        d = x @ w
        assert d.grad_fn.next[1] is a.grad_fn.next[1]
        with gk.no_grad():
            w.mul_(2.0)  # an in-place update: a fresh cast
        e = x @ w
        assert e.grad_fn.next[1] is not a.grad_fn.next[1]
        np.testing.assert_allclose(e.numpy(), 2 * a.numpy(), rtol=1e-3)
    (a.sum() + e.sum()).astype(gk.float32).backward()
    assert w.grad.dtype == F32
    with _ac(device, cache_enabled=False):
        f, g = x @ w, x @ w
        assert f.grad_fn.next[1] is not g.grad_fn.next[1]
    assert not autocast_mode._state.cache


def test_training_step_with_autocast_and_scaler(device: str) -> None:
    """PyTorch's recipe: forward under autocast, backward and step outside; the loss is computed in float32. The
    losses follow a float32 run of the same model to float16's precision, and fall."""
    runs = []
    for use_autocast in (True, False):
        gk.manual_seed(1)  # the same initial weights in both runs, whatever ran before
        model = gk.nn.Sequential(gk.nn.Linear(4, 8), gk.nn.ReLU(), gk.nn.Linear(8, 3)).to(device)
        opt = gk.optim.SGD(model.parameters(), lr=0.5)
        scaler = amp.GradScaler(_kind(device), init_scale=1024.0)
        x = _rand(device, 16, 4)
        y = gk.tensor(np.random.default_rng(5).integers(0, 3, 16), device=device)
        losses = []
        for _ in range(30):
            opt.zero_grad()
            with _ac(device, enabled=use_autocast):
                logits = model(x)
                assert logits.dtype == (F16 if use_autocast else F32)
            loss = F.cross_entropy(logits.astype(gk.float32), y)
            scaler.scale(loss).backward()
            assert all(p.grad.dtype == F32 for p in model.parameters())
            scaler.step(opt)
            scaler.update()
            losses.append(loss.item())
        runs.append(losses)
    np.testing.assert_allclose(runs[0], runs[1], rtol=2e-2)
    assert runs[0][-1] < 0.7 * runs[0][0]
    assert scaler.get_scale() == 1024.0


def test_device_type_and_dtype_arguments() -> None:
    with pytest.raises(amp.AutocastDtypeError, match="bfloat16 .*PyTorch's default.*dtype=gk.float16"):
        amp.autocast("cpu")
    with pytest.raises(gk.DTypeError, match="no bfloat16"):
        amp.autocast("cpu", dtype="bfloat16")
    assert issubclass(amp.AutocastDtypeError, gk.GradkitError)
    assert amp.get_autocast_dtype("cpu") == "bfloat16" and amp.get_autocast_dtype("cuda") == F16
    with pytest.warns(UserWarning, match="target dtype is not supported. Disabling autocast"):
        ac = amp.autocast("cpu", dtype=gk.float32)
    with ac:
        assert not amp.is_autocast_enabled("cpu")
    with pytest.raises(gk.InvalidArgumentError, match="unsupported device_type 'mps'"):
        amp.autocast("mps")
    with pytest.raises(ValueError, match="device_type to be a str"):
        amp.autocast(None)
    assert amp.is_autocast_available("cuda") and amp.is_autocast_available("cpu")
    assert not amp.is_autocast_available("mps")
    assert amp.autocast("cuda:0", enabled=False).device == "cuda"
    assert not amp.is_autocast_enabled()  # "cuda" by default, as PyTorch's


def test_cuda_autocast_without_a_gpu_warns_and_disables() -> None:
    if gk.cuda_available():
        pytest.skip("a GPU (or the emulated CuPy) is present")
    with pytest.warns(UserWarning, match="CUDA is not available. Disabling autocast"):
        ac = amp.autocast("cuda")
    with ac:
        assert not amp.is_autocast_enabled("cuda")
    assert autocast_mode.active == 0


def test_cuda_amp_autocast_alias(device: str) -> None:
    if device != "cuda":
        pytest.skip("gk.cuda.amp.autocast is autocast('cuda')")
    from gradkit.cuda import amp as cuda_amp

    x = _rand(device, 2, 2)
    with cuda_amp.autocast():
        assert (x @ x).dtype == F16

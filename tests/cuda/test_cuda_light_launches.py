"""The light launches of the GPU hot path: raw elementwise kernels, the cross-entropy whose kernel checks
its targets (no host synchronisation), the small-batch column sum and the gradient scaling.

The dispatch (raw kernel or CuPy's ElementwiseKernel, the arguments each gets) is tested on the CPU
with stand-in arrays; the kernels themselves need a GPU (``cuda`` marker).
"""

from __future__ import annotations

import types

import numpy as np
import pytest
from training_steps import cross_entropy_step

import gradkit as gk
from gradkit import kernels
from gradkit.kernels import cupy_kernels as ck
from gradkit.kernels import reference


# ------------------------------------------------------------------ dispatch, on the CPU
class _FakeArray:
    """What ``_launch`` reads of a CuPy array: shape, size, ndim, dtype, contiguity, device."""

    def __init__(self, shape, contiguous=True, dtype=np.float32):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.size, self.ndim = int(np.prod(shape)), len(shape)
        self.flags = types.SimpleNamespace(c_contiguous=contiguous)
        self.device = types.SimpleNamespace(id=0)


@pytest.fixture
def launches(monkeypatch):
    calls = []

    class Module:
        def get_function(self, name):
            return lambda grid, block, args: calls.append(("raw", name, grid, block, args))

    monkeypatch.setattr(ck, "_raw_module", lambda: Module())
    monkeypatch.setattr(ck, "_current_device", lambda: 0)
    monkeypatch.setattr(ck, "_kernel", lambda name: lambda *args: calls.append(("elementwise", name, args)))
    monkeypatch.setattr(ck, "_built", {})
    return calls


def test_contiguous_arrays_of_one_shape_take_the_raw_kernel(launches):
    p, g, b = (_FakeArray((300, 7)) for _ in range(3))
    ck._launch("gk_sgd_momentum", g, 0.1, 0.9, 1.0, 0.0, np.int32(0), np.int32(0), np.int32(1), np.int32(0), p, b)
    (kind, name, grid, block, args), = launches
    assert (kind, name, block) == ("raw", "gk_sgd_momentum_raw<float>", (256,))
    assert grid == ((2100 + 255) // 256,)
    # every scalar converted to its C type: T -> the arrays' dtype, int32 -> int32; then n and cols
    assert [type(a) for a in args[1:9]] == [np.float32] * 4 + [np.int32] * 4
    assert args[-2:] == (np.int64(2100), np.int64(1)) and type(args[-1]) is np.int64


def test_a_strided_array_or_a_shape_mismatch_takes_cupys_elementwise_kernel(launches):
    p, b = _FakeArray((4, 5)), _FakeArray((4, 5))
    ck._launch("gk_sgd_momentum", _FakeArray((4, 5), contiguous=False), 0.1, 0.9, 1.0, 0.0, 0, 0, 1, 0, p, b)
    ck._launch("gk_sgd_momentum", _FakeArray((5, 4)), 0.1, 0.9, 1.0, 0.0, 0, 0, 1, 0, p, b)
    assert [c[0] for c in launches] == ["elementwise", "elementwise"]


def test_the_bias_is_indexed_by_column_and_must_fit(launches):
    y = _FakeArray((8, 6), dtype=np.float64)
    ck._launch("gk_bias_relu", _FakeArray((6,), dtype=np.float64), y)
    ck._launch("gk_bias_relu", _FakeArray((1, 6), dtype=np.float64), y)  # not a row vector: CuPy broadcasts
    raw, elementwise = launches
    assert raw[0] == "raw" and raw[1] == "gk_bias_relu_raw<double>" and raw[4][-2:] == (48, 6)
    assert elementwise[0] == "elementwise"


def test_an_empty_array_launches_nothing(launches):
    y = _FakeArray((0, 6))
    ck._launch("gk_relu", y)
    assert launches == []


def test_capturable_adams_step_is_a_device_scalar(launches):
    arrays = [_FakeArray((3, 3)) for _ in range(4)]
    step = _FakeArray((), dtype=np.float64)
    ck._launch("gk_adam_device_step", arrays[0], step, 0.1, 0.9, 0.999, 1.0, 0.0, 0.1, 0.999, 0.001, 1e-8,
               np.int32(0), np.int32(0), *arrays[1:])  # fmt: skip
    (kind, _, _, _, args), = launches
    assert kind == "raw" and args[1] is step and [type(a) for a in args[2:5]] == [np.float64] * 3


# ------------------------------------------------------------------ on a GPU
def _cp():
    import cupy as cp

    return cp


def _optimiser_cases():
    lr, mom = 0.05, 0.9
    return {
        "sgd": (3, lambda a: kernels.sgd_momentum_update(a[0], a[1], a[2], lr, 0.0, 0.0, 0.01, False, False)),
        "sgd_momentum": (3, lambda a: kernels.sgd_momentum_update(a[0], a[1], a[2], lr, mom, 0.1, 0.01, True, False)),
        "adam": (4, lambda a: kernels.adam_update(a[0], a[1], a[2], a[3].__abs__(), lr, 0.9, 0.999, 1e-8, 0.01, 3,
                                                  True)),  # fmt: skip
        "rmsprop_centered_momentum": (5, lambda a: kernels.rmsprop_update(
            a[0], a[1], a[2].__abs__() + 1, a[3] * 0.1, a[4], lr, 0.99, 1e-8, 0.01, mom, True)),
    }  # fmt: skip


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(_optimiser_cases()))
def test_raw_and_elementwise_launches_compute_the_same(case, dtype, monkeypatch):
    cp = _cp()
    count, call = _optimiser_cases()[case]
    rng = np.random.default_rng(0)
    host = [rng.standard_normal((64, 33)).astype(dtype) for _ in range(count)]
    dense = [cp.asarray(h) for h in host]
    strided = []
    for h in host:  # the same values in a non-contiguous layout: CuPy's ElementwiseKernel runs
        big = cp.zeros((64, 66), dtype=dtype)
        big[:, ::2] = cp.asarray(h)
        strided.append(big[:, ::2])
    kinds = []
    real_kernel = ck._kernel
    monkeypatch.setattr(ck, "_kernel", lambda name: kinds.append(name) or real_kernel(name))
    call(dense)
    assert kinds == []  # the raw kernel ran
    call(strided)
    assert kinds  # the elementwise kernel ran
    tol = {"rtol": 2e-6, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-13, "atol": 1e-15}
    for a, b in zip(dense, strided, strict=True):
        np.testing.assert_allclose(cp.asnumpy(a), cp.asnumpy(b), **tol)


@pytest.mark.cuda
def test_raw_bias_relu_and_relu_backward_match_the_reference():
    cp = _cp()
    rng = np.random.default_rng(1)
    y = rng.standard_normal((50, 17)).astype(np.float32)
    b = rng.standard_normal(17).astype(np.float32)
    out = kernels.bias_relu_forward(cp.asarray(y), cp.asarray(b))
    np.testing.assert_array_equal(cp.asnumpy(out), np.maximum(y + b, 0))
    g = rng.standard_normal((50, 17)).astype(np.float32)
    relu_out = np.maximum(y, 0)  # relu_backward reads relu's output (>= 0, or NaN), not its input
    relu_out[0, :3] = np.nan
    np.testing.assert_array_equal(
        cp.asnumpy(kernels.relu_backward(cp.asarray(g), cp.asarray(relu_out))), g * (relu_out != 0)
    )


@pytest.mark.cuda
@pytest.mark.parametrize("rows", [1, 128, 256, 257, 1000])
def test_column_sum_matches_numpy(rows):
    cp = _cp()
    g = np.random.default_rng(rows).standard_normal((rows, 300)).astype(np.float32)
    np.testing.assert_allclose(cp.asnumpy(kernels.column_sum(cp.asarray(g))), g.sum(axis=0, dtype=np.float64),
                               rtol=1e-5, atol=1e-5)  # fmt: skip


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("index_dtype", ["int64", "int32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_checked_cross_entropy_matches_the_reference(reduction, index_dtype, dtype):
    cp = _cp()
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((37, 11)).astype(dtype) * 3
    targets = rng.integers(0, 11, 37).astype(index_dtype)
    loss, dlogits, scale = kernels.cross_entropy_checked_on_device(cp.asarray(logits), cp.asarray(targets),
                                                                    reduction, -100)  # fmt: skip
    ref_loss, ref_d = reference.cross_entropy_forward_backward(logits, targets, reduction)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-14}
    np.testing.assert_allclose(cp.asnumpy(loss), ref_loss, **tol)
    if reduction == "none":
        assert scale is None
        np.testing.assert_allclose(cp.asnumpy(dlogits), ref_d, **tol)
    else:
        assert loss.shape == () and scale.shape == () and loss.dtype == scale.dtype == np.dtype(dtype)
        np.testing.assert_allclose(cp.asnumpy(dlogits) * float(scale), ref_d, **tol)
        g = cp.asarray(np.array(0.5, dtype=dtype))
        np.testing.assert_allclose(cp.asnumpy(kernels.scale_rows(dlogits, g, scale)), ref_d * 0.5, **tol)


@pytest.mark.cuda
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ignored_targets_on_the_gpu_match_the_cpu(reduction):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((9, 5))
    targets = np.array([0, -100, 4, 2, -100, 1, 3, 3, 0])
    results = {}
    for device in ("cpu", "cuda"):
        x = gk.tensor(logits, device=device, requires_grad=True)
        loss = gk.nn.functional.cross_entropy(x, gk.tensor(targets, device=device), reduction=reduction)
        (loss.sum() if reduction == "none" else loss * 1.5).backward()
        results[device] = (loss.numpy(), x.grad.numpy())
    for a, b in zip(results["cpu"], results["cuda"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.cuda
def test_checked_cross_entropy_backward_twice_and_create_graph():
    rng = np.random.default_rng(4)
    logits, targets = rng.standard_normal((6, 4)), np.array([0, 3, -100, 1, 2, 2])
    grads = {}
    for device in ("cpu", "cuda"):
        x = gk.tensor(logits, device=device, requires_grad=True)
        loss = gk.nn.functional.cross_entropy(x, gk.tensor(targets, device=device))
        loss.backward(create_graph=True)
        g = x.grad
        x.grad = None
        (g * g).sum().backward()
        grads[device] = (g.detach().numpy(), x.grad.numpy())
    for a, b in zip(grads["cpu"], grads["cuda"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.cuda
def test_a_bad_target_is_reported_at_the_next_host_read_once():
    F = gk.nn.functional
    x = gk.tensor(np.zeros((3, 4), np.float32), device="cuda", requires_grad=True)
    loss = F.cross_entropy(x, gk.tensor([0, 7, 1], device="cuda"))  # no synchronisation, no error yet
    with pytest.raises(gk.IndexOutOfRangeError, match=r"cross_entropy: target 7 is out of range: expected 0 <= "
                                                      r"value < 4 \(found on cuda:0"):  # fmt: skip
        loss.item()
    assert np.isnan(loss.item())  # reported once; the loss of that call is NaN
    good = F.cross_entropy(x, gk.tensor([0, 3, 1], device="cuda"))
    assert good.item() == pytest.approx(np.log(4.0), rel=1e-6)
    # not read: the next cross_entropy call raises it, before computing anything
    F.cross_entropy(x, gk.tensor([-2, 0, 1], device="cuda"))
    with pytest.raises(gk.IndexOutOfRangeError, match="target -2"):
        F.cross_entropy(x, gk.tensor([0, 0, 1], device="cuda"))
    assert F.cross_entropy(x, gk.tensor([0, 0, 1], device="cuda")).item() == pytest.approx(np.log(4.0), rel=1e-6)


@pytest.mark.cuda
def test_a_captured_step_checks_its_targets_on_every_replay():
    nn = gk.nn
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)).to("cuda")
    opt = gk.optim.SGD(model.parameters(), lr=0.1)

    rng = np.random.default_rng(5)
    x = gk.tensor(rng.standard_normal((16, 8)).astype(np.float32), device="cuda")
    y = gk.tensor(rng.integers(0, 3, 16), device="cuda")
    captured = gk.cuda.capture(cross_entropy_step(model, opt), x, y, warmup=2)
    assert np.isfinite(captured(x, y).item())
    bad = y.numpy().copy()
    bad[5] = 3
    with pytest.raises(gk.IndexOutOfRangeError, match="target 3"):
        captured(x, gk.tensor(bad, device="cuda")).item()

"""gk.cuda.capture: the plain-execution fallback and every refusal on the CPU; the CUDA graph itself
(replays equal to eager steps, host-sync refusals, fresh random numbers per replay) with a GPU."""

from __future__ import annotations

import numpy as np
import pytest
from training_steps import cross_entropy_step

import gradkit as gk
from gradkit.cuda import graphs as C


def _data(device, n=16, d=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = gk.tensor(rng.standard_normal((n, d)).astype(np.float32), device=device)
    y = gk.tensor(rng.integers(0, classes, n), device=device)
    return x, y


class TinyMLP:
    """Two layers written with gk.matmul (Backend.matmul) and an in-place momentum update."""

    def __init__(self, device, d=8, h=16, classes=3, seed=0):
        rng = np.random.default_rng(seed)
        self.params = [
            gk.tensor((rng.standard_normal((d, h)) * 0.3).astype(np.float32), device=device, requires_grad=True),
            gk.tensor(np.zeros(h, np.float32), device=device, requires_grad=True),
            gk.tensor((rng.standard_normal((h, classes)) * 0.3).astype(np.float32), device=device, requires_grad=True),
        ]
        self.bufs = [gk.zeros(p.shape, device=device) for p in self.params]

    def step(self, x, y, lr=0.1, momentum=0.9):
        for p in self.params:
            p.grad = None
        w1, b1, w2 = self.params
        logits = gk.matmul(gk.relu(gk.matmul(x, w1) + b1), w2)
        logp = gk.log_softmax(logits, axis=1)
        loss = -gk.mean(gk.take(gk.reshape(logp, (-1,)), gk.arange(x.shape[0], device=x.device) * 3 + y))
        loss.backward()
        with gk.no_grad():
            for p, buf in zip(self.params, self.bufs, strict=True):
                buf *= momentum
                buf += p.grad
                p -= buf * lr
        return loss


# ------------------------------------------------------------------ CPU: plain execution
def test_cpu_capture_runs_the_step_as_plain_python():
    x, y = _data("cpu")
    model, ref = TinyMLP("cpu"), TinyMLP("cpu")
    step = gk.cuda.capture(model.step, x, y)
    assert step.graphed is False and step.device == "cpu"
    assert "plain execution" in repr(step)
    # no warm-up on the CPU: parameters untouched until the first call
    np.testing.assert_array_equal(model.params[0].numpy(), ref.params[0].numpy())
    for seed in range(3):
        xb, yb = _data("cpu", seed=seed + 1)
        loss = step(xb, yb)
        loss_ref = ref.step(xb, yb)
        assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-6)
    for p, q in zip(model.params, ref.params, strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, atol=1e-7)


def test_static_inputs_are_copies_and_a_bare_call_uses_them():
    x, y = _data("cpu")
    seen = []
    step = gk.cuda.capture(lambda a, b: seen.append((a.numpy().copy(), b.numpy().copy())), x, y)
    assert step.inputs[0] is not x and step.inputs[0].shape == x.shape
    np.testing.assert_array_equal(step.inputs[0].numpy(), x.numpy())
    step.inputs[0].copy_(gk.ones(x.shape, device="cpu"))
    step()
    np.testing.assert_array_equal(seen[-1][0], np.ones(x.shape, np.float32))
    step.replay()
    assert len(seen) == 2


def test_numpy_arrays_are_accepted_as_inputs():
    x, y = _data("cpu")
    out = gk.cuda.capture(lambda a, b: a.sum() + b.sum(), x, y)(x.numpy(), y.numpy())
    assert out.item() == pytest.approx(float(x.numpy().sum() + y.numpy().sum()), rel=1e-5)


def test_enabled_false_is_plain_execution():
    x, y = _data("cpu")
    step = gk.cuda.capture(lambda a, b: a * 2.0, x, y, enabled=False)
    assert step.graphed is False
    np.testing.assert_allclose(step(x, y).numpy(), x.numpy() * 2)


# ------------------------------------------------------------------ refusals (the same on both devices)
def test_a_batch_of_another_shape_is_refused():
    x, y = _data("cpu")
    step = gk.cuda.capture(lambda a, b: a.sum(), x, y)
    xs, ys = _data("cpu", n=12)
    with pytest.raises(gk.ShapeError, match=r"captured for \(16, 8\).*capture the step again"):
        step(xs, ys)


def test_a_batch_of_another_dtype_is_refused():
    x, y = _data("cpu")
    step = gk.cuda.capture(lambda a, b: a.sum(), x, y)
    with pytest.raises(gk.DTypeError, match="captured for float32"):
        step(x.astype(gk.float64), y)


def test_the_wrong_number_or_kind_of_inputs_is_refused():
    x, y = _data("cpu")
    step = gk.cuda.capture(lambda a, b: a.sum(), x, y)
    with pytest.raises(gk.ArgumentTypeError, match="expected 2 input"):
        step(x)
    with pytest.raises(gk.ArgumentTypeError, match="must be a Tensor or an array"):
        step(x, [1, 2])


@pytest.mark.parametrize("warmup", [0, -1, 1.5, True, "2"])
def test_bad_warmup_is_refused(warmup):
    x, y = _data("cpu")
    with pytest.raises(gk.InvalidArgumentError, match="warmup"):
        gk.cuda.capture(lambda a, b: None, x, y, warmup=warmup)


def test_bad_arguments_to_capture():
    x, y = _data("cpu")
    with pytest.raises(gk.ArgumentTypeError, match="callable"):
        gk.cuda.capture("step", x, y)
    with pytest.raises(gk.ArgumentTypeError, match="enabled"):
        gk.cuda.capture(lambda a: a, x, enabled="yes")
    with pytest.raises(gk.ArgumentTypeError, match="input 1"):
        gk.cuda.capture(lambda a, b: a, x, 3.0)


def test_closed_step_refuses_calls():
    x, y = _data("cpu")
    step = gk.cuda.capture(lambda a, b: a.sum(), x, y)
    step.close()
    with pytest.raises(gk.cuda.CaptureError, match="closed"):
        step(x, y)


def test_capture_error_is_a_gradkit_runtime_error():
    assert issubclass(gk.cuda.CaptureError, gk.GradkitError)
    assert issubclass(gk.cuda.CaptureError, RuntimeError)


# ------------------------------------------------------------------ the capture routing, on a NumPy backend
class _FakeGemm:
    def matmul(self, a, b):
        return None


def test_routing_guards_host_syncs_and_restores_everything():
    """While a step is warmed up or captured, host reads, host-to-device arrays and syncs are refused."""
    from gradkit.backends import NUMPY
    from gradkit.cuda import cublas
    from gradkit.cuda.rng import CounterRNG

    old_rng = NUMPY.rng
    rng = CounterRNG(1)
    assert not gk.cuda.is_capturing()
    with C._Routing(NUMPY, _FakeGemm(), rng):
        assert gk.cuda.is_capturing()
        assert NUMPY.rng.random == rng.random and isinstance(cublas.installed(), _FakeGemm)  # on this thread
        with pytest.raises(gk.cuda.CaptureError, match="reads a device array on the host"):
            gk.ones(3, device="cpu").numpy()
        for host_read in (lambda t: t.item(), float, bool):  # .item() and what uses it, refused the same way
            with pytest.raises(gk.cuda.CaptureError, match="reads a device array on the host"):
                host_read(gk.ones((), device="cpu"))
        with pytest.raises(gk.cuda.CaptureError, match="host data"):
            NUMPY.asarray([1.0, 2.0])  # on CuPy, a NumPy array is host data too
        with pytest.raises(gk.cuda.CaptureError, match="list of length 2"):
            NUMPY.asarray([gk.ones((), device="cpu")._data, 2.0])
        with pytest.raises(gk.cuda.CaptureError, match="synchronises"):
            NUMPY.synchronize()
        assert NUMPY.asarray(2.5).shape == ()  # 0-d values become kernel arguments: allowed
        arr = np.ones(3)
        assert NUMPY.asarray(arr) is arr  # already a device array of this backend
        with pytest.raises(gk.cuda.CaptureError, match="cannot capture another"), C._Routing(NUMPY, None, None):
            pass
    assert not gk.cuda.is_capturing()
    assert NUMPY.rng is old_rng and cublas.installed() is None
    assert "asarray" not in vars(NUMPY) and "to_numpy" not in vars(NUMPY) and "synchronize" not in vars(NUMPY)
    np.testing.assert_array_equal(gk.ones(2, device="cpu").numpy(), [1, 1])


def test_routing_is_undone_after_an_exception():
    from gradkit.backends import NUMPY

    old_rng = NUMPY.rng
    with pytest.raises(ZeroDivisionError), C._Routing(NUMPY, None, None):
        1 / 0  # noqa: B018
    assert not gk.cuda.is_capturing() and NUMPY.rng is old_rng and "to_numpy" not in vars(NUMPY)


def test_capture_failures_are_explained():
    cublas = C.explain_failure(NotImplementedError("calling cuBLAS API during stream capture is currently unsupported"))
    assert isinstance(cublas, gk.cuda.CaptureError)
    assert "called cuBLAS" in str(cublas) and "move them out of the step" in str(cublas)
    curand = C.explain_failure(NotImplementedError("calling cuRAND API during stream capture is currently unsupported"))
    assert "called cuRAND" in str(curand)

    class CUDARuntimeError(RuntimeError):
        pass

    sync = C.explain_failure(
        CUDARuntimeError("cudaErrorStreamCaptureUnsupported: operation not permitted when stream is capturing")
    )
    assert "host synchronisation" in str(sync) and ".item()" in str(sync)
    invalid = C.explain_failure(CUDARuntimeError("cudaErrorStreamCaptureInvalidated: operation failed due to a "
                                                 "previous error during capture"))  # fmt: skip
    assert "host synchronisation" in str(invalid)
    class OutOfMemoryError(MemoryError):  # CuPy's name
        pass

    oom = C.explain_failure(OutOfMemoryError("Out of memory allocating 4,194,304 bytes"))
    assert "ran out of memory" in str(oom) and "empty_cache" in str(oom)
    other = C.explain_failure(KeyError("w"))
    assert "raised KeyError" in str(other)
    same = gk.cuda.CaptureError("x")
    assert C.explain_failure(same) is same


# ------------------------------------------------------------------ on a GPU

@pytest.mark.cuda
def test_replays_match_eager_steps():
    x0, y0 = _data("cuda")
    model, ref = TinyMLP("cuda"), TinyMLP("cuda")
    step = gk.cuda.capture(model.step, x0, y0, warmup=2)
    assert step.graphed is True and "CUDA graph" in repr(step)
    for _ in range(2):  # the warm-up trained `model` twice on (x0, y0): do the same to `ref`
        ref.step(x0, y0)
    for seed in range(5):
        xb, yb = _data("cuda", seed=seed + 1)
        loss = step(xb, yb)
        loss_ref = ref.step(xb, yb)
        assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-4, abs=1e-6)
    for p, q in zip(model.params, ref.params, strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-5)
    assert step(xb, yb) is step.outputs
    stats = gk.cuda.memory_stats("cuda")
    assert stats["graph_pool_bytes"] > 0


OPTIMISERS = {
    "sgd": lambda ps: gk.optim.SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: gk.optim.Adam(ps, lr=0.01, capturable=True),
    "adamw": lambda ps: gk.optim.AdamW(ps, lr=0.01, capturable=True),
    "rmsprop": lambda ps: gk.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
}


@pytest.mark.cuda
@pytest.mark.parametrize("optimiser", sorted(OPTIMISERS))
def test_nn_training_step_replays_match_eager_steps(optimiser):
    """The issue's use: nn.Sequential, F.cross_entropy and an optimiser in one graph (Adam with capturable=True)."""
    from gradkit import nn

    def make():
        gk.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)).to("cuda")
        return model, OPTIMISERS[optimiser](model.parameters())

    (m1, o1), (m2, o2) = make(), make()

    x0, y0 = _data("cuda")
    step = gk.cuda.capture(cross_entropy_step(m1, o1), x0, y0, warmup=2)
    eager = cross_entropy_step(m2, o2)
    eager(x0, y0)
    eager(x0, y0)
    for seed in range(4):
        xb, yb = _data("cuda", seed=seed + 1)
        assert step(xb, yb).item() == pytest.approx(eager(xb, yb).item(), rel=1e-4, abs=1e-6)
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-5)
    if optimiser.startswith("adam"):  # the replays counted their steps on the device
        for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
            assert o1.state[p]["step"].item() == 6 and o2.state[q]["step"].item() == 6


@pytest.mark.cuda
def test_a_host_read_inside_the_step_is_refused():
    x, y = _data("cuda")
    model = TinyMLP("cuda")

    def step(a, b):
        loss = model.step(a, b)
        if loss.item() > 1e9:  # a host read: cannot be part of a graph
            raise AssertionError
        return loss

    with pytest.raises(gk.cuda.CaptureError, match="host synchronisation"):
        gk.cuda.capture(step, x, y)
    assert not gk.cuda.is_capturing()
    model.step(x, y)  # the device and the backend still work


@pytest.mark.cuda
def test_numpy_on_a_tensor_inside_the_step_is_refused_during_warmup():
    x, y = _data("cuda")
    with pytest.raises(gk.cuda.CaptureError, match="reads a device array on the host"):
        gk.cuda.capture(lambda a, b: a.numpy(), x, y)


@pytest.mark.cuda
def test_cupy_matmul_on_raw_arrays_inside_the_step_is_explained():
    x, y = _data("cuda")
    with pytest.raises(gk.cuda.CaptureError, match="cuBLAS"):
        gk.cuda.capture(lambda a, b: gk.tensor(a.data @ a.data.T), x, y)


@pytest.mark.cuda
def test_dropout_draws_new_masks_on_every_replay():
    x = gk.ones((64, 64), device="cuda")

    def step(a):
        return gk.nn.functional.dropout(a, p=0.5, training=True)

    captured = gk.cuda.capture(step, x)
    first = captured(x).numpy().copy()
    second = captured(x).numpy().copy()
    assert not np.array_equal(first, second)
    for out in (first, second):
        kept = (out != 0).mean()
        assert 0.4 < kept < 0.6
        np.testing.assert_allclose(out[out != 0], 2.0)


@pytest.mark.cuda
def test_a_shape_change_is_refused_on_the_gpu():
    x, y = _data("cuda")
    step = gk.cuda.capture(lambda a, b: (a * 2.0).sum(), x, y)
    xs, ys = _data("cuda", n=8)
    with pytest.raises(gk.ShapeError, match="captured for"):
        step(xs, ys)
    with pytest.raises(gk.DeviceError):
        step(*_data("cpu"))


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_refuses_to_be_captured_and_sgd_does_not(name):
    """Adam's bias corrections follow a Python step count that a replay would freeze: refused, as PyTorch does."""
    from gradkit.backends import NUMPY

    w = gk.nn.Parameter(gk.ones(3))
    w.grad = gk.ones(3)
    opt = getattr(gk.optim, name)([w], lr=0.1)
    sgd = gk.optim.SGD([w], lr=0.1, momentum=0.9)
    with C._Routing(NUMPY, _FakeGemm(), None):
        with pytest.raises(gk.cuda.CaptureError, match=f"{name}.step: .*step count"):
            opt.step()
        sgd.step()  # in-place state only: capturable
    np.testing.assert_allclose(w.numpy(), [0.9, 0.9, 0.9])
    assert opt.state == {}  # the refused step changed nothing
    opt.step()  # outside a capture it runs


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_capturable_adam_runs_inside_a_capture_and_counts_on_the_device(name):
    """With capturable=True the step count is a 0-d float64 tensor that the step increments in place."""
    from gradkit.backends import NUMPY

    w = gk.nn.Parameter(gk.ones(3))
    w.grad = gk.ones(3)
    opt = getattr(gk.optim, name)([w], lr=0.1, capturable=True)
    with C._Routing(NUMPY, _FakeGemm(), None):
        opt.step()
        count = opt.state[w]["step"]
        opt.step()
    assert opt.state[w]["step"] is count  # the same array, changed in place: a replay sees the new count
    assert count.dtype == np.float64 and count.shape == () and count.item() == 2


@pytest.mark.cuda
def test_a_step_that_clips_gradients_can_be_captured():
    """clip_grad_norm_ uses no cuBLAS call on the GPU (a capture refuses those), so it can be in the step."""
    model = gk.nn.Sequential(gk.nn.Linear(8, 16), gk.nn.ReLU(), gk.nn.Linear(16, 3)).to("cuda")
    opt = gk.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = _data("cuda")

    def step(a, b):
        opt.zero_grad()
        loss = gk.nn.functional.cross_entropy(model(a), b)
        loss.backward()
        gk.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        return loss

    captured = gk.cuda.capture(step, x, y)
    assert captured.graphed
    losses = [captured(x, y).item() for _ in range(3)]
    assert all(np.isfinite(losses)) and losses[-1] <= losses[0]

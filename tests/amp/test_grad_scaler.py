"""``gk.amp.GradScaler`` against PyTorch's documented semantics, in closed form (no PyTorch needed).

Loss ``sum(p * p)``: the scaled gradient is ``2 * p * scale``, unscaled ``2 * p``; SGD with lr 0.1 maps
``p`` to ``0.8 p`` per step taken. An inf injected into one step's loss must skip exactly that step and
halve the scale; ``growth_interval`` clean steps double it.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
from nn._host_reads import count_host_reads

import gradkit as gk
from gradkit import amp
from gradkit.amp.grad_scaler import GradScalerError

P0 = np.array([1.0, -2.0, 3.0], dtype=np.float32)


def _param(device: str, value: np.ndarray = P0) -> gk.Tensor:
    return gk.tensor(value.copy(), device=device, requires_grad=True)


def _loss(p: gk.Tensor, poison: float | None = None) -> gk.Tensor:
    loss = (p * p).sum()
    return loss * poison if poison is not None else loss


def test_defaults_and_getters(device: str) -> None:
    s = amp.GradScaler(device)
    assert s.is_enabled()
    assert s.get_scale() == 65536.0
    assert (s.get_growth_factor(), s.get_backoff_factor(), s.get_growth_interval()) == (2.0, 0.5, 2000)
    assert s.state_dict() == {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                              "growth_interval": 2000, "_growth_tracker": 0}
    s.set_growth_factor(4.0)
    s.set_backoff_factor(0.25)
    s.set_growth_interval(3)
    assert (s.get_growth_factor(), s.get_backoff_factor(), s.get_growth_interval()) == (4.0, 0.25, 3)


def test_scale_multiplies_tensors_and_nested_sequences(device: str) -> None:
    s = amp.GradScaler(device, init_scale=4.0)
    p = _param(device)
    out = s.scale(p)
    assert out.device == p.device and out.dtype == gk.float32
    np.testing.assert_array_equal(out.numpy(), P0 * 4)
    nested = s.scale([p, (p * 2, [p])])
    assert isinstance(nested, list) and isinstance(nested[1], tuple) and isinstance(nested[1][1], list)
    np.testing.assert_array_equal(nested[1][0].numpy(), P0 * 8)
    np.testing.assert_array_equal(nested[1][1][0].numpy(), P0 * 4)
    assert s.scale(p.astype(gk.float16)).dtype == gk.float16  # a 0-d scale keeps the outputs' dtype
    assert s.scale(p.astype(gk.float64)).dtype == gk.float64
    with pytest.raises(gk.InvalidArgumentError, match="outputs must be a Tensor or an iterable of Tensors"):
        s.scale(3.0)
    with pytest.raises(ValueError):  # PyTorch's exception type too
        s.scale([p, 2.0])


def test_step_unscales_and_steps(device: str) -> None:
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.1)
    s = amp.GradScaler(device, init_scale=1024.0)
    s.scale(_loss(p)).backward()
    np.testing.assert_allclose(p.grad.numpy(), 2 * P0 * 1024)
    assert s.step(opt) is None  # SGD.step returns None; the step ran
    np.testing.assert_allclose(p.grad.numpy(), 2 * P0)  # unscaled in place
    np.testing.assert_allclose(p.numpy(), 0.8 * P0, rtol=1e-6)
    s.update()
    assert s.get_scale() == 1024.0 and s.state_dict()["_growth_tracker"] == 1


def test_step_returns_the_optimizers_value_and_passes_arguments(device: str) -> None:
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.1)
    seen = []

    class Wrapped:
        param_groups = opt.param_groups

        def step(self, *args, **kwargs):
            seen.append((args, kwargs))
            opt.step()
            return "ret"

    s = amp.GradScaler(device)
    s.scale(_loss(p)).backward()
    assert s.step(Wrapped(), 1, flag=True) == "ret"
    assert seen == [((1,), {"flag": True})]


def test_injected_inf_skips_exactly_that_step_and_backs_off(device: str) -> None:
    """A training loop: growth_interval 3, inf injected at steps 4 and 5 (NaN at 5); the scale follows
    PyTorch's rule and only the poisoned steps leave the parameter unchanged."""
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.1)
    s = amp.GradScaler(device, init_scale=2.0**10, growth_interval=3)
    expected_p, scale, tracker = P0.astype(np.float64), 2.0**10, 0
    poison = {4: float("inf"), 5: float("nan")}
    for i in range(9):
        opt.zero_grad()
        s.scale(_loss(p, poison.get(i))).backward()
        before = p.numpy().copy()
        s.step(opt)
        s.update()
        if i in poison:
            np.testing.assert_array_equal(p.numpy(), before)  # skipped
            scale, tracker = scale * 0.5, 0
        else:
            expected_p = expected_p * 0.8
            tracker += 1
            if tracker == 3:
                scale, tracker = scale * 2, 0
        np.testing.assert_allclose(p.numpy(), expected_p, rtol=1e-5)
        assert s.get_scale() == scale, i
        assert s.state_dict()["_growth_tracker"] == tracker, i
    assert scale == 2.0**10  # grown once, backed off twice, grown once


def test_growth_stops_at_inf(device: str) -> None:
    s = amp.GradScaler(device, init_scale=2.0**127, growth_interval=1)
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.0)
    s.scale(_loss(p) * 0).backward()
    s.step(opt)
    s.update()
    assert s.get_scale() == 2.0**127  # 2**128 overflows float32: kept, as PyTorch's
    assert s.state_dict()["_growth_tracker"] == 0


def test_unscale_once_then_step(device: str) -> None:
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.1)
    s = amp.GradScaler(device, init_scale=8.0)
    s.scale(_loss(p)).backward()
    s.unscale_(opt)
    np.testing.assert_allclose(p.grad.numpy(), 2 * P0)
    gk.nn.utils.clip_grad_norm_([p], 1e9)  # what unscale_ is for
    with pytest.raises(GradScalerError, match=r"unscale_\(\) has already been called on this optimizer"):
        s.unscale_(opt)
    with pytest.raises(RuntimeError):  # PyTorch's type
        s.unscale_(opt)
    s.step(opt)  # does not unscale again
    np.testing.assert_allclose(p.numpy(), 0.8 * P0, rtol=1e-6)
    with pytest.raises(GradScalerError, match=r"step\(\) has already been called since the last update\(\)"):
        s.step(opt)
    with pytest.raises(GradScalerError, match=r"unscale_\(\) is being called after step\(\)"):
        s.unscale_(opt)
    s.update()
    s.scale(_loss(p)).backward()
    s.unscale_(opt)  # a new iteration: allowed again


def test_order_errors(device: str) -> None:
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.1)
    for call in (lambda s: s.unscale_(opt), lambda s: s.step(opt), lambda s: s.update()):
        with pytest.raises(AssertionError, match="but _scale is None"):
            call(amp.GradScaler(device))
    s = amp.GradScaler(device)
    s.scale(_loss(p))
    with pytest.raises(AssertionError, match="No inf checks were recorded prior to update"):
        s.update()
    with pytest.raises(AssertionError, match="No inf checks were recorded for this optimizer"):
        s.step(opt)  # no gradients at all
    with pytest.raises(GradScalerError, match="Closure use is not currently supported"):
        s.step(opt, closure=lambda: 0.0)
    with pytest.raises(gk.GradkitError, match="The growth factor must be > 1.0"):
        amp.GradScaler(device, growth_factor=1.0)
    with pytest.raises(AssertionError, match="The backoff factor must be < 1.0"):
        amp.GradScaler(device, backoff_factor=1.0)


def test_fp16_gradients_are_refused(device: str) -> None:
    q = gk.tensor(P0.astype(np.float16), device=device, requires_grad=True)
    opt = gk.optim.SGD([q], lr=0.1)
    s = amp.GradScaler(device, init_scale=4.0)
    s.scale(q.astype(gk.float32).sum()).backward()
    with pytest.raises(gk.InvalidArgumentError, match="Attempting to unscale FP16 gradients"):
        s.unscale_(opt)


def test_float64_gradients_and_params_without_grad(device: str) -> None:
    p = gk.tensor(P0.astype(np.float64), device=device, requires_grad=True)
    unused = _param(device)
    opt = gk.optim.SGD([p, unused], lr=0.1)
    s = amp.GradScaler(device, init_scale=3.0)
    s.scale(_loss(p)).backward()
    s.step(opt)
    np.testing.assert_allclose(p.grad.numpy(), 2 * P0, rtol=1e-7)  # 1/3 in float32, as PyTorch's
    assert unused.grad is None


def test_two_optimizers_one_inf_backs_off_once(device: str) -> None:
    a, b = _param(device), _param(device)
    oa, ob = gk.optim.SGD([a], lr=0.1), gk.optim.SGD([b], lr=0.1)
    s = amp.GradScaler(device, init_scale=16.0)
    s.scale(_loss(a) + _loss(b, float("inf"))).backward()
    s.step(oa)
    s.step(ob)
    s.update()
    np.testing.assert_allclose(a.numpy(), 0.8 * P0, rtol=1e-6)  # each optimizer checks its own gradients
    np.testing.assert_array_equal(b.numpy(), P0)
    assert s.get_scale() == 8.0


def test_update_with_new_scale(device: str) -> None:
    p = _param(device)
    s = amp.GradScaler(device)
    s.scale(_loss(p))
    s.update(new_scale=4.0)
    assert s.get_scale() == 4.0
    s.update(gk.tensor(np.array([2.0], dtype=np.float32), device=device))
    assert s.get_scale() == 2.0
    with pytest.raises(AssertionError, match="new_scale should be a float"):
        s.update(gk.tensor(np.array([2.0, 3.0], dtype=np.float32), device=device))
    with pytest.raises(AssertionError, match="new_scale should be a float"):
        s.update(gk.tensor(np.array([2.0], dtype=np.float32), device=device, requires_grad=True))


def test_state_dict_round_trip(device: str) -> None:
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.1)
    s = amp.GradScaler(device, init_scale=256.0, growth_factor=3.0, backoff_factor=0.25, growth_interval=5)
    for _ in range(2):
        opt.zero_grad()
        s.scale(_loss(p)).backward()
        s.step(opt)
        s.update()
    sd = s.state_dict()
    assert sd == {"scale": 256.0, "growth_factor": 3.0, "backoff_factor": 0.25, "growth_interval": 5,
                  "_growth_tracker": 2}
    assert isinstance(sd["scale"], float) and isinstance(sd["_growth_tracker"], int)
    fresh = amp.GradScaler(device)
    fresh.load_state_dict(sd)
    assert fresh.state_dict() == sd
    # three more clean steps grow it (tracker 2 -> 5), in both
    for scaler in (s, fresh):
        q = _param(device)
        o = gk.optim.SGD([q], lr=0.1)
        for _ in range(3):
            o.zero_grad()
            scaler.scale(_loss(q)).backward()
            scaler.step(o)
            scaler.update()
    assert s.state_dict() == fresh.state_dict() == {**sd, "scale": 768.0, "_growth_tracker": 0}
    live = amp.GradScaler(device)
    live.scale(_loss(p))
    live.load_state_dict(sd)  # also into a scaler whose scale already exists
    assert live.state_dict() == sd
    with pytest.raises(GradScalerError, match="The source state dict is empty"):
        live.load_state_dict({})
    clone = pickle.loads(pickle.dumps(s))
    assert clone.state_dict() == s.state_dict()
    assert copy.deepcopy(fresh).state_dict() == fresh.state_dict()


def test_disabled_is_a_pass_through(device: str) -> None:
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.1)
    s = amp.GradScaler(device, enabled=False)
    assert not s.is_enabled()
    loss = _loss(p)
    assert s.scale(loss) is loss
    nested = [loss, (loss,)]
    assert s.scale(nested) is nested
    loss.backward()
    assert s.unscale_(opt) is None
    np.testing.assert_allclose(p.grad.numpy(), 2 * P0)
    assert s.step(opt) is None
    np.testing.assert_allclose(p.numpy(), 0.8 * P0, rtol=1e-6)
    s.update()
    s.step(opt)  # no stage checks either
    assert s.get_scale() == 1.0 and s.state_dict() == {}
    s.load_state_dict({})  # ignored
    assert amp.GradScaler(device, growth_factor=0.5, enabled=False).get_scale() == 1.0  # factors unchecked


def test_old_cuda_amp_signature_and_cuda_without_gpu() -> None:
    from gradkit.cuda import amp as cuda_amp

    if not gk.cuda_available():
        with pytest.warns(UserWarning, match="CUDA is not available.  Disabling"):
            s = amp.GradScaler()
        assert not s.is_enabled() and s.get_scale() == 1.0
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert not cuda_amp.GradScaler(init_scale=8.0).is_enabled()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = cuda_amp.GradScaler(8.0, 3.0, 0.25, 7)
    assert s.state_dict() == {"scale": 8.0, "growth_factor": 3.0, "backoff_factor": 0.25,
                              "growth_interval": 7, "_growth_tracker": 0}


def test_one_host_read_per_step(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """scale, backward, step, update: the only host read is step's look at found_inf, as PyTorch's ``.item()``."""
    p = _param(device)
    opt = gk.optim.SGD([p], lr=0.1, momentum=0.9)
    s = amp.GradScaler(device)
    reads = count_host_reads(device, monkeypatch)
    for _ in range(3):
        opt.zero_grad()
        s.scale(_loss(p)).backward()
        s.step(opt)
        s.update()
    assert len(reads) == 3


def test_backward_of_a_scaled_loss_is_silent_about_overflow(device: str) -> None:
    """inf and nan in a backward pass started from ``scale()``'s output are what the scaler looks for: NumPy's
    overflow warnings are off for that pass only (PyTorch is silent); an unscaled backward still warns."""
    w = gk.tensor(np.ones((4, 4), np.float32), device=device, requires_grad=True)
    x = gk.tensor(np.ones((2, 4), np.float32), device=device)

    def loss() -> gk.Tensor:
        return (x.astype(gk.float16) @ w.astype(gk.float16)).astype(gk.float32).sum()  # its float16 gradient overflows

    s = amp.GradScaler(device, init_scale=2.0**24)
    opt = gk.optim.SGD([w], lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.scale(loss()).backward()
        s.step(opt)
        s.update()
    assert s.get_scale() == 2.0**23  # the step was skipped
    np.testing.assert_array_equal(w.detach().numpy(), 1.0)
    if device == "cpu":
        w.grad = None
        with pytest.warns(RuntimeWarning):
            (loss() * 2.0**24).backward()
        with warnings.catch_warnings():  # the quiet pass left NumPy's error state as it was
            warnings.simplefilter("error")
            assert np.geterr()["over"] == "warn"

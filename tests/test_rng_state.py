"""get_rng_state / set_rng_state: the generators of every device in use, saved and put back."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.backends import NUMPY, get_backend, get_rng_state, set_rng_state

F = gk.nn.functional


class _CurandLike:
    """Draws that follow a device array ``bit_generator._state`` (int8 bytes), as CuPy's cuRAND generators.

    The emulated CuPy's generator keeps its state on the host, where gradkit cannot read it.
    """

    def __init__(self, backend, seed):
        self.xp = backend.xp
        self.bit_generator = type("Bits", (), {})()
        self.bit_generator._state = backend.asarray(np.array([seed, 0], dtype=np.int64).view(np.int8))

    def _next(self):
        seed, count = (int(v) for v in self.xp.asnumpy(self.bit_generator._state).view(np.int64))
        self.bit_generator._state[...] = self.xp.asarray(np.array([seed, count + 1], dtype=np.int64).view(np.int8))
        return np.random.default_rng([seed, count])

    def random(self, shape, dtype=np.float64):
        return self.xp.asarray(self._next().random(shape).astype(dtype))

    def standard_normal(self, shape, dtype=np.float64):
        return self.xp.asarray(self._next().standard_normal(shape).astype(dtype))


@pytest.fixture
def readable(device, monkeypatch):
    """The test's device; every GPU generator in use made readable (a cuRAND-like one on the emulation)."""
    import gradkit.backends as backends

    gk.manual_seed(0)  # first: reseeding replaces the generators patched below
    for backend in {get_backend(device), get_backend(None), *backends._backends.values()}:
        if backend is not NUMPY:
            monkeypatch.setattr(backend, "rng", _CurandLike(backend, 7))
    return device


def _masks(device, n=3):
    ones = gk.ones((4, 6), device=device)
    return [F.dropout(ones, 0.5, training=True).numpy() for _ in range(n)]


def test_a_dropout_sequence_repeats_after_set_rng_state(readable):
    _masks(readable, 1)
    state = get_rng_state()
    first = _masks(readable) + [gk.randn(5).numpy(), gk.rand(3, device=readable).numpy()]
    set_rng_state(state)
    again = _masks(readable) + [gk.randn(5).numpy(), gk.rand(3, device=readable).numpy()]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], first[1])  # the masks do differ from draw to draw


def test_the_state_names_every_device_in_use_and_survives_save_and_load(readable, tmp_path):
    pytest.importorskip("safetensors", reason="gk.save needs the optional safetensors package")
    gk.rand(1, device=readable)
    state = get_rng_state()
    import gradkit.backends as backends

    assert {"cpu", get_backend(readable).device} <= set(state) == set(backends._backends)
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert state["cpu"].dtype == np.int64 and state["cpu"].shape == (6,)
    path = tmp_path / "rng.safetensors"
    gk.save({"rng": state}, path)
    expected = _masks(readable)
    set_rng_state(gk.load(path)["rng"])
    assert all(np.array_equal(a, b) for a, b in zip(expected, _masks(readable), strict=True))


def test_get_rng_state_changes_nothing_and_copies(readable):
    state = get_rng_state()
    kept = {k: v.copy() for k, v in state.items()}
    for v in state.values():
        v[...] = 0  # the caller's copy, not the generator's
    again = get_rng_state()
    assert set(again) == set(kept) and all(np.array_equal(again[k], kept[k]) for k in kept)


def test_tensors_are_accepted_as_state(readable):
    state = {k: gk.tensor(v) for k, v in get_rng_state().items()}
    expected = _masks(readable)
    set_rng_state(state)
    assert all(np.array_equal(a, b) for a, b in zip(expected, _masks(readable), strict=True))


BAD = {
    "not a dict": (lambda s: [s["cpu"]], gk.ArgumentTypeError, "expected the dict"),
    "empty": (lambda s: {}, gk.ArgumentTypeError, "expected the dict"),
    "int key": (lambda s: {0: s["cpu"]}, gk.ArgumentTypeError, "device names"),
    "unknown device": (lambda s: {**s, "tpu": s["cpu"]}, gk.DeviceError, "unknown device 'tpu'"),
    "not an array": (lambda s: {**s, "cpu": 3}, gk.ArgumentTypeError, "state of 'cpu' must be an array"),
    "short": (lambda s: {"cpu": s["cpu"][:5]}, gk.ShapeError, "6 int64 words"),
    "wrong dtype": (lambda s: {"cpu": s["cpu"].astype(np.float64)}, gk.ShapeError, "got float64"),
    "even increment": (lambda s: {"cpu": s["cpu"] ^ np.array([0, 0, 0, 1, 0, 0], np.int64)},
                       gk.InvalidArgumentError, "increment must be odd"),
    "has_uint32 = 2": (lambda s: {"cpu": s["cpu"] + np.array([0, 0, 0, 0, 2, 0], np.int64)},
                       gk.InvalidArgumentError, "not a PCG64 state"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_state_raises_and_changes_no_generator(readable, case):
    make, error, message = BAD[case]
    gk.rand(1, device=readable)
    good = get_rng_state()
    bad = make({k: v.copy() for k, v in good.items()})
    if case == "unknown device":  # the good entries come first: none of them may be set
        gk.rand(2, device=readable)
        good = get_rng_state()
    with pytest.raises(error, match=message):
        set_rng_state(bad)
    assert all(np.array_equal(good[k], v) for k, v in get_rng_state().items())


def test_a_device_state_of_another_size_is_refused(readable):
    backend = get_backend(readable)
    if backend is NUMPY:
        pytest.skip("the CPU state has a fixed size")
    state = get_rng_state()
    before = get_rng_state()
    state[backend.device] = np.zeros(5, np.int8)
    with pytest.raises(gk.ShapeError, match=rf"state of {backend.device} is int8 of shape \(5,\)"):
        set_rng_state(state)
    assert all(np.array_equal(before[k], v) for k, v in get_rng_state().items())


def test_a_gpu_state_on_a_machine_without_that_gpu(monkeypatch):
    if gk.cuda_available():
        pytest.skip("this machine (or the emulation) has cuda:0")
    state = get_rng_state()
    before = state["cpu"].copy()
    gk.rand(3)
    with pytest.raises(gk.BackendError, match=r"names 'cuda:0'.*leave it out"):
        set_rng_state({"cpu": state["cpu"], "cuda:0": np.zeros(16, np.int8)})
    assert not np.array_equal(get_rng_state()["cpu"], before)  # the CPU entry was not set either
    set_rng_state({"cpu": state["cpu"]})
    assert np.array_equal(get_rng_state()["cpu"], before)


def test_a_generator_without_readable_state_is_named(device, monkeypatch):
    backend = get_backend(device)
    if backend is NUMPY:
        pytest.skip("the CPU generator is always NumPy's")
    monkeypatch.setattr(backend, "rng", object())
    with pytest.raises(gk.BackendError, match=rf"random generator of {backend.device}.*no cuRAND state array"):
        get_rng_state()


def test_refused_inside_a_captured_step(monkeypatch):
    from gradkit.cuda import graphs

    monkeypatch.setattr(graphs, "is_capturing", lambda: True)
    with pytest.raises(gk.cuda.CaptureError, match="get_rng_state"):
        get_rng_state()
    with pytest.raises(gk.cuda.CaptureError, match="set_rng_state"):
        set_rng_state({"cpu": np.zeros(6, np.int64)})

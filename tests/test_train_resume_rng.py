"""gradkit-train checkpoints hold the training device's generator state too: a resumed GPU run draws the
same dropout masks as an uninterrupted one; checkpoints without it (older, or from the CPU) still load."""

from __future__ import annotations

import numpy as np
import pytest

import gradkit as gk
from gradkit.backends import NUMPY, get_backend

pytest.importorskip("safetensors", reason="the trainer's checkpoints need the optional safetensors package")
T = pytest.importorskip("gradkit.train", reason="gradkit.train needs gk.nn and gk.optim")

SETTINGS = {"dataset": "digits", "hidden": "8", "dropout": 0.5, "optimizer": "sgd", "lr": 0.1,
            "schedule": "constant", "batch_size": 4, "seed": 3}


class _CurandLike:
    """A generator whose draws follow a device array ``bit_generator._state``, as CuPy's cuRAND generators."""

    def __init__(self, backend, seed):
        self.xp = backend.xp
        self.bit_generator = type("Bits", (), {})()
        self.bit_generator._state = backend.asarray(np.array([seed, 0], dtype=np.int64).view(np.int8))

    def random(self, shape, dtype=np.float64):
        seed, count = (int(v) for v in self.xp.asnumpy(self.bit_generator._state).view(np.int64))
        self.bit_generator._state[...] = self.xp.asarray(np.array([seed, count + 1], dtype=np.int64).view(np.int8))
        return self.xp.asarray(np.random.default_rng([seed, count]).random(shape).astype(dtype))


def _split(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 5)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    return gk.data.DataSplit(gk.tensor(x[:8], device=device), gk.tensor(y[:8], device=device),
                             gk.tensor(x[8:], device=device), gk.tensor(y[8:], device=device), 3, "tiny")


def _masks(run, n=2):
    """Dropout masks drawn from the run's device generator (what the next training steps would use)."""
    ones = gk.ones((4, 8), device=run.device)
    return [(gk.nn.functional.dropout(ones, 0.5, training=True).numpy() != 0) for _ in range(n)]


@pytest.fixture
def run(device, monkeypatch):
    r = T.Run(dict(SETTINGS), _split(device), device)
    backend = get_backend(device)
    if backend is not NUMPY:
        monkeypatch.setattr(backend, "rng", _CurandLike(backend, 11))
    return r


def test_a_resumed_run_draws_the_same_dropout_masks(run, tmp_path):
    first = _masks(run, 1)
    path = tmp_path / "run.safetensors"
    run.save(str(path))
    expected = _masks(run)
    run.load_state_dict(gk.load(str(path), device=run.device))
    assert all(np.array_equal(a, b) for a, b in zip(_masks(run), expected, strict=True))
    assert not np.array_equal(first[0], expected[0])  # the masks do change from step to step


def test_the_device_state_is_saved_on_a_gpu_only(run):
    rng = run.state_dict()["rng"]
    if run.device == "cpu":
        assert set(rng) == {"seed", "numpy"}
    else:
        assert set(rng) == {"seed", "numpy", "cupy"}
        assert isinstance(rng["cupy"], np.ndarray) and rng["cupy"].dtype == np.int8 and rng["cupy"].shape == (16,)


def test_the_device_state_is_gk_get_rng_states_entry(run):
    """The same host copy of the cuRAND states that gk.get_rng_state gives, so checkpoints load both ways."""
    if run.device != "cpu":
        saved = run.state_dict()["rng"]["cupy"]
        assert np.array_equal(saved, gk.get_rng_state()[get_backend(run.device).device])
        _masks(run)
        assert not np.array_equal(saved, gk.get_rng_state()[get_backend(run.device).device])
        gk.set_rng_state({run.device: saved})
        assert np.array_equal(saved, gk.get_rng_state()[get_backend(run.device).device])


def test_a_checkpoint_without_the_device_state_still_loads(run):
    state = run.state_dict()
    state["rng"] = {"seed": state["rng"]["seed"], "numpy": state["rng"]["numpy"]}  # as written before
    run.load_state_dict(state)
    assert run.epoch == 0


def test_a_device_state_that_does_not_fit_is_skipped_with_a_warning(run, capsys):
    state = run.state_dict()
    state["rng"]["cupy"] = np.zeros(5, np.int8)  # another GPU's generator
    run.load_state_dict(state)
    err = capsys.readouterr().err
    if run.device == "cpu":
        assert err == ""  # a GPU checkpoint resumed on the CPU: the NumPy state is all there is
    else:
        assert "warning: the checkpoint's GPU generator state (int8(5,)) was not restored" in err
        assert "set_rng_state: the state of cuda:0 is int8 of shape (5,)" in err and "from the seed" in err


def test_the_device_generator_without_states_saves_nothing(device, monkeypatch):
    """The emulated CuPy's generator (and any without cuRAND states): nothing to save, nothing to restore."""
    r = T.Run(dict(SETTINGS), _split(device), device)
    backend = get_backend(device)
    if backend is not NUMPY:
        monkeypatch.setattr(backend, "rng", np.random.default_rng(0))
    state = r.state_dict()
    assert "cupy" not in state["rng"]
    state["rng"]["cupy"] = np.zeros(16, np.int8)
    r.load_state_dict(state)


@pytest.mark.cuda
def test_a_resumed_gpu_run_restores_cupys_own_generator(tmp_path):
    r = T.Run(dict(SETTINGS), _split("cuda"), "cuda")
    path = tmp_path / "run.safetensors"
    r.save(str(path))
    assert "cupy" in gk.load(str(path), device="cuda")["rng"]
    expected = _masks(r)
    r.load_state_dict(gk.load(str(path), device="cuda"))
    assert all(np.array_equal(a, b) for a, b in zip(_masks(r), expected, strict=True))

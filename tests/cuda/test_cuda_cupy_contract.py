"""What gradkit assumes of CuPy 14, checked where it can be: against the installed CuPy without a GPU (its
Python-level API: cupyx.scipy.special's loops, ``Stream.from_external``), and on ``device="cuda"`` (a GPU,
or the emulation) for the paths that had only run on the emulation: the GPU generator's state through
``bit_generator._state``, DataLoader workers on the legacy stream's handle, ``load_state_dict`` of another
library's CUDA arrays through DLPack, and the Bessel functions that must not come from cupyx.
"""

from __future__ import annotations

import types

import emulated_cupy
import numpy as np
import pytest

import gradkit as gk
from gradkit.backends import get_backend, get_rng_state, set_rng_state
from gradkit.data import DataLoader, Dataset, workers
from gradkit.ops import special

F = gk.nn.functional

# every cupyx.scipy.special function gradkit may call, and the loops it needs (float32 and float64 arrays;
# float16 and integers are widened to float32 before the call)
ROUTED = {
    "erf": ("f->f", "d->d"), "erfc": ("f->f", "d->d"), "erfinv": ("f->f", "d->d"), "gammaln": ("f->f", "d->d"),
    "digamma": ("f->f", "d->d"), "erfcx": ("f->f", "d->d"), "ndtr": ("f->f", "d->d"),
    "log_ndtr": ("f->f", "d->d"), "ndtri": ("f->f", "d->d"), "zeta": ("ff->f", "dd->d"),
    "gammainc": ("ff->f", "dd->d"), "gammaincc": ("ff->f", "dd->d"),
}  # fmt: skip


def _real_cupy():
    """The installed CuPy (a GPU is not needed for its Python-level API), not the emulation."""
    if emulated_cupy.enabled():
        pytest.skip("this run emulates CuPy")
    return pytest.importorskip("cupy", reason="CuPy is not installed")


def _cuda(device):
    if device != "cuda":
        pytest.skip("a CuPy path")
    return get_backend(device)


# ------------------------------------------------------------------ the installed CuPy, no GPU needed
@pytest.mark.parametrize("name", sorted(ROUTED))
def test_cupyx_has_each_function_gradkit_routes_there(name):
    _real_cupy()
    cupyx_special = pytest.importorskip("cupyx.scipy.special")
    loops = getattr(cupyx_special, name).types
    assert set(ROUTED[name]) <= set(loops), f"cupyx.scipy.special.{name} has loops {loops}"


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
def test_the_bessel_functions_are_not_taken_from_cupyx(name):
    """cupyx's i0e/i1e are exp(-|x|) cyl_bessel_i0/i1: NaN or inf far out; its i0/i1 stay finite past 709.78."""
    assert special._library(types.SimpleNamespace(__name__="cupy"), name) is None


def test_the_workers_legacy_stream_handle_suits_cupys_stream_protocol():
    cp = _real_cupy()
    legacy = cp.cuda.runtime.streamLegacy
    stream = cp.cuda.Stream.from_external(workers._Handle(legacy))  # no CUDA call: works without a GPU
    assert stream.ptr == legacy and stream.device_id == -1  # the device is the current one where it is used
    from emulated_cupy import core

    emulated = core.MODULE.cuda.Stream.from_external(workers._Handle(legacy))
    assert (emulated.ptr, emulated.device_id) == (stream.ptr, stream.device_id)
    for bad in (object(), types.SimpleNamespace(__cuda_stream__=lambda: (0, 1, 2))):
        for module in (cp, core.MODULE):
            with pytest.raises(TypeError):
                module.cuda.Stream.from_external(bad)


# ------------------------------------------------------------------ on the device
def test_the_device_generators_state_round_trips(device):
    """The backend's own generator (cuRAND's states in ``bit_generator._state`` on a GPU): the draws after
    set_rng_state repeat those after get_rng_state."""
    gk.manual_seed(5)
    gk.rand(2, device=device)
    state = get_rng_state()
    name = get_backend(device).device
    assert state[name].dtype == (np.int64 if name == "cpu" else np.int8) and state[name].ndim == 1

    def draws():
        ones = gk.ones((6, 5), device=device)
        return [F.dropout(ones, 0.5, training=True).numpy(), gk.randn(4, device=device).numpy(),
                gk.randint(0, 1000, (5,), device=device).numpy(), gk.rand(3, device=device).numpy()]  # fmt: skip

    first = draws()
    set_rng_state(state)
    again = draws()
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[3], draws()[3])  # and the generator goes on


class _Where(Dataset):
    """Samples made on the device in a worker, with the stream each worker ran on."""

    def __init__(self, cp):
        self.cp, self.streams = cp, set()

    def __len__(self):
        return 6

    def __getitem__(self, i):
        self.streams.add(self.cp.cuda.get_current_stream().ptr)
        return (gk.arange(4, device="cuda", dtype="float32") * i).exp()


def test_workers_on_the_legacy_streams_handle(device, monkeypatch):
    """As under CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1: the workers launch on the legacy stream by its handle
    (``Stream.from_external``), and their batches are those of a loader without workers."""
    cp = _cuda(device).xp
    monkeypatch.setattr(workers, "_per_thread_default", lambda: True)
    data = _Where(cp)
    batches = [b.numpy() for b in DataLoader(data, batch_size=2, num_workers=2)]
    assert data.streams == {cp.cuda.runtime.streamLegacy}
    plain = [b.numpy() for b in DataLoader(data, batch_size=2)]
    assert all(np.array_equal(a, b) for a, b in zip(batches, plain, strict=True))


class _Foreign:
    """Another library's CUDA array: DLPack only, and a dtype object that is not NumPy's."""

    dtype = "foreign"

    def __init__(self, array):
        self._array = array
        self.shape = array.shape

    def __dlpack__(self, *args, **kwargs):
        return self._array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_load_state_dict_reads_another_librarys_cuda_arrays(device):
    backend = _cuda(device)
    layer = gk.nn.Linear(3, 2).to(device)
    w = np.arange(6, dtype=np.float64).reshape(2, 3) / 4
    b = np.array([0.5, -1.0], dtype=np.float32)
    layer.load_state_dict({"weight": _Foreign(backend.asarray(w)), "bias": _Foreign(backend.asarray(b))})
    assert layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.numpy(), w.astype(np.float32))
    np.testing.assert_array_equal(layer.bias.numpy(), b)


def test_load_state_dict_reads_a_pytorch_cuda_state_dict(device):
    _cuda(device)
    if emulated_cupy.enabled():
        pytest.skip("PyTorch's CUDA tensors need a real GPU")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch has no CUDA")
    theirs = torch.nn.Linear(3, 2).cuda()
    layer = gk.nn.Linear(3, 2).to(device)
    layer.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(layer.weight.numpy(), theirs.weight.detach().cpu().numpy())
    np.testing.assert_array_equal(layer.bias.numpy(), theirs.bias.detach().cpu().numpy())

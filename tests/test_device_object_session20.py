"""``gk.device`` as PyTorch's ``torch.device`` (and still gradkit's default-device block), ``Tensor.to``'s PyTorch
forms (``to(other)``, ``non_blocking=``, ``copy=``), ``gk.backends.cuda``/``cudnn``/``mps``, the float32 matmul
precision and deterministic-algorithm switches, and the ``torch.cuda`` helpers (``synchronize``, ``device_count``,
``manual_seed``, ...). Compared with PyTorch where it imports."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import textwrap
import threading

import emulated_cupy
import numpy as np
import pytest

import gradkit as gk
import gradkit.backends as B
from gradkit.backends.devices import device as device_class


def _on(device: str) -> str:
    """The device name a tensor made with ``device=device`` reports."""
    return "cpu" if device == "cpu" else "cuda:0"


# ---------------------------------------------------------------------------------------------------------------
# the object
# ---------------------------------------------------------------------------------------------------------------
SPECS = [("cpu",), ("cuda",), ("cuda:0",), ("cuda:1",), ("cuda", 0), ("cuda", 2)]


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_device_names_type_index_and_repr_match_torch(spec):
    d = gk.device(*spec)
    expected = {("cpu",): ("cpu", "cpu", None), ("cuda",): ("cuda", "cuda", None), ("cuda:0",): ("cuda:0", "cuda", 0),
                ("cuda:1",): ("cuda:1", "cuda", 1), ("cuda", 0): ("cuda:0", "cuda", 0),
                ("cuda", 2): ("cuda:2", "cuda", 2)}[spec]
    assert (str(d), d.type, d.index) == expected
    assert type(str(d)) is str and type(d.type) is str
    assert isinstance(d, str) and isinstance(d, gk.device) and d == expected[0] and hash(d) == hash(expected[0])
    assert f"{d}" == expected[0] and " ".join([d]) == expected[0]
    try:
        import torch
    except ImportError:
        return
    t = torch.device(*spec)
    assert (str(d), d.type, d.index, repr(d)) == (str(t), t.type, t.index, repr(t))


def test_device_keywords_aliases_and_copies():
    assert gk.device(type="cuda", index=1) == "cuda:1"
    assert repr(gk.device(type="cuda", index=1)) == "device(type='cuda', index=1)"  # eval-able with gk.device
    for alias in ("CPU", " cpu ", "numpy", "cpu:0"):
        assert gk.device(alias) == "cpu" and repr(gk.device(alias)) == "device(type='cpu')"
    for alias in ("gpu", "cupy", "CUDA"):
        assert gk.device(alias) == "cuda" and gk.device(alias).index is None
    d = gk.device("cuda:1")
    assert gk.device(d) is d and gk.device(gk.device("cuda"), 3) == "cuda:3"
    assert gk.device("cuda", np.int64(1)) == "cuda:1"
    assert gk.device(B.NUMPY) == "cpu"
    assert copy.copy(d) is d and copy.deepcopy({"d": d})["d"] is d
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(d, protocol))
        assert type(back) is gk.device and back == "cuda:1" and back.index == 1
    assert json.loads(json.dumps({"device": d})) == {"device": "cuda:1"}
    # as torch: "cuda" and "cuda:0" are different devices; a device equals its own name
    assert gk.device("cuda") != gk.device("cuda:0") and gk.device("cuda") != "cuda:0"
    assert {gk.device("cpu"): 1}["cpu"] == 1 and {"cuda:0": 2}[gk.device("cuda", 0)] == 2


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "cuda:-1", "cuda:", "cpu:1", "", 3, None, 1.5, ["cpu"]], ids=repr)
def test_unknown_devices_raise_device_error_when_made(bad):
    with pytest.raises(gk.DeviceError) as info:
        gk.device(bad)
    assert repr(bad) in str(info.value)


def test_index_errors():
    with pytest.raises(gk.DeviceError, match="already has an index"):
        gk.device("cuda:1", 2)
    with pytest.raises(gk.DeviceError, match="must not be negative"):
        gk.device("cuda", -1)
    for bad in (True, 1.0, "1"):
        with pytest.raises(gk.ArgumentTypeError, match="index must be an int"):
            gk.device("cuda", bad)
    with pytest.raises(gk.DeviceError, match="one CPU device"):
        gk.device("cpu", 1)


def test_a_missing_gpu_is_an_error_only_when_used():
    d = gk.device("cuda")  # made anywhere, as torch.device("cuda")
    assert d.type == "cuda"
    if gk.cuda_available():
        return
    for use in (lambda: d.__enter__(), lambda: gk.ones(2).to(d), lambda: gk.ones(2, device=d),
                lambda: gk.nn.Linear(2, 2).to(d)):
        with pytest.raises(gk.BackendError):
            use()
    assert B._local.stack == [] or B._local.stack[-1] != "cuda:0"


# ---------------------------------------------------------------------------------------------------------------
# the block
# ---------------------------------------------------------------------------------------------------------------
def test_block_nests_reenters_and_gives_the_resolved_device(device):
    outer, inner = gk.device(device), gk.device("cpu")
    with outer as entered:
        assert type(entered) is gk.device and entered == _on(device) and entered.index == (None if device == "cpu"
                                                                                            else 0)
        assert gk.zeros(1).device == _on(device) and gk.default_device() == _on(device)
        with inner:
            assert gk.zeros(1).device == "cpu"
            with outer:  # the same object, entered again inside itself
                assert gk.zeros(1).device == _on(device)
            assert gk.zeros(1).device == "cpu"
        assert gk.zeros(1).device == _on(device)
    with outer:  # reusable after it left
        assert gk.zeros(1).device == _on(device)


def test_block_is_per_thread(device):
    seen = {}
    with gk.device(device):
        started, release = threading.Event(), threading.Event()

        def other():
            with gk.device("cpu"):
                started.set()
                release.wait(10)
                seen["other"] = gk.zeros(1).device

        t = threading.Thread(target=other)
        t.start()
        started.wait(10)
        seen["main"] = gk.zeros(1).device  # the other thread's block does not reach this one
        release.set()
        t.join(10)
    assert seen == {"main": _on(device), "other": "cpu"}


def test_block_left_by_an_exception_is_popped():
    before = list(B._local.stack)
    with pytest.raises(ZeroDivisionError), gk.device("cpu"):
        1 / 0  # noqa: B018
    assert B._local.stack == before


# ---------------------------------------------------------------------------------------------------------------
# Tensor.device, default_device
# ---------------------------------------------------------------------------------------------------------------
def test_tensor_device_is_a_device_object(device):
    x, y = gk.ones(2, device=device), gk.zeros(3, device=device)
    assert type(x.device) is gk.device and x.device is y.device  # one per backend
    assert x.device.type == device and x.device.index == (None if device == "cpu" else 0)
    assert x.device == _on(device) and x.device == gk.device(_on(device))
    assert x.is_cuda == (device == "cuda")
    assert repr(x).endswith(f"device={_on(device)})")  # the tensor's repr is unchanged
    assert f"device={x.device}" == f"device={_on(device)}"
    with gk.device(device):
        assert type(gk.default_device()) is gk.device and gk.default_device() == _on(device)


def test_device_from_one_tensor_makes_more_on_it(device):
    x = gk.ones(2, device=device)
    for make in (lambda d: gk.zeros(2, device=d), lambda d: gk.tensor([1.0], device=d),
                 lambda d: gk.arange(3, device=d), lambda d: gk.randn(2, device=d), lambda d: x.new_zeros(2, device=d),
                 lambda d: gk.asarray(np.ones(2), device=d), lambda d: gk.full((2,), 3.0, device=d)):
        assert make(x.device).device == _on(device)
        assert make(gk.device(device)).device == _on(device)


# ---------------------------------------------------------------------------------------------------------------
# Tensor.to
# ---------------------------------------------------------------------------------------------------------------
def test_to_a_device_object_and_back(device):
    d = gk.device(device)
    x = gk.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    y = x.to(d)
    assert y.device == _on(device) and (y is x) == (device == "cpu")
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert y.to(gk.device("cpu")).device == "cpu"


def test_to_other_tensor_takes_its_device_and_dtype(device):
    other = gk.zeros(1, dtype=gk.float16, device=device)
    x = gk.tensor([1.0, 2.0], device="cpu", requires_grad=True)
    y = x.to(other)
    assert y.device == other.device and y.dtype == gk.float16
    y.sum().backward()
    assert x.grad.dtype == gk.float32 and x.grad.device == "cpu"
    same = gk.ones(2, device=device)
    assert same.to(gk.zeros(1, device=device)) is same  # nothing changes: self, as torch
    assert same.to(other, True).dtype == gk.float16  # to(other, non_blocking)
    assert same.to(gk.zeros(1, device=device), False, True) is not same  # to(other, non_blocking, copy)
    with pytest.raises(gk.ArgumentTypeError, match="both the device and the dtype"):
        same.to(other, gk.float64)


def test_to_non_blocking_and_copy(device):
    x = gk.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert x.to(device, non_blocking=True) is x
    assert x.to(device, gk.float32, True) is x  # to(device, dtype, non_blocking)
    assert x.to(gk.float32, True) is x  # to(dtype, non_blocking)
    for copied in (x.to(device, copy=True), x.to(gk.float32, copy=True), x.to(copy=True), x.to(x, copy=True),
                   x.to(gk.float32, False, True), x.to(device, None, False, True)):
        assert copied is not x and copied.device == x.device and copied.dtype == x.dtype
        assert copied._data is not x._data
        copied.sum().backward()  # in the graph, as torch's copy
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    z = x.to(gk.float64, copy=True)  # a dtype change copies once
    assert z.dtype == gk.float64
    for bad in ({"non_blocking": "yes"}, {"copy": 2}):
        with pytest.raises(gk.ArgumentTypeError):
            x.to(device, **bad)
    if emulated_cupy.enabled() or device == "cuda":  # the host <-> device copies, non_blocking accepted
        h = gk.ones(2, device="cpu").to(gk.device(device), non_blocking=True)
        assert h.device == _on(device) and h.to("cpu", non_blocking=True, copy=True).device == "cpu"


def test_to_forms_match_torch():
    torch = pytest.importorskip("torch")
    for args, kwargs in [((torch.float64,), {}), ((torch.float64, True), {}), (("cpu",), {"non_blocking": True}),
                         (("cpu", torch.float16), {}), ((), {"dtype": torch.float16, "copy": True}),
                         (("cpu", None, False, True), {})]:
        t = torch.ones(2).to(*args, **kwargs)
        gargs = tuple(gk.float64 if a is torch.float64 else gk.float16 if a is torch.float16 else a for a in args)
        gkw = {k: (gk.float16 if v is torch.float16 else v) for k, v in kwargs.items()}
        g = gk.ones(2, device="cpu").to(*gargs, **gkw)
        assert str(g.dtype) == str(t.dtype).replace("torch.", "") and g.device.type == t.device.type


def test_cuda_method_takes_an_index_or_a_device(device):
    x = gk.ones(2, device="cpu")
    with pytest.raises(gk.DeviceError, match="expected a GPU device"):
        x.cuda("cpu")
    with pytest.raises(gk.DeviceError, match="expected a GPU device"):
        gk.nn.Linear(2, 2).cuda(gk.device("cpu"))
    if device != "cuda":
        return
    for spec in (None, 0, "cuda", "cuda:0", gk.device("cuda", 0)):
        assert x.cuda(spec).device == "cuda:0"
        assert x.cuda(spec, non_blocking=True).device == "cuda:0"
    m = gk.nn.Linear(2, 2).cuda(gk.device("cuda"))
    assert m.weight.device == "cuda:0"


def test_cuda_method_errors_name_cuda_not_to():
    # a GPU gradkit cannot reach (no CuPy, no GPU, or no GPU 1) is reported under the method called: "cuda: ..."
    x = gk.ones(2, device="cpu", requires_grad=True)
    specs = [1, "cuda:1", gk.device("cuda", 1)]
    if gk.cuda.device_count() > 1:  # a machine with GPU 1: x.cuda(1) works, and its gradient comes back
        y = x.cuda(1)
        assert y.device == "cuda:1"
        y.sum().backward()
        assert x.grad.device == "cpu"
        specs = [99, "cuda:99"]
    if not gk.cuda_available():
        specs += [None, 0, "cuda"]
    for spec in specs:
        with pytest.raises(gk.BackendError) as info:
            x.cuda(spec)
        assert str(info.value).startswith("cuda: ") and "to:" not in str(info.value), str(info.value)
    for spec, kind in (("cpu", gk.DeviceError), (-1, gk.InvalidArgumentError), (1.5, gk.ArgumentTypeError)):
        with pytest.raises(kind, match="^cuda: "):
            x.cuda(spec)
    module = gk.nn.Linear(2, 2, device="cpu")
    for spec in specs:  # Module.cuda too, under its own name
        with pytest.raises(gk.BackendError, match="^Module.cuda: "):
            module.cuda(spec)
    assert module.weight.device == "cpu"


def test_cuda_set_device_takes_gpu_0_only():
    # PyTorch's torch.cuda.set_device: a negative index is a no-op (CuPy not asked); gradkit's "cuda" is always
    # GPU 0, so another GPU is refused by name, whether or not this machine has it
    for negative in (-1, np.int64(-3)):
        assert gk.cuda.set_device(negative) is None
    for other, index in ((1, 1), ("cuda:1", 1), (gk.device("cuda", 2), 2), (np.int64(3), 3)):
        with pytest.raises(gk.DeviceError) as info:
            gk.cuda.set_device(other)
        message = str(info.value)
        assert message.startswith(f"set_device: got {other!r} (GPU {index})"), message
        assert "GPU 0 only" in message and f"device='cuda:{index}'" in message
    with pytest.raises(gk.DeviceError, match="set_device: expected a GPU device"):
        gk.cuda.set_device("cpu")
    with pytest.raises(gk.DeviceError, match="set_device: unknown device 'tpu'"):
        gk.cuda.set_device("tpu")
    for bad in (None, True, 1.5):
        with pytest.raises(gk.ArgumentTypeError, match="^set_device: "):
            gk.cuda.set_device(bad)
    gpu0 = (0, "cuda", "cuda:0", gk.device("cuda"), gk.device("cuda:0"), np.int64(0))
    if not gk.cuda_available():  # as current_device, and PyTorch's set_device without a GPU
        for spec in gpu0:
            with pytest.raises(gk.BackendError, match="^set_device: "):
                gk.cuda.set_device(spec)
        return
    for spec in gpu0:
        assert gk.cuda.set_device(spec) is None
        assert gk.cuda.current_device() == 0
    assert gk.ones(2, device="cuda").device == "cuda:0"


def test_cuda_set_device_makes_gpu_0_current_again(monkeypatch):
    if not emulated_cupy.enabled():
        pytest.skip("needs the emulated CuPy (two emulated GPUs)")
    import cupy

    monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", lambda: 2)
    with cupy.cuda.Device(1):
        assert gk.cuda.current_device() == 1
        gk.cuda.set_device("cuda:0")  # as PyTorch's: CUDA's current device on this thread
        assert gk.cuda.current_device() == 0
        gk.cuda.set_device(-1)
        assert gk.cuda.current_device() == 0


def test_cuda_set_device_matches_pytorch_where_both_take_it():
    torch = pytest.importorskip("torch")
    assert "set_device" in gk.cuda.__all__ and gk.cuda.set_device is gk.cuda.runtime.set_device
    torch.cuda.set_device(-1)  # PyTorch's no-op, with or without a GPU
    gk.cuda.set_device(-1)
    for bad in ("cpu", 1.5):
        with pytest.raises(ValueError):
            torch.cuda.set_device(bad)
        with pytest.raises((gk.DeviceError, gk.ArgumentTypeError)):
            gk.cuda.set_device(bad)


# ---------------------------------------------------------------------------------------------------------------
# Module.to, data, checkpoints
# ---------------------------------------------------------------------------------------------------------------
def test_module_to_device_object_tensor_and_non_blocking(device):
    m = gk.nn.Linear(2, 3)
    w = m.weight
    assert m.to(gk.device(device)) is m and m.weight is w and w.device == _on(device)
    m.to(gk.device(device), gk.float64, True)
    assert w.dtype == gk.float64
    m.to(gk.float32, True)  # to(dtype, non_blocking)
    assert w.dtype == gk.float32
    m.to(gk.zeros(1, dtype=gk.float16, device="cpu"), non_blocking=True)  # to(tensor): its device and dtype
    assert w.device == "cpu" and w.dtype == gk.float16
    m.to(gk.zeros(1, device=device), True)
    assert w.device == _on(device) and w.dtype == gk.float32
    with pytest.raises(gk.DTypeError):
        m.to(gk.zeros(1, dtype=gk.int64, device=device))  # only float dtypes, as torch
    with pytest.raises(gk.ArgumentTypeError, match="non_blocking"):
        m.to(device, non_blocking="no")
    with pytest.raises(gk.ArgumentTypeError, match="both the device and the dtype"):
        m.to(gk.zeros(1), gk.float64)


def test_data_loader_and_collate_take_a_device_object(device):
    ds = gk.data.TensorDataset(gk.arange(6.0, device="cpu"), gk.arange(6, device="cpu"))
    loader = gk.data.DataLoader(ds, batch_size=3, device=gk.device(device))
    for xb, yb in loader:
        assert xb.device == _on(device) and yb.device == _on(device)
    batch = gk.data.default_collate([gk.ones(2, device="cpu"), gk.ones(2, device="cpu")], device=gk.device(device))
    assert batch.device == _on(device)


def test_save_and_load_with_device_objects(device, tmp_path):
    x = gk.ones(2, device=device)
    path = str(tmp_path / "c.safetensors")
    gk.save({"w": x, "device": x.device, "devices": [gk.device("cuda", 1), gk.device("cpu")]}, path)
    back = gk.load(path, device=gk.device(device))
    assert back["device"] == _on(device) and type(back["device"]) is str  # a plain name, safe to load anywhere
    assert back["devices"] == ["cuda:1", "cpu"] and back["w"].device == _on(device)
    assert gk.load(path, device=x.device)["w"].device == _on(device)
    m = gk.nn.Linear(2, 2).to(gk.device(device))
    assert pickle.loads(pickle.dumps(m)).weight.device == _on(device)
    assert copy.deepcopy(x).device is x.device


def test_no_code_treats_a_device_as_a_plain_str_only():
    """A gk.device goes where a name went: the rng state of a device named by an object, autocast's device_type."""
    state = gk.get_rng_state()
    gk.set_rng_state({gk.device("cpu"): state["cpu"]})
    with gk.autocast(gk.ones(1, device="cpu").device.type, dtype=gk.float16):
        assert gk.ones(2, 2, device="cpu").matmul(gk.ones(2, 2, device="cpu")).dtype == gk.float16
    scaler = gk.amp.GradScaler(gk.device("cpu").type)
    assert scaler.is_enabled()


# ---------------------------------------------------------------------------------------------------------------
# torch.backends, precision, determinism
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def _switches_kept(monkeypatch):
    from gradkit.backends import cudnn, torch_flags

    tf32 = gk.cuda.tf32_enabled()
    monkeypatch.setattr(torch_flags, "_state", dict(torch_flags._state))
    saved = {k: v for k, v in vars(cudnn).items() if k.startswith("_") and not k.startswith("__")}
    yield
    gk.cuda.set_tf32(tf32)
    for k in [k for k in vars(cudnn) if k.startswith("_") and not k.startswith("__")]:
        if k not in saved:
            delattr(cudnn, k)
    for k, v in saved.items():
        setattr(cudnn, k, v)
    for k in [k for k in vars(gk.backends.cuda.matmul)]:
        del vars(gk.backends.cuda.matmul)[k]


def test_backends_cuda_matmul_allow_tf32_is_gradkits_switch(_switches_kept):
    assert gk.backends.cuda.matmul.allow_tf32 is False and gk.cuda.tf32_enabled() is False  # off by default
    gk.backends.cuda.matmul.allow_tf32 = True
    assert gk.cuda.tf32_enabled() is True and gk.get_float32_matmul_precision() == "high"
    gk.cuda.set_tf32(False)
    assert gk.backends.cuda.matmul.allow_tf32 is False and gk.get_float32_matmul_precision() == "highest"
    with pytest.raises(gk.ArgumentTypeError, match="allow_tf32"):
        gk.backends.cuda.matmul.allow_tf32 = "yes"
    with pytest.raises(gk.InvalidArgumentError, match="allow_tf3"):
        gk.backends.cuda.matmul.allow_tf3 = True  # a misspelt switch is not silently kept
    assert gk.backends.cuda.matmul.allow_fp16_reduced_precision_reduction is True
    gk.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    assert gk.backends.cuda.matmul.allow_fp16_reduced_precision_reduction is False
    assert gk.backends.cuda.is_built() is True


def test_float32_matmul_precision(_switches_kept):
    assert gk.get_float32_matmul_precision() == "highest"
    for value, tf32 in (("high", True), ("medium", True), ("highest", False)):
        gk.set_float32_matmul_precision(value)
        assert gk.get_float32_matmul_precision() == value and gk.cuda.tf32_enabled() is tf32
    with pytest.raises(gk.InvalidArgumentError, match="'highest', 'high' or 'medium'"):
        gk.set_float32_matmul_precision("low")
    with pytest.raises(gk.ArgumentTypeError):
        gk.set_float32_matmul_precision(None)


def test_cudnn_flags_are_settable_and_checked(_switches_kept):
    import gradkit.backends.cudnn as cudnn

    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == (True, False, False, True)
    cudnn.benchmark = True
    gk.backends.cudnn.deterministic = True
    gk.backends.cudnn.allow_tf32 = False
    assert gk.backends.cudnn.benchmark is True and cudnn.deterministic is True and cudnn.allow_tf32 is False
    assert gk.cuda.tf32_enabled() is False  # cuDNN's TF32 switch is not the matmuls'
    with pytest.raises(gk.ArgumentTypeError, match="backends.cudnn: benchmark must be True or False"):
        cudnn.benchmark = "fast"
    assert cudnn.is_available() is False and cudnn.version() is None
    assert gk.backends.mps.is_available() is False and gk.backends.mps.is_built() is False


def test_backend_defaults_match_torch():
    torch = pytest.importorskip("torch")
    assert gk.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
    assert gk.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32
    for name in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        assert getattr(gk.backends.cudnn, name) == getattr(torch.backends.cudnn, name), name
    assert gk.are_deterministic_algorithms_enabled() == torch.are_deterministic_algorithms_enabled()


def test_use_deterministic_algorithms_is_recorded(_switches_kept):
    assert gk.are_deterministic_algorithms_enabled() is False
    gk.use_deterministic_algorithms(True)
    assert gk.are_deterministic_algorithms_enabled() is True and not gk.is_deterministic_algorithms_warn_only_enabled()
    gk.use_deterministic_algorithms(True, warn_only=True)
    assert gk.is_deterministic_algorithms_warn_only_enabled() is True
    gk.use_deterministic_algorithms(False)
    assert gk.are_deterministic_algorithms_enabled() is False
    with pytest.raises(gk.ArgumentTypeError):
        gk.use_deterministic_algorithms("on")


# ---------------------------------------------------------------------------------------------------------------
# torch.cuda helpers
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def _seeds_kept(monkeypatch):
    monkeypatch.setattr(B, "_seed_state", dict(B._seed_state))
    for backend in list(B._backends.values()):
        if "rng" in vars(backend):
            monkeypatch.setattr(backend, "rng", backend.rng)


def test_cuda_helpers_without_a_gpu_are_safe():
    assert gk.cuda.device_count() >= (1 if gk.cuda_available() else 0)
    gk.cuda.synchronize()
    assert gk.cuda.is_bf16_supported() is False
    with pytest.raises(gk.DeviceError, match="expected a GPU device"):
        gk.cuda.synchronize("cpu")
    if gk.cuda_available():
        return
    assert gk.cuda.device_count() == 0
    for query in (gk.cuda.current_device, gk.cuda.get_device_name, gk.cuda.get_device_capability):
        with pytest.raises(gk.BackendError):
            query()


def test_cuda_helpers_with_a_gpu(device):
    if device != "cuda":
        pytest.skip("the GPU run")
    assert gk.cuda.device_count() >= 1 and gk.cuda.current_device() == 0
    name = gk.cuda.get_device_name()
    assert isinstance(name, str) and name and gk.cuda.get_device_name(0) == name
    assert gk.cuda.get_device_name(gk.device("cuda:0")) == gk.cuda.get_device_name("cuda") == name
    major, minor = gk.cuda.get_device_capability(gk.ones(1, device="cuda").device)
    assert isinstance(major, int) and isinstance(minor, int) and major >= 3
    with pytest.raises(gk.DeviceError, match="no GPU 99"):
        gk.cuda.get_device_name(99)
    gk.cuda.synchronize()
    gk.cuda.synchronize(0)
    gk.cuda.synchronize(gk.device("cuda:0"))


def test_cuda_manual_seed_seeds_the_gpus_only(_seeds_kept, device):
    gk.manual_seed(7)
    cpu_before = gk.rand(3, device="cpu").numpy()
    gk.manual_seed(7)
    gk.cuda.manual_seed(11)
    assert B._seed_state["seed"] == 7 and B._seed_state["cuda:0"] == 11
    np.testing.assert_array_equal(gk.rand(3, device="cpu").numpy(), cpu_before)  # the CPU generator untouched
    gk.cuda.manual_seed_all(12)
    assert B._seed_state == {"seed": 7, "cuda": 12}  # the narrower record is dropped
    gk.cuda.manual_seed(13)
    gk.manual_seed(7)
    assert B._seed_state == {"seed": 7}
    if device != "cuda":
        return
    gk.cuda.manual_seed(21)
    a = gk.rand(4, device="cuda").numpy()
    gk.cuda.manual_seed_all(21)
    b = gk.rand(4, device="cuda").numpy()
    gk.manual_seed(21)
    c = gk.rand(4, device="cuda").numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_a_gpu_first_used_after_cuda_manual_seed_is_seeded_from_it(_seeds_kept, monkeypatch):
    class Fake:
        seeds: list = []

        def __init__(self, index):
            self.device = f"cuda:{index}"

        def seed(self, value):
            self.seeds.append((self.device, value))

    import gradkit.backends.cupy_backend as cb

    monkeypatch.setattr(cb, "CupyBackend", Fake)
    monkeypatch.setattr(B, "_backends", {"cpu": B.NUMPY})
    gk.manual_seed(1)
    gk.cuda.manual_seed_all(5)
    gk.cuda.manual_seed(6)  # the current device, 0 (CuPy not asked where nothing imported it)
    B.get_backend("cuda:0")
    B.get_backend("cuda:1")
    assert Fake.seeds == [("cuda:0", 6), ("cuda:1", 5)]
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(gk.InvalidArgumentError, match="cuda.manual_seed: expected an int"):
            gk.cuda.manual_seed(bad)


def test_nothing_here_imports_cupy():
    code = textwrap.dedent("""
        import sys
        import gradkit as gk
        import gradkit.backends.cudnn as cudnn
        d = gk.device("cuda")
        assert d.type == "cuda" and gk.device("cuda:1").index == 1
        gk.ones(2).to(gk.device("cpu"), non_blocking=True)
        cudnn.benchmark = True
        gk.backends.cuda.matmul.allow_tf32
        gk.get_float32_matmul_precision()
        gk.use_deterministic_algorithms(True)
        gk.cuda.synchronize()
        gk.cuda.manual_seed(1)
        gk.cuda.manual_seed_all(1)
        gk.cuda.is_bf16_supported()
        gk.cuda.set_device(-1)
        try:
            gk.cuda.set_device(1)
        except gk.DeviceError:
            pass
        gk.backends.mps.is_available()
        print("cupy" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "GRADKIT_BACKEND": "numpy"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_device_class_is_exported():
    assert gk.device is device_class is B.device
    assert gk.cuda.device_count is not None and "synchronize" in gk.cuda.__all__

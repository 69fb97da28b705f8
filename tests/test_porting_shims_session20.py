"""PyTorch porting shims (session 20): gk.utils.data, gk.load's map_location=/weights_only= and file objects,
gk.bfloat16, tril/triu's diagonal=, gk.compile, a quiet GradScaler overflow, gk.amp.custom_fwd/custom_bwd, the
top-level autocast queries, pin_memory and the memory formats, and scaled_dot_product_attention under autocast.
Where torch imports, behaviours are compared with it."""

from __future__ import annotations

import copy
import io
import os
import pickle
import warnings

import numpy as np
import pytest
from _reference import to_numpy as _np

import gradkit as gk

F = gk.nn.functional


@pytest.fixture
def cpu():
    """The tests that run autocast("cpu") beside PyTorch's: on the CPU whatever the default device."""
    with gk.device("cpu"):
        yield


def _cuda_autocast_ok(device: str) -> bool:
    return device == "cpu" or gk.cuda_available()


# ------------------------------------------------------------------ 1. gk.utils.data
def test_utils_data_is_gradkit_data():
    import gradkit.utils.data as ud
    from gradkit.utils.data import DataLoader, TensorDataset, WeightedRandomSampler, random_split

    assert DataLoader is gk.data.DataLoader and TensorDataset is gk.data.TensorDataset
    assert random_split is gk.data.random_split and WeightedRandomSampler is gk.data.WeightedRandomSampler
    assert gk.utils.data is ud
    assert set(gk.data.__all__) <= set(dir(ud)) and ud.__all__ == gk.data.__all__
    assert ud.sampler is gk.data.sampler  # submodules as attributes
    with pytest.raises(AttributeError, match="gradkit.utils.data"):
        ud.no_such_name  # noqa: B018
    ds = TensorDataset(gk.arange(10.0))
    a, b = random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3
    assert [len(x[0]) for x in DataLoader(ds, batch_size=4)] == [4, 4, 2]


def test_utils_data_names_match_torch():
    torch = pytest.importorskip("torch")
    import torch.utils.data as td

    public = {n for n in td.__all__ if not n.startswith("_") and "DataPipe" not in n and "datapipe" not in n
              and "validation" not in n and n not in ("DataChunk", "argument_validation", "non_deterministic",
                                                       "guaranteed_datapipes_determinism")}
    assert public <= set(dir(gk.utils.data)), public - set(dir(gk.utils.data))
    del torch


# ------------------------------------------------------------------ 2. gk.load / gk.save keywords and file objects
def _ckpt():
    return {"epoch": 3, "w": gk.arange(4.0), "nested": {"b": gk.ones(2, dtype=gk.float16)}, "t": (1, "x")}


def _same(a, b):
    assert a["epoch"] == b["epoch"] and a["t"] == b["t"]
    np.testing.assert_array_equal(_np(a["w"]), _np(b["w"]))
    assert a["nested"]["b"].dtype == gk.float16


@pytest.mark.parametrize("kwargs", [{"map_location": "cpu"}, {"weights_only": True}, {"weights_only": False},
                                    {"weights_only": None}, {"map_location": "cpu", "weights_only": True}])
def test_load_torch_keywords(tmp_path, kwargs):
    path = str(tmp_path / "c.pt")
    gk.save(_ckpt(), path)
    out = gk.load(path, **kwargs)
    _same(out, _ckpt())
    if "map_location" in kwargs:
        assert out["w"].device == "cpu"


def test_load_map_location_is_device(tmp_path, device):
    path = str(tmp_path / "c.pt")
    gk.save(_ckpt(), path)
    assert gk.load(path, map_location=device)["w"].device.startswith(device)
    assert gk.load(path, device)["w"].device.startswith(device)  # torch.load(f, map_location) by position


def test_load_keyword_errors(tmp_path):
    path = str(tmp_path / "c.pt")
    gk.save(_ckpt(), path)
    with pytest.raises(gk.InvalidArgumentError, match="both device=.* and map_location="):
        gk.load(path, device="cpu", map_location="cpu")
    with pytest.raises(gk.InvalidArgumentError, match="map_location as a dict is not supported.*map_location=\"cpu\""):
        gk.load(path, map_location={"cuda:0": "cpu"})
    with pytest.raises(gk.InvalidArgumentError, match="map_location as a function"):
        gk.load(path, map_location=lambda storage, loc: storage)
    with pytest.raises(gk.ArgumentTypeError, match="weights_only must be True or False"):
        gk.load(path, weights_only="yes")
    with pytest.raises(gk.DeviceError):
        gk.load(path, map_location="tpu")


def test_load_weights_only_false_still_refuses_pickles(tmp_path):
    path = tmp_path / "p.pt"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(gk.CheckpointError, match="pickle file, which gradkit never loads"):
        gk.load(str(path), weights_only=False)


def test_save_load_bytesio(device):
    with gk.device(device):
        buf = io.BytesIO()
        buf.write(b"prefix")
        assert gk.save(_ckpt(), buf) is None
        assert not buf.closed
        buf.seek(6)  # read from the position, as torch.load
        out = gk.load(buf)
        _same(out, _ckpt())
        assert out["w"].device.startswith(device)
        # two checkpoints back to back in one stream
        buf = io.BytesIO()
        gk.save({"a": gk.ones(1)}, buf)
        data = buf.getvalue()
        assert gk.load(io.BytesIO(data))["a"].tolist() == [1.0]


def test_save_load_open_binary_file(tmp_path):
    path = tmp_path / "f.pt"
    with open(path, "wb") as f:
        gk.save(_ckpt(), f)
        assert not f.closed
    with open(path, "rb") as f:
        _same(gk.load(f, map_location="cpu", weights_only=True), _ckpt())
    _same(gk.load(str(path)), _ckpt())  # a checkpoint file as a path save writes it


def test_save_file_object_errors(tmp_path):
    with open(tmp_path / "t.txt", "w") as f, pytest.raises(gk.ArgumentTypeError, match='binary mode \\("wb"\\)'):
        gk.save({"a": 1}, f)
    (tmp_path / "t.txt").write_bytes(b"abc")
    with open(tmp_path / "t.txt", encoding="latin-1") as f, pytest.raises(gk.ArgumentTypeError, match="binary mode"):
        gk.load(f)
    with pytest.raises(gk.CheckpointError, match="BytesIO.*truncated"):
        gk.load(io.BytesIO(b"abc"))

    class Broken(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            return 0

    with pytest.raises(gk.CheckpointError, match="write\\(\\) returned 0"):
        gk.save({"a": 1}, Broken())


def test_save_to_raw_file_with_short_writes():
    """A raw writer may take part of a chunk: the rest is written after it."""

    class Short(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            piece = bytes(b[:7])
            self.data += piece
            return len(piece)

    raw = Short()
    gk.save(_ckpt(), raw)
    _same(gk.load(io.BytesIO(bytes(raw.data))), _ckpt())


def test_save_path_stays_atomic(tmp_path, monkeypatch):
    """A path is still written through a temporary file: a save that fails half-way leaves the old file."""
    from gradkit.io import checkpoint

    path = str(tmp_path / "c.pt")
    gk.save({"a": gk.ones(2)}, path)
    before = open(path, "rb").read()

    def boom(f, data):
        f.write(data[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "_write_data", boom)
    with pytest.raises(KeyboardInterrupt):
        gk.save({"a": gk.zeros(2)}, path)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["c.pt"]


def test_torch_reads_gradkit_bytesio_via_safetensors():
    st = pytest.importorskip("safetensors.torch")
    buf = io.BytesIO()
    gk.save({"w": gk.arange(3.0)}, buf)
    assert st.load(buf.getvalue())["w"].tolist() == [0.0, 1.0, 2.0]


# ------------------------------------------------------------------ 3. gk.bfloat16
def test_bfloat16_name_and_table():
    table = {"float32": gk.float32, "bfloat16": gk.bfloat16, "float16": gk.float16}
    assert table["float16"] == gk.float16
    assert gk.bfloat16 == "bfloat16" and str(gk.bfloat16) == "bfloat16" and repr(gk.bfloat16) == "gradkit.bfloat16"
    assert gk.bfloat16 != gk.float16 and gk.float16 != gk.bfloat16
    assert copy.deepcopy(gk.bfloat16) is gk.bfloat16 and pickle.loads(pickle.dumps(gk.bfloat16)) is gk.bfloat16
    assert gk.amp.get_autocast_dtype("cpu") == gk.bfloat16  # PyTorch's CPU default, as torch's
    assert gk.amp.autocast_mode.BFLOAT16 is gk.bfloat16


_BF16_CALLS = {
    "zeros": lambda x: gk.zeros(2, dtype=gk.bfloat16),
    "tensor": lambda x: gk.tensor([1.0], dtype=gk.bfloat16),
    "arange": lambda x: gk.arange(3, dtype=gk.bfloat16),
    "full": lambda x: gk.full((2,), 1.0, dtype=gk.bfloat16),
    "randn": lambda x: gk.randn(2, dtype=gk.bfloat16),
    "zeros_like": lambda x: gk.zeros_like(x, dtype=gk.bfloat16),
    "to": lambda x: x.to(gk.bfloat16),
    "to(dtype=)": lambda x: x.to(dtype=gk.bfloat16),
    "astype": lambda x: x.astype(gk.bfloat16),
    "type": lambda x: x.type(gk.bfloat16),
    "bfloat16()": lambda x: x.bfloat16(),
    "sum": lambda x: x.sum(dtype=gk.bfloat16),
    "softmax": lambda x: F.softmax(x, dim=-1, dtype=gk.bfloat16),
    "Linear": lambda x: gk.nn.Linear(2, 2, dtype=gk.bfloat16),
    "Module.to": lambda x: gk.nn.Linear(2, 2).to(gk.bfloat16),
    "Module.bfloat16": lambda x: gk.nn.Linear(2, 2).bfloat16(),
    "string": lambda x: gk.zeros(2, dtype="bfloat16"),
    "finfo": lambda x: gk.finfo(gk.bfloat16),
}


@pytest.mark.parametrize("call", sorted(_BF16_CALLS))
def test_bfloat16_refused_everywhere(call):
    x = gk.ones(2, 3)
    with pytest.raises(gk.DTypeError, match="bfloat16 is not available.*gk.float16"):
        _BF16_CALLS[call](x)


def test_bfloat16_autocast():
    with pytest.raises(gk.amp.AutocastDtypeError, match="bfloat16"):
        gk.autocast("cpu", dtype=gk.bfloat16)
    with gk.autocast("cpu", dtype=gk.bfloat16, enabled=False):  # disabled: accepted, as before
        pass


def test_bfloat16_torch_object_refused():
    torch = pytest.importorskip("torch")
    with pytest.raises(gk.DTypeError, match="bfloat16 is not available"):
        gk.zeros(2, dtype=torch.bfloat16)


# ------------------------------------------------------------------ 4. tril / triu diagonal=
@pytest.mark.parametrize("fn", ["tril", "triu"])
@pytest.mark.parametrize("d", [-1, 0, 1, 2])
def test_tril_triu_diagonal(device, fn, d):
    a = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    x = gk.tensor(a, device=device, requires_grad=True)
    expect = getattr(np, fn)(a, d)
    for y in (getattr(gk, fn)(x, diagonal=d), getattr(x, fn)(diagonal=d), getattr(gk, fn)(x, d),
              getattr(gk, fn)(x, k=d)):
        np.testing.assert_array_equal(_np(y), expect)
    getattr(x, fn)(diagonal=d).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), getattr(np, fn)(np.ones_like(a), d))
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(_np(getattr(gk, fn)(x, diagonal=d)),
                                  getattr(torch, fn)(torch.tensor(a), diagonal=d).numpy())


@pytest.mark.parametrize("fn", ["tril", "triu"])
def test_tril_triu_both_names(fn):
    x = gk.ones(3, 3)
    with pytest.raises(gk.InvalidArgumentError, match=f"{fn}: got both k=1 .* and diagonal=2"):
        getattr(gk, fn)(x, 1, diagonal=2)
    with pytest.raises(gk.InvalidArgumentError, match="got both"):
        getattr(x, fn)(1, diagonal=2)
    with pytest.raises(gk.ArgumentTypeError, match="k must be an int"):
        getattr(gk, fn)(x, diagonal=1.5)
    assert getattr(gk.ones(3, 3, dtype=gk.bool), fn)(diagonal=1).dtype == gk.bool


# ------------------------------------------------------------------ 5. gk.compile
def test_compile_is_identity():
    m = gk.nn.Linear(2, 2)
    assert gk.compile(m) is m
    assert gk.compile(m, mode="max-autotune", fullgraph=True, dynamic=False, backend="inductor",
                      options={"x": 1}, disable=False) is m

    def f(x):
        return x * 2

    assert gk.compile(f) is f

    @gk.compile
    def g(x):
        return x + 1

    @gk.compile(mode="reduce-overhead")
    def h(x):
        return x + 2

    assert g(1) == 2 and h(1) == 3


def test_compile_errors_and_star_import():
    with pytest.raises(gk.ArgumentTypeError, match="unexpected keyword argument.*fulgraph"):
        gk.compile(gk.nn.Linear(2, 2), fulgraph=True)
    with pytest.raises(gk.ArgumentTypeError, match="a Module or a function"):
        gk.compile(3)
    ns: dict = {}
    exec("from gradkit import *", ns)
    assert "compile" not in ns  # the builtin compile is not hidden


# ------------------------------------------------------------------ 6. GradScaler overflow is quiet
def test_grad_scaler_overflow_is_quiet(device):
    if not _cuda_autocast_ok(device):
        pytest.skip("no GPU")
    gk.manual_seed(0)
    with gk.device(device):
        m = gk.nn.Linear(8, 8)
        opt = gk.optim.SGD(m.parameters(), lr=0.1)
        scaler = gk.amp.GradScaler(device, init_scale=2.0**40)
        before = [_np(p).copy() for p in m.parameters()]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with gk.autocast(device, dtype=gk.float16):
                loss = m(gk.ones(4, 8)).mean()  # (sum is a float32 op on "cuda")
            assert loss.dtype == gk.float16
            scaled = scaler.scale(loss)
            assert scaled.dtype == gk.float16 and not np.isfinite(_np(scaled))
            scaled.backward()
            scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
        assert scaler.get_scale() == 2.0**39
        for p, b in zip(m.parameters(), before, strict=True):  # skipped
            np.testing.assert_array_equal(_np(p), b)


def test_grad_scaler_float16_scale_still_differentiable():
    """scale() of a float16 loss is a recorded node of its own now: gradient and second order as before."""
    x = gk.tensor([0.5, 2.0], dtype=gk.float16, requires_grad=True)
    with gk.device("cpu"):
        scaler = gk.amp.GradScaler("cpu", init_scale=4.0)
        y = scaler.scale((x * x).sum())
    assert y.dtype == gk.float16 and float(y) == pytest.approx(4 * 4.25)
    (g,) = gk.autograd.grad(y, x, create_graph=True)
    assert g.dtype == gk.float16 and g.tolist() == [4.0, 16.0]
    g.sum().backward()
    assert x.grad.tolist() == [8.0, 8.0]


def test_grad_scaler_history_matches_torch_with_overflow(cpu):
    torch = pytest.importorskip("torch")

    def run(lib):
        lib.manual_seed(0)
        w = lib.tensor(np.full((4, 4), 0.5, dtype=np.float32), requires_grad=True)
        opt = lib.optim.SGD([w], lr=0.01)
        scaler = lib.amp.GradScaler("cpu", init_scale=2.0**30, growth_interval=2)
        scales = []
        for _ in range(6):
            with lib.autocast("cpu", dtype=lib.float16):
                loss = (lib.ones(2, 4) @ w).sum()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
            scales.append(scaler.get_scale())
        return scales

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ours = run(gk)
    assert ours == run(torch)


# ------------------------------------------------------------------ 7. custom_fwd / custom_bwd, autocast queries
def _mm_function(lib, cast_inputs, record):
    amp = lib.amp

    class MyMM(lib.autograd.Function):
        @staticmethod
        @amp.custom_fwd(device_type="cpu", cast_inputs=cast_inputs)
        def forward(ctx, a, b):
            record["fwd"] = (str(a.dtype), str(b.dtype), lib.is_autocast_enabled("cpu"))
            ctx.save_for_backward(a, b)
            return a.mm(b)

        @staticmethod
        @amp.custom_bwd(device_type="cpu")
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            ga, gb = grad.mm(b.t()), a.t().mm(grad)
            record["bwd"] = (str(grad.dtype), lib.is_autocast_enabled("cpu"), str(ga.dtype))
            return ga, gb

    return MyMM


def _run_mm(lib, cast_inputs, a_dtype, in_region=True):
    record: dict = {}
    fn = _mm_function(lib, cast_inputs, record)
    rng = np.random.default_rng(0)
    a = lib.tensor(rng.normal(size=(2, 3)).astype(np.float32)).to(getattr(lib, a_dtype)).requires_grad_()
    b = lib.tensor(rng.normal(size=(3, 2)).astype(np.float32), requires_grad=True)
    with lib.autocast("cpu", dtype=lib.float16, enabled=in_region):
        y = fn.apply(a, b)
    y.float().sum().backward()
    clean = {k: tuple(str(v).replace("torch.", "") for v in vals) for k, vals in record.items()}
    return (clean, str(y.dtype).replace("torch.", ""), str(a.grad.dtype).replace("torch.", ""),
            str(b.grad.dtype).replace("torch.", ""), _np(y.float().detach()))


@pytest.mark.parametrize(("cast_inputs", "a_dtype", "in_region"), [
    ("float32", "float16", True),  # cast in, forward and backward with autocast off
    (None, "float32", True),  # forward and backward under the region's autocast
    ("float32", "float32", False),  # outside a region: no-op
    (None, "float32", False),
])
def test_custom_fwd_bwd_match_torch(cast_inputs, a_dtype, in_region, cpu):
    ours = _run_mm(gk, None if cast_inputs is None else getattr(gk, cast_inputs), a_dtype, in_region)
    assert ours[2] == a_dtype and ours[3] == "float32"  # gradients in the inputs' dtypes
    if cast_inputs is not None and in_region:
        assert ours[0]["fwd"] == ("float32", "float32", "False") and ours[0]["bwd"][1] == "False"
        assert ours[1] == "float32"
    if cast_inputs is None and in_region:
        assert ours[0]["bwd"][1] == "True" and ours[1] == "float16"
    torch = pytest.importorskip("torch")
    theirs = _run_mm(torch, None if cast_inputs is None else getattr(torch, cast_inputs), a_dtype, in_region)
    assert ours[:4] == theirs[:4]
    np.testing.assert_allclose(ours[4], theirs[4], rtol=2e-3, atol=2e-3)


def test_custom_fwd_casts_nested_and_leaves_others(cpu):
    from gradkit.amp.autocast_mode import _cast_inputs

    h = gk.ones(2, dtype=gk.float16)
    d = gk.ones(2, dtype=gk.float64)
    i = gk.ones(2, dtype=gk.int64)
    out = _cast_inputs({"a": [h, (h, d)], "b": i, "c": "s"}, "cpu", gk.float32)
    assert out["a"][0].dtype == gk.float32 and out["a"][1][0].dtype == gk.float32
    assert out["a"][1][1] is d and out["b"] is i and out["c"] == "s"
    assert _cast_inputs(h, "cuda", gk.float32) is h  # another device type


def test_custom_fwd_bwd_errors_and_forms():
    with pytest.raises(ValueError, match="device_type"):
        gk.amp.custom_fwd(device_type=1)
    with pytest.raises(TypeError):
        gk.amp.custom_fwd(lambda ctx: None)  # device_type is required, as PyTorch's
    with pytest.raises(gk.DTypeError, match="bfloat16"):
        gk.amp.custom_fwd(device_type="cpu", cast_inputs=gk.bfloat16)
    with pytest.raises(gk.DTypeError, match="float dtype"):
        gk.amp.custom_fwd(device_type="cpu", cast_inputs=gk.int32)
    assert callable(gk.amp.custom_fwd(device_type="cpu", cast_inputs=gk.float32))
    assert callable(gk.amp.custom_bwd(device_type="cuda"))
    assert callable(gk.cuda.amp.custom_fwd(cast_inputs=gk.float32))
    f = gk.cuda.amp.custom_fwd(lambda ctx, x: x)
    assert f.__wrapped__ is not None

    class Ctx:
        pass

    with pytest.raises(gk.GradkitError, match="no @custom_fwd"):
        gk.amp.custom_bwd(lambda ctx, g: g, device_type="cpu")(Ctx(), 1)


def test_top_level_autocast_queries(cpu):
    assert gk.is_autocast_enabled is gk.amp.is_autocast_enabled
    assert gk.get_autocast_dtype is gk.amp.get_autocast_dtype
    assert not gk.is_autocast_enabled("cpu") and not gk.is_autocast_enabled()
    with gk.autocast("cpu", dtype=gk.float16):
        assert gk.is_autocast_enabled("cpu") and gk.get_autocast_dtype("cpu") == gk.float16
        assert not gk.is_autocast_enabled()  # "cuda" by default, as PyTorch's
    assert gk.get_autocast_dtype("cuda") == gk.float16


# ------------------------------------------------------------------ 8. pin_memory and memory formats
def test_pin_memory(device):
    x = gk.ones(2, device=device)
    if device == "cpu":
        assert x.pin_memory() is x and not x.pin_memory().is_pinned()
    else:
        with pytest.raises(gk.InvalidArgumentError, match="only CPU tensors can be pinned"):
            x.pin_memory()


def test_memory_format_constants():
    fmts = (gk.contiguous_format, gk.channels_last, gk.channels_last_3d, gk.preserve_format)
    assert all(isinstance(f, gk.memory_format) for f in fmts)
    assert [repr(f) for f in fmts] == ["gradkit.contiguous_format", "gradkit.channels_last",
                                       "gradkit.channels_last_3d", "gradkit.preserve_format"]
    assert copy.deepcopy(gk.channels_last) is gk.channels_last
    assert pickle.loads(pickle.dumps(gk.channels_last)) is gk.channels_last


def test_memory_format_accepted_and_changes_nothing(device):
    x = gk.ones(2, 3, 4, 5, device=device, requires_grad=True)
    for fmt in (gk.contiguous_format, gk.channels_last, gk.preserve_format):
        y = x.contiguous(memory_format=fmt)
        assert y is x  # one layout: already C-ordered
        assert x.to(memory_format=fmt) is x
        assert x.to(gk.float64, memory_format=fmt).dtype == gk.float64
    assert x.is_contiguous(memory_format=gk.contiguous_format)
    assert not x.is_contiguous(memory_format=gk.channels_last)  # NCHW in memory, as torch's before a conversion
    assert not x.is_contiguous(memory_format=gk.channels_last_3d)
    nhwc = gk.ones(2, 4, 5, 3, device=device).permute(0, 3, 1, 2)  # an NHWC array seen as NCHW
    assert nhwc.is_contiguous(memory_format=gk.channels_last) and not nhwc.is_contiguous()
    assert gk.ones(2, 1, 4, 5, device=device).is_contiguous(memory_format=gk.channels_last)  # can't be told apart
    v = gk.ones(1, 2, 3, 4, 5, device=device)
    assert v.contiguous(memory_format=gk.channels_last_3d) is v
    m = gk.nn.Conv2d(3, 4, 3).to(device)
    assert m.to(memory_format=gk.channels_last) is m
    assert gk.nn.Linear(2, 2).to(memory_format=gk.channels_last) is not None  # torch skips non-4-d tensors


def test_memory_format_errors():
    x = gk.ones(2, 3)
    with pytest.raises(gk.ShapeError, match="required rank 4 tensor to use channels_last format"):
        x.contiguous(memory_format=gk.channels_last)
    with pytest.raises(gk.ShapeError, match="required rank 4"):
        x.to(memory_format=gk.channels_last)
    with pytest.raises(gk.ShapeError, match="required rank 5 tensor to use channels_last_3d"):
        gk.ones(1, 2, 3, 4).contiguous(memory_format=gk.channels_last_3d)
    for bad in (1, "channels_first", gk.float32):
        for call in (lambda b: x.contiguous(memory_format=b), lambda b: x.to(memory_format=b),
                     lambda b: x.is_contiguous(memory_format=b), lambda b: gk.nn.Linear(2, 2).to(memory_format=b)):
            with pytest.raises(gk.ArgumentTypeError, match="memory_format must be"):
                call(bad)
    assert not x.is_contiguous(memory_format=gk.channels_last)  # not 4-d: False, as torch's


def test_memory_format_matches_torch():
    torch = pytest.importorskip("torch")
    shapes = [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3), (1, 2, 3, 4, 5)]
    for shape in shapes:
        for name in ("contiguous_format", "channels_last", "channels_last_3d", "preserve_format"):
            t = torch.ones(*shape)
            g = gk.ones(*shape)
            assert g.is_contiguous(memory_format=getattr(gk, name)) == t.is_contiguous(
                memory_format=getattr(torch, name)), (shape, name)
            try:
                t.contiguous(memory_format=getattr(torch, name))
                ok = True
            except RuntimeError:
                ok = False
            if ok:
                g.contiguous(memory_format=getattr(gk, name))
            else:
                with pytest.raises(gk.ShapeError):
                    g.contiguous(memory_format=getattr(gk, name))


# ------------------------------------------------------------------ 9. scaled_dot_product_attention under autocast
@pytest.mark.parametrize("kind", ["causal", "bool_mask", "float_mask", "plain", "mixed"])
def test_sdpa_autocast_dtype(device, kind):
    if not _cuda_autocast_ok(device):
        pytest.skip("no GPU")
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(2, 2, 5, 4)).astype(np.float32) for _ in range(3)]
    q, k, v = (gk.tensor(a, device=device, requires_grad=True) for a in arrays)
    kw = {}
    if kind == "causal":
        kw["is_causal"] = True
    elif kind == "bool_mask":
        kw["attn_mask"] = gk.tril(gk.ones(5, 5, dtype=gk.bool, device=device))
    elif kind == "float_mask":
        kw["attn_mask"] = gk.zeros(5, 5, device=device)
    k_in = k.half() if kind == "mixed" else k
    with gk.autocast(device, dtype=gk.float16):
        out = F.scaled_dot_product_attention(q, k_in, v, **kw)
    assert out.dtype == gk.float16
    out.float().sum().backward()
    assert q.grad.dtype == gk.float32 and k.grad.dtype == gk.float32 and v.grad.dtype == gk.float32
    # the same as calling it on float16 operands outside the region
    plain = F.scaled_dot_product_attention(q.detach().half(), k.detach().half(), v.detach().half(), **kw)
    np.testing.assert_array_equal(_np(out.detach()), _np(plain))
    # float64 is left alone; off outside a region
    with gk.autocast(device, dtype=gk.float16):
        assert F.scaled_dot_product_attention(q.double(), k.double(), v.double()).dtype == gk.float64
    assert F.scaled_dot_product_attention(q, k, v).dtype == gk.float32


def test_sdpa_autocast_matches_torch(cpu):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(2, 2, 5, 4)).astype(np.float32) for _ in range(3)]
    for kw in ({"is_causal": True}, {}):
        with gk.autocast("cpu", dtype=gk.float16):
            g = F.scaled_dot_product_attention(*(gk.tensor(a) for a in arrays), **kw)
        with torch.autocast("cpu", dtype=torch.float16):
            t = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(a) for a in arrays), **kw)
        assert str(t.dtype) == f"torch.{g.dtype}"
        np.testing.assert_allclose(_np(g).astype(np.float32), t.float().numpy(), atol=3e-3)

"""gk.save / gk.load: safetensors checkpoints, round trips, bad files, atomic writes."""

from __future__ import annotations

import json
import math
import os
import pickle
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gradkit as gk
from gradkit.io import MissingDependencyError, checkpoint

pytest.importorskip("safetensors", reason="gk.save/gk.load need the optional safetensors package")
import safetensors.numpy  # noqa: E402

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def _sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(0)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith("float"):
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, 100, shape).astype(dtype)


def _assert_same(a, b, where="obj"):
    """Exact equality of two checkpoint structures, types included (tensors compared by value)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, gk.Tensor):
        assert a.shape == b.shape and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=where)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _optimizer_like_state(device: str) -> dict:
    """The shape of a PyTorch-style optimiser state_dict, plus a model state dict and extras."""
    return {
        "model": {
            "0.weight": gk.randn(4, 3, device=device),
            "0.bias": gk.zeros(4, device=device),
            "2.weight": gk.randn(2, 4, dtype="float64", device=device),
        },
        "optimizer": {
            "state": {
                0: {"step": 7, "exp_avg": gk.ones(4, 3, device=device), "exp_avg_sq": gk.full((4, 3), 0.25)},
                1: {"step": gk.tensor(7.0, device=device), "exp_avg": gk.zeros(4, device=device)},
            },
            "param_groups": [
                {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False,
                 "params": [0, 1]},
                {"lr": 0.1, "betas": (0.5, 0.75), "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": True,
                 "params": [2], "name": None},
            ],
        },
        "epoch": 3,
        "seed": 1234,
        "rng": {"bit_generator": "PCG64", "state": {"state": 2**127 + 12345, "inc": 2**100 + 1}},
        "config": {"hidden": [256, 128], "optimizer": "adam", "tag": "run-ü", "nan": float("nan"),
                   "inf": float("-inf"), "tiny": 5e-324},
        "history": [0.5, 0.25, 0.125],
        "host_array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "np_scalar": np.float32(0.1),
        "empty": {},
        "empty_list": [],
    }


# ------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_dtype(device, tmp_path, dtype):
    path = tmp_path / "t.safetensors"
    sd = {"a": gk.tensor(_sample(dtype, (3, 5)), device=device), "scalar": gk.tensor(_sample(dtype, ()), device=device)}
    gk.save(sd, path)
    out = gk.load(path, device=device)
    for name in sd:
        assert out[name].device == gk.tensor(0, device=device).device
        assert out[name].dtype == np.dtype(dtype)
        assert out[name].shape == sd[name].shape
        np.testing.assert_array_equal(out[name].numpy(), sd[name].numpy())


def test_optimizer_state_dict_round_trips_exactly(device, tmp_path):
    sd = _optimizer_like_state(device)
    gk.save(sd, tmp_path / "ckpt.safetensors")
    out = gk.load(tmp_path / "ckpt.safetensors", device=device)
    _assert_same(sd, out)
    assert set(out["optimizer"]["state"]) == {0, 1}  # int keys stay ints
    assert isinstance(out["optimizer"]["param_groups"][0]["betas"], tuple)


def test_cross_backend(device, tmp_path):
    """Saved on ``device``, loaded on the CPU, and saved on the CPU, loaded on ``device``."""
    sd = _optimizer_like_state(device)
    gk.save(sd, tmp_path / "a.safetensors")
    on_cpu = gk.load(tmp_path / "a.safetensors", device="cpu")
    assert on_cpu["model"]["0.weight"].device == "cpu"
    _assert_same(sd, on_cpu)
    gk.save(on_cpu, tmp_path / "b.safetensors")
    back = gk.load(tmp_path / "b.safetensors", device=device)
    assert back["model"]["0.weight"].device == gk.zeros(1, device=device).device
    _assert_same(sd, back)


def test_load_uses_default_device(tmp_path):
    gk.save({"w": gk.ones(2, device="cpu")}, tmp_path / "w.safetensors")
    with gk.device("cpu"):
        assert gk.load(tmp_path / "w.safetensors")["w"].device == "cpu"


def test_loaded_tensors_are_independent_and_writable(tmp_path):
    gk.save({"w": gk.ones(3)}, tmp_path / "w.safetensors")
    w = gk.load(tmp_path / "w.safetensors", device="cpu")["w"]
    w.data[0] = 5.0  # must not raise (read-only buffer) and must not touch the file
    assert gk.load(tmp_path / "w.safetensors", device="cpu")["w"].tolist() == [1.0, 1.0, 1.0]


def test_file_is_plain_safetensors_with_dotted_names(tmp_path):
    sd = _optimizer_like_state("cpu")
    path = tmp_path / "ckpt.safetensors"
    gk.save(sd, path)
    with safetensors.safe_open(str(path), framework="numpy") as f:
        names = set(f.keys())
        assert f.get_tensor("model.0.weight").dtype == np.float32
        assert f.get_tensor("model.2.weight").dtype == np.float64
        metadata = f.metadata()
    assert {"model.0.weight", "model.0.bias", "model.2.weight", "optimizer.state.0.exp_avg",
            "optimizer.state.0.exp_avg_sq", "optimizer.state.1.step", "optimizer.state.1.exp_avg",
            "host_array"} == names
    assert metadata[checkpoint.FORMAT_KEY] == checkpoint.FORMAT_VERSION
    json.loads(metadata[checkpoint.STRUCTURE_KEY])  # plain JSON


def test_pytorch_reads_the_weights(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch not installed")
    from safetensors.torch import load_file

    w = gk.randn(4, 3)
    gk.save({"model": {"0.weight": w}}, tmp_path / "m.safetensors")
    loaded = load_file(str(tmp_path / "m.safetensors"))
    assert loaded["model.0.weight"].dtype == torch.float32
    np.testing.assert_array_equal(loaded["model.0.weight"].numpy(), w.numpy())


def test_foreign_safetensors_file_loads_as_flat_dict(tmp_path):
    path = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"encoder.layer.0.weight": np.ones((2, 2), np.float32),
                                 "head": np.arange(3, dtype=np.int64)}, str(path), metadata={"format": "pt"})
    out = gk.load(path, device="cpu")
    assert set(out) == {"encoder.layer.0.weight", "head"}
    assert isinstance(out["head"], gk.Tensor) and out["head"].tolist() == [0, 1, 2]
    safetensors.numpy.save_file({"x": np.zeros(1, np.float32)}, str(path))  # no metadata at all
    assert gk.load(path, device="cpu")["x"].tolist() == [0.0]


def test_save_a_bare_tensor_and_a_list(tmp_path):
    gk.save(gk.arange(3), tmp_path / "t.safetensors")
    assert gk.load(tmp_path / "t.safetensors", device="cpu").tolist() == [0, 1, 2]
    gk.save([gk.ones(1), 2, "x"], tmp_path / "l.safetensors")
    _assert_same([gk.ones(1), 2, "x"], gk.load(tmp_path / "l.safetensors", device="cpu"))


def test_objects_with_state_dict_are_saved_through_it(tmp_path):
    class Holder:
        def state_dict(self):
            return {"w": gk.ones(2), "step": 4}

    gk.save(Holder(), tmp_path / "h.safetensors")
    _assert_same({"w": gk.ones(2), "step": 4}, gk.load(tmp_path / "h.safetensors", device="cpu"))


# ---------------------------------------------------------- what save refuses
def test_save_rejects_unsupported_values(tmp_path):
    with pytest.raises(gk.ArgumentTypeError, match=r"obj\['f'\].*function"):
        gk.save({"f": lambda: 0}, tmp_path / "x.safetensors")
    with pytest.raises(gk.ArgumentTypeError, match="keys must be str or int"):
        gk.save({(1, 2): 3}, tmp_path / "x.safetensors")
    with pytest.raises(gk.InvalidArgumentError, match="'a.b'"):
        gk.save({"a.b": gk.ones(1), "a": {"b": gk.zeros(1)}}, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file left


def test_save_into_missing_folder_is_a_checkpoint_error(tmp_path):
    with pytest.raises(gk.CheckpointError, match="no_such_dir"):
        gk.save({"w": gk.ones(1)}, tmp_path / "no_such_dir" / "x.safetensors")


def test_missing_safetensors_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(MissingDependencyError, match=r"safetensors.*pip install"):
        gk.save({"w": gk.ones(1)}, tmp_path / "x.safetensors")
    with pytest.raises(ImportError, match="safetensors"):
        gk.load(tmp_path / "x.safetensors")


# --------------------------------------------------------------- bad files
@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.safetensors"
    gk.save(_optimizer_like_state("cpu"), path)
    return path


@pytest.mark.parametrize("keep", [0, 4, 8, 20, "half_header", "half", "all_but_one"])
def test_truncated_file(good_file, tmp_path, keep):
    data = good_file.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    keep = {"half_header": 8 + n // 2, "half": len(data) // 2, "all_but_one": len(data) - 1}.get(keep, keep)
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(data[:keep])
    with pytest.raises(gk.CheckpointError, match="truncated.safetensors") as info:
        gk.load(bad)
    assert str(bad) in str(info.value)


def test_random_bytes(tmp_path):
    bad = tmp_path / "random.bin"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(gk.CheckpointError, match="random.bin.*not a safetensors file"):
        gk.load(bad)


def test_random_bytes_with_plausible_header_length(tmp_path):
    bad = tmp_path / "random2.bin"
    bad.write_bytes(struct.pack("<Q", 64) + bytes(range(200)))
    with pytest.raises(gk.CheckpointError, match="random2.bin.*not valid JSON"):
        gk.load(bad)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def test_pickle_is_rejected_and_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    _Evil.marker = marker
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps({"w": _Evil()}, protocol=4))

    def refuse(*args, **kwargs):
        raise AssertionError("gk.load called pickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    with pytest.raises(gk.CheckpointError, match="evil.pkl.*pickle"):
        gk.load(bad)
    assert not marker.exists()


def test_zip_archive_is_rejected(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(gk.CheckpointError, match="model.pt.*zip"):
        gk.load(bad)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(gk.CheckpointError, match="nope.safetensors.*no such file"):
        gk.load(tmp_path / "nope.safetensors")
    with pytest.raises(gk.CheckpointError, match="folder"):
        gk.load(tmp_path)


def _with_metadata(path, tensors, structure):
    metadata = {checkpoint.FORMAT_KEY: "1", checkpoint.STRUCTURE_KEY: structure}
    safetensors.numpy.save_file(tensors, str(path), metadata=metadata)


def test_metadata_naming_a_missing_tensor(tmp_path):
    path = tmp_path / "m.safetensors"
    _with_metadata(path, {"a": np.ones(1, np.float32)},
                   json.dumps({"__dict__": [["a", {"__tensor__": "a"}], ["b", {"__tensor__": "b"}]]}))
    with pytest.raises(gk.CheckpointError, match=r"m.safetensors.*'b'.*missing"):
        gk.load(path)


def test_metadata_not_naming_a_tensor(tmp_path):
    path = tmp_path / "m.safetensors"
    _with_metadata(path, {"a": np.ones(1, np.float32), "extra": np.ones(1, np.float32)},
                   json.dumps({"__dict__": [["a", {"__tensor__": "a"}]]}))
    with pytest.raises(gk.CheckpointError, match="extra"):
        gk.load(path)


@pytest.mark.parametrize("structure", ["{not json", json.dumps({"__bogus__": 1}),
                                       json.dumps({"__dict__": [["a"]]})])
def test_corrupt_metadata(tmp_path, structure):
    path = tmp_path / "m.safetensors"
    _with_metadata(path, {"a": np.ones(1, np.float32)}, structure)
    with pytest.raises(gk.CheckpointError, match="m.safetensors"):
        gk.load(path)


def test_corrupt_tensor_offsets(good_file, tmp_path):
    """A header whose offsets do not cover the data: safetensors' own check, reported as CheckpointError."""
    data = good_file.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"][1] += 4
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    bad = tmp_path / "offsets.safetensors"
    bad.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
    with pytest.raises(gk.CheckpointError, match="offsets.safetensors"):
        gk.load(bad)


# ------------------------------------------------------------ atomic writes
def test_overwrite_replaces_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "c.safetensors"
    gk.save({"w": gk.ones(2)}, path)
    gk.save({"w": gk.zeros(3)}, path)
    assert gk.load(path, device="cpu")["w"].tolist() == [0.0, 0.0, 0.0]
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    gk.save({"w": gk.ones(2)}, path)

    def disk_full(f, data):
        f.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "_write_data", disk_full)
    with pytest.raises(gk.CheckpointError, match="No space left"):
        gk.save({"w": gk.zeros(100)}, path)
    assert gk.load(path, device="cpu")["w"].tolist() == [1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


def test_keyboard_interrupt_during_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    gk.save({"w": gk.ones(2)}, path)

    def interrupted(f, data):
        f.write(data[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "_write_data", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gk.save({"w": gk.zeros(100)}, path)
    assert gk.load(path, device="cpu")["w"].tolist() == [1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import gradkit as gk
    from gradkit.io import checkpoint

    def write_half_then_hang(f, data):
        f.write(memoryview(data)[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        print("PAUSED", flush=True)
        time.sleep(600)

    checkpoint._write_data = write_half_then_hang
    gk.save({"w": gk.tensor(np.full(1_000_000, 2.0, np.float32), device="cpu"), "epoch": 2}, sys.argv[1])
    print("NOT REACHED", flush=True)
    """
)


def test_process_killed_mid_save_leaves_previous_checkpoint(tmp_path):
    """A 4 MB save is stopped half-way (deterministically) and the process SIGKILLed."""
    path = tmp_path / "ckpt.safetensors"
    gk.save({"w": gk.ones(4), "epoch": 1}, path)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "GRADKIT_BACKEND": "numpy"})
    try:
        line = child.stdout.readline()
        assert line.startswith("PAUSED"), line
        temps = [p for p in tmp_path.iterdir() if p.name != "ckpt.safetensors"]
        assert len(temps) == 1 and temps[0].name.startswith(".ckpt.safetensors.")  # same folder: atomic rename
        assert temps[0].stat().st_size > 1_900_000  # half of the new file is on disk
    finally:
        child.kill()
        child.wait(timeout=30)
    old = gk.load(path, device="cpu")
    assert old["epoch"] == 1 and old["w"].tolist() == [1.0] * 4
    gk.save({"w": gk.zeros(2), "epoch": 3}, path)  # the stale temp file does not get in the way
    assert gk.load(path, device="cpu")["epoch"] == 3


# ------------------------------------------------ with gk.nn and gk.optim
def _trained(device: str, optimizer: str = "Adam"):
    from gradkit import nn, optim

    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
    opt = getattr(optim, optimizer)(model.parameters(), lr=0.01)
    x, y = gk.randn(16, 5, device=device), gk.tensor(np.arange(16) % 3, device=device)
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_model_and_optimizer_state_dicts_round_trip(device, tmp_path, optimizer):
    from gradkit import nn, optim

    model, opt = _trained(device, optimizer)
    path = tmp_path / "ckpt.safetensors"
    gk.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    for load_device in ("cpu", device):  # back on the same backend, and across backends
        state = gk.load(path, device=load_device)
        _assert_same(opt.state_dict(), state["optimizer"], "optimizer")
        _assert_same(model.state_dict(), state["model"], "model")
        fresh = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
        fresh.load_state_dict(state["model"])
        fresh_opt = getattr(optim, optimizer)(fresh.parameters(), lr=0.5)
        fresh_opt.load_state_dict(state["optimizer"])
        _assert_same(opt.state_dict(), fresh_opt.state_dict(), "optimizer after load_state_dict")
        x = gk.randn(4, 5, device=device)
        np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())


def test_save_a_module_directly(tmp_path):
    model, _ = _trained("cpu")
    gk.save(model, tmp_path / "m.safetensors")
    loaded = gk.load(tmp_path / "m.safetensors", device="cpu")
    assert set(loaded) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    _assert_same(model.state_dict(), loaded)


@pytest.mark.parametrize("damage", ["missing", "shape"])
def test_checkpoint_that_does_not_fit_the_model(tmp_path, damage):
    """nn's load_state_dict refuses it with a gradkit error naming the key (the trainer reports CheckpointError)."""
    from gradkit import nn

    model, _ = _trained("cpu")
    sd = model.state_dict()
    if damage == "missing":
        del sd["2.bias"]
    else:
        sd["2.bias"] = gk.zeros(4)
    gk.save(sd, tmp_path / "m.safetensors")
    target = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(gk.GradkitError, match="2.bias"):
        target.load_state_dict(gk.load(tmp_path / "m.safetensors", device="cpu"), strict=True)


def test_save_refuses_the_reserved_name_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "ck.safetensors"
    gk.save({"a": gk.ones(2)}, path)
    with pytest.raises(gk.GradkitError, match="__metadata__"):
        gk.save({"__metadata__": gk.ones(2)}, path)
    with pytest.raises(gk.GradkitError, match="dtype <U1"):
        gk.save({"s": np.array(["x"])}, path)
    np.testing.assert_array_equal(gk.load(path)["a"].numpy(), [1.0, 1.0])


def test_save_and_load_want_a_path():
    with pytest.raises(gk.GradkitError, match="save: the path"):
        gk.save({"a": gk.ones(1)}, None)
    with pytest.raises(gk.GradkitError, match="load: the path"):
        gk.load(None)

"""gk.save / gk.load: file modes kept, long names, foreign dtypes, bad scalars and the format version."""

from __future__ import annotations

import json
import os
import stat
import struct
import sys

import numpy as np
import pytest

import gradkit as gk
from gradkit.io import checkpoint

pytest.importorskip("safetensors", reason="gk.save/gk.load need the optional safetensors package")
import safetensors.numpy  # noqa: E402

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


@posix_only
def test_saving_over_a_file_keeps_its_mode(tmp_path):
    path = tmp_path / "private.st"
    gk.save({"a": gk.ones(2)}, path)
    os.chmod(path, 0o600)
    gk.save({"a": gk.zeros(2)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o640)
    gk.save({"a": gk.ones(2)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    np.testing.assert_array_equal(gk.load(path)["a"].numpy(), np.ones(2, np.float32))


def test_a_file_name_near_the_limit_can_be_saved(tmp_path):
    path = tmp_path / ("x" * 240)
    try:
        path.write_bytes(b"")
    except OSError:
        pytest.skip("this file system refuses 240-character names")
    gk.save({"a": 1}, path)
    assert gk.load(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_numpy_scalars_wider_than_8_bytes_are_refused(tmp_path):
    with pytest.raises(gk.ArgumentTypeError, match=r"save: cannot store obj\['a'\] of NumPy type"):
        gk.save({"a": np.longdouble(2)}, tmp_path / "s.st")
    with pytest.raises(gk.ArgumentTypeError, match="NumPy type complex"):
        gk.save({"a": np.complex64(1)}, tmp_path / "s.st")


def _write(path, arrays, structure=None, fmt=checkpoint.FORMAT_VERSION):
    metadata = {}
    if fmt is not None:
        metadata[checkpoint.FORMAT_KEY] = fmt
    if structure is not None:
        metadata[checkpoint.STRUCTURE_KEY] = json.dumps(structure)
    path.write_bytes(safetensors.numpy.save(arrays, metadata=metadata or None))
    return path


@pytest.mark.parametrize("scalar", [
    {"__scalar__": "|i1", "value": 1000},
    {"__scalar__": "<u2", "value": -1},
    {"__scalar__": "<f8", "value": [1, 2]},
    {"__scalar__": "|O", "value": "x"},
    {"__scalar__": "<M8[s]", "value": 5},
    {"__scalar__": "<c8", "value": 1},
])
def test_a_bad_scalar_in_the_metadata_is_a_checkpoint_error(tmp_path, scalar):
    path = _write(tmp_path / "m.st", {}, {"__dict__": [["a", scalar]]})
    with pytest.raises(gk.CheckpointError, match="corrupt gradkit metadata: bad scalar"):
        gk.load(path)


def _raw(path, entries):
    """A safetensors file written by hand: ``entries`` maps names to (dtype code, shape, bytes)."""
    header, data = {}, b""
    for name, (code, shape, raw) in entries.items():
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.mark.parametrize(("code", "full"), [("BF16", "bfloat16"), ("F8_E4M3", "float8_e4m3fn"),
                                            ("F8_E5M2", "float8_e5m2")])
def test_a_dtype_numpy_lacks_names_the_tensor_and_what_to_do(tmp_path, code, full):
    size = 1 if code.startswith("F8") else 2
    path = _raw(tmp_path / "f.st", {"w": ("F32", (2,), b"\0" * 8), "b": (code, (2,), b"\0" * (2 * size))})
    with pytest.raises(gk.CheckpointError, match=rf"tensor 'b' has dtype {code} \({full}\).*float32.*t\.float\(\)"):
        gk.load(path)


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64", "complex64"])
def test_a_foreign_tensor_of_a_dtype_gradkit_lacks_is_refused(tmp_path, dtype):
    path = _write(tmp_path / "f.st", {"ok": np.ones(2, np.float32), "w": np.ones(3, dtype)}, fmt=None)
    with pytest.raises(gk.CheckpointError, match=rf"tensor 'w' has dtype {dtype}.*one of bool, float16"):
        gk.load(path)


def test_gradkit_metadata_naming_a_tensor_of_a_dtype_gradkit_lacks_is_refused(tmp_path):
    path = _write(tmp_path / "g.st", {"w": np.ones(3, np.uint16)}, {"__tensor__": "w"})
    with pytest.raises(gk.CheckpointError, match="tensor 'w' has dtype uint16"):
        gk.load(path)
    # a NumPy array of that dtype (what gk.save writes for one) comes back as it was
    gk.save({"a": np.arange(3, dtype=np.uint16)}, tmp_path / "n.st")
    back = gk.load(tmp_path / "n.st")["a"]
    assert isinstance(back, np.ndarray) and back.dtype == np.uint16


def test_a_newer_format_version_is_refused_and_a_missing_one_loads(tmp_path):
    path = _write(tmp_path / "v.st", {"a": np.ones(2, np.float32)}, {"__tensor__": "a"}, fmt="2")
    with pytest.raises(gk.CheckpointError, match="format version '2', but this gradkit reads version '1'"):
        gk.load(path)
    path = _write(tmp_path / "old.st", {"a": np.ones(2, np.float32)}, {"__tensor__": "a"}, fmt=None)
    np.testing.assert_array_equal(gk.load(path).numpy(), np.ones(2, np.float32))
    path = _write(tmp_path / "plain.st", {"a": np.ones(2, np.float32)}, fmt=None)
    assert list(gk.load(path)) == ["a"]

"""Checkpoints in the safetensors format: ``gk.save(obj, path)`` and ``gk.load(path, device=None)``.

File layout (a plain safetensors file, readable by ``safetensors.torch.load_file``):

- every tensor (and NumPy array) in ``obj`` is stored as a safetensors tensor
  under its dotted name: ``{"model": {"0.weight": w}}`` -> ``"model.0.weight"``;
- everything else (the nesting, int dictionary keys, tuples, step counts,
  hyperparameters, strings) is kept as JSON in the header's ``__metadata__``
  under ``"gradkit.structure"``, so ``load(save(x))`` gives back ``x``'s exact
  structure with tensors where it had tensors.

Nothing is ever unpickled: the header is JSON and the tensors are raw bytes.
A file is written to a temporary file in the same folder, flushed, fsynced
and renamed over the target (``os.replace``), so a crash mid-save leaves the
previous checkpoint as it was. A binary file object (``io.BytesIO``, a file
opened with ``"wb"`` / ``"rb"``) is written or read directly, at its current
position, as ``torch.save`` / ``torch.load`` do; it is neither closed nor
renamed (the caller owns it). A load reads one checkpoint and stops at its end,
so checkpoints saved one after another into a file object load one after another.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradkit._args import flag, path_arg
from gradkit.backends import get_backend
from gradkit.dtypes import _SUPPORTED, is_supported
from gradkit.errors import ArgumentTypeError, CheckpointError, InvalidArgumentError
from gradkit.io.optional import require
from gradkit.tensor import Tensor

FORMAT_KEY = "gradkit.format"
STRUCTURE_KEY = "gradkit.structure"
FORMAT_VERSION = "1"

# Tags of the JSON structure. Plain JSON values (str, int, float, bool, None, lists) stand for themselves.
_TENSOR, _NDARRAY, _DICT, _TUPLE, _SCALAR = "__tensor__", "__ndarray__", "__dict__", "__tuple__", "__scalar__"

_MAX_HEADER = 100 * 1024 * 1024  # the limit safetensors itself applies


def _safetensors() -> Any:
    require("safetensors", "gk.save / gk.load (checkpoints in the safetensors format)")
    return require("safetensors.numpy", "gk.save / gk.load", "safetensors")


# ------------------------------------------------------------------ saving
#: How deeply a saved object may nest (dicts, lists, tuples); deeper is refused, e.g. a cycle.
_MAX_DEPTH = 100


def _flatten(obj: Any) -> tuple[dict[str, np.ndarray], Any]:
    """Split ``obj`` into named host arrays and a JSON-able structure that refers to them by name."""
    arrays: dict[str, np.ndarray] = {}
    owners: dict[str, str] = {}

    def add(array: np.ndarray, name: str, where: str) -> str:
        name = name or "_"
        if name == "__metadata__":  # the safetensors header's own entry: the file would not load
            raise InvalidArgumentError(f"save: {where} would be stored as '__metadata__', a name the format reserves")
        if array.dtype.kind not in "biuf" or array.dtype.itemsize > 8:
            raise ArgumentTypeError(f"save: cannot store {where}: arrays of dtype {array.dtype} are not supported")
        if name in arrays:
            raise InvalidArgumentError(
                f"save: {where} and {owners[name]} would both be stored as {name!r}; "
                "rename a key (keys containing '.' can clash with nested names)"
            )
        arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")  # keeps 0-d shapes
        owners[name] = where
        return name

    def walk(value: Any, name: str, where: str, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise InvalidArgumentError(f"save: {where[:80]}... nests more than {_MAX_DEPTH} levels deep (a cycle?)")
        if isinstance(value, Tensor):
            return {_TENSOR: add(value._backend.to_numpy(value._data), name, where)}
        if isinstance(value, np.ndarray):
            return {_NDARRAY: add(value, name, where)}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, np.generic):
            if value.dtype.kind not in "biuf" or value.dtype.itemsize > 8:
                raise ArgumentTypeError(f"save: cannot store {where} of NumPy type {value.dtype}")
            return {_SCALAR: value.dtype.str, "value": value.item()}
        if isinstance(value, Mapping):
            items = []
            for key, item in value.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise ArgumentTypeError(
                        f"save: dictionary keys must be str or int, got {type(key).__name__} {key!r} in {where}"
                    )
                child = f"{name}.{key}" if name else str(key)
                items.append([key, walk(item, child, f"{where}[{key!r}]", depth + 1)])
            return {_DICT: items}
        if isinstance(value, (list, tuple)):
            items = [walk(item, f"{name}.{i}" if name else str(i), f"{where}[{i}]", depth + 1)
                     for i, item in enumerate(value)]
            return {_TUPLE: items} if isinstance(value, tuple) else items
        raise ArgumentTypeError(
            f"save: cannot store {where} of type {type(value).__name__}; a checkpoint holds tensors, "
            "NumPy arrays, numbers, strings, None, and dicts/lists/tuples of them"
        )

    if not isinstance(obj, Mapping) and hasattr(obj, "state_dict"):
        obj = obj.state_dict()  # a Module or an optimiser
    structure = walk(obj, "", "obj")
    return arrays, structure


def _write_data(f: Any, data: bytes) -> None:
    """Write ``data`` in chunks (a separate function so that tests can interrupt a save half-way)."""
    view = memoryview(data)
    chunk = 1 << 24
    for start in range(0, len(view), chunk):
        f.write(view[start : start + chunk])


def _atomic_write(path: str, data: bytes) -> None:
    target = os.path.realpath(path)  # through a symbolic link, as PyTorch's save: the link stays
    folder, base = os.path.split(target)
    if os.path.isdir(target):
        raise CheckpointError(f"save: {path!r} is a folder, not a file name")
    # At most 56 characters: a target name near the file system's limit (255 bytes) still gets a temp file
    tmp = os.path.join(folder, f".{base[:32]}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise CheckpointError(f"save: cannot write a checkpoint in {folder!r}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            _write_data(f, data)
            f.flush()
            os.fsync(f.fileno())
        _keep_mode(target, tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise CheckpointError(f"save: writing {path!r} failed: {exc.strerror or exc}") from exc
        raise
    _fsync_folder(folder)


def _keep_mode(target: str, tmp: str) -> None:
    """Give ``tmp`` the permission bits (and, where allowed, the owner and group) of the file it replaces."""
    try:
        st = os.stat(target)
    except OSError:  # no file yet: the new one gets the umask's mode, as open() would give it
        return
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    if hasattr(os, "chown"):
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:  # only the superuser may give a file away; the group may still be settable
            try:
                os.chown(tmp, -1, st.st_gid)
            except OSError:
                pass


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _is_file(f: Any, method: str) -> bool:
    """Whether ``f`` is a file object (has ``method``, "read" or "write") rather than a path."""
    return not isinstance(f, (str, bytes, os.PathLike)) and callable(getattr(f, method, None))


def _file_name(f: Any) -> str:
    """How errors name a file object: its ``name`` (an open file's path) or its type."""
    name = getattr(f, "name", None)
    return f"<{type(f).__name__} {name!r}>" if isinstance(name, (str, bytes)) else f"<{type(f).__name__}>"


def _write_file(f: Any, data: bytes) -> None:
    """Write ``data`` to the binary file object ``f`` at its position (a raw file may take part of a chunk).

    A write that fails part-way raises ``CheckpointError`` saying how many bytes had been written: those stay
    in the file object (the caller's; gradkit neither rewinds nor truncates it), an incomplete checkpoint that
    ``gk.load`` refuses as truncated, as ``torch.save`` leaves its own."""
    where = _file_name(f)
    if getattr(f, "closed", False) is True:
        raise CheckpointError(f"save: {where} is closed")
    view = memoryview(data)
    chunk = 1 << 24
    pos = 0

    def failed(why: Any) -> CheckpointError:
        done = f" after {pos} of {len(view)} bytes (they stay in it: an incomplete checkpoint)" if pos else ""
        return CheckpointError(f"save: writing to {where} failed{done}: {why}")

    try:
        while pos < len(view):
            part = view[pos : pos + chunk]
            n = f.write(part)
            if n is not None and not (isinstance(n, int) and 0 < n <= len(part)):  # None: it wrote it all
                raise failed(f"write() returned {n!r:.40}")
            pos += len(part) if n is None else n
    except TypeError as exc:
        raise ArgumentTypeError(
            f"save: cannot write bytes to {where} ({exc}); open the file in binary mode (\"wb\")"
        ) from None
    except OSError as exc:
        raise failed(exc.strerror or exc) from exc
    except ValueError as exc:  # a closed file ("write to closed file"); CheckpointError is a ValueError too
        if isinstance(exc, CheckpointError):
            raise
        raise failed(exc) from exc


def save(obj: Any, f: Any) -> None:
    """Save a state dict (tensors, nested dicts/lists, numbers, strings) to ``f`` as safetensors.

    ``f`` is a path (str or os.PathLike) or a binary file object (``io.BytesIO``, ``open(path, "wb")``), as
    ``torch.save``'s. Tensors are stored under their dotted names (``"model.0.weight"``) as
    plain dtypes, so ``safetensors.torch.load_file`` reads them too; the rest
    of ``obj`` goes into the header metadata as JSON. A Module or optimiser
    is saved through its ``state_dict()``. Writing to a path is atomic (the previous file stays whole until
    the new one is complete); a file object is written at its position, and neither flushed nor closed.
    """
    to_file = _is_file(f, "write")
    path = None if to_file else path_arg(f, "save")
    arrays, structure = _flatten(obj)
    st = _safetensors()
    metadata = {FORMAT_KEY: FORMAT_VERSION, STRUCTURE_KEY: json.dumps(structure, separators=(",", ":"))}
    data = st.save(arrays, metadata=metadata)
    if to_file:
        _write_file(f, data)
    else:
        _atomic_write(path, data)


# ----------------------------------------------------------------- loading
_READ_CHUNK = 1 << 26


def _read_some(f: Any, where: str, n: int) -> bytes:
    """Up to ``n`` bytes of the binary file object ``f`` (fewer only at its end: a raw file or a pipe may return
    part of what was asked, so it is asked again)."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        try:
            data = f.read(min(n - got, _READ_CHUNK))  # a size from the file is not allocated before it is read
        except OSError as exc:
            raise CheckpointError(f"load: cannot read {where}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:  # a text-mode file decodes what it reads
            raise ArgumentTypeError(
                f"load: {where} is open in text mode; open the file in binary mode (\"rb\")"
            ) from None
        except ValueError as exc:  # a closed file ("I/O operation on closed file", "read of closed file")
            raise CheckpointError(f"load: cannot read {where}: {exc}") from None
        if data is None:  # a non-blocking raw file with nothing ready
            raise CheckpointError(f"load: cannot read {where}: read() returned None (a non-blocking file?)")
        if isinstance(data, str):
            raise ArgumentTypeError(
                f"load: {where} returned text, not bytes; open the file in binary mode (\"rb\")"
            )
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ArgumentTypeError(f"load: {where}.read() returned {type(data).__name__}, not bytes")
        if not data:
            break
        parts.append(bytes(data))
        got += len(data)
    return b"".join(parts)


def _read_file(f: Any) -> bytes:
    """One checkpoint from the binary file object ``f``, from its position: the 8-byte header length, the
    header, and the tensor data the header describes, and no further (as ``torch.load``, so that two
    checkpoints saved one after the other into a file object load one after the other). What cannot be a
    checkpoint is returned as read so far, for :func:`_header` to name the problem."""
    where = _file_name(f)
    if getattr(f, "closed", False) is True:
        raise CheckpointError(f"load: {where} is closed")
    head = _read_some(f, where, 8)
    if len(head) < 8:
        return head
    (n,) = struct.unpack("<Q", head)
    if n > _MAX_HEADER or n < 2:
        return head
    text = _read_some(f, where, n)
    if len(text) < n:
        return head + text
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return head + text
    if not isinstance(header, dict):
        return head + text
    return head + text + _read_some(f, where, _data_size(header))


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise CheckpointError(f"load: {path!r}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"load: {path!r} is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"load: cannot read {path!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the path: a checkpoint's own bytes given where a path goes?
        raise CheckpointError(
            f"load: cannot open {path!r:.60} ({exc}); a str or bytes argument is a path: give a checkpoint's "
            "bytes as io.BytesIO(data)"
        ) from None


def _what_is_it(data: bytes) -> str:
    """A guess at what a file that is not safetensors is, for the error message."""
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "it looks like a pickle file, which gradkit never loads (unpickling can run arbitrary code)"
    if data[:4] == b"PK\x03\x04":
        return "it looks like a zip archive (such as a torch.save checkpoint), which gradkit does not load"
    return "it is not a safetensors file"


def _header(path: str, data: bytes) -> dict[str, Any]:
    if len(data) < 8:
        raise CheckpointError(
            f"load: {path!r} is truncated or not a checkpoint: {len(data)} bytes, "
            "less than the 8-byte header length of a safetensors file"
        )
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or n < 2:
        raise CheckpointError(f"load: {path!r}: bad header length {n}; {_what_is_it(data)}")
    if 8 + n > len(data):
        if data[8:9] in (b"{", b""):
            raise CheckpointError(
                f"load: {path!r} is truncated: the header claims {n} bytes but the file has only "
                f"{len(data) - 8} after the header length"
            )
        raise CheckpointError(f"load: {path!r}: header length {n} exceeds the file size; {_what_is_it(data)}")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # deep nesting: not ours
        raise CheckpointError(f"load: {path!r}: the header is not valid JSON ({exc}); {_what_is_it(data)}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"load: {path!r}: the header is a JSON {type(header).__name__}, not an object")
    size = _data_size(header)
    if size > len(data) - 8 - n:
        raise CheckpointError(
            f"load: {path!r} is truncated: the header describes {size} bytes of tensor data "
            f"but the file holds only {len(data) - 8 - n}"
        )
    return header


def _data_size(header: dict[str, Any]) -> int:
    """Where the tensor data ends, by the header's offsets (safetensors checks the rest)."""
    size = 0
    for key, entry in header.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) and key != "__metadata__" else None
        if isinstance(offsets, list) and len(offsets) == 2 and isinstance(offsets[1], int) \
                and not isinstance(offsets[1], bool):
            size = max(size, offsets[1])
    return size


#: The safetensors dtypes that NumPy holds (safetensors.numpy reads them); others (bfloat16, float8) it refuses.
_NUMPY_CODES = {"F64", "F32", "F16", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL", "C64"}
_FULL_NAMES = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def _check_dtypes(path: str, header: dict[str, Any]) -> None:
    """Refuse a tensor whose dtype NumPy lacks (bfloat16, float8), naming it, before safetensors does."""
    for key, entry in header.items():
        dtype = entry.get("dtype") if isinstance(entry, dict) and key != "__metadata__" else None
        if isinstance(dtype, str) and dtype not in _NUMPY_CODES:
            name = f" ({_FULL_NAMES[dtype]})" if dtype in _FULL_NAMES else ""
            raise CheckpointError(
                f"load: {path!r}: tensor {key!r} has dtype {dtype}{name}, which NumPy and so gradkit cannot "
                f"hold; convert it to float32 before saving it (in PyTorch: t.float()); gradkit's dtypes are "
                f"{_dtype_names()}"
            )


def _dtype_names() -> str:
    return ", ".join(sorted(d.name for d in _SUPPORTED))


def _tensor(path: str, name: str, array: np.ndarray, backend: Any) -> Tensor:
    """``array`` as a Tensor, or CheckpointError when a tensor cannot have its dtype (uint16, complex64)."""
    if not is_supported(array.dtype):
        raise CheckpointError(
            f"load: {path!r}: tensor {name!r} has dtype {array.dtype}, which a gradkit tensor cannot have; "
            f"convert it to one of {_dtype_names()} before saving it"
        )
    return Tensor._make(backend.asarray(array), backend)


def _rebuild(path: str, structure: Any, raw: dict[str, np.ndarray], backend: Any) -> Any:
    """``structure`` with its tensor references replaced by the arrays of ``raw`` (as Tensors on ``backend``)."""
    used: set[str] = set()

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"load: {path!r}: corrupt gradkit metadata: {what}")

    def ref(name: Any, as_tensor: bool) -> Any:
        if not isinstance(name, str) or name not in raw:
            raise CheckpointError(f"load: {path!r}: the tensor {name!r} named in the metadata is missing from the file")
        used.add(name)
        return _tensor(path, name, raw[name], backend) if as_tensor else raw[name]

    def walk(node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict) or len(node) not in (1, 2):
            raise bad(f"unexpected entry {node!r:.80}")
        if _TENSOR in node:
            return ref(node[_TENSOR], True)
        if _NDARRAY in node:
            return ref(node[_NDARRAY], False)
        if _TUPLE in node and isinstance(node[_TUPLE], list):
            return tuple(walk(item) for item in node[_TUPLE])
        if _DICT in node and isinstance(node[_DICT], list):
            out = {}
            for pair in node[_DICT]:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))):
                    raise bad(f"bad dictionary item {pair!r:.80}")
                out[pair[0]] = walk(pair[1])
            return out
        if _SCALAR in node and "value" in node:
            value = node["value"]
            try:
                dtype = np.dtype(node[_SCALAR])
                if dtype.kind not in "biuf" or dtype.itemsize > 8 or not isinstance(value, (bool, int, float)):
                    raise TypeError("not a number of a dtype that gk.save stores")
                if dtype.kind in "iu" and not np.iinfo(dtype).min <= value <= np.iinfo(dtype).max:
                    raise OverflowError(f"{value} is out of range for {dtype}")  # NumPy 1.x would wrap it around
                return dtype.type(value)
            except (TypeError, ValueError, OverflowError) as exc:
                raise bad(f"bad scalar {node!r:.80} ({exc})") from None
        raise bad(f"unexpected entry {node!r:.80}")

    result = walk(structure)
    extra = sorted(set(raw) - used)
    if extra:
        raise CheckpointError(f"load: {path!r}: tensors not named in the metadata: {', '.join(extra[:5])}")
    return result


def _check_format(path: str, metadata: dict[str, Any]) -> None:
    """A file of another gradkit format version is refused; one without the key is a foreign safetensors file
    (or, with the structure key, one written by a gradkit older than the key) and loads as before."""
    if FORMAT_KEY not in metadata:
        return
    version = metadata[FORMAT_KEY]
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"load: {path!r} has gradkit checkpoint format version {version!r}, but this gradkit reads "
            f"version {FORMAT_VERSION!r} only; load it with the gradkit that wrote it (a newer one?)"
        )


def _target_device(device: Any, map_location: Any) -> Any:
    """The device tensors load to: ``device`` (gradkit's name) or ``map_location`` (PyTorch's), not both."""
    if map_location is None:
        return device
    if device is not None:
        raise InvalidArgumentError(
            f"load: got both device={device!r:.40} (gradkit's name) and map_location={map_location!r:.40} "
            "(PyTorch's); give one"
        )
    if isinstance(map_location, Mapping) or callable(map_location):
        kind = "a dict" if isinstance(map_location, Mapping) else "a function"
        raise InvalidArgumentError(
            f"load: map_location as {kind} is not supported: a gradkit checkpoint does not record the device "
            "a tensor was saved from, so there is nothing to remap; give the device every tensor loads to, "
            "e.g. map_location=\"cpu\" (what {\"cuda:0\": \"cpu\"} and lambda storage, loc: storage do in "
            "PyTorch)"
        )
    return map_location


def load(f: Any, device: Any = None, *, map_location: Any = None, weights_only: Any = None) -> Any:
    """Load a checkpoint written by :func:`save` from ``f`` (a path, or a binary file object read from its
    position up to the end of that checkpoint); tensors go to ``device`` (the default device when None).

    ``map_location`` is PyTorch's name of ``device`` (a device name or object; giving both is an
    InvalidArgumentError; a dict or function is refused: the file records no device to remap).
    ``weights_only`` is accepted for PyTorch's programs and changes nothing: gradkit's loader is always
    what ``weights_only=True`` asks for (nothing is unpickled, no code from the file is run), and with
    ``weights_only=False`` it still loads only gradkit's safetensors format, never a pickle.
    A safetensors file written by another program (no gradkit metadata) loads
    as a flat dict of name -> Tensor. A truncated, corrupt or foreign file
    raises :class:`gk.CheckpointError` naming the path and the problem.
    """
    if weights_only is not None:
        flag(weights_only, "load", "weights_only")  # checked, not used: loading is always weights-only
    device = _target_device(device, map_location)
    from_file = _is_file(f, "read")
    path = _file_name(f) if from_file else path_arg(f, "load")
    st = _safetensors()
    backend = get_backend(device, "load")
    data = _read_file(f) if from_file else _read(path)
    header = _header(path, data)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"load: {path!r}: __metadata__ is a {type(metadata).__name__}, not an object")
    _check_format(path, metadata)
    _check_dtypes(path, header)
    try:
        raw = st.load(data)
    except Exception as exc:  # safetensors.SafetensorError, or a dtype NumPy lacks
        raise CheckpointError(f"load: {path!r} is not a valid safetensors file: {exc}") from None
    if STRUCTURE_KEY not in metadata:
        return {name: _tensor(path, name, array, backend) for name, array in raw.items()}
    try:
        structure = json.loads(metadata[STRUCTURE_KEY])
    except (TypeError, json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"load: {path!r}: the gradkit metadata is not valid JSON ({exc})") from None
    return _rebuild(path, structure, raw, backend)

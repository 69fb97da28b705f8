"""A GEMM that works inside CUDA stream capture, and the TF32 switch.

CuPy refuses every cuBLAS call made while a stream is capturing (its
``cublas.setStream`` raises NotImplementedError when ``streamIsCapturing``),
so ``cupy.matmul`` cannot be part of a CUDA graph. cuBLAS itself supports
capture once a handle's stream and workspace are set before capture begins
(cuBLAS guide, "CUDA Graphs Support"). This module therefore talks to the
cuBLAS library that CuPy has loaded directly, through ``ctypes``, on a handle
of gradkit's own:

- ``cublasCreate``; ``cublasSetStream`` then ``cublasSetWorkspace`` (setting
  the stream resets the workspace) whenever the current stream changes,
  which a captured step does before capture, during its warm-up;
- ``cublasGemmEx`` / ``cublasGemmStridedBatchedEx`` with an explicit compute
  type: ``CUBLAS_COMPUTE_32F`` for float32 (no TF32 unless
  :func:`set_tf32` turned it on), ``64F`` for float64, ``32F`` accumulation
  for float16.

Row-major ``C = A @ B`` is computed as the column-major ``C^T = B^T A^T``; an
operand that is neither row- nor column-major in its last two axes (or whose
batch axes do not collapse to one stride) is copied first. The layout logic
is pure Python (:func:`plan`) and is tested on the CPU against an emulation
of the cuBLAS call; only :class:`CublasGemm` needs a GPU.

:func:`gemm` is the public entry (NumPy: ``numpy.matmul``). The CuPy backend
routes ``Backend.matmul`` here while a step is being captured, or always after
``use_direct_gemm(True)``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.errors import BackendError

# cuBLAS / CUDA enums (cublas_api.h, library_types.h)
OP_N, OP_T = 0, 1
CUDA_R_32F, CUDA_R_64F, CUDA_R_16F = 0, 1, 2
COMPUTE_32F, COMPUTE_64F, COMPUTE_32F_FAST_TF32 = 68, 70, 77
GEMM_DEFAULT = -1
_INT_MAX = 2**31 - 1

_STATUS = {
    0: "CUBLAS_STATUS_SUCCESS",
    1: "CUBLAS_STATUS_NOT_INITIALIZED",
    3: "CUBLAS_STATUS_ALLOC_FAILED",
    7: "CUBLAS_STATUS_INVALID_VALUE",
    8: "CUBLAS_STATUS_ARCH_MISMATCH",
    11: "CUBLAS_STATUS_MAPPING_ERROR",
    13: "CUBLAS_STATUS_EXECUTION_FAILED",
    14: "CUBLAS_STATUS_INTERNAL_ERROR",
    15: "CUBLAS_STATUS_NOT_SUPPORTED",
    16: "CUBLAS_STATUS_LICENSE_ERROR",
}


# --------------------------------------------------------------------- TF32
def _env_tf32() -> bool:
    """CuPy's own switch: CUPY_TF32=1 makes its float32 matmuls use TF32."""
    try:
        return int(os.environ.get("CUPY_TF32", "0")) > 0
    except ValueError:
        return False


_tf32: bool = _env_tf32()


def tf32_enabled() -> bool:
    """True when float32 matmuls on the GPU may use TF32 tensor cores (off unless opted in)."""
    return _tf32


def set_tf32(enabled: bool) -> None:
    """Let float32 matmuls on the GPU use TF32 (``True``) or keep them in full float32 (``False``).

    Off by default, so float32 results match float32 arithmetic to the usual
    GEMM rounding. TF32 keeps float32's range but rounds the inputs to a 10-bit
    mantissa (relative error around 1e-3), for several times the throughput on
    Ampere and newer GPUs. Applies to ``cupy.matmul`` (CuPy's compute type for
    float32) and to gradkit's own capture-safe GEMM. ``CUPY_TF32=1`` in the
    environment turns it on from the start.
    """
    global _tf32
    if not isinstance(enabled, (bool, np.bool_)):
        from gradkit.errors import ArgumentTypeError

        raise ArgumentTypeError(f"set_tf32: expected True or False, got {type(enabled).__name__} {enabled!r}")
    _tf32 = bool(enabled)
    from gradkit.backends import cuda_available

    if cuda_available():
        from gradkit.backends.cupy_backend import import_cupy

        cp = import_cupy()
        from cupy._core import _routines_linalg as linalg

        mode = linalg.COMPUTE_TYPE_TF32 if _tf32 else linalg.COMPUTE_TYPE_DEFAULT
        cp._core.set_compute_type(np.float32, mode)


# --------------------------------------------------------------------- planning
@dataclass(frozen=True)
class Operand:
    """How cuBLAS reads one operand: its transpose flag, leading dimension and batch stride (elements)."""

    op: int
    ld: int
    batch_stride: int


@dataclass(frozen=True)
class Plan:
    """One cuBLAS GEMM for row-major ``out[..., m, n] = a[..., m, k] @ b[..., k, n]``.

    cuBLAS is called as ``gemm(transa=b.op, transb=a.op, m=n, n=m, k=k, A=b, lda=b.ld,
    B=a, ldb=a.ld, C=out, ldc=n)`` (column-major ``C^T = B^T A^T``), batched over
    ``batch`` matrices with ``strideA=b.batch_stride``, ``strideB=a.batch_stride``,
    ``strideC=m * n``.
    """

    batch_shape: tuple[int, ...]
    m: int
    n: int
    k: int
    a: Operand
    b: Operand

    @property
    def batch(self) -> int:
        return int(np.prod(self.batch_shape, dtype=np.int64)) if self.batch_shape else 1

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (*self.batch_shape, self.m, self.n)


def matrix_layout(rows: int, cols: int, s0: int, s1: int) -> tuple[int, int] | None:
    """``(op, ld)`` for a rows x cols matrix with element strides (s0, s1), or None (copy it first).

    Row-major storage (unit column stride) is, read column-major, the
    transpose: ``OP_N`` with ``ld`` the row stride. Column-major storage (unit
    row stride) is ``OP_T`` with ``ld`` the column stride. A stride along an
    axis of length 1 does not matter.
    """
    if (s1 == 1 or cols == 1) and (rows == 1 or s0 >= max(1, cols)):
        ld = s0 if rows > 1 else max(1, cols)
        return (OP_N, ld) if ld <= _INT_MAX else None
    if (s0 == 1 or rows == 1) and (cols == 1 or s1 >= max(1, rows)):
        ld = s1 if cols > 1 else max(1, rows)
        return (OP_T, ld) if ld <= _INT_MAX else None
    return None


def batch_stride(shape: tuple[int, ...], strides: tuple[int, ...], batch_shape: tuple[int, ...]) -> int | None:
    """One element stride that walks an operand's batch axes in C order over ``batch_shape``, or None.

    ``shape``/``strides`` are the operand's batch axes (element strides);
    missing leading axes and axes of length 1 broadcast (stride 0). None when
    the axes do not collapse to one stride (a partial broadcast, or a
    non-uniform layout): the operand is then copied.
    """
    pad = len(batch_shape) - len(shape)
    eff = [0] * pad + [0 if d == 1 else s for d, s in zip(shape, strides, strict=True)]
    axes = [i for i, d in enumerate(batch_shape) if d > 1]
    if not axes:
        return 0
    stride = eff[axes[-1]]
    expected = stride
    for i in reversed(axes):
        if eff[i] != expected:
            return None
        expected *= batch_shape[i]
    return stride


def plan(
    a_shape: tuple[int, ...],
    a_strides: tuple[int, ...],
    b_shape: tuple[int, ...],
    b_strides: tuple[int, ...],
    itemsize: int,
) -> tuple[Plan | None, bool, bool]:
    """Plan ``a @ b`` for operands of at least two axes (byte strides, as NumPy/CuPy report them).

    Returns ``(plan, copy_a, copy_b)``: when ``copy_a``/``copy_b`` is set the
    plan is None and that operand must be made C-contiguous over the
    broadcast batch shape (``ascontiguousarray(broadcast_to(x, ...))``) and
    planned again. Raises ValueError for shapes that do not fit.
    """
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise ValueError("gemm: both operands need at least two axes")
    m, k = a_shape[-2:]
    k2, n = b_shape[-2:]
    if k != k2:
        raise ValueError(f"gemm: inner dimensions do not match: {a_shape} @ {b_shape}")
    batch_shape = tuple(np.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    if any(s % itemsize for s in (*a_strides, *b_strides)):
        return None, True, True
    sa = tuple(s // itemsize for s in a_strides)
    sb = tuple(s // itemsize for s in b_strides)
    lay_a = matrix_layout(m, k, sa[-2], sa[-1])
    lay_b = matrix_layout(k, n, sb[-2], sb[-1])
    bsa = batch_stride(a_shape[:-2], sa[:-2], batch_shape)
    bsb = batch_stride(b_shape[:-2], sb[:-2], batch_shape)
    copy_a = lay_a is None or bsa is None
    copy_b = lay_b is None or bsb is None
    if copy_a or copy_b:
        return None, copy_a, copy_b
    return Plan(batch_shape, m, n, k, Operand(lay_a[0], lay_a[1], bsa), Operand(lay_b[0], lay_b[1], bsb)), False, False


Launch = Callable[[Plan, Any, Any, Any], None]


def run(xp: Any, a: Any, b: Any, launch: Launch) -> Any:
    """``a @ b`` (at least two axes each, one float dtype) through ``launch(plan, a, b, out)``.

    Handles empty products without calling ``launch``, makes the copies the
    plan asks for and allocates the C-contiguous output. ``xp`` is the array
    module (NumPy in the tests, with an emulated launch; CuPy for real).
    """
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"gemm: shapes {a.shape} and {b.shape} do not fit")
    batch_shape = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if m == 0 or n == 0 or 0 in batch_shape:
        return xp.empty((*batch_shape, m, n), dtype=a.dtype)
    if k == 0:
        return xp.zeros((*batch_shape, m, n), dtype=a.dtype)
    p, copy_a, copy_b = plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
    if p is None:
        if copy_a:
            a = xp.ascontiguousarray(xp.broadcast_to(a, batch_shape + a.shape[-2:]))
        if copy_b:
            b = xp.ascontiguousarray(xp.broadcast_to(b, batch_shape + b.shape[-2:]))
        p, copy_a, copy_b = plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
        if p is None:  # pragma: no cover - a C-contiguous array always has a plan
            raise AssertionError("gemm: no plan for contiguous operands")
    if max(p.m, p.n, p.k, p.batch) > _INT_MAX:
        return None
    out = xp.empty(p.out_shape, dtype=a.dtype)
    launch(p, a, b, out)
    return out


# --------------------------------------------------------------------- the library
_CUBLAS_NAME = re.compile(r"^(?:lib)?cublas(?:\.so(?:\.(\d+))?|64_(\d+)\.dll)")


def cublas_major(path: str) -> int | None:
    """The major version in a cuBLAS file name (``libcublas.so.13.1.0.3`` -> 13), or None.

    None for a name without one (``libcublas.so``) and for anything that is not
    the cuBLAS library itself (``libcublasLt.so.13``).
    """
    m = _CUBLAS_NAME.match(os.path.basename(path))
    if m is None:
        return None
    digits = m.group(1) or m.group(2)
    return int(digits) if digits else None


def _is_cublas(path: str) -> bool:
    return _CUBLAS_NAME.match(os.path.basename(path)) is not None


def cublas_paths_from_maps(maps_text: str) -> list[str]:
    """Every ``libcublas.so*`` (not cublasLt) among a process's mapped files (/proc/self/maps), once each.

    The order is the file's: by address, not by load order, so the first one is
    not necessarily the one CuPy loaded (PyTorch may have mapped its own).
    """
    paths: list[str] = []
    for line in maps_text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        path = parts[5].strip()
        if os.path.basename(path).startswith("libcublas.so") and path not in paths:
            paths.append(path)
    return paths


def cublas_path_from_maps(maps_text: str) -> str | None:
    """The first ``libcublas.so*`` (not cublasLt) among a process's mapped files (/proc/self/maps)."""
    paths = cublas_paths_from_maps(maps_text)
    return paths[0] if paths else None


def select_cublas(candidates: Iterable[tuple[str, str | None]], cuda_major: int | None) -> str:
    """The first candidate path whose cuBLAS major version is ``cuda_major``.

    ``candidates`` are ``(where, path)`` pairs in order of preference (consumed
    lazily: the search stops at the first match); a None or empty path (a
    lookup that found nothing; ``where`` says why) is skipped, as is a path
    that is not cuBLAS. ``cuda_major`` is the CUDA major version CuPy was built
    for (cuBLAS's major follows the toolkit's); None (unknown) takes the first
    cuBLAS path. A path without a version in its name is taken only when no
    path has the right one. Raises BackendError naming every candidate tried.
    """
    tried: list[str] = []
    unversioned: str | None = None
    for where, path in candidates:
        if not path:
            tried.append(f"{where}: nothing found")
            continue
        if not _is_cublas(path):
            tried.append(f"{where}: {path} (not the cuBLAS library)")
            continue
        major = cublas_major(path)
        if cuda_major is None or major == cuda_major:
            return path
        if major is None:
            unversioned = unversioned or path
            tried.append(f"{where}: {path} (no version in its name)")
        else:
            tried.append(f"{where}: {path} (cuBLAS {major}, but CuPy uses CUDA {cuda_major})")
    if unversioned is not None:
        return unversioned
    want = f"libcublas.so.{cuda_major}" if cuda_major is not None else "libcublas.so"
    raise BackendError(
        f"gradkit.cuda: cannot find the cuBLAS library CuPy uses ({want}); the capture-safe GEMM needs it "
        "(is the nvidia-cublas wheel or the CUDA toolkit of CuPy's CUDA version installed?). Tried: "
        + ("; ".join(tried) if tried else "nothing")
    )


def _cuda_major() -> int | None:
    """The CUDA major version CuPy was built for (its runtime, e.g. 13 for 13000+), or None."""
    try:
        from gradkit.backends.cupy_backend import import_cupy

        return int(import_cupy().cuda.runtime.runtimeGetVersion()) // 1000
    except Exception:  # noqa: BLE001 - no CuPy: any cuBLAS will do (and fail later with a clear error)
        return None


def _pathfinder_candidate() -> tuple[str, str | None]:
    """Where cuda-pathfinder (CuPy >= 14 loads its CUDA libraries with it) found cuBLAS."""
    where = "cuda.pathfinder.load_nvidia_dynamic_lib('cublas')"
    try:
        from cuda import pathfinder
    except Exception as exc:  # noqa: BLE001
        return f"{where} ({type(exc).__name__}: {exc})", None
    try:  # cached by pathfinder: the same answer CuPy got
        loaded = pathfinder.load_nvidia_dynamic_lib("cublas")
    except Exception as exc:  # noqa: BLE001
        return f"{where} ({type(exc).__name__}: {exc})", None
    path = getattr(loaded, "abs_path", None)  # typed str | None
    return (where if path else f"{where} (abs_path is None)"), path


def _maps_text() -> str:
    with open("/proc/self/maps") as f:
        return f.read()


def _loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
        return True
    except OSError:
        return False


def _cublas_candidates(cuda_major: int | None) -> Iterator[tuple[str, str | None]]:
    """Where cuBLAS may be, best first (a generator: later lookups run only when earlier ones did not fit)."""
    yield _pathfinder_candidate()
    try:
        maps = cublas_paths_from_maps(_maps_text())
    except OSError as exc:
        yield f"/proc/self/maps ({exc})", None
    else:
        if not maps:
            yield "/proc/self/maps", None
        for path in maps:
            yield "/proc/self/maps", path
    majors = (cuda_major,) if cuda_major is not None else (13, 12, 11)
    for name in ("cublas", *(f"cublas64_{m}" for m in majors)):
        yield f"ctypes.util.find_library({name!r})", ctypes.util.find_library(name)
    for major in majors:
        soname = f"libcublas.so.{major}"
        yield f"dlopen({soname!r})", soname if _loadable(soname) else None


def _find_cublas() -> str:
    """The cuBLAS library CuPy uses (so that both talk to one copy of it)."""
    try:  # make CuPy load its cuBLAS (CuPy >= 14 loads the CUDA libraries lazily, through cuda-pathfinder)
        from cupy_backends.cuda.libs import cublas  # noqa: F401
    except Exception:  # noqa: BLE001 - the search below reports what is missing
        pass
    major = _cuda_major()
    return select_cublas(_cublas_candidates(major), major)


class _Lib:
    """The few cuBLAS entry points gradkit calls, with their C signatures."""

    def __init__(self, path: str) -> None:
        if not path:  # ctypes.CDLL(None) would open the main program and fail later on a missing symbol
            raise BackendError("gradkit.cuda: no cuBLAS library path to load")
        lib = ctypes.CDLL(path)
        vp, i, ll = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
        self.path = path
        try:
            self.create = self._fn(lib, "cublasCreate_v2", [ctypes.POINTER(vp)])
        except AttributeError as exc:
            raise BackendError(f"gradkit.cuda: {path} is not a cuBLAS library ({exc})") from exc
        self.destroy = self._fn(lib, "cublasDestroy_v2", [vp])
        self.set_stream = self._fn(lib, "cublasSetStream_v2", [vp, vp])
        self.get_version = self._fn(lib, "cublasGetVersion_v2", [vp, ctypes.POINTER(i)])
        try:  # cublasGetProperty(MAJOR_VERSION, &value): needs no handle (and no device)
            self.get_property = self._fn(lib, "cublasGetProperty", [i, ctypes.POINTER(i)])
        except AttributeError:
            self.get_property = None
        try:
            self.set_workspace = self._fn(lib, "cublasSetWorkspace_v2", [vp, vp, ctypes.c_size_t])
        except AttributeError:  # cuBLAS before 11.4: no user workspace
            self.set_workspace = None
        self.gemm_ex = self._fn(
            lib, "cublasGemmEx", [vp, i, i, i, i, i, vp, vp, i, i, vp, i, i, vp, vp, i, i, i, i]
        )
        self.gemm_strided = self._fn(
            lib,
            "cublasGemmStridedBatchedEx",
            [vp, i, i, i, i, i, vp, vp, i, i, ll, vp, i, i, ll, vp, vp, i, i, ll, i, i, i],
        )

    @staticmethod
    def _fn(lib: Any, name: str, argtypes: list) -> Any:
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = ctypes.c_int
        return fn

    def major_version(self) -> int | None:
        """The loaded library's major version (cublasGetProperty), or None when it cannot say."""
        if self.get_property is None:
            return None
        value = ctypes.c_int()
        if self.get_property(0, ctypes.byref(value)) != 0:  # 0: MAJOR_VERSION
            return None
        return value.value


_lib: _Lib | None = None
_lib_lock = threading.Lock()


def _load_library() -> _Lib:
    lib = _Lib(_find_cublas())
    want, have = _cuda_major(), lib.major_version()
    if want is not None and have is not None and have != want:
        raise BackendError(
            f"gradkit.cuda: {lib.path} is cuBLAS {have}, but CuPy uses CUDA {want}; "
            f"gradkit needs the libcublas.so.{want} that CuPy loads"
        )
    return lib


def library() -> _Lib:
    """The loaded cuBLAS bindings (loaded once)."""
    global _lib
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                _lib = _load_library()
    return _lib


# --------------------------------------------------------------------- handles destroyed after capture
# cublasDestroy synchronises the device, which invalidates a stream capture in progress (on any
# thread). A handle closed while a capture is active (a CublasGemm collected by the garbage
# collector, a CapturedStep closed from another thread) is therefore queued, with its workspaces
# (which queued work may still use), and destroyed when the last capture ends.
_capture_lock = threading.RLock()  # reentrant: __del__ may run while this thread holds it
_captures_active = 0
_deferred: list[tuple[Any, Any, Any]] = []  # (destroy function, handle, workspaces)


def captures_active() -> int:
    """How many captures (on any thread) are between their begin and end right now."""
    return _captures_active


@contextlib.contextmanager
def capturing() -> Iterator[None]:
    """Wrap a stream capture: cuBLAS handles closed within are destroyed when the last capture ends."""
    global _captures_active
    with _capture_lock:
        _captures_active += 1
    try:
        yield
    finally:
        with _capture_lock:
            _captures_active -= 1
            if _captures_active == 0:
                pending = _deferred[:]
                del _deferred[:]
                for destroy, handle, _workspaces in pending:
                    _destroy_quietly(destroy, handle)


def _destroy_quietly(destroy: Any, handle: Any) -> None:
    try:
        destroy(handle)
    except Exception:  # noqa: BLE001 - interpreter shutdown
        pass


def _release(destroy: Any, handle: Any, workspaces: Any) -> None:
    """Destroy ``handle`` now, or after the captures in progress end (the lock keeps one from starting meanwhile)."""
    with _capture_lock:
        if _captures_active:
            _deferred.append((destroy, handle, workspaces))
        else:
            _destroy_quietly(destroy, handle)


def _check(status: int, what: str) -> None:
    if status != 0:
        raise BackendError(f"gradkit.cuda: {what} failed with {_STATUS.get(status, status)}")


# (data type, compute type, scale type) by dtype; float32's compute type depends on TF32
_TYPES = {
    np.dtype(np.float16): (CUDA_R_16F, COMPUTE_32F, ctypes.c_float),
    np.dtype(np.float32): (CUDA_R_32F, COMPUTE_32F, ctypes.c_float),
    np.dtype(np.float64): (CUDA_R_64F, COMPUTE_64F, ctypes.c_double),
}


def workspace_bytes(compute_capability: int) -> int:
    """cuBLAS's recommended workspace: 32 MiB on Hopper (9.0) and newer, 4 MiB before."""
    return (32 if compute_capability >= 90 else 4) * 1024 * 1024


#: workspaces one handle keeps, one per stream it was bound to (the oldest goes first)
_MAX_WORKSPACES = 4


class CublasGemm:
    """A cuBLAS handle of gradkit's own on one device, with a workspace per stream it has run on.

    ``matmul(a, b)`` computes ``a @ b`` for CuPy arrays of one float dtype
    (float16/32/64, at least two axes each) on the current stream, or returns
    None for anything else (the caller then uses ``cupy.matmul``).
    """

    def __init__(self, device_index: int = 0) -> None:
        from gradkit.backends.cupy_backend import import_cupy

        self._cp = cp = import_cupy()
        self._lib = library()
        self.device_index = device_index
        with cp.cuda.Device(device_index) as dev:
            handle = ctypes.c_void_p()
            _check(self._lib.create(ctypes.byref(handle)), "cublasCreate")
            self.handle = handle
            self._ws_size = workspace_bytes(int(dev.compute_capability))
        self._workspaces: dict[int, Any] = {}
        self._stream: int | None = None
        self._one = {t: (t(1.0), t(0.0)) for t in (ctypes.c_float, ctypes.c_double)}
        self._scales = {t: (ctypes.byref(one), ctypes.byref(zero)) for t, (one, zero) in self._one.items()}
        # Plain 2-d products seen before, by operand layout: the cuBLAS arguments, so that a repeated
        # product (every training step's) costs a dict lookup and one call (see matmul).
        self._plans: dict[tuple, tuple] = {}

    def _bind(self, stream_ptr: int) -> None:
        """Put the handle on ``stream_ptr`` with that stream's workspace (setStream resets it)."""
        _check(self._lib.set_stream(self.handle, ctypes.c_void_p(stream_ptr)), "cublasSetStream")
        if self._lib.set_workspace is not None:
            ws = self._workspaces.get(stream_ptr)
            if ws is None:
                with self._cp.cuda.Device(self.device_index):
                    ws = self._cp.cuda.alloc(self._ws_size)
                self._workspaces[stream_ptr] = ws
                if len(self._workspaces) > _MAX_WORKSPACES:
                    # Code that makes short-lived streams would otherwise keep a workspace per stream
                    # forever. Safe to drop: CuPy's pool reuses a block only in its own stream's order.
                    del self._workspaces[next(iter(self._workspaces))]
            _check(self._lib.set_workspace(self.handle, ctypes.c_void_p(ws.ptr), self._ws_size), "cublasSetWorkspace")
        self._stream = stream_ptr

    def bind_current_stream(self) -> None:
        """Bind the handle to the current CuPy stream now (before a capture begins)."""
        ptr = self._cp.cuda.get_current_stream().ptr
        if ptr != self._stream:
            self._bind(ptr)

    def matmul(self, a: Any, b: Any) -> Any:
        cp = self._cp
        if type(a) is cp.ndarray and type(b) is cp.ndarray:
            key = (a.shape, a.strides, b.shape, b.strides, a.dtype, b.dtype)
            known = self._plans.get(key)
            if (
                known is not None
                and a.device.id == self.device_index == b.device.id
                and cp.cuda.runtime.getDevice() == self.device_index
            ):
                return self._run_known(known, a, b)
        if not (isinstance(a, cp.ndarray) and isinstance(b, cp.ndarray)) or a.ndim < 2 or b.ndim < 2:
            return None
        dtype = np.result_type(a.dtype, b.dtype)
        if dtype not in _TYPES or a.device.id != self.device_index or b.device.id != self.device_index:
            return None
        if a.shape[-1] != b.shape[-2]:
            return None  # cupy.matmul raises the usual ValueError
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            return None
        if a.dtype != dtype:
            a = a.astype(dtype)
        if b.dtype != dtype:
            b = b.astype(dtype)
        with cp.cuda.Device(self.device_index):
            self.bind_current_stream()
            out = run(cp, a, b, self._launch)
        if a.ndim == b.ndim == 2 and a.dtype == b.dtype and out is not None and a.size and b.size:
            self._remember(a, b)
        return out

    def _remember(self, a: Any, b: Any) -> None:
        """Keep the cuBLAS arguments of this plain 2-d product (no copies) for its next call."""
        p, copy_a, copy_b = plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
        if p is None or copy_a or copy_b or p.batch != 1:
            return
        if len(self._plans) >= 256:  # shapes that keep changing: start over rather than grow
            self._plans.clear()
        data_type, compute, scale = _TYPES[a.dtype]
        self._plans[(a.shape, a.strides, b.shape, b.strides, a.dtype, b.dtype)] = (
            p.out_shape, a.dtype, p.b.op, p.a.op, p.n, p.m, p.k, p.b.ld, p.a.ld, data_type, compute,
            *self._scales[scale],
        )  # fmt: skip

    def _run_known(self, known: tuple, a: Any, b: Any) -> Any:
        out_shape, dtype, op_b, op_a, n, m, k, ld_b, ld_a, data_type, compute, alpha, beta = known
        if dtype == np.float32 and _tf32:
            compute = COMPUTE_32F_FAST_TF32
        ptr = self._cp.cuda.get_current_stream().ptr
        if ptr != self._stream:
            self._bind(ptr)
        out = self._cp.empty(out_shape, dtype=dtype)
        status = self._lib.gemm_ex(
            self.handle, op_b, op_a, n, m, k, alpha, b.data.ptr, data_type, ld_b, a.data.ptr, data_type, ld_a,
            beta, out.data.ptr, data_type, n, compute, GEMM_DEFAULT,
        )  # fmt: skip
        _check(status, "cublasGemmEx")
        return out

    def _launch(self, p: Plan, a: Any, b: Any, out: Any) -> None:
        dtype = out.dtype
        data_type, compute, scale = _TYPES[dtype]
        if dtype == np.float32 and _tf32:
            compute = COMPUTE_32F_FAST_TF32
        one, zero = self._one[scale]
        alpha, beta = ctypes.byref(one), ctypes.byref(zero)
        vp = ctypes.c_void_p
        if p.batch == 1:
            status = self._lib.gemm_ex(
                self.handle, p.b.op, p.a.op, p.n, p.m, p.k, alpha,
                vp(b.data.ptr), data_type, p.b.ld,
                vp(a.data.ptr), data_type, p.a.ld,
                beta, vp(out.data.ptr), data_type, p.n,
                compute, GEMM_DEFAULT,
            )  # fmt: skip
            _check(status, "cublasGemmEx")
        else:
            status = self._lib.gemm_strided(
                self.handle, p.b.op, p.a.op, p.n, p.m, p.k, alpha,
                vp(b.data.ptr), data_type, p.b.ld, p.b.batch_stride,
                vp(a.data.ptr), data_type, p.a.ld, p.a.batch_stride,
                beta, vp(out.data.ptr), data_type, p.n, p.m * p.n,
                p.batch, compute, GEMM_DEFAULT,
            )  # fmt: skip
            _check(status, "cublasGemmStridedBatchedEx")

    def version(self) -> int:
        """cuBLAS's version number (e.g. 120402 for 12.4.2)."""
        v = ctypes.c_int()
        _check(self._lib.get_version(self.handle, ctypes.byref(v)), "cublasGetVersion")
        return v.value

    def close(self) -> None:
        """Destroy the handle (after the end of any capture in progress: cublasDestroy synchronises)."""
        handle, self.handle = getattr(self, "handle", None), None
        workspaces, self._workspaces = getattr(self, "_workspaces", {}), {}
        lib = getattr(self, "_lib", None)
        if handle is not None and handle.value and lib is not None:
            try:
                _release(lib.destroy, handle, workspaces)
            except Exception:  # noqa: BLE001 - interpreter shutdown (module globals gone)
                pass

    def __del__(self) -> None:
        self.close()


# --------------------------------------------------------------------- routing
_direct: bool = False
_local = threading.local()  # .gemm: the CublasGemm a capture installed on this thread; .handles: {device: CublasGemm}


def use_direct_gemm(enabled: bool = True) -> None:
    """Send every CuPy matmul through gradkit's own cuBLAS call (``True``), or through ``cupy.matmul``.

    Off by default. A captured step always uses it (``cupy.matmul`` cannot be
    captured); outside capture it saves some of CuPy's per-call overhead on
    small shapes.
    """
    global _direct
    _direct = flag(enabled, "use_direct_gemm", "enabled")


def installed() -> CublasGemm | None:
    """The GEMM a capture installed on this thread, if any."""
    return getattr(_local, "gemm", None)


def install(g: CublasGemm | None) -> CublasGemm | None:
    """Make ``g`` this thread's GEMM (None: none); returns the previous one."""
    prev = getattr(_local, "gemm", None)
    _local.gemm = g
    return prev


def _thread_handle(device_index: int) -> CublasGemm:
    handles = getattr(_local, "handles", None)
    if handles is None:
        handles = _local.handles = {}
    g = handles.get(device_index)
    if g is None:
        g = handles[device_index] = CublasGemm(device_index)
    return g


def route(a: Any, b: Any) -> Any:
    """The CuPy backend's matmul hook: gradkit's GEMM when installed or opted in, else None (cupy.matmul)."""
    g = getattr(_local, "gemm", None)
    if g is None:
        if not _direct:
            return None
        index = getattr(getattr(a, "device", None), "id", None)  # CuPy arrays only (NumPy's .device is "cpu")
        if index is None:
            return None
        g = _thread_handle(index)
    return g.matmul(a, b)


def gemm(a: Any, b: Any) -> Any:
    """``a @ b`` for raw arrays: ``numpy.matmul`` on the CPU, gradkit's direct cuBLAS call on the GPU.

    On the GPU this is the capture-safe path (it also runs outside capture);
    inputs it does not cover (integer dtypes, fewer than two axes) go to
    ``cupy.matmul``.
    """
    if getattr(a, "ndim", 1) == 0 or getattr(b, "ndim", 1) == 0:
        from gradkit.errors import ShapeError

        raise ShapeError(f"gemm: expected arrays with at least one axis, got shapes {a.shape} and {b.shape}")
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        from gradkit.errors import DTypeError, ShapeError

        try:
            return np.matmul(a, b)
        except ValueError as exc:
            raise ShapeError(f"gemm: cannot multiply shapes {a.shape} and {b.shape} ({exc})") from None
        except TypeError as exc:
            raise DTypeError(f"gemm: cannot multiply dtypes {a.dtype} and {b.dtype} ({exc})") from None
    for x in (a, b):
        if not hasattr(x, "__cuda_array_interface__"):
            from gradkit.errors import ArgumentTypeError

            raise ArgumentTypeError(
                f"gemm: expected two NumPy arrays or two CuPy arrays, got {type(a).__name__} and {type(b).__name__}"
            )
    index = getattr(getattr(a, "device", None), "id", None)
    g = installed() or (_thread_handle(index) if index is not None else None)
    out = g.matmul(a, b) if g is not None else None
    if out is None:
        from gradkit.backends.cupy_backend import import_cupy

        return import_cupy().matmul(a, b)
    return out


def _register() -> None:
    """Hook :func:`route` into the CuPy backend (importing cupy_backend does not import CuPy)."""
    from gradkit.backends.cupy_backend import CupyBackend

    CupyBackend.gemm_router = staticmethod(route)


_register()

"""The GPU backend: CuPy arrays. The only module that imports CuPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit.backends.base import Backend
from gradkit.errors import BackendError

_cupy: Any = None
_import_error: BaseException | None = None


def import_cupy() -> Any:
    """Import CuPy once; remember why it failed so later errors can say."""
    global _cupy, _import_error
    if _cupy is None and _import_error is None:
        try:
            import cupy

            _cupy = cupy
        except Exception as exc:  # ImportError, or a broken CUDA install
            _import_error = exc
    if _cupy is None:
        raise BackendError(
            "the cupy backend needs CuPy, which failed to import "
            f"({type(_import_error).__name__}: {_import_error}); install it with "
            "`python -m pip install cupy-cuda12x` (or cupy-cuda13x; from a gradkit checkout: "
            "`python -m pip install \".[cuda12]\"` or \".[cuda13]\"), or use GRADKIT_BACKEND=numpy"
        )
    return _cupy


def gpu_count() -> int:
    """Number of CUDA devices CuPy sees; 0 when CuPy or a driver is missing."""
    try:
        cp = import_cupy()
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self, index: int = 0) -> None:
        cp = import_cupy()
        count = gpu_count()
        if count == 0:
            raise BackendError(
                "the cupy backend needs a CUDA GPU, but CuPy sees none "
                "(no device or no driver); use GRADKIT_BACKEND=numpy or device='cpu'"
            )
        if not 0 <= index < count:
            raise BackendError(f"device 'cuda:{index}' does not exist; this machine has {count} GPU(s)")
        self.index = index
        self.device = f"cuda:{index}"
        self.xp = cp
        self.array_type = cp.ndarray
        with cp.cuda.Device(index):
            self.rng = cp.random.default_rng()

    def asarray(self, data: Any, dtype: np.dtype | None = None) -> Any:
        with self.xp.cuda.Device(self.index):
            return self.xp.asarray(data, dtype=dtype)

    #: Run after every copy to the host (which waits for the device's work so far): a kernel that
    #: finds bad input on the device (cross_entropy's targets) reports it in pinned host memory, and
    #: its check raises the error here, if no other call has raised it yet. Each check looks only at
    #: what the reading thread launched: a DataLoader worker's host read leaves the main thread's
    #: error to the main thread.
    host_read_checks: list[Any] = []

    def to_numpy(self, array: Any) -> np.ndarray:
        out = self.xp.asnumpy(array)
        for check in CupyBackend.host_read_checks:
            check()
        return out

    def transfer(self, array: Any, source: Backend) -> Any:
        if source is self:
            return array
        with self.xp.cuda.Device(self.index):
            # From another GPU cupy.asarray would hand back the same array on its own device.
            return self.xp.array(array, copy=True) if source.name == "cupy" else self.xp.asarray(array)

    #: Set by ``gradkit.cuda``: ``gemm_router(a, b)`` returns the product through gradkit's own
    #: capture-safe cuBLAS call while a step is captured (or after ``gk.cuda.use_direct_gemm()``),
    #: or None to let ``cupy.matmul`` do it.
    gemm_router: Any = None

    def matmul(self, a: Any, b: Any) -> Any:
        router = CupyBackend.gemm_router
        if router is not None:
            out = router(a, b)
            if out is not None:
                return out
        return self.xp.matmul(a, b)

    #: the dtypes CuPy's ``add.at`` (an atomicAdd) accepts; the others accumulate in a wider copy
    _ADD_AT_DTYPES = frozenset(
        np.dtype(t) for t in (np.int32, np.int64, np.uint32, np.uint64, np.float16, np.float32, np.float64)
    )

    def scatter_add(self, target: Any, index: Any, values: Any) -> None:
        if target.dtype in CupyBackend._ADD_AT_DTYPES:
            self._add_at(target, index, values)
            return
        # CuPy refuses bool, 8- and 16-bit integers: add in int64, then wrap (NumPy's modular sum) or, for
        # bool, keep "any" (NumPy's add.at on bool is a logical or)
        wide = target.astype(np.int64)
        self._add_at(wide, index, values.astype(np.int64) if hasattr(values, "astype") else values)
        target[...] = wide != 0 if target.dtype == np.bool_ else wide.astype(target.dtype)

    def _add_at(self, target: Any, index: Any, values: Any) -> None:
        add_at = getattr(self.xp.add, "at", None)
        if add_at is not None:
            add_at(target, index, values)  # CuPy 14 deprecates cupyx.scatter_add for this
            return
        import cupyx

        cupyx.scatter_add(target, index, values)

    def synchronize(self) -> None:
        self.xp.cuda.Device(self.index).synchronize()

    def seed(self, seed: int) -> None:
        with self.xp.cuda.Device(self.index):
            self.rng = self.xp.random.default_rng(seed)
            self.xp.random.seed(seed)

    def _on_device(self, draw: Any, *args: Any) -> Any:
        """``draw(*args)`` with this backend's device current: CuPy's generator refuses to draw on another
        (a thread's current device is its own). The common case, already current, costs one cudaGetDevice."""
        cuda = self.xp.cuda
        if cuda.get_device_id() == self.index:
            return draw(*args)
        with cuda.Device(self.index):
            return draw(*args)

    def uniform(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self._on_device(self._uniform, shape, dtype)

    def _uniform(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        if dtype in (np.float32, np.float64):
            return self.rng.random(shape, dtype=dtype)
        # float16: a float64 draw just below 1 rounds up to 1.0; keep [0, 1) as for the other dtypes
        one = np.dtype(dtype).type(1)
        below_one = float(np.nextafter(one, one - one))  # a Python float: CuPy takes no NumPy arrays
        return self.xp.minimum(self.rng.random(shape).astype(dtype), below_one)

    def normal(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self._on_device(self._normal, shape, dtype)

    def _normal(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        if dtype in (np.float32, np.float64):
            return self.rng.standard_normal(shape, dtype=dtype)
        return self.rng.standard_normal(shape).astype(dtype)

    def integers(self, low: int, high: int, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self._on_device(self._integers, low, high, shape, dtype)

    def _integers(self, low: int, high: int, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self.rng.integers(low, high, size=shape, dtype=dtype)

    def permutation(self, n: int) -> Any:
        return self._on_device(self._permutation, n)

    def _permutation(self, n: int) -> Any:
        # cupy.random.Generator has no permutation(): sort n uniform draws (ties have probability ~0).
        return self.xp.argsort(self.rng.random((n,))).astype(self.xp.int64)

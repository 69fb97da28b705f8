"""A counter-based random generator that works inside a CUDA graph (and on NumPy, bit for bit).

Element ``i`` of a draw is a pure function of ``(seed, offset + i)``: the
SplitMix64 finaliser applied to ``seed ^ (stream * C) + (counter + 1) * golden``
(Steele, Lea and Flood, 2014; the generator behind Java's SplittableRandom).
The seed and the running offset live in a two-element ``uint64`` device
array; one elementwise kernel reads them and a one-thread kernel advances the
offset by the number of elements drawn. A captured graph therefore draws
fresh numbers on every replay, which CuPy's generators (their state advances
on the host, or through cuRAND calls that cannot be captured) do not.

``CounterRNG`` has the methods that gradkit's backends call on their
generator (``random``, ``standard_normal``, ``integers``, ``permutation``),
so a capture can put one in place of the backend's generator for the
duration of a step. On a NumPy backend the same formulas run vectorised in
NumPy and give the same bits (uniform and integer draws exactly; normals to
the last bit or two of the libm ``log``/``cos``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit._args import whole
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError

GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / phi, SplitMix64's increment
STREAM = 0xD1B54A32D192ED03  # separates the two words drawn per element
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
_M64 = (1 << 64) - 1

# CUDA C, shared by the kernels below
_PREAMBLE = r"""
__device__ __forceinline__ unsigned long long gk_mix64(
        unsigned long long seed, unsigned long long counter, unsigned long long stream) {
    unsigned long long z = (seed ^ (stream * 0xD1B54A32D192ED03ULL)) + (counter + 1ULL) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
template <typename T> __device__ __forceinline__ T gk_unit(unsigned long long h);
template <> __device__ __forceinline__ float gk_unit<float>(unsigned long long h) {
    return (float)(h >> 40) * 5.9604644775390625e-08f;  /* 24 bits * 2^-24: [0, 1) */
}
template <> __device__ __forceinline__ double gk_unit<double>(unsigned long long h) {
    return (double)(h >> 11) * 1.1102230246251565e-16;  /* 53 bits * 2^-53: [0, 1) */
}
__device__ __forceinline__ double gk_normal(unsigned long long h0, unsigned long long h1) {
    double u1 = (double)((h0 >> 11) + 1ULL) * 1.1102230246251565e-16;  /* (0, 1] */
    double u2 = (double)(h1 >> 11) * 1.1102230246251565e-16;           /* [0, 1) */
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
"""

_UNIFORM_OP = "y = gk_unit<T>(gk_mix64(state[0], state[1] + (unsigned long long)i, 0ULL));"
_NORMAL_OP = (
    "unsigned long long c = state[1] + (unsigned long long)i; "
    "y = (T)gk_normal(gk_mix64(state[0], c, 0ULL), gk_mix64(state[0], c, 1ULL));"
)
_INTEGER_OP = (
    "unsigned long long h = gk_mix64(state[0], state[1] + (unsigned long long)i, 0ULL); "
    "y = (T)(low + (long long)(h % span));"
)
_ADVANCE_SRC = r"""
extern "C" __global__ void gk_rng_advance(unsigned long long* state, unsigned long long n) {
    if (threadIdx.x == 0 && blockIdx.x == 0) state[1] += n;
}
"""

_kernels: dict[str, Any] = {}


def _kernel(name: str) -> Any:
    """The CuPy kernels, built once (compiled on first launch, per device, by CuPy)."""
    k = _kernels.get(name)
    if k is None:
        from gradkit.backends.cupy_backend import import_cupy

        cp = import_cupy()
        if name == "advance":
            k = cp.RawKernel(_ADVANCE_SRC, "gk_rng_advance")
        elif name == "uniform":
            k = cp.ElementwiseKernel("raw uint64 state", "T y", _UNIFORM_OP, "gk_rng_uniform", preamble=_PREAMBLE)
        elif name == "normal":
            k = cp.ElementwiseKernel("raw uint64 state", "T y", _NORMAL_OP, "gk_rng_normal", preamble=_PREAMBLE)
        else:
            k = cp.ElementwiseKernel(
                "raw uint64 state, int64 low, uint64 span", "T y", _INTEGER_OP, "gk_rng_integers", preamble=_PREAMBLE
            )
        _kernels[name] = k
    return k


def kernel_sources() -> dict[str, tuple[str, str, str, str]]:
    """``{name: (in_params, out_params, operation, preamble)}`` of the elementwise kernels (for compile checks)."""
    return {
        "gk_rng_uniform": ("raw uint64 state", "T y", _UNIFORM_OP, _PREAMBLE),
        "gk_rng_normal": ("raw uint64 state", "T y", _NORMAL_OP, _PREAMBLE),
        "gk_rng_integers": ("raw uint64 state, int64 low, uint64 span", "T y", _INTEGER_OP, _PREAMBLE),
    }


def raw_kernel_sources() -> dict[str, str]:
    """``{name: CUDA source}`` of the raw kernels (for compile checks)."""
    return {"gk_rng_advance": _ADVANCE_SRC}


# --------------------------------------------------------------------- NumPy twins
def mix64(seed: int, counters: np.ndarray, stream: int = 0) -> np.ndarray:
    """The hash of each counter, as uint64 (vectorised; the same function the kernels compute)."""
    c = np.asarray(counters, dtype=np.uint64)
    key = np.uint64((seed ^ ((stream * STREAM) & _M64)) & _M64)
    with np.errstate(over="ignore"):
        z = key + (c + np.uint64(1)) * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
        return z ^ (z >> np.uint64(31))


def mix64_int(seed: int, counter: int, stream: int = 0) -> int:
    """The same hash on Python integers (an independent check of the vectorised one)."""
    z = ((seed ^ ((stream * STREAM) & _M64)) + (counter + 1) * GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * MIX1) & _M64
    z = ((z ^ (z >> 27)) * MIX2) & _M64
    return z ^ (z >> 31)


def _unit_np(h: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.float32:
        return (h >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    return (h >> np.uint64(11)).astype(np.float64) * (2.0**-53)


def _normal_np(h0: np.ndarray, h1: np.ndarray) -> np.ndarray:
    u1 = ((h0 >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * (2.0**-53)
    u2 = (h1 >> np.uint64(11)).astype(np.float64) * (2.0**-53)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)


# --------------------------------------------------------------------- the generator
def _shape(size: Any, op: str, dtype: np.dtype) -> tuple[int, ...]:
    from gradkit._args import scalar
    from gradkit.creation import _check_size
    from gradkit.ops._util import shape_arg

    if size is None:
        return ()
    if isinstance(size, np.ndarray):
        size = size.tolist()  # an int for a 0-d array, a list for a 1-d one
    size = tuple(scalar(s) for s in size) if isinstance(size, (tuple, list)) else scalar(size)
    dims = shape_arg((size,), op)  # an int, a 0-d array, or a sequence of them
    if any(d < 0 for d in dims):
        raise InvalidArgumentError(f"{op}: negative dimension in size {dims}")
    _check_size(op, dims, dtype)
    return dims


def _float_dtype(dtype: Any, op: str) -> np.dtype:
    from gradkit.dtypes import to_dtype

    dtype = to_dtype(dtype, op)
    if dtype.kind != "f":
        raise InvalidArgumentError(f"{op}: dtype must be a float type, got {dtype}")
    return dtype


class CounterRNG:
    """Counter-based random numbers on a NumPy or CuPy device; capture-safe on the GPU.

    ``CounterRNG(seed, device="cpu"|"cuda:N")``. The state is ``[seed,
    offset]`` (``.state``, a uint64 array on the device); every draw of ``n``
    numbers uses counters ``offset .. offset + n - 1`` and advances the
    offset by ``n``, on the device.
    """

    def __init__(self, seed: int = 0, device: Any = "cpu") -> None:
        from gradkit.backends import get_backend

        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ArgumentTypeError(f"CounterRNG: seed must be an int, got {type(seed).__name__} {seed!r}")
        backend = get_backend(device, "CounterRNG")
        self._backend = backend
        self._gpu = backend.name == "cupy"
        seed = int(seed) & _M64
        if self._gpu:
            with backend.xp.cuda.Device(backend.index):
                self.state = backend.xp.asarray(np.array([seed, 0], dtype=np.uint64))
        else:
            self.state = np.array([seed, 0], dtype=np.uint64)

    @property
    def device(self) -> str:
        return self._backend.device

    @property
    def seed(self) -> int:
        """The seed (a host read: synchronises on the GPU)."""
        return int(self._backend.to_numpy(self.state)[0])

    @property
    def offset(self) -> int:
        """How many counters have been used (a host read: synchronises on the GPU)."""
        return int(self._backend.to_numpy(self.state)[1])

    # ------------------------------------------------------------ drawing
    def _draw(self, kind: str, shape: tuple[int, ...], dtype: np.dtype, *extra: Any) -> Any:
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not self._gpu:
            seed, offset = int(self.state[0]), int(self.state[1])
            counters = np.arange(offset, offset + n, dtype=np.uint64)
            self.state[1] = np.uint64((offset + n) & _M64)
            h0 = mix64(seed, counters, 0)
            if kind == "uniform":
                out = _unit_np(h0, dtype)
            elif kind == "normal":
                out = _normal_np(h0, mix64(seed, counters, 1)).astype(dtype)
            else:
                low, span = extra
                out = (np.int64(low) + (h0 % np.uint64(span)).astype(np.int64)).astype(dtype)
            return out.reshape(shape)
        xp = self._backend.xp
        with xp.cuda.Device(self._backend.index):
            out = xp.empty(shape, dtype=dtype)
            if n:
                if kind == "integers":
                    low, span = extra
                    _kernel(kind)(self.state, np.int64(low), np.uint64(span), out)
                else:
                    _kernel(kind)(self.state, out)
                _kernel("advance")((1,), (1,), (self.state, np.uint64(n)))
        return out

    def random(self, size: Any = None, dtype: Any = np.float64) -> Any:
        """Uniform samples in [0, 1) (float32: 24 random bits; float64: 53)."""
        dtype = _float_dtype(dtype, "CounterRNG.random")
        shape = _shape(size, "CounterRNG.random", dtype)
        if dtype == np.float32 or dtype == np.float64:
            return self._draw("uniform", shape, dtype)
        return self._draw("uniform", shape, np.dtype(np.float32)).astype(dtype)

    def standard_normal(self, size: Any = None, dtype: Any = np.float64) -> Any:
        """Standard normal samples (Box-Muller on two hashed words per element, in float64)."""
        dtype = _float_dtype(dtype, "CounterRNG.standard_normal")
        shape = _shape(size, "CounterRNG.standard_normal", dtype)
        if dtype == np.float16:
            return self._draw("normal", shape, np.dtype(np.float32)).astype(dtype)
        return self._draw("normal", shape, dtype)

    def integers(self, low: int, high: int | None = None, size: Any = None, dtype: Any = np.int64) -> Any:
        """Integers in [low, high) (or [0, low) when ``high`` is None), each ``low + hash % (high - low)``."""
        if high is None:
            low, high = 0, low
        low, high = whole(low, "CounterRNG.integers", "low"), whole(high, "CounterRNG.integers", "high")
        if high <= low:
            raise InvalidArgumentError(f"CounterRNG.integers: need low < high, got low={low}, high={high}")
        span = high - low
        if span > _M64:
            raise InvalidArgumentError(f"CounterRNG.integers: the range {span} does not fit in 64 bits")
        from gradkit.dtypes import to_dtype

        dtype = to_dtype(dtype, "CounterRNG.integers")
        if dtype.kind not in "iu":
            raise DTypeError(f"CounterRNG.integers: dtype must be an integer dtype, got {dtype}")
        return self._draw("integers", _shape(size, "CounterRNG.integers", dtype), dtype, low, span)

    def permutation(self, n: int) -> Any:
        """A random permutation of range(n) (argsort of random keys; not capture-safe on the GPU)."""
        keys = self.random((whole(n, "CounterRNG.permutation", "n", low=0),), np.float64)
        return self._backend.xp.argsort(keys).astype(np.int64)

    def __repr__(self) -> str:
        return f"<CounterRNG device={self.device!r}>"

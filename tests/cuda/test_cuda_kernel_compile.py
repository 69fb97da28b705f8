"""Every CUDA source in gradkit compiles with NVRTC, for float32 and float64, without a GPU.

The elementwise kernels are expanded into the exact source ``cupy.ElementwiseKernel`` would
compile (through CuPy's own code generator), with CuPy's headers, and handed to NVRTC for a
compute capability 9.0 (H100) target. This needs CuPy and the NVRTC library (``pip install
nvidia-cuda-nvrtc-cu12``), not a GPU; without them the tests are skipped. It catches syntax and
type errors in kernel strings before a GPU ever sees them; it does not run anything.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradkit.cuda import rng as R
from gradkit.kernels import cupy_kernels as ck


def _toolchain():
    try:
        import cupy
        import cupy._core.core as core
        from cupy._core import _carray, _scalar
        from cupy._core import _kernel as K
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
        options = tuple(core.assemble_cupy_compiler_options(()))
    except Exception as exc:  # noqa: BLE001 - any missing piece means: cannot check here
        pytest.skip(f"CuPy's NVRTC toolchain is not available ({type(exc).__name__}: {exc})")
    return cupy, core, K, _carray, _scalar, nvrtc, options


def _nvrtc(source: str, name_expressions=()) -> str:
    cupy, core, K, _carray, _scalar, nvrtc, options = _toolchain()
    prog = nvrtc.createProgram(source, "gradkit_kernel.cu", [], [])
    try:
        for expr in name_expressions:
            nvrtc.addNameExpression(prog, expr)
        try:
            nvrtc.compileProgram(prog, [*options, "-arch=compute_90"])
        except Exception:  # noqa: BLE001
            pytest.fail("NVRTC rejected the kernel:\n" + nvrtc.getProgramLog(prog) + "\n" + source)
        return nvrtc.getProgramLog(prog)
    finally:
        nvrtc.destroyProgram(prog)


def _elementwise_source(in_params, out_params, operation, name, preamble, dtype, ndim=2):
    """The CUDA source cupy.ElementwiseKernel generates for these params with every ``T`` = dtype."""
    cupy, core, K, _carray, _scalar, nvrtc, options = _toolchain()
    kern = cupy.ElementwiseKernel(in_params, out_params, operation, name, preamble=preamble)
    # arrays: non-raw params and raw ones; scalars: the rest (typed ones keep their type)
    scalar_names = {
        p.name for p in kern.in_params
        if not p.raw and p.name not in _ARRAY_INPUTS and (p.dtype is not None or p.ctype == "T")
    }  # fmt: skip
    def array_type(p):
        return np.dtype(p.dtype if p.dtype is not None else dtype).type

    in_types = tuple(None if p.name in scalar_names else array_type(p) for p in kern.in_params)
    out_types = tuple(array_type(p) for p in kern.out_params)
    in_t, out_t, type_map = kern._decide_params_type(in_types, out_types)
    infos = []
    for p, t in zip(kern.in_params, in_t, strict=True):
        if p.name in scalar_names:
            infos.append(K._ArgInfo(3, _scalar.CScalar, t, 0, True, True))
        else:
            infos.append(K._ArgInfo(1, cupy.ndarray, t, 1 if p.raw else ndim, True, True))
    for p, t in zip(kern.out_params, out_t, strict=True):
        infos.append(K._ArgInfo(1, cupy.ndarray, t, 1 if p.raw else ndim, True, True))
    infos.append(K._ArgInfo(2, _carray.Indexer, None, ndim, True, True))
    code = K._get_elementwise_kernel_code(tuple(infos), type_map, kern.params, kern.operation, kern.name,
                                          kern.preamble)  # fmt: skip
    header = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
    return header + code


# array inputs of the kernels (every other non-raw input is a scalar kernel argument); capturable
# Adam's step count is a 0-d float64 array
_ARRAY_INPUTS = {"grad", "b", "y", "step"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ck.kernel_sources()))
def test_fused_elementwise_kernels_compile(name, dtype):
    ins, outs, op = ck.kernel_sources()[name]
    _nvrtc(_elementwise_source(ins, outs, op, name, "", dtype))


def test_raw_elementwise_module_compiles():
    """The raw versions of the elementwise kernels (what runs for contiguous arrays), float and double."""
    names = sorted(ck.kernel_sources())
    source = "\n".join(ck.raw_elementwise_source(n) for n in names)
    _nvrtc(source, [f"{n}_raw<{t}>" for n in names for t in ("float", "double")])


def test_cross_entropy_module_compiles():
    source, names = ck.raw_module_source()
    _nvrtc(source, names)


@pytest.mark.parametrize("name", sorted(R.kernel_sources()))
def test_rng_kernels_compile(name):
    ins, outs, op, preamble = R.kernel_sources()[name]
    dtypes = [np.int64, np.int32] if name == "gk_rng_integers" else [np.float32, np.float64]
    for dtype in dtypes:
        _nvrtc(_elementwise_source(ins, outs, op, name, preamble, dtype, ndim=1))


def test_rng_advance_kernel_compiles():
    for source in R.raw_kernel_sources().values():
        _nvrtc(source)


def test_a_broken_kernel_is_caught():
    """The check itself works: an undefined name fails."""
    ins, outs, op = ck.kernel_sources()["gk_sgd"]
    source = _elementwise_source(ins, outs, op.replace("lr * d;", "lr * dd;"), "gk_sgd", "", np.float32)
    with pytest.raises(pytest.fail.Exception, match="NVRTC rejected"):
        _nvrtc(source)

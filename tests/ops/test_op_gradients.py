"""Every differentiable operation of API.md through gk.gradcheck, on every available device.

The rows come from ``op_specs.build_specs()`` (one table): forward values are
compared with NumPy, first derivatives with central differences, and for the
smooth rows the second derivatives too (``backward(create_graph=True)``
differentiated again, against central differences of the first derivative).
"""

from __future__ import annotations

import numpy as np
import pytest
from op_specs import build_specs, draw

import gradkit as gk

SPECS = build_specs()
SMOOTH = [s for s in SPECS if s.smooth]


def _seed(spec_id: str) -> int:
    return sum(ord(c) * (i + 1) for i, c in enumerate(spec_id)) % (2**32)


def make_inputs(spec, device: str) -> list[gk.Tensor]:
    rng = np.random.default_rng(_seed(spec.id))
    arrays = [draw(rng, shape, dom) for shape, dom in zip(spec.shapes, spec.domains(), strict=True)]
    return [gk.tensor(a, device=device, requires_grad=True) for a in arrays]


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_forward_matches_numpy(spec, device):
    xs = make_inputs(spec, device)
    outs = _as_list(spec.fn(*xs))
    refs = _as_list(spec.ref(*[x.numpy() for x in xs]))
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs, strict=True):
        ref = np.asarray(ref)
        assert isinstance(out, gk.Tensor)
        assert out.device.split(":")[0] == device
        assert out.shape == ref.shape, f"{spec.id}: shape {out.shape}, NumPy gives {ref.shape}"
        assert out.dtype == ref.dtype, f"{spec.id}: dtype {out.dtype}, NumPy gives {ref.dtype}"
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)
        assert out.requires_grad


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_gradient_matches_central_differences(spec, device):
    xs = make_inputs(spec, device)
    assert gk.gradcheck(spec.fn, xs)


def _first_derivatives(spec, device):
    """f'(x) contracted with a fixed cotangent, as a function that gradcheck can differentiate."""
    rng = np.random.default_rng(_seed(spec.id) + 1)
    cotangents = {}

    def grads(*xs):
        for x in xs:
            x.grad = None
        outs = _as_list(spec.fn(*xs))
        total = None
        for k, y in enumerate(outs):
            if k not in cotangents:
                cotangents[k] = gk.tensor(rng.standard_normal(y.shape), device=device)
            term = (y * cotangents[k]).sum()
            total = term if total is None else total + term
        total.backward(create_graph=True)
        gs = tuple(x.grad for x in xs if x.grad is not None)
        assert gs, "no input received a gradient"
        return gs

    return grads


@pytest.mark.parametrize("spec", SMOOTH, ids=lambda s: s.id)
def test_second_derivative_matches_central_differences(spec, device):
    xs = make_inputs(spec, device)
    assert gk.gradcheck(_first_derivatives(spec, device), xs, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_float32_inputs_keep_numpy_dtype(spec, device):
    """float32 in, float32 out, as NumPy does (Python scalars never upcast; float64 arrays do)."""
    xs = [x.detach().astype(gk.float32).requires_grad_() for x in make_inputs(spec, device)]
    outs = _as_list(spec.fn(*xs))
    refs = _as_list(spec.ref(*[x.numpy() for x in xs]))
    for out, ref in zip(outs, refs, strict=True):
        ref = np.asarray(ref)
        assert out.dtype == ref.dtype, f"{spec.id}: dtype {out.dtype}, NumPy gives {ref.dtype}"
        np.testing.assert_allclose(out.numpy(), ref, rtol=2e-4, atol=1e-5)
    # the gradient of every input has the input's dtype and shape
    total = sum((o.astype(gk.float64) if o.dtype != xs[0].dtype else o).sum() for o in outs)
    total.backward()
    for x in xs:
        assert x.grad is not None
        assert x.grad.dtype == gk.float32 and x.grad.shape == x.shape


API_FUNCTIONS = """
add subtract multiply divide negative power exp log log1p expm1 sqrt square abs sign sin cos tan tanh sigmoid relu
maximum minimum where clip sum mean var std max min prod logsumexp matmul dot outer einsum reshape transpose
permute squeeze unsqueeze expand broadcast_to concatenate stack split flip pad take gather softmax log_softmax
arcsin arccos arctan arctan2 sinh cosh arcsinh arccosh arctanh log2 log10 exp2 hypot cbrt reciprocal rsqrt erf
cumsum cumprod norm sort topk tril triu clamp cat clone contiguous floor ceil round trunc fix remainder swapaxes
expand_dims tile repeat repeat_interleave roll diag diagonal diff moveaxis chunk unbind index_select masked_fill
atleast_1d atleast_2d atleast_3d
nansum nanmean median quantile percentile average ptp amax amin logaddexp logaddexp2 sinc deg2rad rad2deg radians
degrees fmod copysign fabs nanmedian nanquantile nanpercentile erfc erfinv lgamma gammaln digamma xlogy
""".split()
API_METHODS = """
sum mean var std max min prod reshape view flatten transpose permute T squeeze unsqueeze expand broadcast_to exp
log sqrt sin cos tanh sigmoid relu clip pow matmul softmax log_softmax astype
arcsin arccos arctan arctan2 sinh cosh arcsinh arccosh arctanh log2 log10 exp2 hypot reciprocal rsqrt erf
asin acos atan atan2 asinh acosh atanh neg sign abs log1p expm1 maximum minimum cumsum cumprod argsort topk norm
clamp floor ceil round trunc fix isnan isfinite clone contiguous t mT swapaxes view_as reshape_as expand_as type_as
numel dim tile repeat repeat_interleave roll moveaxis diagonal diag diff nonzero argwhere chunk unbind index_select
masked_fill
nansum nanmean median quantile amax amin count_nonzero logaddexp logaddexp2 sinc deg2rad rad2deg fmod copysign
heaviside signbit nanmedian nanquantile erfc erfinv lgamma digamma xlogy
""".split()


def test_table_covers_every_differentiable_function_of_the_api():
    ids = [s.id for s in SPECS]
    missing = [n for n in API_FUNCTIONS if not any(i == n or i.startswith((n + "(", n + "[", n + "_")) for i in ids)]
    assert not missing, f"no gradcheck row for gk.{missing}"
    for name in API_FUNCTIONS:
        assert callable(getattr(gk, name))


def test_every_api_method_exists():
    t = gk.ones(2, 3)
    for name in API_METHODS + ["argmax", "argmin", "numpy", "item", "tolist", "to", "cpu", "cuda", "detach",
                               "requires_grad_", "retain_grad", "register_hook", "backward"]:
        assert hasattr(t, name), name

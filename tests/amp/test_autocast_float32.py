"""``gk.autocast``'s float32 lists: the ops PyTorch's autocast computes in float32 (per device type, see
``autocast_mode.FLOAT32_OPS``) take float16 operands to float32 inside a region, record the cast (float16 leaves
get float16 gradients) and leave float32/float64 alone; ``F.binary_cross_entropy`` is refused under "cuda".

On NumPy the tests use ``autocast("cpu", dtype=gk.float16)`` (the CPU list); with the emulated CuPy,
``autocast("cuda")`` (the CUDA list). Where torch is installed, the CPU list is compared with torch's own.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from _amp_helpers import autocast_on, kind, rand_in_range

import gradkit as gk
from gradkit import amp
from gradkit.amp import autocast_mode
from gradkit.errors import GradkitError
from gradkit.nn import functional as F

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


_kind, _ac, _rand = kind, autocast_on, rand_in_range



def _labels(device: str) -> gk.Tensor:
    return gk.tensor(np.array([0, 2, 1, 5]), device=device)


def _signs(device: str, n: int = 4, dtype: object = np.float16) -> gk.Tensor:
    return gk.tensor(np.array([1, -1, 1, -1][:n], dtype=dtype), device=device)


def _scaled(x: gk.Tensor, d: str, diagonal: float = 64.0) -> gk.Tensor:
    """x's first 4 columns with the diagonal times ``diagonal`` (a power of two: exact in float16 too, so the
    float32 reference has the same numbers): diagonally dominant, so definite in either triangle."""
    scale = np.ones((4, 4)) + (diagonal - 1) * np.eye(4)
    return x[:, :4] * gk.tensor(scale.astype(x.dtype), device=d)


def _unpooled(x: gk.Tensor, dims: int) -> gk.Tensor:
    """max_unpool of x's max pooling (indices from the pool)."""
    if dims == 2:
        p, i = F.max_pool2d(x.reshape(1, 1, 4, 6), 2, return_indices=True)
        return F.max_unpool2d(p, i, 2)
    p, i = F.max_pool3d(x.reshape(1, 1, 2, 3, 4), 2, return_indices=True)
    return F.max_unpool3d(p, i, 2)


#: op (autocast_mode's name) -> f(x, y, device): x and y (4, 6) tensors of one float dtype
CASES: dict[str, Callable] = {
    "pow": lambda x, y, d: x ** 2,
    "__rtruediv__": lambda x, y, d: 2.0 / x,
    "acos": lambda x, y, d: gk.acos(x),
    "asin": lambda x, y, d: gk.arcsin(x),
    "cosh": lambda x, y, d: gk.cosh(x),
    "sinh": lambda x, y, d: x.sinh(),
    "tan": lambda x, y, d: gk.tan(x),
    "exp": lambda x, y, d: x.exp(),
    "expm1": lambda x, y, d: gk.expm1(x),
    "log": lambda x, y, d: gk.log(x),
    "log10": lambda x, y, d: gk.log10(x),
    "log1p": lambda x, y, d: x.log1p(),
    "log2": lambda x, y, d: gk.log2(x),
    "erfinv": lambda x, y, d: gk.erfinv(x),
    "reciprocal": lambda x, y, d: x.reciprocal(),
    "rsqrt": lambda x, y, d: gk.rsqrt(x),
    "pdist": lambda x, y, d: F.pdist(x),
    "dist": lambda x, y, d: gk.dist(x, y),
    "cdist": lambda x, y, d: gk.cdist(x, y),
    "cosine_similarity": lambda x, y, d: F.cosine_similarity(x, y),
    "normalize": lambda x, y, d: F.normalize(x),
    "norm": lambda x, y, d: x.norm(),
    "renorm": lambda x, y, d: gk.renorm(x, 2, 0, 1.0),
    "cumprod": lambda x, y, d: gk.cumprod(x, dim=1),
    "cumsum": lambda x, y, d: x.cumsum(dim=0),
    "prod": lambda x, y, d: x.prod(),
    "sum": lambda x, y, d: x.sum(),
    "logsumexp": lambda x, y, d: gk.logsumexp(x, dim=1),
    "softmax": lambda x, y, d: F.softmax(x, dim=1),
    "log_softmax": lambda x, y, d: x.log_softmax(dim=1),
    "softmin": lambda x, y, d: F.softmin(x, dim=1),
    "softplus": lambda x, y, d: F.softplus(x),
    "layer_norm": lambda x, y, d: F.layer_norm(x, (6,)),
    "group_norm": lambda x, y, d: F.group_norm(x.reshape(2, 4, 3), 2),
    "rms_norm": lambda x, y, d: F.rms_norm(x, (6,)),
    "trace": lambda x, y, d: x.trace(),
    "quantile": lambda x, y, d: gk.quantile(x, 0.5),
    "nanquantile": lambda x, y, d: gk.nanquantile(x, 0.25),
    "binary_cross_entropy_with_logits": lambda x, y, d: F.binary_cross_entropy_with_logits(x, y),
    "binary_cross_entropy": lambda x, y, d: F.binary_cross_entropy(x, y),
    "cosine_embedding_loss": lambda x, y, d: F.cosine_embedding_loss(x, y, _signs(d, dtype=x.dtype)),
    "cross_entropy": lambda x, y, d: F.cross_entropy(x, _labels(d)),
    "hinge_embedding_loss": lambda x, y, d: F.hinge_embedding_loss(x, gk.ones_like(y)),
    "huber_loss": lambda x, y, d: F.huber_loss(x, y),
    "kl_div": lambda x, y, d: F.kl_div(x, y, reduction="batchmean"),
    "l1_loss": lambda x, y, d: F.l1_loss(x, y),
    "margin_ranking_loss": lambda x, y, d: F.margin_ranking_loss(x[0], y[0], gk.ones_like(y[0])),
    "mse_loss": lambda x, y, d: F.mse_loss(x, y),
    "multi_margin_loss": lambda x, y, d: F.multi_margin_loss(x, _labels(d)),
    "multilabel_margin_loss": lambda x, y, d: F.multilabel_margin_loss(
        x, gk.tensor(np.array([[1, 0, -1, 0, 0, 0]] * 4), device=d)),
    "nll_loss": lambda x, y, d: F.nll_loss(x, _labels(d)),
    "poisson_nll_loss": lambda x, y, d: F.poisson_nll_loss(x, y),
    "smooth_l1_loss": lambda x, y, d: F.smooth_l1_loss(x, y),
    "soft_margin_loss": lambda x, y, d: F.soft_margin_loss(x, gk.ones_like(y)),
    "triplet_margin_loss": lambda x, y, d: F.triplet_margin_loss(x, y, x * 0.5),
    # PyTorch's CPU list beyond the losses (probed on torch 2.14)
    "ctc_loss": lambda x, y, d: F.ctc_loss(-x.reshape(4, 2, 3), gk.tensor(np.array([[1, 2], [1, 1]]), device=d),
                                           [4, 4], [2, 2]),
    "grid_sample": lambda x, y, d: F.grid_sample(x.reshape(1, 1, 4, 6), y[:, :4].reshape(1, 2, 2, 4)[..., :2] - 0.5,
                                                 align_corners=False),
    "reflection_pad": lambda x, y, d: F.pad(x.reshape(1, 4, 6), (1, 1), mode="reflect"),
    "replication_pad": lambda x, y, d: F.pad(x.reshape(1, 4, 6), (1, 2), mode="replicate"),
    "avg_pool3d": lambda x, y, d: F.avg_pool3d(x.reshape(1, 1, 2, 3, 4), 2),
    "max_pool3d": lambda x, y, d: F.max_pool3d(x.reshape(1, 1, 2, 3, 4), 2),
    "adaptive_avg_pool3d": lambda x, y, d: F.adaptive_avg_pool3d(x.reshape(1, 1, 2, 3, 4), (1, 2, 2)),
    "adaptive_max_pool3d": lambda x, y, d: F.adaptive_max_pool3d(x.reshape(1, 1, 2, 3, 4), (1, 2, 2)),
    "fractional_max_pool2d": lambda x, y, d: F.fractional_max_pool2d(
        x.reshape(1, 2, 3, 4), 2, output_size=2, _random_samples=y[0, :4].reshape(1, 2, 2)),
    "fractional_max_pool3d": lambda x, y, d: F.fractional_max_pool3d(
        x.reshape(1, 1, 2, 3, 4), (1, 2, 2), output_size=(1, 1, 2), _random_samples=y[0, :3].reshape(1, 1, 3)),
    "max_unpool2d": lambda x, y, d: _unpooled(x, 2),
    "max_unpool3d": lambda x, y, d: _unpooled(x, 3),
    # the matrix functions (session 21)
    "linalg_inv": lambda x, y, d: gk.linalg.inv(_scaled(x, d, 4.0)),
    "linalg_inv_ex": lambda x, y, d: gk.linalg.inv_ex(_scaled(x, d, 4.0)).inverse,
    "linalg_svd": lambda x, y, d: gk.linalg.svd(x)[1],
    "linalg_svdvals": lambda x, y, d: gk.linalg.svdvals(x),
    "linalg_qr": lambda x, y, d: gk.linalg.qr(x)[1],
    "linalg_cholesky": lambda x, y, d: gk.linalg.cholesky(_scaled(x, d)),
    "linalg_cholesky_ex": lambda x, y, d: gk.linalg.cholesky_ex(_scaled(x, d)).L,
    "linalg_eigh": lambda x, y, d: gk.linalg.eigh(_scaled(x, d))[0],
    "linalg_eigvalsh": lambda x, y, d: gk.linalg.eigvalsh(_scaled(x, d)),
    "linalg_cond": lambda x, y, d: gk.linalg.cond(_scaled(x, d, 4.0)),
    # (the rank is an integer: times a singular value, which carries the gradient)
    "linalg_matrix_rank": lambda x, y, d: gk.linalg.svdvals(x)[:1] * int(gk.linalg.matrix_rank(x)),
    "linalg_solve": lambda x, y, d: gk.linalg.solve(_scaled(x, d, 4.0), y[:, :2]),
    "linalg_lstsq": lambda x, y, d: gk.linalg.lstsq(x, y[:, :2])[0],
    "linalg_householder_product": lambda x, y, d: gk.linalg.householder_product(x.mT, y[0, :3]),
    "triangular_solve": lambda x, y, d: gk.triangular_solve(y[:, :2], _scaled(x, d, 4.0))[0],
    "cholesky_solve": lambda x, y, d: gk.cholesky_solve(y[:, :2], gk.tril(_scaled(x, d))),
    "cholesky_inverse": lambda x, y, d: gk.cholesky_inverse(gk.tril(_scaled(x, d))),
    # gradkit's functions behind a name on the list (PyTorch's own refuses float16: autocast_mode._CPU_SIBLINGS)
    "linalg_pinv": lambda x, y, d: gk.linalg.pinv(x),
    "linalg_lu_factor": lambda x, y, d: gk.linalg.lu_factor(_scaled(x, d, 4.0)).LU,
    "linalg_lu_factor_ex": lambda x, y, d: gk.linalg.lu_factor_ex(_scaled(x, d, 4.0)).LU,
    "linalg_lu": lambda x, y, d: gk.linalg.lu(_scaled(x, d, 4.0)).U,
    "linalg_lu_solve": lambda x, y, d: gk.linalg.lu_solve(*gk.linalg.lu_factor(_scaled(x, d, 4.0)), y[:, :2]),
    "linalg_solve_ex": lambda x, y, d: gk.linalg.solve_ex(_scaled(x, d, 4.0), y[:, :2]).result,
    "linalg_solve_triangular": lambda x, y, d: gk.linalg.solve_triangular(_scaled(x, d, 4.0), y[:, :2]),
    # PyTorch's CUDA list beyond the documented one (ATen/autocast_mode.h: upsample_*)
    "interpolate": lambda x, y, d: F.interpolate(x.reshape(1, 1, 4, 6), scale_factor=2, mode="bilinear"),
}

#: listed ops gradkit computes in float32 and float64 only (a float16 call outside a region is refused)
NO_FLOAT16 = {"ctc_loss"} | {op for op in CASES if op.startswith(("linalg_", "cholesky_", "triangular_"))}

#: the same calls in torch (the CPU list's comparison)
TORCH_CASES: dict[str, Callable] = {
    "pow": lambda t, x, y: x ** 2, "__rtruediv__": lambda t, x, y: 2.0 / x, "acos": lambda t, x, y: t.acos(x),
    "asin": lambda t, x, y: t.asin(x), "cosh": lambda t, x, y: t.cosh(x), "sinh": lambda t, x, y: x.sinh(),
    "tan": lambda t, x, y: t.tan(x), "exp": lambda t, x, y: x.exp(), "expm1": lambda t, x, y: t.expm1(x),
    "log": lambda t, x, y: t.log(x), "log10": lambda t, x, y: t.log10(x), "log1p": lambda t, x, y: x.log1p(),
    "log2": lambda t, x, y: t.log2(x), "erfinv": lambda t, x, y: t.erfinv(x),
    "reciprocal": lambda t, x, y: x.reciprocal(), "rsqrt": lambda t, x, y: t.rsqrt(x),
    "pdist": lambda t, x, y: t.nn.functional.pdist(x), "dist": lambda t, x, y: t.dist(x, y),
    "cdist": lambda t, x, y: t.cdist(x, y),
    "cosine_similarity": lambda t, x, y: t.nn.functional.cosine_similarity(x, y),
    "normalize": lambda t, x, y: t.nn.functional.normalize(x), "norm": lambda t, x, y: x.norm(),
    "renorm": lambda t, x, y: t.renorm(x, 2, 0, 1.0), "cumprod": lambda t, x, y: t.cumprod(x, dim=1),
    "cumsum": lambda t, x, y: x.cumsum(dim=0), "prod": lambda t, x, y: x.prod(), "sum": lambda t, x, y: x.sum(),
    "logsumexp": lambda t, x, y: t.logsumexp(x, dim=1), "softmax": lambda t, x, y: t.softmax(x, dim=1),
    "log_softmax": lambda t, x, y: x.log_softmax(dim=1),
    "softmin": lambda t, x, y: t.nn.functional.softmin(x, dim=1),
    "softplus": lambda t, x, y: t.nn.functional.softplus(x),
    "layer_norm": lambda t, x, y: t.nn.functional.layer_norm(x, (6,)),
    "group_norm": lambda t, x, y: t.nn.functional.group_norm(x.reshape(2, 4, 3), 2),
    "rms_norm": lambda t, x, y: t.nn.functional.rms_norm(x, (6,)), "trace": lambda t, x, y: x.trace(),
    "quantile": lambda t, x, y: t.quantile(x, 0.5), "nanquantile": lambda t, x, y: t.nanquantile(x, 0.25),
    "binary_cross_entropy_with_logits": lambda t, x, y: t.nn.functional.binary_cross_entropy_with_logits(x, y),
    "binary_cross_entropy": lambda t, x, y: t.nn.functional.binary_cross_entropy(x, y),
    "cosine_embedding_loss": lambda t, x, y: t.nn.functional.cosine_embedding_loss(
        x, y, t.tensor([1.0, -1, 1, -1], dtype=x.dtype)),
    "cross_entropy": lambda t, x, y: t.nn.functional.cross_entropy(x, t.tensor([0, 2, 1, 5])),
    "hinge_embedding_loss": lambda t, x, y: t.nn.functional.hinge_embedding_loss(x, t.ones_like(y)),
    "huber_loss": lambda t, x, y: t.nn.functional.huber_loss(x, y),
    "kl_div": lambda t, x, y: t.nn.functional.kl_div(x, y, reduction="batchmean"),
    "l1_loss": lambda t, x, y: t.nn.functional.l1_loss(x, y),
    "margin_ranking_loss": lambda t, x, y: t.nn.functional.margin_ranking_loss(x[0], y[0], t.ones_like(y[0])),
    "mse_loss": lambda t, x, y: t.nn.functional.mse_loss(x, y),
    "multi_margin_loss": lambda t, x, y: t.nn.functional.multi_margin_loss(x, t.tensor([0, 2, 1, 5])),
    "multilabel_margin_loss": lambda t, x, y: t.nn.functional.multilabel_margin_loss(
        x, t.tensor([[1, 0, -1, 0, 0, 0]] * 4)),
    "nll_loss": lambda t, x, y: t.nn.functional.nll_loss(x, t.tensor([0, 2, 1, 5])),
    "poisson_nll_loss": lambda t, x, y: t.nn.functional.poisson_nll_loss(x, y),
    "smooth_l1_loss": lambda t, x, y: t.nn.functional.smooth_l1_loss(x, y),
    "soft_margin_loss": lambda t, x, y: t.nn.functional.soft_margin_loss(x, t.ones_like(y)),
    "triplet_margin_loss": lambda t, x, y: t.nn.functional.triplet_margin_loss(x, y, x * 0.5),
    "ctc_loss": lambda t, x, y: t.nn.functional.ctc_loss(-x.reshape(4, 2, 3), t.tensor([[1, 2], [1, 1]]), [4, 4],
                                                         [2, 2]),
    "grid_sample": lambda t, x, y: t.nn.functional.grid_sample(
        x.reshape(1, 1, 4, 6), y[:, :4].reshape(1, 2, 2, 4)[..., :2] - 0.5, align_corners=False),
    "reflection_pad": lambda t, x, y: t.nn.functional.pad(x.reshape(1, 4, 6), (1, 1), mode="reflect"),
    "replication_pad": lambda t, x, y: t.nn.functional.pad(x.reshape(1, 4, 6), (1, 2), mode="replicate"),
    "avg_pool3d": lambda t, x, y: t.nn.functional.avg_pool3d(x.reshape(1, 1, 2, 3, 4), 2),
    "max_pool3d": lambda t, x, y: t.nn.functional.max_pool3d(x.reshape(1, 1, 2, 3, 4), 2),
    "adaptive_avg_pool3d": lambda t, x, y: t.nn.functional.adaptive_avg_pool3d(x.reshape(1, 1, 2, 3, 4), (1, 2, 2)),
    "adaptive_max_pool3d": lambda t, x, y: t.nn.functional.adaptive_max_pool3d(x.reshape(1, 1, 2, 3, 4), (1, 2, 2)),
    "fractional_max_pool2d": lambda t, x, y: t.nn.functional.fractional_max_pool2d(
        x.reshape(1, 2, 3, 4), 2, output_size=2, _random_samples=y[0, :4].reshape(1, 2, 2)),
    "fractional_max_pool3d": lambda t, x, y: t.nn.functional.fractional_max_pool3d(
        x.reshape(1, 1, 2, 3, 4), (1, 2, 2), output_size=(1, 1, 2), _random_samples=y[0, :3].reshape(1, 1, 3)),
    "max_unpool2d": lambda t, x, y: t.nn.functional.max_unpool2d(
        *t.nn.functional.max_pool2d(x.reshape(1, 1, 4, 6), 2, return_indices=True), 2),
    "max_unpool3d": lambda t, x, y: t.nn.functional.max_unpool3d(
        *t.nn.functional.max_pool3d(x.reshape(1, 1, 2, 3, 4), 2, return_indices=True), 2),
    "linalg_inv": lambda t, x, y: t.linalg.inv(_t_scaled(t, x, 4.0)),
    "linalg_inv_ex": lambda t, x, y: t.linalg.inv_ex(_t_scaled(t, x, 4.0)).inverse,
    "linalg_svd": lambda t, x, y: t.linalg.svd(x)[1], "linalg_svdvals": lambda t, x, y: t.linalg.svdvals(x),
    "linalg_qr": lambda t, x, y: t.linalg.qr(x)[1],
    "linalg_cholesky": lambda t, x, y: t.linalg.cholesky(_t_scaled(t, x)),
    "linalg_cholesky_ex": lambda t, x, y: t.linalg.cholesky_ex(_t_scaled(t, x)).L,
    "linalg_eigh": lambda t, x, y: t.linalg.eigh(_t_scaled(t, x))[0],
    "linalg_eigvalsh": lambda t, x, y: t.linalg.eigvalsh(_t_scaled(t, x)),
    "linalg_cond": lambda t, x, y: t.linalg.cond(_t_scaled(t, x, 4.0)),
    "linalg_matrix_rank": lambda t, x, y: t.linalg.svdvals(x)[:1] * int(t.linalg.matrix_rank(x)),
    "linalg_solve": lambda t, x, y: t.linalg.solve(_t_scaled(t, x, 4.0), y[:, :2]),
    "linalg_lstsq": lambda t, x, y: t.linalg.lstsq(x, y[:, :2])[0],
    "linalg_householder_product": lambda t, x, y: t.linalg.householder_product(x.mT, y[0, :3]),
    "triangular_solve": lambda t, x, y: t.triangular_solve(y[:, :2], _t_scaled(t, x, 4.0))[0],
    "cholesky_solve": lambda t, x, y: t.cholesky_solve(y[:, :2], t.tril(_t_scaled(t, x))),
    "cholesky_inverse": lambda t, x, y: t.cholesky_inverse(t.tril(_t_scaled(t, x))),
    "linalg_pinv": lambda t, x, y: t.linalg.pinv(x),  # (float16 refused by torch 2.14's region: skipped)
    "linalg_lu_factor": lambda t, x, y: t.linalg.lu_factor(_t_scaled(t, x, 4.0)).LU,
    "linalg_lu_factor_ex": lambda t, x, y: t.linalg.lu_factor_ex(_t_scaled(t, x, 4.0)).LU,
    "linalg_lu": lambda t, x, y: t.linalg.lu(_t_scaled(t, x, 4.0)).U,
    "linalg_lu_solve": lambda t, x, y: t.linalg.lu_solve(*t.linalg.lu_factor(_t_scaled(t, x, 4.0)), y[:, :2]),
    "linalg_solve_ex": lambda t, x, y: t.linalg.solve_ex(_t_scaled(t, x, 4.0), y[:, :2]).result,
    "linalg_solve_triangular": lambda t, x, y: t.linalg.solve_triangular(_t_scaled(t, x, 4.0), y[:, :2], upper=True),
    "interpolate": lambda t, x, y: t.nn.functional.interpolate(x.reshape(1, 1, 4, 6), scale_factor=2, mode="bilinear"),
}


def _t_scaled(t: object, x: object, diagonal: float = 64.0) -> object:
    """``_scaled`` in torch."""
    return x[:, :4] * t.from_numpy((np.ones((4, 4)) + (diagonal - 1) * np.eye(4)).astype(np.float16)).to(x.dtype)

_ALL = sorted(set().union(*autocast_mode.FLOAT32_OPS.values()))


def test_every_listed_op_has_a_case() -> None:
    assert set(_ALL) <= set(CASES), set(_ALL) - set(CASES)
    assert set(CASES) == set(TORCH_CASES)


def _call(op: str, x: gk.Tensor, y: gk.Tensor, device: str) -> gk.Tensor:
    return CASES[op](x, y, device)


@pytest.mark.parametrize("op", sorted(CASES))
def test_float16_computed_in_float32_where_listed(device: str, op: str) -> None:
    kind = _kind(device)
    if op == "binary_cross_entropy" and kind == "cuda":
        pytest.skip("refused under autocast('cuda'): test_binary_cross_entropy_is_refused_on_cuda")
    listed = op in autocast_mode.FLOAT32_OPS[kind]
    if op in NO_FLOAT16 and not listed:
        pytest.skip(f"{op}: no float16 kernel, and not on the {kind!r} list")
    x = _rand(device, 4, 6, requires_grad=True)
    y = _rand(device, 4, 6, seed=1)
    with _ac(device):
        out = _call(op, x, y, device)
    assert out.dtype == (F32 if listed else F16), (op, kind, out.dtype)
    if listed:  # the float32 result is the op of the float32 operands
        ref = _call(op, x.detach().astype(gk.float32), y.astype(gk.float32), device)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
    out.backward(gk.ones_like(out))  # the cast is recorded: the float16 leaf's gradient is float16
    assert x.grad is not None and x.grad.dtype == F16, op
    if op not in NO_FLOAT16:
        assert _call(op, x, y, device).dtype == F16  # outside the region: untouched


@pytest.mark.parametrize("op", sorted(set(CASES) - {"binary_cross_entropy"}))
def test_float32_and_float64_untouched(device: str, op: str) -> None:
    for dtype in (np.float32, np.float64):
        x, y = _rand(device, 4, 6, dtype=dtype), _rand(device, 4, 6, seed=1, dtype=dtype)
        with _ac(device):
            assert _call(op, x, y, device).dtype == np.dtype(dtype), (op, dtype)


@pytest.mark.parametrize("op", sorted(TORCH_CASES))
def test_cpu_list_matches_torch(op: str) -> None:
    torch = pytest.importorskip("torch")
    x = (np.random.default_rng(0).random((4, 6)) * 0.8 + 0.1).astype(np.float16)
    y = (np.random.default_rng(1).random((4, 6)) * 0.8 + 0.1).astype(np.float16)
    with torch.autocast("cpu", dtype=torch.float16):
        try:
            expected = TORCH_CASES[op](torch, torch.from_numpy(x), torch.from_numpy(y)).dtype
        except (RuntimeError, NotImplementedError):  # a float16 kernel the CPU lacks (pdist)
            pytest.skip(f"torch has no CPU float16 {op}")
    with amp.autocast("cpu", dtype=gk.float16):
        got = _call(op, gk.tensor(x, device="cpu"), gk.tensor(y, device="cpu"), "cpu").dtype
    assert str(got) == str(expected).replace("torch.", ""), (op, got, expected)


def test_cpu_table_follows_torch_not_the_cuda_list() -> None:
    cpu, cuda = autocast_mode.FLOAT32_OPS["cpu"], autocast_mode.FLOAT32_OPS["cuda"]
    assert {"exp", "log", "sum", "softmax", "layer_norm", "pow"} <= cuda - cpu
    assert {"prod", "nll_loss", "cross_entropy", "mse_loss", "binary_cross_entropy"} <= cpu


def test_rpow_and_tensor_exponent(device: str) -> None:
    x, y = _rand(device, 3), _rand(device, 3, seed=1)
    with _ac(device):
        results = {"2 ** x": 2 ** x, "x ** y": x ** y, "pow(x, y)": gk.pow(x, y), "x.pow(2)": x.pow(2)}
    expected = F32 if _kind(device) == "cuda" else F16
    for name, r in results.items():
        assert r.dtype == expected, name


def test_explicit_dtype_is_not_eligible(device: str) -> None:
    x = _rand(device, 4, 6)
    with _ac(device):  # PyTorch's rule: a call with dtype= runs in that dtype
        assert x.sum(dtype=gk.float16).dtype == F16
        assert gk.cumsum(x, 0, dtype=gk.float16).dtype == F16
        assert x.prod(dtype=gk.float16).dtype == F16


def test_binary_cross_entropy_is_refused_on_cuda(device: str) -> None:
    p, t = _rand(device, 4), _rand(device, 4, seed=1)
    if _kind(device) == "cpu":
        with _ac(device):  # PyTorch's CPU list computes it in float32
            assert F.binary_cross_entropy(p, t).dtype == F32
            assert gk.nn.BCELoss()(p, t).dtype == F32
        return
    for call in (lambda: F.binary_cross_entropy(p, t), lambda: gk.nn.BCELoss()(p, t),
                 lambda: F.binary_cross_entropy(p.astype(gk.float32), t.astype(gk.float32))):
        with _ac(device), pytest.raises(amp.AutocastUnsafeOpError) as info:
            call()
        assert isinstance(info.value, RuntimeError) and isinstance(info.value, GradkitError)
        assert "binary_cross_entropy_with_logits" in str(info.value) and "unsafe" in str(info.value)
    with _ac(device):
        assert F.binary_cross_entropy_with_logits(p, t).dtype == F32
        with _ac(device, enabled=False):  # the fix the message names
            assert F.binary_cross_entropy(p.astype(gk.float32), t.astype(gk.float32)).dtype == F32
    assert F.binary_cross_entropy(p, t).dtype == F16  # outside: allowed


def test_float16_mlp_loss_is_float32(device: str) -> None:
    model = gk.nn.Sequential(gk.nn.Linear(6, 8), gk.nn.ReLU(), gk.nn.Linear(8, 6)).to(device)
    x = _rand(device, 4, 6, dtype=np.float32)
    with _ac(device):
        logits = model(x)
        loss = F.cross_entropy(logits, _labels(device))
    assert logits.dtype == F16 and loss.dtype == F32
    loss.backward()
    for p in model.parameters():
        assert p.grad is not None and p.grad.dtype == F32  # the parameters' own dtype
    expected = F.cross_entropy(logits.detach().astype(gk.float32), _labels(device))
    np.testing.assert_array_equal(loss.numpy(), expected.numpy())  # cast once, then as float32


def test_composites_cast_once(device: str) -> None:
    """A listed op built of other listed ops (cross_entropy of log_softmax and nll_loss, normalize of norm, ...)
    casts once at its entry and then computes as on float32 operands: the same numbers."""
    x, y = _rand(device, 4, 6), _rand(device, 4, 6, seed=1)
    x32, y32 = x.astype(gk.float32), y.astype(gk.float32)
    labels = _labels(device)
    with _ac(device):
        pairs = {
            "cross_entropy": (F.cross_entropy(x, labels, label_smoothing=0.1),
                              F.cross_entropy(x32, labels, label_smoothing=0.1)),
            "normalize": (F.normalize(x), F.normalize(x32)), "softmin": (F.softmin(x, dim=1), F.softmin(x32, dim=1)),
            "triplet_margin_loss": (F.triplet_margin_loss(x, y, x * 0.5),
                                    F.triplet_margin_loss(x32, y32, (x * 0.5).astype(gk.float32))),
            "smooth_l1_loss": (F.smooth_l1_loss(x, y, beta=0.0), F.l1_loss(x32, y32)),
            "cosine_embedding_loss": (F.cosine_embedding_loss(x, y, _signs(device)),
                                      F.cosine_embedding_loss(x32, y32, _signs(device, dtype=np.float32))),
        }
    listed = autocast_mode.FLOAT32_OPS[_kind(device)]
    for op, (got, ref) in pairs.items():
        if op in listed:
            assert got.dtype == ref.dtype == F32, op
            np.testing.assert_array_equal(got.numpy(), ref.numpy())
        else:
            assert got.dtype == F16, op


def test_backward_inside_a_region_is_not_cast(device: str) -> None:
    x = _rand(device, 5, requires_grad=True)
    y = gk.sinh(x) ** 3  # outside: float16 throughout
    assert y.dtype == F16
    with _ac(device):  # the rules (cosh, pow) run in the forward pass's dtypes
        (g,) = gk.autograd.grad(y.sum(), x, create_graph=True)
    assert g.dtype == F16
    with _ac(device):
        z = gk.exp(x)  # cast in the region, differentiated in it
        z.backward(gk.ones_like(z))
    assert x.grad.dtype == F16


def test_no_cost_outside_a_region(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside every region the ops read ``active`` and nothing else: ``to_float32`` is never called."""
    def boom(*args: object) -> None:
        raise AssertionError("to_float32 called outside autocast")

    monkeypatch.setattr(autocast_mode, "to_float32", boom)
    assert autocast_mode.active == 0
    x, y = _rand(device, 4, 6), _rand(device, 4, 6, seed=1)
    for op in set(CASES) - NO_FLOAT16:
        _call(op, x, y, device)
    x / y, 2.0 / x  # noqa: B018


def test_enabled_false_and_other_device_type_untouched(device: str) -> None:
    x = _rand(device, 4, 6)
    with _ac(device, enabled=False):
        assert F.mse_loss(x, x).dtype == F16 and x.prod().dtype == F16
    other = "cuda" if _kind(device) == "cpu" else "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "cuda" without a GPU disables itself with a warning
        with amp.autocast(other, dtype=gk.float16):
            assert F.mse_loss(x, x).dtype == F16 and x.prod().dtype == F16


def test_unsafe_error_is_exported() -> None:
    assert amp.AutocastUnsafeOpError is autocast_mode.AutocastUnsafeOpError
    assert issubclass(amp.AutocastUnsafeOpError, GradkitError) and issubclass(amp.AutocastUnsafeOpError, RuntimeError)

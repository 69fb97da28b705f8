"""Review of ``gk.autocast``'s float32 list against torch 2.14 (its ``ATen/autocast_mode.h`` for "cuda", probed
``torch.autocast("cpu", dtype=torch.float16)`` for "cpu"): the promote list, composite leaks, ops that must not
be cast, realistic programs (a training step with GradScaler, checkpoint, gk.func, threads, nested regions).

On NumPy the tests use ``autocast("cpu", dtype=gk.float16)``; with the emulated CuPy, ``autocast("cuda")``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from _amp_helpers import autocast_on, kind, rand_in_range

import gradkit as gk
from gradkit import amp, nn
from gradkit.amp import autocast_mode
from gradkit.errors import DTypeError
from gradkit.nn import functional as F

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)


_kind, _ac, _rand = kind, autocast_on, rand_in_range



def _cuda_only(device: str) -> None:
    if _kind(device) != "cuda":
        pytest.skip("PyTorch's promote list is a CUDA list")


# ------------------------------------------------------------------ the promote list ("cuda")
def test_bilinear_promotes_and_computes_in_float32(device: str) -> None:
    _cuda_only(device)
    x1, x2 = _rand(device, 4, 6, requires_grad=True), _rand(device, 4, 5, seed=1)
    layer = nn.Bilinear(6, 5, 3).to(device)  # float32 weights
    with _ac(device):
        y = layer(x1, x2)
        y2 = F.bilinear(x1, x2, layer.weight, layer.bias)
        y32 = layer(x1.detach().astype(gk.float32), x2.astype(gk.float32))
    assert y.dtype == y2.dtype == y32.dtype == F32
    ref = layer(x1.detach().astype(gk.float32), x2.astype(gk.float32))  # outside: float32 throughout
    np.testing.assert_array_equal(y32.numpy(), ref.numpy())  # its matmul is not cast to float16 inside
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    y.sum().backward()
    assert x1.grad.dtype == F16 and layer.weight.grad.dtype == F32


def test_scatter_add_promotes(device: str) -> None:
    _cuda_only(device)
    x = _rand(device, 3, 4, requires_grad=True)
    src = _rand(device, 3, 4, seed=1, dtype=np.float32, requires_grad=True)
    index = gk.tensor(np.zeros((3, 4), dtype=np.int64), device=device)
    with _ac(device):
        out, method = gk.scatter_add(x, 0, index, src), x.scatter_add(0, index, src)
    assert out.dtype == method.dtype == F32
    out.sum().backward()
    assert x.grad.dtype == F16 and src.grad.dtype == F32
    with pytest.raises(DTypeError):  # outside a region the mix is refused, as PyTorch's
        x.scatter_add(0, index, src)


def test_grid_sample_float32_on_cpu_promoted_on_cuda(device: str) -> None:
    x = _rand(device, 1, 1, 4, 6)
    grid16 = _rand(device, 1, 2, 3, 2, seed=1) - 0.5
    with _ac(device):
        same = F.grid_sample(x, grid16, align_corners=False)
        mixed = F.grid_sample(x, grid16.astype(gk.float32), align_corners=False)
    assert same.dtype == (F32 if _kind(device) == "cpu" else F16)  # CPU list: float32; CUDA: float16 stays
    assert mixed.dtype == F32


# ------------------------------------------------------------------ composites that must not leak float32
def test_native_ops_keep_float16(device: str) -> None:
    """celu, the adaptive average pools (F.interpolate's "area"), gelu: single kernels in PyTorch, off the
    lists: float16 in, float16 out under either device type (their inner expm1 / sum are not cast)."""
    x = _rand(device, 2, 4, 6)
    with _ac(device):
        results = {
            "F.celu": F.celu(x), "gk.celu": gk.celu(x), "nn.CELU": nn.CELU()(x),
            "adaptive_avg_pool1d": F.adaptive_avg_pool1d(x, 4), "nn.AdaptiveAvgPool1d": nn.AdaptiveAvgPool1d(4)(x),
            "gk.adaptive_avg_pool1d": gk.adaptive_avg_pool1d(x, 4),
            "adaptive_avg_pool2d": F.adaptive_avg_pool2d(x[None], (3, 4)),
            "interpolate area": F.interpolate(x[None], size=(2, 3), mode="area"),
            "gelu": F.gelu(x),
        }
    for name, r in results.items():
        assert r.dtype == F16, name


def test_gelu_of_float16_is_float16_outside_autocast(device: str) -> None:
    x = _rand(device, 5)
    assert F.gelu(x).dtype == F16  # was float64 (SciPy's erf of float16)
    np.testing.assert_allclose(F.gelu(x).numpy(), F.gelu(x.astype(gk.float32)).numpy(), rtol=2e-3)


def test_square_is_pow_on_cuda(device: str) -> None:
    x = _rand(device, 5)
    with _ac(device):  # PyTorch's square is pow(x, 2): on the CUDA float32 list, not on the CPU's
        expected = F32 if _kind(device) == "cuda" else F16
        assert x.square().dtype == gk.square(x).dtype == (x ** 2).dtype == expected


def test_prelu_is_cast_to_float16(device: str) -> None:
    x = _rand(device, 4, 6, dtype=np.float32)
    layer = nn.PReLU().to(device)
    with _ac(device):  # on both lower-precision lists
        assert layer(x).dtype == F16 and F.prelu(x, layer.weight).dtype == F16
    assert layer(x).dtype == F32


def test_vector_products_not_cast_to_float16(device: str) -> None:
    a, b = _rand(device, 6, dtype=np.float32), _rand(device, 6, seed=1, dtype=np.float32)
    m = _rand(device, 4, 6, dtype=np.float32)
    with _ac(device):
        assert a.vdot(b).dtype == F32  # PyTorch's vdot: never cast down (promoted on "cuda")
        assert a.inner(b).dtype == F32  # two vectors: dot
        assert m.inner(m).dtype == (F16 if _kind(device) == "cpu" else F32)  # CPU: mm; CUDA: tensordot, promoted
        if _kind(device) == "cuda":
            assert a.astype(gk.float16).vdot(b).dtype == F32  # float16 beside float32 promotes


# ------------------------------------------------------------------ programs
def _block(device: str) -> nn.Module:
    gk.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 5)).to(device)


def test_training_step_with_grad_scaler(device: str) -> None:
    model = _block(device)
    opt = gk.optim.SGD(model.parameters(), lr=0.1)
    scaler = amp.GradScaler(_kind(device), init_scale=2.0 ** 8)
    x = _rand(device, 6, 8, dtype=np.float32)
    labels = gk.tensor(np.arange(6) % 5, device=device)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        with _ac(device):
            logits = model(x)
            loss = F.cross_entropy(logits, labels, label_smoothing=0.1) + 1e-3 * (logits ** 2).mean()
            loss = loss + nn.MSELoss(reduction="sum")(logits.softmax(-1), F.one_hot(labels, 5).astype(gk.float32))
        assert loss.dtype == F32
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss))
        for p in model.parameters():
            assert p.grad.dtype == F32 and np.isfinite(p.grad.numpy()).all()
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_checkpoint_recomputes_the_float32_casts(device: str, use_reentrant: bool) -> None:
    """The recomputation runs inside the backward pass under the forward's regions: it must cast as the
    forward did (to_float32 skipped every cast during a backward pass: 'recorded a different graph')."""
    w = _rand(device, 6, 6, dtype=np.float32, requires_grad=True)
    a = _rand(device, 4, 6, seed=1, dtype=np.float32, requires_grad=True)

    def f(t: gk.Tensor) -> gk.Tensor:
        h = t @ w  # float16
        return F.softmax(h, dim=-1).log().sum() + F.mse_loss(h, t) + F.layer_norm(h, (6,)).sum()

    with _ac(device):
        out = gk.utils.checkpoint.checkpoint(f, a, use_reentrant=use_reentrant)
        ref = f(a)
    out.backward()
    ga, gw = a.grad.numpy().copy(), w.grad.numpy().copy()
    a.grad = w.grad = None
    ref.backward()
    np.testing.assert_array_equal(ga, a.grad.numpy())
    np.testing.assert_array_equal(gw, w.grad.numpy())


def test_backward_and_double_backward_in_a_region(device: str) -> None:
    h = _rand(device, 5, requires_grad=True)
    with _ac(device):
        loss = F.mse_loss(h, gk.zeros_like(h))
        (g,) = gk.autograd.grad(loss, h, create_graph=True)
        (gg,) = gk.autograd.grad(g.sum(), h)
    assert loss.dtype == F32 and g.dtype == F16 and gg.dtype == F16
    np.testing.assert_allclose(gg.numpy(), np.full(5, 2 / 5), rtol=1e-3)


def test_func_transforms_in_a_region(device: str) -> None:
    h = _rand(device, 5)
    with _ac(device):
        g = gk.func.grad(lambda z: F.mse_loss(z, gk.zeros_like(z)))(h)
        v = gk.func.vmap(lambda z: F.mse_loss(z, gk.zeros_like(z)))(h.reshape(5, 1))
    assert g.dtype == F16 and v.dtype == F32


def test_threads_nesting_and_enabled_false(device: str) -> None:
    h = _rand(device, 5)
    seen = {}

    def worker() -> None:
        seen["thread"] = F.mse_loss(h, h).dtype  # autocast is per thread

    with _ac(device):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        seen["main"] = F.mse_loss(h, h).dtype
        with _ac(device, enabled=False):
            seen["off"] = F.mse_loss(h, h).dtype
            with _ac(device):
                seen["on again"] = F.mse_loss(h, h).dtype
        seen["after"] = F.mse_loss(h, h).dtype
    assert seen == {"thread": F16, "main": F32, "off": F16, "on again": F32, "after": F32}
    assert autocast_mode.active == 0


def test_exclude_restores_the_state(device: str) -> None:
    x = _rand(device, 4)
    with _ac(device):
        with autocast_mode.exclude():
            assert not amp.is_autocast_enabled(_kind(device))
            assert F.mse_loss(x, x).dtype == F16
        assert amp.is_autocast_enabled(_kind(device)) and F.mse_loss(x, x).dtype == F32


# ------------------------------------------------------------------ the numpy-namespace products, index_put,
# interpolate, linalg.vecdot
def test_numpy_namespace_vector_products(device: str) -> None:
    a, b = _rand(device, 6, dtype=np.float32), _rand(device, 6, seed=1, dtype=np.float32)
    with _ac(device):
        assert gk.vdot(a, b).dtype == F32 and gk.inner(a, b).dtype == F32


def test_numpy_namespace_products_follow_torch(device: str) -> None:
    """PyTorch's tensordot (and inner, which is tensordot) casts its mm to float16 on "cpu" unless it contracts
    every axis (a dot); on "cuda" it is promoted: float32 stays float32, float16 beside float32 computes in
    float32. vdot is never cast down."""
    cpu = _kind(device) == "cpu"
    a = _rand(device, 6, dtype=np.float32, requires_grad=True)
    m = _rand(device, 4, 6, seed=1, dtype=np.float32, requires_grad=True)
    t3 = _rand(device, 2, 4, 6, seed=2, dtype=np.float32)
    with _ac(device):
        got = {
            "tensordot v.v": gk.tensordot(a, a, 1), "tensordot m.m full": gk.tensordot(m, m, 2),
            "tensordot t3.m": gk.tensordot(t3, m, 2), "vdot m.m": gk.vdot(m, m),
            "tensordot m.v": gk.tensordot(m, a, ([1], [0])), "tensordot outer": gk.tensordot(a, a, 0),
            "inner m.m": gk.inner(m, m), "inner m.v": gk.inner(m, a),
        }
    kept = {"tensordot v.v", "tensordot m.m full", "vdot m.m"}  # t3.m: (2,), an mm
    for name, r in got.items():
        assert r.dtype == (F32 if name in kept or not cpu else F16), name
    np.testing.assert_array_equal(got["tensordot m.m full"].numpy(), gk.tensordot(m, m, 2).numpy())
    np.testing.assert_array_equal(got["vdot m.m"].numpy(), gk.vdot(m, m).numpy())
    (got["inner m.m"].sum() + got["vdot m.m"]).backward()
    assert m.grad.dtype == F32
    if not cpu:
        with _ac(device):
            assert gk.vdot(a.astype(gk.float16), a).dtype == F32
            assert gk.tensordot(m.astype(gk.float16), m, ([1], [1])).dtype == F32
            assert gk.inner(m.detach().astype(gk.float16), m.detach().astype(gk.float16)).dtype == F16


def test_numpy_namespace_products_match_torch_cpu() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    v, m = rng.random(6).astype(np.float32), rng.random((4, 6)).astype(np.float32)
    t3 = rng.random((2, 4, 6)).astype(np.float32)

    def _cpu(data: np.ndarray) -> gk.Tensor:
        return gk.tensor(data, device="cpu")

    calls = {  # gradkit's call, torch's call
        "vdot": (lambda: gk.vdot(_cpu(v), _cpu(v)), lambda: torch.vdot(torch.from_numpy(v), torch.from_numpy(v))),
        "inner v": (lambda: gk.inner(_cpu(v), _cpu(v)),
                    lambda: torch.inner(torch.from_numpy(v), torch.from_numpy(v))),
        "inner m": (lambda: gk.inner(_cpu(m), _cpu(v)),
                    lambda: torch.inner(torch.from_numpy(m), torch.from_numpy(v))),
        "tensordot full": (lambda: gk.tensordot(_cpu(t3), _cpu(t3), 3),
                           lambda: torch.tensordot(torch.from_numpy(t3), torch.from_numpy(t3), dims=3)),
        "tensordot part": (lambda: gk.tensordot(_cpu(t3), _cpu(m), 2),
                           lambda: torch.tensordot(torch.from_numpy(t3), torch.from_numpy(m), dims=2)),
        "vecdot": (lambda: gk.linalg.vecdot(_cpu(m), _cpu(m)),
                   lambda: torch.linalg.vecdot(torch.from_numpy(m), torch.from_numpy(m))),
    }
    for name, (ours, theirs) in calls.items():
        with torch.autocast("cpu", dtype=torch.float16):
            expected = str(theirs().dtype).replace("torch.", "")
        with amp.autocast("cpu", dtype=gk.float16):
            assert str(ours().dtype) == expected, name


def test_index_put_promotes(device: str) -> None:
    _cuda_only(device)
    x, v = _rand(device, 4, 6), _rand(device, 2, 6, dtype=np.float32)
    with _ac(device):
        assert x.index_put((gk.tensor(np.array([0, 1]), device=device),), v).dtype == F32


def test_index_put_promotion_gradients_and_cpu(device: str) -> None:
    x = _rand(device, 4, 6, requires_grad=True)
    v = _rand(device, 2, 6, seed=1, dtype=np.float32, requires_grad=True)
    rows = (gk.tensor(np.array([0, 2]), device=device),)
    if _kind(device) == "cpu":  # not on the CPU list: the mix is refused, as PyTorch's
        with _ac(device), pytest.raises(DTypeError):
            x.index_put(rows, v)
        return
    with _ac(device):
        out = x.index_put(rows, v, accumulate=True)
        same = x.index_put(rows, v.detach().astype(gk.float16))
    assert out.dtype == F32 and same.dtype == F16
    ref = x.detach().astype(gk.float32).index_put(rows, v.detach(), accumulate=True)
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    out.sum().backward()
    assert x.grad.dtype == F16 and v.grad.dtype == F32
    with pytest.raises(DTypeError):
        x.index_put(rows, v)


def test_interpolate_on_the_cuda_list(device: str) -> None:
    _cuda_only(device)
    x = _rand(device, 1, 1, 4, 6)
    with _ac(device):
        assert F.interpolate(x, scale_factor=2, mode="bilinear").dtype == F32
        assert nn.Upsample(scale_factor=2)(x).dtype == F32


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic", "area"])
def test_interpolate_modes(device: str, mode: str) -> None:
    x = _rand(device, 1, 2, 4, 6, requires_grad=True)
    with _ac(device):
        y = F.interpolate(x, size=(3, 8), mode=mode)
        y64 = F.interpolate(x.detach().astype(gk.float64), size=(3, 8), mode=mode)
    listed = _kind(device) == "cuda" and mode != "area"
    assert y.dtype == (F32 if listed else F16) and y64.dtype == np.float64
    if listed:
        ref = F.interpolate(x.detach().astype(gk.float32), size=(3, 8), mode=mode)
        np.testing.assert_array_equal(y.numpy(), ref.numpy())
    y.sum().backward()
    assert x.grad.dtype == F16
    ints = gk.tensor(np.arange(24).reshape(1, 1, 4, 6), device=device)
    with _ac(device):
        assert F.interpolate(ints, scale_factor=2).dtype == ints.dtype  # integers are not cast


def test_linalg_vecdot_is_cast_down(device: str) -> None:
    a = _rand(device, 4, 6, dtype=np.float32)
    with _ac(device):
        assert gk.linalg.vecdot(a, a).dtype == F16


def test_linalg_vecdot_one_float16_op(device: str) -> None:
    """Cast down once, then computed with autocast off: its sum is not taken back to float32 by the "cuda"
    float32 list; the float32 leaf's gradient is float32; float64 is left alone."""
    a = _rand(device, 4, 6, dtype=np.float32, requires_grad=True)
    b = _rand(device, 6, seed=1)
    with _ac(device):
        y = gk.linalg.vecdot(a, b)
        y64 = gk.linalg.vecdot(a.detach().astype(gk.float64), b.astype(gk.float64))
    assert y.dtype == F16 and y64.dtype == np.float64
    ref = gk.linalg.vecdot(a.detach().astype(gk.float16), b)
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    y.sum().backward()
    assert a.grad.dtype == F32


def test_new_hooks_cost_nothing_outside_a_region(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise AssertionError("autocast consulted outside a region")

    for name in ("cast", "to_float32", "promote", "promotes", "is_on"):
        monkeypatch.setattr(autocast_mode, name, boom)
    assert autocast_mode.active == 0
    a, m = _rand(device, 6), _rand(device, 4, 6, seed=1)
    gk.vdot(a, a), gk.inner(m, m), gk.tensordot(m, m, 2), gk.linalg.vecdot(m, m)  # noqa: B018
    m.index_put((gk.tensor(np.array([0]), device=device),), m[:1])
    F.interpolate(m[None, None], scale_factor=2, mode="bilinear")


def test_index_put_in_place_is_not_promoted(device: str) -> None:
    """In-place ops are not autocast (PyTorch's): a float16 tensor in the graph refuses float32 values in a region
    too, as it does outside one and as a tensor outside the graph does."""
    rows = (gk.tensor(np.array([0, 2]), device=device),)
    v = _rand(device, 2, 6, seed=1, dtype=np.float32, requires_grad=True)
    for in_graph in (True, False):
        x = _rand(device, 4, 6, requires_grad=in_graph)
        y = x * 1
        with _ac(device), pytest.raises(DTypeError):
            y.index_put_(rows, v, accumulate=True)
        assert y.dtype == F16

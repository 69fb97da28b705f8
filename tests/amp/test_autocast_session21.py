"""``gk.autocast`` against torch 2.14, session 21: the matrix functions and the pools of PyTorch's CPU float32 list
(fractional max pooling, max unpooling), the recurrent layers and cells (cast down, as PyTorch's cuDNN RNN and
cells on its CUDA lower-precision list), and in-place ``scatter_add_`` (not autocast: the float16/float32 mix is
refused in a "cuda" region too).

On NumPy the tests use ``autocast("cpu", dtype=gk.float16)``; with the emulated CuPy also ``autocast("cuda")``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _amp_helpers import autocast_on, kind

import gradkit as gk
from gradkit import nn
from gradkit.amp import autocast_mode
from gradkit.errors import DTypeError
from gradkit.nn import functional as F
from gradkit.nn.utils_rnn import pack_padded_sequence

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")  # PyTorch's


# ------------------------------------------------------------------ inputs
def _arrays() -> dict:
    """float16 operands of the matrix functions: A well conditioned, S symmetric positive definite, L its lower
    Cholesky factor, U A's upper triangle, B a right-hand side, tau Householder scales, LU A's LU factors."""
    rng = np.random.default_rng(21)
    a = (rng.standard_normal((4, 4)) * 0.5 + 3 * np.eye(4)).astype(np.float16)
    s = (a.astype(np.float64) @ a.T.astype(np.float64) + np.eye(4)).astype(np.float16)
    lu, _ = gk.linalg.lu_factor(gk.tensor(a.astype(np.float32), device="cpu"))
    return {
        "A": a, "S": s, "L": np.linalg.cholesky(s.astype(np.float64)).astype(np.float16),
        "U": np.triu(a), "B": rng.standard_normal((4, 2)).astype(np.float16),
        "tau": (rng.random(3) + 0.5).astype(np.float16), "LU": lu.numpy().astype(np.float16),
    }


def _pivots() -> np.ndarray:
    a = _arrays()["A"].astype(np.float32)
    return gk.linalg.lu_factor(gk.tensor(a, device="cpu")).pivots.numpy()


def _piv(device: str) -> gk.Tensor:
    return gk.tensor(_pivots(), device=device)


# name: (the call, its operands, whether its first result has a gradient)
LINALG = {
    "linalg.inv": (lambda d, A: gk.linalg.inv(A), "A", True),
    "inverse": (lambda d, A: gk.inverse(A), "A", True),
    "Tensor.inverse": (lambda d, A: A.inverse(), "A", True),
    "linalg.inv_ex": (lambda d, A: gk.linalg.inv_ex(A).inverse, "A", True),
    "linalg.svd": (lambda d, A: gk.linalg.svd(A)[1], "A", True),
    "svd": (lambda d, A: gk.svd(A)[1], "A", True),
    "linalg.svdvals": (lambda d, A: gk.linalg.svdvals(A), "A", True),
    "linalg.qr": (lambda d, A: gk.linalg.qr(A)[1], "A", True),
    "Tensor.qr": (lambda d, A: A.qr()[0], "A", True),
    "linalg.cholesky": (lambda d, S: gk.linalg.cholesky(S), "S", True),
    "cholesky": (lambda d, S: gk.cholesky(S, upper=True), "S", True),
    "linalg.cholesky_ex": (lambda d, S: gk.linalg.cholesky_ex(S).L, "S", True),
    "cholesky_solve": (lambda d, B, L: gk.cholesky_solve(B, L), "B L", True),
    "cholesky_inverse": (lambda d, L: gk.cholesky_inverse(L), "L", True),
    "cholesky_inverse upper": (lambda d, U: gk.cholesky_inverse(U, upper=True), "U", True),
    "pinverse": (lambda d, A: gk.pinverse(A), "A", True),
    "linalg.pinv": (lambda d, A: gk.linalg.pinv(A), "A", True),
    "linalg.lu_factor": (lambda d, A: gk.linalg.lu_factor(A).LU, "A", True),
    "linalg.lu_factor_ex": (lambda d, A: gk.linalg.lu_factor_ex(A).LU, "A", True),
    "linalg.lu": (lambda d, A: gk.linalg.lu(A).U, "A", True),
    "lu": (lambda d, A: gk.lu(A)[0], "A", True),
    "linalg.lu_solve": (lambda d, LU, B: gk.linalg.lu_solve(LU, _piv(d), B), "LU B", True),
    "lu_solve": (lambda d, B, LU: gk.lu_solve(B, LU, _piv(d)), "B LU", True),
    "triangular_solve": (lambda d, B, U: gk.triangular_solve(B, U)[0], "B U", True),
    "triangular_solve coefficient": (lambda d, B, U: gk.triangular_solve(B, U)[1], "B U", True),
    "linalg.solve_triangular": (lambda d, U, B: gk.linalg.solve_triangular(U, B, upper=True), "U B", True),
    "linalg.solve": (lambda d, A, B: gk.linalg.solve(A, B), "A B", True),
    "linalg.solve_ex": (lambda d, A, B: gk.linalg.solve_ex(A, B).result, "A B", True),
    "linalg.lstsq": (lambda d, A, B: gk.linalg.lstsq(A, B)[0], "A B", True),
    "linalg.eigh": (lambda d, S: gk.linalg.eigh(S)[0], "S", True),
    "linalg.eigvalsh": (lambda d, S: gk.linalg.eigvalsh(S), "S", True),
    "linalg.cond": (lambda d, A: gk.linalg.cond(A), "A", True),
    "linalg.cond fro": (lambda d, A: gk.linalg.cond(A, "fro"), "A", True),
    "linalg.matrix_rank": (lambda d, A: gk.linalg.matrix_rank(A), "A", False),
    "linalg.tensorinv": (lambda d, A: gk.linalg.tensorinv(A.reshape(4, 2, 2), ind=1), "A", True),
    "linalg.tensorsolve": (lambda d, A, B: gk.linalg.tensorsolve(A.reshape(2, 2, 4), B[:, 0].reshape(2, 2)),
                           "A B", True),
    "linalg.householder_product": (lambda d, A, tau: gk.linalg.householder_product(A, tau), "A tau", True),
    "orgqr": (lambda d, A, tau: gk.orgqr(A, tau), "A tau", True),
}


def _operands(device: str, names: str, dtype: object = np.float16, grad: bool = False) -> list:
    arrays = _arrays()
    return [gk.tensor(arrays[n].astype(dtype), device=device, requires_grad=grad) for n in names.split()]


def _first(result: object) -> gk.Tensor:
    return result[0] if isinstance(result, tuple) else result


# ------------------------------------------------------------------ 1. the matrix functions ("cpu" list)
@pytest.mark.parametrize("name", list(LINALG))
def test_matrix_functions_float32_on_cpu(device: str, name: str) -> None:
    """On "cpu": float16 computed in float32, the values those of the float32 call, gradients float16 and equal
    to the float32 ones rounded. On "cuda" (on no CUDA list): float16 refused, as outside a region."""
    fn, names, differentiable = LINALG[name]
    xs = _operands(device, names, grad=differentiable)
    if kind(device) == "cuda":
        with autocast_on(device), pytest.raises(DTypeError):
            fn(device, *xs)
        return
    with autocast_on(device):
        y = _first(fn(device, *xs))
    refs = _operands(device, names, np.float32, grad=differentiable)
    ref = _first(fn(device, *refs))
    assert y.dtype == ref.dtype == (np.dtype(np.int64) if name == "linalg.matrix_rank" else F32)
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    if not differentiable:
        return
    y.sum().backward()
    ref.sum().backward()
    for x, r in zip(xs, refs, strict=True):
        if r.grad is None:  # (the cloned coefficient does not depend on B)
            assert x.grad is None
            continue
        assert x.grad.dtype == F16
        np.testing.assert_array_equal(x.grad.numpy(), r.grad.numpy().astype(np.float16))


@pytest.mark.parametrize("name", list(LINALG))
def test_matrix_functions_unchanged_outside_a_region(device: str, name: str) -> None:
    fn, names, _ = LINALG[name]
    with pytest.raises(DTypeError):  # numpy.linalg's rule: float16 refused
        fn(device, *_operands(device, names))
    with autocast_on(device, enabled=False), pytest.raises(DTypeError):
        fn(device, *_operands(device, names))
    y = _first(fn(device, *_operands(device, names, np.float32)))
    assert y.dtype in (F32, np.dtype(np.int64))


@pytest.mark.parametrize("name", ["linalg.householder_product", "cholesky_inverse", "linalg.inv", "linalg.solve"])
def test_float32_operands_computed_in_float32(device: str, name: str) -> None:
    """float32 operands in a region of either device type: the op's own products are not cast down (PyTorch's
    float32 ops, and its native householder_product and cholesky_inverse, run as one kernel)."""
    fn, names, _ = LINALG[name]
    xs = _operands(device, names, np.float32)
    with autocast_on(device):
        y = _first(fn(device, *xs))
    ref = _first(fn(device, *xs))
    assert y.dtype == F32
    np.testing.assert_array_equal(y.numpy(), ref.numpy())


def test_float16_beside_float32_and_float64(device: str) -> None:
    if kind(device) != "cpu":
        pytest.skip("the matrix functions are on the CPU list only")
    (a,) = _operands(device, "A")
    (b32,) = _operands(device, "B", np.float32)
    (b64,) = _operands(device, "B", np.float64)
    with autocast_on(device):
        assert gk.linalg.solve(a, b32).dtype == F32  # torch: float32 (both cast)
        assert gk.linalg.solve(a, b64).dtype == F64  # the float16 one cast, then promoted as outside a region


def test_not_on_the_list_still_refuse_float16(device: str) -> None:
    """det, slogdet, logdet, matrix_exp, ldl_factor: on no autocast list; PyTorch 2.14 refuses their float16
    input inside a CPU region too ("lu_cpu" not implemented for 'Half', "Low precision dtypes not supported"), but
    for matrix_exp, which it computes in float16 (gradkit's refuses float16 outside a region as well)."""
    a, s = _operands(device, "A S")
    calls = [lambda: gk.linalg.det(a), lambda: gk.linalg.slogdet(a), lambda: gk.logdet(s),
             lambda: gk.linalg.matrix_exp(a), lambda: gk.linalg.ldl_factor(s)]
    with autocast_on(device):
        for call in calls:
            with pytest.raises(DTypeError):
                call()
        assert gk.linalg.matrix_power(a, 3).dtype == F16  # float16 in PyTorch's region (matmuls)


# ------------------------------------------------------------------ 1. fractional max pooling, max unpooling
def _pool_input(device: str, dims: int, dtype: object = np.float16, grad: bool = False) -> gk.Tensor:
    shape = {1: (1, 2, 8), 2: (1, 2, 8, 8), 3: (1, 2, 6, 8, 8)}[dims]
    data = np.random.default_rng(dims).standard_normal(shape).astype(np.float16).astype(dtype)
    return gk.tensor(data, device=device, requires_grad=grad)


def _unpool_args(device: str, dims: int, dtype: object) -> tuple:
    """max pooling's output (as ``dtype``) and indices of the same data in float32, for ``max_unpool{dims}d``."""
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[dims]
    p, idx = pool(_pool_input(device, dims, np.float32), 2, return_indices=True)
    return gk.tensor(p.numpy().astype(np.float16).astype(dtype), device=device, requires_grad=True), idx


def _samples(device: str, dims: int, dtype: object = np.float16) -> gk.Tensor:
    return gk.tensor(np.random.default_rng(7).random((1, 2, dims)).astype(np.float16).astype(dtype), device=device)


POOLS = {
    "fractional_max_pool2d": lambda d, dt: ((_pool_input(d, 2, dt, True),),
                                            lambda x: F.fractional_max_pool2d(x, 2, output_size=3,
                                                                              _random_samples=_samples(d, 2, dt))),
    "fractional_max_pool3d": lambda d, dt: ((_pool_input(d, 3, dt, True),),
                                            lambda x: F.fractional_max_pool3d(x, 2, output_size=(2, 3, 3),
                                                                              _random_samples=_samples(d, 3, dt))),
    "FractionalMaxPool2d": lambda d, dt: ((_pool_input(d, 2, dt, True),),
                                          lambda x: nn.FractionalMaxPool2d(2, output_size=3,
                                                                           _random_samples=_samples(d, 2, dt))(x)),
    "max_unpool1d": lambda d, dt: (_unpool_args(d, 1, dt), lambda p, i: F.max_unpool1d(p, i, 2)),
    "max_unpool2d": lambda d, dt: (_unpool_args(d, 2, dt), lambda p, i: F.max_unpool2d(p, i, 2)),
    "max_unpool3d": lambda d, dt: (_unpool_args(d, 3, dt), lambda p, i: F.max_unpool3d(p, i, 2)),
    "MaxUnpool2d": lambda d, dt: (_unpool_args(d, 2, dt), lambda p, i: nn.MaxUnpool2d(2)(p, i)),
    "MaxUnpool3d": lambda d, dt: (_unpool_args(d, 3, dt), lambda p, i: nn.MaxUnpool3d(2)(p, i)),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_pools_float32_on_cpu(device: str, name: str) -> None:
    """On PyTorch's CPU float32 list (max_unpool1d is its max_unpool2d); on no CUDA list: float16 stays."""
    args, fn = POOLS[name](device, np.float16)
    with autocast_on(device):
        y = _first(fn(*args))
    ref_args, ref_fn = POOLS[name](device, np.float16 if kind(device) == "cuda" else np.float32)
    ref = _first(ref_fn(*ref_args))
    assert y.dtype == ref.dtype == (F32 if kind(device) == "cpu" else F16)
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    y.sum().backward()
    ref.sum().backward()
    assert args[0].grad.dtype == F16
    np.testing.assert_array_equal(args[0].grad.numpy(), ref_args[0].grad.numpy().astype(np.float16))
    out = _first(fn(*args))  # outside a region: the input's dtype
    assert out.dtype == F16


def test_fractional_samples_cast_with_the_input(device: str) -> None:
    """PyTorch casts ``_random_samples`` with the input: float32 samples beside float16 input are taken on "cpu"
    (refused outside a region, as PyTorch's), and float16 samples take float32 steps there."""
    x = _pool_input(device, 2)
    u32 = _samples(device, 2, np.float32)
    if kind(device) == "cpu":
        with autocast_on(device):
            y = F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=u32)
        ref = F.fractional_max_pool2d(x.astype(gk.float32), 2, output_size=3, _random_samples=u32)
        np.testing.assert_array_equal(y.numpy(), ref.numpy())
    with pytest.raises(DTypeError):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=u32)
    with autocast_on(device):  # without samples: drawn in the dtype computed in
        assert F.fractional_max_pool3d(_pool_input(device, 3), 2, output_size=2).dtype == (
            F32 if kind(device) == "cpu" else F16)


# ------------------------------------------------------------------ 2. recurrent layers and cells
LAYERS = {
    "LSTM": lambda: nn.LSTM(4, 6),
    "GRU": lambda: nn.GRU(4, 6),
    "RNN": lambda: nn.RNN(4, 6),
    "RNN relu": lambda: nn.RNN(4, 6, nonlinearity="relu", bias=False),
    "LSTM 2 layers bidirectional batch_first": lambda: nn.LSTM(4, 6, 2, bidirectional=True, batch_first=True),
    "GRU 2 layers bidirectional": lambda: nn.GRU(4, 6, 2, bidirectional=True),
    "LSTM proj": lambda: nn.LSTM(4, 6, proj_size=3),
    "LSTMCell": lambda: nn.LSTMCell(4, 6),
    "GRUCell": lambda: nn.GRUCell(4, 6),
    "RNNCell": lambda: nn.RNNCell(4, 6),
}


def _tensors(out: object) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return [out]


def _layer(name: str, device: str) -> nn.Module:
    gk.manual_seed(3)
    return LAYERS[name]().to(device)


def _rnn_input(name: str, device: str, dtype: object, grad: bool = True) -> gk.Tensor:
    shape = (3, 4) if name.endswith("Cell") else (5, 3, 4)
    data = np.random.default_rng(4).standard_normal(shape).astype(dtype)
    return gk.tensor(data, device=device, requires_grad=grad)


@pytest.mark.parametrize("in_dtype", [np.float32, np.float16], ids=["float32_input", "float16_input"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_recurrent_layers_cast_down(device: str, name: str, in_dtype: object) -> None:
    """Input, states and weights cast to float16 once: outputs and final states float16, the same to the bit as
    the layer in float16 outside a region; float32 parameters get float32 gradients (the float16 layer's), the
    input its own dtype's; close to the float32 computation."""
    layer = _layer(name, device)
    half = copy.deepcopy(layer).to(dtype=gk.float16)
    x = _rnn_input(name, device, in_dtype)
    with autocast_on(device):
        out = _tensors(layer(x))
    assert [t.dtype for t in out] == [F16] * len(out)
    x16 = _rnn_input(name, device, np.float16)
    ref = _tensors(half(x16))
    for got, want in zip(out, ref, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    full = _tensors(layer(_rnn_input(name, device, np.float32)))
    for got, want in zip(out, full, strict=True):
        np.testing.assert_allclose(got.numpy().astype(np.float32), want.numpy(), atol=1e-2)
    sum(t.astype(gk.float32).sum() for t in out).backward()
    sum(t.astype(gk.float32).sum() for t in ref).backward()
    assert x.grad.dtype == np.dtype(in_dtype)
    np.testing.assert_array_equal(x.grad.numpy(), x16.grad.numpy().astype(in_dtype))
    for (pname, p), q in zip(layer.named_parameters(), half.parameters(), strict=True):
        assert p.dtype == p.grad.dtype == F32, pname
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy().astype(np.float32), err_msg=pname)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "LSTMCell", "GRUCell", "RNNCell"])
def test_recurrent_states_given_in_float32(device: str, name: str) -> None:
    layer = _layer(name, device)
    x = _rnn_input(name, device, np.float32)
    cell = name.endswith("Cell")
    shape = (3, 6) if cell else (1, 3, 6)
    h = gk.tensor(np.full(shape, 0.1, np.float32), device=device, requires_grad=True)
    c = gk.tensor(np.full(shape, -0.2, np.float32), device=device, requires_grad=True)
    hx = (h, c) if "LSTM" in name else h
    with autocast_on(device):
        out = _tensors(layer(x, hx))
    assert all(t.dtype == F16 for t in out)
    sum(t.astype(gk.float32).sum() for t in out).backward()
    assert h.grad.dtype == F32 and (c.grad is None or c.grad.dtype == F32)
    if "LSTM" in name:
        assert c.grad is not None


def test_recurrent_packed_sequence(device: str) -> None:
    layer = _layer("LSTM", device)
    x = _rnn_input("LSTM", device, np.float32)
    packed = pack_padded_sequence(x, [5, 3, 2], enforce_sorted=True)
    with autocast_on(device):
        out, (h, c) = layer(packed)
    assert out.data.dtype == h.dtype == c.dtype == F16
    half = copy.deepcopy(layer).to(dtype=gk.float16)
    ref, (rh, rc) = half(pack_padded_sequence(x.detach().astype(gk.float16), [5, 3, 2], enforce_sorted=True))
    np.testing.assert_array_equal(out.data.numpy(), ref.data.numpy())
    np.testing.assert_array_equal(h.numpy(), rh.numpy())


def test_recurrent_cells_cast_weights_once_per_region(device: str) -> None:
    """A cell stepped in a loop inside one region casts its (leaf) weights once (PyTorch's cast cache): its
    gradient is that of all the steps, in float32."""
    cell = _layer("GRUCell", device)
    x = _rnn_input("GRUCell", device, np.float32, grad=False)
    with autocast_on(device):
        h = None
        for _ in range(3):
            h = cell(x, h)
        cached = {id(v) for v, _, _ in autocast_mode._state.cache.values()}
        assert {id(p) for p in cell.parameters()} <= cached
    assert h.dtype == F16
    h.astype(gk.float32).sum().backward()
    assert cell.weight_hh.grad.dtype == F32 and float(abs(cell.weight_hh.grad).sum()) > 0


def test_recurrent_layers_unchanged_outside_a_region(device: str) -> None:
    for name in LAYERS:
        layer = _layer(name, device)
        out = _tensors(layer(_rnn_input(name, device, np.float32)))
        assert all(t.dtype == F32 for t in out), name
        with pytest.raises(DTypeError):
            layer(_rnn_input(name, device, np.float16))
        with autocast_on(device, enabled=False), pytest.raises(DTypeError):
            layer(_rnn_input(name, device, np.float16))


def test_recurrent_float64_left_alone(device: str) -> None:
    layer = _layer("LSTM", device).to(dtype=gk.float64)
    x = _rnn_input("LSTM", device, np.float64)
    with autocast_on(device):
        out = _tensors(layer(x))
        assert all(t.dtype == F64 for t in out)
        with pytest.raises(DTypeError, match="float64"):  # float16 input beside float64 weights: not cast
            layer(_rnn_input("LSTM", device, np.float16))
        cell = _layer("LSTMCell", device)
        with pytest.raises(DTypeError, match="autocast"):  # float64 input is not cast down (PyTorch's rule)
            cell(_rnn_input("LSTMCell", device, np.float64))


# ------------------------------------------------------------------ 3. in-place scatter_add_ is not autocast
@pytest.mark.parametrize("in_graph", [False, True], ids=["plain", "in_graph"])
def test_scatter_add_in_place_refuses_the_mix(device: str, in_graph: bool) -> None:
    index = gk.tensor(np.array([[0, 1, 2, 0], [1, 0, 0, 2]]), device=device)
    src32 = gk.tensor(np.ones((2, 4), np.float32), device=device, requires_grad=in_graph)
    x = gk.tensor(np.zeros((3, 4), np.float16), device=device, requires_grad=in_graph)
    y = x * 1
    with autocast_on(device):
        if kind(device) == "cuda":  # out of place: PyTorch's promote list
            assert y.scatter_add(0, index, src32).dtype == F32
        with pytest.raises(DTypeError):
            y.scatter_add_(0, index, src32)
        assert y.dtype == F16 and not y.numpy().any()
        y.scatter_add_(0, index, src32.detach().astype(gk.float16))  # the same dtype: written
    want = np.zeros((3, 4), np.float16)
    np.add.at(want, (index.numpy(), np.arange(4)[None, :].repeat(2, 0)), 1)
    np.testing.assert_array_equal(y.numpy(), want)
    with pytest.raises(DTypeError):
        y.scatter_add_(0, index, src32)


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_with_reduce_refuses_the_mix(device: str, reduce: str) -> None:
    """PyTorch's scatter (reduce= too) is on no autocast list: a float16/float32 mix is refused in a region as
    outside, with plain scatter's error, though reduce="add" adds as scatter_add does (which promotes on "cuda")."""
    index = gk.tensor(np.array([[0, 1, 2, 0], [1, 0, 0, 2]]), device=device)
    src32 = gk.tensor(np.full((2, 4), 2.0, np.float32), device=device)
    x = gk.tensor(np.ones((3, 4), np.float16), device=device)
    messages = {}
    for region in (False, True):
        with autocast_on(device, enabled=region):
            for k, call in enumerate((lambda: gk.scatter(x, 0, index, src32, reduce=reduce),
                                      lambda: x.scatter(0, index, src32, reduce=reduce),
                                      lambda: (x * 1).scatter_(0, index, src32, reduce=reduce))):
                with pytest.raises(DTypeError, match="src must have self's dtype float16, got float32") as info:
                    call()
                messages[region, k] = str(info.value)
            with pytest.raises(DTypeError, match="scatter: src must have self's dtype"):
                gk.scatter(x, 0, index, src32)  # the plain op
            y = x * 1
            assert y.scatter_(0, index, src32.astype(gk.float16), reduce=reduce) is y and y.dtype == F16
            assert x.scatter(0, index, 2.0, reduce=reduce).dtype == F16
        want = np.ones((3, 4), np.float16)
        (np.add if reduce == "add" else np.multiply).at(want, (index.numpy(), np.arange(4)[None, :].repeat(2, 0)), 2)
        np.testing.assert_array_equal(y.numpy(), want)
    assert messages[True, 0] == messages[True, 1] == messages[True, 2] == messages[False, 0]
    if reduce == "add":
        assert messages[False, 0].startswith("scatter: ")


def test_scatter_add_in_place_gradients_in_a_region(device: str) -> None:
    index = gk.tensor(np.array([[0, 1, 2, 0]]), device=device)
    x = gk.tensor(np.zeros((3, 4), np.float16), device=device, requires_grad=True)
    src = gk.tensor(np.full((1, 4), 2.0, np.float16), device=device, requires_grad=True)
    y = x * 1
    with autocast_on(device):
        y.scatter_add_(0, index, src)
    y.sum().backward()
    assert x.grad.dtype == src.grad.dtype == F16
    np.testing.assert_array_equal(src.grad.numpy(), np.ones((1, 4), np.float16))


# ------------------------------------------------------------------ cost outside a region, torch 2.14
def test_new_hooks_cost_nothing_outside_a_region(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise AssertionError("autocast consulted outside a region")

    for name in ("cast", "to_float32", "promote", "is_on", "lower_dtype", "exclude"):
        monkeypatch.setattr(autocast_mode, name, boom)
    assert autocast_mode.active == 0
    for name in ("linalg.inv", "linalg.solve", "cholesky_inverse", "triangular_solve", "linalg.householder_product",
                 "linalg.lu_solve", "linalg.svdvals"):
        fn, names, _ = LINALG[name]
        fn(device, *_operands(device, names, np.float32))
    for name in ("fractional_max_pool2d", "max_unpool2d", "max_unpool3d"):
        args, fn = POOLS[name](device, np.float32)
        fn(*args)
    for name in ("LSTM", "GRUCell"):
        _layer(name, device)(_rnn_input(name, device, np.float32))
    index = gk.tensor(np.zeros((1, 4), np.int64), device=device)
    gk.zeros(3, 4, device=device).scatter_add_(0, index, gk.ones(1, 4, device=device))


def test_cpu_dtypes_match_torch() -> None:
    """torch 2.14's ``autocast("cpu", dtype=float16)``: the output dtype of each op on its list, with float16
    operands (float32 weights for the recurrent layers given float16 input), as gradkit's."""
    torch = pytest.importorskip("torch")
    arrays = _arrays()
    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    piv = torch.from_numpy(_pivots())
    theirs = {
        "linalg.inv": lambda: torch.linalg.inv(t["A"]), "inverse": lambda: torch.inverse(t["A"]),
        "linalg.inv_ex": lambda: torch.linalg.inv_ex(t["A"]).inverse, "linalg.svd": lambda: torch.linalg.svd(t["A"])[1],
        "svd": lambda: torch.svd(t["A"])[1], "linalg.svdvals": lambda: torch.linalg.svdvals(t["A"]),
        "linalg.qr": lambda: torch.linalg.qr(t["A"])[1], "linalg.cholesky": lambda: torch.linalg.cholesky(t["S"]),
        "linalg.cholesky_ex": lambda: torch.linalg.cholesky_ex(t["S"]).L,
        "cholesky_solve": lambda: torch.cholesky_solve(t["B"], t["L"]),
        "cholesky_inverse": lambda: torch.cholesky_inverse(t["L"]), "pinverse": lambda: torch.pinverse(t["A"]),
        "lu_solve": lambda: torch.lu_solve(t["B"], t["LU"], piv), "lu": lambda: torch.lu(t["A"])[0],
        "triangular_solve": lambda: torch.triangular_solve(t["B"], t["U"])[0],
        "triangular_solve coefficient": lambda: torch.triangular_solve(t["B"], t["U"])[1],
        "linalg.solve": lambda: torch.linalg.solve(t["A"], t["B"]),
        "linalg.lstsq": lambda: torch.linalg.lstsq(t["A"], t["B"])[0],
        "linalg.eigh": lambda: torch.linalg.eigh(t["S"])[0], "linalg.eigvalsh": lambda: torch.linalg.eigvalsh(t["S"]),
        "linalg.cond": lambda: torch.linalg.cond(t["A"]),
        "linalg.matrix_rank": lambda: torch.linalg.matrix_rank(t["A"]),
        "linalg.householder_product": lambda: torch.linalg.householder_product(t["A"], t["tau"]),
        "orgqr": lambda: torch.orgqr(t["A"], t["tau"]),
    }
    for name, call in theirs.items():
        with torch.autocast("cpu", dtype=torch.float16):
            expected = str(call().dtype).replace("torch.", "")
        fn, names, _ = LINALG[name]
        with autocast_on("cpu"):
            assert str(_first(fn("cpu", *_operands("cpu", names))).dtype) == expected, name
    tf = torch.nn.functional
    x2 = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 2, 8, 8)).astype(np.float16))
    p, i = tf.max_pool2d(x2.float(), 2, return_indices=True)
    with torch.autocast("cpu", dtype=torch.float16):
        assert tf.max_unpool2d(p.half(), i, 2).dtype == torch.float32
        p1, i1 = tf.max_pool1d(x2[0].float(), 2, return_indices=True)
        assert tf.max_unpool1d(p1.half(), i1, 2).dtype == torch.float32
        assert tf.fractional_max_pool2d(x2, 2, output_size=3).dtype == torch.float32
    for name in ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"):
        module = getattr(torch.nn, name)(4, 6)
        x = torch.from_numpy(_rnn_input(name, "cpu", np.float16, grad=False).numpy())
        with torch.autocast("cpu", dtype=torch.float16):
            expected = [str(o.dtype).replace("torch.", "") for o in _tensors(module(x))]
        with autocast_on("cpu"):
            ours = [str(o.dtype) for o in _tensors(_layer(name, "cpu")(_rnn_input(name, "cpu", np.float16)))]
        assert ours == expected, name


# ------------------------------------------------------------------ review: checkpoint, the cast cache
@pytest.mark.parametrize("reentrant", [False, True], ids=["non_reentrant", "reentrant"])
@pytest.mark.parametrize("name", ["LSTM", "GRUCell", "Linear"])
def test_checkpoint_backward_inside_the_region(device: str, name: str, reentrant: bool) -> None:
    """A checkpointed layer whose backward pass runs inside the forward's region: the recomputation casts the
    weights again (its own cache) rather than reusing the forward run's cached casts, which it did not record
    (the backward pass raised "recorded a different graph"); the gradients are the plain call's."""
    if name == "Linear":
        gk.manual_seed(3)
        layer = nn.Linear(4, 6).to(device)
        x = gk.tensor(np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32), device=device,
                      requires_grad=True)
    else:
        layer = _layer(name, device)
        x = _rnn_input(name, device, np.float32)

    def first(t: gk.Tensor) -> gk.Tensor:
        return _tensors(layer(t))[0]

    grads = []
    for checkpointed in (False, True):
        layer.zero_grad()
        x.grad = None
        with autocast_on(device):
            first(x)  # the weights' casts cached before the checkpointed call, too
            y = gk.utils.checkpoint.checkpoint(first, x, use_reentrant=reentrant) if checkpointed else first(x)
            assert y.dtype == F16
            y.astype(gk.float32).sum().backward()
            cached = {id(v) for v, _, _ in autocast_mode._state.cache.values()}
            assert {id(p) for p in layer.parameters()} <= cached  # the region's own cache is back
        grads.append([x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()])
    for got, want in zip(grads[1], grads[0], strict=True):
        np.testing.assert_array_equal(got, want)
    layer.zero_grad()
    with autocast_on(device):  # the checkpointed call first: its forward run records the casts
        y = gk.utils.checkpoint.checkpoint(first, x, use_reentrant=reentrant)
        y.astype(gk.float32).sum().backward()
    for p, want in zip(layer.parameters(), grads[0][1:], strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), want)


def test_recurrent_weights_updated_in_place_inside_a_region(device: str) -> None:
    """The weights' cached casts follow an in-place update (their version): the next call sees the new weights."""
    layer = _layer("LSTM", device)
    x = _rnn_input("LSTM", device, np.float32, grad=False)
    with autocast_on(device):
        before = layer(x)[0]
        with gk.no_grad():
            layer.weight_hh_l0.mul_(2.0)
        after = layer(x)[0]
    ref = copy.deepcopy(layer).to(dtype=gk.float16)(x.astype(gk.float16))[0]
    np.testing.assert_array_equal(after.numpy(), ref.numpy())
    assert not np.array_equal(before.numpy(), after.numpy())

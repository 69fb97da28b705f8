"""PyTorch names that tutorial programs use: Tensor.eq/add/div/type/uniform_/..., gk.randperm, gk.multinomial,
gk.is_tensor, gk.inference_mode, nn.Embedding(max_norm=...) and from_pretrained, nn.init.trunc_normal_ and
orthogonal_, F.pad, nn.utils.rnn.pad_sequence and optimisers over named_parameters()."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F
from gradkit.nn import init
from gradkit.nn.utils import rnn

pad_sequence = rnn.pad_sequence


def _t(values, device, dtype=None, requires_grad=False):
    return gk.tensor(np.asarray(values), dtype=dtype, device=device, requires_grad=requires_grad)


# ------------------------------------------------------------------ comparison and arithmetic methods
@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparison_methods_are_the_operators(device, name):
    a = _t([1.0, 2.0, 3.0], device)
    b = _t([3.0, 2.0, 1.0], device)
    ops = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
           "ge": np.greater_equal}
    for other, ref in ((b, b.numpy()), (2.0, 2.0), (2, 2)):
        out = getattr(a, name)(other)
        assert out.dtype == np.bool_ and out.device == a.device
        np.testing.assert_array_equal(out.numpy(), ops[name](a.numpy(), ref))


def test_add_sub_mul_with_alpha_values_and_gradients(device):
    rng = np.random.default_rng(0)
    x = _t(rng.standard_normal((2, 3)), device, requires_grad=True)
    y = _t(rng.standard_normal((3,)), device, requires_grad=True)
    np.testing.assert_allclose(x.add(y, alpha=2.5).numpy(), x.numpy() + 2.5 * y.numpy())
    np.testing.assert_allclose(x.sub(y, alpha=-2).numpy(), x.numpy() + 2 * y.numpy())
    np.testing.assert_allclose(x.add(1.5).numpy(), x.numpy() + 1.5)
    assert gk.ones(2, device=device).add(1, alpha=2.5).dtype == np.float32  # a Python number does not widen
    assert gk.ones(2, device=device).sub(1.0, alpha=2).numpy().tolist() == [-1.0, -1.0]
    np.testing.assert_allclose(x.mul(y).numpy(), x.numpy() * y.numpy())
    np.testing.assert_allclose(x.div(y).numpy(), x.numpy() / y.numpy())
    assert gk.gradcheck(lambda a, b: a.add(b, alpha=2.5), (x, y))
    assert gk.gradcheck(lambda a, b: a.sub(b, alpha=0.5), (x, y))
    assert gk.gradcheck(lambda a, b: a.mul(b), (x, y))
    assert gk.gradcheck(lambda a, b: a.div(b + 3.0), (x, y))
    ints = _t([1, 2], device)
    np.testing.assert_array_equal(ints.add(ints, alpha=3).numpy(), [4, 8])
    with pytest.raises(gk.InvalidArgumentError, match="add: alpha must not be a float"):
        ints.add(1, alpha=0.5)
    with pytest.raises(gk.ArgumentTypeError, match="alpha must be a number"):
        x.add(y, alpha="2")
    with pytest.raises(TypeError):
        x.add(y, 2)  # alpha is keyword-only, as PyTorch's


def test_div_rounding_modes_match_pytorch(device):
    torch = pytest.importorskip("torch")
    a = np.array([7.0, -7.0, 7.5, -7.5, 1.0, 0.0, 5.0])
    b = np.array([2.0, 2.0, -2.0, -2.0, 0.1, 3.0, -0.5])
    ai, bi = np.array([7, -7, 7, -7, 6, -6, 0]), np.array([2, 2, -2, -2, 4, -4, 3])
    for mode in ("trunc", "floor"):
        for x, y in ((a, b), (ai, bi), (ai, 2), (a, 2.5), (ai, 2.5)):
            ref = torch.tensor(x).div(y if np.isscalar(y) else torch.tensor(y), rounding_mode=mode).numpy()
            out = _t(x, device).div(y if np.isscalar(y) else _t(y, device), rounding_mode=mode)
            np.testing.assert_array_equal(out.numpy(), ref.astype(out.dtype))
            assert out.dtype.kind == ref.dtype.kind
    inf = _t([7.0, -7.0], device).div(0.0, rounding_mode="floor")
    np.testing.assert_array_equal(inf.numpy(), [np.inf, -np.inf])


def test_div_rounding_gradient_is_zero_and_errors(device):
    x = _t([1.5, -2.5, 3.0], device, dtype=gk.float64, requires_grad=True)
    w = _t([2.0, 2.0, 2.0], device, dtype=gk.float64, requires_grad=True)
    y = x.div(w, rounding_mode="floor")
    assert y.requires_grad
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    np.testing.assert_array_equal(w.grad.numpy(), 0)
    with pytest.raises(gk.InvalidArgumentError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        x.div(2, rounding_mode="round")
    with pytest.raises(gk.InvalidArgumentError, match="integer division by zero"):
        _t([1, 2], device).div(_t([1, 0], device), rounding_mode="trunc")


def test_is_floating_point_and_type(device):
    f = gk.ones(2, device=device)
    i = gk.ones(2, dtype=gk.int8, device=device)
    assert f.is_floating_point() and not i.is_floating_point()
    cuda = "cuda." if f.device.startswith("cuda") else ""
    assert f.type() == f"gradkit.{cuda}FloatTensor"
    assert i.type() == f"gradkit.{cuda}CharTensor"
    assert gk.ones(1, dtype=gk.bool_, device=device).type().endswith("BoolTensor")
    assert f.type(gk.float64).dtype == np.float64
    assert f.type("int64").dtype == np.int64
    assert f.type(f"torch.{cuda}DoubleTensor").dtype == np.float64
    out = f.type(f"gradkit.{cuda}LongTensor")
    assert out.dtype == np.int64 and out.device == f.device
    x = gk.ones(2, device=device, dtype=gk.float64, requires_grad=True)
    assert gk.gradcheck(lambda t: t.type(gk.float64) * 2, (x,))
    with pytest.raises(gk.DTypeError, match="unknown tensor type 'gradkit.ComplexTensor'"):
        f.type("gradkit.ComplexTensor")
    with pytest.raises(gk.DTypeError, match="type: unknown or unsupported dtype"):
        f.type("complex64")


def test_type_name_matches_pytorch():
    torch = pytest.importorskip("torch")
    for dt, tdt in ((gk.float16, torch.float16), (gk.float32, torch.float32), (gk.float64, torch.float64),
                    (gk.int8, torch.int8), (gk.int16, torch.int16), (gk.int32, torch.int32),
                    (gk.int64, torch.int64), (gk.uint8, torch.uint8), (gk.bool_, torch.bool)):
        ref = torch.zeros(1, dtype=tdt).type()
        assert gk.zeros(1, dtype=dt, device="cpu").type() == ref.replace("torch", "gradkit")


# ------------------------------------------------------------------ in-place initialisers
def test_uniform_and_normal_in_place(device):
    t = gk.empty(4000, device=device, dtype=gk.float64)
    version = t._version[0]
    gk.manual_seed(3)
    assert t.uniform_(-2.0, 3.0) is t
    first = t.numpy()
    assert t._version[0] == version + 1
    assert first.min() >= -2.0 and first.max() < 3.0 and abs(first.mean() - 0.5) < 0.15
    gk.manual_seed(3)
    np.testing.assert_array_equal(t.uniform_(-2.0, 3.0).numpy(), first)  # gk.manual_seed's generator
    t.normal_(1.0, 0.5)
    values = t.numpy()
    assert abs(values.mean() - 1.0) < 0.05 and abs(values.std() - 0.5) < 0.05
    np.testing.assert_array_equal(gk.zeros(3, device=device).normal_(2.0, 0.0).numpy(), 2.0)


def test_in_place_initialisers_follow_the_in_place_rules(device):
    w = gk.zeros(3, device=device, requires_grad=True)
    for call in (lambda: w.uniform_(), lambda: w.normal_(), lambda: w.fill_(1.0), lambda: w.zero_()):
        with pytest.raises(gk.AutogradError, match="in-place .* on a leaf tensor that requires grad"):
            call()
    with gk.no_grad():
        w.uniform_(0.5, 1.0)
        assert (w.numpy() >= 0.5).all()
        w.normal_()
    with pytest.raises(gk.DTypeError, match="uniform_: fills float tensors only"):
        gk.zeros(2, dtype=gk.int64, device=device).uniform_()
    with pytest.raises(gk.InvalidArgumentError, match="uniform_: expected a <= b"):
        gk.zeros(2, device=device).uniform_(2, 1)
    with pytest.raises(gk.InvalidArgumentError, match="normal_: std must be >= 0"):
        gk.zeros(2, device=device).normal_(0, -1)


# ------------------------------------------------------------------ randperm, multinomial, is_tensor
def test_randperm(device):
    gk.manual_seed(0)
    p = gk.randperm(50, device=device)
    assert p.dtype == np.int64 and p.device == gk.zeros(1, device=device).device
    np.testing.assert_array_equal(np.sort(p.numpy()), np.arange(50))
    gk.manual_seed(0)
    np.testing.assert_array_equal(gk.randperm(50, device=device).numpy(), p.numpy())
    f = gk.randperm(5, dtype=gk.float32, device=device)
    assert f.dtype == np.float32 and sorted(f.tolist()) == [0, 1, 2, 3, 4]
    assert gk.randperm(0, device=device).shape == (0,)
    with pytest.raises(gk.InvalidArgumentError, match="randperm: n must be >= 0"):
        gk.randperm(-1)
    with pytest.raises(gk.InvalidArgumentError, match="do not fit dtype uint8"):
        gk.randperm(300, dtype=gk.uint8)
    with pytest.raises(gk.DTypeError, match="randperm: dtype must be an integer or float dtype"):
        gk.randperm(3, dtype=gk.bool_)
    assert gk.randperm(2049, dtype=gk.float16).shape == (2049,)  # 0 to 2048: exact in float16, as PyTorch
    with pytest.raises(gk.InvalidArgumentError, match="too large for float16"):
        gk.randperm(2050, dtype=gk.float16)
    with pytest.raises(gk.ArgumentTypeError, match="randperm: n must be an int"):
        gk.randperm(2.5)


def test_multinomial_with_and_without_replacement(device):
    gk.manual_seed(1)
    probs = _t([0.1, 0.0, 0.2, 0.7], device)
    draws = gk.multinomial(probs, 20000, replacement=True)
    assert draws.shape == (20000,) and draws.dtype == np.int64
    freq = np.bincount(draws.numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.2, 0.7], atol=0.02)
    assert freq[1] == 0  # a zero weight is never drawn
    rows = _t([[1.0, 0.0, 3.0], [0.0, 5.0, 5.0]], device)  # weights need not sum to 1
    many = gk.multinomial(rows, 5000, True).numpy()
    assert many.shape == (2, 5000)
    np.testing.assert_allclose(np.bincount(many[0], minlength=3) / 5000, [0.25, 0, 0.75], atol=0.03)
    np.testing.assert_allclose(np.bincount(many[1], minlength=3) / 5000, [0, 0.5, 0.5], atol=0.03)
    # without replacement: distinct indices, the first one distributed as the weights
    first = np.array([gk.multinomial(probs, 3).numpy() for _ in range(600)])
    assert all(len(set(r)) == 3 for r in first)
    np.testing.assert_allclose(np.bincount(first[:, 0], minlength=4) / 600, [0.1, 0, 0.2, 0.7], atol=0.06)
    assert sorted(gk.multinomial(_t([[1.0, 1.0, 1.0]], device), 3).numpy()[0].tolist()) == [0, 1, 2]
    np.testing.assert_array_equal(gk.multinomial(_t([0.0, 1.0, 0.0], device), 2).numpy(), [1, 0])  # as PyTorch
    assert gk.multinomial(gk.ones(0, 3, device=device), 2).shape == (0, 2)
    gk.manual_seed(5)
    a = gk.multinomial(probs, 10, True).numpy()
    gk.manual_seed(5)
    np.testing.assert_array_equal(gk.multinomial(probs, 10, True).numpy(), a)


@pytest.mark.parametrize(("probs", "n", "replacement", "error", "match"), [
    ([[[1.0]]], 1, False, gk.ShapeError, "must be 1-d or 2-d"),
    (1.0, 1, False, gk.ShapeError, "must be 1-d or 2-d"),
    ([1, 2], 1, False, gk.DTypeError, "must be a float tensor"),
    ([1.0, 2.0], 0, False, gk.InvalidArgumentError, "num_samples must be > 0"),
    ([1.0, 2.0], 3, False, gk.InvalidArgumentError, "cannot draw 3 samples without replacement from 2"),
    ([0.0, 0.0], 1, True, gk.InvalidArgumentError, "sum to 0"),
    ([[1.0, 2.0], [0.0, 0.0]], 1, False, gk.InvalidArgumentError, "sum to 0"),
    ([1.0, -1.0], 1, True, gk.InvalidArgumentError, "finite and >= 0"),
    ([1.0, math.inf], 1, True, gk.InvalidArgumentError, "finite and >= 0"),
    ([1.0, math.nan], 1, True, gk.InvalidArgumentError, "finite and >= 0"),
])
def test_multinomial_errors(device, probs, n, replacement, error, match):
    dtype = None if isinstance(probs, list) and isinstance(np.asarray(probs).flat[0], np.integer) else gk.float32
    with pytest.raises(error, match=match):
        gk.multinomial(gk.tensor(probs, dtype=dtype, device=device), n, replacement)


def test_multinomial_errors_where_pytorch_errs():
    torch = pytest.importorskip("torch")
    for probs, n, replacement in (([0.0, 0.0], 1, True), ([1.0, -1.0], 1, False), ([1.0, 2.0], 3, False),
                                  ([[[1.0]]], 1, False), ([1.0], 0, True)):
        with pytest.raises(RuntimeError):
            torch.multinomial(torch.tensor(probs), n, replacement)
        with pytest.raises(gk.GradkitError):
            gk.multinomial(gk.tensor(probs), n, replacement)


def test_is_tensor():
    assert gk.is_tensor(gk.ones(1)) and gk.is_tensor(gk.nn.Parameter(gk.ones(1)))
    assert not gk.is_tensor(np.ones(1)) and not gk.is_tensor(1.0) and not gk.is_tensor([1.0])


# ------------------------------------------------------------------ inference_mode
def test_inference_mode_as_context_manager_and_decorator():
    x = gk.ones(2, requires_grad=True)
    assert gk.is_grad_enabled() and not gk.is_inference_mode_enabled()
    with gk.inference_mode():
        assert not gk.is_grad_enabled() and gk.is_inference_mode_enabled()
        y = x * 2
        with gk.inference_mode(False):
            assert gk.is_grad_enabled() and not gk.is_inference_mode_enabled()
        assert gk.is_inference_mode_enabled()
    assert gk.is_grad_enabled() and not gk.is_inference_mode_enabled()
    assert not y.requires_grad
    (y * x).sum().backward()  # an ordinary tensor: usable in a recorded operation afterwards
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])

    @gk.inference_mode
    def bare():
        return gk.is_grad_enabled(), gk.is_inference_mode_enabled()

    @gk.inference_mode()
    def called():
        return gk.is_grad_enabled(), gk.is_inference_mode_enabled()

    @gk.inference_mode(mode=False)
    def off():
        return gk.is_grad_enabled(), gk.is_inference_mode_enabled()

    assert bare() == called() == (False, True)
    with gk.no_grad():
        assert off() == (True, False)
        assert not gk.is_grad_enabled()

    @gk.inference_mode()
    def gen():
        yield gk.is_inference_mode_enabled()
        yield gk.is_grad_enabled()

    it = gen()
    assert next(it) is True
    assert gk.is_grad_enabled() and not gk.is_inference_mode_enabled()  # the caller's mode in between
    assert next(it) is False
    with pytest.raises(gk.ArgumentTypeError, match="inference_mode: mode must be True or False"):
        gk.inference_mode("yes")
    with pytest.raises(RuntimeError):
        with gk.inference_mode():
            raise RuntimeError("restored")
    assert gk.is_grad_enabled() and not gk.is_inference_mode_enabled()


def test_inference_mode_matches_pytorch_grad_mode():
    torch = pytest.importorskip("torch")
    for mode in (True, False):
        for outer in (torch.no_grad, torch.enable_grad):
            with outer(), torch.inference_mode(mode):
                ref = (torch.is_grad_enabled(), torch.is_inference_mode_enabled())
            gk_outer = gk.no_grad if outer is torch.no_grad else gk.enable_grad
            with gk_outer(), gk.inference_mode(mode):
                assert (gk.is_grad_enabled(), gk.is_inference_mode_enabled()) == ref


# ------------------------------------------------------------------ nn.Embedding
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_embedding_max_norm_matches_pytorch(device, norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 4)) * 2
    idx = np.array([[0, 2, 2], [5, 1, 0]])
    emb = gk.nn.Embedding.from_pretrained(gk.tensor(w.copy(), device=device), freeze=False, max_norm=1.5,
                                          norm_type=norm_type)
    ref = torch.nn.Embedding.from_pretrained(torch.tensor(w.copy()), freeze=False, max_norm=1.5,
                                             norm_type=norm_type)
    version = emb.weight._version[0]
    out = emb(gk.tensor(idx, device=device))
    tout = ref(torch.tensor(idx))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(emb.weight.numpy(), ref.weight.detach().numpy(), rtol=1e-12)  # renormed in place
    assert emb.weight._version[0] == version + 1
    g = rng.standard_normal(out.shape)
    (out * gk.tensor(g, device=device)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-12)
    assert repr(emb) == repr(ref)


def test_embedding_from_pretrained(device):
    w = gk.tensor(np.arange(12.0).reshape(4, 3), device=device)
    emb = gk.nn.Embedding.from_pretrained(w, padding_idx=1)
    assert emb.weight._data is w._data  # shared, as PyTorch
    assert not emb.weight.requires_grad and emb.num_embeddings == 4 and emb.embedding_dim == 3
    np.testing.assert_array_equal(emb.weight.numpy()[1], [3.0, 4.0, 5.0])  # the padding row is not zeroed
    np.testing.assert_array_equal(emb(gk.tensor([1, 3], device=device)).numpy(), [[3, 4, 5], [9, 10, 11]])
    trainable = gk.nn.Embedding.from_pretrained(w.astype(gk.float64), freeze=False, padding_idx=1)
    out = trainable(gk.tensor([1, 2, 2], device=device))
    out.sum().backward()
    np.testing.assert_array_equal(trainable.weight.grad.numpy(), [[0] * 3, [0] * 3, [2] * 3, [0] * 3])
    assert repr(emb) == "Embedding(4, 3, padding_idx=1)"
    with pytest.raises(gk.ShapeError, match="from_pretrained: embeddings must be a 2-d Tensor"):
        gk.nn.Embedding.from_pretrained(gk.ones(3))
    with pytest.raises(gk.InvalidArgumentError, match="sparse=True is not supported"):
        gk.nn.Embedding(3, 2, sparse=True)
    with pytest.raises(gk.InvalidArgumentError, match="Embedding: max_norm must be >= 0"):
        gk.nn.Embedding(3, 2, max_norm=-1.0)
    with pytest.raises(gk.IndexOutOfRangeError):
        gk.nn.Embedding(3, 2, max_norm=1.0)(gk.tensor([3]))


def test_embedding_from_pretrained_does_not_draw():
    gk.manual_seed(4)
    gk.nn.Embedding.from_pretrained(gk.ones(2, 2))
    a = gk.rand(3).numpy()
    gk.manual_seed(4)
    np.testing.assert_array_equal(gk.rand(3).numpy(), a)


# ------------------------------------------------------------------ nn.init
def test_trunc_normal(device):
    gk.manual_seed(0)
    t = init.trunc_normal_(gk.empty(20000, device=device, dtype=gk.float64), mean=1.0, std=2.0, a=-1.0, b=5.0)
    x = t.numpy()
    assert x.min() >= -1.0 and x.max() <= 5.0
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2  # noqa: E731
    alpha, beta = -1.0, 2.0  # (a - mean) / std, (b - mean) / std
    expected = 1.0 + 2.0 * (phi(alpha) - phi(beta)) / (cdf(beta) - cdf(alpha))
    assert abs(x.mean() - expected) < 0.05
    assert init.trunc_normal_(gk.empty(2, 3, device=device)).dtype == np.float32
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(gk.empty(5, device=device), mean=10.0)
    with pytest.raises(gk.InvalidArgumentError, match="trunc_normal_: expected a <= b"):
        init.trunc_normal_(gk.empty(3), a=2.0, b=1.0)
    with pytest.raises(gk.InvalidArgumentError, match="trunc_normal_: std must be > 0"):
        init.trunc_normal_(gk.empty(3), std=0.0)
    with pytest.raises(gk.DTypeError, match="trunc_normal_: fills float tensors only"):
        init.trunc_normal_(gk.zeros(3, dtype=gk.int64))


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 2, 3), (4, 4)])
def test_orthogonal(device, shape):
    t = init.orthogonal_(gk.empty(*shape, device=device, dtype=gk.float64), gain=2.0)
    m = t.numpy().reshape(shape[0], -1)
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-10)


def test_orthogonal_errors_and_empty():
    with pytest.raises(gk.InvalidArgumentError, match="orthogonal_: needs a tensor with 2 or more dimensions"):
        init.orthogonal_(gk.empty(3))
    assert init.orthogonal_(gk.empty(0, 3)).shape == (0, 3)
    f32 = init.orthogonal_(gk.empty(3, 3))
    assert f32.dtype == np.float32
    np.testing.assert_allclose(f32.numpy().T @ f32.numpy(), np.eye(3), atol=1e-5)


# ------------------------------------------------------------------ F.pad
PAD_CASES = [((2, 3, 4), (1, 2)), ((2, 3, 4), (2, 1, 1, 2)), ((1, 2, 3, 4), (1, 0, 2, 1, 0, 1)),
             ((2, 3, 4), (-1, 2)), ((2, 3, 4), (2, -1, -1, 1)), ((3, 4), (0, 0))]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(("shape", "widths"), PAD_CASES)
def test_pad_matches_pytorch(device, mode, shape, widths):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal(shape)
    if mode != "constant" and len(widths) // 2 + 2 < len(shape):
        x = x.reshape((-1,) + shape[-(len(widths) // 2 + 1):])  # PyTorch's modes want at most 2 leading axes
    kwargs = {"value": 1.5} if mode == "constant" else {}
    ref = torch.nn.functional.pad(torch.tensor(x), widths, mode=mode, **kwargs).numpy()
    out = F.pad(gk.tensor(x, device=device), widths, mode=mode, **kwargs)
    np.testing.assert_array_equal(out.numpy(), ref)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_gradients(device, mode):
    x = gk.tensor(np.random.default_rng(2).standard_normal((2, 3, 4)), device=device, requires_grad=True)
    assert gk.gradcheck(lambda t: F.pad(t, (2, 1, -1, 2), mode=mode), (x,))
    assert gk.gradcheck(lambda t: F.pad(t, (3, 3), mode=mode if mode != "reflect" else "replicate"), (x,))


def test_pad_int_and_extra_axes(device):
    out = F.pad(gk.tensor([0, 1, 2], device=device), (1, 1), value=2.5)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), [2, 0, 1, 2, 2])  # the value cast to the dtype, as PyTorch
    np.testing.assert_array_equal(F.pad(gk.tensor([0.0, 1.0, 2.0], device=device), (2, 1), mode="reflect").numpy(),
                                  [2.0, 1.0, 0.0, 1.0, 2.0, 1.0])  # any number of leading axes (PyTorch: 1 or 2)


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), [
    (((1,),), {}, gk.ShapeError, "pad must hold \\(before, after\\) pairs"),
    (((1, 1, 1, 1, 1, 1, 1, 1),), {}, gk.ShapeError, "pads 4 axes, but the input has 3"),
    (((1.5, 1),), {}, gk.ArgumentTypeError, "pad must be a tuple of ints"),
    ((3,), {}, gk.ArgumentTypeError, "pad must be a tuple of ints"),
    (((1, 1),), {"mode": "zeros"}, gk.InvalidArgumentError, "unknown mode 'zeros'"),
    (((1, 1),), {"mode": "reflect", "value": 2.0}, gk.InvalidArgumentError, "takes no value"),
    (((3, 1),), {"mode": "reflect"}, gk.InvalidArgumentError, "less than the axis length 3"),
    (((4, 1),), {"mode": "circular"}, gk.InvalidArgumentError, "wraps around more than once"),
    (((-2, -2),), {}, gk.ShapeError, "removes more than the 3 elements of axis 2"),
    (((1, 1),), {"value": "a"}, gk.ArgumentTypeError, "value must be a number"),
])
def test_pad_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        F.pad(gk.ones(1, 2, 3), *args, **kwargs)


# ------------------------------------------------------------------ nn.utils.rnn.pad_sequence
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_pytorch(device, batch_first, side):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    seqs = [rng.standard_normal((n, 2)) for n in (3, 1, 4)]
    ref = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=batch_first,
                                          padding_value=-1.0, padding_side=side).numpy()
    out = pad_sequence([gk.tensor(s, device=device) for s in seqs], batch_first=batch_first, padding_value=-1.0,
                       padding_side=side)
    np.testing.assert_array_equal(out.numpy(), ref)
    xs = [gk.tensor(s, device=device, requires_grad=True) for s in seqs]
    assert gk.gradcheck(lambda a, b, c: pad_sequence([a, b, c], batch_first, 0.5, side), xs)


def test_pad_sequence_dtypes_tensors_and_errors(device):
    out = pad_sequence([gk.ones(2, device=device), gk.ones(3, dtype=gk.int64, device=device)], padding_value=1.5)
    assert out.dtype == np.float32 and out.shape == (3, 2)  # the first sequence's dtype, as PyTorch
    np.testing.assert_array_equal(out.numpy(), [[1, 1], [1, 1], [1.5, 1]])
    x = gk.tensor(np.ones((2, 3, 4)), device=device, requires_grad=True)
    assert pad_sequence(x).shape == (3, 2, 4)  # a tensor: its rows are the sequences
    assert gk.nn.utils.rnn.pad_sequence is pad_sequence
    from gradkit.nn.utils.rnn import pad_sequence as imported  # as ``from torch.nn.utils.rnn import ...``

    assert imported is pad_sequence
    with pytest.raises(gk.InvalidArgumentError, match="empty list of sequences"):
        pad_sequence([])
    with pytest.raises(gk.ShapeError, match="all must agree after the first axis"):
        pad_sequence([gk.ones(2, 3), gk.ones(2, 4)])
    with pytest.raises(gk.ShapeError, match="sequence 0 is 0-d"):
        pad_sequence([gk.tensor(1.0)])
    with pytest.raises(gk.InvalidArgumentError, match="padding_side must be 'left' or 'right'"):
        pad_sequence([gk.ones(2)], padding_side="mid")
    with pytest.raises(gk.ArgumentTypeError, match="sequence 1 is a list"):
        pad_sequence([gk.ones(2), [1.0]])


# ------------------------------------------------------------------ optimisers over named_parameters()
def test_optimizer_takes_named_parameters_as_pytorch():
    torch = pytest.importorskip("torch")
    model = gk.nn.Sequential(gk.nn.Linear(2, 3), gk.nn.Linear(3, 1))
    tmodel = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    opt = gk.optim.SGD(model.named_parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tmodel.named_parameters(), lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["params"] == list(model.parameters())
    assert opt.state_dict()["param_groups"][0]["param_names"] == topt.state_dict()["param_groups"][0]["param_names"]
    model(gk.ones(4, 2)).sum().backward()
    opt.step()
    fresh = gk.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    fresh.load_state_dict(opt.state_dict())
    assert fresh.param_groups[0]["param_names"] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert fresh.param_groups[0]["lr"] == 0.1
    grouped = gk.optim.Adam([{"params": model[0].named_parameters(prefix="0")},
                             {"params": model[1].named_parameters(prefix="1"), "lr": 0.01}])
    assert [g["param_names"] for g in grouped.param_groups] == [["0.weight", "0.bias"], ["1.weight", "1.bias"]]
    with pytest.raises(gk.InvalidArgumentError, match="every parameter as a \\(name, tensor\\) pair"):
        gk.optim.SGD([("w", model[0].weight), model[0].bias], lr=0.1)
    with pytest.raises(gk.InvalidArgumentError, match="names .* or none"):
        opt.add_param_group({"params": [gk.zeros(2, requires_grad=True)]})


def test_ravel_tril_triu_methods_as_the_functions(device):
    a = np.arange(12.0).reshape(3, 4)
    t = gk.tensor(a, device=device, requires_grad=True)
    np.testing.assert_array_equal(t.ravel().numpy(), a.ravel())
    np.testing.assert_array_equal(t.ravel("F").numpy(), a.ravel("F"))
    np.testing.assert_array_equal(t.tril(1).numpy(), np.tril(a, 1))
    np.testing.assert_array_equal(t.triu(-1).numpy(), np.triu(a, -1))
    (t.tril().sum() + 2 * t.ravel().sum()).backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.tril(np.ones_like(a)) + 2)

"""Review of the lazy modules, nn.Buffer and the nn.utils / nn.init additions: lazy models in real programs
(optimisers made before the first call, failed and partial loads, checkpoints saved before the first call), the
initialisers on uninitialized tensors, fusion of grouped transposed convolutions, and Buffer assignment."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.errors import ArgumentTypeError, ShapeError
from gradkit.nn import init
from gradkit.nn.lazy import UninitializedTensorError, is_lazy
from gradkit.nn.module import ModuleAttributeError, StateDictError, StateDictShapeError

F64 = "float64"


def _randn(device: str, *shape: int, seed: int = 0) -> gk.Tensor:
    return gk.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=F64, device=device)


def _lazy_cnn(device: str) -> nn.Sequential:
    return nn.Sequential(nn.LazyConv2d(4, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(), nn.Flatten(),
                         nn.LazyLinear(3)).to(device, F64)


def test_lazy_cnn_trains_with_adam_made_before_the_first_call_and_keeps_user_hooks(device):
    gk.manual_seed(3)
    m = _lazy_cnn(device)
    ids = [id(p) for p in m.parameters()]
    opt = gk.optim.Adam(m.parameters(), lr=1e-2)
    calls = []
    m[4].register_forward_hook(lambda mod, args, out: calls.append(type(mod).__name__))
    x, target = _randn(device, 2, 3, 5, 5), _randn(device, 2, 3, seed=1)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = ((m(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert [type(layer).__name__ for layer in m] == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear"]
    assert [id(p) for p in m.parameters()] == ids == [id(p) for g in opt.param_groups for p in g["params"]]
    assert all(str(p.device).startswith(device) and p.dtype == np.float64 for p in m.parameters())
    assert calls == ["Linear"] * 4  # a hook the user registered on the lazy module stays, as PyTorch's
    assert not any(getattr(h, "__name__", "") == "_infer_parameters" for h in m[4]._forward_pre_hooks.values())


@pytest.mark.parametrize("problem", ["unexpected key", "shape", "value"])
def test_a_failed_load_leaves_lazy_modules_uninitialized(device, problem):
    # The load materialises the lazy tensors first; a load that then fails must undo that, or the model would
    # keep zeros that its first call never initialises (it did: a silent all-zero model).
    src = nn.Sequential(nn.Linear(5, 3), nn.Linear(3, 2), nn.Linear(2, 2)).to(device, F64)
    sd = dict(src.state_dict())
    if problem == "unexpected key":
        sd["extra"] = gk.ones(1)
        error = StateDictError
    elif problem == "shape":
        sd["2.bias"] = gk.ones(7)
        error = StateDictShapeError
    else:
        sd["2.bias"] = "not a tensor"
        error = ArgumentTypeError
    m = nn.Sequential(nn.LazyLinear(3), nn.LazyLinear(2), nn.Linear(2, 2)).to(device, F64)
    opt = gk.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(error):
        m.load_state_dict(sd)
    assert all(is_lazy(p) for p in list(m.parameters())[:4])
    with pytest.raises(UninitializedTensorError, match="LazyLinear.weight"):
        _ = m[0].weight.shape
    gk.manual_seed(0)
    y = m(_randn(device, 4, 5))
    assert m[0].weight.numpy().any() and m[1].weight.numpy().any() and y.numpy().any()
    assert [id(p) for p in m.parameters()] == [id(p) for p in opt.param_groups[0]["params"]]
    assert str(m[0].weight.device).startswith(device) and m[0].weight.dtype == np.float64


def test_loading_another_layers_sizes_into_a_lazy_module_is_a_shape_error(device):
    # PyTorch's lazy modules take any shape; gradkit's check the sizes they know, as the eager layers do
    def ones(*shape):
        return gk.ones(shape, device=device)

    m = nn.Sequential(nn.LazyLinear(3), nn.LazyConv2d(4, 3), nn.LazyConvTranspose1d(6, 2, groups=2)).to(device)
    good = {"0.weight": ones(3, 5), "0.bias": ones(3), "1.weight": ones(4, 2, 3, 3), "1.bias": ones(4),
            "2.weight": ones(4, 3, 2), "2.bias": ones(6)}
    for key, value, expected in (("0.weight", ones(4, 5), r"\(3, \*\)"), ("0.bias", ones(3, 1), r"\(3,\)"),
                                 ("1.weight", ones(4, 2, 2, 2), r"\(4, \*, 3, 3\)"),
                                 ("2.weight", ones(4, 6, 2), r"\(\*, 3, 2\)")):
        with pytest.raises(StateDictShapeError, match=f'size mismatch for "{key}".*takes a shape {expected}'):
            m.load_state_dict({**good, key: value})
        assert all(is_lazy(p) for p in m.parameters())
    assert repr(m.load_state_dict(good)) == "<All keys matched successfully>"
    assert m[0](ones(2, 5)).shape == (2, 3) and m[1](ones(1, 2, 5, 5)).shape == (1, 4, 3, 3)
    assert m[2](ones(1, 4, 3)).shape == (1, 6, 4) and m[2].in_channels == 4


def test_a_partial_load_keeps_the_loaded_values_and_initialises_the_rest(device):
    gk.manual_seed(0)
    w = _randn(device, 3, 5)
    lin = nn.LazyLinear(3).to(device, F64)
    assert lin.load_state_dict({"weight": w}, strict=False).missing_keys == ["bias"]
    lin(_randn(device, 2, 5))
    np.testing.assert_array_equal(lin.weight.numpy(), w.numpy())  # was re-initialised at the first call
    assert lin.in_features == 5 and lin.bias.numpy().any() and np.abs(lin.bias.numpy()).max() <= 5 ** -0.5
    other = nn.LazyLinear(3).to(device, F64)
    other.load_state_dict({"weight": w}, strict=False)
    with pytest.raises(ShapeError, match="LazyLinear: the input's last axis has size 4"):
        other(_randn(device, 2, 4))

    cw = _randn(device, 4, 2, 3, 3)
    conv = nn.LazyConv2d(4, 3).to(device, F64)
    conv.load_state_dict({"weight": cw}, strict=False)
    conv(_randn(device, 1, 2, 5, 5))
    np.testing.assert_array_equal(conv.weight.numpy(), cw.numpy())
    assert conv.in_channels == 2 and conv.bias.numpy().any()

    bn = nn.LazyBatchNorm1d().to(device, F64)
    bn.load_state_dict({"running_mean": gk.full((3,), 2.0, dtype=F64, device=device),
                        "num_batches_tracked": gk.tensor(7, device=device)}, strict=False)
    bn.eval()
    bn(_randn(device, 2, 3))
    np.testing.assert_array_equal(bn.running_mean.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(bn.running_var.numpy(), [1.0, 1.0, 1.0])
    assert bn.num_batches_tracked.item() == 7 and type(bn).__name__ == "BatchNorm1d"


def test_a_checkpoint_saved_before_the_first_call_loads_into_a_lazy_model(device, tmp_path):
    pytest.importorskip("safetensors")
    path = str(tmp_path / "lazy.safetensors")
    gk.save(_lazy_cnn(device), path)  # uninitialized tensors are written as empty ones
    m = _lazy_cnn(device)
    assert repr(m.load_state_dict(gk.load(path))) == "<All keys matched successfully>"
    assert all(is_lazy(p) for p in m.parameters())  # they were materialised to shape (0,), and then failed
    assert m(_randn(device, 2, 3, 5, 5)).shape == (2, 3)
    assert m[4].in_features == 100 and m[0].weight.numpy().any()
    # and a checkpoint of the trained model loads into a new lazy one, which then gives the same outputs
    gk.save(m, path)
    fresh = _lazy_cnn(device)
    fresh.load_state_dict(gk.load(path))
    m.eval(), fresh.eval()
    x = _randn(device, 2, 3, 5, 5, seed=2)
    np.testing.assert_array_equal(fresh(x).numpy(), m(x).numpy())
    assert type(fresh[0]).__name__ == "Conv2d" and fresh[0].in_channels == 3


@pytest.mark.parametrize(("fill", "lazy"), [
    (init.zeros_, nn.LazyConv2d), (init.ones_, nn.LazyConv2d), (lambda t: init.constant_(t, 0.5), nn.LazyConv2d),
    (init.dirac_, nn.LazyConv2d), (init.xavier_uniform_, nn.LazyConv2d), (init.normal_, nn.LazyConv2d),
    (init.eye_, nn.LazyLinear), (lambda t: init.sparse_(t, 0.1), nn.LazyLinear),
], ids=["zeros_", "ones_", "constant_", "dirac_", "xavier_uniform_", "normal_", "eye_", "sparse_"])
def test_initialisers_refuse_uninitialized_tensors(fill, lazy):
    # zeros_ / ones_ / constant_ filled the empty placeholder and said nothing (PyTorch's raise)
    layer = lazy(4, 3) if lazy is nn.LazyConv2d else lazy(4)
    with pytest.raises(UninitializedTensorError, match=rf"_: {lazy.__name__}\.weight is uninitialized"):
        fill(layer.weight)
    assert is_lazy(layer.weight)
    with pytest.raises(UninitializedTensorError, match="the UninitializedParameter is uninitialized"):
        fill(nn.UninitializedParameter())
    layer(gk.ones((1, 2, 4, 4)) if lazy is nn.LazyConv2d else gk.ones((1, 2)))
    fill(layer.weight)  # fine once materialised


def test_a_user_init_function_applied_after_the_first_call():
    def init_weights(m):
        if isinstance(m, nn.Linear):
            init.ones_(m.weight)
            init.zeros_(m.bias)

    m = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.LazyLinear(2))
    with pytest.raises(UninitializedTensorError):
        m.apply(init_weights)
    m(gk.ones((1, 3)))
    m.apply(init_weights)
    np.testing.assert_array_equal(m(gk.ones((1, 3))).numpy(), [[12.0, 12.0]])


def test_fuse_grouped_conv_transpose_and_size_errors(device):
    rng = np.random.default_rng(5)
    for conv in (nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2), nn.ConvTranspose1d(6, 9, 2, groups=3, bias=False)):
        conv = conv.to(device, F64).eval()
        c = conv.out_channels
        bn = nn.BatchNorm2d(c) if isinstance(conv, nn.ConvTranspose2d) else nn.BatchNorm1d(c)
        bn = bn.to(device, F64).eval()
        bn.running_mean = gk.tensor(rng.standard_normal(c), device=device)
        bn.running_var = gk.tensor(rng.uniform(0.5, 2.0, c), device=device)
        with gk.no_grad():
            bn.weight.copy_(gk.tensor(rng.standard_normal(c), device=device))
            bn.bias.copy_(gk.tensor(rng.standard_normal(c), device=device))
        x = _randn(device, 2, conv.in_channels, *(4,) * (conv.weight.ndim - 2))
        fused = nn.utils.fuse_conv_bn_eval(conv, bn, transpose=True)
        np.testing.assert_allclose(fused(x).numpy(), bn(conv(x)).numpy(), rtol=0, atol=1e-12)
    conv, bn = nn.Conv2d(4, 6, 3).eval(), nn.BatchNorm2d(5).eval()
    with pytest.raises(ShapeError, match=r"fuse_conv_bn_eval: the BatchNorm's running_mean has shape \(5,\), the "
                                         r"convolution has 6 output channels$"):
        nn.utils.fuse_conv_bn_eval(conv, bn)
    with pytest.raises(ShapeError, match="a ConvTranspose layer needs transpose=True"):
        nn.utils.fuse_conv_bn_eval(nn.ConvTranspose2d(4, 6, 3).eval(), nn.BatchNorm2d(6).eval())
    with pytest.raises(ShapeError, match=r"fuse_conv_bn_weights: conv_b must have shape \(6,\)"):
        nn.utils.fuse_conv_bn_weights(conv.weight, gk.ones(3), gk.zeros(6), gk.ones(6), 1e-5, None, None)


def test_buffer_assignment(device):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Buffer(gk.ones(2, device=device))
            self.b = nn.Buffer(gk.zeros(3, device=device), persistent=False)
            self.lin = nn.Linear(2, 2)

    m = M()
    assert list(m.state_dict()) == ["a", "lin.weight", "lin.bias"] and [n for n, _ in m.named_buffers()] == ["a", "b"]
    m.b = nn.Buffer(gk.ones(3, device=device))  # a Buffer brings its persistence
    m.a = nn.Buffer(gk.ones(2, device=device), persistent=False)
    assert list(m.state_dict()) == ["b", "lin.weight", "lin.bias"]
    m.b = gk.full((3,), 2.0, device=device)  # a plain tensor keeps it
    assert list(m.state_dict()) == ["b", "lin.weight", "lin.bias"] and m.b.numpy().tolist() == [2.0] * 3
    with pytest.raises(ArgumentTypeError, match="Linear: cannot assign Buffer to parameter 'weight'"):
        m.lin.weight = nn.Buffer(gk.ones((2, 2)))
    with pytest.raises(ArgumentTypeError, match="M: cannot assign Buffer to submodule 'lin'"):
        m.lin = nn.Buffer(gk.ones(1))
    assert isinstance(m.lin.weight, nn.Parameter) and isinstance(m.lin, nn.Linear)
    m.plain = 3
    with pytest.raises(ModuleAttributeError, match="'plain' already exists"):
        m.plain = nn.Buffer(gk.ones(1))
    t = gk.ones(2, requires_grad=True, device=device)
    buf = nn.Buffer(t * 2)
    assert buf.requires_grad and buf.is_leaf and buf.grad_fn is None
    m.w = nn.Parameter(gk.ones(1))  # parameters still register, and a deepcopy keeps everything
    c = copy.deepcopy(m)
    assert list(c.state_dict()) == list(m.state_dict()) and isinstance(c.a, nn.Buffer) and not c.a.persistent


def test_uninitialized_parameter_of_an_integer_dtype():
    with pytest.raises(gk.errors.DTypeError, match="UninitializedParameter: only a floating-point parameter"):
        nn.UninitializedParameter(dtype="int64")
    p = nn.UninitializedParameter(False, dtype="int64")
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == np.int64 and not p.requires_grad

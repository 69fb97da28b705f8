"""Lazy modules, nn.Buffer, BatchNorm's bias keyword, and nn.utils / nn.init additions, checked against PyTorch's
behaviour (written-out formulas, eager layers, and PyTorch itself where it is installed)."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from gradkit.nn import init
from gradkit.nn.lazy import UninitializedTensorError, is_lazy

U = nn.utils
F64 = "float64"


def _arr(t: gk.Tensor) -> np.ndarray:
    return t.numpy()


def _randn(device: str, *shape: int, seed: int = 0) -> gk.Tensor:
    return gk.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=F64, device=device)


# ------------------------------------------------------------------ lazy modules
def test_lazy_linear_infers_in_features_and_becomes_linear(device):
    m = nn.LazyLinear(3, device=device, dtype=F64)
    assert repr(m) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert m.has_uninitialized_params() and is_lazy(m.weight) and is_lazy(m.bias)
    assert isinstance(m.weight, nn.UninitializedParameter) and isinstance(m.weight, nn.Parameter)
    assert repr(m.weight) == "<UninitializedParameter>"
    gk.manual_seed(7)
    x = _randn(device, 2, 5)
    y = m(x)
    assert type(m) is nn.Linear and repr(m) == "Linear(in_features=5, out_features=3, bias=True)"
    assert type(m.weight) is nn.Parameter and m.weight.shape == (3, 5) and m.bias.shape == (3,)
    assert m.weight.dtype == np.float64 and m.weight.device == x.device and m.weight.requires_grad
    assert not m._has_hooks and not m._forward_pre_hooks
    # PyTorch's guarantee: initialised as the eager layer is, so the same seed gives the same values
    gk.manual_seed(7)
    e = nn.Linear(5, 3, device=device, dtype=F64)
    np.testing.assert_array_equal(_arr(m.weight), _arr(e.weight))
    np.testing.assert_array_equal(_arr(m.bias), _arr(e.bias))
    np.testing.assert_allclose(_arr(y), _arr(e(x)), rtol=0, atol=1e-14)


def test_lazy_linear_without_bias():
    m = nn.LazyLinear(4, bias=False)
    assert m.bias is None and list(m.state_dict()) == ["weight"]
    m(gk.ones(2, 3, 6))
    assert type(m) is nn.Linear and m.weight.shape == (4, 6) and m.bias is None


CONVS = [
    (nn.LazyConv1d, nn.Conv1d, (2, 6, 9)),
    (nn.LazyConv2d, nn.Conv2d, (2, 6, 7, 7)),
    (nn.LazyConv3d, nn.Conv3d, (1, 6, 5, 5, 5)),
    (nn.LazyConvTranspose1d, nn.ConvTranspose1d, (2, 6, 9)),
    (nn.LazyConvTranspose2d, nn.ConvTranspose2d, (2, 6, 5, 5)),
    (nn.LazyConvTranspose3d, nn.ConvTranspose3d, (1, 6, 3, 3, 3)),
]


@pytest.mark.parametrize(("lazy", "eager", "shape"), CONVS, ids=[c[0].__name__ for c in CONVS])
def test_lazy_convolutions_equal_their_eager_class(device, lazy, eager, shape):
    m = lazy(4, 3, stride=2, groups=2, device=device, dtype=F64)
    name = lazy.__name__
    assert repr(m).startswith(f"{name}(0, 4, kernel_size=")
    x = _randn(device, *shape)
    gk.manual_seed(3)
    y = m(x)
    assert type(m) is eager and m.in_channels == 6
    gk.manual_seed(3)
    e = eager(6, 4, 3, stride=2, groups=2, device=device, dtype=F64)
    assert repr(m) == repr(e) and m.weight.shape == e.weight.shape and m.bias.shape == (4,)
    np.testing.assert_array_equal(_arr(m.weight), _arr(e.weight))
    np.testing.assert_allclose(_arr(y), _arr(e(x)), rtol=0, atol=1e-13)
    # an unbatched input gives in_channels from its axis 0
    u = lazy(4, 3, device=device, dtype=F64)
    u(_randn(device, *shape[1:]))
    assert u.in_channels == 6


NORMS = [
    (nn.LazyBatchNorm1d, nn.BatchNorm1d, (8, 3, 4)),
    (nn.LazyBatchNorm2d, nn.BatchNorm2d, (4, 3, 2, 2)),
    (nn.LazyBatchNorm3d, nn.BatchNorm3d, (2, 3, 2, 2, 2)),
    (nn.LazyInstanceNorm1d, nn.InstanceNorm1d, (2, 3, 6)),
    (nn.LazyInstanceNorm2d, nn.InstanceNorm2d, (2, 3, 3, 3)),
    (nn.LazyInstanceNorm3d, nn.InstanceNorm3d, (2, 3, 2, 2, 2)),
]


@pytest.mark.parametrize(("lazy", "eager", "shape"), NORMS, ids=[c[0].__name__ for c in NORMS])
def test_lazy_norms_equal_their_eager_class(device, lazy, eager, shape):
    m = lazy(momentum=0.2, device=device, dtype=F64)
    assert repr(m) == (f"{lazy.__name__}(0, eps=1e-05, momentum=0.2, affine=True, bias=True, "
                       "track_running_stats=True)")
    sd = m.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [type(v).__name__ for v in sd.values()][:4] == ["UninitializedParameter"] * 2 + ["UninitializedBuffer"] * 2
    assert [n for n, _ in m.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    x = _randn(device, *shape)
    y = m(x)
    e = eager(3, momentum=0.2, affine=True, track_running_stats=True, device=device, dtype=F64)
    ye = e(x)
    assert type(m) is eager and repr(m) == repr(e) and m.num_features == 3
    np.testing.assert_allclose(_arr(y), _arr(ye), rtol=0, atol=1e-13)
    for key, value in e.state_dict().items():
        np.testing.assert_allclose(_arr(m.state_dict()[key]), _arr(value), rtol=0, atol=1e-14)
    assert type(m.running_mean) is gk.Tensor and m.running_mean.device == x.device


def test_lazy_instance_norm_unbatched_input_and_no_state():
    m = nn.LazyInstanceNorm1d()
    m(gk.randn(3, 7))  # (C, L): C from axis 0 (PyTorch 2.14 reads axis 1 here and then fails)
    assert type(m) is nn.InstanceNorm1d and m.num_features == 3 and m.weight.shape == (3,)
    plain = nn.LazyInstanceNorm2d(affine=False, track_running_stats=False, bias=False)
    assert not plain.has_uninitialized_params() and plain.state_dict() == {}
    with pytest.warns(UserWarning, match="num_features is unused"):  # as PyTorch's
        plain(gk.randn(2, 4, 3, 3))
    assert type(plain) is nn.InstanceNorm2d and plain.num_features == 0  # as PyTorch: nothing to size


def test_lazy_module_training_step_with_an_optimiser_made_before_the_first_call(device):
    gk.manual_seed(0)
    net = nn.Sequential(nn.LazyLinear(8, device=device), nn.ReLU(), nn.LazyLinear(2, device=device))
    opt = gk.optim.SGD(net.parameters(), lr=0.1)  # uninitialized parameters are accepted, as PyTorch's
    x = gk.randn(4, 5, device=device)
    loss = (net(x) ** 2).mean()
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear]
    loss.backward()
    before = _arr(net[0].weight).copy()
    opt.step()
    assert net[0].weight is opt.param_groups[0]["params"][0]
    np.testing.assert_allclose(_arr(net[0].weight), before - 0.1 * _arr(net[0].weight.grad), rtol=1e-6, atol=1e-7)
    # Sequential fuses Linear + ReLU once the lazy layer is a Linear; the result is the same as unfused
    y = net(x)
    assert net.__dict__["_plan"][1] == [(net[0], net[1])]
    np.testing.assert_allclose(_arr(y), _arr(net[2](gk.relu(net[0](x)))), rtol=1e-6, atol=1e-6)


def test_uninitialized_state_dict_and_loading_materialises(device):
    m = nn.LazyLinear(3, device=device, dtype=F64)
    sd = m.state_dict()
    assert list(sd) == ["weight", "bias"] and sd["weight"] is m.weight and is_lazy(sd["bias"])
    # an uninitialized state dict loads into an uninitialized module: it stays lazy
    assert repr(nn.LazyLinear(3).load_state_dict(sd)) == "<All keys matched successfully>"
    # values of an initialized module give the lazy one their shapes, on its own device and dtype
    src = nn.Linear(4, 3, dtype="float32")
    keep = m.weight
    m.load_state_dict(src.state_dict())
    assert m.weight is keep and type(m.weight) is nn.Parameter and m.weight.shape == (3, 4)
    assert m.weight.dtype == np.float64 and m.weight.device == _randn(device, 1).device
    assert type(m) is nn.LazyLinear and m.in_features == 0  # until its first call, as PyTorch's
    np.testing.assert_allclose(_arr(m.weight), _arr(src.weight), rtol=1e-7)
    m(_randn(device, 2, 4))
    assert type(m) is nn.Linear and m.in_features == 4
    np.testing.assert_allclose(_arr(m.weight), _arr(src.weight), rtol=1e-7)  # not initialised again
    with pytest.raises(ShapeError, match="LazyLinear"):
        bad = nn.LazyLinear(3)
        bad.load_state_dict(src.state_dict())
        bad(gk.ones(1, 5))


def test_loading_into_lazy_conv_and_batchnorm_sets_their_sizes():
    conv, bn = nn.Conv2d(4, 6, 3, groups=2), nn.BatchNorm2d(6)
    bn(gk.randn(3, 6, 2, 2))
    lazy_conv, lazy_bn = nn.LazyConv2d(6, 3, groups=2), nn.LazyBatchNorm2d()
    lazy_conv.load_state_dict(conv.state_dict())
    lazy_bn.load_state_dict(bn.state_dict())
    x = gk.randn(2, 4, 5, 5)
    conv.eval(), bn.eval(), lazy_conv.eval(), lazy_bn.eval()
    np.testing.assert_allclose(_arr(lazy_bn(lazy_conv(x))), _arr(bn(conv(x))), rtol=1e-6, atol=1e-6)
    assert repr(lazy_conv) == repr(conv) and repr(lazy_bn) == repr(bn)  # in_channels from the loaded weight


def test_lazy_to_before_the_first_call(device):
    where = _randn(device, 1).device
    m = nn.LazyConv1d(2, 3).to(device).double()
    assert m.weight.dtype == np.float64 and m.weight.device == where
    m(_randn(device, 1, 3, 5))
    assert m.weight.dtype == np.float64 and m.weight.device == where
    b = nn.LazyBatchNorm1d().to(device).double()
    b(_randn(device, 4, 2))
    assert b.running_var.dtype == np.float64 and b.num_batches_tracked.dtype == np.int64


def test_lazy_deepcopy_and_pickle_are_independent():
    m = nn.LazyLinear(3)
    c, p = copy.deepcopy(m), pickle.loads(pickle.dumps(m))
    for other in (c, p):
        assert type(other) is nn.LazyLinear and is_lazy(other.weight) and other.weight is not m.weight
    c(gk.ones(1, 5))
    p(gk.ones(1, 6))
    assert type(m) is nn.LazyLinear and is_lazy(m.weight) and m._has_hooks  # the copies took off their own hooks
    m(gk.ones(1, 7))
    assert (c.in_features, p.in_features, m.in_features) == (5, 6, 7)
    assert not (c._forward_pre_hooks or p._forward_pre_hooks or m._forward_pre_hooks)


def test_uninitialized_tensors_refuse_their_shape_and_values():
    m = nn.LazyLinear(3)
    for read in (lambda: m.weight.shape, lambda: m.weight.data, lambda: m.weight.numpy(), lambda: len(m.bias),
                 lambda: m.weight.ndim, lambda: m.weight.size, lambda: m.weight[0], lambda: np.asarray(m.weight)):
        with pytest.raises(UninitializedTensorError, match=r"LazyLinear\.(weight|bias): .*uninitialized parameter"):
            read()
    assert issubclass(UninitializedTensorError, RuntimeError) and issubclass(UninitializedTensorError, ValueError)
    with pytest.raises(UninitializedTensorError, match="parameters_to_vector: LazyLinear.weight"):
        U.parameters_to_vector(m.parameters())
    with pytest.raises(UninitializedTensorError, match="vector_to_parameters"):
        U.vector_to_parameters(gk.zeros(3), m.parameters())
    b = nn.LazyBatchNorm1d()
    with pytest.raises(UninitializedTensorError, match=r"LazyBatchNorm1d\.running_mean: .*uninitialized buffer"):
        _ = b.running_mean.shape
    with pytest.raises(InvalidArgumentError, match="weight_norm: LazyLinear.weight is uninitialized"):
        with pytest.warns(FutureWarning):
            U.weight_norm(nn.LazyLinear(2))
    with pytest.raises(InvalidArgumentError, match="spectral_norm"):
        U.spectral_norm(nn.LazyLinear(2))


def test_lazy_input_errors():
    with pytest.raises(ShapeError, match=r"LazyConv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input"):
        nn.LazyConv2d(4, 3)(gk.ones(2, 3))
    with pytest.raises(InvalidArgumentError, match="LazyConv1d: in_channels .*divisible by groups"):
        nn.LazyConv1d(4, 3, groups=2)(gk.ones(1, 3, 5))
    with pytest.raises(InvalidArgumentError, match="LazyConv1d: out_channels"):
        nn.LazyConv1d(3, 3, groups=2)
    with pytest.raises(ShapeError, match="LazyBatchNorm1d"):
        nn.LazyBatchNorm1d()(gk.ones(3))
    with pytest.raises(InvalidArgumentError, match="out_features"):
        nn.LazyLinear(-1)


def test_custom_lazy_module():
    class Scale(nn.LazyModuleMixin, nn.Module):  # no cls_to_become: stays this class
        def __init__(self, partial: bool = False) -> None:
            super().__init__()
            self.partial = partial
            self.w = nn.UninitializedParameter()
            self.register_buffer("n", nn.UninitializedBuffer(), persistent=False)

        def initialize_parameters(self, x):
            self.w.materialize(x.shape[-1:])
            init.ones_(self.w)
            if not self.partial:
                self.n.materialize(())

        def forward(self, x):
            return x * self.w

    m = Scale()
    assert list(m.state_dict()) == ["w"] and [n for n, _ in m.named_buffers()] == ["n"]
    with pytest.raises(UninitializedTensorError, match=r"Scale\.w"):
        _ = m.w.shape
    np.testing.assert_array_equal(_arr(m(gk.full((2, 3), 2.0))), 2.0)
    assert type(m) is Scale and m.w.shape == (3,) and m.n.shape == () and not m._forward_pre_hooks
    with pytest.raises(UninitializedTensorError, match="Scale: the module has not been fully initialized.*n"):
        Scale(partial=True)(gk.ones(3))
    with pytest.raises(NotImplementedError, match="initialize_parameters is not implemented for Bare"):
        type("Bare", (nn.LazyModuleMixin, nn.Module), {"forward": lambda self, x: x})()(gk.ones(1))


def test_uninitialized_tensor_materialize_keeps_the_object():
    p = nn.UninitializedParameter(requires_grad=False, dtype=F64)
    keep = p._version
    p.materialize((2, 3), dtype="float32")
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == np.float32 and not p.requires_grad
    assert p._version is keep and keep[0] == 1
    np.testing.assert_array_equal(_arr(p), 0)
    b = nn.UninitializedBuffer(persistent=False)
    b.materialize(4)
    assert type(b) is gk.Tensor and b.shape == (4,)


# ------------------------------------------------------------------ nn.Buffer
def test_buffer_assignment_registers_with_its_persistence(device):
    m = nn.Module()
    t = gk.ones(2, device=device)
    m.a = nn.Buffer(t)
    m.b = nn.Buffer(gk.zeros(1, device=device), persistent=False)
    assert isinstance(m.a, nn.Buffer) and isinstance(m.a, gk.Tensor) and m.a is m._buffers["a"]
    assert [n for n, _ in m.named_buffers()] == ["a", "b"] and list(m.state_dict()) == ["a"]
    m.a._data[0] = 5.0  # shares t's memory (as t.detach())
    assert t.numpy()[0] == 5.0 and m.a._version is t._version
    m.a = gk.zeros(3, device=device)  # a plain tensor keeps the buffer's persistence
    m.b = gk.zeros(3, device=device)
    assert list(m.state_dict()) == ["a"] and type(m.a) is gk.Tensor
    m.a = nn.Buffer(gk.zeros(3, device=device), persistent=False)  # a Buffer sets it
    assert m.state_dict() == {} and [n for n, _ in m.named_buffers()] == ["a", "b"]
    m.p = nn.Parameter(gk.ones(1))
    with pytest.raises(ArgumentTypeError, match="cannot assign Buffer to parameter 'p'"):
        m.p = nn.Buffer(gk.ones(1))
    m.plain = 1
    with pytest.raises(nn.ModuleAttributeError, match="already exists"):
        m.plain = nn.Buffer(gk.ones(1))
    g = gk.ones(2, requires_grad=True)
    assert nn.Buffer(g).requires_grad and nn.Buffer(g).grad_fn is None
    assert nn.Buffer().shape == (0,) and nn.Buffer([1, 2]).dtype == np.int64
    with pytest.raises(ArgumentTypeError):
        nn.Buffer(gk.ones(1), persistent="yes")


def test_batchnorm_bias_keyword_and_repr():
    m = nn.BatchNorm1d(3, bias=False)
    assert m.bias is None and list(m.state_dict()) == ["weight", "running_mean", "running_var", "num_batches_tracked"]
    assert repr(m) == "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=False, track_running_stats=True)"
    assert repr(nn.BatchNorm3d(2, affine=False)) == ("BatchNorm3d(2, eps=1e-05, momentum=0.1, affine=False, "
                                                     "bias=False, track_running_stats=True)")
    x = gk.randn(4, 3)
    np.testing.assert_allclose(_arr(m(x)), _arr(nn.BatchNorm1d(3)(x)), rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError):
        nn.BatchNorm2d(3, 1e-5, 0.1, True, True, None, None, False)  # keyword only, as PyTorch's


def test_batchnorm_signatures_and_reprs_match_torch():
    torch = pytest.importorskip("torch")
    for name, kwargs in [("BatchNorm1d", {}), ("BatchNorm2d", {"bias": False}), ("BatchNorm3d", {"affine": False}),
                         ("LazyBatchNorm2d", {"bias": False}), ("LazyInstanceNorm3d", {"momentum": 0.3})]:
        args = () if name.startswith("Lazy") else (4,)
        ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
    for name in ("LazyLinear", "LazyConv2d", "LazyConvTranspose3d"):
        ours = getattr(nn, name)(4, 3) if name != "LazyLinear" else nn.LazyLinear(4, bias=False)
        theirs = getattr(torch.nn, name)(4, 3) if name != "LazyLinear" else torch.nn.LazyLinear(4, bias=False)
        assert repr(ours) == repr(theirs)


# ------------------------------------------------------------------ fusion
def _trained_bn(cls, c: int, shape: tuple, device: str) -> nn.Module:
    bn = cls(c, device=device, dtype=F64)
    bn(_randn(device, *shape, seed=5) * 3 + 1)  # running statistics away from 0 and 1
    bn.weight._data[...] = _randn(device, c, seed=6)._data
    bn.bias._data[...] = _randn(device, c, seed=7)._data
    return bn.eval()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("conv", "bn", "shape"), [(nn.Conv1d, nn.BatchNorm1d, (2, 3, 7)),
                                                   (nn.Conv2d, nn.BatchNorm2d, (2, 3, 6, 6)),
                                                   (nn.Conv3d, nn.BatchNorm3d, (1, 3, 4, 4, 4))])
def test_fuse_conv_bn_eval_equals_unfused(device, conv, bn, shape, bias):
    c = conv(3, 4, 3, bias=bias, device=device, dtype=F64).eval()
    b = _trained_bn(bn, 4, (5, 4) + shape[2:], device)
    x = _randn(device, *shape, seed=1)
    expected = _arr(b(c(x)))
    w_before = _arr(c.weight).copy()
    f = U.fuse_conv_bn_eval(c, b)
    assert type(f) is conv and f is not c and f.bias is not None
    np.testing.assert_allclose(_arr(f(x)), expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(_arr(c.weight), w_before)  # the inputs are unchanged
    assert f.weight.requires_grad and f.bias.requires_grad is bias  # a bias made from None: False, as PyTorch's


def test_fuse_conv_transpose_and_linear(device):
    ct = nn.ConvTranspose2d(3, 4, 2, stride=2, device=device, dtype=F64).eval()
    b = _trained_bn(nn.BatchNorm2d, 4, (5, 4, 2, 2), device)
    x = _randn(device, 2, 3, 3, 3)
    f = U.fuse_conv_bn_eval(ct, b, transpose=True)
    np.testing.assert_allclose(_arr(f(x)), _arr(b(ct(x))), rtol=0, atol=1e-12)
    lin = nn.Linear(5, 4, device=device, dtype=F64).eval()
    b1 = _trained_bn(nn.BatchNorm1d, 4, (6, 4), device)
    x = _randn(device, 3, 5)
    f = U.fuse_linear_bn_eval(lin, b1)
    np.testing.assert_allclose(_arr(f(x)), _arr(b1(lin(x))), rtol=0, atol=1e-12)
    one = _trained_bn(nn.BatchNorm1d, 1, (6, 1), device)  # num_features 1 broadcasts
    unfused = one(lin(x).reshape(-1, 1)).reshape(3, 4)  # each output feature through the one channel
    np.testing.assert_allclose(_arr(U.fuse_linear_bn_eval(lin, one)(x)), _arr(unfused), rtol=0, atol=1e-12)


def test_fuse_weights_closed_form_and_dtypes():
    w, b = gk.randn(4, 3, 2), gk.randn(4)
    rm, rv = gk.randn(4, dtype=F64), gk.rand(4, dtype=F64) + 0.5
    g, beta = gk.randn(4, dtype=F64), gk.randn(4, dtype=F64)
    fw, fb = U.fuse_conv_bn_weights(w, b, rm, rv, 1e-3, g, beta)
    s = _arr(g) / np.sqrt(_arr(rv) + 1e-3)
    assert isinstance(fw, nn.Parameter) and fw.dtype == np.float32 and fb.dtype == np.float32
    np.testing.assert_allclose(_arr(fw), _arr(w) * s[:, None, None], rtol=1e-6)
    np.testing.assert_allclose(_arr(fb), (_arr(b) - _arr(rm)) * s + _arr(beta), rtol=1e-5, atol=1e-6)
    wt = gk.randn(3, 4, 2)  # a transposed convolution's weight: output channels on axis 1
    fw, fb = U.fuse_conv_bn_weights(wt, None, rm, rv, 1e-3, None, None, transpose=True)
    np.testing.assert_allclose(_arr(fw), _arr(wt) / np.sqrt(_arr(rv) + 1e-3)[None, :, None], rtol=1e-6)
    np.testing.assert_allclose(_arr(fb), -_arr(rm) / np.sqrt(_arr(rv) + 1e-3), rtol=1e-6)
    assert not fb.requires_grad and fb.dtype == np.float32
    lw, lb = U.fuse_linear_bn_weights(gk.randn(4, 3, requires_grad=True), None, rm, rv, 1e-5, g, beta)
    assert lw.shape == (4, 3) and lb.shape == (4,) and not lb.requires_grad and lw.requires_grad


def test_fuse_errors():
    c, b = nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)
    with pytest.raises(InvalidArgumentError, match="fuse_conv_bn_eval: fusion is for evaluation only"):
        U.fuse_conv_bn_eval(c, b)
    with pytest.raises(InvalidArgumentError, match="running statistics"):
        U.fuse_conv_bn_eval(c.eval(), nn.BatchNorm2d(4, track_running_stats=False).eval())
    with pytest.raises(InvalidArgumentError, match="fuse_linear_bn_eval: to fuse, linear.out_features"):
        U.fuse_linear_bn_eval(nn.Linear(2, 3).eval(), nn.BatchNorm1d(4).eval())
    with pytest.raises(ArgumentTypeError, match="fuse_conv_bn_weights: conv_w must be a Tensor"):
        U.fuse_conv_bn_weights(np.ones((2, 2)), None, gk.zeros(2), gk.ones(2), 1e-5, None, None)


# ------------------------------------------------------------------ skip_init, memory formats, stateless
def test_skip_init(device):
    gk.manual_seed(0)
    expected = _arr(gk.randn(3))
    gk.manual_seed(0)
    m = U.skip_init(nn.Linear, 4, 3, device=device, dtype=F64)
    assert _arr(gk.randn(3)).tolist() == expected.tolist()  # no values drawn
    assert m.weight.shape == (3, 4) and m.weight.dtype == np.float64 and m.weight.device == m.bias.device
    np.testing.assert_array_equal(_arr(m.weight), 0)
    assert init.normal_(gk.zeros(2)).numpy().any()  # initialisers work again afterwards
    assert U.skip_init(nn.Conv2d, 2, 2, 3).weight.device == "cpu"
    with pytest.raises(InvalidArgumentError, match="skip_init: ReLU must take a 'device' argument"):
        U.skip_init(nn.ReLU)
    with pytest.raises(ArgumentTypeError, match="skip_init: expected a Module class"):
        U.skip_init(nn.Linear(1, 1))


def test_memory_format_conversions_are_no_ops():
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv3d(2, 2, 1))
    before = _arr(m[0].weight).copy()
    assert U.convert_conv2d_weight_memory_format(m, "channels_last") is m
    assert U.convert_conv3d_weight_memory_format(m, None) is m
    np.testing.assert_array_equal(_arr(m[0].weight), before)
    with pytest.raises(ArgumentTypeError):
        U.convert_conv2d_weight_memory_format(gk.ones(1), None)


def test_stateless_functional_call():
    import gradkit.nn.utils.stateless as stateless

    assert stateless is U.stateless
    m = nn.Linear(2, 1)
    w = {"weight": gk.ones(1, 2), "bias": gk.zeros(1)}
    with pytest.warns(FutureWarning, match="gk.func.functional_call"):
        y = stateless.functional_call(m, w, (gk.tensor([[1.0, 2.0]]),))
    np.testing.assert_array_equal(_arr(y), _arr(gk.func.functional_call(m, w, (gk.tensor([[1.0, 2.0]]),))))
    assert _arr(y).tolist() == [[3.0]]


# ------------------------------------------------------------------ hook-based weight_norm and spectral_norm
def test_weight_norm_matches_the_parametrization(device):
    base = nn.Conv2d(3, 4, 3, device=device, dtype=F64)
    new = U.parametrizations.weight_norm(copy.deepcopy(base), dim=0)
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        old = U.weight_norm(copy.deepcopy(base), dim=0)
    assert list(old.state_dict()) == ["bias", "weight_g", "weight_v"] and "weight" not in old._parameters
    assert old.weight_g.shape == (4, 1, 1, 1)
    np.testing.assert_allclose(_arr(old.weight_g), _arr(new.parametrizations.weight.original0), rtol=1e-14)
    np.testing.assert_array_equal(_arr(old.weight_v), _arr(base.weight))
    x = _randn(device, 2, 3, 5, 5)
    np.testing.assert_allclose(_arr(old(x)), _arr(new(x)), rtol=0, atol=1e-13)
    # gradients reach g and v, and a changed g changes the next call's weight
    old(x).sum().backward()
    assert old.weight_g.grad.shape == (4, 1, 1, 1) and old.weight_v.grad.shape == (4, 3, 3, 3)
    old.weight_g._data *= 2
    np.testing.assert_allclose(_arr(old(x) - old.bias.reshape(1, 4, 1, 1)),
                               2 * _arr(new(x) - new.bias.reshape(1, 4, 1, 1)), rtol=1e-12, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        whole = U.weight_norm(nn.Linear(3, 2), dim=None)
        assert whole.weight_g.shape == ()
        with pytest.raises(InvalidArgumentError, match="two weight_norm hooks"):
            U.weight_norm(whole, dim=None)
    U.remove_weight_norm(old)
    assert list(old.state_dict()) == ["bias", "weight"] and not old._forward_pre_hooks and not old._has_hooks
    np.testing.assert_allclose(_arr(old(x)), 2 * _arr(new(x) - new.bias.reshape(1, 4, 1, 1))
                               + _arr(new.bias.reshape(1, 4, 1, 1)), rtol=1e-12, atol=1e-12)
    with pytest.raises(InvalidArgumentError, match="remove_weight_norm: weight_norm of 'weight' not found in Conv2d"):
        U.remove_weight_norm(old)


def test_spectral_norm_matches_the_parametrization_in_eval(device):
    base = nn.Linear(5, 4, device=device, dtype=F64)
    new = U.parametrizations.spectral_norm(copy.deepcopy(base))
    old = U.spectral_norm(copy.deepcopy(base))
    assert list(old.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert old.weight_orig.shape == (4, 5) and old.weight_u.shape == (4,) and old.weight_v.shape == (5,)
    assert not isinstance(old.weight, nn.Parameter) and "weight" not in old._parameters
    old.weight_u._data[...] = new.parametrizations.weight[0]._u._data
    old.weight_v._data[...] = new.parametrizations.weight[0]._v._data
    old.eval(), new.eval()
    x = _randn(device, 3, 5)
    np.testing.assert_allclose(_arr(old(x)), _arr(new(x)), rtol=0, atol=1e-13)
    # after the power method converges, sigma is the largest singular value
    old.train()
    for _ in range(50):
        old(x)
    sigma = np.linalg.svd(_arr(base.weight), compute_uv=False)[0]
    np.testing.assert_allclose(_arr(old.weight), _arr(base.weight) / sigma, rtol=1e-10)
    # no gradient flows into u and v; the parameter gets one
    old(x).sum().backward()
    assert old.weight_orig.grad is not None and old.weight_u.grad is None
    U.remove_spectral_norm(old)
    assert list(old.state_dict()) == ["bias", "weight"] and isinstance(old.weight, nn.Parameter)
    with pytest.raises(InvalidArgumentError, match="spectral_norm of 'weight' not found"):
        U.remove_spectral_norm(old)
    ct = U.spectral_norm(nn.ConvTranspose1d(3, 4, 2))
    assert ct.weight_u.shape == (4,) and ct.weight_v.shape == (6,)  # dim=1 for transposed convolutions
    with pytest.raises(InvalidArgumentError, match="two spectral_norm hooks"):
        U.spectral_norm(ct)
    with pytest.raises(gk.errors.IndexOutOfRangeError, match="spectral_norm: dim 3"):
        U.spectral_norm(nn.Linear(2, 2), dim=3)
    with pytest.raises(InvalidArgumentError, match="has no parameter named 'w'"):
        U.spectral_norm(nn.Linear(2, 2), name="w")


def test_old_norms_load_torch_state_dicts_and_run_as_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        t_wn = torch.nn.utils.weight_norm(torch.nn.Conv1d(3, 4, 2).double(), dim=1)
        g_wn = U.weight_norm(nn.Conv1d(3, 4, 2, dtype=F64), dim=1)
    t_sn = torch.nn.utils.spectral_norm(torch.nn.Linear(5, 4).double(), n_power_iterations=2)
    g_sn = U.spectral_norm(nn.Linear(5, 4, dtype=F64), n_power_iterations=2)
    for t_mod, g_mod, shape in ((t_wn, g_wn, (2, 3, 6)), (t_sn, g_sn, (3, 5))):
        assert repr(g_mod.load_state_dict(t_mod.state_dict())) == "<All keys matched successfully>"
        for training in (True, True, False):  # spectral norm: the power method in place, as PyTorch's
            t_mod.train(training), g_mod.train(training)
            x = rng.standard_normal(shape)
            np.testing.assert_allclose(_arr(g_mod(gk.tensor(x))), t_mod(torch.tensor(x)).detach().numpy(),
                                       rtol=0, atol=1e-13)
        for key, value in t_mod.state_dict().items():
            np.testing.assert_allclose(_arr(g_mod.state_dict()[key]), value.numpy(), rtol=0, atol=1e-14)


# ------------------------------------------------------------------ nn.init: eye_, dirac_, sparse_
def test_eye(device):
    for shape in ((3, 3), (2, 5), (4, 2)):
        t = gk.full(shape, 7.0, device=device)
        assert init.eye_(t) is t
        np.testing.assert_array_equal(_arr(t), np.eye(*shape))
    i = gk.full((2, 3), 9, dtype="int64", device=device)
    np.testing.assert_array_equal(_arr(init.eye_(i)), np.eye(2, 3))
    w = gk.randn(3, 3, requires_grad=True, device=device)
    init.eye_(w)
    assert w.is_leaf and w.grad_fn is None and w.requires_grad
    with pytest.raises(InvalidArgumentError, match="eye_: only tensors with 2 dimensions"):
        init.eye_(gk.zeros(3))


def test_dirac(device):
    w = gk.full((6, 4, 3, 3), 5.0, device=device)
    assert init.dirac_(w, groups=2) is w
    expected = np.zeros((6, 4, 3, 3))
    for g in range(2):
        for d in range(3):  # min(6 / 2, 4) per group
            expected[g * 3 + d, d, 1, 1] = 1
    np.testing.assert_array_equal(_arr(w), expected)
    # a convolution with the Dirac weight is the identity on its channels
    x = _randn(device, 2, 4, 5)
    conv_w = init.dirac_(gk.empty(4, 4, 3, dtype=F64, device=device))
    np.testing.assert_array_equal(_arr(gk.nn.functional.conv1d(x, conv_w, padding=1)), _arr(x))
    v = init.dirac_(gk.empty(2, 2, 2, 2, 2, device=device))
    assert _arr(v)[1, 1, 1, 1, 1] == 1 and _arr(v).sum() == 2
    with pytest.raises(InvalidArgumentError, match="dirac_: only tensors with 3, 4, or 5 dimensions"):
        init.dirac_(gk.zeros(3, 3))
    with pytest.raises(InvalidArgumentError, match="dirac_: dim 0 .* divisible by groups"):
        init.dirac_(gk.zeros(5, 2, 3), groups=2)


def test_sparse(device):
    gk.manual_seed(0)
    t = gk.empty(200, 50, dtype=F64, device=device)
    assert init.sparse_(t, 0.1, std=2.0) is t
    v = _arr(t)
    np.testing.assert_array_equal((v == 0).sum(axis=0), 20)  # ceil(0.1 * 200) in every column
    assert abs(v[v != 0].std() - 2.0) < 0.1
    r = gk.empty(7, 3, device=device)
    init.sparse_(r, 0.3, generator=np.random.default_rng(1))
    np.testing.assert_array_equal((_arr(r) == 0).sum(axis=0), 3)
    np.testing.assert_array_equal(_arr(init.sparse_(gk.ones(4, 2, device=device), 1.5)), 0)
    with pytest.raises(InvalidArgumentError, match="sparse_: only tensors with 2 dimensions"):
        init.sparse_(gk.zeros(3), 0.5)
    with pytest.raises(ArgumentTypeError, match="sparse_: generator"):
        init.sparse_(gk.zeros(2, 2), 0.5, generator=0)
    with pytest.raises(gk.errors.DTypeError, match="sparse_"):
        init.sparse_(gk.zeros(2, 2, dtype="int32"), 0.5)

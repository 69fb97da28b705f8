"""Loss modules (gk.nn.CrossEntropyLoss, ...) and the SiLU, Softplus, ELU and Mish activations.

Closed forms in float64 NumPy, gk.gradcheck against central differences (first and second order),
module-versus-functional equality, buffers and state dicts as in PyTorch, argument errors, and,
where torch is importable, value and gradient parity with it on random inputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F


def _rand(device: str, *shape: int, seed: int = 0, dtype: str = "float64", grad: bool = True, scale: float = 1.0):
    data = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    return gk.tensor(data, device=device, requires_grad=grad)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    bx = beta * x
    return np.where(bx > threshold, x, (np.log1p(np.exp(-np.abs(bx))) + np.maximum(bx, 0)) / beta)


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


# ================================================================== activations
ACTIVATIONS = {
    "silu": (F.silu, nn.SiLU(), lambda x: x * _sigmoid(x)),
    "softplus": (F.softplus, nn.Softplus(), _softplus),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=3.0), nn.Softplus(2.0, 3.0),
                      lambda x: _softplus(x, 2.0, 3.0)),
    "softplus_negative_beta": (lambda x: F.softplus(x, -0.5, 1.0), nn.Softplus(beta=-0.5, threshold=1.0),
                               lambda x: _softplus(x, -0.5, 1.0)),
    "elu": (F.elu, nn.ELU(), _elu),
    "elu_alpha": (lambda x: F.elu(x, alpha=0.7), nn.ELU(alpha=0.7), lambda x: _elu(x, 0.7)),
    "elu_negative_alpha": (lambda x: F.elu(x, -1.5), nn.ELU(-1.5), lambda x: _elu(x, -1.5)),
    "mish": (F.mish, nn.Mish(), lambda x: x * np.tanh(np.log1p(np.exp(x)))),  # the textbook form (x is small)
}  # fmt: skip

# Points away from the kinks (elu at 0, softplus at its threshold), so that central differences apply.
SMOOTH_POINTS = np.array([[-3.1, -1.2, -0.4, 0.3], [0.9, 1.7, 2.6, 4.3], [-0.05, 0.07, -7.0, 6.0]])


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_values_gradients_and_module(device, name):
    fn, module, reference = ACTIVATIONS[name]
    x = gk.tensor(SMOOTH_POINTS, device=device, requires_grad=True)
    expected = reference(SMOOTH_POINTS)
    np.testing.assert_allclose(fn(x).numpy(), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())
    assert gk.gradcheck(fn, (x,))
    assert gk.gradcheck(lambda a: gk.grad(lambda z: fn(z).sum())(a), (x,))  # second order (create_graph)
    # the rule's two paths (raw arrays; Tensor ops when the backward pass is recorded) give the same gradient
    fn(x).sum().backward()
    plain = x.grad.numpy()
    x.grad = None
    fn(x).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    np.testing.assert_allclose(x.grad.numpy(), plain, rtol=1e-14, atol=1e-16)
    assert gk.gradcheck(module, (_rand(device, 4, 5, seed=7, scale=3.0),))


@pytest.mark.parametrize("name", ["silu", "softplus", "elu"])
def test_activation_is_one_node(device, name):
    x = _rand(device, 3)
    y = getattr(F, name)(x)
    assert y.grad_fn.name == name and y.grad_fn.next == (x,)


@pytest.mark.parametrize("name", ["silu", "softplus", "elu", "mish"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_activations_keep_the_dtype_and_stay_finite_at_huge_inputs(device, name, dtype):
    big = 6e4 if dtype == "float16" else 1e4
    x = gk.tensor([-big, -100.0, -20.0, 0.0, 20.0, 100.0, big], dtype=dtype, device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way (exp of a large input)
        y = getattr(F, name)(x)
        y.sum().backward()
    assert y.dtype == np.dtype(dtype) and x.grad.dtype == np.dtype(dtype)
    assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    xv = x.numpy().astype(np.float64)
    expected = {
        "silu": xv * _sigmoid(xv),
        "softplus": _softplus(xv),
        "elu": _elu(xv),
        "mish": xv * np.tanh(_softplus(xv, threshold=np.inf)),
    }[name]
    np.testing.assert_allclose(y.numpy().astype(np.float64), expected, rtol=2e-3, atol=1e-3)
    slope = x.grad.numpy().astype(np.float64)
    assert slope[-1] == 1 and abs(slope[0]) < 1e-6  # linear far right, flat far left
    assert y.numpy()[-1] == x.numpy()[-1]


def test_silu_and_mish_of_a_float16_tensor_at_the_edge_of_its_range(device):
    x = gk.tensor([-65504.0, 65504.0], dtype="float16", device=device)
    np.testing.assert_array_equal(F.silu(x).numpy(), [0, 65504])
    np.testing.assert_array_equal(F.mish(x).numpy(), [0, 65504])


def test_softplus_threshold_and_beta_follow_pytorch(device):
    x = gk.tensor([-30.0, 0.0, 4.0, 10.0, 10.5, 25.0], device=device, dtype="float64", requires_grad=True)
    y = F.softplus(x, beta=2.0, threshold=20.0)  # beta x > 20: x itself, with slope 1
    y.sum().backward()
    xv = x.numpy()
    np.testing.assert_allclose(y.numpy()[:4], np.log1p(np.exp(2 * xv[:4])) / 2, rtol=1e-15)
    assert y.numpy()[4] == 10.5 and y.numpy()[5] == 25.0
    np.testing.assert_allclose(x.grad.numpy(), np.where(2 * xv > 20, 1.0, _sigmoid(2 * xv)), rtol=1e-15)
    # no threshold at all: the formula itself, which stays finite
    np.testing.assert_allclose(F.softplus(gk.tensor([1e4, 30.0], device=device), threshold=np.inf).numpy(),
                               [1e4, 30.0])
    np.testing.assert_allclose(F.softplus(gk.tensor(0.0, device=device)).item(), np.log(2))  # 0-d


def test_elu_slope_is_alpha_at_zero_as_pytorch(device):
    x = gk.tensor([-1.0, 0.0, 1.0], dtype="float64", device=device, requires_grad=True)
    for create_graph in (False, True):
        x.grad = None
        F.elu(x, alpha=2.0).sum().backward(create_graph=create_graph)
        np.testing.assert_allclose(x.grad.numpy(), [2 * np.exp(-1), 2.0, 1.0], rtol=1e-15)


def test_activation_modules_repr_and_pytorch_arguments():
    assert repr(nn.SiLU()) == "SiLU()" and repr(nn.SiLU(inplace=True)) == "SiLU(inplace=True)"
    assert repr(nn.Mish()) == "Mish()"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)" and repr(nn.ELU(0.5, True)) == "ELU(alpha=0.5, inplace=True)"
    assert nn.Softplus(beta=2, threshold=5).beta == 2.0 and nn.ELU(alpha=gk.tensor(0.5)).alpha == 0.5
    assert list(nn.Softplus().state_dict()) == [] and list(nn.ELU().parameters()) == []


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: nn.Softplus(beta=0), gk.InvalidArgumentError, "Softplus: beta must be a finite non-zero number"),
        (lambda: nn.Softplus(beta="1"), gk.ArgumentTypeError, "Softplus: beta must be a number"),
        (lambda: nn.Softplus(threshold=float("nan")), gk.InvalidArgumentError, "Softplus: threshold"),
        (lambda: nn.ELU(alpha=None), gk.ArgumentTypeError, "ELU: alpha must be a number, got NoneType"),
        (lambda: nn.ELU(inplace="yes"), gk.ArgumentTypeError, "ELU: inplace must be True or False"),
        (lambda: nn.SiLU(inplace=2), gk.ArgumentTypeError, "SiLU: inplace must be True or False"),
        (lambda: nn.Mish(inplace=[]), gk.ArgumentTypeError, "Mish: inplace"),
        (lambda: F.softplus(gk.ones(2), beta=float("inf")), gk.InvalidArgumentError, "softplus: beta"),
        (lambda: F.elu(gk.ones(2), alpha="a"), gk.ArgumentTypeError, "elu: alpha must be a number"),
        (lambda: F.silu(gk.tensor([1, 2])), gk.DTypeError, "silu: input must be a float tensor, got dtype int64"),
        (lambda: F.mish(gk.tensor([True])), gk.DTypeError, "mish: input must be a float tensor"),
        (lambda: F.elu(gk.tensor([1, 2])), gk.DTypeError, "elu: input must be a float tensor"),
        (lambda: F.silu("x"), gk.GradkitError, "silu"),
    ],
)  # fmt: skip
def test_activation_argument_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


# ================================================================== losses: modules over the functional forms
def _class_data(device: str, n: int = 7, c: int = 5, seed: int = 3):
    rng = np.random.default_rng(seed)
    x = gk.tensor(rng.standard_normal((n, c)), device=device, requires_grad=True)
    t = rng.integers(0, c, n)
    return x, t, rng


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_modules_equal_the_functional_forms(device, reduction):
    x, t, rng = _class_data(device)
    t[2] = 3
    with_ignored = t.copy()
    with_ignored[[1, 4]] = -100
    w = gk.tensor(rng.uniform(0.5, 2.0, 5), device=device)
    for kw in (dict(), dict(weight=w), dict(weight=w, label_smoothing=0.2), dict(ignore_index=3)):
        tt = gk.tensor(t if "ignore_index" in kw else with_ignored, device=device)
        loss = nn.CrossEntropyLoss(reduction=reduction, **kw)
        np.testing.assert_array_equal(loss(x, tt).numpy(), F.cross_entropy(x, tt, reduction, **kw).numpy())
        assert gk.gradcheck(lambda a, loss=loss, tt=tt: loss(a, tt).sum(), (x,))
        if "label_smoothing" not in kw:
            logp = F.log_softmax(x, 1)
            nll = nn.NLLLoss(reduction=reduction, **kw)
            np.testing.assert_array_equal(nll(logp, tt).numpy(), F.nll_loss(logp, tt, reduction, **kw).numpy())
            np.testing.assert_allclose(nll(logp, tt).numpy(), loss(x, tt).numpy(), rtol=1e-12)
            assert gk.gradcheck(lambda a, nll=nll, tt=tt: nll(a, tt).sum(), (x,))


def test_plain_cross_entropy_module_keeps_the_fused_node(device):
    x, t, _ = _class_data(device)
    assert nn.CrossEntropyLoss()(x, gk.tensor(t, device=device)).grad_fn.name == "cross_entropy"


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_l1_and_bce_modules_equal_the_functional_forms(device, reduction):
    x, y = _rand(device, 4, 3), _rand(device, 4, 3, seed=1)
    for module, fn in ((nn.MSELoss, F.mse_loss), (nn.L1Loss, F.l1_loss)):
        m = module(reduction=reduction)
        np.testing.assert_array_equal(m(x, y).numpy(), fn(x, y, reduction).numpy())
        assert gk.gradcheck(lambda a, b, m=m: m(a, b).sum(), (x, y))
    t = gk.tensor(np.random.default_rng(2).uniform(0, 1, (4, 3)), device=device)
    pw = _rand(device, 3, seed=4, grad=False).abs() + 0.5
    w = _rand(device, 4, 1, seed=5, grad=False).abs()
    for kw in (dict(), dict(pos_weight=pw), dict(weight=w), dict(weight=w, pos_weight=pw)):
        loss = nn.BCEWithLogitsLoss(reduction=reduction, **kw)
        expected = F.binary_cross_entropy_with_logits(x, t, reduction, kw.get("pos_weight"), weight=kw.get("weight"))
        np.testing.assert_array_equal(loss(x, t).numpy(), expected.numpy())
        assert gk.gradcheck(lambda a, loss=loss: loss(a, t).sum(), (x,))


def test_bce_with_logits_weights_closed_form_and_gradients_in_every_input(device):
    x, t = _rand(device, 5, 3), gk.tensor(np.random.default_rng(6).uniform(0, 1, (5, 3)), device=device,
                                          requires_grad=True)
    pw, w = _rand(device, 3, seed=7), _rand(device, 5, 1, seed=8)
    with gk.no_grad():
        pw.data[...] = abs(pw.data) + 0.5
    xv, tv, pv, wv = x.numpy(), t.numpy(), pw.numpy(), w.numpy()
    logsig = -np.logaddexp(0, -xv)
    expected = -wv * (pv * tv * logsig + (1 - tv) * (logsig - xv))  # log(1 - sigmoid(x)) = log sigmoid(x) - x
    got = nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction="none")(x, t)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert gk.gradcheck(lambda *a: F.binary_cross_entropy_with_logits(a[0], a[1], "mean", a[2], weight=a[3]),
                        (x, t, pw, w))
    assert gk.gradcheck(lambda a: gk.grad(lambda z: F.binary_cross_entropy_with_logits(
        z, t, "sum", pw, weight=w))(a), (x,))  # second order


# ------------------------------------------------------------------ buffers and state dicts
def test_weight_is_a_buffer_in_the_state_dict_as_in_pytorch(device):
    w = gk.tensor([1.0, 2.0, 0.5], device=device)
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.CrossEntropyLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.NLLLoss(w).state_dict()) == ["weight"]
    assert list(nn.MSELoss().state_dict()) == [] and list(nn.L1Loss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
    assert list(nn.BCEWithLogitsLoss(weight=w, pos_weight=w).state_dict()) == ["weight", "pos_weight"]
    loss = nn.CrossEntropyLoss(weight=w)
    assert [name for name, _ in loss.named_buffers()] == ["weight"] and list(loss.parameters()) == []
    # the buffer shares the tensor's memory: changes in place show in the loss, as in PyTorch
    w.data[0] = 4.0
    assert loss.weight.numpy()[0] == 4.0
    # and it loads from a state dict, in place
    other = nn.CrossEntropyLoss(weight=gk.ones(3, device=device))
    other.load_state_dict(loss.state_dict())
    np.testing.assert_array_equal(other.weight.numpy(), [4.0, 2.0, 0.5])
    with pytest.raises(gk.nn.StateDictError, match='unexpected key.*"weight"'):
        nn.CrossEntropyLoss().load_state_dict(loss.state_dict())


def test_to_moves_and_casts_the_buffers_but_not_the_callers_tensor(device):
    w = gk.tensor([1.0, 2.0, 0.5], device="cpu")
    pw = gk.tensor([3.0, 1.0], device="cpu")
    ce = nn.CrossEntropyLoss(weight=w, reduction="sum")
    bce = nn.BCEWithLogitsLoss(pos_weight=pw)
    assert ce.to(device) is ce and bce.to(device) is bce
    assert ce.weight.device.startswith(device) and bce.pos_weight.device.startswith(device)
    assert w.device == "cpu" and pw.device == "cpu"
    x = _rand(device, 4, 3)
    t = gk.tensor([0, 1, 2, 1], device=device)
    expected = F.cross_entropy(x, t, "sum", weight=gk.tensor([1.0, 2.0, 0.5], device=device))
    np.testing.assert_allclose(ce(x, t).numpy(), expected.numpy(), rtol=1e-6)
    assert bce(_rand(device, 4, 2), gk.ones(4, 2, device=device, dtype="float64")).device.startswith(device)
    ce.double()
    assert ce.weight.dtype == np.float64 and w.dtype == np.float32


def test_a_weight_that_requires_grad_gets_its_gradient_through_the_module(device):
    pw = gk.tensor([2.0, 0.5], dtype="float64", device=device, requires_grad=True)
    loss = nn.BCEWithLogitsLoss(pos_weight=pw)
    assert loss.pos_weight is pw
    loss(_rand(device, 3, 2), gk.ones(3, 2, dtype="float64", device=device)).backward()
    assert pw.grad is not None and pw.grad.shape == (2,)


def test_a_weight_given_as_a_list_or_array_becomes_a_tensor():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0])
    assert isinstance(loss.weight, gk.Tensor) and loss.weight.dtype == np.float32
    assert loss.weight.device == gk.default_device()
    assert nn.NLLLoss(weight=np.array([1.0, 2.0])).weight.dtype == np.float64
    x = gk.tensor(np.zeros((2, 3)))
    np.testing.assert_allclose(loss(x, gk.tensor([0, 2])).item(), np.log(3))


# ------------------------------------------------------------------ constructor arguments
def test_loss_attributes_and_repr():
    ce = nn.CrossEntropyLoss(ignore_index=3, reduction="sum", label_smoothing=0.1)
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing, ce.weight) == (3, "sum", 0.1, None)
    assert repr(ce) == "CrossEntropyLoss(ignore_index=3, reduction='sum', label_smoothing=0.1)"
    assert repr(nn.NLLLoss()) == "NLLLoss(ignore_index=-100, reduction='mean')"
    assert repr(nn.MSELoss(reduction="none")) == "MSELoss(reduction='none')"
    assert repr(nn.BCEWithLogitsLoss()) == "BCEWithLogitsLoss(reduction='mean')"
    assert nn.BCEWithLogitsLoss().weight is None and nn.BCEWithLogitsLoss().pos_weight is None


def test_pytorchs_positional_order_and_deprecated_size_average_and_reduce():
    w = gk.tensor([1.0, 2.0])
    ce = nn.CrossEntropyLoss(w, None, 1)  # weight, size_average, ignore_index: PyTorch's order
    assert ce.ignore_index == 1 and ce.weight.tolist() == [1.0, 2.0]
    for kw, reduction in [(dict(size_average=False), "sum"), (dict(reduce=False), "none"),
                          (dict(size_average=True, reduce=True), "mean"), (dict(size_average=False, reduce=False),
                                                                           "none")]:  # fmt: skip
        for cls in (nn.MSELoss, nn.L1Loss, nn.NLLLoss, nn.CrossEntropyLoss, nn.BCEWithLogitsLoss):
            message = f"{cls.__name__}: size_average and reduce are deprecated.*'{reduction}'"
            with pytest.warns(UserWarning, match=message) as caught:
                assert cls(**kw, reduction="mean").reduction == reduction
            assert caught[0].filename == __file__  # the warning points at the caller's line
    with pytest.raises(gk.ArgumentTypeError, match="MSELoss: size_average must be True or False"):
        nn.MSELoss("sum")  # PyTorch's first argument is size_average


LOSSES = [nn.CrossEntropyLoss, nn.NLLLoss, nn.MSELoss, nn.L1Loss, nn.BCEWithLogitsLoss]


@pytest.mark.parametrize("cls", LOSSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", ["avg", None, 1, "Mean"])
def test_reduction_is_checked_at_construction_with_the_functional_error(cls, bad):
    with pytest.raises(gk.InvalidArgumentError, match=f"{cls.__name__}: reduction must be 'mean', 'sum' or 'none'"):
        cls(reduction=bad)


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: nn.CrossEntropyLoss(ignore_index=0.5), gk.ArgumentTypeError, "CrossEntropyLoss: ignore_index"),
        (lambda: nn.NLLLoss(ignore_index="-100"), gk.ArgumentTypeError, "NLLLoss: ignore_index must be an int"),
        (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), gk.InvalidArgumentError,
         r"CrossEntropyLoss: label_smoothing must be in \[0, 1\], got 1.5"),
        (lambda: nn.CrossEntropyLoss(label_smoothing=-0.1), gk.InvalidArgumentError,
         "CrossEntropyLoss: label_smoothing must be >= 0"),
        (lambda: nn.CrossEntropyLoss(label_smoothing="0.1"), gk.ArgumentTypeError, "label_smoothing must be a number"),
        (lambda: nn.CrossEntropyLoss(weight=gk.ones((2, 3))), gk.ShapeError,
         r"CrossEntropyLoss: weight must hold one number per class, shape \(C,\); got \(2, 3\)"),
        (lambda: nn.NLLLoss(weight=gk.tensor([True, False])), gk.ShapeError, "NLLLoss: weight .* bool"),
        (lambda: nn.NLLLoss(weight=3.0), gk.ShapeError, r"NLLLoss: weight .* got \(\)"),
        (lambda: nn.CrossEntropyLoss(weight=["a", "b"]), gk.DTypeError, "CrossEntropyLoss: cannot make a tensor"),
        (lambda: nn.BCEWithLogitsLoss(pos_weight=[[1.0], [2.0, 3.0]]), gk.ShapeError, "BCEWithLogitsLoss: .*ragged"),
        (lambda: nn.BCEWithLogitsLoss(reduce="no"), gk.ArgumentTypeError, "BCEWithLogitsLoss: reduce must be True"),
    ],
)  # fmt: skip
def test_loss_argument_errors(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()


def test_forward_errors_come_from_the_functional_forms(device):
    x, _, _ = _class_data(device)
    with pytest.raises(gk.ShapeError, match=r"cross_entropy: weight must hold one number per class, shape \(5,\)"):
        nn.CrossEntropyLoss(weight=gk.ones(4, device=device))(x, gk.tensor([0] * 7, device=device))
    with pytest.raises(gk.IndexOutOfRangeError, match="nll_loss: target 5"):
        nn.NLLLoss()(x, gk.tensor([5] * 7, device=device))
    with pytest.raises(gk.ShapeError, match="binary_cross_entropy_with_logits: pos_weight of shape"):
        nn.BCEWithLogitsLoss(pos_weight=gk.ones(4, device=device))(x, x.detach())


def test_a_training_step_with_the_new_modules(device):
    gk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.SiLU(), nn.Linear(8, 8), nn.ELU(), nn.Linear(8, 8), nn.Mish(),
                          nn.Linear(8, 3), nn.Softplus()).to(device)
    criterion = nn.CrossEntropyLoss(weight=gk.tensor([1.0, 2.0, 0.5]), label_smoothing=0.1).to(device)
    opt = gk.optim.SGD(model.parameters(), lr=0.1)
    x = gk.randn(16, 4, device=device)
    y = gk.randint(0, 3, (16,), device=device)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


# ================================================================== parity with PyTorch (when installed)
def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_activations_match_pytorch(dtype):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(11)
    data = np.concatenate([rng.standard_normal(200) * 4, [0.0, 25.0, -25.0, 9.99, 10.01, 1e3, -1e3]]).astype(dtype)
    cases = [
        (F.silu, tf.silu, nn.SiLU(), torch.nn.SiLU()),
        (F.softplus, tf.softplus, nn.Softplus(), torch.nn.Softplus()),
        (lambda a: F.softplus(a, 2.0, 5.0), lambda a: tf.softplus(a, 2.0, 5.0), nn.Softplus(2.0, 5.0),
         torch.nn.Softplus(2.0, 5.0)),
        (F.elu, tf.elu, nn.ELU(), torch.nn.ELU()),
        (lambda a: F.elu(a, 0.3), lambda a: tf.elu(a, 0.3), nn.ELU(0.3), torch.nn.ELU(0.3)),
        (F.mish, tf.mish, nn.Mish(), torch.nn.Mish()),
    ]  # fmt: skip
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    for fn, tfn, module, tmodule in cases:
        x = gk.tensor(data, requires_grad=True)
        tx = torch.tensor(data, requires_grad=True)
        y, ty = fn(x), tfn(tx)
        cot = rng.standard_normal(data.shape).astype(dtype)
        y.backward(gk.tensor(cot, device=x.device))
        ty.backward(torch.tensor(cot))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **tol)
        np.testing.assert_allclose(module(x).numpy(), tmodule(tx).detach().numpy(), **tol)
        assert repr(module) == repr(tmodule)


def test_loss_modules_match_pytorch_values_gradients_and_state_dict_keys():
    torch = _torch()
    rng = np.random.default_rng(12)
    n, c = 9, 4
    logits = rng.standard_normal((n, c)) * 3
    plain = rng.integers(0, c, n)
    plain[3] = 1
    ignored = plain.copy()
    ignored[[2, 5]] = -100
    w = rng.uniform(0.3, 2.0, c)
    cases = []
    for reduction in ("mean", "sum", "none"):
        for kw in (dict(), dict(weight=True), dict(label_smoothing=0.15), dict(weight=True, label_smoothing=0.3),
                   dict(ignore_index=1)):  # fmt: skip
            cases.append(("CrossEntropyLoss", reduction, kw))
            if "label_smoothing" not in kw:
                cases.append(("NLLLoss", reduction, kw))
    for name, reduction, kw in cases:
        gkw = {k: (gk.tensor(w) if k == "weight" else v) for k, v in kw.items()}
        tkw = {k: (torch.tensor(w) if k == "weight" else v) for k, v in kw.items()}
        ours = getattr(nn, name)(reduction=reduction, **gkw)
        theirs = getattr(torch.nn, name)(reduction=reduction, **tkw)
        x, tx = gk.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
        inp, tinp = (F.log_softmax(x, 1), torch.log_softmax(tx, 1)) if name == "NLLLoss" else (x, tx)
        target = plain if "ignore_index" in kw else ignored
        y, ty = ours(inp, gk.tensor(target)), theirs(tinp, torch.tensor(target))
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=f"{name} {kw}")
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=f"{name} {kw}")
        assert list(ours.state_dict()) == list(theirs.state_dict())
    # regression and binary losses
    a, b = rng.standard_normal((5, 3)), rng.uniform(0, 1, (5, 3))
    pw, ew = rng.uniform(0.5, 3, 3), rng.uniform(0, 2, (5, 1))
    for reduction in ("mean", "sum", "none"):
        for name, kw in [("MSELoss", {}), ("L1Loss", {}), ("BCEWithLogitsLoss", {}),
                         ("BCEWithLogitsLoss", dict(pos_weight=pw)), ("BCEWithLogitsLoss", dict(weight=ew)),
                         ("BCEWithLogitsLoss", dict(weight=ew, pos_weight=pw))]:  # fmt: skip
            ours = getattr(nn, name)(reduction=reduction, **{k: gk.tensor(v) for k, v in kw.items()})
            theirs = getattr(torch.nn, name)(reduction=reduction, **{k: torch.tensor(v) for k, v in kw.items()})
            x, tx = gk.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            y, ty = ours(x, gk.tensor(b)), theirs(tx, torch.tensor(b))
            y.sum().backward()
            ty.sum().backward()
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, err_msg=f"{name} {kw}")
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-15, err_msg=f"{name} {kw}")
            assert list(ours.state_dict()) == list(theirs.state_dict())

"""PyTorch's implementation keywords on the optimisers and the clipping utilities: ``foreach`` (accepted,
no effect), ``fused`` (accepted where gradkit's update is a fused kernel, refused elsewhere),
``differentiable`` (False only) and ``capturable`` where PyTorch has it; in PyTorch's places."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import gradkit as gk
from gradkit import optim

NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"]
FUSED = {"SGD", "Adam", "AdamW"}  # PyTorch's fused optimisers that gradkit runs as fused kernels
KEYWORDS = ("foreach", "fused", "differentiable", "capturable")


def _make(name: str, p, **kw):
    extra = {"lr": 0.1} if name == "SGD" else {}
    return getattr(optim, name)([p], **extra, **kw)


def _param(device: str = "cpu"):
    p = gk.tensor([1.0, -2.0, 3.0], device=device, requires_grad=True)
    p.grad = gk.tensor([0.5, 0.25, -1.0], device=device)
    return p


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("foreach", [None, True, False, np.bool_(True)])
def test_foreach_is_accepted_and_changes_nothing(device, name, foreach):
    plain, other = _param(device), _param(device)
    a, b = _make(name, plain), _make(name, other, foreach=foreach, differentiable=False)
    for _ in range(3):
        a.step()
        b.step()
    np.testing.assert_array_equal(plain.numpy(), other.numpy())
    assert a.state_dict()["param_groups"] == [{**g, "params": [0]} for g in b.state_dict()["param_groups"]]


@pytest.mark.parametrize("name", NAMES)
def test_differentiable_true_and_bad_values_are_refused(name):
    with pytest.raises(gk.InvalidArgumentError, match=f"{name}: differentiable=True is not supported"):
        _make(name, _param(), differentiable=True)
    with pytest.raises(gk.ArgumentTypeError, match=f"{name}: foreach must be True or False"):
        _make(name, _param(), foreach="yes")
    with pytest.raises(gk.ArgumentTypeError, match=f"{name}: differentiable must be True or False"):
        _make(name, _param(), differentiable=None)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused(name):
    for fused in (None, False):
        _make(name, _param(), fused=fused)
    if name in FUSED:
        _make(name, _param(), fused=True)
        with pytest.raises(gk.InvalidArgumentError, match=f"{name}: fused=True and foreach=True cannot be set"):
            _make(name, _param(), fused=True, foreach=True)
    else:
        with pytest.raises(gk.InvalidArgumentError, match=f"{name}: fused=True, but {name} has no fused kernel in "
                                                          r"gradkit \(the fused optimisers are SGD, Adam and "
                                                          r"AdamW\)"):  # fmt: skip
            _make(name, _param(), fused=True)
    with pytest.raises(gk.ArgumentTypeError, match=f"{name}: fused must be True or False"):
        _make(name, _param(), fused="on")


@pytest.mark.parametrize("name", ["RMSprop", "Adadelta"])
def test_capturable_is_accepted_where_the_update_captures_anyway(name):
    for capturable in (True, False):
        _make(name, _param(), capturable=capturable)
    with pytest.raises(gk.ArgumentTypeError, match=f"{name}: capturable must be True or False"):
        _make(name, _param(), capturable="no")


@pytest.mark.parametrize("name", NAMES)
def test_keywords_sit_where_pytorchs_do(name):
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    for key in KEYWORDS:
        if key not in theirs:
            continue
        assert key in ours, key
        if name in ("Adam", "AdamW") and key == "capturable":
            continue  # gradkit's sixth positional argument (docs/API.md): it came before amsgrad
        assert ours[key].kind == theirs[key].kind, key
        if theirs[key].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            assert list(ours).index(key) == list(theirs).index(key), key
        assert ours[key].default == theirs[key].default, key


def test_pytorch_style_construction_runs():
    p = _param()
    optim.RMSprop([p], 0.01, 0.99, 1e-8, 0, 0, False, False, None, False, False).step()  # all of PyTorch's positionals
    optim.Adagrad([p], 0.01, 0, 0, 0, 1e-10, None).step()
    optim.Adadelta([p], 1.0, 0.9, 1e-6, 0, None).step()
    optim.Adamax([p], 2e-3, (0.9, 0.999), 1e-8, 0, None).step()


@pytest.mark.parametrize("foreach", [None, True, False])
def test_clip_grad_utilities_accept_foreach(device, foreach):
    p = _param(device)
    total = gk.nn.utils.clip_grad_norm_([p], 0.5, foreach=foreach)
    np.testing.assert_allclose(total.item(), np.sqrt(0.25 + 0.0625 + 1.0), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(p.grad.numpy()), 0.5, rtol=1e-4)
    gk.nn.utils.clip_grad_value_([p], 0.1, foreach=foreach)
    assert np.abs(p.grad.numpy()).max() <= np.float32(0.1)  # the float32 bound (NumPy 1.x compares in float64)
    with pytest.raises(gk.ArgumentTypeError, match="clip_grad_norm_: foreach must be True or False"):
        gk.nn.utils.clip_grad_norm_([p], 1.0, foreach="fast")
    with pytest.raises(gk.ArgumentTypeError, match="clip_grad_value_: foreach must be True or False"):
        gk.nn.utils.clip_grad_value_([p], 1.0, foreach=2)


def test_clip_grad_signatures_match_pytorch():
    torch = pytest.importorskip("torch")
    for name in ("clip_grad_norm_", "clip_grad_value_"):
        ours = list(inspect.signature(getattr(gk.nn.utils, name)).parameters)
        theirs = list(inspect.signature(getattr(torch.nn.utils, name)).parameters)
        assert ours == theirs


def test_rmsprop_has_no_fused_keyword_as_pytorch():
    with pytest.raises(TypeError, match="fused"):
        optim.RMSprop([_param()], fused=True)

"""Anomaly detection: NaN gradients named with the place their forward operation was called."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gradkit as gk
from gradkit import autograd
from gradkit.autograd import function

# The NaN graph's backward divides by zero on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning", "ignore:divide by zero:RuntimeWarning")


@pytest.fixture(autouse=True)
def _anomaly_off():
    yield
    autograd.set_detect_anomaly(False)


def _nan_graph(device):
    """sqrt'(0) * 0 = inf * 0: the backward of sqrt returns NaN."""
    x = gk.tensor([0.0, 1.0], dtype="float64", device=device, requires_grad=True)
    return x, (gk.sqrt(x) * 0).sum()  # the forward line the error must show


def test_switches_and_restores():
    assert not autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()
    autograd.set_detect_anomaly(True)  # a plain call switches at once, as in PyTorch
    assert autograd.is_anomaly_enabled() and function.observer is not None
    with autograd.set_detect_anomaly(False):
        assert not autograd.is_anomaly_enabled()
    assert autograd.is_anomaly_enabled()
    autograd.set_detect_anomaly(False)
    ctx = autograd.detect_anomaly(check_nan=False)
    with ctx:
        with ctx:  # one instance entered inside its own block
            assert autograd.is_anomaly_enabled() and not autograd.is_anomaly_check_nan_enabled()
        assert autograd.is_anomaly_enabled()
    assert not autograd.is_anomaly_enabled() and autograd.is_anomaly_check_nan_enabled()
    assert function.observer is None  # off: recording a node costs nothing more
    with pytest.raises(gk.ArgumentTypeError, match="set_detect_anomaly: mode must be True or False"):
        autograd.set_detect_anomaly("on")


def test_nan_names_the_node_and_where_it_was_created(device):
    with autograd.detect_anomaly():
        x, y = _nan_graph(device)
        with pytest.raises(gk.AutogradError) as info:
            y.backward()
    text = str(info.value)
    assert "backward of 'sqrt' returned NaN in the gradient of its input 0" in text
    assert __file__ in text and "the forward line the error must show" in text
    assert x.grad is None


def test_nan_without_a_forward_traceback():
    x, y = _nan_graph(None)
    with autograd.detect_anomaly(), pytest.raises(gk.AutogradError, match="no forward traceback was recorded"):
        autograd.grad(y, x)


def test_off_or_without_check_nan_the_nan_gradient_is_stored():
    x, y = _nan_graph(None)
    assert y.grad_fn.created is None
    y.backward()
    assert np.isnan(x.grad.numpy()[0])
    with autograd.detect_anomaly(check_nan=False):
        x, y = _nan_graph(None)
        assert y.grad_fn.created is not None  # on: call sites are still recorded
        y.backward()
    g = x.grad.numpy()
    assert np.isnan(g[0]) and g[1] == 0.0


def test_rules_are_put_back_after_a_pass():
    with autograd.detect_anomaly():
        x = gk.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
        y = gk.exp(x).sum()
        rules = y.grad_fn.rules
        y.backward(retain_graph=True)
        assert y.grad_fn.rules is rules
        y.backward()
        with pytest.raises(gk.AutogradError, match="(?s)a second time.*called at"):
            y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]))


def test_an_in_place_change_names_where_the_node_was_created():
    with autograd.detect_anomaly():
        x = gk.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
        b = gk.exp(x * 2)
        with gk.no_grad():
            b += 1
        with pytest.raises(gk.AutogradError, match="(?s)modified in place.*called at.*test_anomaly.py"):
            b.sum().backward()


class _Broken(gk.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, grad):
        raise ValueError("broken backward")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes need Python 3.11")
def test_an_error_in_a_rule_gets_a_note():
    with autograd.detect_anomaly():
        y = _Broken.apply(gk.ones(2, requires_grad=True)).sum()
        with pytest.raises(ValueError, match="broken backward") as info:
            y.backward()
    note = "\n".join(info.value.__notes__)
    assert "backward of '_Broken'" in note and "test_anomaly.py" in note


def test_anomaly_and_trace_together():
    with autograd.detect_anomaly():
        tr = gk.trace(lambda a, b: gk.log(a) + a * b - gk.sin(b), 2.0, 5.0)
        assert len(tr.forward) > 2
    assert function.observer is None


def test_anomaly_switched_inside_trace_stays_as_set():
    """The observers are a set, not a chain: turning anomaly mode on inside gk.trace keeps it observing after
    the trace, and turning it off then leaves no observer behind."""

    def f(a):
        autograd.set_detect_anomaly(True)
        return gk.sin(a) * a

    tr = gk.trace(f, 2.0)
    assert len(tr.forward) == 3  # the input, sin, multiply: the trace saw them with anomaly mode on
    y = gk.exp(gk.tensor([1.0], requires_grad=True))
    assert y.grad_fn.created is not None
    autograd.set_detect_anomaly(False)
    assert function.observer is None


def test_nan_check_is_refused_inside_a_capture():
    """The NaN check reads gradients on the host, which a CUDA graph cannot; a CaptureError says so (it is
    raised inside the backward pass, which leaves grad mode as it was). Without check_nan it works."""
    from gradkit.autograd import anomaly
    from gradkit.backends import get_backend
    from gradkit.cuda import graphs

    x = gk.tensor([1.0, 2.0], dtype="float64", device="cpu", requires_grad=True)
    with graphs._Routing(get_backend("cpu"), None, None):
        with autograd.detect_anomaly():
            y = (x * 3).sum()
            with pytest.raises(gk.cuda.CaptureError, match="anomaly detection.*turn anomaly detection off"):
                y.backward()
        assert gk.is_grad_enabled() and x.grad is None
        assert not isinstance(y.grad_fn.rules, anomaly._Checked)  # put back
        with autograd.detect_anomaly(check_nan=False):
            (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])

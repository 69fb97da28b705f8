"""gk.autograd.Function: custom differentiable operations written as PyTorch's torch.autograd.Function."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import gradkit as gk
from gradkit.autograd.engine import run_backward


def t64(values, device, requires_grad=True):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


class Exp(gk.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = gk.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


class ScaledMul(gk.autograd.Function):
    """alpha * x * w, with alpha a Python float (its gradient is None); w may broadcast against x."""

    @staticmethod
    def forward(ctx, x, w, alpha):
        ctx.save_for_backward(x, w)
        ctx.alpha = alpha
        return x * w * alpha

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad * w * ctx.alpha, grad * x * ctx.alpha, None  # w's gradient has x's shape: summed back


class LogSumExp(gk.autograd.Function):
    """Saves an input and the output, keeps the axis on ctx."""

    @staticmethod
    def forward(ctx, x, axis):
        m = x.max(axis=axis, keepdims=True)
        out = (gk.log(gk.exp(x - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)
        ctx.save_for_backward(x, out)  # the output itself: an intermediate would be a constant to second order
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return gk.unsqueeze(grad, ctx.axis) * gk.exp(x - gk.unsqueeze(out, ctx.axis)), None


class Cube(gk.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


class SinCos(gk.autograd.Function):
    """Two outputs; backward counts its calls and uses both saved outputs."""

    calls = 0

    @staticmethod
    def forward(ctx, x):
        s, c = gk.sin(x), gk.cos(x)
        ctx.save_for_backward(s, c)
        return s, c

    @staticmethod
    def backward(ctx, gs, gc):
        SinCos.calls += 1
        s, c = ctx.saved_tensors
        return gs * c - gc * s


def _function(forward, backward, name="Custom"):
    return type(name, (gk.autograd.Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


# ------------------------------------------------------------------ gradients


def test_exp_values_gradient_and_node(device):
    x = t64([0.1, 0.5, -1.0], device)
    y = Exp.apply(x)
    np.testing.assert_allclose(y.numpy(), np.exp([0.1, 0.5, -1.0]))
    assert y.requires_grad and y.grad_fn.name == "Exp" and not y.is_leaf
    assert y.grad_fn.next == (x,)  # forward's own operations were not recorded
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.1, 0.5, -1.0]))
    assert x.grad.device == x.device
    assert gk.gradcheck(Exp.apply, (t64([[0.3, -0.2], [1.1, 0.0]], device),))


def test_two_inputs_and_a_non_tensor_argument(device):
    rng = np.random.default_rng(0)
    x = t64(rng.standard_normal((2, 3)), device)
    w = t64(rng.standard_normal(3), device)
    assert gk.gradcheck(lambda x, w: ScaledMul.apply(x, w, 2.5), (x, w))
    ScaledMul.apply(x, w, 2.5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(2.5 * w.numpy(), (2, 3)))
    np.testing.assert_allclose(w.grad.numpy(), 2.5 * x.numpy().sum(axis=0))  # the broadcast gradient summed back
    assert w.grad.shape == (3,)


def test_saved_input_saved_output_and_ctx_attributes(device):
    x = t64(np.random.default_rng(1).standard_normal((3, 4)), device)
    for axis in (0, 1):
        assert gk.gradcheck(lambda x, axis=axis: LogSumExp.apply(x, axis), (x,))
        np.testing.assert_allclose(LogSumExp.apply(x, axis).numpy(), gk.logsumexp(x, axis=axis).numpy(), rtol=1e-12)


def test_a_custom_function_inside_a_larger_graph(device):
    x = t64([0.2, -0.7, 1.5], device)
    w = t64([1.0, 2.0, -0.5], device)
    assert gk.gradcheck(
        lambda x, w: (Exp.apply(x * w) * Cube.apply(x)).sum() + ScaledMul.apply(x, x, -1.0).sum(), (x, w)
    )


# --------------------------------------------------------------- higher order


def test_second_order_through_a_saved_output(device):
    x = t64([0.1, -0.4, 1.2], device)
    Exp.apply(x).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.1, -0.4, 1.2]), rtol=1e-12)
    assert gk.gradcheck(gk.grad(lambda x: (Exp.apply(x) * x).sum()), t64([0.3, -1.0], device))


def test_second_order_through_saved_inputs(device):
    x = t64([0.5, -2.0], device)
    assert gk.gradcheck(gk.grad(lambda x: Cube.apply(x).sum()), x)
    h = gk.hessian(lambda x: Cube.apply(x).sum())(t64([0.5, -2.0], device, requires_grad=False))
    np.testing.assert_allclose(h.numpy(), np.diag([3.0, -12.0]), rtol=1e-12)
    assert gk.gradcheck(gk.grad(lambda x: LogSumExp.apply(x, 0)), t64([0.3, -1.0, 2.0], device))
    assert gk.gradcheck(gk.grad(lambda x, w: ScaledMul.apply(x, w, 3.0).sum() ** 2), (x, t64([1.5, 0.5], device)))


def test_jvp_through_a_custom_function(device):
    x = t64([1.0, 2.0], device, requires_grad=False)
    _, tangent = gk.jvp(Exp.apply, (x,), (gk.ones(2, dtype=gk.float64, device=device),))
    np.testing.assert_allclose(tangent.numpy(), np.exp([1.0, 2.0]))


# ------------------------------------------------------------- ctx and modes


def test_needs_input_grad_and_grad_mode_inside_forward(device):
    seen = []

    def forward(ctx, a, b, c, d):
        seen.append((ctx.needs_input_grad, gk.is_grad_enabled()))
        return a * b + d

    def backward(ctx, grad):
        seen.append(("backward", ctx.needs_input_grad))
        return grad * 2, None, None, grad

    F = _function(forward, backward)
    a = t64([1.0, 2.0], device)
    b = t64([3.0, 4.0], device, requires_grad=False)
    d = t64([0.5, 0.5], device)
    F.apply(a, b, 7, d).sum().backward()
    assert seen == [((True, False, False, True), False), ("backward", (True, False, False, True))]
    np.testing.assert_allclose(a.grad.numpy(), [2.0, 2.0])
    np.testing.assert_allclose(d.grad.numpy(), [1.0, 1.0])
    assert b.grad is None


def test_under_no_grad_nothing_is_recorded(device):
    x = t64([0.1, 0.2], device)
    seen = []

    def forward(ctx, x):
        seen.append(ctx.needs_input_grad)
        return gk.exp(x)

    F = _function(forward, lambda ctx, g: pytest.fail("backward must not run"))
    with gk.no_grad():
        y = F.apply(x)
        z = Exp.apply(x)
    assert seen == [(False,)]
    assert not y.requires_grad and y.grad_fn is None and z.grad_fn is None
    c = t64([0.1, 0.2], device, requires_grad=False)
    assert Exp.apply(c).grad_fn is None  # no input requires grad


def test_forward_runs_without_recording_even_inside_enable_grad(device):
    x = t64([0.3], device)
    inner = []

    def forward(ctx, x):
        y = x * 2
        inner.append(y)
        return y + 1

    F = _function(forward, lambda ctx, g: g * 2)
    y = F.apply(x)
    assert inner[0].grad_fn is None and not inner[0].requires_grad
    assert y.grad_fn.next == (x,)


def test_forward_returning_its_input_leaves_the_input_a_leaf(device):
    x = t64([1.0, 2.0], device)
    F = _function(lambda ctx, x: x, lambda ctx, g: g * 3)
    y = F.apply(x)
    assert y is not x and x.is_leaf and x.grad_fn is None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_hooks_and_retain_grad_on_a_custom_output(device):
    x = t64([1.0, 2.0], device)
    y = Exp.apply(x)
    y.retain_grad()
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [10.0, 10.0])
    np.testing.assert_allclose(x.grad.numpy(), 10 * np.exp([1.0, 2.0]))


def test_materialize_grads_off_gives_none_for_unused_outputs(device):
    got = []

    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        return x * 2, x * 3

    def backward(ctx, g1, g2):
        got.append((g1 is None, g2 is None))
        return g1 * 2

    F = _function(forward, backward)
    x = t64([1.0], device)
    F.apply(x)[0].sum().backward()
    assert got == [(False, True)]


def test_the_graph_is_freed_after_backward(device):
    x = t64([1.0, 2.0], device)
    y = Exp.apply(x).sum()
    y.backward()
    with pytest.raises(gk.AutogradError, match="second time"):
        y.backward()
    z = Exp.apply(x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp([1.0, 2.0]))


def test_no_reference_cycle_keeps_saved_tensors_alive(device):
    refs = []

    def forward(ctx, x):
        y = gk.exp(x)
        w = y * 2
        ctx.save_for_backward(x, y, w)
        refs.append(weakref.ref(ctx))
        return y

    F = _function(forward, lambda ctx, g: g * ctx.saved_tensors[1])
    x = t64([1.0, 2.0], device)
    gc.collect()
    gc.disable()
    try:
        y = F.apply(x)
        assert refs[0]() is not None
        del y  # never differentiated: reference counting alone frees the call
        assert refs[0]() is None
        y = F.apply(x)
        y.sum().backward()  # without retain_graph, backward releases what was saved
        assert refs[1]() is None
    finally:
        gc.enable()


# ------------------------------------------------------------------ several outputs


def test_two_outputs_one_backward_call(device):
    x = t64([0.3, -1.2, 2.0], device)
    SinCos.calls = 0
    s, c = SinCos.apply(x)
    assert s.grad_fn.name == "SinCos[0]" and c.grad_fn.name == "SinCos[1]"
    (s * 2 + c * c).sum().backward()
    assert SinCos.calls == 1
    xs = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(xs) - 2 * np.cos(xs) * np.sin(xs))
    assert gk.gradcheck(lambda x: SinCos.apply(x)[0] * SinCos.apply(x)[1] ** 3, (x,))


def test_an_output_without_gradient_gets_zeros(device):
    x = t64([0.3, -1.2], device)
    SinCos.calls = 0
    s, c = SinCos.apply(x)
    c.sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(x.numpy()))
    x.grad = None
    s.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos(x.numpy()))
    assert SinCos.calls == 2
    with pytest.raises(gk.AutogradError, match="second time"):
        c.sum().backward()


def test_two_outputs_as_roots_and_through_vjp(device):
    x = t64([0.5, 1.5], device)
    SinCos.calls = 0
    s, c = SinCos.apply(x)
    (g,) = run_backward([s, c], [gk.ones(2, dtype=gk.float64, device=device)] * 2, inputs=[x])
    assert SinCos.calls == 1
    np.testing.assert_allclose(g.numpy(), np.cos([0.5, 1.5]) - np.sin([0.5, 1.5]))
    _, vjp_fn = gk.vjp(SinCos.apply, x)
    (g,) = vjp_fn(gk.ones(2, dtype=gk.float64, device=device), gk.zeros(2, dtype=gk.float64, device=device))
    np.testing.assert_allclose(g.numpy(), np.cos([0.5, 1.5]))


def test_second_order_through_two_outputs(device):
    x = t64([0.3, -1.2], device)
    assert gk.gradcheck(gk.grad(lambda x: (SinCos.apply(x)[0] ** 2 * SinCos.apply(x)[1]).sum()), x)
    h = gk.hessian(lambda x: (SinCos.apply(x)[0] + SinCos.apply(x)[1]).sum())(x.detach())
    np.testing.assert_allclose(h.numpy(), np.diag(-np.sin(x.numpy()) - np.cos(x.numpy())), rtol=1e-12)


def test_non_differentiable_and_non_tensor_outputs(device):
    got = []

    def forward(ctx, x):
        idx = gk.argmax(x, axis=-1)  # int64: never differentiable
        half = x * 0.5
        doubled = x * 2
        ctx.mark_non_differentiable(half)
        return doubled, idx, half, "label"

    def backward(ctx, g_doubled, g_idx, g_half, g_label):
        got.append((g_idx.shape, float(g_idx.sum()), float(g_half.sum()), g_label))
        return g_doubled * 2

    F = _function(forward, backward)
    x = t64([[1.0, 3.0], [2.0, 0.0]], device)
    doubled, idx, half, label = F.apply(x)
    assert doubled.requires_grad and not idx.requires_grad and not half.requires_grad and label == "label"
    doubled.sum().backward()
    assert got == [((2,), 0.0, 0.0, None)]
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 2), 2.0))


# ------------------------------------------------------------------ errors


def test_wrong_number_of_gradients(device):
    x = t64([1.0], device)
    TooFew = _function(lambda ctx, a, b: a * b, lambda ctx, g: g, name="TooFew")
    with pytest.raises(gk.AutogradError, match=r"TooFew\.backward returned 1 gradient, expected 2"):
        TooFew.apply(x, x).sum().backward()
    TooMany = _function(lambda ctx, a: a * 2, lambda ctx, g: (g, g), name="TooMany")
    with pytest.raises(gk.AutogradError, match=r"TooMany\.backward returned 2 gradients, expected 1"):
        TooMany.apply(x).sum().backward()
    ExtraNone = _function(lambda ctx, a: a * 2, lambda ctx, g: (g * 2, None, None))  # allowed, as in PyTorch
    x.grad = None
    ExtraNone.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0])


def test_wrong_shape_dtype_or_type_of_a_gradient(device):
    x = t64([1.0, 2.0], device)
    WrongShape = _function(
        lambda ctx, a: a * 2, lambda ctx, g: gk.ones(3, dtype=gk.float64, device=device), name="WrongShape"
    )
    with pytest.raises(gk.ShapeError, match=r"WrongShape\.backward .* argument 0 with shape \(3,\), expected \(2,\)"):
        WrongShape.apply(x).sum().backward()
    WrongDtype = _function(lambda ctx, a: a * 2, lambda ctx, g: g.astype(gk.float32), name="WrongDtype")
    with pytest.raises(gk.DTypeError, match=r"WrongDtype\.backward .* dtype float32, expected float64"):
        WrongDtype.apply(x).sum().backward()
    NotATensor = _function(lambda ctx, a: a * 2, lambda ctx, g: np.ones(2), name="NotATensor")
    with pytest.raises(gk.AutogradError, match=r"NotATensor\.backward returned ndarray"):
        NotATensor.apply(x).sum().backward()
    GradForFloat = _function(lambda ctx, a, s: a * s, lambda ctx, g: (g, g), name="GradForFloat")
    with pytest.raises(
        gk.AutogradError, match=r"GradForFloat\.backward .* argument 1, which is not a Tensor \(float\)"
    ):
        GradForFloat.apply(x, 2.0).sum().backward()
    with pytest.raises(gk.AutogradError, match="GradForFloat"):  # gradcheck reports it too
        gk.gradcheck(lambda a: GradForFloat.apply(a, 2.0), (x,))


def test_gradient_on_another_device(device):
    other = "cpu" if device == "cuda" else "cuda" if gk.cuda_available() else None
    if other is None:
        pytest.skip("needs a second device")
    x = t64([1.0, 2.0], device)
    Moved = _function(lambda ctx, a: a * 2, lambda ctx, g: gk.ones(2, dtype=gk.float64, device=other), name="Moved")
    with pytest.raises(gk.DeviceError, match=r"Moved\.backward .* expected"):
        Moved.apply(x).sum().backward()


def test_a_saved_tensor_modified_in_place(device):
    x = t64([1.0, 2.0], device)
    w = t64([3.0, 4.0], device, requires_grad=False)
    y = ScaledMul.apply(x, w, 1.0)
    w += 1
    with pytest.raises(gk.AutogradError, match=r"backward of 'ScaledMul': a tensor it saved .* modified in place"):
        y.sum().backward()
    y = Exp.apply(x)  # the saved output, changed through the tensor apply returned
    with gk.no_grad():
        y *= 2
    with pytest.raises(gk.AutogradError, match="'Exp'"):
        y.sum().backward()
    s, c = SinCos.apply(x)
    with gk.no_grad():
        c += 1
    with pytest.raises(gk.AutogradError, match="'SinCos'"):
        s.sum().backward()


def test_misuse_of_apply_and_ctx(device):
    x = t64([1.0], device)
    with pytest.raises(gk.ArgumentTypeError, match=r"Exp\.apply\(\.\.\.\)"):
        Exp()(x)
    with pytest.raises(gk.ArgumentTypeError, match="by position"):
        ScaledMul.apply(x, w=x, alpha=1.0)
    Listed = _function(lambda ctx, a: [a * 2, a * 3], lambda ctx, g: g, name="Listed")
    with pytest.raises(gk.ArgumentTypeError, match=r"Listed\.forward returned a list"):
        Listed.apply(x)
    SavesFloat = _function(lambda ctx, a: ctx.save_for_backward(a, 2.0), lambda ctx, g: g, name="SavesFloat")
    with pytest.raises(gk.ArgumentTypeError, match=r"SavesFloat\.forward: save_for_backward takes Tensors"):
        SavesFloat.apply(x)

    def peek(ctx, a):
        ctx.save_for_backward(a)
        return ctx.saved_tensors

    with pytest.raises(gk.AutogradError, match="in backward, not in forward"):
        _function(peek, lambda ctx, g: g).apply(x)

    class NoBackward(gk.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

    with pytest.raises(NotImplementedError, match="backward"):
        NoBackward.apply(x).sum().backward()
    with pytest.raises(NotImplementedError, match="forward"):
        gk.autograd.Function.apply(x)


def test_importable_from_the_autograd_package():
    from gradkit.autograd import Function, FunctionCtx
    from gradkit.autograd.custom_function import Function as Same

    assert Function is Same is gk.autograd.Function
    assert FunctionCtx.__name__ == "FunctionCtx"
    assert "Function" in dir(gk.autograd)
    with pytest.raises(AttributeError):
        gk.autograd.NoSuchThing  # noqa: B018


# ------------------------------------------------------------------ the rest of gradkit


def test_many_arguments(device):
    xs = [t64([float(i)], device) for i in range(11)]
    Weighted = _function(
        lambda ctx, *xs: sum((x * (i + 1) for i, x in enumerate(xs)), gk.zeros(1, dtype=gk.float64, device=device)),
        lambda ctx, g: tuple(g * (i + 1) for i in range(11)),
    )
    Weighted.apply(*xs).sum().backward()
    assert [float(x.grad.item()) for x in xs] == [float(i + 1) for i in range(11)]


def test_trace_shows_a_custom_function():
    t = gk.trace(lambda a, b: Exp.apply(a) * b, 1.0, 2.0)
    assert "Exp(v-1)" in str(t)
    adjoint = {s.var: float(s.value) for s in t.backward}
    np.testing.assert_allclose([adjoint["v-1"], adjoint["v0"]], [2 * np.e, np.e])  # d(e^a b)/da, d/db


def test_the_example_runs(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "custom_function.py"
    spec = importlib.util.spec_from_file_location("custom_function_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main() == 0
    assert "first order ok, second order ok" in capsys.readouterr().out

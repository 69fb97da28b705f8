"""Small fixes of the sixteenth session: comparisons with Python ints beyond a dtype, out= refusals."""

import numpy as np
import pytest

import gradkit as gk


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64"])
@pytest.mark.parametrize("n", [300, -300, 70000, 2**40, -(2**40), 2**63 + 7, 2**70, -(2**70)])
def test_operators_compare_ints_beyond_the_dtype_as_numpy_2(device, dtype, n):
    info = np.iinfo(dtype)
    host = np.array([info.min, 0, 1, info.max], dtype=dtype)
    t = gk.tensor(host, device=device)
    wide = host.astype(object)
    expected = {
        "<": wide < n, "<=": wide <= n, ">": wide > n, ">=": wide >= n, "==": wide == n, "!=": wide != n,
    }
    got = {"<": t < n, "<=": t <= n, ">": t > n, ">=": t >= n, "==": t == n, "!=": t != n}
    for op, value in got.items():
        np.testing.assert_array_equal(value.numpy(), expected[op].astype(bool), err_msg=op)
    np.testing.assert_array_equal((n > t).numpy(), (wide < n).astype(bool))
    np.testing.assert_array_equal(gk.less(n, t).numpy(), (n < wide).astype(bool))
    assert (n in t) == any(wide == n)


@pytest.mark.parametrize("call", [
    lambda d: gk.compress([1], gk.ones(3, device=d), out=np.ones(1)),
    lambda d: gk.choose([0], [gk.ones(1, device=d)], out=np.ones(1)),
    lambda d: gk.concat([gk.ones(1, device=d)], out=np.ones(1)),
    lambda d: gk.cumulative_sum(gk.ones(2, device=d), out=np.ones(2)),
    lambda d: gk.ones(2, device=d).sum(out=np.ones(())),
])
def test_every_out_refusal_is_an_invalid_argument_naming_the_function(device, call):
    with pytest.raises(gk.InvalidArgumentError, match=r"^\w+: out= is not supported \(got ndarray\); gradkit returns"):
        call(device)


def test_trace_shows_a_linear_layers_constant_bias_exactly_even_where_the_relu_closed_a_column():
    import gradkit.nn.functional as F

    w = gk.tensor(np.array([[1.0, -2.0], [0.5, 1.0]]))
    b = gk.tensor(np.array([-100.0, 0.25]))  # the first unit is closed for every row: the bias cannot be inferred
    tr = gk.trace(lambda x: F.linear_relu(x, w, b).sum(), [[1.0, 2.0], [3.0, -1.0]])
    assert tr.forward[1].expr == "relu(v0 @ c1^T + c2)"
    np.testing.assert_array_equal(tr.constants["c2"], [-100.0, 0.25])
    zero = gk.trace(lambda x: F.linear(x, w, gk.zeros(2, dtype=gk.float64)).sum(), [[1.0, 2.0]])
    assert zero.forward[1].expr == "v0 @ c1^T + c2"  # a bias of zeros is a bias, shown as one
    none = gk.trace(lambda x: F.linear(x, w).sum(), [[1.0, 2.0]])
    assert none.forward[1].expr == "v0 @ c1^T"


def test_trace_names_the_axis_of_a_concatenation_its_bounds_and_clips_scalar_bounds():
    tr = gk.trace(lambda a: (gk.concatenate([a, 2 * a], axis=0) ** 2).sum() + gk.clip(a, -1.0, 0.5).sum(),
                  [[1.0, 2.0]])
    exprs = [s.expr for s in tr.forward]
    assert "concatenate([v0, v1], axis=0)" in exprs and "clip(v0, -1, 0.5)" in exprs


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": "fast"}), ("Adagrad", {"eps": "1e-10"}), ("Adam", {"lr": None}), ("ASGD", {"lambd": "x"}),
    ("Rprop", {"lr": [0.1]}), ("RMSprop", {"alpha": "0.9"}),
])
def test_an_optimiser_hyperparameter_that_is_not_a_number_is_a_type_error_as_in_pytorch(name, kwargs):
    with pytest.raises(gk.ArgumentTypeError, match=rf"{name}: \w+ must be a number, got"):
        getattr(gk.optim, name)([gk.ones(2, requires_grad=True)], **kwargs)


def test_adagrad_refuses_a_lazy_modules_uninitialized_parameters_as_pytorch():
    model = gk.nn.LazyLinear(3)
    with pytest.raises(gk.nn.UninitializedTensorError, match="Adagrad: a parameter is uninitialized"):
        gk.optim.Adagrad(model.parameters())
    model(gk.ones(2, 4))
    opt = gk.optim.Adagrad(model.parameters())
    model(gk.ones(2, 4)).sum().backward()
    opt.step()
    assert opt.state[model.weight]["sum"].shape == (3, 4)

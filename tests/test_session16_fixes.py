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

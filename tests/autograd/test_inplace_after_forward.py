"""A tensor changed in place between forward and backward never changes the gradient silently.

Each op either refuses the backward (``AutogradError``: a saved tensor's version moved, as PyTorch does) or gives
the gradient of the values the forward pass saw. What escapes the version check is an array saved raw: the
input's ``_data``, a view of it, or an array that another tensor handed to the caller wraps too. Changed here:
an operand that does not require grad, a leaf that does (inside ``gk.no_grad()``, as an optimiser step), the
op's output, and index tensors an op returns.
"""

import numpy as np
import pytest

import gradkit as gk
import gradkit.nn.functional as F


def _t(values, device, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def _rand(shape, device, requires_grad=False, seed=0, low=-1.0, high=1.0):
    return _t(np.random.default_rng(seed).uniform(low, high, shape), device, requires_grad)


def _spd(device, requires_grad=False):
    a = np.random.default_rng(3).standard_normal((3, 3))
    return _t(a @ a.T + 3 * np.eye(3), device, requires_grad)


def _weighted_sum(out):
    """A scalar of the op's float outputs, with fixed weights (so that its slope in the outputs is constant)."""
    outs = [out] if isinstance(out, gk.Tensor) else list(out)
    total = None
    for k, o in enumerate(outs):
        if not (isinstance(o, gk.Tensor) and o.dtype.kind == "f" and o.requires_grad):
            continue
        w = gk.tensor(np.random.default_rng(100 + k).uniform(0.5, 1.5, o.shape).astype(o.dtype), device=o.device)
        s = (o * w).sum()
        total = s if total is None else total + s
    return total


def _change(t):
    with gk.no_grad():
        if t.dtype == gk.bool:
            t.copy_(~t)
        else:
            t.copy_(t * -1.3 + 0.7)


def _grads(make, fn, change=None):
    """The gradients of every input that requires grad, with ``change(inputs, out)`` run between forward and
    backward; "refused" when backward raises AutogradError."""
    ins = make()
    out = fn(*ins)
    if change is not None:
        change(ins, out)
    try:
        grads = gk.autograd.grad(_weighted_sum(out), [t for t in ins if t.requires_grad], allow_unused=True)
    except gk.AutogradError as exc:
        assert "modified in place" in str(exc)
        return "refused"
    return [None if g is None else g.numpy() for g in grads]


def _assert_refused_or_unchanged(got, expected):
    if got == "refused":
        return
    for g, e in zip(got, expected, strict=True):
        if e is None:
            assert g is None
        else:
            np.testing.assert_array_equal(g, e)


# name -> (inputs on a device, the op); every input is changed in place in turn, and every float output.
R, C = True, False  # requires grad, or a constant operand
SWEEP = {
    "multiply": (lambda d: [_rand((3, 4), d, R), _rand((3, 4), d, C, 1)], gk.multiply),
    "divide": (lambda d: [_rand((3, 4), d, R), _rand((3, 4), d, C, 1, 0.5, 2)], gk.divide),
    "power": (lambda d: [_rand((3, 4), d, R, 0, 0.5, 2), _rand((3, 4), d, C, 1)], gk.power),
    "power_both": (lambda d: [_rand((3, 4), d, R, 0, 0.5, 2), _rand((3, 4), d, R, 1)], gk.power),
    "maximum": (lambda d: [_rand((3, 4), d, R), _rand((3, 4), d, C, 1)], gk.maximum),
    "matmul": (lambda d: [_rand((3, 4), d, R), _rand((4, 2), d, C, 1)], gk.matmul),
    "matmul_vector": (lambda d: [_rand((3, 4), d, R), _rand((4,), d, C, 1)], gk.matmul),
    "einsum": (lambda d: [_rand((3, 4), d, R), _rand((4, 2), d, C, 1)], lambda a, b: gk.einsum("ij,jk->ik", a, b)),
    "exp": (lambda d: [_rand((3, 4), d, R)], gk.exp),
    "log": (lambda d: [_rand((3, 4), d, R, 0, 0.5, 2)], gk.log),
    "tanh": (lambda d: [_rand((3, 4), d, R)], gk.tanh),
    "sigmoid": (lambda d: [_rand((3, 4), d, R)], gk.sigmoid),
    "relu": (lambda d: [_rand((3, 4), d, R)], gk.relu),
    "softmax": (lambda d: [_rand((3, 4), d, R)], lambda x: F.softmax(x, 1)),
    "log_softmax": (lambda d: [_rand((3, 4), d, R)], lambda x: F.log_softmax(x, 1)),
    "clip_tensor_bounds": (lambda d: [_rand((3, 4), d, R), _rand((3, 4), d, C, 1, -0.5, 0),
                                      _rand((3, 4), d, C, 2, 0, 0.5)], gk.clip),
    "cumsum": (lambda d: [_rand((3, 4), d, R)], lambda x: gk.cumsum(x, 1)),
    "cumprod": (lambda d: [_rand((3, 4), d, R)], lambda x: gk.cumprod(x, 1)),
    "norm": (lambda d: [_rand((3, 4), d, R)], gk.norm),
    "max_dim": (lambda d: [_rand((3, 4), d, R)], lambda x: x.max(dim=1)),
    "sort": (lambda d: [_rand((3, 4), d, R)], lambda x: x.sort(dim=1)),
    "topk": (lambda d: [_rand((3, 4), d, R)], lambda x: gk.topk(x, 2, 1)),
    "mse_loss": (lambda d: [_rand((3, 4), d, R), _rand((3, 4), d, C, 1)], F.mse_loss),
    "binary_cross_entropy": (lambda d: [_rand((3, 4), d, R, 0, 0.1, 0.9), _rand((3, 4), d, C, 1, 0.1, 0.9),
                                        _rand((3, 4), d, C, 2, 0.5, 2)],
                             lambda x, t, w: F.binary_cross_entropy(x, t, weight=w)),
    "bce_with_logits": (lambda d: [_rand((3, 4), d, R), _rand((3, 4), d, C, 1, 0.1, 0.9), _rand((4,), d, C, 2, 0.5, 2),
                                   _rand((4,), d, C, 3, 0.5, 2)],
                        lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw)),
    "cross_entropy_weight": (lambda d: [_rand((3, 4), d, R), _rand((4,), d, C, 1, 0.5, 2)],
                             lambda x, w: F.cross_entropy(x, gk.tensor([0, 3, 1], device=x.device), weight=w)),
    "cross_entropy_weight_smoothing": (lambda d: [_rand((3, 4), d, R), _rand((4,), d, C, 1, 0.5, 2)],
                                       lambda x, w: F.cross_entropy(x, gk.tensor([0, 3, 1], device=x.device), weight=w,
                                                                    label_smoothing=0.2)),
    "cross_entropy_probabilities_weight": (lambda d: [_rand((3, 4), d, R), _rand((3, 4), d, C, 1, 0.1, 0.9),
                                                      _rand((4,), d, C, 2, 0.5, 2)],
                                           lambda x, p, w: F.cross_entropy(x, p, weight=w)),
    "linear": (lambda d: [_rand((3, 4), d, R), _rand((2, 4), d, R, 1), _rand((2,), d, R, 2)], F.linear),
    "linear_constant_weight": (lambda d: [_rand((3, 4), d, R), _rand((2, 4), d, C, 1)], F.linear),
    "layer_norm": (lambda d: [_rand((3, 4), d, R), _rand((4,), d, R, 1), _rand((4,), d, R, 2)],
                   lambda x, w, b: F.layer_norm(x, (4,), w, b)),
    "batch_norm": (lambda d: [_rand((5, 3), d, R), _rand((3,), d, C, 1), _rand((3,), d, C, 2)],
                   lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)),
    "conv2d": (lambda d: [_rand((2, 2, 4, 4), d, R), _rand((3, 2, 2, 2), d, C, 1), _rand((3,), d, C, 2)], F.conv2d),
    "embedding": (lambda d: [_rand((5, 3), d, R)], lambda w: F.embedding(gk.tensor([1, 1, 4], device=w.device), w)),
    "interpolate_bilinear": (lambda d: [_rand((1, 2, 3, 3), d, R)],
                             lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)),
    "grid_sample": (lambda d: [_rand((1, 2, 4, 4), d, R), _rand((1, 3, 3, 2), d, R, 1, -0.9, 0.9)],
                    lambda x, g: F.grid_sample(x, g, align_corners=False)),
    "solve": (lambda d: [_spd(d, R), _rand((3, 2), d, C, 1)], gk.linalg.solve),
    "inv": (lambda d: [_spd(d, R)], gk.linalg.inv),
    "det": (lambda d: [_spd(d, R)], gk.linalg.det),
    "cholesky": (lambda d: [_spd(d, R)], gk.linalg.cholesky),
    "eigh": (lambda d: [_spd(d, R)], gk.linalg.eigh),
}


@pytest.mark.parametrize("name", sorted(SWEEP))
def test_a_change_in_place_is_refused_or_leaves_the_gradient(device, name):
    make, fn = SWEEP[name]
    expected = _grads(lambda: make(device), fn)
    assert expected != "refused"
    for i in range(len(make(device))):
        _assert_refused_or_unchanged(_grads(lambda: make(device), fn, lambda ins, out, i=i: _change(ins[i])), expected)

    def change_outputs(ins, out):
        for o in [out] if isinstance(out, gk.Tensor) else out:
            if o.dtype.kind == "f":
                _change(o)

    _assert_refused_or_unchanged(_grads(lambda: make(device), fn, change_outputs), expected)


# ------------------------------------------------------------------ what was fixed
@pytest.mark.parametrize("soft", [False, True])
def test_a_cross_entropy_weight_changed_after_forward_is_refused(device, soft):
    # label smoothing (and probability targets) multiply the log-probabilities by the weight: saved by the product
    x = _t([[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]], device, True)
    w = _t([1.0, 2.0, 3.0], device)
    target = _t([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]], device) if soft else gk.tensor([2, 0], device=device)
    loss = F.cross_entropy(x, target, weight=w, label_smoothing=0.1)
    w.mul_(10)
    with pytest.raises(gk.AutogradError, match="modified in place"):
        loss.backward()


def test_a_numpy_cross_entropy_weight_changed_after_forward_leaves_the_gradient():
    x = _t([[0.5, -1.0, 2.0], [0.0, 1.0, -0.5]], "cpu", True)
    w = np.array([1.0, 2.0, 3.0])
    loss = F.cross_entropy(x, gk.tensor([2, 0], device="cpu"), weight=w, label_smoothing=0.3)
    w[:] = [3.0, 2.0, 1.0]
    loss.backward()
    # the gradient for the weight [1, 2, 3] of the forward pass
    np.testing.assert_allclose(
        x.grad.numpy(),
        [[0.09332101469452472, -0.02359901304228598, -0.06972200165223874],
         [-0.12485223327280155, 0.15427280874382276, -0.02942057547102125]],
        rtol=1e-12,
    )


def test_cross_entropy_weight_of_another_dtype_is_converted_not_shared(device):
    x = gk.tensor([[0.5, -1.0, 2.0]], dtype=gk.float32, device=device, requires_grad=True)
    w = _t([1.0, 2.0, 3.0], device)  # float64: cast to float32, a copy of its own
    loss = F.cross_entropy(x, gk.tensor([2], device=device), weight=w, label_smoothing=0.1)
    w.mul_(10)
    loss.backward()
    assert x.grad.shape == (1, 3)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["max", "min", "median", "nanmedian"])
def test_indices_changed_after_forward_leave_the_gradient(device, name, keepdim):
    x = _t([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], device, True)
    values, indices = getattr(x, name)(dim=1, keepdim=keepdim)
    first = indices.numpy().copy()
    indices.zero_()  # the node must not read these: they are the caller's
    values.sum().backward()
    expected = {"max": [[0, 1, 0], [0, 0, 1]], "min": [[1, 0, 0], [0, 1, 0]],
                "median": [[0, 0, 1], [1, 0, 0]], "nanmedian": [[0, 0, 1], [1, 0, 0]]}[name]
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    np.testing.assert_array_equal(first.reshape(-1), np.argmax(expected, axis=1))


def test_the_median_of_all_elements_kept_as_an_array_ignores_a_changed_result(device):
    x = _t([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], device, True)
    m = gk.median(x, dim=None, keepdim=True)  # PyTorch's form: the lower middle value, 2, shape (1, 1)
    with gk.no_grad():
        m.add_(1)  # 3 is an element of x too: a view of the result in the node would send the gradient there
    m.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 1], [0, 0, 0]])


def test_a_piecewise_condition_changed_after_forward_leaves_the_gradient(device):
    x = _t([1.0, 2.0, 3.0, 4.0], device, True)
    cond = gk.tensor([True, False, True, False], device=device)
    y = gk.piecewise(x, [cond], [lambda v: v * v, lambda v: v * 3])
    cond.copy_(~cond)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0, 6.0, 3.0])


@pytest.mark.parametrize("op", ["where", "select", "ldexp"])
def test_a_numpy_condition_or_exponent_changed_after_forward_leaves_the_gradient(op):
    x = _t([1.0, 2.0, 3.0], "cpu", True)
    if op == "ldexp":
        e = np.array([0, 1, 2])
        y = gk.ldexp(x, e)
        e[:] = 3
        expected = [1.0, 2.0, 4.0]
    else:
        c = np.array([True, False, True])
        y = gk.where(c, x, 0.0) if op == "where" else gk.select([c], [x])
        c[:] = False
        expected = [1.0, 0.0, 1.0]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_no_copy_of_a_numpy_condition_without_grad_mode():
    c = np.array([True, False, True])
    with gk.no_grad():
        y = gk.where(c, _t([1.0, 2.0, 3.0], "cpu", True), 0.0)
    assert y.grad_fn is None


def test_packed_sequence_indices_changed_after_forward_are_refused(device):
    from gradkit.nn.utils_rnn import pack_padded_sequence

    gk.manual_seed(0)
    rnn = gk.nn.GRU(2, 3).to(dtype=gk.float64, device=device)
    x = _rand((4, 3, 2), device)
    h0 = _rand((1, 3, 3), device, True, seed=1)
    packed = pack_padded_sequence(x, gk.tensor([2, 4, 3], device="cpu"), enforce_sorted=False)
    _, h = rnn(packed, h0)
    with gk.no_grad():
        packed.sorted_indices.copy_(gk.tensor([0, 1, 2], device=device))
    with pytest.raises(gk.AutogradError, match="getitem.*modified in place"):
        h.sum().backward()


# ------------------------------------------------------------------ found, outside the files this change touches
@pytest.mark.parametrize("op", ["sort", "topk"])
def test_sort_and_topk_indices_changed_after_forward_leave_the_gradient(op):
    x = _t([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], "cpu", True)
    values, indices = x.sort(dim=1) if op == "sort" else gk.topk(x, 3, 1)
    indices.zero_()
    (values * _t([1.0, 2.0, 3.0], "cpu")).sum().backward()
    expected = [[1, 3, 2], [2, 1, 3]] if op == "sort" else [[3, 1, 2], [2, 3, 1]]
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_a_scatter_reduce_result_changed_after_forward_is_refused_or_left():
    def make():
        return [_t([[1.0, 5.0], [4.0, 2.0]], "cpu", True), _t([[3.0, 7.0]], "cpu", True)]

    def fn(x, src):
        return gk.scatter_reduce(x, 1, gk.tensor([[0, 0]], device="cpu"), src, "amax")  # [[7, 5], [4, 2]]

    expected = _grads(make, fn)
    assert expected[0][0, 0] == 0 and expected[1][0, 0] == 0 and expected[1][0, 1] != 0  # to the 7 alone
    _assert_refused_or_unchanged(_grads(make, fn, lambda ins, out: _change(out)), expected)



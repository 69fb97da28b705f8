"""In-place operations on tensors in the graph are recorded, as PyTorch records them.

Each program below changes a tensor in place (a non-leaf, a view of one, a buffer that an operand requiring grad
is written into) and has an out-of-place twin that computes the same values: the two give the same values and
the same gradients, and the in-place programs agree with central differences. What cannot be recorded (a leaf
that requires grad, a view of one) is refused; a value a node saved and that was then overwritten is refused at
backward.
"""

import pickle

import numpy as np
import pytest

import gradkit as gk
from gradkit.errors import AutogradError, DTypeError, ShapeError


def _t(values, device, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=requires_grad)


def _rand(shape, device, seed, requires_grad=True):
    return _t(np.random.default_rng(seed).uniform(-1.0, 1.0, shape), device, requires_grad)


def _zeros(shape, like):
    return gk.zeros(shape, dtype="float64", device=like.device)


def _index(values, like):
    return gk.tensor(np.asarray(values), device=like.device)


# name: (in-place program, out-of-place twin); each takes x (2, 3) and w (2, 3), both requiring grad
PROGRAMS = {
    "relu_": (lambda x, w: (x * 2 - 0.5).relu_() * w,
              lambda x, w: (x * 2 - 0.5).relu() * w),
    "iadd": (lambda x, w: _iadd(x * 1, w * w),
             lambda x, w: x * 1 + w * w),
    "isub_imul_idiv": (lambda x, w: _isub_imul_idiv(x * 1, w),
                       lambda x, w: ((x - w) * w) / (w + 2)),
    "x *= x": (lambda x, w: _imul_self(x + w),
               lambda x, w: (x + w) * (x + w)),
    "add_ alpha": (lambda x, w: (x * 1).add_(w, alpha=3),
                   lambda x, w: x + 3 * w),
    "mul_ then read": (lambda x, w: (x + 0).mul_(w).exp(),
                       lambda x, w: (x * w).exp()),
    "clamp_": (lambda x, w: (x * w).clamp_(-0.1, 0.2),
               lambda x, w: (x * w).clamp(-0.1, 0.2)),
    "sigmoid_ tanh_": (lambda x, w: (x + w).sigmoid_().tanh_(),
                       lambda x, w: (x + w).sigmoid().tanh()),
    "masked_fill_": (lambda x, w: (x * w).masked_fill_(x > 0, 0.5),
                     lambda x, w: (x * w).masked_fill(x > 0, 0.5)),
    "setitem row": (lambda x, w: _setitem(_zeros((2, 3), x), 1, x[0] * w[1]),
                    lambda x, w: gk.stack([_zeros((3,), x), x[0] * w[1]])),
    "setitem mask": (lambda x, w: _setitem(x * w, x > 0.3, 0.0),
                     lambda x, w: gk.where(x > 0.3, 0.0, x * w)),
    "setitem into graph": (lambda x, w: _setitem(x * 2, (0, slice(1, 3)), w[1, :2] ** 2),
                           lambda x, w: gk.concatenate([gk.stack([(x * 2)[0, 0], *(w[1, :2] ** 2)])[None],
                                                        (x * 2)[1:]])),
    "view += (x[i] += v)": (lambda x, w: _setitem_add(x * 1, 1, w[0] * 2),
                            lambda x, w: gk.stack([x[0] * 1, x[1] + w[0] * 2])),
    "mul_ through a view": (lambda x, w: _view_mul(x + 0, w),
                            lambda x, w: gk.stack([(x[0] + 0) * w[0], x[1] + 0])),
    "a live view follows its base": (lambda x, w: _live_view(x + 0, w),
                                     lambda x, w: ((x + 0) * w)[0] * (x * w)[1]),
    "an overlapping view follows, the others keep theirs": (lambda x, w: _two_views(x * 1, w),
                                                            lambda x, w: _two_views_twin(x * 1, w)),
    "unbind pieces in a loop": (lambda x, w: _unbound(x * 1, w),
                                lambda x, w: x * w * w),
    "t_ unsqueeze_ squeeze_": (lambda x, w: (x * w).t_().unsqueeze_(0).squeeze_(0) * w.T,
                               lambda x, w: (x * w).T * w.T),
    "column of a transpose": (lambda x, w: _transposed(x * 1, w),
                              lambda x, w: gk.stack([x[:, 0] * w[:, 0], x[:, 1], x[:, 2]], axis=1)),
    "reshape view exp_": (lambda x, w: _reshaped_exp(x * w),
                          lambda x, w: _strided_exp_twin(x * w)),
    "index_add_ (message passing)": (lambda x, w: _zeros((4, 3), x).index_add_(0, _index([0, 3], x), x * w),
                                     lambda x, w: gk.stack([(x * w)[0], _zeros((3,), x), _zeros((3,), x),
                                                            (x * w)[1]])),
    "scatter_add_": (lambda x, w: (x * 1).scatter_add_(1, _index([[0, 2, 2], [1, 1, 0]], x), w),
                     lambda x, w: (x * 1).scatter_add(1, _index([[0, 2, 2], [1, 1, 0]], x), w)),
    "addcmul_ lerp_": (lambda x, w: (x * 1).addcmul_(w, w, value=0.5).lerp_(w, 0.25),
                       lambda x, w: (x * 1).addcmul(w, w, value=0.5).lerp(w, 0.25)),
    "copy_ of an operand": (lambda x, w: _zeros((2, 3), x).copy_(w[0] * x),
                            lambda x, w: gk.broadcast_to(w[0], (2, 3)) * x),
    "fill_ with a one-element tensor": (lambda x, w: (x * 1)[0].fill_(w[1, 2]) * 1,
                                        lambda x, w: gk.stack([w[1, 2]] * 3)),
    "zero_ keeps the graph": (lambda x, w: (x * w).zero_() + x,
                              lambda x, w: x + 0 * w),
    "index_put_ accumulate": (lambda x, w: (x * 1).index_put_((_index([0, 1, 0], x),), gk.stack([w[0], w[1], w[1]]),
                                                              accumulate=True),
                              lambda x, w: x + gk.stack([w[0] + w[1], w[1] * 1])),
}


def _iadd(y, v):
    y += v
    return y


def _isub_imul_idiv(y, w):
    y -= w
    y *= w
    y /= w + 2
    return y


def _imul_self(y):
    y *= y
    return y


def _setitem(y, index, value):
    y[index] = value
    return y


def _setitem_add(y, i, v):
    y[i] += v
    return y


def _view_mul(y, w):
    row = y[0]
    row.mul_(w[0])
    return y


def _live_view(y, w):
    first = y[0]
    y.mul_(w)
    return first * y[1]


def _two_views(y, w):
    row, col, other = y[0], y[:, 1], y[1, ::2]
    row.mul_(w[0])
    return gk.stack([col * 2, other * 3, y[0, ::2]]).sum(axis=0)


def _two_views_twin(y, w):
    new = gk.stack([y[0] * w[0], y[1]])
    return gk.stack([new[:, 1] * 2, new[1, ::2] * 3, new[0, ::2]]).sum(axis=0)


def _unbound(y, w):
    for i, piece in enumerate(y.unbind(0)):
        piece.mul_(w[i])
        piece *= w[i]
    return y


def _transposed(y, w):
    t = y.T
    t[0] *= w[:, 0]
    return y


def _reshaped_exp(y):
    every_other = y.reshape(-1)[::2]
    every_other.exp_()
    return y


def _strided_exp_twin(y):
    flat = y.reshape(-1)
    return gk.stack([flat[i].exp() if i % 2 == 0 else flat[i] for i in range(6)]).reshape(2, 3)


def _weights(shape, device):
    return _t(np.random.default_rng(7).uniform(0.5, 1.5, shape), device)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_an_in_place_program_matches_its_out_of_place_twin(device, name):
    inplace, twin = PROGRAMS[name]
    results = []
    for program in (inplace, twin):
        x, w = _rand((2, 3), device, 1), _rand((2, 3), device, 2)
        out = program(x, w)
        (out * _weights(out.shape, device)).sum().backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in (x, w)]
        results.append((out.detach().numpy(), grads))
    (v1, g1), (v2, g2) = results
    np.testing.assert_allclose(v1, v2, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["isub_imul_idiv", "x *= x", "setitem into graph", "view += (x[i] += v)",
                                  "column of a transpose", "reshape view exp_", "index_add_ (message passing)",
                                  "a live view follows its base", "addcmul_ lerp_",
                                  "an overlapping view follows, the others keep theirs"])
def test_an_in_place_program_agrees_with_central_differences(name):
    inplace = PROGRAMS[name][0]
    x, w = _rand((2, 3), None, 3), _rand((2, 3), None, 4)
    assert gk.autograd.gradcheck(inplace, (x, w), eps=1e-6, atol=1e-6)


def test_the_tensor_takes_the_history_and_stays_the_same_object():
    x = _rand((3,), None, 0)
    y = x * 2
    data = y._data
    same = y.relu_()
    assert same is y and y.requires_grad and not y.is_leaf
    assert y._data is data  # written where it was: a NumPy view of it sees the change
    assert y.grad_fn is not None


def test_a_buffer_that_did_not_require_grad_joins_the_graph():
    msg = _rand((5, 3), None, 0)
    out = gk.zeros((3, 3), dtype="float64")
    assert not out.requires_grad
    out.index_add_(0, gk.tensor([0, 1, 0, 2, 1]), msg)
    assert out.requires_grad
    (out * out).sum().backward()
    expected = 2 * out.detach().numpy()[[0, 1, 0, 2, 1]]
    np.testing.assert_allclose(msg.grad.numpy(), expected)


def test_a_leaf_that_requires_grad_and_its_views_are_refused():
    w = _rand((2, 3), None, 0)
    with pytest.raises(AutogradError, match="leaf"):
        w.add_(1)
    with pytest.raises(AutogradError, match="leaf"):
        w[0] += 1
    with pytest.raises(AutogradError, match="leaf"):
        w[0] = 3.0
    with gk.no_grad():
        w.add_(1)  # an optimiser's step


def test_a_saved_value_overwritten_after_the_forward_pass_is_refused_at_backward():
    x = _rand((3,), None, 0)
    y = x + 0
    z = y * y  # saves y
    y.add_(1)
    with pytest.raises(AutogradError, match="modified in place"):
        z.sum().backward()


def test_a_view_saved_by_a_node_is_refused_after_its_base_changes():
    """As PyTorch: out[:, t] = f(out[:, t - 1]) with a matmul saving the view fails at backward."""
    w = _rand((3, 3), None, 0)
    out = gk.zeros((3, 3), dtype="float64")
    out[:, 0] = 1.0
    for t in range(1, 3):
        out[:, t] = (w @ out[:, t - 1]).tanh()
    with pytest.raises(AutogradError, match="modified in place"):
        out.sum().backward()


def test_the_same_loop_with_a_clone_works():
    w = _rand((3, 3), None, 0)
    out = gk.zeros((3, 3), dtype="float64")
    out[:, 0] = 1.0
    for t in range(1, 3):
        out[:, t] = (w @ out[:, t - 1].clone()).tanh()
    out.sum().backward()

    def twin(w):
        cols = [gk.ones(3, dtype="float64")]
        for _ in range(1, 3):
            cols.append((w @ cols[-1]).tanh())
        return gk.stack(cols, axis=1)

    w2 = gk.tensor(w.detach().numpy(), requires_grad=True)
    twin(w2).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), w2.grad.numpy(), rtol=1e-12)


def test_results_of_another_dtype_are_cast_as_pytorch_casts():
    x = gk.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x * 1
    y += _t([1.0, 2.0, 3.0], None, requires_grad=True)  # float64 operand, float32 tensor: stays float32
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    n = gk.zeros(3, dtype="int64")
    with pytest.raises(DTypeError, match="cannot be stored"):
        n += _t([0.5, 1.0, 1.5], None, requires_grad=True)
    assert n.numpy().tolist() == [0, 0, 0]  # nothing written


def test_a_result_that_does_not_fit_is_refused_and_nothing_is_written():
    y = _rand((3,), None, 0) * 1
    before = y.numpy().copy()
    fn = y.grad_fn
    with pytest.raises(ShapeError, match="in-place"):
        y += _rand((2, 3), None, 1)
    np.testing.assert_array_equal(y.numpy(), before)
    assert y.grad_fn is fn


def test_views_know_their_base_and_pickle_without_it():
    x = gk.zeros((2, 3))
    row = x[1]
    assert row._base is x and x._base is None
    assert row[0:2]._base is x  # a view of a view: the tensor that owns the memory
    copy = pickle.loads(pickle.dumps(row))
    assert copy._base is None
    np.testing.assert_array_equal(copy.numpy(), row.numpy())
    assert pickle.loads(pickle.dumps(x))._base is None


def test_gradients_do_not_change_when_nothing_requires_grad():
    y = gk.zeros(3)
    y += gk.ones(3)
    y[0] = 5.0
    assert not y.requires_grad and y.grad_fn is None
    assert y.numpy().tolist() == [5.0, 1.0, 1.0]


def test_retain_grad_follows_the_new_values():
    """As PyTorch: y.retain_grad(); y.relu_(); backward gives y.grad for the new y."""
    x = _t([1.0, -2.0, 3.0], None, requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.relu_()
    (y * 3).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 0.0, 6.0])
    z = x * 1
    z.retain_grad()
    z[0].mul_(5)  # through a view: the base's retained gradient follows too
    z.sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, 1.0, 1.0])

"""F.ctc_loss / nn.CTCLoss, F.embedding_bag / nn.EmbeddingBag, F.multilabel_margin_loss / nn.MultiLabelMarginLoss,
F.triplet_margin_with_distance_loss / nn.TripletMarginWithDistanceLoss and nn.AdaptiveLogSoftmaxWithLoss.

Closed forms in float64 (a one-label CTC sequence by hand, bags and margins by loops), gk.gradcheck against
central differences (first order; second order for CTC through its composed path), reductions, argument errors
and, where torch is importable, value and gradient parity with it.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit import nn
from gradkit.nn import functional as F


def _t(data, device: str, grad: bool = False, dtype: str | None = "float64"):
    arr = np.array(data, dtype=dtype) if dtype is not None else np.array(data)
    return gk.tensor(arr, device=device, requires_grad=grad)


def _ints(data, device: str):
    return gk.tensor(np.array(data, dtype=np.int64), device=device)


def _log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    m = z.max(axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis, keepdims=True))


# ================================================================== ctc_loss
def test_ctc_one_label_by_hand(device):
    # T = 2, classes {blank, a}, target "a": the alignments are (a, a), (blank, a) and (a, blank)
    lp = _log_softmax(np.random.default_rng(0).standard_normal((2, 1, 2)))
    y = np.exp(lp[:, 0])
    p = y[0, 1] * y[1, 1] + y[0, 0] * y[1, 1] + y[0, 1] * y[1, 0]
    x = _t(lp, device, grad=True)
    loss = F.ctc_loss(x, _ints([[1]], device), [2], [1], reduction="none")
    np.testing.assert_allclose(loss.numpy(), [-math.log(p)], rtol=1e-14)
    loss.sum().backward()
    # d(-log p)/d log y[t, c] = -(the probability of the alignments through (t, c)) / p
    expected = -np.array([[y[0, 0] * y[1, 1], y[0, 1] * (y[1, 1] + y[1, 0])],
                          [y[0, 1] * y[1, 0], y[1, 1] * (y[0, 1] + y[0, 0])]]) / p
    np.testing.assert_allclose(x.grad.numpy()[:, 0], expected, rtol=1e-13)
    # one step: p = y(a); a repeated label needs a blank between: "aa" in 2 steps is impossible
    one = F.ctc_loss(_t(lp[:1], device), _ints([[1]], device), [1], [1], reduction="sum")
    assert one.item() == pytest.approx(-lp[0, 0, 1])
    assert F.ctc_loss(_t(lp, device), _ints([[1, 1]], device), [2], [2], reduction="sum").item() == math.inf


def _ctc_case(seed: int = 1):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((6, 4, 5))
    targets = np.array([[1, 1, 2], [3, 4, 0], [2, 0, 0], [4, 4, 4]])
    il, tl = np.array([6, 5, 3, 6]), np.array([3, 2, 1, 3])
    return z, targets, il, tl


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_gradients(device, reduction):
    z, targets, il, tl = _ctc_case()
    x = _t(z, device, grad=True)  # raw scores as log_probs: the gradient is the loss's own derivative
    assert gk.gradcheck(lambda a: F.ctc_loss(a, _ints(targets, device), il, tl, reduction=reduction), (x,))
    concatenated = np.concatenate([row[:n] for row, n in zip(targets, tl, strict=True)])
    a = F.ctc_loss(x, _ints(targets, device), il, tl, reduction=reduction).numpy()
    b = F.ctc_loss(x, _ints(concatenated, device), _ints(il, device), _ints(tl, device), reduction=reduction).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-15)
    per = F.ctc_loss(x, _ints(targets, device), il, tl, reduction="none").numpy()
    expected = {"none": per, "sum": per.sum(), "mean": (per / np.maximum(tl, 1)).mean()}[reduction]
    np.testing.assert_allclose(a, expected, rtol=1e-14)


def test_ctc_second_order_and_recorded_first_order(device):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((4, 2, 3))
    targets, il, tl = np.array([[1, 2], [2, 2]]), [4, 4], [2, 1]

    def loss(a):
        return F.ctc_loss(F.log_softmax(a, 2), _ints(targets, device), il, tl, blank=0)

    x = _t(z, device, grad=True)
    loss(x).backward()
    plain = x.grad.numpy()
    (recorded,) = gk.autograd.grad(loss(x), x, create_graph=True)  # the composed path's VJP
    np.testing.assert_allclose(recorded.numpy(), plain, rtol=1e-12, atol=1e-14)
    assert gk.gradcheck(lambda a: gk.grad(loss)(a), (x,))


def test_ctc_blank_lengths_and_unbatched(device):
    z, targets, il, tl = _ctc_case(3)
    lp = _log_softmax(z, 2)
    x = _t(lp, device)
    # another blank: relabel the classes so that blank 3 plays the role of 0
    perm = np.array([3, 1, 2, 0, 4])
    relabelled = F.ctc_loss(_t(lp[..., perm], device), _ints(perm[targets], device), il, tl, blank=3,
                            reduction="none")
    np.testing.assert_allclose(relabelled.numpy(), F.ctc_loss(x, _ints(targets, device), il, tl,
                                                              reduction="none").numpy(), rtol=1e-13)
    # unbatched (T, C): a 0-d loss, the batched value of its one sequence
    single = F.ctc_loss(_t(lp[:, 1], device), _ints(targets[1, :2], device), 5, 2, reduction="none")
    assert single.shape == ()
    batched = F.ctc_loss(_t(lp[:, 1:2], device), _ints(targets[1:2], device), [5], [2], reduction="none")
    np.testing.assert_allclose(single.numpy(), batched.numpy()[0], rtol=1e-15)
    # steps past a sequence's length get no gradient; an empty target on an empty input costs nothing
    xg = _t(lp, device, grad=True)
    F.ctc_loss(xg, _ints(targets, device), il, tl, reduction="sum").backward()
    np.testing.assert_array_equal(xg.grad.numpy()[3:, 2], 0.0)
    empty = F.ctc_loss(x, _ints(targets, device), [6, 0, 3, 6], [3, 0, 1, 3], reduction="none").numpy()
    assert empty[1] == 0.0


def test_ctc_zero_infinity(device):
    lp = _log_softmax(np.random.default_rng(4).standard_normal((3, 2, 3)), 2)
    targets, il, tl = np.array([[1, 1, 1], [1, 2, 0]]), [3, 3], [3, 2]  # "aaa" needs 5 steps
    x = _t(lp, device, grad=True)
    loss = F.ctc_loss(x, _ints(targets, device), il, tl, reduction="none")
    assert loss.numpy()[0] == math.inf and np.isfinite(loss.numpy()[1])
    loss.sum().backward()
    assert np.isnan(x.grad.numpy()[:, 0]).all() and np.isfinite(x.grad.numpy()[:, 1]).all()  # PyTorch's NaN
    x.grad = None
    zeroed = F.ctc_loss(x, _ints(targets, device), il, tl, reduction="sum", zero_infinity=True)
    assert zeroed.item() == pytest.approx(loss.numpy()[1])
    zeroed.backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 0], 0.0)
    assert np.isfinite(x.grad.numpy()).all()


def test_ctc_module_and_errors(device):
    z, targets, il, tl = _ctc_case(5)
    x = _t(_log_softmax(z, 2), device)
    module = nn.CTCLoss(blank=0, reduction="sum", zero_infinity=True)
    assert repr(module) == "CTCLoss(blank=0, reduction='sum', zero_infinity=True)"
    np.testing.assert_allclose(module(x, _ints(targets, device), il, tl).numpy(),
                               F.ctc_loss(x, _ints(targets, device), il, tl, reduction="sum",
                                          zero_infinity=True).numpy())
    t = _ints(targets, device)
    with pytest.raises(gk.InvalidArgumentError, match="at most T"):
        F.ctc_loss(x, t, [7, 5, 3, 6], tl)
    with pytest.raises(gk.ShapeError, match="one length per sequence"):
        F.ctc_loss(x, t, il[:3], tl)
    with pytest.raises(gk.ShapeError, match="shorter"):
        F.ctc_loss(x, t, il, [4, 2, 1, 3])
    with pytest.raises(gk.ShapeError, match="sum"):
        F.ctc_loss(x, _ints([1, 2, 3], device), il, tl)
    with pytest.raises(gk.DTypeError, match="integer"):
        F.ctc_loss(x, _t(targets, device), il, tl)
    with pytest.raises(gk.DTypeError, match="integers"):
        F.ctc_loss(x, t, np.array(il, dtype=float), tl)
    with pytest.raises(gk.IndexOutOfRangeError, match="blank"):
        F.ctc_loss(x, t, il, tl, blank=5)
    with pytest.raises(gk.ShapeError, match="T, N, C"):
        F.ctc_loss(_t(z[0, 0], device), t, il, tl)
    with pytest.raises(gk.InvalidArgumentError, match="reduction"):
        F.ctc_loss(x, t, il, tl, reduction="batchmean")
    with pytest.raises(gk.DTypeError, match="float32 or float64"):
        F.ctc_loss(x.astype(gk.float16), t, il, tl)
    if device == "cpu":  # target values are read on the CPU only
        with pytest.raises(gk.IndexOutOfRangeError, match="target 7"):
            F.ctc_loss(x, _ints([[1, 7, 2], [3, 4, 0], [2, 0, 0], [4, 4, 4]], device), il, tl)


# ================================================================== embedding_bag
def _bags_by_hand(weight, inp, offsets, mode, psw=None, padding_idx=None, last=False):
    n = len(inp)
    starts = list(offsets[:-1] if last else offsets)
    ends = list(offsets[1:]) if last else list(offsets[1:]) + [n]
    out = []
    for s, e in zip(starts, ends, strict=True):
        rows = [(weight[inp[j]] * (1.0 if psw is None else psw[j])) for j in range(s, e) if inp[j] != padding_idx]
        if not rows:
            out.append(np.zeros(weight.shape[1]))
        elif mode == "sum":
            out.append(np.sum(rows, 0))
        elif mode == "mean":
            out.append(np.mean(rows, 0))
        else:
            out.append(np.max(rows, 0))
    return np.array(out)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_closed_forms(device, mode):
    rng = np.random.default_rng(6)
    weight = rng.standard_normal((7, 3))
    inp = np.array([1, 2, 4, 5, 4, 3, 2, 0, 6, 6, 1])
    w = _t(weight, device)
    for offsets, last, pad in (([0, 3, 3, 7], False, None), ([0, 3, 3, 7, 9], True, None), ([0, 5], False, 4),
                               ([0, 2, 4], False, 6)):
        out = F.embedding_bag(_ints(inp, device), w, _ints(offsets, device), mode=mode, include_last_offset=last,
                              padding_idx=pad)
        np.testing.assert_allclose(out.numpy(), _bags_by_hand(weight, inp, offsets, mode, None, pad, last),
                                   rtol=1e-14, atol=1e-15)
    rows = rng.integers(0, 7, (3, 4))  # 2-D input: a bag per row
    out = F.embedding_bag(_ints(rows, device), w, mode=mode).numpy()
    np.testing.assert_allclose(out, _bags_by_hand(weight, rows.ravel(), [0, 4, 8], mode), rtol=1e-14)
    if mode == "sum":
        psw = rng.standard_normal(inp.shape)
        out = F.embedding_bag(_ints(inp, device), w, _ints([0, 4], device), mode="sum",
                              per_sample_weights=_t(psw, device)).numpy()
        np.testing.assert_allclose(out, _bags_by_hand(weight, inp, [0, 4], "sum", psw), rtol=1e-14)


def test_embedding_bag_gradients(device):
    rng = np.random.default_rng(7)
    w = _t(rng.standard_normal((6, 3)), device, grad=True)
    psw = _t(rng.standard_normal(9), device, grad=True)
    inp, off = _ints([1, 2, 4, 5, 4, 3, 2, 0, 1], device), _ints([0, 3, 3, 6], device)
    assert gk.gradcheck(lambda a, b: F.embedding_bag(inp, a, off, mode="sum", per_sample_weights=b), (w, psw))
    assert gk.gradcheck(lambda a: F.embedding_bag(inp, a, off, mode="mean", padding_idx=4), (w,))
    assert gk.gradcheck(lambda a: F.embedding_bag(inp, a, off, mode="max"), (w,))
    assert gk.gradcheck(lambda a, b: gk.grad(lambda u, v: (F.embedding_bag(inp, u, off, mode="sum",
                                                                           per_sample_weights=v) ** 2).sum(),
                                             argnums=(0, 1))(a, b), (w, psw))
    # padding_idx's row gets no gradient; max passes it to the first maximum of a tie
    w.grad = None
    F.embedding_bag(inp, w, off, mode="mean", padding_idx=4).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[4], 0.0)
    tie = _t([[1.0, 2.0], [1.0, 3.0]], device, grad=True)
    F.embedding_bag(_ints([1, 0, 1], device), tie, _ints([0], device), mode="max").sum().backward()
    np.testing.assert_array_equal(tie.grad.numpy(), [[0.0, 0.0], [1.0, 1.0]])


def test_embedding_bag_scale_grad_by_freq_and_max_norm(device):
    w = _t([[1.0, 2.0], [1.0, 3.0], [0.0, 0.0]], device, grad=True)
    out = F.embedding_bag(_ints([1, 0, 1, 2], device), w, _ints([0, 2], device), mode="mean", scale_grad_by_freq=True,
                          padding_idx=2)
    out.sum().backward()
    # row 1 appears twice: (1/2 from bag 0 + 1 from bag 1) / 2; row 0 once: 1/2
    np.testing.assert_allclose(w.grad.numpy(), [[0.5, 0.5], [0.75, 0.75], [0.0, 0.0]])
    big = _t([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]], device, grad=True)
    version = big._version[0]
    F.embedding_bag(_ints([0, 1], device), big, _ints([0], device), max_norm=1.0, mode="sum")
    np.testing.assert_allclose(big.numpy(), [[0.6, 0.8], [0.3, 0.4], [6.0, 8.0]], rtol=1e-6)  # row 2 not picked
    assert big._version[0] > version


def test_embedding_bag_errors(device):
    w = _t(np.zeros((5, 2)), device)
    inp, off = _ints([1, 2, 3], device), _ints([0, 2], device)
    with pytest.raises(gk.InvalidArgumentError, match="sparse"):
        F.embedding_bag(inp, w, off, sparse=True)
    with pytest.raises(gk.InvalidArgumentError, match="mode='sum'"):
        F.embedding_bag(inp, w, off, mode="mean", per_sample_weights=_t(np.ones(3), device))
    with pytest.raises(gk.ShapeError, match="input's shape"):
        F.embedding_bag(inp, w, off, mode="sum", per_sample_weights=_t(np.ones(2), device))
    with pytest.raises(gk.InvalidArgumentError, match="offsets must be None"):
        F.embedding_bag(_ints([[1, 2]], device), w, off)
    with pytest.raises(gk.ArgumentTypeError, match="offsets"):
        F.embedding_bag(inp, w)
    with pytest.raises(gk.InvalidArgumentError, match="mode"):
        F.embedding_bag(inp, w, off, mode="min")
    with pytest.raises(gk.InvalidArgumentError, match="scale_grad_by_freq"):
        F.embedding_bag(inp, w, off, mode="max", scale_grad_by_freq=True)
    with pytest.raises(gk.IndexOutOfRangeError, match="padding_idx"):
        F.embedding_bag(inp, w, off, padding_idx=5)
    with pytest.raises(gk.DTypeError):
        F.embedding_bag(_t([1.0, 2.0], device), w, off)
    with pytest.raises(gk.ShapeError, match="2-D"):
        F.embedding_bag(inp, _t(np.zeros(5), device), off)
    if device == "cpu":  # offsets and indices are read on the CPU only
        with pytest.raises(gk.InvalidArgumentError, match="offsets\\[0\\]"):
            F.embedding_bag(inp, w, _ints([1, 2], device))
        with pytest.raises(gk.InvalidArgumentError, match="non-decreasing"):
            F.embedding_bag(inp, w, _ints([0, 2, 1], device))
        with pytest.raises(gk.InvalidArgumentError, match="exceed"):
            F.embedding_bag(inp, w, _ints([0, 4], device))
        with pytest.raises(gk.IndexOutOfRangeError):
            F.embedding_bag(_ints([1, 9], device), w, off)


def test_embedding_bag_module(device):
    gk.manual_seed(0)
    bag = nn.EmbeddingBag(6, 3, mode="max", padding_idx=-1, device=device, dtype=gk.float64)
    assert repr(bag) == "EmbeddingBag(6, 3, mode='max', padding_idx=5)"
    np.testing.assert_array_equal(bag.weight.numpy()[5], 0.0)
    assert list(bag.state_dict()) == ["weight"]
    inp, off = _ints([1, 5, 2, 3], device), _ints([0, 2], device)
    np.testing.assert_array_equal(bag(inp, off).numpy(), F.embedding_bag(inp, bag.weight, off, mode="max",
                                                                         padding_idx=5).numpy())
    emb = _t(np.arange(12.0).reshape(4, 3), device)
    frozen = nn.EmbeddingBag.from_pretrained(emb, mode="sum")
    assert frozen.weight._data is emb._data and not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(_ints([[0, 1], [2, 3]], device)).numpy(), [[3, 5, 7], [15, 17, 19]])
    assert nn.EmbeddingBag.from_pretrained(emb, freeze=False).weight.requires_grad
    with pytest.raises(gk.InvalidArgumentError, match="sparse"):
        nn.EmbeddingBag(4, 2, sparse=True)


# ================================================================== multilabel_margin_loss
def _multilabel_by_hand(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    out = []
    for row, labels in zip(x, t, strict=True):
        targets = []
        for v in labels:
            if v == -1:
                break
            targets.append(v)
        total = 0.0
        for j in targets:
            for i in range(len(row)):
                if i not in targets:
                    total += max(0.0, 1 - (row[j] - row[i]))
        out.append(total / len(row))
    return np.array(out)


def test_multilabel_margin_loss(device):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 5))
    t = np.array([[3, 0, -1, 1, 2], [1, 1, 4, -1, -1], [-1, 2, 3, 0, 0], [0, 1, 2, 3, 4]])
    per = _multilabel_by_hand(x, t)
    xt = _t(x, device, grad=True)
    for reduction, expected in (("none", per), ("sum", per.sum()), ("mean", per.mean())):
        np.testing.assert_allclose(F.multilabel_margin_loss(xt, _ints(t, device), reduction=reduction).numpy(),
                                   expected, rtol=1e-14)
    assert gk.gradcheck(lambda a: F.multilabel_margin_loss(a, _ints(t, device), reduction="none"), (xt,))
    one = F.multilabel_margin_loss(_t(x[0], device), _ints(t[0], device), reduction="none")
    assert one.shape == () and one.item() == pytest.approx(per[0])
    module = nn.MultiLabelMarginLoss(reduction="sum")
    assert module(xt, _ints(t, device)).item() == pytest.approx(per.sum())
    with pytest.warns(UserWarning, match="deprecated"):
        legacy = F.multilabel_margin_loss(xt, _ints(t, device), False)
    assert legacy.item() == pytest.approx(per.sum())
    with pytest.raises(gk.ArgumentTypeError, match="reduction="):
        F.multilabel_margin_loss(xt, _ints(t, device), "sum")
    with pytest.raises(gk.ShapeError, match="input's shape"):
        F.multilabel_margin_loss(xt, _ints(t[:, :3], device))
    with pytest.raises(gk.DTypeError):
        F.multilabel_margin_loss(xt, _t(t, device))
    with pytest.raises(gk.ShapeError):
        F.multilabel_margin_loss(_t(np.zeros((2, 2, 2)), device), _ints(np.zeros((2, 2, 2)), device))
    if device == "cpu":
        with pytest.raises(gk.IndexOutOfRangeError, match="target"):
            F.multilabel_margin_loss(xt, _ints(t + 1, device))


# ================================================================== triplet_margin_with_distance_loss
def test_triplet_margin_with_distance_loss(device):
    rng = np.random.default_rng(9)
    a, p, n = (_t(rng.standard_normal((5, 4)), device, grad=True) for _ in range(3))
    for swap in (False, True):
        np.testing.assert_allclose(
            F.triplet_margin_with_distance_loss(a, p, n, margin=0.7, swap=swap).numpy(),
            F.triplet_margin_loss(a, p, n, margin=0.7, swap=swap).numpy(), rtol=1e-15)

    def cosine(u, v):
        return 1 - F.cosine_similarity(u, v)

    loss = F.triplet_margin_with_distance_loss(a, p, n, distance_function=cosine, margin=0.5, reduction="none")
    expected = np.maximum(0.5 + cosine(a, p).numpy() - cosine(a, n).numpy(), 0)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-14)
    assert gk.gradcheck(lambda u, v, w: F.triplet_margin_with_distance_loss(u, v, w, distance_function=cosine,
                                                                            margin=0.5, swap=True), (a, p, n))
    module = nn.TripletMarginWithDistanceLoss(distance_function=cosine, margin=0.5, reduction="sum")
    assert module(a, p, n).item() == pytest.approx(expected.sum())
    assert repr(nn.TripletMarginWithDistanceLoss()) == ("TripletMarginWithDistanceLoss(reduction='mean', margin=1.0, "
                                                        "swap=False)")
    with pytest.raises(gk.InvalidArgumentError, match="margin"):
        F.triplet_margin_with_distance_loss(a, p, n, margin=0.0)
    with pytest.raises(gk.ShapeError, match="number of dimensions"):
        F.triplet_margin_with_distance_loss(a, p, n[0])
    with pytest.raises(gk.ArgumentTypeError, match="callable"):
        nn.TripletMarginWithDistanceLoss(distance_function=3)
    with pytest.raises(TypeError):
        F.triplet_margin_with_distance_loss(a, p, n, None)  # keyword-only, as PyTorch


# ================================================================== AdaptiveLogSoftmaxWithLoss
def test_adaptive_log_softmax(device):
    gk.manual_seed(1)
    model = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7], div_value=2.0, head_bias=True, device=device,
                                          dtype=gk.float64)
    assert sorted(model.state_dict()) == ["head.bias", "head.weight", "tail.0.0.weight", "tail.0.1.weight",
                                          "tail.1.0.weight", "tail.1.1.weight"]
    rng = np.random.default_rng(10)
    x = _t(rng.standard_normal((6, 8)), device, grad=True)
    target = np.array([0, 5, 11, 2, 7, 4])
    out = model(x, _ints(target, device))
    assert type(out).__name__ == "_ASMoutput" and out._fields == ("output", "loss")
    full = model.log_prob(x).numpy()
    assert full.shape == (6, 12)
    np.testing.assert_allclose(np.log(np.exp(full).sum(1)), 0.0, atol=1e-13)  # a distribution per row
    np.testing.assert_allclose(out.output.numpy(), full[np.arange(6), target], rtol=1e-13)
    assert out.loss.item() == pytest.approx(-full[np.arange(6), target].mean())
    np.testing.assert_array_equal(model.predict(x).numpy(), full.argmax(1))
    assert gk.gradcheck(lambda a: model(a, _ints(target, device)).loss, (x,))
    single = model(x[2], _ints(11, device))
    assert single.output.shape == () and single.output.item() == pytest.approx(full[2, 11])
    with pytest.raises(gk.IndexOutOfRangeError, match="targets"):
        model(x, _ints([0, 5, 12, 2, 7, 4], device))
    with pytest.raises(gk.ShapeError, match="batch size"):
        model(x, _ints([0, 1], device))
    with pytest.raises(gk.ShapeError, match="0-D target"):
        model(x, _ints(1, device))
    for cutoffs in ([], [3, 3], [7, 3], [0, 4], [3, 12]):
        with pytest.raises(gk.InvalidArgumentError, match="cutoffs"):
            nn.AdaptiveLogSoftmaxWithLoss(8, 12, cutoffs)


# ================================================================== parity with PyTorch (when installed)
def _torch():
    return pytest.importorskip("torch")


def test_ctc_loss_matches_pytorch(device):
    torch = _torch()
    tf = torch.nn.functional
    z, _, il, tl = _ctc_case(11)
    targets = np.array([[1, 1, 2], [3, 2, 0], [2, 0, 0], [3, 3, 3]])  # labels 1 to 3: blank 0 or 4
    il, tl = np.array([6, 5, 0, 2]), np.array([3, 2, 0, 3])  # an empty sequence and an impossible one
    for reduction, zero_inf, blank in itertools.product(("none", "sum", "mean"), (False, True), (0, 4)):
        x = _t(z, device, grad=True)
        loss = F.ctc_loss(F.log_softmax(x, 2), _ints(targets, device), il, tl, blank, reduction, zero_inf)
        loss.sum().backward()
        tx = torch.tensor(z, requires_grad=True)
        ref = tf.ctc_loss(tx.log_softmax(2), torch.tensor(targets), torch.tensor(il), torch.tensor(tl), blank,
                          reduction, zero_inf)
        ref.sum().backward()
        msg = f"{reduction} zero_infinity={zero_inf} blank={blank}"
        np.testing.assert_allclose(loss.numpy(), ref.detach().numpy(), rtol=1e-12, err_msg=msg)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=msg)
    # with log_probs as the leaf, PyTorch's kernel returns the derivative plus exp(log_probs) * grad (within
    # each sequence's length): the gradient with respect to the logits of a log_softmax
    lp = _log_softmax(z, 2)
    il, tl = np.array([6, 5, 3, 6]), np.array([3, 2, 1, 3])
    x = _t(lp, device, grad=True)
    F.ctc_loss(x, _ints(targets, device), il, tl, reduction="sum").backward()
    tx = torch.tensor(lp, requires_grad=True)
    tf.ctc_loss(tx, torch.tensor(targets), torch.tensor(il), torch.tensor(tl), reduction="sum").backward()
    inside = np.arange(6)[:, None, None] < il[None, :, None]
    np.testing.assert_allclose(tx.grad.numpy(), x.grad.numpy() + np.exp(lp) * inside, rtol=1e-10, atol=1e-12)


def test_embedding_bag_matches_pytorch(device):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(12)
    weight = rng.standard_normal((7, 3))
    inp = np.array([1, 2, 4, 5, 4, 3, 2, 0, 6, 6, 1])
    cases = [dict(offsets=[0, 3, 3, 7]), dict(offsets=[0, 3, 3, 7, 11], include_last_offset=True),
             dict(offsets=[0, 5], padding_idx=4), dict(offsets=[0, 2, 4], scale_grad_by_freq=True),
             dict(offsets=[0, 2, 4], padding_idx=-1, scale_grad_by_freq=True)]
    for case, mode in itertools.product(cases, ("sum", "mean", "max")):
        if mode == "max" and case.get("scale_grad_by_freq"):
            continue
        kwargs = {k: v for k, v in case.items() if k != "offsets"}
        for with_psw in (False, True) if mode == "sum" else (False,):
            psw = rng.standard_normal(inp.shape)
            w, p = _t(weight, device, grad=True), _t(psw, device, grad=True)
            out = F.embedding_bag(_ints(inp, device), w, _ints(case["offsets"], device), mode=mode,
                                  per_sample_weights=p if with_psw else None, **kwargs)
            cot = rng.standard_normal(out.shape)
            out.backward(_t(cot, device))
            tw, tp = torch.tensor(weight, requires_grad=True), torch.tensor(psw, requires_grad=True)
            ref = tf.embedding_bag(torch.tensor(inp), tw, torch.tensor(case["offsets"]), mode=mode,
                                   per_sample_weights=tp if with_psw else None, **kwargs)
            ref.backward(torch.tensor(cot))
            msg = f"{case} {mode} psw={with_psw}"
            np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-13, atol=1e-14, err_msg=msg)
            np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-13, atol=1e-14, err_msg=msg)
            if with_psw:
                np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-13, atol=1e-14, err_msg=msg)
    assert repr(nn.EmbeddingBag(5, 3, max_norm=2.0, norm_type=1.0, scale_grad_by_freq=True, padding_idx=1)) == \
        repr(torch.nn.EmbeddingBag(5, 3, max_norm=2.0, norm_type=1.0, scale_grad_by_freq=True, padding_idx=1))


def test_losses_and_adaptive_softmax_match_pytorch(device):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 5))
    t = np.array([[3, 0, -1, 1, 2], [1, 1, 4, -1, -1], [-1, 2, 3, 0, 0], [0, 1, 2, 3, 4]])
    for reduction in ("none", "sum", "mean"):
        a = _t(x, device, grad=True)
        F.multilabel_margin_loss(a, _ints(t, device), reduction=reduction).sum().backward()
        ta = torch.tensor(x, requires_grad=True)
        ref = tf.multilabel_margin_loss(ta, torch.tensor(t), reduction=reduction)
        ref.sum().backward()
        np.testing.assert_allclose(F.multilabel_margin_loss(a, _ints(t, device), reduction=reduction).numpy(),
                                   ref.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-14, atol=1e-15)
    arrays = [rng.standard_normal((5, 4)) for _ in range(3)]
    for swap in (False, True):
        ours = [_t(v, device, grad=True) for v in arrays]
        theirs = [torch.tensor(v, requires_grad=True) for v in arrays]
        F.triplet_margin_with_distance_loss(*ours, distance_function=lambda u, v: 1 - F.cosine_similarity(u, v),
                                            margin=0.6, swap=swap).backward()
        tf.triplet_margin_with_distance_loss(*theirs, distance_function=lambda u, v: 1 - tf.cosine_similarity(u, v),
                                             margin=0.6, swap=swap).backward()
        for o, r in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(o.grad.numpy(), r.grad.numpy(), rtol=1e-12, atol=1e-15)
    model = nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 9, 15], div_value=2.0, head_bias=True, device=device,
                                          dtype=gk.float64)
    tmodel = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 9, 15], div_value=2.0, head_bias=True).double()
    tmodel.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    assert repr(model) == repr(tmodel)
    xs, target = rng.standard_normal((6, 16)), np.array([0, 5, 19, 3, 10, 12])
    a = _t(xs, device, grad=True)
    out = model(a, _ints(target, device))
    out.loss.backward()
    ta = torch.tensor(xs, requires_grad=True)
    ref = tmodel(ta, torch.tensor(target))
    ref.loss.backward()
    np.testing.assert_allclose(out.output.numpy(), ref.output.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-15)
    grads = {k: p.grad.numpy() for k, p in model.named_parameters()}
    for k, p in tmodel.named_parameters():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-12, atol=1e-15, err_msg=k)
    np.testing.assert_allclose(model.log_prob(a).numpy(), tmodel.log_prob(ta).detach().numpy(), rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(model.predict(_t(xs * 5, device)).numpy(),
                                      tmodel.predict(torch.tensor(xs * 5)).numpy())

"""F.affine_grid, F.grid_sample, F.gumbel_softmax, F.pdist, the in-place activations (F.relu_, ...) and the
deprecated F.upsample aliases.

Closed forms in float64 (the identity grid returns the input; pdist against pairwise distances by loops),
gk.gradcheck against central differences (first order, and second order where the function is smooth at the
points checked), argument errors, and, where torch is importable, value and gradient parity with it. The
losses and bags (ctc_loss, embedding_bag, ...) are in test_functional_extra_losses.py.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit.nn import functional as F


def _t(data, device: str, grad: bool = False, dtype: str = "float64"):
    return gk.tensor(np.asarray(data, dtype=dtype), device=device, requires_grad=grad)


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _identity_theta(n: int, k: int) -> np.ndarray:
    return np.broadcast_to(np.eye(k, k + 1), (n, k, k + 1)).copy()


# ================================================================== affine_grid
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_closed_form(device, align):
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((2, 2, 3))
    grid = F.affine_grid(_t(theta, device), (2, 3, 4, 5), align_corners=align).numpy()
    assert grid.shape == (2, 4, 5, 2)

    def centres(n):
        r = np.linspace(-1, 1, n)
        return r if align else r * (n - 1) / n

    xs, ys = centres(5), centres(4)
    for b in range(2):
        for h, w in itertools.product(range(4), range(5)):
            expected = theta[b] @ np.array([xs[w], ys[h], 1.0])
            np.testing.assert_allclose(grid[b, h, w], expected, rtol=1e-14, atol=1e-15)


def test_affine_grid_3d_and_unit_sizes(device):
    theta = _identity_theta(1, 3)
    grid = F.affine_grid(_t(theta, device), (1, 2, 3, 1, 4), align_corners=False).numpy()
    assert grid.shape == (1, 3, 1, 4, 3)
    np.testing.assert_allclose(grid[0, :, 0, 0, 2], [-2 / 3, 0, 2 / 3], atol=1e-15)  # z along D
    np.testing.assert_array_equal(grid[0, 0, 0, :, 1], 0.0)  # a single pixel sits at 0
    with pytest.warns(UserWarning, match="spatial size of 1"):
        F.affine_grid(_t(theta, device), (1, 2, 3, 1, 4), align_corners=True)


def test_affine_grid_gradient(device):
    theta = _t(np.random.default_rng(1).standard_normal((2, 2, 3)), device, grad=True)
    assert gk.gradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 4), align_corners=False), (theta,))
    theta3 = _t(np.random.default_rng(2).standard_normal((1, 3, 4)), device, grad=True)
    assert gk.gradcheck(lambda t: F.affine_grid(t, (1, 1, 2, 3, 2), align_corners=True), (theta3,))


def test_affine_grid_errors_and_warning(device):
    theta = _t(_identity_theta(2, 2), device)
    with pytest.warns(UserWarning, match="align_corners=None"):
        F.affine_grid(theta, (2, 1, 3, 3))
    with pytest.raises(gk.ShapeError, match="theta"):
        F.affine_grid(theta, (2, 1, 3, 3, 3), align_corners=False)
    with pytest.raises(gk.ShapeError, match="4 entries"):
        F.affine_grid(theta, (2, 3, 3), align_corners=False)
    with pytest.raises(gk.ShapeError, match="batch of 3"):
        F.affine_grid(theta, (3, 1, 3, 3), align_corners=False)
    with pytest.raises(gk.ShapeError, match="positive"):
        F.affine_grid(theta, (2, 1, 0, 3), align_corners=False)
    with pytest.raises(gk.DTypeError, match="float"):
        F.affine_grid(gk.tensor(np.zeros((2, 2, 3), dtype=np.int64), device=device), (2, 1, 3, 3), align_corners=False)
    with pytest.raises(gk.ArgumentTypeError, match="size"):
        F.affine_grid(theta, 5, align_corners=False)


# ================================================================== grid_sample
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [True, False])
def test_identity_grid_returns_the_input(device, mode, padding, align):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    grid = F.affine_grid(_t(_identity_theta(2, 2), device), (2, 3, 4, 5), align_corners=align)
    out = F.grid_sample(_t(x, device), grid, mode, padding, align).numpy()
    np.testing.assert_allclose(out, x, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_identity_grid_returns_the_input_3d(device, mode):
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 4, 2))
    grid = F.affine_grid(_t(_identity_theta(1, 3), device), (1, 2, 3, 4, 2), align_corners=True)
    out = F.grid_sample(_t(x, device), grid, mode, "zeros", True).numpy()
    np.testing.assert_allclose(out, x, rtol=1e-13, atol=1e-13)


def test_grid_sample_closed_forms(device):
    x = np.arange(12.0).reshape(1, 1, 3, 4)  # value = 4 y + x at pixel (y, x)
    # align_corners=True: pixel (y, x) is at ((2x / 3) - 1, (2y / 2) - 1); bilinear is exact for a linear image
    pts = np.array([[[[0.1, -0.3], [-1.0, -1.0], [1.0, 1.0], [0.5, 0.25]]]])
    out = F.grid_sample(_t(x, device), _t(pts, device), "bilinear", "zeros", True).numpy().ravel()
    px, py = (pts[..., 0] + 1) / 2 * 3, (pts[..., 1] + 1) / 2 * 2
    np.testing.assert_allclose(out, (4 * py + px).ravel(), rtol=1e-14)
    # outside the image: zeros pads with 0, border clamps, reflection mirrors
    far = _t([[[[1.5, 0.0]]]], device)  # x = 3.75 pixels, row y = 1: a quarter of pixel (1, 3) and 3/4 outside
    assert F.grid_sample(_t(x, device), far, "bilinear", "zeros", True).item() == pytest.approx(0.25 * 7)
    assert F.grid_sample(_t(x, device), far, "bilinear", "border", True).item() == pytest.approx(7.0)
    assert F.grid_sample(_t(x, device), far, "bilinear", "reflection", True).item() == pytest.approx(4 + 2.25)


@pytest.mark.parametrize("mode,padding", [("bilinear", "zeros"), ("bilinear", "border"), ("bilinear", "reflection"),
                                          ("bicubic", "zeros"), ("bicubic", "border"), ("bicubic", "reflection")])
def test_grid_sample_gradients(device, mode, padding):
    rng = np.random.default_rng(5)
    x = _t(rng.standard_normal((1, 2, 3, 4)), device, grad=True)
    g = _t(rng.uniform(-1.3, 1.3, (1, 2, 3, 2)), device, grad=True)
    assert gk.gradcheck(lambda a, b: F.grid_sample(a, b, mode, padding, False), (x, g))


def test_grid_sample_second_order_and_3d(device):
    rng = np.random.default_rng(6)
    x = _t(rng.standard_normal((1, 1, 3, 3)), device, grad=True)
    g = _t(rng.uniform(-0.9, 0.9, (1, 2, 2, 2)), device, grad=True)

    def first(a, b):
        return gk.grad(lambda u, v: (F.grid_sample(u, v, "bilinear", "zeros", True) ** 2).sum(), argnums=(0, 1))(a, b)

    assert gk.gradcheck(first, (x, g))
    x3 = _t(rng.standard_normal((1, 2, 2, 3, 2)), device, grad=True)
    g3 = _t(rng.uniform(-1.2, 1.2, (1, 2, 1, 2, 3)), device, grad=True)
    for padding in ("zeros", "border", "reflection"):
        assert gk.gradcheck(lambda a, b, p=padding: F.grid_sample(a, b, "bilinear", p, False), (x3, g3))


def test_grid_sample_nearest_gradients(device):
    rng = np.random.default_rng(7)
    x = _t(rng.standard_normal((1, 2, 3, 3)), device, grad=True)
    g = _t(rng.uniform(-1.1, 1.1, (1, 2, 2, 2)), device, grad=True)
    assert gk.gradcheck(lambda a: F.grid_sample(a, g, "nearest", "reflection", False), (x,))
    F.grid_sample(x, g, "nearest", "zeros", False).sum().backward()
    np.testing.assert_array_equal(g.grad.numpy(), 0.0)  # PyTorch's: zeros, not None


def test_grid_sample_padding_slopes_are_pytorchs(device):
    # border: the gradient is 0 where the position is clipped, and at the border itself
    x = _t(np.arange(4.0).reshape(1, 1, 1, 4), device)
    g = _t([[[[1.5, 0.0], [1.0, 0.0], [0.2, 0.0]]]], device, grad=True)
    F.grid_sample(x, g, "bilinear", "border", True).sum().backward()
    np.testing.assert_allclose(g.grad.numpy()[0, 0, :, 0], [0.0, 0.0, 1.5])
    # reflection flips the slope beyond the border
    g2 = _t([[[[1.2, 0.0], [-1.2, 0.0]]]], device, grad=True)
    out = F.grid_sample(x, g2, "bilinear", "reflection", True)
    np.testing.assert_allclose(out.numpy().ravel(), [2.7, 0.3], atol=1e-14)
    out.sum().backward()
    np.testing.assert_allclose(g2.grad.numpy()[0, 0, :, 0], [-1.5, -1.5], atol=1e-14)


def test_grid_sample_errors(device):
    x = _t(np.zeros((1, 2, 3, 3)), device)
    g = _t(np.zeros((1, 2, 2, 2)), device)
    with pytest.raises(gk.InvalidArgumentError, match="mode"):
        F.grid_sample(x, g, "linear", align_corners=False)
    with pytest.raises(gk.InvalidArgumentError, match="padding_mode"):
        F.grid_sample(x, g, padding_mode="circular", align_corners=False)
    with pytest.raises(gk.InvalidArgumentError, match="bicubic"):
        F.grid_sample(_t(np.zeros((1, 1, 2, 2, 2)), device), _t(np.zeros((1, 1, 1, 1, 3)), device), "bicubic",
                      align_corners=False)
    with pytest.raises(gk.ShapeError, match="does not fit"):
        F.grid_sample(x, _t(np.zeros((2, 2, 2, 2)), device), align_corners=False)
    with pytest.raises(gk.ShapeError, match="does not fit"):
        F.grid_sample(x, _t(np.zeros((1, 2, 2, 3)), device), align_corners=False)
    with pytest.raises(gk.ShapeError, match="4-D"):
        F.grid_sample(_t(np.zeros((2, 3, 3)), device), g, align_corners=False)
    with pytest.raises(gk.DTypeError, match="same dtype"):
        F.grid_sample(x, g.astype(gk.float32), align_corners=False)
    with pytest.raises(gk.ShapeError, match="non-empty"):
        F.grid_sample(_t(np.zeros((1, 2, 0, 3)), device), g, align_corners=False)
    with pytest.warns(UserWarning, match="align_corners=None"):
        F.grid_sample(x, g)


def test_grid_sample_extreme_positions_are_finite(device):
    x = _t(np.ones((1, 1, 2, 2)), device)
    g = _t([[[[1e30, 0.0], [-1e30, 0.0]]]], device)
    for padding in ("zeros", "border", "reflection"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no NumPy cast warnings
            out = F.grid_sample(x, g, "bilinear", padding, False).numpy()
        assert np.isfinite(out).all()


# ================================================================== gumbel_softmax
def test_gumbel_softmax(device):
    logits = _t(np.log([[0.2, 0.5, 0.3]] * 4000), device, grad=True)
    gk.manual_seed(11)
    soft = F.gumbel_softmax(logits, tau=0.5)
    gk.manual_seed(11)
    again = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_array_equal(soft.numpy(), again.numpy())  # gradkit's seeded generator
    np.testing.assert_allclose(soft.numpy().sum(1), 1.0, rtol=1e-12)
    # the argmax of logits + Gumbel noise is a sample of softmax(logits)
    counts = np.bincount(soft.numpy().argmax(1), minlength=3) / 4000
    np.testing.assert_allclose(counts, [0.2, 0.5, 0.3], atol=0.03)
    gk.manual_seed(11)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    h = hard.numpy()
    assert set(np.unique(h)) <= {0.0, 1.0} or np.allclose(h, np.round(h))
    np.testing.assert_array_equal(h.argmax(1), soft.numpy().argmax(1))
    # straight through: the hard sample's gradient is the soft sample's
    w = _t(np.random.default_rng(12).standard_normal((4000, 3)), device)
    (g_hard,) = gk.autograd.grad((hard * w).sum(), logits)
    (g_soft,) = gk.autograd.grad((soft * w).sum(), logits)
    np.testing.assert_allclose(g_hard.numpy(), g_soft.numpy(), rtol=1e-12, atol=1e-14)


def test_gumbel_softmax_gradient(device):
    logits = _t(np.random.default_rng(19).standard_normal((3, 4)), device, grad=True)

    def sample(a):  # the same noise at every evaluation: a smooth function of the logits
        gk.manual_seed(5)
        return F.gumbel_softmax(a, tau=0.7)

    assert gk.gradcheck(sample, (logits,))
    assert gk.gradcheck(lambda a: gk.grad(lambda z: (sample(z) ** 2).sum())(a), (logits,))


def test_gumbel_softmax_dim_and_errors(device):
    x = _t(np.zeros((2, 3, 4)), device)
    assert np.allclose(F.gumbel_softmax(x, dim=1).numpy().sum(1), 1.0)
    with pytest.warns(UserWarning, match="eps"):
        F.gumbel_softmax(x, eps=1e-5)
    with pytest.raises(gk.InvalidArgumentError, match="tau"):
        F.gumbel_softmax(x, tau=0)
    with pytest.raises(gk.DTypeError):
        F.gumbel_softmax(gk.tensor([1, 2], device=device))
    with pytest.raises(gk.IndexOutOfRangeError):
        F.gumbel_softmax(x, dim=3)


# ================================================================== pdist
@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, np.inf])
def test_pdist_is_the_upper_triangle_of_pairwise_distances(device, p):
    x = np.random.default_rng(13).standard_normal((5, 3))
    x[4] = x[1]  # a zero distance
    out = F.pdist(_t(x, device), p).numpy()
    expected = []
    for i in range(5):
        for j in range(i + 1, 5):
            d = np.abs(x[i] - x[j])
            expected.append((d != 0).sum() if p == 0 else d.max() if p == np.inf else (d ** p).sum() ** (1 / p))
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0, np.inf])
def test_pdist_gradients(device, p):
    x = _t(np.random.default_rng(14).standard_normal((4, 3)), device, grad=True)
    assert gk.gradcheck(lambda a: F.pdist(a, p), (x,))
    if p in (2.0, 3.0):
        assert gk.gradcheck(lambda a: gk.grad(lambda z: (F.pdist(z, p) ** 2).sum())(a), (x,))


def test_pdist_zero_distance_and_component_gradients_are_zero(device):
    x = _t([[1.0, 2.0], [1.0, 2.0], [1.0, 5.0]], device, grad=True)
    for p in (0.5, 2.0, 3.0, 0.0):
        x.grad = None
        F.pdist(x, p).sum().backward()
        g = x.grad.numpy()
        assert np.isfinite(g).all()
        if p == 0.0:
            np.testing.assert_array_equal(g, 0.0)
        else:  # rows 0 and 1 differ from row 2 along the second axis only
            np.testing.assert_array_equal(g[:, 0], 0.0)


def test_pdist_errors_and_small_inputs(device):
    assert F.pdist(_t(np.zeros((1, 3)), device)).shape == (0,)
    with pytest.raises(gk.ShapeError, match="2-D"):
        F.pdist(_t(np.zeros(3), device))
    with pytest.raises(gk.InvalidArgumentError, match="p"):
        F.pdist(_t(np.zeros((2, 3)), device), -1.0)


# ================================================================== in-place activations
INPLACE = [
    ("relu_", F.relu, ()),
    ("elu_", F.elu, (0.5,)),
    ("celu_", F.celu, (0.7,)),
    ("selu_", F.selu, ()),
    ("leaky_relu_", F.leaky_relu, (0.2,)),
    ("hardtanh_", F.hardtanh, (-0.5, 0.5)),
    ("rrelu_", F.rrelu, (0.1, 0.3, False)),
    ("threshold_", F.threshold, (0.1, -9.0)),
]


@pytest.mark.parametrize("name,fn,args", INPLACE)
def test_inplace_activations(device, name, fn, args):
    data = np.random.default_rng(15).standard_normal((3, 4))
    t = _t(data.copy(), device)  # gk.tensor may share a NumPy array's memory: keep data as it is
    view = t[1]
    version = t._version[0]
    out = getattr(F, name)(t, *args)
    assert out is t
    np.testing.assert_array_equal(t.numpy(), fn(_t(data, device), *args).numpy())
    np.testing.assert_array_equal(view.numpy(), t.numpy()[1])  # the memory changed, views see it
    assert t._version[0] > version
    w = _t(data.copy(), device, grad=True)
    with pytest.raises(gk.AutogradError, match=name):
        getattr(F, name)(w, *args)
    with gk.no_grad():
        getattr(F, name)(w, *args)
    np.testing.assert_array_equal(w.numpy(), t.numpy())
    with pytest.raises(gk.ArgumentTypeError, match="Tensor"):
        getattr(F, name)(data, *args)


def test_inplace_rrelu_training_and_threshold_on_integers(device):
    gk.manual_seed(3)
    t = _t(-np.ones(1000), device)
    F.rrelu_(t, 0.1, 0.3, True)
    assert ((t.numpy() <= -0.1 + 1e-12) & (t.numpy() >= -0.3 - 1e-12)).all() and t.numpy().std() > 0.01
    i = gk.tensor(np.array([1, 5, -2]), device=device)
    F.threshold_(i, 2, 0)
    np.testing.assert_array_equal(i.numpy(), [0, 5, 0])


# ================================================================== deprecated upsample aliases
def test_upsample_aliases_are_interpolate(device):
    x = _t(np.random.default_rng(16).standard_normal((1, 2, 3, 4)), device)
    with pytest.warns(UserWarning, match="upsample is deprecated"):
        a = F.upsample(x, scale_factor=2, mode="bilinear", align_corners=False)
    np.testing.assert_array_equal(a.numpy(), F.interpolate(x, scale_factor=2, mode="bilinear").numpy())
    with pytest.warns(UserWarning, match="upsample_nearest is deprecated"):
        b = F.upsample_nearest(x, size=(5, 7))
    np.testing.assert_array_equal(b.numpy(), F.interpolate(x, size=(5, 7)).numpy())
    with pytest.warns(UserWarning, match="upsample_bilinear is deprecated"):
        c = F.upsample_bilinear(x, scale_factor=2)
    np.testing.assert_array_equal(c.numpy(), F.interpolate(x, scale_factor=2, mode="bilinear",
                                                           align_corners=True).numpy())


# ================================================================== parity with PyTorch (when installed)
def _torch():
    return pytest.importorskip("torch")


def test_grid_sample_and_affine_grid_match_pytorch(device):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(17)
    for k, mode, padding, align in itertools.product((2, 3), ("bilinear", "nearest", "bicubic"),
                                                     ("zeros", "border", "reflection"), (False, True)):
        if mode == "bicubic" and k == 3:
            continue
        xs = (2, 2) + ((3, 4) if k == 2 else (2, 3, 2))
        gs = (2,) + ((2, 3) if k == 2 else (2, 2, 2)) + (k,)
        x, g = rng.standard_normal(xs), rng.uniform(-2.6, 2.6, gs)
        cot = rng.standard_normal((2, 2) + gs[1:-1])
        a, b = _t(x, device, grad=True), _t(g, device, grad=True)
        out = F.grid_sample(a, b, mode, padding, align)
        out.backward(_t(cot, device))
        ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
        ref = tf.grid_sample(ta, tb, mode, padding, align)
        ref.backward(torch.tensor(cot))
        msg = f"{k}-D {mode} {padding} align={align}"
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=msg)
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=msg)
        np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-11, atol=1e-11, err_msg=msg)
        theta = rng.standard_normal((2, k, k + 1))
        size = (2, 2) + xs[2:]
        th = _t(theta, device, grad=True)
        grid = F.affine_grid(th, size, align_corners=align)
        grid.backward(_t(np.ones(grid.shape), device))
        tt = torch.tensor(theta, requires_grad=True)
        tgrid = _quiet(tf.affine_grid, tt, size, align_corners=align)
        tgrid.backward(torch.ones(tgrid.shape, dtype=torch.float64))
        np.testing.assert_allclose(grid.numpy(), tgrid.detach().numpy(), rtol=1e-13, atol=1e-14, err_msg=msg)
        np.testing.assert_allclose(th.grad.numpy(), tt.grad.numpy(), rtol=1e-13, atol=1e-13, err_msg=msg)


def test_pdist_and_inplace_and_upsample_match_pytorch(device):
    torch = _torch()
    tf = torch.nn.functional
    rng = np.random.default_rng(18)
    x = rng.standard_normal((6, 4))
    x[5] = x[2]
    for p in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, np.inf):
        a = _t(x, device, grad=True)
        out = F.pdist(a, p)
        cot = rng.standard_normal(out.shape)
        out.backward(_t(cot, device))
        ta = torch.tensor(x, requires_grad=True)
        ref = tf.pdist(ta, p)
        ref.backward(torch.tensor(cot))
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-13, atol=1e-14, err_msg=str(p))
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-13, err_msg=str(p))
    for name, _, args in INPLACE:
        if name == "rrelu_":
            args = (0.1, 0.3, False)
        data = rng.standard_normal(20)
        t, tt = _t(data.copy(), device), torch.tensor(data)
        getattr(F, name)(t, *args)
        getattr(tf, name)(tt, *args)
        np.testing.assert_allclose(t.numpy(), tt.numpy(), rtol=1e-15, atol=1e-16, err_msg=name)
    im = rng.standard_normal((1, 2, 3, 4))
    for ours, theirs in ((lambda a: F.upsample(a, scale_factor=2, mode="bicubic", align_corners=False),
                          lambda a: tf.upsample(a, scale_factor=2, mode="bicubic", align_corners=False)),
                         (lambda a: F.upsample_nearest(a, size=(5, 7)), lambda a: tf.upsample_nearest(a, size=(5, 7))),
                         (lambda a: F.upsample_bilinear(a, scale_factor=2),
                          lambda a: tf.upsample_bilinear(a, scale_factor=2))):
        np.testing.assert_allclose(_quiet(ours, _t(im, device)).numpy(), _quiet(theirs, torch.tensor(im)).numpy(),
                                   rtol=1e-13, atol=1e-14)

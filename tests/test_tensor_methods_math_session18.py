"""PyTorch's Tensor methods for maths, comparisons, products and linear algebra, and their in-place forms
(gradkit/ops/tensor_methods_math.py, put on gk.Tensor by its ``install``). Reference numbers were computed once
with PyTorch 2.14 (CPU, float64) and are written in (rounded to 14 decimals); torch is not imported."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import tensor_methods_math as tmm

tmm.install(gk.Tensor)  # idempotent: a no-op once gradkit/tensor.py installs them itself

nan, inf = math.nan, math.inf

REF = {'tan': [0.30933624960962, -2.57215162212632, -0.74702229723866, -0.0, -5.52037992250933],
       'absolute': [0.3, 1.2, 2.5, 0.0, 1.75],
       'frac': [0.3, -0.2, 0.5, 0.0, 0.75],
       'sgn': [1.0, -1.0, 1.0, 0.0, 1.0],
       'negative': [-0.3, 1.2, -2.5, 0.0, -1.75],
       'positive': [0.3, -1.2, 2.5, -0.0, 1.75],
       'angle': [0.0, 3.14159265358979, 0.0, 0.0, 0.0],
       'sin': [0.29552020666134, -0.93203908596723, 0.59847214410396, -0.0, 0.98398594687394],
       'cos': [0.95533648912561, 0.36235775447667, -0.80114361554693, 1.0, -0.17824605564949],
       'sinh': [0.30452029344714, -1.50946135541217, 6.05020448103979, -0.0, 2.79041436627764],
       'cosh': [1.04533851412886, 1.81065556732437, 6.13228947966369, 1.0, 2.96418830972809],
       'atan': [0.29145679447787, -0.87605805059819, 1.19028994968253, -0.0, 1.05165021254837],
       'asinh': [0.29567304756342, -1.01597313417969, 1.6472311463711, -0.0, 1.32589776690114],
       'expm1': [0.349858807576, -0.6988057880878, 11.18249396070347, -0.0, 4.75460267600573],
       'exp2': [1.23114441334492, 0.43527528164806, 5.65685424949238, 1.0, 3.36358566101486],
       'erf': [0.32862675945913, -0.91031397822964, 0.99959304798255, -0.0, 0.98667167121918],
       'erfc': [0.67137324054087, 1.91031397822964, 0.00040695201744, 1.0, 0.01332832878082],
       'deg2rad': [0.00523598775598, -0.02094395102393, 0.04363323129986, -0.0, 0.0305432619099],
       'rad2deg': [17.1887338539247, -68.75493541569878, 143.2394487827058, -0.0, 100.26761414789407],
       'fix': [0.0, -1.0, 2.0, -0.0, 1.0],
       'sinc': [0.85839369133414, -0.15591488063144, 0.12732395447352, 1.0, -0.12861661659387],
       'acos': [1.47062890563334, 1.1040309877476, 0.64350110879328],
       'asin': [0.10016742116156, 0.4667653390473, 0.92729521800161],
       'atanh': [0.10033534773108, 0.48470027859405, 1.09861228866811],
       'erfinv': [0.08885599049426, 0.42268023864756, 0.90619380243682],
       'logit': [-2.19722457733622, -0.20067069546215, 1.38629436111989],
       'acosh': [0.96242365011921, 1.56679923697241, 2.12592880745889],
       'rsqrt': [1.41421356237309, 0.81649658092773, 0.55470019622523],
       'log10': [-0.30102999566398, 0.17609125905568, 0.51188336097887],
       'log2': [-1.0, 0.58496250072116, 1.70043971814109],
       'digamma': [-1.96351002602142, 0.03648997397858, 1.01699091106818],
       'lgamma': [0.5723649429247, -0.12078223763525, 0.93580193110873],
       'i0': [1.06348337074132, 1.64672318977289, 5.98933599793952],
       'mvlgamma2': [0.45158270528945, 0.85704781339762, 4.17363744896849],
       'polygamma1': [4.93480220207368, 0.93480220097167, 0.3597982903751],
       'logit_eps': [-1.38629436111989, -0.20067069546215, 1.38629436111989],
       'frexp_m': [0.6, -0.6, 0.625, -0.0, 0.875],
       'frexp_e': [-1, 1, 2, 0, 1],
       'div_trunc': [3.0, -3.0, -1.0, 1.0],
       'div_floor': [3.0, -4.0, -2.0, 1.0],
       'floor_divide_i': [3, -4, -2, 1],
       'remainder_i': [1, 1, -1, -2],
       'remainder': [1.5, 0.5, -1.0, -2.0],
       'fmod_i': [1, -1, 2, -2],
       'subtract_alpha': [2.5, -12.5, 12.5, 2.5],
       'true_divide_i': [3.5, -3.5, -1.66666662693024, 1.66666662693024],
       'float_power': [0.25, 0.81649658092773, 5.85902082262898],
       'ldexp_f': [1.4142135623731, 0.375, 26.0],
       'ldexp_i': [1.0, 0.375, 26.0],
       'fmax': [2.0, 0.5, 3.0, nan],
       'fmin': [1.0, 0.5, 3.0, nan],
       'nextafter': [1.0, 1.0, -0.0],
       'gcd': [4, 6, 5, 7],
       'lcm': [24, 36, 0, 0],
       'bitwise_and': [8, 2, 1, 2],
       'bitwise_or': [14, -17, 5, 7],
       'bitwise_xor': [6, -19, 4, 5],
       'bitwise_left_shift': [12288, -144, 10, 28],
       'bitwise_right_shift': [0, -3, 2, 1],
       'bitwise_not': [-13, 17, -6, -8],
       'eq_': [0.0, 1.0, 0.0],
       'ne_': [1.0, 0.0, 1.0],
       'lt_': [0.0, 0.0, 0.0],
       'le_': [0.0, 1.0, 0.0],
       'gt_': [1.0, 0.0, 1.0],
       'ge_': [1.0, 1.0, 1.0],
       'greater_': [1.0, 0.0, 1.0],
       'less_': [0.0, 0.0, 0.0],
       'greater_equal_': [1.0, 1.0, 1.0],
       'less_equal_': [0.0, 1.0, 0.0],
       'not_equal_': [1.0, 0.0, 1.0],
       'logical_and_': [0.0, 1.0, 1.0],
       'logical_or_': [1.0, 1.0, 1.0],
       'logical_xor_': [1.0, 0.0, 0.0],
       'lt_int': [1, 1, 0],
       'logical_not_': [1.0, 0.0],
       'hypot': [7.76208734813001, 7.76208734813001, 5.8309518948453, 5.8309518948453],
       'atan2': [1.31019393504756, -1.31019393504756, 2.11121582706548, -2.11121582706548],
       'copysign': [-0.5, 1.5, -3.25],
       'xlogy': [0.0, 0.81093021621633, 3.53596498902494],
       'heaviside': [0.0, 0.5, 1.0],
       'igamma': [0.84270079294972, 0.73853587005089, 0.00869390969687],
       'igammac': [0.15729920705029, 0.26146412994911, 0.99130609030313],
       'nan_to_num_': [2.0, 9.0, -1.7976931348623157e+308, 1.0],
       'clip_': [0.3, -1.0, 1.0, -0.0, 1.0],
       'addbmm': [-7.44285714285714, -11.0],
       'addmv': [3.15, 0.2125],
       'addr': [2.55, -4.45, 8.8, -0.825, 0.05, -2.45],
       'inner': [0.1325, 0.02, 0.02, 1.595],
       'kron': [-0.3, -0.6, -0.05, -0.1, 0.2, 0.4, 0.45, 0.9, 0.7, 1.4, 0.95, 1.9],
       'vdot': 12.0,
       'cross': [11.0, -2.5, -2.0, -3.5, 1.0, -2.0],
       'cross0': [11.0, -3.5, -2.5, 1.0, -2.0, -2.0],
       'det': -6.5,
       'logdet': 3.05823747890539,
       'logdetN': nan,
       'slogdetN': [-1.0, 1.87180217690159],
       'logdet_sing': -inf,
       'inverse': [1.0, 0.61538461538462, -0.15384615384615, -0.5, -0.53846153846154, 0.38461538461538, -1.0,
                   -0.46153846153846, 0.61538461538462],
       'pinverse': [-2.31111111111111, 0.31111111111111, -0.44444444444444, 0.44444444444444, 1.42222222222222,
                    0.57777777777778],
       'matrix_exp': [1.33308968845338, 0.4668740238484, -0.28927052563815, 0.35401093924639, 0.51100866818449,
                      0.55062429441933, 1.05312591784489, 0.51260458049396, 1.64522549241431],
       'matrix_power3': [0.5, 16.5, -7.75, 2.0, -33.5, 15.75, 11.25, 5.75, 2.875],
       'matrix_power-2': [0.84615384615385, 0.35502958579882, -0.01183431952663, -0.61538461538462, -0.19526627218935,
                          0.10650887573964, -1.38461538461538, -0.6508875739645, 0.35502958579882],
       'cholesky': [2.0, 0.0, 0.0, 0.5, 1.6583123951777, 0.0, 0.25, 0.04522670168666, 1.39120614772022],
       'cholesky_up': [2.0, 0.5, 0.25, 0.0, 1.6583123951777, 0.04522670168666, 0.0, 0.0, 1.39120614772022],
       'cholesky_inverse': [0.27994363550963, -0.08924377642085, -0.06106153123532, -0.08924377642085,
                            0.3640206669798, -0.01409112259277, -0.06106153123532, -0.01409112259277,
                            0.51667449506811],
       'cholesky_inverse_up': [0.27994363550963, -0.08924377642085, -0.06106153123532, -0.08924377642085,
                               0.3640206669798, -0.01409112259277, -0.06106153123532, -0.01409112259277,
                               0.51667449506811],
       'cholesky_solve': [0.09675904180366, 0.61860028182245, -0.13151714419915, -0.5495537811179, 1.488961953969,
                          0.15030530765618],
       'cholesky_solve_up': [0.09675904180366, 0.61860028182245, -0.13151714419915, -0.5495537811179, 1.488961953969,
                             0.15030530765618],
       'lu_LU': [2.0, 1.0, 1.5, 0.25, -3.25, 1.625, 0.5, -0.46153846153846, -1.0],
       'lu_piv': [3, 2, 3],
       'lu_solve': [0.53846153846154, 1.30769230769231, 0.65384615384615, -0.26923076923077, 0.84615384615385,
                    -1.23076923076923],
       'qr_R_abs': [0.36400549446403, 0.05494422557948, 0.0, 1.2617373467071],
       'qr_complete_Qshape': [3, 3],
       'svd_S': [1.26304135052824, 0.36362968368357],
       'svd_shapes': [[2, 2], [3, 2]],
       'svd_full_shapes': [[2, 2], [3, 3]],
       'trisolve_': [2.66666666666667, 2.52777777777778, -0.33333333333333, -0.38888888888889, 2.0, 0.33333333333333],
       'trisolve_upperFalse': [0.5, 1.0, -1.5, -3.33333333333333, -1.33333333333333, -6.77777777777778],
       'trisolve_transposeTrue': [0.5, 1.0, -1.16666666666667, -2.66666666666667, 2.72222222222222, 1.88888888888889],
       'trisolve_unitriangularTrue': [14.5, 11.25, -1.5, -1.25, 3.0, 0.5],
       'trisolve_upperFalse_transposeTrue': [-9.5, 0.83333333333333, 1.33333333333333, -0.11111111111111, 2.0,
                                             0.33333333333333],
       'dist2': 2.66176633084123,
       'dist1': 5.3,
       'dist0': 4.0,
       'distinf': 1.45,
       'dist3': 2.12186157242159,
       'renorm_2_0': [0.43643576142437, -0.87287152284873, 0.21821788071218, 0.1, 0.2, -0.1, 0.599999988, 0.0,
                      0.799999984],
       'renorm_grad_2_0': [0.08313061759557, 0.27017452623322, 0.91443683164652, 3.0, 4.0, 5.0, 2.4e-08, 1.399999972,
                           3.2e-08],
       'renorm_1_1': [0.4878048661511, -1.81818173553719, 0.21739129962193, 0.04878048661511, 0.18181817355372,
                      -0.04347825992439, 1.4634145984533, 0.0, 1.73913039697543],
       'renorm_grad_1_1': [-2.17727532508234, 0.41322314425244, -2.2022683163475, -0.71386072662904, 4.13223119459054,
                           5.2457465110545, 0.74955387182426, 6.36363607438018, 0.40642727911564],
       'renorm_3_0': [0.23927226414439, -0.47854452828879, 0.1196361320722, 0.1, 0.2, -0.1, 0.33348588124174, 0.0,
                      0.44464784165565],
       'renorm_grad_3_0': [0.02622161673361, 0.13438579720997, 0.48509993247219, 3.0, 4.0, 5.0, 0.11726977265785,
                           0.77813372289739, -0.08795229860093],
       'diag_embed': [0.0, 1.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
       'diag_embed_shape': [4, 2, 4],
       'diagflat': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.05, 0.0, 0.0, 0.0,
                    0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.45, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                    0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.95, 0.0],
       'corrcoef': [1.0, 0.84592048721113, -0.93422349408248, 0.84592048721113, 1.0, -0.97283559658883,
                    -0.93422349408248, -0.97283559658883, 1.0],
       'cov': [7.0, 3.91666666666667, -4.08333333333333, 3.91666666666667, 3.0625, -2.8125, -4.08333333333333,
               -2.8125, 2.72916666666667],
       'cov0': [5.25, 2.9375, -3.0625, 2.9375, 2.296875, -2.109375, -3.0625, -2.109375, 2.046875],
       'cov_w': [4.28402366863905, 3.17751479289941, -2.98224852071006, 3.17751479289941, 3.23520710059172,
                 -2.79585798816568, -2.98224852071006, -2.79585798816568, 2.48520710059172],
       'cov_w2': [9.52727272727273, 7.01818181818182, -6.94545454545455, 7.01818181818182, 7.75454545454545,
                  -6.78181818181818, -6.94545454545455, -6.78181818181818, 6.2],
       'cov1d': 7.0,
       'float_power_': [0.17677669529664, 2.75567596063108, 19.04181767354419]}


def _t(values, device, dtype=gk.float64, requires_grad=False):
    return gk.tensor(np.array(values), dtype=dtype, device=device, requires_grad=requires_grad)  # a copy


def _close(t, key, rtol=1e-11, atol=1e-12):
    want = REF[key] if isinstance(key, str) else key
    np.testing.assert_allclose(np.ravel(t.numpy()), np.ravel(want), rtol=rtol, atol=atol, equal_nan=True)


X = [0.3, -1.2, 2.5, -0.0, 1.75]
P = [0.1, 0.45, 0.8]
POS = [0.5, 1.5, 3.25]
A = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]]  # symmetric positive definite
N = [[1.0, 2.0, -1.0], [0.5, -3.0, 2.0], [2.0, 1.0, 1.5]]  # det -6.5
M = (np.arange(6.0).reshape(2, 3) / 4 - 0.3).tolist()
BM = [[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]]
T = [[2.0, 7.0, -1.0], [9.0, 3.0, 0.5], [4.0, -2.0, 1.5]]  # neither triangular: only one triangle is read


# ------------------------------------------------------------------------------------------------ install
def test_install_is_idempotent_and_never_replaces_a_name():
    tmm.install(gk.Tensor)
    for name, fn in tmm.METHODS.items():
        assert gk.Tensor.__dict__[name] is fn, name
        assert (fn.fget if isinstance(fn, property) else fn).__doc__, name

    class Taken:
        tan = None

        def det(self):
            return 0

    with pytest.raises(gk.InvalidArgumentError, match="det, tan"):
        tmm.install(Taken)
    assert not hasattr(Taken, "frac") and Taken.tan is None  # nothing set

    class Sub(gk.Tensor):  # inherits every installed method: installing again on it would shadow them
        pass

    with pytest.raises(gk.InvalidArgumentError, match="install"):
        tmm.install(Sub)


# ------------------------------------------------------------------------------------------------- unary
_UNARY_ON = {
    "x": ("tan", "absolute", "frac", "sgn", "negative", "sin", "cos", "sinh", "cosh", "atan", "asinh", "expm1", "exp2",
          "erf", "erfc", "deg2rad", "rad2deg", "fix", "sinc"),
    "p": ("acos", "asin", "atanh", "erfinv", "logit"),
    "pos": ("rsqrt", "log10", "log2", "digamma", "lgamma", "i0"),
}


def test_unary_values_and_their_in_place_forms(device):
    inputs = {"x": X, "p": P, "pos": POS}
    for which, names in _UNARY_ON.items():
        for name in names:
            x = _t(inputs[which], device)
            _close(getattr(x, name)(), name)
            version = x._version[0]
            assert getattr(x, f"{name}_")() is x
            assert x._version[0] == version + 1 and x.dtype == gk.float64
            _close(x, name)
    for name in ("positive", "angle"):
        _close(getattr(_t(X, device), name)(), name)
    z = _t(POS, device)
    z.log1p_()
    _close(z, np.log1p(POS))
    y = _t(np.array(POS) + 1, device)
    _close(y.acosh(), "acosh")
    _close(y.arccosh_(), "acosh")
    for name, arg, key in (("mvlgamma", 2, "mvlgamma2"), ("polygamma", 1, "polygamma1"), ("logit", 0.2, "logit_eps")):
        base = np.array(POS) + 1 if name == "mvlgamma" else P if name == "logit" else POS
        z = _t(base, device)
        assert getattr(z, f"{name}_")(arg) is z
        _close(z, key, rtol=1e-9)  # PyTorch's trigamma is good to ~5e-10 (gradkit's gives pi^2/2 at 0.5 exactly)
    for name in ("arcsin", "arctan", "arcsinh", "arctanh", "asinh"):
        z = _t(P, device)
        getattr(z, f"{name}_")()
        _close(z, getattr(_t(P, device), name)())
    m, e = _t(X, device).frexp()
    assert isinstance(_t(X, device).frexp(), gk.return_types.frexp) and e.dtype == gk.int32
    _close(m, "frexp_m")
    assert e.tolist() == REF["frexp_e"]
    b = _t([True, False], device, gk.bool_)
    assert b.sgn().tolist() == [True, False] and b.sgn().dtype == gk.bool_
    with pytest.raises(gk.DTypeError, match="frac"):
        _t([1, 2], device, gk.int64).frac()
    with pytest.raises(gk.DTypeError, match="positive"):
        b.positive()
    assert _t([-2, 3], device, gk.int64).angle().tolist() == [math.pi, 0.0]


def test_unary_gradients(device):
    x = _t([0.3, -1.2, 2.5, 1.75], device, requires_grad=True)
    for name in ("tan", "absolute", "frac", "sgn", "negative", "positive", "angle"):
        assert gk.gradcheck(lambda a, n=name: getattr(a, n)() * a, (x,)), name
    x = _t([0.3, -1.2, 2.5], device, requires_grad=True)
    (g,) = gk.autograd.grad(x.frac().sum() + x.angle().sum(), x)
    assert g.tolist() == [1.0, 1.0, 1.0]  # frac's slope 1, angle's 0 (PyTorch's)


def test_in_place_rules(device):
    leaf = _t([0.5, 1.0], device, requires_grad=True)
    for call in (lambda t: t.tan_(), lambda t: t.eq_(1.0), lambda t: t.clip_(0, 1), lambda t: t.renorm_(2, 0, 1)):
        with pytest.raises(gk.AutogradError, match="in-place"):
            call(leaf)
    with gk.no_grad():
        assert leaf.tan_() is leaf
    _close(leaf, np.tan([0.5, 1.0]))
    w = _t([2.0, 3.0], device, requires_grad=True)
    h = _t([1.0, 1.0], device).hypot_(w)  # recorded, as PyTorch
    h.sum().backward()
    _close(w.grad, np.array([2.0, 3.0]) / np.hypot(1.0, [2.0, 3.0]))
    with pytest.raises(gk.DTypeError, match="tan_"):
        _t([1, 2], device, gk.int64).tan_()
    with pytest.raises(gk.DTypeError, match="true_divide_"):
        _t([1, 2], device, gk.int64).true_divide_(2)
    with pytest.raises(gk.DTypeError, match="float_power_"):
        _t([1.0, 2.0], device, gk.float32).float_power_(2)
    with pytest.raises(gk.ShapeError, match="multiply_"):
        _t([1.0, 2.0], device).multiply_(_t([[1.0], [2.0]], device))
    f32 = _t([1.0, 2.0], device, gk.float32)
    assert f32.multiply_(_t([2.0], device)) is f32 and f32.dtype == gk.float32 and f32.tolist() == [2.0, 4.0]
    y = _t([0.5, 2.0], device)
    v = y._version[0]
    y.sin_().cos_()  # chained, as PyTorch's
    assert y._version[0] == v + 2
    _close(y, np.cos(np.sin([0.5, 2.0])))
    c = _t([1.0, 2.0], device)
    assert c.conj_physical_() is c and c.tolist() == [1.0, 2.0]


# ------------------------------------------------------------------------------------------------ binary
def test_division_family(device):
    a, b = _t([7.5, -7.5, 5.0, -5.0], device), _t([2.0, 2.0, -3.0, -3.0], device)
    ai, bi = _t([7, -7, 5, -5], device, gk.int64), _t([2, 2, -3, -3], device, gk.int64)
    _close(a.divide(b, rounding_mode="trunc"), "div_trunc")
    _close(a.divide(b, rounding_mode="floor"), "div_floor")
    _close(a.divide(b), np.array([7.5, -7.5, 5.0, -5.0]) / [2.0, 2.0, -3.0, -3.0])
    _close(a.true_divide(b), a / b)
    _close(ai.true_divide(bi), "true_divide_i", rtol=1e-7)  # PyTorch's is float32, gradkit's float64 (NumPy's)
    fd = ai.floor_divide(bi)
    assert fd.dtype == gk.int64 and fd.tolist() == REF["floor_divide_i"]
    r = ai.remainder(bi)
    assert r.dtype == gk.int64 and r.tolist() == REF["remainder_i"]
    _close(a.remainder(b), "remainder")
    _close(a.multiply(b), np.array([15.0, -15.0, -15.0, 15.0]))
    _close(a.subtract(b, alpha=2.5), "subtract_alpha")
    for name, args, kwargs, key in (("divide_", (b,), {"rounding_mode": "floor"}, "div_floor"),
                                    ("subtract_", (b,), {"alpha": 2.5}, "subtract_alpha"),
                                    ("remainder_", (b,), {}, "remainder")):
        z = a.clone()
        assert getattr(z, name)(*args, **kwargs) is z
        _close(z, key)
    z = ai.clone()
    z.fmod_(bi)
    assert z.tolist() == REF["fmod_i"]
    z = ai.clone()
    z.floor_divide_(bi)
    assert z.tolist() == REF["floor_divide_i"]
    z = ai.clone()
    z.remainder_(bi)
    assert z.tolist() == REF["remainder_i"]
    for call in (lambda: ai.remainder(0), lambda: ai.remainder(_t([1, 0, 1, 1], device, gk.int64)),
                 lambda: ai.floor_divide(0), lambda: ai.clone().fmod_(_t([0], device, gk.int64)),
                 lambda: ai.clone().remainder_(0)):
        with pytest.raises(gk.InvalidArgumentError, match="division by zero"):
            call()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # floats: NaN, silently, as PyTorch
        assert np.isnan(a.remainder(0.0).numpy()).all()
        assert np.isnan(a.clone().fmod_(0.0).numpy()).all()
    with pytest.raises(gk.InvalidArgumentError, match="rounding_mode"):
        a.divide(b, rounding_mode="round")


def test_binary_values(device):
    pos = _t(POS, device)
    _close(pos.float_power(_t([2.0, -0.5, 1.5], device)), "float_power")
    assert _t([1, 2], device, gk.int64).float_power(2).dtype == gk.float64
    z = pos.clone()
    z.float_power_(2.5)
    _close(z, "float_power_")
    _close(pos.ldexp(_t([1.5, -2.0, 3.0], device)), "ldexp_f")
    _close(pos.ldexp(_t([1, -2, 3], device, gk.int64)), "ldexp_i")
    _close(pos.ldexp(1.5), np.array(POS) * 2 ** 1.5)
    z = pos.clone()
    z.ldexp_(_t([1, -2, 3], device, gk.int64))
    _close(z, "ldexp_i")
    f1, f2 = _t([1.0, nan, 3.0, nan], device), _t([2.0, 0.5, nan, nan], device)
    _close(f1.fmax(f2), "fmax")
    _close(f1.fmin(f2), "fmin")
    nx = _t([1.0, 1.0, 0.0], device)
    np.testing.assert_array_equal(nx.nextafter(_t([2.0, 0.0, -1.0], device)).numpy(),
                                  np.nextafter([1.0, 1.0, 0.0], [2.0, 0.0, -1.0]))
    g1, g2 = _t([12, -18, 0, 7], device, gk.int64), _t([8, 12, 5, 0], device, gk.int64)
    assert g1.gcd(g2).tolist() == REF["gcd"] and g1.lcm(g2).tolist() == REF["lcm"]
    z = g1.clone()
    assert z.gcd_(g2) is z and z.tolist() == REF["gcd"]
    b1, b2 = _t([12, -18, 5, 7], device, gk.int32), _t([10, 3, 1, 2], device, gk.int32)
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"):
        assert getattr(b1, name)(b2).tolist() == REF[name], name
        z = b1.clone()
        assert getattr(z, f"{name}_")(b2) is z and z.tolist() == REF[name] and z.dtype == gk.int32, name
    assert b1.bitwise_not().tolist() == REF["bitwise_not"]
    z = b1.clone()
    z.bitwise_not_()
    assert z.tolist() == REF["bitwise_not"]
    assert _t([True, False], device, gk.bool_).bitwise_not().tolist() == [False, True]
    with pytest.raises(gk.DTypeError, match="bitwise_and"):
        pos.bitwise_and(1)
    a, b = _t([7.5, -7.5, 5.0, -5.0], device), _t([2.0, 2.0, -3.0, -3.0], device)
    for name in ("hypot", "atan2", "arctan2"):
        z = a.clone()
        assert getattr(z, f"{name}_")(b) is z
        _close(z, "atan2" if name == "arctan2" else name)
    for name, x, other in (("copysign", POS, [-1.0, 0.0, -0.0]), ("xlogy", [0.0, 2.0, 3.0], POS),
                           ("heaviside", [-1.0, 0.0, 2.0], [0.5]), ("igamma", POS, [1.0, 2.0, 0.5]),
                           ("igammac", POS, [1.0, 2.0, 0.5])):
        z = _t(x, device)
        assert getattr(z, f"{name}_")(_t(other, device)) is z
        _close(z, name)
    z = _t([nan, inf, -inf, 1.0], device)
    assert z.nan_to_num_(nan=2.0, posinf=9.0) is z
    _close(z, "nan_to_num_", rtol=1e-14, atol=0)
    z = _t(X, device)
    assert z.clip_(-1.0, 1.0) is z
    _close(z, "clip_")
    with pytest.raises(gk.InvalidArgumentError, match="clip"):
        _t(X, device).clip_()


def test_comparisons_in_place_keep_self_dtype(device):
    c2 = _t([0.0, 2.0, 1.0], device)
    for name in ("eq_", "ne_", "lt_", "le_", "gt_", "ge_", "greater_", "less_", "greater_equal_", "less_equal_",
                 "not_equal_", "logical_and_", "logical_or_", "logical_xor_"):
        z = _t([1.0, 2.0, 3.0], device)
        assert getattr(z, name)(c2) is z and z.dtype == gk.float64, name
        assert z.tolist() == REF[name], name
    z = _t([1, 2, 3], device, gk.int64)
    z.lt_(2.5)
    assert z.dtype == gk.int64 and z.tolist() == REF["lt_int"]
    z = _t([0.0, 2.0], device)
    z.logical_not_()
    assert z.tolist() == REF["logical_not_"]
    x, y = _t([1.0, 2.0, 3.0], device), _t([2.0, 2.0, 2.0], device)
    for name, op in (("greater", np.greater), ("greater_equal", np.greater_equal), ("less", np.less),
                     ("less_equal", np.less_equal), ("not_equal", np.not_equal)):
        r = getattr(x, name)(y)
        assert r.dtype == gk.bool_ and r.tolist() == op([1.0, 2.0, 3.0], 2.0).tolist(), name
    s = _t([inf, -inf, nan, 1.0], device)
    assert s.isinf().tolist() == [True, True, False, False]
    assert s.isposinf().tolist() == [True, False, False, False]
    assert s.isneginf().tolist() == [False, True, False, False]
    assert s.isreal().tolist() == [True] * 4


def test_binary_gradients(device):
    a = _t([1.5, -0.7, 2.2], device, requires_grad=True)
    b = _t([0.8, 1.3, -1.9], device, requires_grad=True)
    checks = (
        lambda u, v: u.multiply(v), lambda u, v: u.divide(v), lambda u, v: u.subtract(v, alpha=-1.5),
        lambda u, v: u.true_divide(v), lambda u, v: u.remainder(v), lambda u, v: u.abs().float_power(v),
        lambda u, v: u.ldexp(v), lambda u, v: u.fmax(v), lambda u, v: u.fmin(v),
    )
    for f in checks:
        assert gk.gradcheck(f, (a, b))
    (ga, gb) = gk.autograd.grad(a.floor_divide(b).sum(), (a, b), allow_unused=True)
    assert ga.tolist() == [0.0] * 3 and gb.tolist() == [0.0] * 3


# ---------------------------------------------------------------------------------------------- products
def test_products_and_their_in_place_forms(device):
    m, v3, v2 = _t(M, device), _t([0.5, -1.0, 2.0], device), _t([1.5, -0.25], device)
    b1 = _t(np.arange(24.0).reshape(4, 2, 3) / 10 - 1, device)
    b2 = _t(np.arange(12.0).reshape(4, 3, 1) / 7 - 0.5, device)
    c2 = _t([[1.0], [-2.0]], device)
    _close(c2.addbmm(b1, b2, beta=0.5, alpha=-2.0), "addbmm")
    _close(v2.addmv(m, v3, beta=2.0, alpha=0.5), "addmv")
    _close(m.addr(v2, v3, beta=-1.0, alpha=3.0), "addr")
    for name, self_, args, key in (("addbmm_", c2, (b1, b2), "addbmm"), ("addmv_", v2, (m, v3), "addmv"),
                                   ("addr_", m, (v2, v3), "addr")):
        z = self_.clone()
        kwargs = {"addbmm_": {"beta": 0.5, "alpha": -2.0}, "addmv_": {"beta": 2.0, "alpha": 0.5},
                  "addr_": {"beta": -1.0, "alpha": 3.0}}[name]
        assert getattr(z, name)(*args, **kwargs) is z
        _close(z, key)
    z = _t(np.zeros((2, 2)), device)
    z.addmm_(m, m.T, beta=3.0, alpha=2.0)
    _close(z, 2 * np.array(M) @ np.array(M).T)
    z = _t(np.ones((4, 2, 1)), device)
    z.baddbmm_(b1, b2, alpha=0.5)
    _close(z, 1 + 0.5 * np.matmul(b1.numpy(), b2.numpy()))
    nan_self = _t([nan, nan], device)
    _close(nan_self.addmv(m, v3, beta=0), np.array(M) @ [0.5, -1.0, 2.0])  # beta 0 ignores self, as PyTorch
    with pytest.raises(gk.ShapeError, match="mv"):
        v2.addmv(m, m)
    with pytest.raises(gk.ShapeError, match="addr"):
        v2.addr(v2, v3)
    with pytest.raises(gk.GradkitError, match="bmm"):
        c2.addbmm(b1[0], b2[0])
    cc = _t(np.array([[1.0], [-2.0]]), device, requires_grad=True)
    p1 = _t(np.arange(24.0).reshape(4, 2, 3) / 10 - 1, device, requires_grad=True)
    p2 = _t(np.arange(12.0).reshape(4, 3, 1) / 7 - 0.5, device, requires_grad=True)
    assert gk.gradcheck(lambda s, u, w: s.addbmm(u, w, beta=0.5, alpha=-2.0), (cc, p1, p2))
    mm = _t(M, device, requires_grad=True)
    vv2, vv3 = _t([1.5, -0.25], device, requires_grad=True), _t([0.5, -1.0, 2.0], device, requires_grad=True)
    assert gk.gradcheck(lambda s, u, w: s.addmv(u, w, beta=2.0), (vv2, mm, vv3))
    assert gk.gradcheck(lambda s, u, w: s.addr(u, w, alpha=3.0), (mm, vv2, vv3))


def test_inner_kron_vdot_cross(device):
    m = _t(M, device)
    _close(m.inner(m), "inner")
    _close(m.kron(_t([[1.0, 2.0]], device)), "kron")
    v = _t([0.5, -1.0, 2.0], device)
    _close(v.vdot(v * 2 + 1), "vdot")
    with pytest.raises(gk.ShapeError, match="vdot"):
        m.vdot(m)
    with pytest.raises(gk.ShapeError, match="vdot"):
        v.vdot(_t([1.0, 2.0], device))
    u = _t([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], device, requires_grad=True)
    w = _t([[0.5, -1.0, 4.0], [2.0, 1.0, -3.0]], device, requires_grad=True)
    _close(u.cross(w, dim=1), "cross")
    _close(u.cross(w, -1), "cross")
    with pytest.warns(UserWarning, match="cross: without dim"):
        _close(u.T.cross(w.T), "cross0")  # PyTorch's deprecated default: the first dim of length 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        u.cross(w, dim=1)
    with pytest.raises(gk.ShapeError, match="cross"):
        _t(np.ones((2, 2)), device).cross(_t(np.ones((2, 2)), device))
    assert gk.gradcheck(lambda p, q: p.cross(q, dim=1), (u, w))
    assert gk.gradcheck(lambda p, q: p.kron(q), (u, w))
    assert gk.gradcheck(lambda p, q: p[0].vdot(q[1]) + p.inner(q).sum(), (u, w))


# ------------------------------------------------------------------------------------------------ linalg
def test_determinants_inverses_and_powers(device):
    a, n = _t(A, device), _t(N, device)
    _close(n.det(), "det")
    _close(a.logdet(), "logdet")
    assert np.isnan(n.logdet().item())  # a negative determinant, as PyTorch
    assert _t(np.zeros((2, 2)), device).logdet().item() == -inf
    sign, logabs = n.slogdet()
    _close(sign, REF["slogdetN"][0])
    _close(logabs, REF["slogdetN"][1])
    _close(n.inverse(), "inverse")
    _close(_t(M, device).pinverse(), "pinverse")
    _close((n / 3).matrix_exp(), "matrix_exp")
    _close(n.matrix_power(3), "matrix_power3")
    _close(n.matrix_power(-2), "matrix_power-2")
    with pytest.raises(gk.GradkitError, match="inv"):
        _t(np.zeros((2, 2)), device).inverse()
    batch = _t(np.stack([A, N]), device)
    _close(batch.det(), [np.linalg.det(A), -6.5])
    ag = _t(A, device, requires_grad=True)
    assert gk.gradcheck(lambda t: t.logdet(), (ag,))
    assert gk.gradcheck(lambda t: t.det() * t.inverse(), (ag,))
    assert gk.gradcheck(lambda t: t.pinverse(), (_t(M, device, requires_grad=True),))
    assert gk.gradcheck(lambda t: (t / 3).matrix_exp() + t.matrix_power(2), (ag,))
    (g,) = gk.autograd.grad(ag.logdet(), ag)
    _close(g, np.linalg.inv(A).T)


def test_cholesky_family(device):
    a = _t(A, device)
    low, up = a.cholesky(), a.cholesky(upper=True)
    _close(low, "cholesky")
    _close(up, "cholesky_up")
    _close(low.cholesky_inverse(), "cholesky_inverse")
    _close(up.cholesky_inverse(upper=True), "cholesky_inverse_up")
    bm = _t(BM, device)
    _close(bm.cholesky_solve(low), "cholesky_solve")
    _close(bm.cholesky_solve(up, upper=True), "cholesky_solve_up")
    batch = _t(np.stack([np.array(REF["cholesky"]).reshape(3, 3)] * 2), device)
    assert batch.cholesky_inverse().shape == (2, 3, 3)
    _close(batch.cholesky_inverse()[1], "cholesky_inverse")
    with pytest.raises(gk.ShapeError, match="cholesky_solve"):
        _t([1.0, 2.0, 3.0], device).cholesky_solve(low)
    with pytest.raises(gk.ShapeError, match="cholesky_inverse"):
        _t(M, device).cholesky_inverse()
    lg = _t(REF["cholesky"], device).reshape(3, 3)
    lg = _t(lg.numpy(), device, requires_grad=True)
    bg = _t(BM, device, requires_grad=True)
    assert gk.gradcheck(lambda f: f.cholesky_inverse(), (lg,))
    assert gk.gradcheck(lambda b, f: b.cholesky_solve(f), (bg, lg))
    assert gk.gradcheck(lambda t: (t @ t.mT).cholesky(upper=True), (lg,))


def test_lu_qr_svd(device):
    n, bm = _t(N, device), _t(BM, device)
    lu, piv = n.lu()
    _close(lu, "lu_LU")
    assert piv.tolist() == REF["lu_piv"] and piv.dtype == gk.int32
    _close(bm.lu_solve(lu, piv), "lu_solve")
    lu3, piv3, info = _t(np.zeros((2, 2)), device).lu(get_infos=True)  # singular: no error, info says so
    assert info.item() != 0
    q, r = _t(M, device).T.qr()
    _close(r.abs(), "qr_R_abs")
    _close(q @ r, np.array(M).T)
    assert list(_t(M, device).T.qr(some=False).Q.shape) == REF["qr_complete_Qshape"]
    res = _t(M, device).svd()
    assert isinstance(res, gk.return_types.svd) and res._fields == ("U", "S", "V")
    _close(res.S, "svd_S")
    assert [list(res.U.shape), list(res.V.shape)] == REF["svd_shapes"]
    _close(res.U @ (res.S[:, None] * res.V.T), M)  # V, not Vh
    full = _t(M, device).svd(some=False)
    assert [list(full.U.shape), list(full.V.shape)] == REF["svd_full_shapes"]
    bare = _t(np.stack([M, M]), device).svd(compute_uv=False)
    assert bare.U.shape == (2, 2, 2) and bare.V.shape == (2, 3, 3) and not bare.U.numpy().any()
    _close(bare.S[1], "svd_S")
    mg = _t(M, device, requires_grad=True)
    assert gk.gradcheck(lambda t: t.svd().S, (mg,))
    assert gk.gradcheck(lambda t: (lambda u, s, v: u @ v.T)(*t.svd()), (mg,))
    ng = _t(N, device, requires_grad=True)
    assert gk.gradcheck(lambda t, b: b.lu_solve(*t.lu()), (ng, _t(BM, device, requires_grad=True)))


def test_triangular_solve(device):
    bm, t = _t(BM, device), _t(T, device)
    for kwargs in ({}, {"upper": False}, {"transpose": True}, {"unitriangular": True},
                   {"upper": False, "transpose": True}):
        res = bm.triangular_solve(t, **kwargs)
        assert isinstance(res, gk.return_types.triangular_solve)
        _close(res.solution, "trisolve_" + "_".join(f"{k}{v}" for k, v in kwargs.items()))
        np.testing.assert_array_equal(res.cloned_coefficient.numpy(), np.array(T))
        assert res.cloned_coefficient is not t
    with pytest.raises(gk.ShapeError, match="triangular_solve"):
        _t([1.0, 2.0, 3.0], device).triangular_solve(t)
    tg = _t(T, device, requires_grad=True)
    bg = _t(BM, device, requires_grad=True)
    assert gk.gradcheck(lambda b, a: b.triangular_solve(a, transpose=True).solution, (bg, tg))
    assert gk.gradcheck(lambda b, a: b.triangular_solve(a, upper=False).cloned_coefficient * 2, (bg, tg))


def test_dist_and_renorm(device):
    x, y = _t(X, device), _t(X[::-1], device)
    for p, key in ((2, "dist2"), (1, "dist1"), (0, "dist0"), (inf, "distinf"), (3, "dist3")):
        _close(x.dist(y, p), key)
    _close(x.dist(y), "dist2")
    z = _t([0.0, 0.0], device, requires_grad=True)
    for p in (2, 1, inf):
        (g,) = gk.autograd.grad(z.dist(_t([0.0, 0.0], device), p), z)
        assert g.tolist() == [0.0, 0.0]  # PyTorch's gradient at distance 0
    xg, yg = _t([0.3, -1.2, 2.5], device, requires_grad=True), _t([1.0, 0.5, -0.5], device, requires_grad=True)
    for p in (2, 1, 3):
        assert gk.gradcheck(lambda u, v, p=p: u.dist(v, p), (xg, yg))
    base = [[1.0, -2.0, 0.5], [0.1, 0.2, -0.1], [3.0, 0.0, 4.0]]
    weights = np.arange(9.0).reshape(3, 3)
    for p, dim, maxnorm in ((2, 0, 1.0), (1, 1, 2.0), (3, 0, 0.5)):
        r = _t(base, device, requires_grad=True)
        out = r.renorm(p, dim, maxnorm)
        _close(out, f"renorm_{p}_{dim}")
        (g,) = gk.autograd.grad((out * _t(weights, device)).sum(), r)
        _close(g, f"renorm_grad_{p}_{dim}", rtol=1e-9, atol=1e-11)
        z = _t(base, device)
        assert z.renorm_(p, dim, maxnorm) is z
        _close(z, f"renorm_{p}_{dim}")
    assert gk.gradcheck(lambda t: t.renorm(2, 1, 1.5), (_t(base, device, requires_grad=True),))
    with pytest.raises(gk.ShapeError, match="renorm"):
        _t([1.0, 2.0], device).renorm(2, 0, 1.0)
    with pytest.raises(gk.InvalidArgumentError, match="renorm"):
        _t(base, device).renorm(0, 0, 1.0)
    with pytest.raises(gk.DTypeError, match="renorm"):
        _t([[1, 2]], device, gk.int64).renorm(2, 0, 1.0)


def test_diag_embed_diagflat_adjoint(device):
    d = _t([[1.0, 2.0], [3.0, 4.0]], device)
    _close(d.diag_embed(1, 0, 2), "diag_embed")
    assert list(_t(np.ones((2, 3)), device).diag_embed(-1, 0, 2).shape) == REF["diag_embed_shape"]
    e = d.diag_embed()
    np.testing.assert_array_equal(e.numpy(), np.stack([np.diag([1.0, 2.0]), np.diag([3.0, 4.0])]))
    np.testing.assert_array_equal(_t([inf, nan], device).diag_embed(-1).numpy(),
                                  [[0.0, 0.0, 0.0], [inf, 0.0, 0.0], [0.0, nan, 0.0]])  # no NaN off the diagonal
    assert _t([True, False], device, gk.bool_).diag_embed().dtype == gk.bool_
    assert _t(np.ones((2, 0)), device).diag_embed(2).shape == (2, 2, 2)
    with pytest.raises(gk.InvalidArgumentError, match="diag_embed"):
        d.diag_embed(0, 1, -2)
    with pytest.raises(gk.ShapeError, match="diag_embed"):
        _t(1.0, device).diag_embed()
    g = _t(np.arange(6.0).reshape(2, 3), device, requires_grad=True)
    for args in ((), (2,), (-1, 0, 2), (1, 2, 0)):
        assert gk.gradcheck(lambda t, a=args: t.diag_embed(*a), (g,))
    _close(_t(M, device).diagflat(-1), "diagflat")
    m3 = _t(np.arange(24.0).reshape(2, 3, 4), device)
    np.testing.assert_array_equal(m3.adjoint().numpy(), np.swapaxes(m3.numpy(), -1, -2))
    np.testing.assert_array_equal(m3.mH.numpy(), np.swapaxes(m3.numpy(), -1, -2))
    for call in (lambda: _t([1.0], device).adjoint(), lambda: _t([1.0], device).mH):
        with pytest.raises(gk.ShapeError, match="adjoint|mH"):
            call()
    assert gk.gradcheck(lambda t: t.mH * t.adjoint(), (g,))


def test_cov_and_corrcoef(device):
    x = _t([[1.0, 2.0, 4.0, 7.0], [0.5, -1.0, 2.0, 3.0], [3.0, 3.5, 1.0, 0.0]], device)
    _close(x.corrcoef(), "corrcoef")
    _close(x.cov(), "cov")
    _close(x.cov(correction=0), "cov0")
    fw, aw = _t([1, 2, 1, 3], device, gk.int64), _t([0.5, 1.0, 2.0, 0.25], device)
    _close(x.cov(fweights=fw, aweights=aw), "cov_w")
    _close(x.cov(correction=2, aweights=aw), "cov_w2")
    _close(x[0].cov(), "cov1d")
    with pytest.raises(gk.ShapeError, match="cov"):
        _t(np.ones((2, 2, 2)), device).cov()
    xg = _t(x.numpy(), device, requires_grad=True)
    awg = _t([0.5, 1.0, 2.0, 0.25], device, requires_grad=True)
    assert gk.gradcheck(lambda t, w: t.cov(aweights=w), (xg, awg))
    assert gk.gradcheck(lambda t: t.corrcoef(), (xg,))


def test_small_aliases(device):
    x = _t(X, device, requires_grad=True)
    assert x.resolve_conj() is x and x.resolve_neg() is x
    c = x.conj_physical()
    assert c is not x and c.requires_grad
    _close(_t([-1.0, 0.3, 0.7], device).hardshrink(0.5), [-1.0, 0.0, 0.7])
    _close(_t([[-1.0, 2.0], [3.0, -4.0]], device).prelu(_t([0.1, 0.2], device)), [-0.1, 2.0, 3.0, -0.8])
    a = _t([[1.0, 0.5], [0.25, 1.0], [0.5, -0.5]], device)
    tau = _t([1.2, 0.4], device)
    _close(a.orgqr(tau), gk.linalg.householder_product(a, tau))


def test_more_gradients(device):
    ng = _t(N, device, requires_grad=True)
    assert gk.gradcheck(lambda t: t.slogdet()[1], (ng,))
    mg = _t(np.array(M).T, device, requires_grad=True)
    assert gk.gradcheck(lambda t: t.qr(), (mg,))
    g = _t(np.arange(6.0).reshape(2, 3) / 5, device, requires_grad=True)
    assert gk.gradcheck(lambda t: t.diagflat(1) + 0, (g,))
    assert gk.gradcheck(lambda t: t.conj_physical() * t, (g,))
    assert gk.gradcheck(lambda t: t.hardshrink(0.3), (g,))
    assert gk.gradcheck(lambda t, w: t.prelu(w), (g - 0.5, _t([0.25, 0.5, 0.75], device, requires_grad=True)))
    a = _t([[1.0, 0.5], [0.25, 1.0], [0.5, -0.5]], device, requires_grad=True)
    assert gk.gradcheck(lambda u, t: u.orgqr(t), (a, _t([1.2, 0.4], device, requires_grad=True)))
    up = _t(REF["cholesky_up"], device).reshape(3, 3)
    up = _t(up.numpy(), device, requires_grad=True)
    assert gk.gradcheck(lambda b, f: b.cholesky_solve(f, upper=True) + f.cholesky_inverse(upper=True)[:, :2],
                        (_t(BM, device, requires_grad=True), up))
    # second order, through the composites
    r = _t([[1.0, -2.0, 0.5], [0.1, 0.2, -0.1], [3.0, 0.0, 4.0]], device, requires_grad=True)
    assert gk.gradcheck(lambda t: gk.grad(lambda u: u.renorm(2, 0, 1.0).pow(3).sum())(t), (r,))
    q = _t([[1.3, -2.2, 0.5], [0.1, 0.2, -0.1]], device, requires_grad=True)  # frac jumps at integers
    assert gk.gradcheck(lambda t: gk.grad(lambda u: u.diag_embed(1).pow(3).sum() + u.frac().pow(2).sum())(t), (q,))
    ag = _t(A, device, requires_grad=True)
    assert gk.gradcheck(lambda t: gk.grad(lambda u: u.logdet() + u.dist(u.mH * 0.5, 3))(t), (ag,))

"""``gk.special``: PyTorch's ``torch.special`` names (and SciPy's ``log_expit``, ``betaln``) for gradkit's special
functions.

Each name is the gradkit function itself (NumPy's argument names where gradkit has them: ``softmax(x,
axis)``, ``logsumexp(x, axis, keepdims)``); ``expit`` is ``sigmoid``, ``psi`` is ``digamma``. All are
differentiable (zeta in q, gammainc/gammaincc in x only, as in PyTorch). Importing this module imports
neither SciPy nor CuPy: ``scipy.special`` / ``cupyx.scipy.special`` are looked up at the first call.
"""

from gradkit.ops.elementwise import erf, exp2, expm1, log1p, round, sigmoid, sinc
from gradkit.ops.nn_ops import log_softmax, softmax
from gradkit.ops.reduce import logsumexp
from gradkit.ops.special import (
    betaln,
    digamma,
    entr,
    erfc,
    erfinv,
    gammaln,
    log_expit,
    logit,
    polygamma,
    xlog1py,
    xlogy,
)
from gradkit.ops.special_airy import airy_ai
from gradkit.ops.special_bessel import i0, i0e, i1, i1e
from gradkit.ops.special_bessel_jy import bessel_j0, bessel_j1, bessel_y0, bessel_y1, spherical_bessel_j0
from gradkit.ops.special_bessel_k import (
    modified_bessel_k0,
    modified_bessel_k1,
    scaled_modified_bessel_k0,
    scaled_modified_bessel_k1,
)
from gradkit.ops.special_gamma import gammainc, gammaincc, multigammaln, zeta
from gradkit.ops.special_normal import erfcx, log_ndtr, ndtr, ndtri
from gradkit.ops.special_poly import (
    chebyshev_polynomial_t,
    chebyshev_polynomial_u,
    chebyshev_polynomial_v,
    chebyshev_polynomial_w,
    hermite_polynomial_h,
    hermite_polynomial_he,
    laguerre_polynomial_l,
    legendre_polynomial_p,
    shifted_chebyshev_polynomial_t,
    shifted_chebyshev_polynomial_u,
    shifted_chebyshev_polynomial_v,
    shifted_chebyshev_polynomial_w,
)

expit = sigmoid
psi = digamma
modified_bessel_i0 = i0
modified_bessel_i1 = i1
# SciPy's names (not in __all__, which holds torch.special's and the two SciPy composites above)
j0, j1, y0, y1 = bessel_j0, bessel_j1, bessel_y0, bessel_y1
k0, k1, k0e, k1e = modified_bessel_k0, modified_bessel_k1, scaled_modified_bessel_k0, scaled_modified_bessel_k1

__all__ = [
    "betaln", "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc",
    "gammaln", "i0", "i0e", "i1", "i1e", "log1p", "log_expit", "log_ndtr", "log_softmax", "logit", "logsumexp",
    "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy", "zeta",
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0", "modified_bessel_i1",
    "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
    "spherical_bessel_j0", "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
    "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "hermite_polynomial_h",
    "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p",
]

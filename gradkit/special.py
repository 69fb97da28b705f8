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
from gradkit.ops.special_bessel import i0, i0e, i1, i1e
from gradkit.ops.special_gamma import gammainc, gammaincc, multigammaln, zeta
from gradkit.ops.special_normal import erfcx, log_ndtr, ndtr, ndtri

expit = sigmoid
psi = digamma

__all__ = [
    "betaln", "digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc",
    "gammaln", "i0", "i0e", "i1", "i1e", "log1p", "log_expit", "log_ndtr", "log_softmax", "logit", "logsumexp",
    "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy", "zeta",
]

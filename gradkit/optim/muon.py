"""Muon: momentum, then the update orthogonalised by a Newton-Schulz iteration (PyTorch's rule,
``torch.optim.Muon``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradkit._args import flag
from gradkit.errors import ArgumentTypeError, InvalidArgumentError
from gradkit.optim.optimizer import Optimizer, _is_number
from gradkit.tensor import Tensor

#: PyTorch's constants (from Keller Jordan's Muon): the quintic Newton-Schulz coefficients, its number of
#: iterations, and the floor of the norm the update is divided by first.
DEFAULT_A, DEFAULT_B, DEFAULT_C = 3.4445, -4.7750, 2.0315
DEFAULT_NS_STEPS = 5
EPS = 1e-7

#: ``adjust_lr_fn``'s values (None is "original"), as PyTorch's.
ADJUST_LR_FNS = ("original", "match_rms_adamw", "spectral_unclamped")


class Muon(Optimizer):
    """``torch.optim.Muon``'s update, for 2-D parameters only (a layer's weight matrix).

    With ``mu = momentum``, ``lerp(x, y, w) = x + w * (y - x)`` (rounded as PyTorch's ``lerp``) and ``(A, B)``
    the parameter's shape::

        buf = lerp(buf, g, 1 - mu)                       (buf starts at zeros)
        u = lerp(g, buf, mu) if nesterov else buf
        O = NS(u)
        p *= 1 - lr * weight_decay                       (decoupled weight decay, with the unadjusted lr)
        p -= adjust(lr) * O

    ``NS`` is PyTorch's quintic Newton-Schulz iteration: ``X = u`` (transposed when ``A > B``, so that ``X X^T``
    is the smaller Gram matrix), ``X /= max(norm(X), eps)`` (Frobenius norm), then ``ns_steps`` times, with
    ``(a, b, c) = ns_coefficients``, ``G = X X^T``, ``X = a X + (b G + c G G) X``; transposed back. ``adjust`` is
    ``adjust_lr_fn``'s: None or "original" ``lr * sqrt(max(1, A / B))`` (Keller Jordan's), "match_rms_adamw"
    ``lr * 0.2 * sqrt(max(A, B))`` (Moonshot's, to reuse AdamW's ``lr`` and ``weight_decay``),
    "spectral_unclamped" ``lr * sqrt(A / B)`` (Bernstein's). State: ``momentum_buffer`` (the parameter's shape
    and dtype), made at a parameter's first step; PyTorch's state dicts load here and gradkit's there.

    Precision: PyTorch runs the Newton-Schulz iteration in bfloat16 whatever the parameter's dtype; gradkit has
    no bfloat16 and runs it in float32 (a float16 or float64 ``u`` is converted, as PyTorch converts it to
    bfloat16), so its ``O`` is the more accurate one: after one step of PyTorch's the parameters differ by up
    to about 1% of ``adjust(lr)`` (bfloat16's 8-bit significand), and steps on float32 parameters match
    PyTorch's only with its iteration run in float32. The momentum, the weight decay and the step are in the
    parameter's dtype, as PyTorch's (a float16 parameter's step ``p - adjust(lr) * O`` in float32, rounded
    once). The matrix products go through the backend's matmul (a captured step's through gradkit's
    capture-safe cuBLAS call); nothing is read on the host, and no step count is kept, so a step can be
    captured by ``gk.cuda.capture``. Each step allocates the iteration's float32 matrices (of the
    parameter's size and ``min(A, B)`` squared).

    Checks, as PyTorch's (``InvalidArgumentError``, a ValueError): a parameter that is not 2-D (PyTorch checks
    only those given to the constructor; here ``add_param_group``'s too), ``lr``, ``momentum`` or
    ``weight_decay`` below 0, an unknown ``adjust_lr_fn``, ``ns_steps >= 100`` and ``ns_coefficients`` not three
    numbers (PyTorch finds these two at the first step; here at once); and, beyond PyTorch's, ``eps < 0`` and
    ``ns_steps`` not a whole number >= 0.
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, params: Any, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: tuple[float, float, float] = (DEFAULT_A, DEFAULT_B, DEFAULT_C),
                 eps: float = EPS, ns_steps: int = DEFAULT_NS_STEPS, adjust_lr_fn: str | None = None) -> None:
        defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "nesterov": nesterov,
                    "ns_coefficients": ns_coefficients, "eps": eps, "ns_steps": ns_steps,
                    "adjust_lr_fn": adjust_lr_fn}
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        self._check("lr", group["lr"], 0)
        self._check("momentum", group["momentum"], 0)
        self._check("weight_decay", group["weight_decay"], 0)
        self._check("eps", group["eps"], 0)
        group["nesterov"] = flag(group["nesterov"], "Muon", "nesterov")
        coefficients = group["ns_coefficients"]
        if not isinstance(coefficients, (tuple, list)) or len(coefficients) != 3:
            raise InvalidArgumentError(
                f"Muon: ns_coefficients must be a tuple of exactly 3 values (a, b, c), got {coefficients!r:.60}"
            )
        for name, value in zip("abc", coefficients, strict=True):
            if not _is_number(value) or not math.isfinite(value):
                raise ArgumentTypeError(f"Muon: ns_coefficients' {name} must be a finite number, got {value!r:.40}")
        group["ns_coefficients"] = tuple(coefficients)
        steps = group["ns_steps"]
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool):
            raise ArgumentTypeError(f"Muon: ns_steps must be a whole number, got {type(steps).__name__} {steps!r}")
        if not 0 <= steps < 100:
            raise InvalidArgumentError(
                f"Muon: ns_steps must be >= 0 and less than 100 (for computational efficiency, as PyTorch), got {steps}"
            )
        fn = group["adjust_lr_fn"]
        if fn is not None and fn not in ADJUST_LR_FNS:
            raise InvalidArgumentError(
                f"Muon: adjust learning rate function {fn!r} is not supported; expected None or one of "
                f"{', '.join(map(repr, ADJUST_LR_FNS))}"
            )
        for i, p in enumerate(group["params"]):
            if p.ndim != 2:
                raise InvalidArgumentError(
                    f"Muon: only 2-D parameters are supported, but parameter {i} of a group has shape "
                    f"{tuple(p.shape)}; optimise biases, embeddings and other parameters that are not matrices "
                    "with another optimiser (AdamW, say)"
                )

    def _new_state(self, p: Tensor) -> dict:
        return {"momentum_buffer": self._zeros(p)}

    def _update_group(self, group: dict) -> None:
        lr, weight_decay, momentum = float(group["lr"]), float(group["weight_decay"]), float(group["momentum"])
        nesterov = flag(group["nesterov"], "Muon.step", "nesterov")
        coefficients = tuple(float(v) for v in group["ns_coefficients"])
        steps, eps, fn = int(group["ns_steps"]), float(group["eps"]), group["adjust_lr_fn"]
        for p, grad, st in self._with_grads(group, self._new_state):
            buf = st["momentum_buffer"]._data
            if p.size == 0:
                continue
            param, tmp = p._data, self._scratch(p)
            _lerp(p._backend.xp, buf, grad, 1 - momentum, buf, tmp)  # buf.lerp_(grad, 1 - momentum)
            if nesterov:
                _lerp(p._backend.xp, grad, buf, momentum, tmp, tmp)  # grad.lerp(buf, momentum)
                update = tmp
            else:
                update = buf
            ortho = _orthogonalize(p._backend, update, coefficients, steps, eps)
            step = -_adjust_lr(lr, fn, p.shape)
            xp = p._backend.xp
            if weight_decay != 0:
                if param.dtype == np.float16:  # PyTorch keeps the factor in float32 (its opmath), NumPy would round
                    xp.copyto(param, param.astype(np.float32) * np.float32(1 - lr * weight_decay))  # it to float16
                else:
                    param *= 1 - lr * weight_decay
            if param.dtype.itemsize <= 4:  # float32 (and float16, whose step is taken in float32, rounded once)
                ortho *= step
                ortho += param
                xp.copyto(param, ortho)
            else:
                xp.copyto(tmp, ortho)
                tmp *= step
                param += tmp


def _lerp(xp: Any, start: Any, end: Any, weight: float, out: Any, tmp: Any) -> None:
    """``out = lerp(start, end, weight)`` rounded as PyTorch's (``start + w * (end - start)`` for ``|w| < 0.5``,
    else ``end + (w - 1) * (end - start)``, with ``w`` in float32 for a float32 or float16 array: PyTorch's
    opmath type). ``out`` may be ``start`` or ``tmp``; ``tmp`` is overwritten."""
    opmath = np.float64 if start.dtype == np.float64 else np.float32
    w = opmath(weight)
    if start.dtype == np.float16:  # computed in float32 and rounded once, as PyTorch's (not in float16)
        low, high = start.astype(np.float32), end.astype(np.float32)
        diff = high - low
        diff *= w if abs(w) < 0.5 else w - opmath(1)
        diff += low if abs(w) < 0.5 else high
        xp.copyto(out, diff)
        return
    xp.subtract(end, start, out=tmp)
    if abs(w) < 0.5:
        tmp *= float(w)
        xp.add(start, tmp, out=out)
    else:
        tmp *= float(w - opmath(1))  # exact in the opmath type, as PyTorch's ``weight - 1``
        xp.add(end, tmp, out=out)


def _orthogonalize(backend: Any, update: Any, coefficients: tuple[float, float, float], steps: int,
                   eps: float) -> Any:
    """PyTorch's ``_zeropower_via_newtonschulz`` of the 2-D array ``update``, in float32 (PyTorch's is in
    bfloat16): a new float32 array of ``update``'s shape (a transposed view when it has more rows than
    columns). No host reads; the products through ``backend.matmul``."""
    xp = backend.xp
    a, b, c = coefficients
    tall = update.shape[0] > update.shape[1]
    x = xp.array(update.T if tall else update, dtype=np.float32, order="C")  # a copy, always
    norm = xp.sqrt(xp.sum(xp.square(x)))
    x /= xp.maximum(norm, np.float32(eps))
    for _ in range(steps):
        gram = backend.matmul(x, x.T)
        poly = backend.matmul(gram, gram)
        poly *= c
        gram *= b
        poly += gram  # b G + c G G: PyTorch's addmm(G, G, G, beta=b, alpha=c)
        product = backend.matmul(poly, x)
        x *= a
        x += product  # a X + (b G + c G G) X: addmm(X, ..., X, beta=a)
    return x.T if tall else x


def _adjust_lr(lr: float, fn: str | None, shape: tuple) -> float:
    """The learning rate of the orthogonalised step, as PyTorch's ``_adjust_lr``."""
    rows, cols = shape[:2]
    if fn is None or fn == "original":
        return lr * math.sqrt(max(1, rows / cols))
    if fn == "match_rms_adamw":
        return lr * (0.2 * math.sqrt(max(rows, cols)))
    if fn == "spectral_unclamped":
        return lr * math.sqrt(rows / cols)
    raise InvalidArgumentError(f"Muon.step: adjust learning rate function {fn!r} is not supported")

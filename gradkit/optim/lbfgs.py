"""L-BFGS (PyTorch's ``torch.optim.LBFGS``): limited-memory quasi-Newton steps, driven by a closure.

The search direction comes from the two-loop recursion over the last
``history_size`` pairs of gradient changes and steps (Nocedal & Wright,
Algorithm 7.4), scaled by ``H_diag = y.s / y.y``. The step length is ``lr``
(the first iteration of a run: ``min(1, 1 / |g|_1) * lr``), or with
``line_search_fn="strong_wolfe"`` the result of a line search for the strong
Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6, with cubic
interpolation and minFunc's safeguards, as PyTorch's).

All the parameters are handled as one flat vector (in their order), so they
must share one device and one dtype. The state lives under the first
parameter, with PyTorch's names and types, and a state dict of PyTorch's
LBFGS loads as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from gradkit._args import scalar, whole
from gradkit.autograd import grad_mode
from gradkit.autograd.engine import writable_dense
from gradkit.cuda.graphs import CaptureError, is_capturing
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError, ShapeError
from gradkit.nn.module import _foreign_array
from gradkit.nn.utils import _one_device
from gradkit.optim.optimizer import Optimizer, _foreign
from gradkit.tensor import Tensor

_LINE_SEARCHES = (None, "strong_wolfe")

# The strong Wolfe conditions' constants (sufficient decrease, curvature), as PyTorch's.
_C1 = 1e-4
_C2 = 0.9

# Curvature y.s at or below this leaves the history as it is (the update would not be positive definite).
_MIN_CURVATURE = 1e-10

# The line search stops narrowing a bracket whose width moves the parameters by less than this. PyTorch's
# line search uses its own default here, not the group's tolerance_change: so does gradkit's, for the same
# iterates.
_BRACKET_TOLERANCE = 1e-9


class _Trial(NamedTuple):
    """One evaluation along the search line: step ``t``, loss ``f``, flat gradient ``g`` (a device array),
    its slope along the direction ``gtd`` and its largest magnitude ``gmax`` (host floats)."""

    t: float
    f: float
    g: Any
    gtd: float
    gmax: float


class LBFGS(Optimizer):
    """``torch.optim.LBFGS``: ``step(closure)`` runs up to ``max_iter`` L-BFGS iterations.

    ``closure`` re-evaluates the model: clears the gradients, computes the loss,
    calls ``backward()`` and returns the loss; ``step`` calls it as often as the
    iterations need (at most ``max_eval`` times, default ``max_iter * 5 // 4``)
    and returns what its first call returned. An iteration stops the step when
    the largest gradient entry is at most ``tolerance_grad``, or the step, its
    directional derivative or the change in loss is below ``tolerance_change``.
    The strong Wolfe line search narrows its bracket down to PyTorch's fixed
    1e-9 (in parameter change), whatever ``tolerance_change``, as PyTorch's.

    One parameter group only, as PyTorch's. The state (of the first parameter):
    ``func_evals``, ``n_iter`` (counts over all steps), the last direction ``d``
    and step ``t``, the history ``old_dirs`` (gradient changes), ``old_stps``
    (steps), ``ro`` (``1 / y.s``), ``H_diag``, ``prev_flat_grad``, ``prev_loss``
    and the two-loop buffer ``al``. A step replaces these and never changes one
    in place, so a ``state_dict()`` taken between steps stays as it was.

    The convergence tests and the line search's decisions need numbers on the
    host: on CuPy each closure call costs one copy to the host (loss, gradient
    maximum and slope together), and each iteration one or two more.
    """

    _state_keys = ("func_evals", "n_iter")

    def __init__(self, params: Any, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        max_iter = whole(max_iter, "LBFGS", "max_iter", 1)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval, "tolerance_grad": tolerance_grad,
                    "tolerance_change": tolerance_change, "history_size": history_size,
                    "line_search_fn": line_search_fn}
        super().__init__(params, defaults)

    # ------------------------------------------------------------ groups
    def add_param_group(self, param_group: Mapping) -> None:
        """Only the first group is accepted: L-BFGS keeps one history over all the parameters (as PyTorch's)."""
        if self.param_groups:
            raise InvalidArgumentError(
                "LBFGS: supports one parameter group only (as PyTorch's), it keeps one history over all the "
                "parameters; put every parameter in one group"
            )
        super().add_param_group(param_group)
        try:
            _uniform(self.param_groups[0]["params"])
        except Exception:
            self.param_groups.clear()
            raise

    def _check_group(self, group: dict) -> None:
        self._check("lr", group["lr"], 0)
        group["max_iter"] = whole(group["max_iter"], "LBFGS", "max_iter", 1)
        if group["max_eval"] is None:  # as the constructor's default
            group["max_eval"] = group["max_iter"] * 5 // 4
        group["max_eval"] = whole(group["max_eval"], "LBFGS", "max_eval", 1)
        self._check("tolerance_grad", group["tolerance_grad"], 0)
        self._check("tolerance_change", group["tolerance_change"], 0)
        group["history_size"] = whole(group["history_size"], "LBFGS", "history_size", 1)
        if group["line_search_fn"] not in _LINE_SEARCHES:
            raise InvalidArgumentError(
                f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {group['line_search_fn']!r:.40}"
            )

    # ------------------------------------------------------------ stepping
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run up to ``max_iter`` iterations; returns the loss of the first ``closure()`` call."""
        if closure is None:
            raise ArgumentTypeError(
                "LBFGS.step: needs a closure (a function that clears the gradients, computes the loss, calls "
                "backward() and returns the loss): L-BFGS evaluates the loss several times per step"
            )
        if not callable(closure):
            raise ArgumentTypeError(f"LBFGS.step: closure must be a function, got {closure!r:.40}")
        if not isinstance(self.param_groups, list) or len(self.param_groups) != 1:
            count = len(self.param_groups) if isinstance(self.param_groups, list) else self.param_groups
            raise InvalidArgumentError(f"LBFGS.step: needs exactly one parameter group, got {count!r:.40}")
        if is_capturing():
            raise CaptureError(
                "LBFGS.step: its convergence tests and line search read values on the host, which a CUDA graph "
                "cannot replay; run it without gk.cuda.capture"
            )
        group = self.param_groups[0]
        if not isinstance(group, dict) or "params" not in group:
            raise ArgumentTypeError(f"LBFGS.step: param_groups must hold a dict with 'params', got {group!r:.60}")
        self._check_group(group)
        params = group["params"]
        _uniform(params)
        return _Run(self, params, group, closure).run()

    # ------------------------------------------------------------ state dict
    def _parse_state_dict(self, state_dict: Mapping, name: str) -> tuple[list[dict], dict[Tensor, dict]]:
        groups, _ = super()._parse_state_dict({**state_dict, "state": {}}, name)
        params = self.param_groups[0]["params"]
        first = int(list(state_dict["param_groups"][0]["params"])[0])
        state: dict[Tensor, dict] = {}
        for k, entry in state_dict["state"].items():
            if int(k) != first:
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: state for parameter {k}; LBFGS keeps its state under the first "
                    f"parameter ({first})"
                )
            if not isinstance(entry, Mapping):
                raise InvalidArgumentError(
                    f"{name}.load_state_dict: the state of parameter {k} is a {type(entry).__name__}, expected a dict"
                )
            state[params[0]] = _parse_state(entry, params, name)
        return groups, state


class _Run:
    """One ``LBFGS.step``: the flat vectors, the closure's evaluations and the iterations."""

    def __init__(self, opt: LBFGS, params: list[Tensor], group: dict, closure: Callable[[], Any]) -> None:
        self.opt = opt
        self.params = params
        self.group = group
        self.closure = closure
        self.backend = params[0]._backend
        self.xp = self.backend.xp
        self.dtype = params[0]._data.dtype

    # -------------------------------------------------------- flat vectors
    def flat_params(self) -> Any:
        return self.xp.concatenate([p._data.reshape(-1) for p in self.params])

    def flat_grad(self) -> Any:
        """The gradients as one new vector (zeros for a parameter without one, as PyTorch's)."""
        xp = self.xp
        parts = []
        for p in self.params:
            g = p._grad
            parts.append(xp.zeros(p._data.size, self.dtype) if g is None else g._data.reshape(-1))
        return xp.concatenate(parts).astype(self.dtype, copy=False)

    def write(self, flat: Any, add: bool) -> None:
        """Set the parameters to ``flat`` (``add=False``) or add ``flat`` to them, slice by slice."""
        start = 0
        for p in self.params:
            piece = flat[start : start + p._data.size].reshape(p._data.shape)
            start += p._data.size
            if not writable_dense(p._data):  # a read-only or broadcast array: the parameter gets its own
                p._data = p._data + piece if add else piece.astype(self.dtype, copy=True)
            elif add:
                p._data += piece
            else:
                p._data[...] = piece
            p._version[0] += 1

    def host(self, *values: Any) -> list[float]:
        """Device scalars as Python floats, in one copy to the host."""
        if self.backend.name == "numpy":
            return [float(np.asarray(v).reshape(())) for v in values]
        xp = self.xp
        both = xp.stack([xp.asarray(v).reshape(()).astype(np.float64) for v in values])
        return [float(v) for v in self.backend.to_numpy(both)]

    def wrap(self, value: Any) -> Tensor:
        return Tensor._make(self.xp.asarray(value), self.backend)

    # -------------------------------------------------------- evaluations
    def evaluate(self, d: Any = None, with_sum: bool = False) -> tuple[Any, float, Any, float, list[float]]:
        """Call the closure: ``(its result, loss, flat gradient, max |g|, [g.d][, sum |g|])``."""
        with grad_mode.enable_grad():
            result = self.closure()
        g = self.flat_grad()
        xp = self.xp
        extra = []
        if d is not None:
            extra.append(xp.dot(g, d))
        if with_sum:
            extra.append(xp.sum(xp.abs(g)))
        loss = result
        if isinstance(loss, Tensor):
            if loss._data.size != 1:
                raise ShapeError(
                    f"LBFGS.step: the closure must return the loss, a number or a one-element tensor; got a "
                    f"tensor of shape {loss.shape}"
                )
            if loss._backend is self.backend:
                values = self.host(loss._data, xp.max(xp.abs(g)), *extra)
                return result, values[0], g, values[1], values[2:]
            loss = loss.item()
        try:
            loss = float(scalar(loss))
        except (TypeError, ValueError):
            raise ArgumentTypeError(
                f"LBFGS.step: the closure must return the loss, a number or a one-element tensor; got "
                f"{type(result).__name__} {result!r:.40}"
            ) from None
        values = self.host(xp.max(xp.abs(g)), *extra)
        return result, loss, g, values[0], values[1:]

    def evaluate_at(self, x: Any, t: float, d: Any) -> _Trial:
        """The loss and gradient at ``x + t * d`` (the parameters are left there)."""
        self.write(x + t * d, add=False)
        _, f, g, gmax, (gtd,) = self.evaluate(d)
        return _Trial(t, f, g, gtd, gmax)

    # -------------------------------------------------------- iterations
    def run(self) -> Any:
        xp = self.xp
        group = self.group
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = float(group["tolerance_grad"]), float(group["tolerance_change"])
        history_size, line_search = group["history_size"], group["line_search_fn"]
        state = self.opt.state.setdefault(self.params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        self.check_state(state)

        first_run = state["n_iter"] == 0  # the first iteration's step length needs |g|_1
        result, loss, g, gmax, extra = self.evaluate(with_sum=first_run)
        evals = 1
        state["func_evals"] += 1
        if gmax <= tolerance_grad:
            return result

        d = _data(state.get("d"))
        t = state.get("t")
        old_dirs = list(state.get("old_dirs") or [])
        old_stps = list(state.get("old_stps") or [])
        ro = list(state.get("ro") or [])
        h_diag = state.get("H_diag")
        prev_g = _data(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")

        iteration = 0
        while iteration < max_iter:
            iteration += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:  # steepest descent, an empty history
                d = -g
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                y = g - prev_g
                s = d * t
                ys = xp.dot(y, s)
                if self.host(ys)[0] > _MIN_CURVATURE:
                    while len(old_dirs) >= history_size:  # forget the oldest pair
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(self.wrap(y))
                    old_stps.append(self.wrap(s))
                    ro.append(self.wrap(xp.reciprocal(ys)))
                    h_diag = self.wrap(ys / xp.dot(y, y))
                d = self.direction(g, old_dirs, old_stps, ro, h_diag, state, history_size)
            prev_g = g
            prev_loss = loss

            t = min(1.0, 1.0 / extra[-1]) * lr if state["n_iter"] == 1 else lr
            gtd, dmax = self.host(xp.dot(g, d), xp.max(xp.abs(d)))
            if gtd > -tolerance_change:  # not a descent direction (any more)
                break

            spent = 0
            if line_search == "strong_wolfe":
                x = self.flat_params()
                start = _Trial(0.0, loss, g, gtd, gmax)
                best, spent = self.strong_wolfe(x, t, d, start, dmax, max_eval - evals)
                t, loss, g, gmax = best.t, best.f, best.g, best.gmax
                self.write(x + t * d, add=False)
            else:
                self.write(t * d, add=True)
                if iteration != max_iter:  # not after the last one: the next step's first call evaluates here
                    _, loss, g, gmax, _ = self.evaluate()
                    spent = 1
            evals += spent
            state["func_evals"] += spent

            if iteration == max_iter or evals >= max_eval or gmax <= tolerance_grad:
                break
            if dmax * t <= tolerance_change or abs(loss - prev_loss) < tolerance_change:  # no progress
                break

        state["d"] = self.wrap(d)
        state["t"] = float(t)
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = h_diag
        state["prev_flat_grad"] = self.wrap(prev_g)
        state["prev_loss"] = prev_loss
        return result

    def direction(self, g: Any, old_dirs: list[Tensor], old_stps: list[Tensor], ro: list[Tensor], h_diag: Any,
                  state: dict, history_size: int) -> Any:
        """``-H g`` by the two-loop recursion over the history (Nocedal & Wright, Algorithm 7.4)."""
        xp = self.xp
        count = len(old_dirs)
        al = list(state.get("al") or [None] * history_size)
        al.extend([None] * (count - len(al)))  # history_size raised since the buffer was made
        q = -g
        for i in range(count - 1, -1, -1):
            a = xp.dot(old_stps[i]._data, q) * ro[i]._data
            q -= a * old_dirs[i]._data
            al[i] = a
        r = q * (h_diag._data if isinstance(h_diag, Tensor) else h_diag)
        for i in range(count):
            b = xp.dot(old_dirs[i]._data, r) * ro[i]._data
            r += (_data(al[i]) - b) * old_stps[i]._data
        state["al"] = [a if a is None or isinstance(a, Tensor) else self.wrap(a) for a in al]
        return r

    def strong_wolfe(self, x: Any, t: float, d: Any, start: _Trial, dmax: float, max_ls: int) -> tuple[_Trial, int]:
        """A step along ``d`` from ``x`` that satisfies the strong Wolfe conditions, or the best one found
        within ``max_ls`` further evaluations: ``(trial, evaluations)``.

        First the step grows until the interval from the previous step brackets
        one that satisfies them (Nocedal & Wright, Algorithm 3.5), then the
        bracket is narrowed by cubic interpolation (Algorithm 3.6), keeping
        each trial a tenth of the bracket away from its ends when it would
        fall too close twice in a row.
        """
        f0, slope0 = start.f, start.gtd
        curvature = -_C2 * slope0

        def armijo_fails(trial: _Trial) -> bool:
            return trial.f > f0 + _C1 * trial.t * slope0

        prev, trial = start, self.evaluate_at(x, t, d)
        evals = 1
        done = False
        tries = 0
        while tries < max_ls:
            if armijo_fails(trial) or (tries > 1 and trial.f >= prev.f):
                bracket = [prev, trial]
                break
            if abs(trial.gtd) <= curvature:
                bracket = [trial]
                done = True
                break
            if trial.gtd >= 0:  # past a minimum along the line
                bracket = [prev, trial]
                break
            # Still descending: extrapolate, between 1.01 and 10 times the step
            bounds = (trial.t + 0.01 * (trial.t - prev.t), trial.t * 10)
            step = _cubic_minimum(prev, trial, bounds)
            prev, trial = trial, self.evaluate_at(x, step, d)
            evals += 1
            tries += 1
        else:  # out of evaluations: the bracket from the start
            bracket = [start, trial]

        low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
        near_end = False
        while not done and tries < max_ls:
            left, right = min(bracket[0].t, bracket[1].t), max(bracket[0].t, bracket[1].t)
            if (right - left) * dmax < _BRACKET_TOLERANCE:  # the bracket is too narrow to move the parameters
                break
            step = _cubic_minimum(bracket[0], bracket[1])
            margin = 0.1 * (right - left)
            if min(right - step, step - left) < margin:
                # Close to an end: allowed once; the second time in a row (or at an end) move inwards.
                if near_end or step >= right or step <= left:
                    step = right - margin if abs(step - right) < abs(step - left) else left + margin
                    near_end = False
                else:
                    near_end = True
            else:
                near_end = False
            trial = self.evaluate_at(x, step, d)
            evals += 1
            tries += 1
            if armijo_fails(trial) or trial.f >= bracket[low].f:
                bracket[high] = trial
                low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
            else:
                if abs(trial.gtd) <= curvature:
                    done = True
                elif trial.gtd * (bracket[high].t - bracket[low].t) >= 0:
                    bracket[high] = bracket[low]
                bracket[low] = trial
        return bracket[low], evals

    # -------------------------------------------------------- state checks
    def check_state(self, state: dict) -> None:
        """The state's vectors fit the parameters (a parameter replaced, or a state of other parameters)."""
        numel = sum(p._data.size for p in self.params)
        for key in ("d", "prev_flat_grad"):
            value = state.get(key)
            if not isinstance(value, Tensor):
                continue
            if value._data.shape != (numel,) or value._backend is not self.backend or value.dtype != self.dtype:
                raise InvalidArgumentError(
                    f"LBFGS.step: state {key!r} is {value.shape} {value.dtype} on {value.device}, but the parameters "
                    f"have {numel} elements of {self.dtype} on {self.params[0].device}; did a parameter's shape, "
                    "dtype or device change? Make a new optimiser, or load a state dict"
                )


def _cubic_minimum(a: _Trial, b: _Trial, bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic with the values and slopes of ``a`` and ``b`` (Nocedal & Wright, eq. 3.59),
    kept within ``bounds`` (default: between the two steps); the bounds' midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(a.t, b.t), max(a.t, b.t))
    if b.t < a.t:  # measured from the right-hand point
        a, b = b, a
    if a.t == b.t:
        return min(max(a.t, lo), hi)
    d1 = a.gtd + b.gtd - 3 * (a.f - b.f) / (a.t - b.t)
    square = d1 * d1 - a.gtd * b.gtd
    if not square >= 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(square)
    step = b.t - (b.t - a.t) * ((b.gtd + d2 - d1) / (b.gtd - a.gtd + 2 * d2))
    return min(max(step, lo), hi)


def _data(value: Any) -> Any:
    return value._data if isinstance(value, Tensor) else value


def _uniform(params: list[Tensor]) -> None:
    """One device and one dtype for all the parameters (L-BFGS keeps flat vectors over them)."""
    if not params:
        raise InvalidArgumentError("LBFGS: got an empty parameter list")
    _one_device(params, "LBFGS")
    for i, p in enumerate(params):
        if p.dtype != params[0].dtype:
            raise DTypeError(
                f"LBFGS: every parameter must have one dtype (it keeps flat vectors over them); parameter 0 is "
                f"{params[0].dtype}, parameter {i} {p.dtype}"
            )


def _parse_state(entry: Mapping, params: list[Tensor], name: str) -> dict:
    """A saved LBFGS state (gradkit's or PyTorch's) as ``LBFGS.step`` keeps it, on the parameters' device."""
    numel = sum(p._data.size for p in params)
    p0 = params[0]
    backend, dtype = p0._backend, p0._data.dtype
    where = f"{name}.load_state_dict"

    def array(value: Any, key: str, shape: tuple[int, ...]) -> Tensor:
        if _foreign(value):
            value = _foreign_array(value, backend, key, where)
        if isinstance(value, Tensor):
            src = backend.transfer(value._data, value._backend)
        elif isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__cuda_array_interface__"):
            src = backend.asarray(value)
        else:
            raise InvalidArgumentError(f"{where}: state {key!r} is a {type(value).__name__}, expected a tensor")
        out = backend.xp.array(src, copy=True)
        if out.dtype.kind != "f":
            raise InvalidArgumentError(f"{where}: state {key!r} has dtype {out.dtype}, expected a float array")
        if out.size != math.prod(shape) or (shape and out.shape != shape):
            raise InvalidArgumentError(
                f"{where}: state {key!r} has shape {tuple(out.shape)}, expected {shape} (the parameters have "
                f"{numel} elements)"
            )
        return Tensor._make(out.astype(dtype, copy=False).reshape(shape), backend)

    def number(value: Any, key: str) -> float:
        if isinstance(value, Tensor):
            value = value.item()
        elif _foreign(value) or hasattr(value, "__cuda_array_interface__") or isinstance(value, np.ndarray):
            value = array(value, key, ()).item()
        value = scalar(value)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InvalidArgumentError(f"{where}: state {key!r} must be a number, got {type(value).__name__}")
        return float(value)

    def vectors(key: str, shape: tuple[int, ...], none_ok: bool = False) -> list:
        items = entry.get(key)
        if not isinstance(items, (list, tuple)):
            raise InvalidArgumentError(f"{where}: state {key!r} must be a list, got {type(items).__name__}")
        return [None if (v is None and none_ok) else array(v, f"{key}[{i}]", shape) for i, v in enumerate(items)]

    state: dict[str, Any] = {}
    for key in ("func_evals", "n_iter"):
        value = number(entry[key], key)
        if not value.is_integer() or value < 0:
            raise InvalidArgumentError(f"{where}: state {key!r} must be a whole number >= 0, got {value!r}")
        state[key] = int(value)
    for key in ("d", "prev_flat_grad"):
        if entry.get(key) is not None:
            state[key] = array(entry[key], key, (numel,))
    for key in ("t", "prev_loss"):
        if entry.get(key) is not None:
            state[key] = number(entry[key], key)
    if "H_diag" in entry:
        h_diag = entry["H_diag"]
        plain = isinstance(h_diag, (int, float)) and not isinstance(h_diag, bool)
        state["H_diag"] = h_diag if plain else array(h_diag, "H_diag", ())
    if "old_dirs" in entry or "old_stps" in entry or "ro" in entry:
        state["old_dirs"] = vectors("old_dirs", (numel,))
        state["old_stps"] = vectors("old_stps", (numel,))
        state["ro"] = vectors("ro", ())
        if not len(state["old_dirs"]) == len(state["old_stps"]) == len(state["ro"]):
            raise InvalidArgumentError(
                f"{where}: the history lists 'old_dirs', 'old_stps' and 'ro' have different lengths "
                f"({len(state['old_dirs'])}, {len(state['old_stps'])}, {len(state['ro'])})"
            )
    if "al" in entry:
        state["al"] = vectors("al", (), none_ok=True)
    if state["n_iter"] > 0 and any(k not in state for k in ("d", "t", "prev_flat_grad", "old_dirs", "H_diag")):
        missing = [k for k in ("d", "t", "prev_flat_grad", "old_dirs", "H_diag") if k not in state]
        raise InvalidArgumentError(
            f"{where}: the state has n_iter={state['n_iter']} but no {', '.join(map(repr, missing))}"
        )
    return state

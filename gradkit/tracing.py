"""``gk.trace``: the forward primal trace and the reverse adjoint trace of a function.

It reproduces Table 1 of Baydin, Pearlmutter, Radul and Siskind, "Automatic
differentiation in machine learning: a survey" (JMLR 2018, arXiv:1502.05767).
For ``f(x1, ..., xn)`` the inputs are named ``v_{1-n} .. v_0`` (so ``x1 -> v-1``
and ``x2 -> v0`` for two inputs), and each operation that the engine records
while ``f`` runs becomes an intermediate ``v1, v2, ...`` in order. One
backward pass, seeded with ``y~ = 1``, then gives every adjoint
``v~i = dy/dvi``, together with how it was accumulated from the consumers of
``vi`` (``v~0 = v~2 * v-1 + v~3 * cos v0``).

The names use ASCII: ``v-1`` for v_{-1} and ``v~3`` for the adjoint v-bar_3.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gradkit.autograd import function as _function
from gradkit.autograd import grad_mode
from gradkit.autograd.engine import run_backward
from gradkit.autograd.node import Node
from gradkit.errors import ArgumentTypeError, DTypeError, InvalidArgumentError, describe
from gradkit.tensor import Tensor

__all__ = ["trace", "Trace", "Step", "Adjoint", "Term"]


# ------------------------------------------------------------------ data
@dataclass
class Step:
    """One row of the forward primal trace: ``name = expr = value``."""

    name: str  #: "v1"
    index: int  #: 1 (inputs have indices 1-n .. 0)
    op: str  #: the recorded operation ("log", "multiply", ...) or "input"
    expr: str  #: "ln v-1", "v-1 * v0", or "x1" for an input
    inputs: tuple[str, ...]  #: the variables it reads ("v-1", ...)
    value: Any  #: a float for a one-element value, else a NumPy array
    shape: tuple[int, ...]
    expr_values: str | None = None  #: the expression with numbers substituted ("ln 2"), scalars only


@dataclass
class Term:
    """One consumer's contribution to an adjoint: ``v~c * dvc/dvi``."""

    consumer: str  #: "v2"
    expr: str  #: "v~2 * v-1"
    value: Any


@dataclass
class Adjoint:
    """One row of the reverse adjoint trace: ``name = expr = value``."""

    name: str  #: "v~0"
    var: str  #: "v0"
    index: int
    expr: str  #: "v~2 * v-1 + v~3 * cos v0", "y~" for the output's seed
    terms: list[Term] = field(default_factory=list)
    value: Any = None


class Trace:
    """The result of :func:`trace`: the forward and reverse traces of one call, as data and as a table.

    ``forward`` lists the :class:`Step` rows top-down (inputs first);
    ``backward`` the :class:`Adjoint` rows in the order the reverse pass
    finished them (the output's seed first, the inputs last). ``rows`` pairs
    them up, one plain dict per variable in forward order. ``value`` is
    ``f``'s result and ``grads`` the input adjoints ``x~1 .. x~n``.
    """

    def __init__(
        self, forward: list[Step], backward: list[Adjoint], output: str, inputs: list[str], arg_names: list[str]
    ) -> None:
        self.forward = forward
        self.backward = backward
        self.output = output
        self.inputs = inputs
        self.arg_names = arg_names
        by_var = {a.var: a for a in backward}
        self._adjoint = by_var
        out_step = next(s for s in forward if s.name == output)
        self.value = out_step.value
        self.grads = tuple(by_var[name].value for name in inputs)
        self.rows: list[dict[str, Any]] = []
        for s in forward:
            a = by_var[s.name]
            self.rows.append(
                {
                    "name": s.name,
                    "index": s.index,
                    "kind": "input" if s.op == "input" else ("output" if s.name == output else "intermediate"),
                    "op": s.op,
                    "expr": s.expr,
                    "inputs": s.inputs,
                    "shape": s.shape,
                    "value": s.value,
                    "adjoint_name": a.name,
                    "adjoint_expr": a.expr,
                    "adjoint_terms": [(t.consumer, t.expr, t.value) for t in a.terms],
                    "adjoint": a.value,
                }
            )

    def adjoint(self, name: str) -> Any:
        """The adjoint value of variable ``name`` ("v0", "v3", ...)."""
        entry = self._adjoint.get(name) if isinstance(name, str) else None
        if entry is None:
            raise InvalidArgumentError(
                f"Trace.adjoint: no variable named {name!r}; the trace has {', '.join(self._adjoint)}"
            )
        return entry.value

    def to_dict(self) -> dict[str, Any]:
        """The whole trace as plain dicts, lists and numbers (arrays as nested lists: ``json.dumps`` works)."""
        return _plain({
            "inputs": list(self.inputs),
            "output": self.output,
            "forward": [asdict(s) for s in self.forward],
            "backward": [asdict(a) for a in self.backward],
        })

    # -------------------------------------------------------------- text
    def _lines(self) -> list[tuple[str, str]]:
        """(forward text, backward text) per row, ending with the ``y = vk`` / ``y~ = 1`` row (for a
        non-scalar output ``y~ = ones of shape (n,)``)."""
        pairs = []
        n = len(self.inputs)
        for s in self.forward:
            a = self._adjoint[s.name]
            left = f"{s.name} = {s.expr}"
            value = _fmt(s.value)
            if s.expr_values is not None and s.op != "input" and s.expr_values != value:  # not "-v1 = -2 = -2"
                left += f" = {s.expr_values}"
            left += f" = {value}"
            right = f"{a.name} = {a.expr}"
            if len(a.terms) > 1 and all(_is_scalar(t.value) for t in a.terms):
                right += " = " + _signed_sum([t.value for t in a.terms])
            if right != f"{a.name} = {_fmt(a.value)}":  # an unreached input's adjoint is just 0: say it once
                right += f" = {_fmt(a.value)}"
            if s.op == "input":
                k = s.index + n
                right = f"x~{k} = {right}"
            pairs.append((left, right))
        shape = next(s.shape for s in self.forward if s.name == self.output)
        seed = "1" if shape == () else f"ones of shape {shape}"
        pairs.append((f"y = {self.output} = {_fmt(self.value)}", f"y~ = {seed} (seed)"))
        return pairs

    def __str__(self) -> str:
        pairs = self._lines()
        head = ("Forward primal trace (runs top-down)", "Reverse adjoint trace (runs bottom-up)")
        wl = max(len(head[0]), *(len(p[0]) for p in pairs))
        wr = max(len(head[1]), *(len(p[1]) for p in pairs))
        lines = [f"{head[0]:<{wl}} | {head[1]}", f"{'-' * wl}-+-{'-' * wr}"]
        for left, right in pairs:
            lines.append(f"{left:<{wl}} | {right}")
        lines.append(f"y = {_fmt(self.value)}; gradient ({', '.join(_fmt(g) for g in self.grads)})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Trace of {len(self.forward)} variables, y = {_fmt(self.value)}>"

    def to_markdown(self) -> str:
        """The two traces as a Markdown table, one row per variable."""

        def cell(text: str) -> str:
            return text.replace("|", "\\|")

        lines = [
            "| Forward primal trace | Reverse adjoint trace |",
            "| :--- | :--- |",
        ]
        for left, right in self._lines():
            lines.append(f"| `{cell(left)}` | `{cell(right)}` |")
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------ formatting
def _is_scalar(value: Any) -> bool:
    return not isinstance(value, np.ndarray)


def _num(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e7:
        text = f"{v:.4f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return f"{v:.4g}"


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def _signed_sum(values: list[float]) -> str:
    """``2 - 0.2837`` rather than ``2 + -0.2837``."""
    text = _num(float(values[0]))
    for v in values[1:]:
        text += f" - {_num(-float(v))}" if float(v) < 0 else f" + {_num(float(v))}"
    return text


def _fmt(value: Any) -> str:
    if _is_scalar(value):
        return _num(float(value))
    flat = value.reshape(-1)
    shown = ", ".join(_num(float(x)) for x in flat[:3])
    more = ", ..." if flat.size > 3 else ""
    return f"{tuple(value.shape)} [{shown}{more}]"


def _host(t: Tensor) -> Any:
    """A host copy of a tensor's values: a float for one element, else a NumPy array."""
    array = t.numpy()
    return float(array.reshape(())) if array.size == 1 and array.ndim == 0 else np.array(array, copy=True)


# ---------------------------------------------------------- expressions
_INFIX = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "power": "^", "matmul": "@"}
_PREFIX = {
    "log": "ln",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "exp": "exp",
    "sqrt": "sqrt",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "relu": "relu",
    "abs": "abs",
    "log1p": "log1p",
    "expm1": "expm1",
    "sum": "sum",
    "mean": "mean",
}


def _forward_expr(op: str, args: list[str]) -> str:
    if op in _INFIX and len(args) == 2:
        return f"{args[0]} {_INFIX[op]} {args[1]}"
    if op == "negative" and len(args) == 1:
        return f"-{args[0]}"
    if op == "square" and len(args) == 1:
        return f"{args[0]}^2"
    if op in _PREFIX and len(args) == 1:
        # "sin 5" as in the paper, but "cos(-1)": "cos -1" reads as a subtraction
        return f"{_PREFIX[op]}{args[0]}" if args[0].startswith("(") else f"{_PREFIX[op]} {args[0]}"
    if op == "where" and len(args) == 2:  # the condition is a constant mask, not an operand of the node
        return f"where(cond, {args[0]}, {args[1]})"
    return f"{op}({', '.join(args)})"


def _neg(term: str) -> str:
    return term[1:] if term.startswith("-") else f"-{term}"


def _term_expr(op: str, i: int, bar: str, c: str, args: list[str], consts: list[Any]) -> str:
    """The symbolic contribution ``bar * d c / d args[i]`` of consumer ``c`` (adjoint ``bar``)."""
    a = args[0] if args else "?"
    b = args[1] if len(args) > 1 else "?"
    if op == "add":
        return bar
    if op == "subtract":
        return bar if i == 0 else _neg(bar)
    if op == "multiply":
        return f"{bar} * {args[1 - i]}"
    if op == "divide":
        return f"{bar} / {b}" if i == 0 else f"-{bar} * {a} / {b}^2"
    if op == "power":
        if i == 1:
            return f"{bar} * {c} * ln {a}"
        p = consts[1] if len(consts) > 1 else None
        if isinstance(p, (int, float)):
            if p == 2:
                return f"{bar} * 2 * {a}"
            return f"{bar} * {_paren(_num(p))} * {a}^{_paren(_num(p - 1))}"
        return f"{bar} * {b} * {a}^({b} - 1)"
    if op == "matmul":
        return f"{bar} @ {b}^T" if i == 0 else f"{a}^T @ {bar}"
    if op == "where":
        return f"where(cond, {bar}, 0)" if i == 0 else f"where(cond, 0, {bar})"
    rules = {
        "negative": _neg(bar),
        "log": f"{bar} / {a}",
        "sin": f"{bar} * cos {a}",
        "cos": f"-{bar} * sin {a}",
        "tan": f"{bar} * (1 + {c}^2)",
        "exp": f"{bar} * {c}",
        "sqrt": f"{bar} / (2 * {c})",
        "tanh": f"{bar} * (1 - {c}^2)",
        "sigmoid": f"{bar} * {c} * (1 - {c})",
        "square": f"{bar} * 2 * {a}",
        "log1p": f"{bar} / (1 + {a})",
        "expm1": f"{bar} * ({c} + 1)",
        "relu": f"{bar} * ({a} > 0)",
        "abs": f"{bar} * sign {a}",
        "sum": bar,
    }
    if op in rules:
        return rules[op]
    return f"{bar} * d{c}/d{args[i]}"


# ------------------------------------------------------------------ trace
def _as_input(x: Any, k: int) -> Tensor:
    if isinstance(x, Tensor):
        if x.dtype.kind != "f":
            raise DTypeError(f"trace: argument {k} must be a floating-point tensor, got dtype {x.dtype}")
        return x.detach().requires_grad_(True)
    from gradkit.creation import tensor

    if isinstance(x, bool) or not isinstance(x, (int, float, list, tuple, np.ndarray, np.number)):
        if hasattr(x, "__cuda_array_interface__"):
            t = tensor(x)
            return (t if t.dtype.kind == "f" else t.astype(np.float64)).detach().requires_grad_(True)
        raise ArgumentTypeError(f"trace: argument {k} must be a Tensor, a number or an array, got {describe(x)}")
    t = tensor(x, dtype=None if isinstance(x, np.ndarray) and x.dtype.kind == "f" else np.float64)
    return t.requires_grad_(True)


def trace(f: Callable[..., Any], *args: Any) -> Trace:
    """Run ``f(*args)`` forward once and backward once, and return its :class:`Trace`.

    Every argument is an input ``x1 .. xn`` (Python numbers become float64
    tensors; tensors are detached copies that require grad). ``f`` returns a
    Tensor; a non-scalar output is seeded with ones (the trace of ``y.sum()``).
    ``print(gk.trace(f, 2.0, 5.0))`` shows the forward trace top-down beside
    the reverse trace bottom-up, as in Table 1 of Baydin et al. 2018.
    """
    if not callable(f):
        if isinstance(f, (Tensor, np.ndarray, list, tuple)) or hasattr(f, "__cuda_array_interface__"):
            # numpy.trace(a) spelled gk.trace(a)
            raise ArgumentTypeError(
                f"trace: gk.trace(f, *args) tabulates the derivatives of a function f, got {describe(f)}; "
                "the trace of a matrix (numpy.trace) is gk.diagonal(a).sum(), of a stack of matrices "
                "gk.diagonal(a, axis1=-2, axis2=-1).sum(-1)"
            )
        raise ArgumentTypeError(f"trace: f must be callable, got {describe(f)}")
    if not args:
        raise ArgumentTypeError("trace: pass at least one argument: gk.trace(f, x1, x2, ...)")
    xs = [_as_input(x, k) for k, x in enumerate(args)]
    n = len(xs)
    names: dict[int, str] = {}  # id(leaf) -> name
    forward: list[Step] = []
    for k, x in enumerate(xs):
        name = f"v{k + 1 - n}"
        names[id(x)] = name
        value = _host(x)
        forward.append(Step(name, k + 1 - n, "input", f"x{k + 1}", (), value, tuple(x.shape), _fmt(value)))

    recorded: list[tuple[Node, Tensor]] = []
    thread = threading.get_ident()

    def observe(node: Node, out: Tensor | None) -> None:
        # Ops that other threads run meanwhile are not f's; the nodes of a multi-output call (no tensor) are
        # not shown
        if out is not None and threading.get_ident() == thread:
            recorded.append((node, out))

    _function.add_observer(observe)
    try:
        with grad_mode.enable_grad():
            y = f(*xs)
    finally:
        _function.remove_observer(observe)
    if not isinstance(y, Tensor):
        raise ArgumentTypeError(f"trace: f must return a Tensor, got {describe(y)}")
    if y.dtype.kind != "f":
        raise DTypeError(f"trace: f must return a floating-point tensor, got dtype {y.dtype}")

    # Number the intermediates in a topological order: by depth from the inputs, ties in the order
    # they were recorded. Python evaluates ln(x1) + x1*x2 - sin(x2) as ln, *, +, sin, -; by depth it
    # is ln, *, sin, +, -, the order of Baydin et al.'s Table 1. Any topological order is a valid
    # evaluation order of the same computation.
    depth: dict[Node, int] = {}
    for node, _out in recorded:
        depth[node] = 1 + max((depth.get(e, 0) for e in node.next if type(e) is Node), default=0)
    recorded = [r for _, r in sorted(enumerate(recorded), key=lambda p: (depth[p[1][0]], p[0]))]

    node_names: dict[Node, str] = {}
    values: dict[str, Any] = {s.name: s.value for s in forward}
    extern: dict[int, str] = {}
    steps_info: dict[Node, tuple[list[str], list[Any]]] = {}
    for j, (node, out) in enumerate(recorded, start=1):
        name = f"v{j}"
        node_names[node] = name
        values[name] = _host(out)
    for j, (node, out) in enumerate(recorded, start=1):
        name = node_names[node]
        args_text, consts = _operands(node, out, node_names, names, extern, values)
        steps_info[node] = (args_text, consts)
        inputs = tuple(a for a, e in zip(args_text, node.next, strict=False) if e is not None)
        expr = _forward_expr(node.name, args_text)
        expr_values = None
        if all(_is_scalar(values.get(a, 0.0)) for a in inputs) and _is_scalar(values[name]):
            # negative numbers in parentheses: "-(-2)", "(-2)^2", "cos(-1)", "3 - (-2)"
            subst = [_paren(_fmt(values[a])) if a in values else a for a in args_text]
            expr_values = _forward_expr(node.name, subst)
        forward.append(Step(name, j, node.name, expr, inputs, values[name], tuple(out.shape), expr_values))

    if y._grad_fn is not None and y._grad_fn in node_names:
        output = node_names[y._grad_fn]
    elif id(y) in names:
        output = names[id(y)]
    else:
        raise ArgumentTypeError("trace: f's result does not depend on its arguments through recorded operations")

    # One backward pass; hooks on the recorded nodes catch each adjoint, in the order it is finished.
    adjoint_of: dict[str, Tensor] = {}
    order: list[str] = []

    def catcher(name: str) -> Callable[[Tensor], None]:
        def hook(g: Tensor) -> None:
            adjoint_of[name] = g
            order.append(name)

        return hook

    for node, name in node_names.items():
        node.add_hook(catcher(name))
    seed = Tensor._make(y._backend.xp.ones_like(y._data), y._backend)
    if y._requires_grad:
        leaf_grads = run_backward([y], [seed], retain_graph=True, inputs=xs)
    else:
        leaf_grads = [None] * n
    if y._grad_fn is None and id(y) in names:  # f returned an input unchanged
        leaf_grads = [seed if x is y else g for x, g in zip(xs, leaf_grads, strict=True)]

    # The contribution of each consumer c to each of its inputs: c's VJP rule applied to v~c.
    terms: dict[str, list[Term]] = {s.name: [] for s in forward}
    with grad_mode.no_grad():
        for node, out in recorded:
            c = node_names[node]
            bar = adjoint_of.get(c)
            if bar is None:
                continue
            args_text, consts = steps_info[node]
            saved = node.saved
            if node.out is not None:
                saved = (*saved, Tensor._make(node.out, out._backend))
            for i, edge in enumerate(node.next):
                target = _edge_name(edge, node_names, names)
                if target is None:
                    continue
                g = node.rules[i](bar, *saved)
                if g is None:
                    continue
                if node.fixups is not None and node.fixups[i] is not None:
                    from gradkit.autograd.engine import _fix

                    g = _fix(g, *node.fixups[i])
                expr = _term_expr(node.name, i, "v~" + c[1:], c, args_text, consts)
                terms[target].append(Term(c, expr, _host(g)))

    backward: list[Adjoint] = []
    seen: set[str] = set()
    zero_of = {s.name: (0.0 if _is_scalar(s.value) else np.zeros(s.shape)) for s in forward}

    def add(var: str, total: Any) -> None:
        ts = sorted(terms[var], key=lambda t: int(t.consumer[1:]))
        parts = [t.expr for t in ts]
        if var == output:
            parts.insert(0, "y~")
        expr = " + ".join(parts).replace("+ -", "- ") if parts else "0"
        value = zero_of[var] if total is None else _host(total)
        backward.append(Adjoint("v~" + var[1:], var, int(var[1:]), expr, ts, value))
        seen.add(var)

    for var in order:
        if var not in seen:
            add(var, adjoint_of[var])
    for _node, name in reversed(list(node_names.items())):
        if name not in seen:
            add(name, None)
    for k in range(n - 1, -1, -1):
        add(f"v{k + 1 - n}", leaf_grads[k])
    return Trace(forward, backward, output, [f"v{k + 1 - n}" for k in range(n)], [f"x{k + 1}" for k in range(n)])


def _edge_name(edge: Any, node_names: dict[Node, str], names: dict[int, str]) -> str | None:
    if edge is None:
        return None
    if type(edge) is Node:
        return node_names.get(edge)
    return names.get(id(edge))


def _operands(
    node: Node,
    out: Tensor,
    node_names: dict[Node, str],
    names: dict[int, str],
    extern: dict[int, str],
    values: dict[str, Any],
) -> tuple[list[str], list[Any]]:
    """The names of a node's operands (variables, or constants shown by value) and the constants."""
    args: list[str] = []
    consts: list[Any] = []
    for i, edge in enumerate(node.next):
        name = _edge_name(edge, node_names, names)
        const: Any = None
        if name is None and edge is not None:  # a tensor from outside the trace
            key = id(edge)
            if key not in extern:
                extern[key] = f"w{len(extern) + 1}"
            name = extern[key]
        if name is None:
            const = _constant(node, i, out, node_names, names, values)
            name = _fmt(const) if isinstance(const, (int, float, np.ndarray)) else "c"
        args.append(name)
        consts.append(const)
    return args, consts


def _constant(
    node: Node, i: int, out: Tensor, node_names: dict[Node, str], names: dict[int, str], values: dict[str, Any]
) -> Any:
    """The value of a constant operand, where it can be told: from the saved operands, or by subtraction."""
    saved = node.saved
    if node.name in ("multiply", "divide", "power", "maximum", "minimum") and len(saved) == len(node.next):
        c = saved[i]
        if isinstance(c, Tensor):
            v = _host(c)
            return v if _is_scalar(v) or v.size > 1 else float(v.reshape(()))
        if isinstance(c, (int, float, np.number)):
            return float(c)
    if node.name in ("add", "subtract") and len(node.next) == 2:
        other = _edge_name(node.next[1 - i], node_names, names)
        if other is None or other not in values:
            return None
        y = values[node_names[node]]
        a = values[other]
        if node.name == "add":
            c = np.asarray(y) - np.asarray(a)
        elif i == 1:
            c = np.asarray(a) - np.asarray(y)
        else:
            c = np.asarray(y) + np.asarray(a)
        flat = c.reshape(-1)
        if flat.size and np.allclose(flat, flat[0], rtol=1e-9, atol=0):
            return float(np.round(flat[0], 10))
    return None


def _plain(value: Any) -> Any:
    """``value`` with NumPy arrays and scalars (at any depth) as lists and Python numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value

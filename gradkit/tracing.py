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
Beyond the paper's scalar operations the expressions use NumPy's spelling
(``sum(v0, axis=1)``, ``v0[2:]``, ``v~1 @ w1``, ``expand_dims(v~1, 1) / 2``);
array constants are named ``c1, c2, ...`` and tensors from outside ``f``
that require grad (a module's parameters) ``w1, w2, ...``, and the lines
under the table (``Trace.notes``) list their values and explain the
notations that are not NumPy's (``sum_to``, ``v~1 at [i]``, ``one_hot``).

A ``gk.utils.checkpoint`` call shows its operations as rows and each of its
outputs as ``vk = Checkpoint(vj)``, vj passed on as it is; the reverse pass
runs the operations again, and their adjoints are caught on that second run.
The outputs of ``eigh``, ``qr`` and ``svd`` are named by their fields
(``eigh(v0).eigenvalues``), and ``eigvalsh``, ``svdvals`` and ``qr(a, mode='r')``
show as one row (the outputs they compute and drop are not shown).
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gradkit.autograd import function as _function
from gradkit.autograd import grad_mode
from gradkit.autograd.engine import run_backward
from gradkit.autograd.node import Node
from gradkit.errors import ArgumentTypeError, AutogradError, DTypeError, InvalidArgumentError, describe
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


#: The adjoint row of a variable made from no input (from constants and parameters only): the reverse pass
#: does not compute it.
NOT_COMPUTED = "not computed (made from no input)"
#: The adjoint row of an operation inside a checkpoint (``gk.utils.checkpoint``) whose outputs the trace could not
#: match to its operations: the reverse pass ran them again, and their adjoints are not shown.
NOT_TRACED = "not traced (inside a checkpoint)"


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
        self,
        forward: list[Step],
        backward: list[Adjoint],
        output: str,
        inputs: list[str],
        arg_names: list[str],
        *,
        constants: dict[str, Any] | None = None,
        externals: dict[str, dict[str, Any]] | None = None,
        notes: list[str] | None = None,
        dtype: str = "float64",
    ) -> None:
        self.forward = forward
        #: the dtype ``f`` computed in (printed under the table unless float64)
        self.dtype = str(dtype)
        #: Array constants named in the expressions ("c1" -> its value)
        self.constants: dict[str, Any] = dict(constants or {})
        #: Tensors from outside ``f`` that require grad ("w1" -> {"shape", "value"}; value None when unknown)
        self.externals: dict[str, dict[str, Any]] = dict(externals or {})
        #: Lines printed under the table: what the constants are and what the less usual notations mean
        self.notes: list[str] = list(notes or [])
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
            "constants": dict(self.constants),
            "externals": {k: dict(v) for k, v in self.externals.items()},
            "notes": list(self.notes),
        })

    def __iter__(self) -> Any:
        """The :attr:`rows`, one dict per variable in forward order (``pandas.DataFrame(list(tr))`` works)."""
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

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
            if a.expr in (NOT_COMPUTED, NOT_TRACED):
                pairs.append((left, f"{a.name}: {a.expr}"))
                continue
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
        lines.append(self._summary())
        if self.notes:
            lines.append("where")
            lines.extend(f"  {note}" for note in self.notes)
        return "\n".join(lines)

    def _summary(self) -> str:
        text = f"y = {_fmt(self.value)}; gradient ({', '.join(_fmt(g) for g in self.grads)})"
        return text if self.dtype == "float64" else f"{text}; computed in {self.dtype}"

    def __repr__(self) -> str:
        return f"<Trace of {len(self.forward)} variables, y = {_fmt(self.value)}; print() it for the table>"

    def _repr_html_(self) -> str:
        """The table in a Jupyter notebook (the last expression of a cell shows it)."""
        from html import escape

        cell = 'style="text-align:left; font-family:monospace; white-space:pre"'
        out = [
            "<table>",
            f"<tr><th {cell}>Forward primal trace (runs top-down)</th>"
            f"<th {cell}>Reverse adjoint trace (runs bottom-up)</th></tr>",
        ]
        for left, right in self._lines():
            out.append(f"<tr><td {cell}>{escape(left)}</td><td {cell}>{escape(right)}</td></tr>")
        out.append("</table>")
        out.append(f"<p style=\"font-family:monospace\">{escape(self._summary())}</p>")
        if self.notes:
            items = "".join(f"<li>{escape(note)}</li>" for note in self.notes)
            out.append(f"<p style=\"font-family:monospace\">where</p><ul style=\"font-family:monospace\">{items}</ul>")
        return "\n".join(out)

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
        if self.notes:
            lines.append("")
            lines.extend(f"- `{note}`" for note in self.notes)
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
# Reductions that record their axes (Node.info): shown as "sum(v0, axis=1)" unless they reduce everything.
_AXIS_REDUCTIONS = {
    "sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "nansum", "nanmean", "median", "nanmedian",
    "nanmax", "nanmin",
}  # fmt: skip
#: "no bias": linear's third operand when the layer has none
_NO_BIAS = object()


def _axes_text(axes: tuple) -> str:
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


def _index_item(item: Any, context: Any = None) -> str:
    if item is None:
        return "None"
    if item is Ellipsis:
        return "..."
    if isinstance(item, slice):
        start = "" if item.start is None else str(item.start)
        stop = "" if item.stop is None else str(item.stop)
        return f"{start}:{stop}" + ("" if item.step is None else f":{item.step}")
    if isinstance(item, (bool, np.bool_)):
        return str(bool(item))
    if isinstance(item, (int, np.integer)):
        return str(int(item))
    try:
        array = _to_host(item)
    except Exception:  # noqa: BLE001 (something unusual: name it only)
        return "index"
    if array.dtype.kind != "b" and array.size <= 6:
        return str(array.tolist())
    if context is not None:  # a mask, or many indices: a named constant listed under the table
        return context.constant(array, "a boolean mask" if array.dtype.kind == "b" else "indices")
    return f"{'mask' if array.dtype.kind == 'b' else 'indices'} of shape {tuple(array.shape)}"


def _index_text(idx: tuple, context: Any = None) -> str:
    """NumPy's spelling of a normalised index: ``[0]``, ``[2:]``, ``[:, 1]``, ``[[0, 2]]``, ``[c1]`` (a mask)."""
    return "[" + ", ".join(_index_item(i, context) for i in idx) + "]"


def _expand_text(bar: str, d: dict) -> str:
    """A reduction's output broadcast back over its reduced axes, in NumPy's terms."""
    axes = d["axes"]
    if d["full"] or d["keepdims"] or tuple(axes) == tuple(range(len(axes))):  # NumPy broadcasting does it
        return bar
    return f"expand_dims({bar}, {_axes_text(axes)})"


def _axis_sum(text: str, d: dict) -> str:
    """A sum along softmax's axis, kept for broadcasting."""
    if d.get("ndim", 0) <= 1 or d.get("axis") is None:
        return f"sum({text})"
    return f"sum({text}, axis={d['axis']}, keepdims=True)"


def _forward_expr(op: str, args: list[str], d: dict | None = None) -> str:
    d = d or {}
    if "call" in d and len(args) == 1:  # one output of eigh, qr or svd: "eigh(v0).eigenvalues", "eigvalsh(v0)"
        func, keywords, output = d["call"]
        return f"{func}({args[0]}{keywords})" + (f".{output}" if output else "")
    if op in _INFIX and len(args) == 2:
        return f"{args[0]} {_INFIX[op]} {args[1]}"
    if op == "negative" and len(args) == 1:
        return f"-{args[0]}"
    if op == "square" and len(args) == 1:
        return f"{args[0]}^2"
    if "axes" in d and len(args) == 1 and not d["full"]:
        text = f"{op}({args[0]}, axis={_axes_text(d['axes'])}"
        return text + (", keepdims=True)" if d["keepdims"] else ")")
    if op in _PREFIX and len(args) == 1:
        # "sin 5" as in the paper, but "cos(-1)": "cos -1" reads as a subtraction
        return f"{_PREFIX[op]}{args[0]}" if args[0].startswith("(") else f"{_PREFIX[op]} {args[0]}"
    if op == "where" and len(args) == 2:  # the condition is a constant mask, not an operand of the node
        return f"where(cond, {args[0]}, {args[1]})"
    if op == "getitem" and "index" in d and len(args) == 1:
        return f"{args[0]}{d['index']}"
    if op in ("reshape", "broadcast_to") and "shape" in d and len(args) == 1:
        return f"{op}({args[0]}, {d['shape']})"
    if op == "clip" and "bounds" in d and len(args) == 1:
        return f"clip({args[0]}, {', '.join('None' if v is None else _num(v) for v in d['bounds'])})"
    if op == "concatenate" and "axis" in d:
        return f"concatenate([{', '.join(args)}], axis={d['axis']})"
    if op == "transpose" and "perm" in d and len(args) == 1:
        return f"{args[0]}^T" if d["perm"] == (1, 0) else f"transpose({args[0]}, {d['perm']})"
    if op in ("softmax", "log_softmax") and "ndim" in d and len(args) == 1:
        return f"{op}({args[0]})" if d["ndim"] <= 1 else f"{op}({args[0]}, axis={d['axis']})"
    if op in ("linear", "linear_relu") and len(args) == 3:
        text = f"{args[0]} @ {args[1]}^T" + (f" + {args[2]}" if args[2] else "")
        return text if op == "linear" else f"relu({text})"
    if op == "cross_entropy" and "target" in d and len(args) == 1:
        extra = "" if d["reduction"] == "mean" else f", reduction={d['reduction']!r}"
        return f"cross_entropy({args[0]}, {d['target']}{extra})"
    return f"{op}({', '.join(a for a in args if a)})"


def _neg(term: str) -> str:
    return term[1:] if term.startswith("-") else f"-{term}"


def _term_expr(op: str, i: int, bar: str, c: str, args: list[str], consts: list[Any], d: dict | None = None) -> str:
    """The symbolic contribution ``bar * d c / d args[i]`` of consumer ``c`` (adjoint ``bar``)."""
    d = d or {}
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
    if op in ("maximum", "minimum") and len(args) == 2:
        me, other = args[i], args[1 - i]
        wins = f"{me} {'>' if op == 'maximum' else '<'} {other}"
        return f"{bar} * (({wins}) + ({me} == {other}) / 2)" if d.get("ties") else f"{bar} * ({wins})"
    if "axes" in d:
        if op == "sum":
            return _expand_text(bar, d)
        if op == "mean" and "count" in d:
            return f"{_expand_text(bar, d)} / {d['count']}"
        if op in ("max", "min") and not d.get("ties"):
            return f"{_expand_text(bar, d)} * ({a} == {_expand_text(c, d)})"
        if op in ("max", "min") and d["full"]:  # ties share the adjoint
            return f"{bar} * ({a} == {c}) / sum({a} == {c})"
        axis = _axes_text(d["axes"])
        centred = f"({a} - mean {a})" if d["full"] else f"({a} - mean({a}, axis={axis}, keepdims=True))"
        if op == "var" and "dof" in d:
            return f"{_expand_text(bar, d)} * 2 * {centred} / {_num(d['dof'])}"
        if op == "std" and "dof" in d and not d.get("constant_input"):
            return f"{_expand_text(bar, d)} * {centred} / ({_num(d['dof'])} * {_expand_text(c, d)})"
    if op == "getitem" and "index" in d:
        return f"{bar} at {d['index']}"
    if op == "clip" and "bounds" in d:
        lo, hi = d["bounds"]
        masks = [f"({a} {cmp} {_paren(_num(v))})" for cmp, v in ((">=", lo), ("<=", hi)) if v is not None]
        return " * ".join([bar, *masks])
    if op == "concatenate" and "slices" in d:
        return f"{bar}[{':, ' * d['axis']}{d['slices'][i]}]"
    if op == "reshape" and "in_shape" in d:
        return f"reshape({bar}, {d['in_shape']})"
    if op == "broadcast_to" and "in_shape" in d:
        return f"sum_to({bar}, {d['in_shape']})"
    if op == "transpose" and "perm" in d:
        return f"{bar}^T" if d["perm"] == (1, 0) else f"transpose({bar}, {d['inverse']})"
    if op == "softmax" and "ndim" in d:
        return f"{c} * ({bar} - {_axis_sum(f'{bar} * {c}', d)})"
    if op == "log_softmax" and "ndim" in d:
        return f"{bar} - exp {c} * {_axis_sum(bar, d)}"
    if op in ("linear", "linear_relu") and "x_ndim" in d:
        inner = bar if op == "linear" else f"{bar} * ({c} > 0)"
        g = bar if op == "linear" else f"({inner})"
        nd = d["x_ndim"]
        if i == 0:
            return f"{g} @ {b}"
        if i == 1 and nd in (1, 2):
            return f"{g}^T @ {a}" if nd == 2 else f"outer({inner}, {a})"
        if i == 2 and nd in (1, 2):
            return f"sum({inner}, axis=0)" if nd == 2 else inner
    if op == "cross_entropy" and "target" in d:
        p = f"(softmax({a}, axis=1) - one_hot({d['target']}))"
        if d["reduction"] == "mean":
            return f"{bar} * {p}" + (f" / {d['rows']}" if d["rows"] != 1 else "")
        return f"{bar} * {p}" if d["reduction"] == "sum" else f"{bar}[:, None] * {p}"
    rules = {
        "identity": bar,
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


# ------------------------------------------------------ multi-output calls
#: The fields of the result of the linear-algebra calls that record one node per output (named after the call)
_RESULT_FIELDS = {"eigh": ("eigenvalues", "eigenvectors"), "qr": ("Q", "R"), "svd": ("U", "S", "Vh")}


def _linalg_call(node: Node) -> tuple[tuple[str, str, str], bool] | None:
    """How the output that ``node`` records of eigh, qr or svd was asked for, while it is being recorded:
    ((function, keywords, field), dropped). ``eigh(a).eigenvalues`` is (("eigh", "", "eigenvalues"), False);
    ``eigvalsh`` computes the eigenvectors too where a gradient is wanted, but drops them: the eigenvalues'
    node gives (("eigvalsh", "", ""), False) and the eigenvectors' (..., True). None for another node."""
    fields = _RESULT_FIELDS.get(node.name)
    saved = node.saved
    if (fields is None or not isinstance(saved, tuple) or len(saved) != 2 or type(saved[0]).__name__ != "_Outputs"
            or not isinstance(saved[1], int) or not 0 <= saved[1] < len(fields)):
        return None
    k = saved[1]
    function, keywords = getattr(saved[0], "call", (node.name, ""))  # set by the call (ops.linalg.shown_as)
    if node.name == "eigh":
        if function == "eigvalsh":
            return ("eigvalsh", keywords, ""), k != 0
        return ("eigh", keywords, fields[k]), False
    if node.name == "qr":
        extra = getattr(saved[0], "extra", ())
        mode = extra[0] if extra else "reduced"
        if mode == "r":
            return ("qr", ", mode='r'", ""), k != 1
        return ("qr", "" if mode == "reduced" else f", mode={mode!r}", fields[k]), False
    if function == "svdvals":
        return ("svdvals", "", ""), k != 1
    if keywords == ", compute_uv=False":  # svd(a, compute_uv=False): S only
        return ("svd", keywords, ""), k != 1
    return ("svd", keywords, fields[k]), False


# ------------------------------------------------------------ checkpoints
def _checkpoint_state(node: Node | None) -> Any:
    """The saved value of a ``gk.utils.checkpoint`` node (its ``_Recompute``), else None."""
    if node is None or node.name != "Checkpoint" or not isinstance(node.saved, tuple) or len(node.saved) != 1:
        return None
    module = sys.modules.get("gradkit.utils.checkpoint")  # loaded if a checkpoint ran
    if module is None or type(node.saved[0]) is not module._Recompute:
        return None
    return node.saved[0]


def _selected(node: Node) -> tuple[Node, int] | None:
    """(a multi-output call's node, k) for the selector node of its output k, else None."""
    rules = node.rules
    if type(node) is not Node or len(node.next) != 1 or not isinstance(rules, tuple) or len(rules) != 1:
        return None
    from gradkit.autograd.custom_function import _Select

    rule = rules[0]
    return (node.next[0], rule.k) if type(rule) is _Select and type(node.next[0]) is Node else None


# ------------------------------------------------------------------ trace
def _as_input(x: Any, k: int) -> Tensor:
    where = f"argument {k + 1} (x{k + 1})"
    if isinstance(x, Tensor):
        if x.dtype.kind != "f":
            raise DTypeError(
                f"trace: {where} must be a floating-point tensor, got dtype {x.dtype}; convert it with "
                ".astype(gk.float64), or pass a Python number or a NumPy array (integers become float64)"
            )
        return x.detach().requires_grad_(True)
    from gradkit.creation import tensor

    if isinstance(x, bool) or not isinstance(x, (int, float, list, tuple, np.ndarray, np.number)):
        if hasattr(x, "__cuda_array_interface__"):
            t = tensor(x)
            return (t if t.dtype.kind == "f" else t.astype(np.float64)).detach().requires_grad_(True)
        raise ArgumentTypeError(f"trace: {where} must be a Tensor, a number or an array, got {describe(x)}")
    # NumPy floats keep their precision (np.float32(0.1) traces in float32); the rest becomes float64
    floating = isinstance(x, (np.ndarray, np.floating)) and x.dtype.kind == "f"
    t = tensor(x, dtype=None if floating else np.float64)
    return t.requires_grad_(True)


def trace(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Trace:
    """Run ``f(*args, **kwargs)`` forward once and backward once, and return its :class:`Trace`.

    Every positional argument is an input ``x1 .. xn`` (Python numbers
    become float64 tensors; tensors are detached copies that require grad);
    keyword arguments are passed to ``f`` as they are, as constants. ``f``
    returns a Tensor; a non-scalar output is seeded with ones (the trace of
    ``y.sum()``). ``print(gk.trace(f, 2.0, 5.0))`` shows the forward trace
    top-down beside the reverse trace bottom-up, as in Table 1 of Baydin et
    al. 2018. Tracing leaves no state behind: the caller's tensors, grad
    mode and the ``.grad`` of parameters used inside ``f`` are as before.
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

    recorded: list[tuple[Node, Tensor | None]] = []
    # each output's values when it was made: a tensor changed in place later (h.relu_()) shows what it was then
    made: dict[Node, Any] = {}
    calls: dict[Node, tuple[str, str, str]] = {}  # outputs of eigh, qr, svd: how they were asked for
    dropped: set[Node] = set()  # outputs that a call computes and drops (eigvalsh's eigenvectors)
    first_runs: dict[int, tuple[Any, list[Node]]] = {}  # id(a checkpoint's state) -> (it, its first run's nodes)
    thread = threading.get_ident()

    def observe(node: Node, out: Tensor | None) -> None:
        if threading.get_ident() != thread:  # ops that other threads run meanwhile are not f's
            return
        state = _checkpoint_state(node)
        if state is not None and state.first_run is not None:
            first_runs[id(state)] = (state, list(state.first_run))
        if out is None:  # a multi-output call's nodes: shown only for a checkpoint's outputs (below)
            if _selected(node) is not None:
                recorded.append((node, None))
            return
        call = _linalg_call(node)
        if call is not None:
            calls[node] = call[0]
            if call[1]:
                dropped.add(node)
        recorded.append((node, out))
        made[node] = _host(out)

    _function.add_observer(observe)
    try:
        with grad_mode.enable_grad():
            y = f(*xs, **kwargs)
    finally:
        _function.remove_observer(observe)
    if not isinstance(y, Tensor):
        hint = ""
        if isinstance(y, (tuple, list)) and any(isinstance(e, Tensor) for e in y):
            hint = (
                f"; it returned a {type(y).__name__} of {len(y)}: trace one of its Tensors, "
                "gk.trace(lambda *xs: f(*xs)[0], ...), or their sum"
            )
        elif isinstance(y, (int, float, np.number, np.ndarray)):
            hint = "; compute it from the arguments with gk operations (not .item(), .numpy() or float())"
        raise ArgumentTypeError(f"trace: f must return a Tensor, got {describe(y)}{hint}")
    if y.dtype.kind != "f":
        raise DTypeError(f"trace: f must return a floating-point tensor, got dtype {y.dtype}")

    # A checkpoint's output stands for the first run's node that made it: "v4 = Checkpoint(v3)", the adjoint
    # passed on as it is. The first run's nodes stay rows; the reverse pass runs them again (see on_recompute).
    views, mapped, recorded = _checkpoint_views(recorded, first_runs, dropped)
    untraced = {n for key, (_state, nodes) in first_runs.items() if key not in mapped for n in nodes}

    def edges(node: Node) -> tuple:
        return (views[node],) if node in views else node.next

    # Number the intermediates in a topological order: by depth from the inputs, ties in the order
    # they were recorded. Python evaluates ln(x1) + x1*x2 - sin(x2) as ln, *, +, sin, -; by depth it
    # is ln, *, sin, +, -, the order of Baydin et al.'s Table 1. Any topological order is a valid
    # evaluation order of the same computation.
    depth: dict[Node, int] = {}
    for node, _out in recorded:
        depth[node] = 1 + max((depth.get(e, 0) for e in edges(node) if type(e) is Node), default=0)
    recorded = [r for _, r in sorted(enumerate(recorded), key=lambda p: (depth[p[1][0]], p[0]))]

    node_names: dict[Node, str] = {}
    values: dict[str, Any] = {s.name: s.value for s in forward}
    shapes: dict[str, tuple] = {s.name: s.shape for s in forward}
    context = _Context(node_names, names)
    steps_info: dict[Node, tuple[list[str], list[Any], dict]] = {}
    for j, (node, out) in enumerate(recorded, start=1):
        name = f"v{j}"
        node_names[node] = name
        values[name] = made[node] if node in made else _host(out)
        shapes[name] = tuple(out.shape)
    for j, (node, out) in enumerate(recorded, start=1):
        name = node_names[node]
        # a checkpoint's output, named as its node is ("Checkpoint"; a multi-output call's "Checkpoint[k]")
        op = "Checkpoint" if node in views or _checkpoint_state(node) is not None else node.name
        if node in views:
            args_text, consts, detail = [node_names[views[node]]], [None], {}
        else:
            args_text, consts = _operands(node, out, context, values)
            detail = {"call": calls[node]} if node in calls else _details(
                node, out, args_text, consts, context, values, shapes)
        steps_info[node] = (args_text, consts, detail)
        inputs = tuple(a for a, e in zip(args_text, edges(node), strict=False) if e is not None)
        expr = _forward_expr(op, args_text, detail)
        expr_values = None
        if op != "Checkpoint" and all(_is_scalar(values.get(a, 0.0)) for a in inputs) and _is_scalar(values[name]):
            # negative numbers in parentheses: "-(-2)", "(-2)^2", "cos(-1)", "3 - (-2)"
            subst = [_paren(_fmt(values[a])) if a in values else a for a in args_text]
            expr_values = _forward_expr(op, subst, detail)
        forward.append(Step(name, j, op, expr, inputs, values[name], tuple(out.shape), expr_values))

    if y._grad_fn is not None and y._grad_fn in node_names:
        output = node_names[y._grad_fn]
    elif id(y) in names:
        output = names[id(y)]
    else:
        raise ArgumentTypeError(
            "trace: f's result does not depend on its arguments through recorded operations (was it made from "
            "constants, or through .detach(), .item(), .numpy() or gk.no_grad()?)"
        )

    # One backward pass; hooks on the recorded nodes catch each adjoint, in the order it is finished.
    # name -> its adjoint: from the graph, and for a checkpoint's operations from the recomputation (both, for
    # one that f also used outside the call: a tensor the function stored elsewhere)
    adjoint_parts: dict[str, dict[str, Tensor]] = {}
    order: list[str] = []

    def catcher(name: str, part: str = "graph") -> Callable[[Tensor], None]:
        def hook(g: Tensor) -> None:
            parts = adjoint_parts.setdefault(name, {})
            if not parts:
                order.append(name)
            parts[part] = g

        return hook

    added: list[tuple[Node, int]] = []

    def on_recompute(state: Any, nodes: list[Node]) -> None:
        """A checkpoint runs its function again: the new nodes' gradients are the adjoints of the first run's."""
        entry = first_runs.get(id(state))
        if entry is None or entry[0] is not state:
            return
        for first, new in zip(entry[1], nodes, strict=False):
            inner, again = _checkpoint_state(first), _checkpoint_state(new)
            if inner is not None and again is not None and id(inner) in first_runs:  # a nested checkpoint
                first_runs[id(again)] = (again, first_runs[id(inner)][1])
                if id(inner) in mapped:
                    mapped.add(id(again))
            name = node_names.get(first)
            if name is not None and id(state) in mapped:
                added.append((new, new.add_hook(catcher(name, "recomputed"))))

    checkpoints = sys.modules.get("gradkit.utils.checkpoint") if first_runs else None
    try:
        for node, name in node_names.items():
            added.append((node, node.add_hook(catcher(name))))
        seed = Tensor._make(y._backend.xp.ones_like(y._data), y._backend)
        if checkpoints is not None:
            checkpoints.add_recompute_observer(on_recompute)
        if y._requires_grad:
            try:
                leaf_grads = run_backward([y], [seed], retain_graph=True, inputs=xs)
            except AutogradError as exc:
                hint = " (did f call .backward()? gk.trace runs the backward pass itself)" if "second time" in str(
                    exc) else ""
                raise AutogradError(f"trace: the backward pass over f's graph failed{hint}: {exc}") from exc
        else:
            leaf_grads = [None] * n
    finally:  # the graph may outlive the trace (f can keep a tensor): leave no hook on it
        if checkpoints is not None:
            checkpoints.remove_recompute_observer(on_recompute)
        for node, key in added:
            if node.hooks is not None:
                node.hooks.pop(key, None)
                if not node.hooks:
                    node.hooks = None
    if y._grad_fn is None and id(y) in names:  # f returned an input unchanged
        leaf_grads = [seed if x is y else g for x, g in zip(xs, leaf_grads, strict=True)]

    # The contribution of each consumer c to each of its inputs: c's VJP rule applied to v~c.
    terms: dict[str, list[Term]] = {s.name: [] for s in forward}
    with grad_mode.no_grad():
        adjoint_of: dict[str, Tensor] = {}
        for name, parts in adjoint_parts.items():
            graph_part, recomputed = parts.get("graph"), parts.get("recomputed")
            adjoint_of[name] = recomputed if graph_part is None else graph_part if recomputed is None else (
                graph_part + recomputed)
        for node, out in recorded:
            c = node_names[node]
            bar = adjoint_of.get(c)
            if bar is None:
                continue
            args_text, consts, detail = steps_info[node]
            if node in views:  # a checkpoint's output: its adjoint is that of the first run's node
                target = node_names[views[node]]
                terms[target].append(Term(c, "v~" + c[1:], _host(bar)))
                continue
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
                expr = _term_expr(node.name, i, "v~" + c[1:], c, args_text, consts, detail)
                if node.fixups is not None and node.fixups[i] is not None:
                    from gradkit.autograd.engine import _fix

                    if tuple(g.shape) != tuple(node.fixups[i][0]):  # summed back over broadcast axes
                        expr = f"sum_to({expr}, {tuple(node.fixups[i][0])})"
                    g = _fix(g, *node.fixups[i])
                terms[target].append(Term(c, expr, _host(g)))

    backward: list[Adjoint] = []
    seen: set[str] = set()
    zero_of = {s.name: (0.0 if _is_scalar(s.value) else np.zeros(s.shape)) for s in forward}
    # The variables made from an input: the reverse pass skips the adjoints of the others (made from
    # constants and parameters only), which are then not 0 but not computed.
    from_inputs = {f"v{k + 1 - n}" for k in range(n)}
    for node, _out in recorded:
        if any(_edge_name(edge, node_names, names) in from_inputs for edge in edges(node)):
            from_inputs.add(node_names[node])
    untraced_names = {node_names[node] for node in untraced if node in node_names}

    def add(var: str, total: Any) -> None:
        if total is None and (var not in from_inputs or var in untraced_names):
            what = NOT_TRACED if var in untraced_names else NOT_COMPUTED
            backward.append(Adjoint("v~" + var[1:], var, int(var[1:]), what, [], None))
            seen.add(var)
            return
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
    notes = _checkpoint_notes(views, first_runs, node_names, backward) + _notes(context, backward)
    return Trace(
        forward, backward, output, [f"v{k + 1 - n}" for k in range(n)], [f"x{k + 1}" for k in range(n)],
        constants={k: v for k, (v, _what) in context.constants.items()}, externals=context.external_info,
        notes=notes, dtype=str(y.dtype),
    )


class _Context:
    """The names given while a trace is read: variables, tensors from outside ``f`` and array constants."""

    def __init__(self, node_names: dict[Node, str], names: dict[int, str]) -> None:
        self.node_names = node_names
        self.names = names
        self.extern: dict[int, str] = {}  # id(edge) -> "w1"
        self.external_info: dict[str, dict[str, Any]] = {}
        self.constants: dict[str, tuple[Any, str]] = {}  # "c1" -> (value, what it is)

    def external(self, edge: Any, saved: Any = None) -> str:
        """The name of a tensor from outside f; ``saved``: the consumer's saved copy of it, if it keeps one."""
        key = id(edge)
        if key not in self.extern:
            name = f"w{len(self.extern) + 1}"
            self.extern[key] = name
            if isinstance(edge, Tensor):
                self.external_info[name] = {"shape": tuple(edge.shape), "value": _host(edge)}
            elif isinstance(saved, Tensor) and saved._grad_fn is edge:  # made before f, kept by its consumer
                self.external_info[name] = {"shape": tuple(saved.shape), "value": _host(saved)}
            else:  # the result of operations run before f (a Node): its values are not kept
                out = getattr(edge, "out", None)
                self.external_info[name] = {"shape": None if out is None else tuple(out.shape), "value": None}
        return self.extern[key]

    def constant(self, value: Any, what: str = "a constant") -> str:
        """A constant's text: a number as it is, an array by a name ("c1") listed under the table."""
        if not isinstance(value, np.ndarray) or value.ndim == 0:
            return _fmt(float(np.asarray(value)))
        for name, (known, _what) in self.constants.items():
            if known.shape == value.shape and known.dtype == value.dtype and np.array_equal(known, value):
                return name
        name = f"c{len(self.constants) + 1}"
        self.constants[name] = (value, what)
        return name


def _checkpoint_views(
    recorded: list[tuple[Node, Tensor | None]], first_runs: dict[int, tuple[Any, list[Node]]], dropped: set[Node]
) -> tuple[dict[Node, Node], set[int], list[tuple[Node, Tensor]]]:
    """Sort out the checkpoints' outputs and the dropped outputs of calls such as eigvalsh once f has run.

    Returns ``views`` (the node of each checkpoint output that is shown -> the first run's node that made
    that output), ``mapped`` (the ids of the checkpoints' states whose outputs are shown so) and the rows
    to show: each with its tensor, a multi-output checkpoint's output with that of the first run's node.
    """
    outs_of = {node: out for node, out in recorded if out is not None}
    views: dict[Node, Node] = {}
    mapped: set[int] = set()
    for node, out in recorded:
        selected = _selected(node) if out is None else None
        owner, k = selected if selected is not None else (node, 0)
        state = _checkpoint_state(owner)
        entry = first_runs.get(id(state)) if state is not None else None
        if entry is None or (selected is not None) != (len(state.outs) > 1) or k >= len(state.outs):
            continue
        j = state.outs[k][1]
        inner = entry[1][j] if j < len(entry[1]) else None
        if inner is not None and inner in outs_of:
            views[node] = inner
            mapped.add(id(state))
    consumed = {e for node, _ in recorded for e in node.next if type(e) is Node}
    rows: list[tuple[Node, Tensor]] = []
    for node, out in recorded:
        if out is None and node in views:
            out = outs_of[views[node]]
        if out is not None and (node not in dropped or node in consumed):
            rows.append((node, out))
    return views, mapped, rows


def _name_ranges(names: list[str]) -> str:
    """``v1..v3, v5`` for v1, v2, v3, v5."""
    indices = sorted(int(name[1:]) for name in names)
    if not indices:
        return "none"
    parts: list[str] = []
    start = prev = indices[0]
    for k in [*indices[1:], None]:
        if k is not None and k == prev + 1:
            prev = k
            continue
        parts.append(f"v{start}" if start == prev else f"v{start}, v{prev}" if prev == start + 1 else
                     f"v{start}..v{prev}")
        if k is not None:
            start = prev = k
    return ", ".join(parts)


def _checkpoint_notes(
    views: dict[Node, Node],
    first_runs: dict[int, tuple[Any, list[Node]]],
    node_names: dict[Node, str],
    backward: list[Adjoint],
) -> list[str]:
    """What ``Checkpoint(vk)`` means, once per checkpointed call, and what the rows "not traced" are."""
    notes = []
    calls: dict[int, list[Node]] = {}  # id(state) -> its outputs' rows
    for node in views:
        selected = _selected(node)
        calls.setdefault(id((selected[0] if selected is not None else node).saved[0]), []).append(node)
    for key, rows in calls.items():
        rows.sort(key=lambda node: int(node_names[node][1:]))
        outs = [node_names[views[node]] for node in rows]
        inner = [node_names[node] for node in first_runs[key][1] if node in node_names]
        what = f"the output {outs[0]}" if len(outs) == 1 else f"the outputs {', '.join(outs)}"
        notes.append(
            f"{', '.join(f'Checkpoint({o})' for o in outs)}: {what} of a gk.utils.checkpoint call, passed on as "
            f"{'it is' if len(outs) == 1 else 'they are'}; the call kept no values for the reverse pass, which ran "
            f"{_name_ranges(inner)} again: their adjoints are those of that second run"
        )
    if any(a.expr == NOT_TRACED for a in backward):
        notes.append(
            f"{NOT_TRACED}: an operation of a gk.utils.checkpoint call that is shown as one step, Checkpoint of "
            "the call's inputs; the reverse pass ran it again, and its adjoint there is not shown"
        )
    return notes


def _notes(context: _Context, backward: list[Adjoint]) -> list[str]:
    """What the names and notations of the table that are not in Baydin et al.'s mean."""
    notes = []
    for name, (value, what) in context.constants.items():
        if value.dtype.kind == "b":  # a mask: True/False rather than 1/0
            flat = ", ".join(str(bool(v)) for v in value.reshape(-1)[:3]) + (", ..." if value.size > 3 else "")
            notes.append(f"{name} = {tuple(value.shape)} [{flat}]: {what}")
        else:
            notes.append(f"{name} = {_fmt(value)}: {what}")
    for name, info in context.external_info.items():
        if info["value"] is not None:
            notes.append(f"{name} = {_fmt(info['value'])}")
        else:
            shape = "" if info["shape"] is None else f" of shape {info['shape']}"
            notes.append(f"{name}: a tensor{shape} made before f was called (its values are not kept)")
    if context.external_info:
        names = ", ".join(context.external_info)
        if len(context.external_info) > 1:
            notes.append(
                f"{names}: tensors from outside f that require grad (parameters, say): not inputs, so no adjoint "
                "rows; pass them as arguments to trace them"
            )
        else:
            notes.append(
                f"{names}: a tensor from outside f that requires grad (a parameter, say): not an input, so no "
                "adjoint row; pass it as an argument to trace it"
            )
    # (where's "cond" and an unknown constant "c" are described in the API reference, not here)
    right = " ".join(t.expr for a in backward for t in a.terms)
    if "sum_to(" in right:
        notes.append("sum_to(a, s): a summed over the axes that broadcasting added or stretched, back to shape s")
    if " at [" in right:
        notes.append("v~k at [i]: v~k put at the positions [i] of zeros shaped like the indexed variable")
    if "one_hot(" in right:
        notes.append("one_hot(t): one row per target, 1 in the target's class and 0 elsewhere")
    if any("/dv" in t.expr for a in backward for t in a.terms):
        notes.append(
            "v~k * dvk/dvi: the vector-Jacobian product of an operation with no rule written out here; its "
            "value is the one the engine computed"
        )
    return notes


def _edge_name(edge: Any, node_names: dict[Node, str], names: dict[int, str]) -> str | None:
    if edge is None:
        return None
    if type(edge) is Node:
        return node_names.get(edge)
    return names.get(id(edge))


def _operands(node: Node, out: Tensor, context: _Context, values: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """The names of a node's operands (variables, or constants shown by value) and the constants."""
    args: list[str] = []
    consts: list[Any] = []
    for i, edge in enumerate(node.next):
        name = _edge_name(edge, context.node_names, context.names)
        const: Any = None
        if name is None and edge is not None:  # a tensor from outside the trace
            saved = node.saved if isinstance(node.saved, tuple) and len(node.saved) == len(node.next) else ()
            name = context.external(edge, saved[i] if saved else None)
        if name is None:
            const = _constant(node, i, out, context.node_names, context.names, values)
            if const is _NO_BIAS:
                name, const = "", None
            elif isinstance(const, (int, float, np.ndarray)):
                name = context.constant(const)
            else:
                name = "c"
        args.append(name)
        consts.append(const)
    return args, consts


def _details(
    node: Node,
    out: Tensor,
    args: list[str],
    consts: list[Any],
    context: _Context,
    values: dict[str, Any],
    shapes: dict[str, tuple],
) -> dict[str, Any]:
    """What an operation's expressions show beyond its operands: axes, an index, shapes, targets, ties."""
    op = node.name
    saved = node.saved if isinstance(node.saved, tuple) else ()
    d: dict[str, Any] = {}
    in_shape = shapes.get(args[0]) if args else None
    if in_shape is None and args and args[0] in context.external_info:
        in_shape = context.external_info[args[0]]["shape"]
    try:
        if op in _AXIS_REDUCTIONS and isinstance(node.info, tuple) and in_shape is not None:
            ndim = len(in_shape)
            axes = tuple(int(a) for a in node.info)
            keepdims = bool(axes) and out.ndim == ndim
            d.update(axes=axes, ndim=ndim, keepdims=keepdims, full=not keepdims and set(axes) == set(range(ndim)))
            if op == "mean" and len(saved) >= 4 and isinstance(saved[3], (int, float, np.number)):
                d["count"] = int(saved[3]) if float(saved[3]).is_integer() else float(saved[3])
            if op in ("var", "std") and len(saved) >= 4 and isinstance(saved[3], (int, float, np.number)):
                d["dof"] = float(saved[3])
                x = values.get(args[0])
                d["constant_input"] = x is None or bool(np.any(np.ptp(np.asarray(x), axis=axes) == 0))
            if op in ("max", "min") and args[0] in values:
                x, y = np.asarray(values[args[0]]), np.asarray(values[context.node_names[node]])
                kept = y if keepdims else y.reshape(tuple(1 if k in axes else s for k, s in enumerate(in_shape)))
                d["ties"] = bool(np.any(np.sum(x == kept, axis=axes) > 1)) if axes else False
        elif op in ("softmax", "log_softmax") and in_shape is not None:
            d.update(axis=node.info, ndim=len(in_shape))
        elif op == "getitem" and len(saved) == 2 and isinstance(saved[1], tuple):
            d["index"] = _index_text(saved[1], context)
        elif op == "clip" and len(args) == 1 and isinstance(node.info, tuple):
            lo, hi = node.info  # the scalar bounds (tensor bounds are operands of their own)
            if all(v is None or isinstance(v, (int, float, np.number)) for v in (lo, hi)) and (
                lo is None or hi is None or lo <= hi
            ):
                d["bounds"] = tuple(None if v is None else float(v) for v in (lo, hi))
        elif op == "concatenate" and isinstance(node.info, int) and all(
            a in shapes or isinstance(c, np.ndarray) for a, c in zip(args, consts, strict=True)
        ):
            ax = node.info
            sizes = [shapes[a][ax] if a in shapes else c.shape[ax] for a, c in zip(args, consts, strict=True)]
            bounds = np.cumsum([0] + sizes)
            d.update(axis=ax, slices=[f"{int(bounds[k])}:{int(bounds[k + 1])}" for k in range(len(args))])
        elif op in ("reshape", "broadcast_to") and in_shape is not None:
            d.update(shape=tuple(out.shape), in_shape=tuple(in_shape))
        elif op == "transpose" and len(saved) == 1 and isinstance(saved[0], tuple):
            inverse = tuple(int(k) for k in saved[0])
            d.update(perm=tuple(int(k) for k in np.argsort(inverse)), inverse=inverse)
        elif op in ("linear", "linear_relu") and saved and isinstance(saved[0], Tensor):
            d["x_ndim"] = saved[0].ndim
        elif op in ("maximum", "minimum") and len(args) == 2:
            a = values.get(args[0], consts[0])
            b = values.get(args[1], consts[1])
            if a is not None and b is not None:
                d["ties"] = bool(np.any(np.asarray(a) == np.asarray(b)))
        elif op == "cross_entropy":
            _cross_entropy_details(saved, d, context)
    except Exception:  # noqa: BLE001 (an operation recorded in an unusual way: show it plainly)
        return {}
    return d


def _cross_entropy_details(saved: tuple, d: dict, context: _Context) -> None:
    """The targets and reduction of the fused cross-entropy node (both of its recorded forms)."""
    if len(saved) == 5 and isinstance(saved[1], Tensor):  # (dlogits, x, t, reduction, handed-out flag)
        t, reduction, ignored = saved[2], saved[3], False
    elif len(saved) == 6 and not isinstance(saved[1], Tensor):  # the GPU's: (dlogits, scale, x, t, reduction,
        # ignore_index); the CPU's with ignored targets, weights or smoothing (x second) is shown plainly
        t, reduction = saved[3], saved[4]
        ignored = bool((_to_host(t) == saved[5]).any())
    else:
        return
    if ignored or reduction not in ("mean", "sum", "none"):
        return
    targets = _to_host(t)
    d.update(target=context.constant(np.array(targets), "the targets (class indices)"), reduction=reduction,
             rows=int(targets.shape[0]) if targets.ndim else 1)


def _to_host(array: Any) -> np.ndarray:
    if isinstance(array, Tensor):
        return array.numpy()
    return np.asarray(array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else array)


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
    if node.name in ("linear", "linear_relu") and len(saved) >= 2 and all(isinstance(s, Tensor) for s in saved[:2]):
        if i < 2:
            return _host(saved[i])
        bias = node.info  # linear records its bias (a Tensor, or None for none) as the node's info
        return _NO_BIAS if bias is None else _host(bias) if isinstance(bias, Tensor) else None
    if node.name == "concatenate" and isinstance(node.info, int) and node_names.get(node) in values:
        # one constant among variables (a fixed component stacked beside computed ones): the rest of the result
        ax = node.info
        known = [_edge_name(e, node_names, names) for e in node.next]
        if sum(k not in values for k in known) == 1:
            y = np.asarray(values[node_names[node]])
            sizes = [np.shape(values[k])[ax] if k in values else None for k in known]
            start = sum(s for s in sizes[:i] if s is not None)
            stop = start + y.shape[ax] - sum(s for s in sizes if s is not None)
            return np.take(y, np.arange(start, stop), axis=ax)
        return None
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
        if flat.size:  # an array constant; broadcast to the result's shape when it was smaller
            return np.round(c, 10)
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

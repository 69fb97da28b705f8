"""The graph that made a tensor, as Graphviz DOT text (``gk.to_dot``) or an image (``gk.render_graph``).

The graph is bipartite: value nodes (boxes: inputs, intermediates, the
result) and operation nodes (ellipses), with edges value -> operation ->
value in the direction of the forward pass. Constants are left out of a
tensor's graph; a trace's graph names its array constants in the labels of
the operations that use them, and draws tensors from outside the traced
function that require grad (a module's parameters) as dashed grey boxes.

The recorded graph keeps each operation's rules and inputs, not its result,
so for a tensor the shapes of intermediates are worked out from what the
graph does keep (leaves, saved tensors, broadcast fix-ups, elementwise ops
keep shapes); a shape that cannot be told shows as ``?``. Values and
gradients are shown where the graph holds them (leaves and their ``.grad``,
saved tensors, retained gradients). ``gk.to_dot(gk.trace(f, *args))``
draws the same graph with every value and every adjoint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import numpy as np

from gradkit._args import flag, path_arg
from gradkit.autograd.node import Node
from gradkit.errors import ArgumentTypeError, BackendError, InvalidArgumentError, describe
from gradkit.tensor import Tensor

__all__ = ["to_dot", "render_graph"]

# Operations whose result has the shape of their (only) tensor input.
_SAME_SHAPE = {
    "negative", "square", "exp", "expm1", "log", "log1p", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh",
    "sigmoid", "relu", "clip", "identity", "softmax", "log_softmax", "flip", "gelu", "leaky_relu",
}  # fmt: skip
# Operations whose inputs are broadcast to the result; the engine's fix-ups say which inputs differ.
_BROADCAST = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "where"}


def _summary(value: Any) -> str:
    from gradkit.tracing import _fmt

    if isinstance(value, Tensor):
        value = value.numpy()
    elif not isinstance(value, np.ndarray) and hasattr(value, "get"):
        value = value.get()  # a CuPy array (a node's saved result) to the host
    value = np.asarray(value)
    return _fmt(float(value) if value.ndim == 0 else value)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _label(lines: list[str]) -> str:
    return "\\n".join(_escape(line) for line in lines)


def _shape_text(shape: Any) -> str:
    return "?" if shape is None else str(tuple(shape))


def _header(name: str) -> list[str]:
    return [
        f"digraph {name} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555"];',
    ]


def to_dot(tensor: Any, show_values: bool = False, show_grads: bool = False) -> str:
    """The graph that made ``tensor`` in Graphviz DOT, labelled with shapes (optionally values and gradients).

    ``tensor`` is a Tensor (its recorded graph is walked back from its
    ``grad_fn``) or a :class:`gradkit.Trace` (then every value and adjoint is
    known). Value nodes are boxes named ``x1, x2, ...`` (inputs) and ``v1,
    v2, ...``; operation nodes are ellipses named by the operation.
    """
    from gradkit.tracing import Trace

    show_values = flag(show_values, "to_dot", "show_values")
    show_grads = flag(show_grads, "to_dot", "show_grads")
    if isinstance(tensor, Trace):
        return _trace_to_dot(tensor, show_values, show_grads)
    if not isinstance(tensor, Tensor):
        raise ArgumentTypeError(f"to_dot: expected a Tensor or a gk.trace result, got {describe(tensor)}")
    return _tensor_to_dot(tensor, show_values, show_grads)


# --------------------------------------------------------------- tensors
def _topological(root: Node) -> list[Node]:
    """The nodes reachable from ``root`` in forward order, without recursion.

    A post-order walk that visits each node's inputs first, in argument order:
    for ``ln(x1) + x1*x2 - sin(x2)`` it gives ln, *, +, sin, -, the order in
    which Python evaluated them.
    """
    order: list[Node] = []
    done: set[Node] = set()
    stack: list[tuple[Node, int]] = [(root, 0)]
    on_stack = {root}
    while stack:
        node, i = stack.pop()
        nxt = node.next
        while i < len(nxt) and (type(nxt[i]) is not Node or nxt[i] in done or nxt[i] in on_stack):
            i += 1
        if i < len(nxt):
            stack.append((node, i + 1))
            stack.append((nxt[i], 0))
            on_stack.add(nxt[i])
        else:
            order.append(node)
            done.add(node)
            on_stack.discard(node)
    return order


def _saved(node: Node) -> tuple:
    """The node's saved values (empty once a backward pass released them)."""
    saved = node.saved
    return saved if isinstance(saved, tuple) else ()


def _infer_shapes(order: list[Node], known: dict[Node, tuple]) -> None:
    """Fill ``known`` (node -> result shape) from what the recorded graph keeps."""
    for node in order:
        if node.out is not None:
            known.setdefault(node, tuple(node.out.shape))
        saved = _saved(node)
        for s in saved:
            if isinstance(s, Tensor) and s._grad_fn is not None:
                known.setdefault(s._grad_fn, tuple(s.shape))
    changed = True
    while changed:
        changed = False
        for node in order:
            inputs = node.next
            if node.name in _SAME_SHAPE and len(inputs) == 1:
                pairs = [(node, inputs[0])]
            elif node.name in _BROADCAST:
                fix = node.fixups
                pairs = [(node, e) for i, e in enumerate(inputs) if fix is None or fix[i] is None]
            else:
                pairs = []
            if node.fixups is not None:
                for i, e in enumerate(inputs):
                    if type(e) is Node and node.fixups[i] is not None and e not in known:
                        known[e] = tuple(node.fixups[i][0])
                        changed = True
            for out_node, e in pairs:
                if type(e) is not Node:
                    if isinstance(e, Tensor) and out_node not in known:
                        known[out_node] = tuple(e.shape)
                        changed = True
                    continue
                if out_node in known and e not in known:
                    known[e] = known[out_node]
                    changed = True
                elif e in known and out_node not in known:
                    known[out_node] = known[e]
                    changed = True
            if node.name in ("sum", "mean") and node not in known:
                saved = _saved(node)
                if len(saved) >= 3 and isinstance(saved[0], tuple):
                    shape, axes, keepdims = saved[0], saved[1], saved[2]
                    if keepdims:
                        known[node] = tuple(1 if i in axes else d for i, d in enumerate(shape))
                    else:
                        known[node] = tuple(d for i, d in enumerate(shape) if i not in axes)
                    changed = True


def _tensor_to_dot(root: Tensor, show_values: bool, show_grads: bool) -> str:
    lines = _header("gradkit")
    if root._grad_fn is None:
        lines.append(f'  x1 [shape=box, label="{_label(_value_lines("x1", root, show_values, show_grads))}"];')
        lines.append("}")
        return "\n".join(lines) + "\n"
    order = _topological(root._grad_fn)
    known: dict[Node, tuple] = {root._grad_fn: tuple(root.shape)}
    tensors: dict[Node, Tensor] = {root._grad_fn: root}
    for node in order:
        saved = _saved(node)
        for s in saved:
            if isinstance(s, Tensor) and s._grad_fn is not None:
                tensors.setdefault(s._grad_fn, s)
    _infer_shapes(order, known)

    leaf_ids: dict[int, str] = {}
    node_ids = {node: f"v{i}" for i, node in enumerate(order, start=1)}
    for node in order:
        for edge in node.next:
            if isinstance(edge, Tensor) and id(edge) not in leaf_ids:
                leaf_ids[id(edge)] = f"x{len(leaf_ids) + 1}"
                name = leaf_ids[id(edge)]
                label = _label(_value_lines(name, edge, show_values, show_grads))
                lines.append(f'  {name} [shape=box, style=filled, fillcolor="#dbe9f6", label="{label}"];')
    for k, node in enumerate(order, start=1):
        vid = node_ids[node]
        lines.append(f'  op{k} [shape=ellipse, style=filled, fillcolor="#fde8c8", label="{_escape(node.name)}"];')
        t = tensors.get(node)
        if t is not None:
            text = _value_lines(vid, t, show_values, show_grads)
        else:
            text = [vid, _shape_text(known.get(node))]
            if show_values and node.out is not None:
                text.append(f"value {_summary(node.out)}")
        if node is root._grad_fn:
            text[0] += " (output)"
        fill = "#d5f0d5" if node is root._grad_fn else "#ffffff"
        lines.append(f'  {vid} [shape=box, style=filled, fillcolor="{fill}", label="{_label(text)}"];')
    for k, node in enumerate(order, start=1):
        for edge in node.next:
            if edge is None:
                continue
            src = node_ids.get(edge) if type(edge) is Node else leaf_ids[id(edge)]
            lines.append(f"  {src} -> op{k};")
        lines.append(f"  op{k} -> {node_ids[node]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _value_lines(name: str, t: Tensor, show_values: bool, show_grads: bool) -> list[str]:
    text = [name, f"{_shape_text(t.shape)} {t.dtype}"]
    if show_values:
        text.append(f"value {_summary(t)}")
    if show_grads and t.grad is not None:
        text.append(f"grad {_summary(t.grad)}")
    return text


# ----------------------------------------------------------------- traces
def _trace_to_dot(tr: Any, show_values: bool, show_grads: bool) -> str:
    import re

    from gradkit.tracing import _fmt

    lines = _header("gradkit_trace")
    ident = {}
    for s in tr.forward:
        ident[s.name] = "v_m" + s.name[2:] if s.name.startswith("v-") else s.name
    for row in tr.rows:
        name = row["name"]
        text = [name if row["kind"] != "input" else f"{name} = {tr.arg_names[tr.inputs.index(name)]}"]
        if row["kind"] == "output":
            text[0] += " = y"
        text.append(_shape_text(row["shape"]))
        if show_values:
            text.append(f"value {_fmt(row['value'])}")
        if show_grads:
            text.append(f"{row['adjoint_name']} {_fmt(row['adjoint'])}")
        fill = {"input": "#dbe9f6", "output": "#d5f0d5"}.get(row["kind"], "#ffffff")
        lines.append(f'  {ident[name]} [shape=box, style=filled, fillcolor="{fill}", label="{_label(text)}"];')
    # Tensors from outside f that require grad (a module's parameters): drawn, greyed, without an adjoint
    externals = getattr(tr, "externals", {}) or {}
    for name, info in externals.items():
        ident[name] = f"ext_{name}"
        text = [f"{name} (from outside f)", _shape_text(info.get("shape"))]
        if show_values and info.get("value") is not None:
            text.append(f"value {_fmt(info['value'])}")
        lines.append(f'  ext_{name} [shape=box, style="filled,dashed", fillcolor="#eeeeee", label="{_label(text)}"];')
    constants = getattr(tr, "constants", {}) or {}
    for s in tr.forward:
        if s.op == "input":
            continue
        oid = f"op_{ident[s.name]}"
        text = [s.expr]
        for c in dict.fromkeys(re.findall(r"\bc\d+\b", s.expr)):  # the array constants it names, by value
            if c in constants:
                text.append(f"{c} = {_fmt(constants[c])}")
        lines.append(f'  {oid} [shape=ellipse, style=filled, fillcolor="#fde8c8", label="{_label(text)}"];')
        for name in s.inputs:
            if name in ident:
                lines.append(f"  {ident[name]} -> {oid};")
        lines.append(f"  {oid} -> {ident[s.name]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- rendering
_INSTALL = (
    "install the Graphviz 'dot' program (apt install graphviz, brew install graphviz or conda install graphviz) "
    "and the Python package with `python -m pip install graphviz` (from a gradkit checkout: "
    "`python -m pip install \".[viz]\"`)"
)


def render_graph(tensor: Any, path: str | os.PathLike, show_values: bool = False, show_grads: bool = False) -> str:
    """Draw the graph of ``tensor`` (or of a ``gk.trace`` result) into ``path``; returns the path written.

    The format is taken from the suffix: ``.svg``, ``.png``, ``.pdf`` (these
    need Graphviz's ``dot`` program, driven through the optional ``graphviz``
    package when it is installed: ``python -m pip install ".[viz]"`` from a checkout), or ``.dot``/``.gv``
    (the DOT text, no Graphviz needed). Without Graphviz it raises
    :class:`gradkit.BackendError` saying what to install.
    """
    path = path_arg(path, "render_graph")
    show_values = flag(show_values, "render_graph", "show_values")
    show_grads = flag(show_grads, "render_graph", "show_grads")
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    if suffix not in ("svg", "png", "pdf", "dot", "gv"):
        raise InvalidArgumentError(
            f"render_graph: cannot tell the format from {path!r}; use a path ending in .svg, .png, .pdf, .dot or .gv"
        )
    dot = to_dot(tensor, show_values=show_values, show_grads=show_grads)
    if suffix in ("dot", "gv"):
        _write(path, dot.encode("utf-8"))
        return path
    try:
        import graphviz  # optional: python -m pip install ".[viz]"
    except ImportError:
        graphviz = None
    program = shutil.which("dot")
    if program is None:
        missing = "the Graphviz 'dot' program is not on PATH"
        if graphviz is None:
            missing += " and the Python package 'graphviz' is not installed"
        raise BackendError(f"render_graph: cannot write {path!r}: {missing}; {_INSTALL}. gk.to_dot() gives the text.")
    if graphviz is not None:
        try:
            image = graphviz.Source(dot).pipe(format=suffix)
        except Exception as exc:  # graphviz.ExecutableNotFound, graphviz.CalledProcessError
            raise BackendError(f"render_graph: Graphviz failed on {path!r} ({exc}); {_INSTALL}") from None
    else:
        result = subprocess.run([program, f"-T{suffix}"], input=dot.encode(), capture_output=True, check=False)
        if result.returncode != 0:
            raise BackendError(
                f"render_graph: Graphviz 'dot' failed on {path!r} (exit {result.returncode}): "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        image = result.stdout
    _write(path, image)
    return path


class GraphFileError(InvalidArgumentError, OSError):
    """``render_graph`` could not write its file (no such folder, no permission): an ``InvalidArgumentError``
    that ``except OSError`` catches too."""


def _write(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise GraphFileError(f"render_graph: cannot write {path!r}: {exc.strerror or exc}") from exc

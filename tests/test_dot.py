"""gk.to_dot and gk.render_graph: the DOT text parsed back, and rendering with and without Graphviz."""

from __future__ import annotations

import os
import re
import stat
import sys

import numpy as np
import pytest

import gradkit as gk

NODE = re.compile(r'^\s*(\w+) \[(.*)label="((?:[^"\\]|\\.)*)"\];$')
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def parse(dot: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """Nodes (id -> {"shape", "label"}) and edges of the DOT text gk.to_dot writes."""
    lines = dot.strip().splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{") and lines[-1] == "}"
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str]] = []
    for line in lines[1:-1]:
        if m := NODE.match(line):
            shape = re.search(r"shape=(\w+)", m.group(2))
            nodes[m.group(1)] = {"shape": shape.group(1) if shape else "", "label": m.group(3).replace("\\n", "\n")}
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        else:
            assert re.match(r"^\s*(rankdir|node|edge)\b", line), line
    for a, b in edges:
        assert a in nodes and b in nodes
    return nodes, edges


def seed_graph(device: str) -> tuple[gk.Tensor, gk.Tensor, gk.Tensor]:
    x1 = gk.tensor(2.0, dtype=gk.float64, device=device, requires_grad=True)
    x2 = gk.tensor(5.0, dtype=gk.float64, device=device, requires_grad=True)
    return gk.log(x1) + x1 * x2 - gk.sin(x2), x1, x2


def test_known_graph_nodes_and_edges(device: str) -> None:
    y, _, _ = seed_graph(device)
    nodes, edges = parse(gk.to_dot(y))
    ops = {k: v for k, v in nodes.items() if v["shape"] == "ellipse"}
    values = {k: v for k, v in nodes.items() if v["shape"] == "box"}
    assert sorted(v["label"] for v in ops.values()) == ["add", "log", "multiply", "sin", "subtract"]
    assert len(values) == 7  # x1, x2 and the five results
    assert len(edges) == 13  # 8 operand edges + 5 result edges
    label = {k: v["label"].split("\n")[0] for k, v in nodes.items()}
    pairs = {(label[a], label[b]) for a, b in edges}
    assert ("x1", "log") in pairs and ("x1", "multiply") in pairs and ("x2", "multiply") in pairs
    assert ("x2", "sin") in pairs
    for op in ops:  # each operation has exactly one result
        assert sum(1 for a, _ in edges if a == op) == 1
    for v in values.values():  # every value is labelled with its shape
        assert "()" in v["label"]
    assert any(v["label"].startswith("v5 (output)") for v in values.values())


def test_values_and_grads(device: str) -> None:
    y, x1, x2 = seed_graph(device)
    nodes, _ = parse(gk.to_dot(y, show_values=True))
    labels = [v["label"] for v in nodes.values()]
    assert any("value 2" in lab for lab in labels) and any("value 11.6521" in lab for lab in labels)
    assert not any("grad" in lab for lab in labels)
    y.backward()
    nodes, edges = parse(gk.to_dot(y, show_grads=True))
    labels = [v["label"] for v in nodes.values()]
    assert any("grad 5.5" in lab for lab in labels) and any("grad 1.7163" in lab for lab in labels)
    assert len(edges) == 13  # still drawable after backward freed the graph


def test_shapes_are_inferred_for_intermediates(device: str) -> None:
    w = gk.tensor(np.ones((3, 4)), dtype=gk.float32, device=device, requires_grad=True)
    b = gk.zeros(4, device=device, requires_grad=True)
    x = gk.tensor(np.ones((2, 3)), dtype=gk.float32, device=device)
    h = (x @ w + b).relu().sum(axis=1).mean()
    nodes, edges = parse(gk.to_dot(h))
    labels = sorted(v["label"] for v in nodes.values() if v["shape"] == "box")
    shapes = [lab.split("\n")[1] for lab in labels]
    assert shapes.count("(2, 4)") == 3  # matmul, add, relu
    assert "(2,)" in shapes and "(3, 4) float32" in shapes and "(4,) float32" in shapes
    assert len(nodes) == 2 + 5 + 5 and len(edges) == 6 + 5


def test_trace_graph_has_every_value_and_adjoint() -> None:
    tr = gk.trace(lambda x1, x2: gk.log(x1) + x1 * x2 - gk.sin(x2), 2.0, 5.0)
    nodes, edges = parse(gk.to_dot(tr, show_values=True, show_grads=True))
    ops = sorted(v["label"] for v in nodes.values() if v["shape"] == "ellipse")
    assert ops == ["ln v-1", "sin v0", "v-1 * v0", "v1 + v2", "v4 - v3"]
    assert len(nodes) == 12 and len(edges) == 13
    labels = "\n".join(v["label"] for v in nodes.values())
    assert "v~-1 5.5" in labels and "v~0 1.7163" in labels and "value 11.6521" in labels


def test_leaf_and_deep_graphs() -> None:
    x = gk.tensor([1.0, 2.0], requires_grad=True)
    nodes, edges = parse(gk.to_dot(x, show_values=True))
    assert len(nodes) == 1 and not edges
    z = x
    for _ in range(3000):  # no recursion limit
        z = z * 1.0
    nodes, edges = parse(gk.to_dot(z))
    assert len(nodes) == 1 + 2 * 3000 and len(edges) == 2 * 3000


def test_labels_are_escaped() -> None:
    from gradkit.autograd.function import record

    x = gk.tensor([1.0], requires_grad=True)
    y = record('we"ird\\op', x.data * 1, x.backend, (x,), (lambda g: g,))
    nodes, _ = parse(gk.to_dot(y))
    assert any(v["label"] == 'we\\"ird\\\\op' for v in nodes.values())


def test_bad_arguments() -> None:
    with pytest.raises(gk.ArgumentTypeError):
        gk.to_dot([1.0, 2.0])
    y, _, _ = seed_graph("cpu")
    with pytest.raises(gk.InvalidArgumentError, match=r"\.svg"):
        gk.render_graph(y, "graph.bmp")


# --------------------------------------------------------------- rendering
def test_render_dot_text_needs_no_graphviz(tmp_path: os.PathLike) -> None:
    y, _, _ = seed_graph("cpu")
    path = os.path.join(tmp_path, "g.dot")
    assert gk.render_graph(y, path) == path
    with open(path, encoding="utf-8") as fh:
        assert fh.read() == gk.to_dot(y)


def test_render_without_graphviz_says_how_to_install(tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    monkeypatch.setenv("PATH", str(tmp_path))
    y, _, _ = seed_graph("cpu")
    with pytest.raises(gk.BackendError) as info:
        gk.render_graph(y, os.path.join(tmp_path, "g.svg"))
    message = str(info.value)
    assert "dot" in message and 'pip install ".[viz]"' in message and "pip install graphviz" in message
    assert not os.path.exists(os.path.join(tmp_path, "g.svg"))


@pytest.mark.skipif(sys.platform == "win32", reason="uses a shell script as a stand-in for dot")
def test_render_with_a_dot_program(tmp_path: os.PathLike, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = os.path.join(tmp_path, "bin")
    os.makedirs(bindir)
    fake = os.path.join(bindir, "dot")
    with open(fake, "w") as fh:  # echoes its format argument and the DOT text it was given
        fh.write('#!/bin/sh\necho "format $1"\ncat\n')
    os.chmod(fake, os.stat(fake).st_mode | stat.S_IEXEC)
    monkeypatch.setitem(sys.modules, "graphviz", None)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    y, _, _ = seed_graph("cpu")
    out = os.path.join(tmp_path, "g.png")
    assert gk.render_graph(y, out) == out
    with open(out, encoding="utf-8") as fh:
        written = fh.read()
    assert written.startswith("format -Tpng\ndigraph gradkit {")

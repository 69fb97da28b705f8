"""The least a pure-Python tape can do for the engine-chain benchmark: a lower bound, not a library.

Same design as gradkit's engine (a tensor object and a node object per operation, a backward
pass that counts dependencies and runs nodes when their gradient is complete, rules called as
``rule(g, *saved)``), with everything the issue asks of a real engine left out: no grad mode,
no version counters, no broadcasting or dtype fix-ups, no hooks, no error checks, no graph
release. What it costs per operation is what any engine written this way in Python pays before
its features; ``bench_engine_chain.py`` reports it beside gradkit.
"""

from __future__ import annotations

import operator
from typing import Any

_new = object.__new__


class Var:
    __slots__ = ("data", "node", "needs_grad", "grad")


class Node:
    __slots__ = ("rules", "next", "saved")

    def __init__(self, rules: tuple, next_: tuple, saved: tuple) -> None:
        self.rules = rules
        self.next = next_
        self.saved = saved


def var(data: Any, needs_grad: bool = False) -> Var:
    v = _new(Var)
    v.data, v.node, v.needs_grad, v.grad = data, None, needs_grad, None
    return v


def _identity(g: Var, *_: Any) -> Var:
    return g


def _times_b(g: Var, a: Any, b: float) -> Var:
    return var(g.data * b)


_ADD = (_identity, None)
_MUL = (_times_b, None)


def _scalar_op(a: Var, b: float, fn: Any, rules: tuple, saved: tuple) -> Var:
    out = var(fn(a.data, b))
    if a.needs_grad:
        out.needs_grad = True
        out.node = Node(rules, (a.node or a, None), saved)
    return out


def mul(a: Var, b: float) -> Var:
    return _scalar_op(a, b, operator.mul, _MUL, (None, b))


def add(a: Var, b: float) -> Var:
    return _scalar_op(a, b, operator.add, _ADD, ())


def backward(root: Var, seed: Var) -> None:
    deps: dict[Node, int] = {}
    stack = [root.node]
    while stack:
        for edge in stack.pop().next:
            if type(edge) is Node:
                if edge in deps:
                    deps[edge] += 1
                else:
                    deps[edge] = 1
                    stack.append(edge)
    pending = {root.node: seed}
    ready = [root.node]
    while ready:
        node = ready.pop()
        grad = pending.pop(node)
        rules, saved = node.rules, node.saved
        for i, edge in enumerate(node.next):
            if edge is None:
                continue
            g = rules[i](grad, *saved)
            if type(edge) is Node:
                pending[edge] = var(pending[edge].data + g.data) if edge in pending else g
                left = deps[edge] - 1
                deps[edge] = left
                if not left:
                    ready.append(edge)
            else:
                edge.grad = g if edge.grad is None else var(edge.grad.data + g.data)

"""A node of the backward graph: one recorded operation and its VJP rules."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

#: Keys of hook registrations (``Node.hooks``, ``Tensor._hooks``): unique, so that a handle removes its own
#: registration even when the same function was registered twice (``next`` on a count is atomic in CPython).
hook_keys = itertools.count()


class GraphFreed(Exception):
    """Raised inside the engine when a node's saved values were already released."""


class _FreedRules:
    """Stands in for ``Node.rules`` once backward has released the node's saved values."""

    def __getitem__(self, index: int) -> None:
        raise GraphFreed


#: ``Node.rules`` after backward released the node (retain_graph=False).
FREED_RULES = _FreedRules()

# The types of saved values that are not worth releasing: shapes, axes, numbers, flags, slices.
METADATA = frozenset((type(None), bool, int, float, complex, str, slice, type(Ellipsis)))


class _Keep(tuple):
    __slots__ = ()


#: ``Node.versions`` of a node that saved nothing worth releasing (see ``saves_nothing``): backward without
#: ``retain_graph`` leaves it as it is, so that a later pass may run through it again. An empty tuple (no
#: version to check) of its own identity.
KEEP = _Keep()


def saves_nothing(saved: tuple) -> bool:
    """Whether ``saved`` (a node's saved values) holds nothing that backward would release: only shapes,
    axes, numbers, flags, slices and dtypes (also in tuples, lists and dicts), and objects whose
    ``saves_nothing()`` says so.

    Such a node (``record`` marks it: ``versions`` is ``KEEP``), and one that saved nothing at all (an add),
    is left as it is by backward without ``retain_graph``, so that a later pass may run through it again,
    as through PyTorch's nodes that save no tensors: two losses built on one ``broadcast_to`` of a
    parameter, each with its own backward. Its rules are kept too: a rule must not hold an array in a
    closure (save it instead).
    """
    for s in saved:
        t = type(s)
        if t in METADATA:
            continue
        if t is tuple or t is list:
            if saves_nothing(s):
                continue
            return False
        if t is dict:  # roll's {axis: shift}
            if saves_nothing(tuple(s)) and saves_nothing(tuple(s.values())):
                continue
            return False
        if isinstance(s, (np.dtype, np.generic)):  # astype's dtype, a NumPy scalar operand
            continue
        check = getattr(t, "saves_nothing", None)
        if check is None or not check(s):
            return False
    return True


class Node:
    """One operation recorded for backward.

    ``next[i]`` is where the gradient of input ``i`` goes: the Node that made
    that input, the input itself when it is a leaf, or None when it needs no
    gradient. ``rules[i](g, *saved)`` is the vector-Jacobian product for input
    ``i``: given the gradient ``g`` of the output it returns the gradient of
    input ``i``.

    The other fields are None unless set: ``out`` (the result's array,
    passed to the rules after ``saved``), ``versions`` ((version cell,
    version) pairs of the saved tensors; ``KEEP`` when what it saved is not
    worth releasing, see ``saves_nothing``), ``fixups[i]`` (the (shape, dtype)
    input ``i``'s gradient is summed and cast back to), ``hooks`` (run on the
    incoming gradient, in the order they were added; keyed by registration),
    ``retained`` (a weak reference to the output tensor that called
    ``retain_grad()``), ``info`` (op details for display, such as the reduced
    axes) and ``created`` (where the forward operation was called, recorded
    while anomaly detection is on: see anomaly.py). The backward pass reads
    the first five at every node, so they are slots (on CPython 3.11 a
    class-level default read through an instance is not specialised: several
    times the cost of a slot); ``info`` and ``created`` default at class level.
    """

    __slots__ = ("name", "rules", "next", "saved", "out", "versions", "fixups", "hooks", "retained", "__dict__",
                 "__weakref__")

    info: Any = None
    created: Any = None
    quiet_backward: bool = False

    def __init__(self, name: str, rules: tuple, next_: tuple, saved: tuple) -> None:
        self.name = name
        self.rules = rules
        self.next = next_
        self.saved = saved
        self.out = self.versions = self.fixups = self.hooks = self.retained = None

    def add_hook(self, hook: Callable) -> int:
        """Call ``hook(grad)`` on the output's gradient before the rules run; returns its key in ``hooks``."""
        if self.hooks is None:
            self.hooks = {}
        key = next(hook_keys)
        self.hooks[key] = hook
        return key

    def __repr__(self) -> str:
        return f"<{self.name} backward>"

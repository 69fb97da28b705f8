"""A node of the backward graph: one recorded operation and its VJP rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: ``Node.saved`` after backward released it (retain_graph=False).
FREED: tuple = ("<freed>",)


class Node:
    """One operation recorded for backward.

    ``next[i]`` is where the gradient of input ``i`` goes: the Node that made
    that input, the input itself when it is a leaf, or None when it needs no
    gradient. ``rules[i](g, *saved)`` is the vector-Jacobian product for input
    ``i``: given the gradient ``g`` of the output it returns the gradient of
    input ``i``. When ``out`` holds the forward result's array, the rules get
    the result as a last argument after ``saved``. ``fixups[i]``, when set, is the (shape, dtype) that gradient
    is summed and cast back to (undoing broadcasting and type promotion).
    """

    __slots__ = (
        "name",
        "rules",
        "next",
        "saved",
        "versions",
        "fixups",
        "out",
        "out_version",
        "hooks",
        "info",
        "__weakref__",
    )

    def __init__(self, name: str, rules: tuple, next_: tuple, saved: tuple) -> None:
        self.name = name
        self.rules = rules
        self.next = next_
        self.saved = saved
        self.versions: tuple | None = None
        self.fixups: tuple | None = None
        self.out: Any = None
        self.out_version: tuple | None = None
        self.hooks: list[Callable] | None = None
        self.info: Any = None

    def add_hook(self, hook: Callable) -> None:
        """Call ``hook(grad)`` on the output's gradient before the rules run."""
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(hook)

    def __repr__(self) -> str:
        return f"<{self.name} backward>"

"""Anomaly detection: ``gk.autograd.set_detect_anomaly`` and ``detect_anomaly``, as in PyTorch.

While it is on:

- each node recorded keeps ``node.created``, a short stack of where its forward operation was
  called. It is recorded by an observer (``function.add_observer``; every place that makes a node
  for a recorded operation passes it to ``function.observer``, as for ``gk.trace``), removed when
  anomaly mode is turned off, so that recording a node then costs nothing more than before;
- each backward pass puts a ``_Checked`` in place of the ``rules`` of every node it may run
  (``watch``, undone by ``unwatch`` when the pass ends). It raises an AutogradError when a rule
  returns a gradient with NaN (with ``check_nan``), naming the node and where it was created, and
  adds that place as a note to any error a rule raises. The engine's loop does not change: when
  anomaly mode is off, a backward pass costs one check. While a CUDA graph is captured
  (``gk.cuda.is_capturing()``) the NaN check cannot read the gradients on the host: the first rule
  of such a pass raises ``gk.cuda.CaptureError`` instead (``check_nan=False`` works).

The switch is global, not per thread (as PyTorch's).
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any

from gradkit._args import flag
from gradkit.autograd import function
from gradkit.autograd.node import FREED_RULES, GraphFreed, Node
from gradkit.errors import AutogradError
from gradkit.tensor import Tensor

__all__ = ["set_detect_anomaly", "detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]

# Frames of gradkit's own code are left out of the top of a recorded stack: it starts at the caller.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_DEPTH = 10  # frames kept per node


class _State:
    enabled = False
    check_nan = True


state = _State()
_installed = False  # whether _observe is among function's observers (exactly while anomaly mode is on)
_switch_lock = threading.Lock()


def is_anomaly_enabled() -> bool:
    """True while anomaly detection is on."""
    return state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """True when anomaly detection, while on, checks the backward pass's gradients for NaN."""
    return state.check_nan


class set_detect_anomaly:  # noqa: N801 - PyTorch's name
    """Turn anomaly detection on or off; as a ``with`` block, the previous setting returns after it.

    As in PyTorch, the switch happens when it is called: ``gk.autograd.set_detect_anomaly(True)``
    alone turns it on.
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        mode = flag(mode, "set_detect_anomaly", "mode")
        check_nan = flag(check_nan, "set_detect_anomaly", "check_nan")
        self._prev = (state.enabled, state.check_nan)
        _switch(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _switch(*self._prev)


class detect_anomaly:  # noqa: N801 - PyTorch's name
    """Context manager: anomaly detection on inside the block (see ``set_detect_anomaly``)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = flag(check_nan, "detect_anomaly", "check_nan")
        self._prev: list[tuple[bool, bool]] = []  # a stack: one instance may be entered inside its own block

    def __enter__(self) -> None:
        self._prev.append((state.enabled, state.check_nan))
        _switch(True, self.check_nan)

    def __exit__(self, *exc: object) -> None:
        _switch(*self._prev.pop())


def _switch(mode: bool, check_nan: bool) -> None:
    global _installed
    with _switch_lock:
        state.enabled, state.check_nan = mode, check_nan
        if mode != _installed:
            (function.add_observer if mode else function.remove_observer)(_observe)
            _installed = mode


def _observe(node: Node, out: Tensor | None) -> None:
    node.created = _caller_stack()


def _caller_stack() -> traceback.StackSummary:
    """The innermost frames outside gradkit at the time of the call (source lines are read when shown)."""
    top = sys._getframe(1)
    frame = top
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
    return traceback.StackSummary.extract(traceback.walk_stack(frame or top), limit=_DEPTH, lookup_lines=False)


def where(node: Node) -> str:
    """For an error message about ``node``: where its forward operation was called, if that was recorded."""
    stack = node.created
    if stack is None:
        if not state.enabled:
            return ""
        return (
            f"\nAnomaly detection: no forward traceback was recorded for '{node.name}' (was anomaly detection on "
            "during the forward pass too?)"
        )
    frames = traceback.StackSummary.from_list(list(reversed(stack)))  # most recent call last, as Python prints
    return f"\nThe forward operation '{node.name}' was called at (most recent call last):\n" + "".join(
        frames.format()
    ).rstrip("\n")


_REFUSE = "refuse"  # _Checked's check_nan while a CUDA graph is captured: the check cannot run


class _Checked:
    """Stands in for a node's ``rules`` during one backward pass in anomaly mode."""

    __slots__ = ("node", "rules", "check_nan")

    def __init__(self, node: Node, rules: Any, check_nan: bool | str) -> None:
        self.node, self.rules, self.check_nan = node, rules, check_nan

    def __getitem__(self, i: int) -> Any:
        rule = self.rules[i]  # raises GraphFreed for a freed node, which the engine reports
        node, check_nan = self.node, self.check_nan

        def checked(grad: Tensor, *saved: Any) -> Any:
            if check_nan is _REFUSE:
                raise _refuse_capture()
            try:
                result = rule(grad, *saved)
            except GraphFreed:
                raise
            except Exception as exc:
                if hasattr(exc, "add_note"):  # Python 3.11+
                    exc.add_note(f"Raised by the backward of '{node.name}' (anomaly detection).{where(node)}")
                raise
            if check_nan and isinstance(result, Tensor) and _has_nan(result):
                raise AutogradError(
                    f"anomaly detection: the backward of '{node.name}' returned NaN in the gradient of its "
                    f"input {i} (shape {result.shape}, dtype {result.dtype}){where(node)}"
                )
            return result

        return checked


def _has_nan(t: Tensor) -> bool:
    d = t._data
    return d.dtype.kind in "fc" and bool(t._backend.xp.isnan(d).any())


def watch(roots: Any) -> list[Node]:
    """Check the rules of every node reachable from ``roots`` during one backward pass; returns them."""
    check_nan = state.check_nan
    if check_nan and _capturing():
        check_nan = _REFUSE  # raised by the first rule checked: inside the engine's try, which restores its state
    wrapped = []
    stack = [t._grad_fn for t in roots if t._grad_fn is not None]
    seen = set(stack)
    while stack:
        node = stack.pop()
        rules = node.rules
        if rules is not FREED_RULES and type(rules) is not _Checked:  # already checked: an outer pass
            node.rules = _Checked(node, rules, check_nan)
            wrapped.append(node)
        for edge in node.next:
            if type(edge) is Node and edge not in seen:
                seen.add(edge)
                stack.append(edge)
    return wrapped


def _capturing() -> bool:
    from gradkit.cuda.graphs import is_capturing  # not at the top: gradkit.cuda.graphs imports Tensor

    return is_capturing()


def _refuse_capture() -> Exception:
    """The NaN check reads every gradient on the host: not inside a CUDA graph being captured."""
    from gradkit.cuda.graphs import CaptureError

    return CaptureError(
        "anomaly detection: a backward pass inside gk.cuda.capture cannot check its gradients for NaN (that "
        "reads each one on the host, which a CUDA graph cannot do); turn anomaly detection off for the "
        "captured step, or keep only its forward call sites with set_detect_anomaly(True, check_nan=False)"
    )


def unwatch(wrapped: list[Node]) -> None:
    """Put back the rules ``watch`` replaced (a node freed by the pass keeps FREED_RULES)."""
    for node in wrapped:
        rules = node.rules
        if type(rules) is _Checked:
            node.rules = rules.rules

"""``gk.testing.assert_close``: PyTorch's ``torch.testing.assert_close`` for gradkit tensors.

Tensors (or numbers, and sequences and mappings of them, compared item by item) are close when
``|actual - expected| <= atol + rtol * |expected|`` elementwise, with PyTorch's default tolerances by dtype
(float16 1e-3/1e-5, float32 1.3e-6/1e-5, float64 1e-7/1e-7, integers and bools exact); shapes must be equal, and
by default dtypes and devices too. A mismatch raises ``AssertionError`` with PyTorch's report (the number of
mismatched elements, the greatest absolute and relative differences and where they are). The comparison runs on
the host (a GPU tensor is read back).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradkit.errors import InvalidArgumentError

__all__ = ["assert_close"]

_TOLERANCES = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
               np.dtype(np.float64): (1e-7, 1e-7)}


def _fail(msg: Any, default: str) -> None:
    if msg is None:
        raise AssertionError(default)
    raise AssertionError(msg(default) if callable(msg) else str(msg))


def _compare_tensors(actual: Any, expected: Any, rtol: Any, atol: Any, equal_nan: bool, check_device: bool,
                     check_dtype: bool, msg: Any, where: str) -> None:
    if actual.shape != expected.shape:
        _fail(msg, f"The values for attribute 'shape' do not match: {tuple(actual.shape)} != "
                   f"{tuple(expected.shape)}.{where}")
    if check_device and str(actual.device) != str(expected.device):
        _fail(msg, f"The values for attribute 'device' do not match: {actual.device} != {expected.device}.{where}")
    if check_dtype and actual.dtype != expected.dtype:
        _fail(msg, f"The values for attribute 'dtype' do not match: {actual.dtype} != {expected.dtype}.{where}")
    a = actual.detach().cpu().numpy()
    b = expected.detach().cpu().numpy()
    dtype = np.promote_types(a.dtype, b.dtype)
    if rtol is None:
        rtol, atol = max(_TOLERANCES.get(a.dtype, (0.0, 0.0)), _TOLERANCES.get(b.dtype, (0.0, 0.0)))
    _compare_arrays(a.astype(dtype), b.astype(dtype), rtol, atol, equal_nan, msg, "Tensor-likes", where)


def _compare_arrays(a: np.ndarray, b: np.ndarray, rtol: float, atol: float, equal_nan: bool, msg: Any, what: str,
                    where: str) -> None:
    if a.dtype.kind == "b":
        a, b = a.astype(np.int64), b.astype(np.int64)
    if a.dtype.kind in "iu" and rtol == 0 and atol == 0:
        ok = a == b
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    else:
        af, bf = a.astype(np.float64), b.astype(np.float64)
        with np.errstate(invalid="ignore"):
            diff = np.abs(af - bf)
            ok = diff <= atol + rtol * np.abs(bf)
            ok |= af == bf  # equal infinities
        if equal_nan:
            ok |= np.isnan(af) & np.isnan(bf)
    if ok.all():
        return
    bad = ~ok
    total = ok.size
    n_bad = int(bad.sum())
    if what == "Scalars":
        report = (f"{what} are not close!\n\nExpected {b.item()} but got {a.item()}.\n"
                  f"Absolute difference: {float(diff.item())} (up to {atol} allowed)\n"
                  f"Relative difference: {_relative(diff, b).item()} (up to {rtol} allowed)")
        _fail(msg, report + where)
    abs_diff = np.where(bad, diff, -np.inf)
    rel = _relative(diff, b)
    rel_diff = np.where(bad, rel, -np.inf)
    # (argmax, not nanargmax: a NaN difference is the greatest, as in PyTorch's report)
    i_abs = np.unravel_index(int(np.argmax(abs_diff)), a.shape) if a.ndim else ()
    i_rel = np.unravel_index(int(np.argmax(rel_diff)), a.shape) if a.ndim else ()
    exact = rtol == 0 and atol == 0
    greatest = int(diff[i_abs]) if a.dtype.kind in "iu" else float(diff[i_abs])
    report = (f"{what} are not {'equal' if exact else 'close'}!\n\nMismatched elements: {n_bad} / {total} "
              f"({100.0 * n_bad / total:.1f}%)\n"
              f"Greatest absolute difference: {greatest} at index {tuple(int(i) for i in i_abs)}"
              f"{'' if exact else f' (up to {atol} allowed)'}\n"
              f"Greatest relative difference: {float(rel[i_rel])} at index {tuple(int(i) for i in i_rel)}"
              f"{'' if exact else f' (up to {rtol} allowed)'}")
    _fail(msg, report + where)


def _relative(diff: np.ndarray, expected: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(diff / np.abs(expected.astype(np.float64)))


def _compare(actual: Any, expected: Any, rtol: Any, atol: Any, equal_nan: bool, check_device: bool,
             check_dtype: bool, msg: Any, path: str) -> None:
    from gradkit.tensor import Tensor

    where = f"\n\nThe failure occurred for item {path}" if path else ""
    if isinstance(actual, Tensor) or isinstance(expected, Tensor):
        if not (isinstance(actual, Tensor) and isinstance(expected, Tensor)):
            _fail(msg, f"No comparison pair was able to handle inputs of type {type(actual)} and "
                       f"{type(expected)}.{where}")
        _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, where)
        return
    if isinstance(actual, (bool, int, float, np.number, np.bool_)) and isinstance(
            expected, (bool, int, float, np.number, np.bool_)):
        if check_dtype and type(actual) is not type(expected):
            _fail(msg, f"The values for attribute 'dtype' do not match: {type(actual)} != {type(expected)}.{where}")
        floaty = isinstance(actual, (float, np.floating)) or isinstance(expected, (float, np.floating))
        if rtol is None:
            rtol, atol = (1e-7, 1e-7) if floaty else (0.0, 0.0)
        a = np.asarray(actual, dtype=np.float64 if floaty else np.int64)
        b = np.asarray(expected, dtype=np.float64 if floaty else np.int64)
        _compare_arrays(a, b, rtol, atol, equal_nan, msg, "Scalars", where)
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            _fail(msg, f"The keys of the mappings do not match: {sorted(map(str, actual))} != "
                       f"{sorted(map(str, expected))}.{where}")
        for key in expected:
            _compare(actual[key], expected[key], rtol, atol, equal_nan, check_device, check_dtype, msg,
                     f"{path}[{key!r}]")
        return
    if (isinstance(actual, Sequence) and isinstance(expected, Sequence) and not isinstance(actual, str)
            and not isinstance(expected, str)):
        if len(actual) != len(expected):
            _fail(msg, f"The length of the sequences mismatch: {len(actual)} != {len(expected)}{where}")
        for i, (x, y) in enumerate(zip(actual, expected, strict=True)):
            _compare(x, y, rtol, atol, equal_nan, check_device, check_dtype, msg, f"{path}[{i}]")
        return
    _fail(msg, f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.{where}")


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg: Any = None) -> None:
    """PyTorch's ``torch.testing.assert_close``: raises ``AssertionError`` unless ``actual`` and ``expected`` are
    close (see the module's docstring). ``rtol`` and ``atol`` are given together or not at all (else
    ``InvalidArgumentError``, PyTorch's ValueError); ``msg`` (a string, or a callable given the default message)
    replaces the report. ``allow_subclasses``, ``check_layout`` and ``check_stride`` are accepted (gradkit has one
    tensor class and one layout)."""
    if (rtol is None) != (atol is None):
        raise InvalidArgumentError(
            f"assert_close: both 'rtol' and 'atol' must be either specified or omitted, but got no "
            f"{'rtol' if rtol is None else 'atol'}."
        )
    if rtol is not None and (not math.isfinite(float(rtol)) or not math.isfinite(float(atol))):
        raise InvalidArgumentError(f"assert_close: rtol and atol must be finite numbers, got {rtol!r} and {atol!r}")
    _compare(actual, expected, rtol, atol, bool(equal_nan), bool(check_device), bool(check_dtype), msg, "")

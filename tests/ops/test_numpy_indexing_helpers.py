"""NumPy's index, set and rearranging helpers (gradkit/ops/numpy_indexing.py).

One table of cases, each written once for both namespaces (``ns`` is gradkit or NumPy), gives the values
(type, shape, dtype and values against NumPy's, broadcasting, 0-d and empty inputs included); the
differentiable ones get float64 central-difference gradients. Then partition (whose order NumPy leaves
open), the in-place writers, what does not read the device, and the errors.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import gradkit as gk

NP = types.SimpleNamespace(**{n: getattr(np, n) for n in dir(np) if not n.startswith("_")})
# NumPy 2's array-API spellings, for the NumPy 1.26 pass
NP.concat = getattr(np, "concat", lambda arrays, axis=0, **kw: np.concatenate(arrays, axis=axis, **kw))
NP.permute_dims = getattr(np, "permute_dims", np.transpose)
NP.matrix_transpose = getattr(np, "matrix_transpose", lambda x: np.swapaxes(x, -1, -2))
NP.unstack = getattr(np, "unstack", lambda x, axis=0: tuple(np.moveaxis(x, axis, 0)))
NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
NUMPY_2_2 = np.lib.NumpyVersion(np.__version__) >= "2.2.0"  # trim_zeros(..., axis=) and n-d trimming


def _n(r, *shapes):
    return [r.standard_normal(s) for s in shapes]


def _ints(r, shape, high=6):
    return r.integers(0, high, shape)


NANS = np.array([2.5, np.nan, -1.0, 2.5, 0.0, np.nan, 7.0])

# id, function of (namespace, *arrays), builder of the arrays from a Generator. Float arrays get gradients,
# integer and bool ones are constants; a case with no arrays runs with its device as the default device.
CASES = [
    # ---- index generators
    ("tril_indices", lambda ns: ns.tril_indices(4), lambda r: []),
    ("tril_indices_k_m", lambda ns: ns.tril_indices(3, -1, 5), lambda r: []),
    ("triu_indices", lambda ns: ns.triu_indices(4, 1), lambda r: []),
    ("triu_indices_m", lambda ns: ns.triu_indices(3, 0, 2), lambda r: []),
    ("tril_indices_empty", lambda ns: ns.tril_indices(0), lambda r: []),
    ("tril_indices_from", lambda ns, a: ns.tril_indices_from(a, 1), lambda r: _n(r, (3, 5))),
    ("triu_indices_from", lambda ns, a: ns.triu_indices_from(a), lambda r: _n(r, (4, 2))),
    ("diag_indices", lambda ns: ns.diag_indices(3), lambda r: []),
    ("diag_indices_ndim3", lambda ns: ns.diag_indices(2, 3), lambda r: []),
    ("diag_indices_from", lambda ns, a: ns.diag_indices_from(a), lambda r: _n(r, (3, 3, 3))),
    ("indices", lambda ns: ns.indices((2, 3)), lambda r: []),
    ("indices_empty_axis", lambda ns: ns.indices((2, 0, 3)), lambda r: []),
    ("indices_sparse", lambda ns: ns.indices((2, 3, 1), sparse=True), lambda r: []),
    ("indices_float", lambda ns: ns.indices((3,), dtype=float), lambda r: []),
    ("indices_0d", lambda ns: ns.indices(()), lambda r: []),
    ("unravel_index", lambda ns, i: ns.unravel_index(i, (3, 4)), lambda r: [np.array([[0, 5], [11, 7]])]),
    ("unravel_index_F", lambda ns, i: ns.unravel_index(i, (3, 4), order="F"), lambda r: [np.array([0, 5, 11])]),
    ("unravel_index_scalar", lambda ns: ns.unravel_index(7, (2, 2, 2)), lambda r: []),
    ("unravel_index_0d_shape", lambda ns: ns.unravel_index(0, ()), lambda r: []),
    ("unravel_index_empty", lambda ns, i: ns.unravel_index(i, (0, 4)), lambda r: [np.zeros(0, np.int64)]),
    ("unravel_index_int32", lambda ns, i: ns.unravel_index(i, 6), lambda r: [np.array([1, 5], np.int32)]),
    ("ravel_multi_index", lambda ns, i, j: ns.ravel_multi_index((i, j), (3, 4)),
     lambda r: [np.array([[0], [2]]), np.array([1, 3, 0])]),
    ("ravel_multi_index_modes", lambda ns, i, j: ns.ravel_multi_index((i, j), (3, 4), mode=("wrap", "clip")),
     lambda r: [np.array([1, 5, -1]), np.array([0, -3, 9])]),
    ("ravel_multi_index_F_clip", lambda ns, i, j: ns.ravel_multi_index((i, j), (3, 4), "clip", "F"),
     lambda r: [np.array([4, -1]), np.array([2, 2])]),
    ("ravel_multi_index_array", lambda ns, m: ns.ravel_multi_index(m, (3, 4, 2)),
     lambda r: [np.array([[0, 2], [3, 1], [1, 0]])]),
    ("ravel_multi_index_scalars", lambda ns: ns.ravel_multi_index((1, 2), (3, 4)), lambda r: []),
    ("ix_", lambda ns, a, b: ns.ix_(a, b), lambda r: [np.array([0, 2]), np.array([True, False, True, True])]),
    ("ix_lists_empty", lambda ns, a: ns.ix_(a, [1, 0], []), lambda r: [np.array([2, 0], np.int32)]),
    # ---- deleting and inserting
    ("delete_flat", lambda ns, a: ns.delete(a, 3), lambda r: _n(r, (3, 4))),
    ("delete_axis_list", lambda ns, a: ns.delete(a, [0, 2, 2, -1], axis=1), lambda r: _n(r, (3, 4))),
    ("delete_slice", lambda ns, a: ns.delete(a, slice(0, None, 2), axis=0), lambda r: _n(r, (5, 2))),
    ("delete_negative_step", lambda ns, a: ns.delete(a, slice(None, None, -2), axis=-1), lambda r: _n(r, (2, 5))),
    ("delete_mask", lambda ns, a, m: ns.delete(a, m, axis=0),
     lambda r: [*_n(r, (3, 2)), np.array([True, False, True])]),
    ("delete_tensor_indices", lambda ns, a, i: ns.delete(a, i, 1), lambda r: [*_n(r, (2, 4)), np.array([3, 0])]),
    ("delete_nothing", lambda ns, a: ns.delete(a, [], axis=0), lambda r: _n(r, (2, 3))),
    ("delete_0d", lambda ns, a: ns.delete(a, 0), lambda r: [np.array(1.5)]),
    ("delete_ints", lambda ns, a: ns.delete(a, 1, axis=0), lambda r: [_ints(r, (3, 2))]),
    ("insert_scalar", lambda ns, a: ns.insert(a, 1, 99.5, axis=1), lambda r: _n(r, (3, 4))),
    ("insert_column", lambda ns, a, v: ns.insert(a, 1, v, axis=1), lambda r: _n(r, (3, 4), 3)),
    ("insert_one_index_list", lambda ns, a, v: ns.insert(a, [1], v, axis=1), lambda r: _n(r, (3, 4), 3)),
    ("insert_many", lambda ns, a, v: ns.insert(a, [1, 1, 4, -1], v, axis=1), lambda r: _n(r, (3, 4), 4)),
    ("insert_slice", lambda ns, a, v: ns.insert(a, slice(0, 4, 2), v, axis=1), lambda r: _n(r, (3, 4), 2)),
    ("insert_flat", lambda ns, a, v: ns.insert(a, -2, v), lambda r: _n(r, (2, 3), 2)),
    ("insert_rows", lambda ns, a, v: ns.insert(a, 1, v, axis=0), lambda r: _n(r, (3, 4), (2, 4))),
    ("insert_at_end", lambda ns, a, v: ns.insert(a, 4, v, axis=1), lambda r: _n(r, (2, 4), (1, 1, 1))),
    ("insert_into_ints", lambda ns, a: ns.insert(a, [0, 2], 2.7), lambda r: [_ints(r, 4)]),
    ("insert_tensor_obj", lambda ns, a, o, v: ns.insert(a, o, v, axis=0),
     lambda r: [*_n(r, (3, 2)), np.array([3, 0]), *_n(r, (2, 2))]),
    ("insert_into_0d", lambda ns, a, v: ns.insert(a, 0, v), lambda r: _n(r, (), 2)),
    # ---- sets
    ("isin", lambda ns, e, t: ns.isin(e, t), lambda r: [_ints(r, (3, 4), 9), _ints(r, 5, 9)]),
    ("isin_floats_invert", lambda ns, e, t: ns.isin(e, t, invert=True),
     lambda r: [NANS, np.array([np.nan, -0.0, 7.0, 3.0])]),
    ("isin_table", lambda ns, e, t: ns.isin(e, t, kind="table"), lambda r: [_ints(r, 7), np.array([True, False])]),
    ("isin_mixed_dtypes", lambda ns, e, t: ns.isin(e, t, assume_unique=True),
     lambda r: [np.arange(6, dtype=np.int8), np.array([2.0, 4.5, 5.0], np.float32)]),
    ("isin_scalar", lambda ns, t: ns.isin(3, t), lambda r: [np.array([1, 3])]),
    ("isin_empty", lambda ns, e, t: ns.isin(e, t), lambda r: [_ints(r, (2, 2)), np.zeros(0, np.int64)]),
    ("intersect1d", lambda ns, a, b: ns.intersect1d(a, b), lambda r: [_ints(r, (3, 4)), _ints(r, 6)]),
    ("intersect1d_indices_nan", lambda ns, a, b: ns.intersect1d(a, b, return_indices=True),
     lambda r: [NANS, np.array([7.0, np.nan, 2.5, 9.0, 2.5])]),
    ("intersect1d_assume_unique", lambda ns, a, b: ns.intersect1d(a, b, True, True),
     lambda r: [np.array([5, 1, 3, 9]), np.array([3, 2, 9])]),
    ("intersect1d_empty", lambda ns, a, b: ns.intersect1d(a, b, return_indices=True),
     lambda r: [np.zeros(0), np.array([1.0])]),
    ("union1d", lambda ns, a, b: ns.union1d(a, b), lambda r: [NANS, np.array([[np.nan, 3.0], [2.5, -4.0]])]),
    ("union1d_dtypes", lambda ns, a, b: ns.union1d(a, b),
     lambda r: [np.array([3, 1, 3], np.int8), np.array([2.5, 1.0], np.float32)]),
    ("setdiff1d", lambda ns, a, b: ns.setdiff1d(a, b), lambda r: [_ints(r, (4, 3), 8), _ints(r, 4, 8)]),
    ("setdiff1d_nan", lambda ns, a, b: ns.setdiff1d(a, b), lambda r: [NANS, np.array([7.0, np.nan])]),
    ("setdiff1d_assume_unique", lambda ns, a, b: ns.setdiff1d(a, b, assume_unique=True),
     lambda r: [np.array([5, 1, 3, 9]), np.array([3, 2])]),
    ("setxor1d", lambda ns, a, b: ns.setxor1d(a, b), lambda r: [NANS, np.array([7.0, np.nan, 1.0])]),
    ("setxor1d_assume_unique", lambda ns, a, b: ns.setxor1d(a, b, True),
     lambda r: [np.array([5, 1, 3]), np.array([3, 2])]),
    ("setxor1d_empty", lambda ns, a, b: ns.setxor1d(a, b), lambda r: [np.zeros(0), np.zeros(0)]),
    # ---- bins, order and selection
    ("digitize", lambda ns, x, b: ns.digitize(x, b), lambda r: [r.uniform(-1, 5, (3, 4)), np.array([0.0, 1, 1, 3])]),
    ("digitize_right", lambda ns, x, b: ns.digitize(x, b, right=True),
     lambda r: [np.array([-1.0, 0.0, 1.0, 2.5, 3.0, 9.0, np.nan]), np.array([0.0, 1, 1, 3])]),
    ("digitize_falling", lambda ns, x, b: ns.digitize(x, b),
     lambda r: [np.array([-1.0, 0.0, 1.0, 2.5, 3.0, 9.0, np.nan]), np.array([3.0, 3, 1, 0])]),
    ("digitize_falling_right", lambda ns, x, b: ns.digitize(x, b, True),
     lambda r: [np.array([[-1.0, 0.0, 1.0], [2.5, 3.0, 9.0]]), np.array([3.0, 1, 1, 0])]),
    ("digitize_ints", lambda ns, x, b: ns.digitize(x, b),
     lambda r: [np.array([1, 2, 7], np.int8), np.array([0.5, 1.5])]),
    ("digitize_one_bin_0d", lambda ns, x, b: ns.digitize(x, b), lambda r: [np.array(2.0), np.array([2.0])]),
    ("digitize_no_bins", lambda ns, x, b: ns.digitize(x, b), lambda r: [np.array([2.0, 3.0]), np.zeros(0)]),
    ("flatnonzero", lambda ns, a: ns.flatnonzero(a), lambda r: [_ints(r, (3, 4), 3)]),
    ("flatnonzero_0d", lambda ns, a: ns.flatnonzero(a), lambda r: [np.array(2.0)]),
    ("lexsort", lambda ns, a, b: ns.lexsort((a, b)), lambda r: [_ints(r, 9, 3), _ints(r, 9, 3)]),
    ("lexsort_2d_keys_nan", lambda ns, k: ns.lexsort(k), lambda r: [np.array([[1.0, np.nan, 0.0, 2.0], [1, 1, 1, 0]])]),
    ("lexsort_axis0", lambda ns, a, b: ns.lexsort([a, b], axis=0),
     lambda r: [_ints(r, (4, 3), 2), _ints(r, (4, 3), 2)]),
    ("lexsort_mixed_keys", lambda ns, a, b: ns.lexsort([a, b]),
     lambda r: [r.standard_normal(6), np.array([True, False, True, False, False, True])]),
    ("lexsort_1d_array", lambda ns, k: ns.lexsort(k), lambda r: [np.array([3, 1, 2])]),
    ("compress", lambda ns, a: ns.compress([True, False, True], a, axis=1), lambda r: _n(r, (2, 4))),
    ("compress_flat_long", lambda ns, a: ns.compress([0, 1, 2, 0, 0], a), lambda r: _n(r, 3)),
    ("compress_tensor_condition", lambda ns, c, a: ns.compress(c, a, axis=0),
     lambda r: [np.array([0, 2, 1]), *_n(r, (3, 2))]),
    ("extract", lambda ns, c, a: ns.extract(c, a), lambda r: [np.array([[1, 0], [0, 3]]), *_n(r, (3, 2))]),
    ("choose", lambda ns, a, x, y, z: ns.choose(a, [x, y, z]),
     lambda r: [_ints(r, (2, 3), 3), *_n(r, (2, 3), 3, (1, 3))]),
    ("choose_wrap", lambda ns, a, x, y: ns.choose(a, (x, y), mode="wrap"),
     lambda r: [np.array([0, 3, -1, 2]), *_n(r, 4, (2, 4))]),
    ("choose_clip", lambda ns, a, x, y: ns.choose(a, [x, y], mode="clip"),
     lambda r: [np.array([[0], [5], [-2]]), *_n(r, 2, 2)]),
    ("choose_weak_number", lambda ns, a, x: ns.choose(a, [x, 4.5]),
     lambda r: [np.array([0, 1, 1]), r.standard_normal(3).astype(np.float32)]),
    ("choose_array_of_choices", lambda ns, a, c: ns.choose(a, c), lambda r: [np.array([1, 0, 1]), *_n(r, (2, 3))]),
    ("choose_0d", lambda ns, a, x, y: ns.choose(a, [x, y]), lambda r: [np.array(1), *_n(r, (), ())]),
    ("choose_bool_index", lambda ns, a, x, y: ns.choose(a, [x, y]), lambda r: [np.array([True, False]), *_n(r, 2, 2)]),
    ("trim_zeros", lambda ns, a: ns.trim_zeros(a), lambda r: [np.array([0.0, 0.0, 1.5, 0.0, -2.0, 0.0])]),
    ("trim_zeros_back", lambda ns, a: ns.trim_zeros(a, "B"), lambda r: [np.array([0.0, -0.0, 1.5, 0.0, np.nan, 0.0])]),
    ("trim_zeros_front", lambda ns, a: ns.trim_zeros(a, "f"), lambda r: [np.array([0, 0, 3, 0], np.int32)]),
    ("trim_zeros_all_zero", lambda ns, a: ns.trim_zeros(a), lambda r: [np.zeros(3)]),
    ("ediff1d", lambda ns, a: ns.ediff1d(a), lambda r: _n(r, (2, 3))),
    ("ediff1d_ends", lambda ns, a: ns.ediff1d(a, to_begin=-99, to_end=[88.0, 99.0]), lambda r: _n(r, 4)),
    ("ediff1d_tensor_ends", lambda ns, a, b, e: ns.ediff1d(a, e, b), lambda r: _n(r, 4, (), (2, 1))),
    ("ediff1d_int8_wraps", lambda ns, a: ns.ediff1d(a, to_begin=300), lambda r: [np.array([1, 2, -128], np.int8)]),
    ("ediff1d_float32", lambda ns, a: ns.ediff1d(a, to_begin=1), lambda r: [r.standard_normal(3).astype(np.float32)]),
    ("ediff1d_short", lambda ns, a: ns.ediff1d(a), lambda r: [np.array(3.0)]),
    ("unwrap", lambda ns, p: ns.unwrap(p), lambda r: [np.cumsum(r.uniform(-4, 4, 12))]),
    ("unwrap_float32", lambda ns, p: ns.unwrap(p), lambda r: [np.cumsum(r.uniform(-4, 4, 9)).astype(np.float32)]),
    ("unwrap_axis0_discont", lambda ns, p: ns.unwrap(p, discont=4.0, axis=0),
     lambda r: [np.cumsum(r.uniform(-5, 5, (7, 2)), axis=0)]),
    ("unwrap_period", lambda ns, p: ns.unwrap(p, period=360.0), lambda r: [r.uniform(-400, 400, 8)]),
    ("unwrap_int_period", lambda ns, p: ns.unwrap(p, period=4), lambda r: [np.array([0, 3, 6, 1, -7, 2])]),
    ("unwrap_int_odd_period", lambda ns, p: ns.unwrap(p, period=5), lambda r: [np.array([0, 3, 6, 1, -7, 2])]),
    ("unwrap_ints_default_period", lambda ns, p: ns.unwrap(p), lambda r: [np.array([0, 4, 8, 1])]),
    ("unwrap_half_period_jumps", lambda ns, p: ns.unwrap(p, period=4.0),
     lambda r: [np.array([0.0, 2.0, 0.0, -2.0, 1.0])]),
    # ---- splitting, joining and transposing
    ("hsplit", lambda ns, a: ns.hsplit(a, 2), lambda r: _n(r, (2, 4))),
    ("hsplit_1d_indices", lambda ns, a: ns.hsplit(a, [1, 3, 9]), lambda r: _n(r, 5)),
    ("vsplit", lambda ns, a: ns.vsplit(a, [-1]), lambda r: _n(r, (3, 2))),
    ("dsplit", lambda ns, a: ns.dsplit(a, 3), lambda r: _n(r, (1, 2, 6))),
    ("unstack", lambda ns, a: ns.unstack(a, axis=1), lambda r: _n(r, (2, 3, 2))),
    ("concat", lambda ns, a, b: ns.concat([a, b], axis=-1), lambda r: _n(r, (2, 1), (2, 3))),
    ("concat_flat", lambda ns, a, b: ns.concat((a, b), axis=None), lambda r: _n(r, (2, 2), 3)),
    ("concat_dtype", lambda ns, a, b: ns.concat([a, b], dtype=np.int32, casting="unsafe"),
     lambda r: [r.uniform(-9, 9, 3), _ints(r, 2)]),
    ("permute_dims", lambda ns, a: ns.permute_dims(a, (2, 0, 1)), lambda r: _n(r, (2, 3, 4))),
    ("permute_dims_default", lambda ns, a: ns.permute_dims(a), lambda r: _n(r, (2, 3, 4))),
    ("matrix_transpose", lambda ns, a: ns.matrix_transpose(a), lambda r: _n(r, (2, 3, 4))),
    ("block_2x2", lambda ns, a, b, c, d: ns.block([[a, b], [c, d]]), lambda r: _n(r, (2, 2), (2, 1), (1, 2), (1, 1))),
    ("block_1d", lambda ns, a, b: ns.block([a, b, 2.5]), lambda r: _n(r, 3, 1)),
    ("block_promotes", lambda ns, a, b: ns.block([[a], [b]]), lambda r: [*_n(r, 3), np.arange(3)]),
    ("block_deep", lambda ns, a, b: ns.block([[[a]], [[b]]]), lambda r: _n(r, 2, (1, 2))),
    ("block_single", lambda ns, a: ns.block(a), lambda r: _n(r, (2, 2))),
    ("resize", lambda ns, a: ns.resize(a, (2, 4)), lambda r: _n(r, 3)),
    ("resize_smaller", lambda ns, a: ns.resize(a, 3), lambda r: _n(r, (2, 3))),
    ("resize_0d", lambda ns, a: ns.resize(a, ()), lambda r: _n(r, (2,))),
    ("resize_empty", lambda ns, a: ns.resize(a, [2, 2]), lambda r: [np.zeros((0, 3), np.float32)]),
    ("resize_ints", lambda ns, a: ns.resize(a, (3, 3)), lambda r: [_ints(r, (2, 2))]),
    ("apply_along_axis", lambda ns, a: ns.apply_along_axis(lambda v: (v * v).sum(), 1, a), lambda r: _n(r, (2, 3, 4))),
    ("apply_along_axis_vector", lambda ns, a: ns.apply_along_axis(lambda v: v[::-1] * 2.0, 0, a),
     lambda r: _n(r, (3, 2))),
    ("apply_along_axis_matrix", lambda ns, a: ns.apply_along_axis(lambda v: v[:, None] * v[None, :], 1, a),
     lambda r: _n(r, (2, 3, 4))),
    ("apply_over_axes", lambda ns, a: ns.apply_over_axes(ns.sum, a, [0, 2]), lambda r: _n(r, (2, 3, 4))),
    ("apply_over_axes_negative", lambda ns, a: ns.apply_over_axes(ns.sum, a, -1), lambda r: _n(r, (2, 3))),
]
if NUMPY_2:  # NumPy 1.x took a bool obj of insert as the integers 0 and 1, and refused trim_zeros of a 0-d array
    CASES += [
        ("insert_bool_obj", lambda ns, a, o, v: ns.insert(a, o, v, axis=0),
         lambda r: [*_n(r, (3, 2)), np.array([False, True, True]), *_n(r, 2)]),
        ("trim_zeros_0d", lambda ns, a: ns.trim_zeros(a), lambda r: [np.array(0.0)]),
    ]
if NUMPY_2_2:  # NumPy's trim_zeros trims n-d arrays from 2.2 on
    CASES += [
        ("trim_zeros_2d", lambda ns, a: ns.trim_zeros(a), lambda r: [np.array([[0, 0, 0], [0, 1.5, 0], [0, 0, 2.0]])]),
        ("trim_zeros_axis", lambda ns, a: ns.trim_zeros(a, axis=0), lambda r: [np.array([[0, 0, 0], [0, 1.5, 0.0]])]),
        ("trim_zeros_front_axis", lambda ns, a: ns.trim_zeros(a, "f", axis=-1),
         lambda r: [np.array([[0, 0, 0], [0, 1.5, 0], [0, 0, 2.0]])]),
        ("trim_zeros_all_zero_axis", lambda ns, a: ns.trim_zeros(a, axis=1), lambda r: [np.zeros((2, 3))]),
    ]
IDS = [c[0] for c in CASES]
assert len(set(IDS)) == len(IDS)

# float results that move or combine float inputs: their gradients are checked
DIFFERENTIABLE = [c for c in CASES if c[0].split("_")[0] in {
    "delete", "insert", "compress", "extract", "choose", "ediff1d", "unwrap", "hsplit", "vsplit", "dsplit",
    "unstack", "concat", "permute", "matrix", "block", "resize", "apply"}]  # fmt: skip
# integer results, float32 inputs (no float64 differences), no float input to perturb, and jumps of exactly
# period / 2 (kinks of unwrap)
NOT_DIFFERENTIABLE = {"delete_ints", "insert_into_ints", "concat_dtype", "resize_ints", "resize_empty",
                      "ediff1d_int8_wraps", "unwrap_int_period", "unwrap_int_odd_period", "unwrap_ints_default_period",
                      "ediff1d_short", "choose_0d", "ediff1d_float32", "unwrap_float32", "resize_0d",
                      "choose_weak_number", "unwrap_half_period_jumps"}  # fmt: skip
DIFFERENTIABLE = [c for c in DIFFERENTIABLE if c[0] not in NOT_DIFFERENTIABLE]


def _arrays(case):
    return case[2](np.random.default_rng(sum(map(ord, case[0]))))


def _inputs(arrays, device, grad=True):
    return [gk.tensor(a, device=device, requires_grad=grad and a.dtype.kind == "f") for a in arrays]


def _run(case, device, grad=False):
    arrays = _arrays(case)
    if not arrays:
        with gk.device(device):
            return case[1](gk)
    return case[1](gk, *_inputs(arrays, device, grad))


def _check(out, ref, device, name):
    """gradkit's result against NumPy's: the same nesting (tuple or list), then per tensor the device,
    shape, dtype and values (NaN equal to NaN)."""
    if isinstance(ref, (tuple, list)):
        assert type(out) is type(ref) and len(out) == len(ref), f"{name}: {type(out).__name__} of {len(out)}"
        for o, r in zip(out, ref, strict=True):
            _check(o, r, device, name)
        return
    ref = np.asarray(ref)
    assert isinstance(out, gk.Tensor), f"{name}: got {type(out).__name__}"
    assert out.device.split(":")[0] == device
    assert out.shape == ref.shape, f"{name}: shape {out.shape}, NumPy gives {ref.shape}"
    assert out.dtype == ref.dtype, f"{name}: dtype {out.dtype}, NumPy gives {ref.dtype}"
    if ref.dtype.kind == "f":
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-13, atol=0, err_msg=name)
    else:
        np.testing.assert_array_equal(out.numpy(), ref, err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_match_numpy(case, device):
    _check(_run(case, device), case[1](NP, *_arrays(case)), device, case[0])


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=lambda c: c[0])
def test_gradients_match_central_differences(case, device):
    xs = _inputs(_arrays(case), device)
    assert any(x.requires_grad for x in xs)
    assert gk.gradcheck(lambda *a: case[1](gk, *a), xs)


def test_every_result_that_moves_float_values_requires_grad(device):
    for case in DIFFERENTIABLE:
        outs = _run(case, device, grad=True)
        for out in outs if isinstance(outs, (tuple, list)) else [outs]:
            assert out.requires_grad, case[0]


def test_index_results_are_int64_constants(device):
    x = gk.tensor(np.array([[3.0, 1.0, 2.0], [0.5, 0.5, 9.0]]), device=device, requires_grad=True)
    outs = [*gk.tril_indices_from(x), *gk.unravel_index(gk.tensor([4], device=device), (2, 3)), gk.flatnonzero(x),
            gk.argpartition(x, 1), gk.lexsort([x[0], x[1]]), gk.digitize(x, [1.0, 2.0]),
            *gk.intersect1d(x, x, return_indices=True)[1:], gk.isin(x, [0.5])]  # fmt: skip
    for out in outs:
        assert out.device.split(":")[0] == device and not out.requires_grad
        assert out.dtype in (np.int64, np.bool_)


# ------------------------------------------------------------------ sets, bins and sort keys over dtypes and shapes
SWEEP = [
    ("isin", lambda ns, a, b: ns.isin(a, b)), ("isin_invert", lambda ns, a, b: ns.isin(a, b, invert=True)),
    ("intersect1d", lambda ns, a, b: ns.intersect1d(a, b, return_indices=True)),
    ("union1d", lambda ns, a, b: ns.union1d(a, b)),
    ("setdiff1d", lambda ns, a, b: ns.setdiff1d(a, b)), ("setxor1d", lambda ns, a, b: ns.setxor1d(a, b)),
    ("digitize", lambda ns, a, b: ns.digitize(a, ns.sort(b))),
    ("digitize_falling_right", lambda ns, a, b: ns.digitize(a, ns.flip(ns.sort(b), 0), right=True)),
    ("lexsort", lambda ns, a, b: ns.lexsort([a, ns.flip(a, 0)]) if a.ndim else ns.lexsort([a])),
    ("flatnonzero", lambda ns, a, b: ns.flatnonzero(a)),
    ("unravel_ravel", lambda ns, a, b: ns.ravel_multi_index(ns.unravel_index(ns.flatnonzero(a), (2, 3, 5)), (5, 3, 2),
                                                            mode="wrap", order="F")),
]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int32, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (3, 4)])
def test_sets_bins_and_keys_match_numpy_for_every_dtype(shape, dtype, device):
    r = np.random.default_rng(len(shape) + np.dtype(dtype).itemsize)
    a, b = r.integers(-3, 4, shape), r.integers(-3, 4, 5)
    a, b = (a > 0, b > 0) if dtype == np.bool_ else (a.astype(dtype), b.astype(dtype))
    if a.dtype.kind == "f" and a.size > 2:
        a.reshape(-1)[1], b[2] = np.nan, np.nan  # NaN equals nothing and sorts last
    ta, tb = gk.tensor(a, device=device), gk.tensor(b, device=device)
    for name, fn in SWEEP:
        _check(fn(gk, ta, tb), fn(NP, a, b), device, f"{name} {dtype.__name__} {shape}")


# ------------------------------------------------------------------ partition: the order NumPy leaves open
def _partitioned(values, idx, kths, axis):
    """``values`` rearranged by ``idx`` along ``axis`` is a partition at every kth (NaN sorted last)."""
    got = np.take_along_axis(values, idx, axis=axis)
    ref = np.sort(values, axis=axis)
    got, ref = np.moveaxis(got, axis, -1), np.moveaxis(ref, axis, -1)
    assert sorted(np.moveaxis(idx, axis, -1).reshape(-1, idx.shape[axis]).tolist()[0]) == list(range(idx.shape[axis]))
    for k in kths:
        np.testing.assert_array_equal(got[..., k], ref[..., k])
        before, after = got[..., :k], got[..., k + 1 :]
        kth = got[..., k : k + 1]
        assert np.all(~(before > kth)) and np.all(~(after < kth) | np.isnan(kth))
    return got


PARTITIONS = [
    ((9,), np.float64, 4, -1), ((3, 7), np.float32, [0, 3, -1], 1), ((5, 4), np.int64, -2, 0),
    ((2, 3, 40), np.float64, [5, 20], -1), ((6,), np.bool_, 2, -1), ((4, 3), np.int8, 1, None),
    ((1,), np.float64, 0, 0), ((0, 3), np.float64, 0, 0),
]


@pytest.mark.parametrize(("shape", "dtype", "kth", "axis"), PARTITIONS)
def test_partition_puts_the_kth_elements_where_a_sort_would(shape, dtype, kth, axis, device):
    r = np.random.default_rng(len(shape) + np.dtype(dtype).itemsize)
    values = (r.integers(-4, 4, shape) if dtype != np.float64 else r.standard_normal(shape)).astype(dtype)
    if dtype == np.float64 and values.size > 3:
        values.reshape(-1)[[1, 3]] = np.nan  # NaN last, as NumPy's
    x = gk.tensor(values, device=device)
    idx = gk.argpartition(x, kth, axis=axis)
    part = gk.partition(x, kth, axis=axis)
    ref = np.argpartition(values, kth, axis=axis)
    assert idx.dtype == gk.int64 and idx.shape == ref.shape and part.shape == ref.shape and part.dtype == values.dtype
    flat = values.reshape(-1) if axis is None else values
    ax = 0 if axis is None else axis
    n = flat.shape[ax]
    kths = [k % n for k in (kth if isinstance(kth, list) else [kth])] if n else []
    if values.size:
        got = _partitioned(flat, idx.numpy(), kths, ax)
        np.testing.assert_array_equal(np.moveaxis(part.numpy(), ax, -1), got)


def test_partition_gradient_follows_the_elements(device):
    values = np.array([[3.0, -1.0, 2.0, 7.0, 0.5], [1.0, 4.0, -2.0, 0.0, 6.0]])
    x = gk.tensor(values, device=device, requires_grad=True)
    g = np.arange(10.0).reshape(2, 5)
    idx = gk.argpartition(x, [1, 3], axis=1).numpy()
    (gk.partition(x, [1, 3], axis=1) * gk.tensor(g, device=device)).sum().backward()
    expected = np.zeros_like(values)
    np.put_along_axis(expected, idx, g, axis=1)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert gk.gradcheck(lambda t: gk.partition(t, 2, axis=0), [gk.tensor(values.T.copy(), device=device,
                                                                         requires_grad=True)])


# ------------------------------------------------------------------ in place, as NumPy
def _ip(fn, a, *args, **kw):
    a = a.copy()
    assert fn(a, *args, **kw) is None
    return a


IN_PLACE = [
    ("fill_diagonal", lambda ns, a: ns.fill_diagonal(a, 4.5), lambda: np.zeros((3, 5))),
    ("fill_diagonal_tall_cycled", lambda ns, a: ns.fill_diagonal(a, [1.0, 2.0]), lambda: np.zeros((5, 3))),
    ("fill_diagonal_wrap", lambda ns, a: ns.fill_diagonal(a, 4, wrap=True), lambda: np.zeros((7, 3), np.int32)),
    ("fill_diagonal_3d", lambda ns, a: ns.fill_diagonal(a, [7, 8]), lambda: np.zeros((3, 3, 3))),
    ("fill_diagonal_int_from_float", lambda ns, a: ns.fill_diagonal(a, 2.7), lambda: np.zeros((3, 3), np.int64)),
    ("fill_diagonal_2d_values", lambda ns, a: ns.fill_diagonal(a, np.array([[1.0, 2.0], [3.0, 4.0]])),
     lambda: np.zeros((3, 3))),
    ("fill_diagonal_empty_values", lambda ns, a: ns.fill_diagonal(a, []), lambda: np.ones((2, 2))),
    ("place", lambda ns, a: ns.place(a, a > 2, [10.0, 20.0]), lambda: np.arange(6.0).reshape(2, 3)),
    ("place_flat_mask", lambda ns, a: ns.place(a, np.array([1, 0, 2, 0, 0, 3]), [7]),
     lambda: np.arange(6).reshape(3, 2)),
    ("place_nothing", lambda ns, a: ns.place(a, np.zeros(4, bool), []), lambda: np.arange(4.0)),
    ("put", lambda ns, a: ns.put(a, [0, 2, -5], [7.5, 8.0]), lambda: np.arange(5.0)),
    ("put_2d_repeated_last_wins", lambda ns, a: ns.put(a, [[0], [4], [0]], [1, 2, 3]),
     lambda: np.arange(6).reshape(2, 3)),
    ("put_clip", lambda ns, a: ns.put(a, [0, 2, 9, -3], [7, 8], mode="clip"), lambda: np.arange(5)),
    ("put_wrap", lambda ns, a: ns.put(a, np.array([0, 2, -7]), [7.0, 8.0], mode="wrap"), lambda: np.arange(5.0)),
    ("put_0d", lambda ns, a: ns.put(a, [0, 0], [4.0, 5.0]), lambda: np.array(1.0)),
    ("put_nothing", lambda ns, a: ns.put(a, [], [1.0]), lambda: np.zeros(0)),
    ("putmask", lambda ns, a: ns.putmask(a, a > 2, [10.0, 20.0]), lambda: np.arange(6.0).reshape(2, 3)),
    ("putmask_scalar", lambda ns, a: ns.putmask(a, [True, False, True], 9), lambda: np.arange(3)),
    ("putmask_empty_values", lambda ns, a: ns.putmask(a, np.ones(3, bool), []), lambda: np.arange(3.0)),
]


@pytest.mark.parametrize("case", IN_PLACE, ids=lambda c: c[0])
def test_in_place_writers_match_numpy(case, device):
    name, fn, make = case
    ref = _ip(lambda a: fn(NP, a), make())
    t = gk.tensor(make(), device=device)
    version = t._version[0]
    assert fn(gk, t) is None
    _check(t, ref, device, name)
    if not np.array_equal(make(), ref):
        assert t._version[0] > version


def test_in_place_writers_write_into_numpy_arrays():
    a = np.zeros((2, 2))
    gk.fill_diagonal(a, 3.0)
    gk.put(a, [1], [5.0])
    gk.putmask(a, a == 0, -1.0)
    b = np.arange(4.0)
    gk.place(b, b > 1, [9.0])
    np.testing.assert_array_equal(a, [[3.0, 5.0], [-1.0, 3.0]])
    np.testing.assert_array_equal(b, [0.0, 1.0, 9.0, 9.0])


def test_in_place_writers_write_through_views(device):
    base = gk.tensor(np.zeros((4, 4)), device=device)
    view = base[::2, 1:]
    gk.fill_diagonal(view, 1.0)
    gk.put(view, [5], [2.0])
    np.testing.assert_array_equal(base.numpy(), [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 2], [0, 0, 0, 0]])


@pytest.mark.parametrize("call", [
    lambda t: gk.fill_diagonal(t, 1.0), lambda t: gk.place(t, [True, False, True, True], [1.0]),
    lambda t: gk.put(t, [0], [1.0]), lambda t: gk.putmask(t, [True, False, True, True], 1.0),
], ids=["fill_diagonal", "place", "put", "putmask"])
def test_in_place_writers_refuse_tensors_that_require_grad(call, device):
    t = gk.tensor(np.zeros((2, 2)), device=device, requires_grad=True)
    with pytest.raises(gk.AutogradError, match="in-place"):
        call(t)
    with gk.no_grad():
        call(t)  # allowed where autograd does not record
    w = gk.tensor(np.zeros((2, 2)), device=device)
    v = gk.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(gk.AutogradError, match="requires grad"):
        gk.put(w, [0], v)


def test_in_place_writers_refuse_lists():
    for fn, args in ((gk.fill_diagonal, (1.0,)), (gk.put, ([0], [1])), (gk.place, ([True], [1])),
                     (gk.putmask, ([True], [1]))):  # fmt: skip
        with pytest.raises(gk.ArgumentTypeError, match="tensor or an array"):
            fn([[0, 0], [0, 0]] if fn is gk.fill_diagonal else [0], *args)


# ------------------------------------------------------------------ gradients where NumPy's function has kinks
def test_unwrap_has_slope_one_also_across_jumps(device):
    p = gk.tensor(np.array([0.0, 3.0, 6.5, 0.2, np.pi, 0.0]), device=device, requires_grad=True)
    gk.unwrap(p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.ones(6))


def test_trim_zeros_gradient_goes_to_the_elements_kept(device):
    """The zeros at the edges decide the shape (a value moving off 0 changes it): no central differences there,
    and the slope of every element kept is 1."""
    x = gk.tensor(np.array([[0.0, 0.0, 0.0], [0.0, 1.5, 0.0], [0.0, -0.0, 2.0]]), device=device, requires_grad=True)
    out = gk.trim_zeros(x)
    np.testing.assert_array_equal(out.detach().numpy(), [[1.5, 0.0], [-0.0, 2.0]])
    (out * gk.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0], [0, 1, 2], [0, 3, 4]])
    assert gk.gradcheck(lambda t: gk.trim_zeros(t, "b"), [gk.tensor(np.array([0.0, 1.0, 2.0]), device=device,
                                                                   requires_grad=True)])


def test_insert_gives_broadcast_values_the_summed_gradient(device):
    a = gk.tensor(np.zeros((3, 2)), device=device, requires_grad=True)
    v = gk.tensor(np.array(1.5), device=device, requires_grad=True)
    out = gk.insert(a, [0, 2, 2], v, axis=0)
    (out * gk.tensor(np.arange(12.0).reshape(6, 2), device=device)).sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), np.insert(np.zeros((3, 2)), [0, 2, 2], 1.5, axis=0))
    rows = [0, 3, 4]  # where the values went
    assert v.grad.item() == sum(np.arange(12.0).reshape(6, 2)[rows].sum(axis=1))
    np.testing.assert_array_equal(a.grad.numpy(), np.arange(12.0).reshape(6, 2)[[1, 2, 5]])


def test_choose_gives_each_choice_the_gradient_where_it_was_picked(device):
    a = gk.tensor([0, 1, 1, 0], device=device)
    x = gk.tensor(np.ones(4), device=device, requires_grad=True)
    y = gk.tensor(np.array(2.0), device=device, requires_grad=True)
    gk.choose(a, [x, y]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0, 0, 1])
    assert y.grad.item() == 2.0


def test_apply_along_axis_gradient_runs_through_the_function(device):
    x = gk.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    gk.apply_along_axis(lambda v: gk.sum(v * v), 1, x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.arange(6.0).reshape(2, 3))


def test_apply_along_axis_casts_to_the_first_results_dtype(device):
    x = gk.tensor(np.array([[0, 1]]), device=device)
    out = gk.apply_along_axis(lambda v: 1 if bool(v[0].item()) else 2.5, 0, x)
    _check(out, np.apply_along_axis(lambda v: 1 if v[0] else 2.5, 0, np.array([[0, 1]])), device, "cast")


# ------------------------------------------------------------------ no device reads
NO_READS = [
    ("isin", lambda t, i: gk.isin(t, t[:2])), ("digitize", lambda t, i: gk.digitize(t, gk.sort(t))),
    ("digitize_falling", lambda t, i: gk.digitize(t, gk.flip(gk.sort(t), 0))),
    ("lexsort", lambda t, i: gk.lexsort([t, i])), ("argpartition", lambda t, i: gk.argpartition(t, 2)),
    ("partition", lambda t, i: gk.partition(t, [1, 3])),
    ("choose_wrap", lambda t, i: gk.choose(i, [t, 2 * t], mode="wrap")),
    ("ravel_multi_index_clip", lambda t, i: gk.ravel_multi_index((i, i), (2, 3), mode="clip")),
    ("insert", lambda t, i: gk.insert(t, [1, 2], 5.0)), ("delete", lambda t, i: gk.delete(t, slice(1, 3))),
    ("unwrap", lambda t, i: gk.unwrap(t)), ("ediff1d", lambda t, i: gk.ediff1d(t, to_begin=t[:1])),
    ("resize", lambda t, i: gk.resize(t, (3, 3))), ("block", lambda t, i: gk.block([[t], [t]])),
    ("concat", lambda t, i: gk.concat([t, t], axis=None)), ("ix_", lambda t, i: gk.ix_(i, [0, 1])),
    ("fill_diagonal", lambda t, i: gk.fill_diagonal(gk.reshape(t, (2, 3)), 1.0)),
    ("place", lambda t, i: gk.place(t, t > 0, [1.0, 2.0])), ("putmask", lambda t, i: gk.putmask(t, t > 0, t[:2])),
    ("put_wrap", lambda t, i: gk.put(t, i, 3.0, mode="wrap")), ("indices", lambda t, i: gk.indices((2, 3))),
    ("apply_over_axes", lambda t, i: gk.apply_over_axes(gk.sum, gk.reshape(t, (2, 3)), [0, 1])),
]


@pytest.mark.parametrize("case", NO_READS, ids=lambda c: c[0])
def test_no_device_reads(case, device, monkeypatch):
    from nn._host_reads import refuse_host_reads

    t = gk.tensor(np.array([0.5, -1.0, 3.0, 2.0, -0.25, 1.0]), device=device)
    i = gk.tensor(np.array([0, 4, 1, 2, 0, 3]), device=device)
    refuse_host_reads(device, monkeypatch)
    with gk.device(device):
        case[1](t, i)


# ------------------------------------------------------------------ errors
ERRORS = [
    (lambda: gk.tril_indices(-1), gk.InvalidArgumentError, "tril_indices: n must be >= 0"),
    (lambda: gk.tril_indices_from(gk.zeros(3)), gk.ShapeError, "must be 2-d"),
    (lambda: gk.diag_indices_from(gk.zeros((2, 3))), gk.ShapeError, "equal length"),
    (lambda: gk.diag_indices_from(gk.zeros(2)), gk.ShapeError, "at least 2-d"),
    (lambda: gk.indices(3), gk.ArgumentTypeError, "indices: dimensions must be a sequence"),
    (lambda: gk.unravel_index(12, (3, 4)), gk.InvalidArgumentError, "index 12 is out of bounds"),
    (lambda: gk.unravel_index(-1, (3, 4)), ValueError, "out of bounds"),
    (lambda: gk.unravel_index([1.0], (3, 4)), gk.DTypeError, "integers"),
    (lambda: gk.unravel_index(1, (3, 4), order="A"), gk.InvalidArgumentError, "'C' or 'F'"),
    (lambda: gk.ravel_multi_index(([1, 5], [0, 3]), (3, 4)), gk.InvalidArgumentError, "invalid entry"),
    (lambda: gk.ravel_multi_index(([1], [2], [0]), (3, 4)), gk.InvalidArgumentError, "3 coordinate arrays for 2"),
    (lambda: gk.ravel_multi_index(([1.0], [2]), (3, 4)), gk.DTypeError, "integer coordinates"),
    (lambda: gk.ravel_multi_index(([1], [2]), (3, 4), mode="bogus"), gk.InvalidArgumentError, "'clip', 'raise'"),
    (lambda: gk.ravel_multi_index(([1], [2]), (3, 4), mode=("wrap",)), gk.InvalidArgumentError, "one per dimension"),
    (lambda: gk.ravel_multi_index(([1, 2], [2, 1, 0]), (3, 4)), gk.ShapeError, "do not broadcast"),
    (lambda: gk.ix_([[0]]), gk.ShapeError, "1-d"),
    (lambda: gk.delete(np.arange(4), 4), gk.IndexOutOfRangeError, "index 4 is out of bounds for axis 0"),
    (lambda: gk.delete(np.ones((2, 4)), [True, False], axis=1), gk.ShapeError, "match the axis length 4"),
    (lambda: gk.delete(np.ones(3), [1.0]), gk.DTypeError, "integers, a bool mask or a slice"),
    (lambda: gk.delete(np.ones(3), 0, axis=1), gk.IndexOutOfRangeError, "axis 1 is out of range"),
    (lambda: gk.insert(np.ones((3, 4)), 5, 0, axis=1), gk.IndexOutOfRangeError, "index 5 is out of bounds"),
    (lambda: gk.insert(np.ones(3), [1, 9], 0), IndexError, "index 9"),
    (lambda: gk.insert(np.ones(3), [[1]], 0), gk.ShapeError, "1-d or a scalar"),
    (lambda: gk.insert(np.ones((3, 4)), 1, np.ones((2, 2)), axis=0), gk.ShapeError, "do not broadcast"),
    (lambda: gk.insert(np.ones((3, 4)), [], [1.0, 2.0]), gk.ShapeError, "do not broadcast"),
    (lambda: gk.isin([1], [1], kind="bogus"), gk.InvalidArgumentError, "invalid kind"),
    (lambda: gk.isin([1.0], [1], kind="table"), gk.InvalidArgumentError, "bool or integer"),
    (lambda: gk.digitize(np.ones(1), gk.tensor([3.0, 1.0, 2.0], device="cpu")), gk.InvalidArgumentError,
     "monotonically"),  # checked on the CPU only
    (lambda: gk.digitize([1.0], [[3.0]]), gk.ShapeError, "bins must be 1-d"),
    (lambda: gk.argpartition([3, 1, 2], 3), gk.InvalidArgumentError, r"kth\(=3\) out of bounds \(3\)"),
    (lambda: gk.argpartition([3, 1, 2], -4), ValueError, "out of bounds"),
    (lambda: gk.argpartition([3, 1, 2], 1.0), gk.ArgumentTypeError, "kth must be an int"),
    (lambda: gk.argpartition([3, 1, 2], []), gk.ArgumentTypeError, "non-empty"),
    (lambda: gk.partition([3, 1, 2], 1, kind="quick"), gk.InvalidArgumentError, "introselect"),
    (lambda: gk.partition([3, 1, 2], 1, order="a"), gk.InvalidArgumentError, "fields"),
    (lambda: gk.lexsort([]), gk.ArgumentTypeError, "len > 0"),
    (lambda: gk.lexsort(([1, 2], [1, 2, 3])), gk.ShapeError, "same shape"),
    (lambda: gk.compress([[True]], np.ones(3)), gk.ShapeError, "1-d"),
    (lambda: gk.compress([0, 0, 0, 1], np.ones(3)), gk.IndexOutOfRangeError, "out of bounds for axis 0 with size 3"),
    (lambda: gk.compress([1], np.ones(3), out=np.ones(1)), gk.InvalidArgumentError, "compress: out= is not supported"),
    (lambda: gk.extract([1, 0, 0, 1], np.ones(3)), gk.IndexOutOfRangeError, "beyond"),
    (lambda: gk.choose([0, 3], [[1, 2], [4, 5]]), gk.InvalidArgumentError, "invalid entry in choice array"),
    (lambda: gk.choose([0.0, 1], [[1, 2], [4, 5]]), gk.DTypeError, "integers"),
    (lambda: gk.choose([0, 1], []), gk.InvalidArgumentError, "0-length"),
    (lambda: gk.choose([0, 1], [np.ones(3), np.ones(2)]), gk.ShapeError, "broadcast"),
    (lambda: gk.choose([0, 1], [[1, 2]], mode="bad"), gk.InvalidArgumentError, "mode"),
    (lambda: gk.trim_zeros([0, 1], "x"), gk.InvalidArgumentError, "unexpected character"),
    (lambda: gk.trim_zeros([0, 1], axis=1), gk.IndexOutOfRangeError, "axis 1"),
    (lambda: gk.ediff1d(np.array([1, 2], np.int8), to_begin=1.5), gk.DTypeError, "same_kind"),
    (lambda: gk.ediff1d(np.array([True, False])), gk.DTypeError, "bool"),
    (lambda: gk.unwrap(np.array(3.0)), gk.ShapeError, "at least 1-d"),
    (lambda: gk.unwrap([1.0, 2.0], period="x"), gk.ArgumentTypeError, "period must be a number"),
    (lambda: gk.hsplit(np.array(3.0), 1), gk.ShapeError, "1 or more dimensions"),
    (lambda: gk.vsplit(np.arange(3.0), 1), gk.ShapeError, "2 or more"),
    (lambda: gk.dsplit(np.ones((2, 2)), 1), gk.ShapeError, "3 or more"),
    (lambda: gk.hsplit(np.arange(4.0), 3), gk.ShapeError, "hsplit: axis 0 of length 4 does not split into 3"),
    (lambda: gk.hsplit(np.arange(4.0), 0), gk.InvalidArgumentError, "larger than 0"),
    (lambda: gk.unstack(np.array(3.0)), gk.ShapeError, "at least 1-d"),
    (lambda: gk.concat([np.array(1.0), np.array(2.0)]), gk.ShapeError, "zero-dimensional"),
    (lambda: gk.concat(np.ones(2)), gk.ArgumentTypeError, "list or tuple"),
    (lambda: gk.concat([np.ones(2), np.ones(2, np.int64)], dtype=np.int32), gk.DTypeError, "same_kind"),
    (lambda: gk.matrix_transpose(np.ones(3)), gk.ShapeError, "at least 2-d"),
    (lambda: gk.permute_dims(np.ones((2, 3)), (0,)), gk.ShapeError, "permutation"),
    (lambda: gk.block([]), gk.InvalidArgumentError, "cannot be empty"),
    (lambda: gk.block([[]]), gk.InvalidArgumentError, r"arrays\[0\] cannot be empty"),
    (lambda: gk.block(([1.0], [2.0])), gk.ArgumentTypeError, "arrays is a tuple"),
    (lambda: gk.block([[1.0, [2.0]]]), gk.InvalidArgumentError, "depths are mismatched"),
    (lambda: gk.block([[np.ones(2), np.ones(2)], [np.ones(3)]]), gk.ShapeError, "do not fit together"),
    (lambda: gk.resize(np.ones(3), (-1, 2)), gk.InvalidArgumentError, "non-negative"),
    (lambda: gk.fill_diagonal(np.zeros(3), 1.0), gk.ShapeError, "at least 2-d"),
    (lambda: gk.fill_diagonal(np.zeros((2, 3, 2)), 1.0), gk.ShapeError, "equal length"),
    (lambda: gk.fill_diagonal(np.zeros((2, 2), np.int8), 300), gk.InvalidArgumentError, "out of range"),
    (lambda: gk.place(np.zeros(5), [True, False], [1.0]), gk.ShapeError, "same size"),
    (lambda: gk.place(np.zeros(2), [True, True], []), gk.InvalidArgumentError, "empty array"),
    (lambda: gk.putmask(np.zeros(5), [True, False], [1.0]), gk.ShapeError, "same size"),
    (lambda: gk.put(np.zeros(5), [0, 5], [1.0]), gk.IndexOutOfRangeError, "index 5 is out of bounds"),
    (lambda: gk.put(np.zeros(0), [0], [1.0]), gk.IndexOutOfRangeError, "empty array"),
    (lambda: gk.put(np.zeros(3), [0.0], [1.0]), gk.DTypeError, "integers"),
    (lambda: gk.put(np.zeros(3), [0], [1.0], mode="bogus"), gk.InvalidArgumentError, "mode"),
    (lambda: gk.apply_along_axis(lambda v: v.sum(), 0, np.ones(())), gk.IndexOutOfRangeError, "axis 0"),
    (lambda: gk.apply_along_axis(lambda v: v.sum(), 1, np.ones((0, 2))), gk.InvalidArgumentError, "length 0"),
    (lambda: gk.apply_along_axis(lambda v: v[: int(v[0].item()) + 1], 1, np.eye(2)), gk.ShapeError, "returned shape"),
    (lambda: gk.apply_over_axes(lambda a, ax: gk.ravel(a), np.ones((2, 3, 4)), 0), gk.ShapeError, "wrong number"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[f"error{i}" for i in range(len(ERRORS))])
def test_errors_name_the_function(case):
    call, kind, match = case
    with pytest.raises(kind, match=match):
        call()


def test_numpy_exception_classes_still_catch_them():
    """gradkit's errors derive from NumPy's classes (ValueError, IndexError, TypeError) for the same mistakes."""
    for call, kind in ((lambda: gk.unravel_index(12, (3, 4)), ValueError),
                       (lambda: gk.delete(np.ones(2), 5), IndexError), (lambda: gk.block((1,)), TypeError),
                       (lambda: gk.argpartition([1], 1), ValueError)):  # fmt: skip
        with pytest.raises(kind):
            call()

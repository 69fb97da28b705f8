"""Named tuples of two tensors, as ``torch.return_types``: what the PyTorch form of a reduction returns.

``gk.max(x, dim=1)`` (and ``min``, ``median``, ``nanmedian``, ``sort`` with ``dim=``, ``topk``, ``cummax``
and ``cummin``) returns ``(values, indices)`` as one of these: it unpacks as a tuple and has ``.values`` and
``.indices``. Each operation has its own class, so the repr names it, as PyTorch's does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from gradkit.tensor import Tensor


class ValuesIndices(NamedTuple):
    """The values picked along a dim and their int64 indices along it."""

    values: Tensor
    indices: Tensor


class max(ValuesIndices):  # noqa: A001 - torch.return_types' names
    __slots__ = ()


class min(ValuesIndices):  # noqa: A001
    __slots__ = ()


class median(ValuesIndices):
    __slots__ = ()


class nanmedian(ValuesIndices):
    __slots__ = ()


class sort(ValuesIndices):
    __slots__ = ()


class topk(ValuesIndices):
    __slots__ = ()


class cummax(ValuesIndices):
    __slots__ = ()


class cummin(ValuesIndices):
    __slots__ = ()


__all__ = ["ValuesIndices", "cummax", "cummin", "max", "median", "min", "nanmedian", "sort", "topk"]


# Added for the Tensor methods of gradkit/ops/tensor_methods_misc.py
class kthvalue(ValuesIndices):
    __slots__ = ()


class mode(ValuesIndices):
    __slots__ = ()


class aminmax(NamedTuple):
    """The smallest and the largest values (``Tensor.aminmax``), as ``torch.return_types.aminmax``."""

    min: Tensor
    max: Tensor


class histogram(NamedTuple):
    """The counts (or weight sums) per bin and the bin edges, as ``torch.return_types.histogram``."""

    hist: Tensor
    bin_edges: Tensor


__all__ += ["aminmax", "histogram", "kthvalue", "mode"]


# PyTorch's results of other shapes (the Tensor methods of gradkit/ops/tensor_methods_math.py)
class svd(NamedTuple):
    """``Tensor.svd``'s result, as ``torch.return_types.svd``: ``a == U @ diag(S) @ V.mT`` (V, not Vh)."""

    U: Tensor
    S: Tensor
    V: Tensor


class triangular_solve(NamedTuple):
    """``Tensor.triangular_solve``'s result: the solution and a copy of the coefficient matrix."""

    solution: Tensor
    cloned_coefficient: Tensor


class frexp(NamedTuple):
    """``Tensor.frexp``'s result: ``x == mantissa * 2 ** exponent`` (exponent int32)."""

    mantissa: Tensor
    exponent: Tensor


__all__ += ["frexp", "svd", "triangular_solve"]


# torch.lu_unpack's result (gradkit/ops/torch_namespace.py)
class lu_unpack(NamedTuple):
    """``gk.lu_unpack``'s result, as ``torch.return_types.lu_unpack``: ``A == P @ L @ U``."""

    P: Tensor
    L: Tensor
    U: Tensor


__all__ += ["lu_unpack"]

"""``Chi2(df)``: the chi-squared distribution, Gamma(df / 2, 1 / 2) (``torch.distributions.Chi2``)."""

from __future__ import annotations

from typing import Any

from gradkit.distributions import constraints
from gradkit.distributions.gamma import Gamma
from gradkit.distributions.utils import promote_all
from gradkit.tensor import Tensor

__all__ = ["Chi2"]


class Chi2(Gamma):
    """The sum of ``df`` (> 0, not necessarily whole) squared standard normals: Gamma(df / 2, rate 1/2)."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df: Any, validate_args: bool | None = None) -> None:
        (df,) = promote_all(df, name="Chi2")
        super().__init__(0.5 * df, 0.5, validate_args=validate_args)

    @property
    def df(self) -> Tensor:
        return self.concentration * 2

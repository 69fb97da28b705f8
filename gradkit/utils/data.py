"""``gk.utils.data``: PyTorch's ``torch.utils.data`` spelling of :mod:`gradkit.data`.

The same objects under a second name, not copies: ``gk.utils.data.DataLoader is gk.data.DataLoader``, so
``from gradkit.utils.data import DataLoader, TensorDataset, random_split`` ports
``from torch.utils.data import ...``. Every name of ``gradkit.data`` is here (its submodules too, as
attributes: ``gk.utils.data.sampler``); ``gradkit.data`` documents them.
"""

from typing import Any

import gradkit.data as _data
from gradkit.data import *  # noqa: F403
from gradkit.data import __all__  # noqa: F401


def __getattr__(name: str) -> Any:
    try:
        return getattr(_data, name)  # a submodule (gradkit.data.sampler) or another name of gradkit.data
    except AttributeError:
        raise AttributeError(f"module 'gradkit.utils.data' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_data)))

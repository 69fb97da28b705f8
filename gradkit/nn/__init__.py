"""Neural networks: ``Module``, ``Parameter``, layers, ``functional``, ``init`` and ``utils``."""

from gradkit.nn import functional, init, utils
from gradkit.nn.layers import (
    GELU,
    BatchNorm1d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from gradkit.nn.module import IncompatibleKeys, Module, ModuleAttributeError, StateDictError, StateDictShapeError
from gradkit.nn.parameter import Parameter

__all__ = [
    "BatchNorm1d",
    "Dropout",
    "Embedding",
    "Flatten",
    "GELU",
    "Identity",
    "IncompatibleKeys",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "Module",
    "ModuleAttributeError",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "StateDictError",
    "StateDictShapeError",
    "Tanh",
    "functional",
    "init",
    "utils",
]

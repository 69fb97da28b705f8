"""``gk.nn.modules``: PyTorch's ``torch.nn.modules`` import paths for gradkit's layers.

PyTorch code imports layers and their base classes from the files PyTorch keeps them in
(``from torch.nn.modules.batchnorm import _BatchNorm``, ``isinstance(m, nn.modules.conv._ConvNd)``,
``from torch.nn.modules.utils import _pair``). gradkit's layers live elsewhere (``gradkit/nn/layers.py``,
``conv.py`` ...); this package gives each of PyTorch's submodules (``activation``, ``batchnorm``, ``container``,
``conv``, ``dropout``, ``instancenorm``, ``linear``, ``loss``, ``module``, ``normalization``, ``padding``,
``pooling``, ``rnn``, ``sparse``, ``transformer`` ...) as a module holding the same gradkit classes (the very
objects of ``gk.nn``, so ``isinstance`` checks agree), and ``utils`` with PyTorch's helpers. The package itself
holds every layer class, as ``torch.nn.modules`` does.
"""

from __future__ import annotations

import importlib
import sys
import types

from gradkit.nn.modules import utils

# PyTorch's submodule -> the names it holds that gradkit has
_CONTENTS = {
    "module": "Module",
    "activation": "CELU ELU GELU GLU Hardshrink Hardsigmoid Hardswish Hardtanh LeakyReLU LogSigmoid LogSoftmax Mish "
                  "MultiheadAttention PReLU RReLU ReLU ReLU6 SELU SiLU Sigmoid Softmax Softmax2d Softmin Softplus "
                  "Softshrink Softsign Tanh Tanhshrink Threshold",
    "adaptive": "AdaptiveLogSoftmaxWithLoss",
    "batchnorm": "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d SyncBatchNorm "
                 "_BatchNorm _LazyNormBase _NormBase",
    "channelshuffle": "ChannelShuffle",
    "container": "ModuleDict ModuleList ParameterDict ParameterList Sequential",
    "conv": "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d LazyConv2d LazyConv3d "
            "LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d _ConvNd _ConvTransposeNd _LazyConvXdMixin",
    "distance": "CosineSimilarity PairwiseDistance",
    "dropout": "AlphaDropout Dropout Dropout1d Dropout2d Dropout3d FeatureAlphaDropout _DropoutNd",
    "flatten": "Flatten Unflatten",
    "fold": "Fold Unfold",
    "instancenorm": "InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d LazyInstanceNorm2d "
                    "LazyInstanceNorm3d _InstanceNorm",
    "lazy": "LazyModuleMixin",
    "linear": "Bilinear Identity LazyLinear Linear",
    "loss": "BCELoss BCEWithLogitsLoss CTCLoss CosineEmbeddingLoss CrossEntropyLoss GaussianNLLLoss HingeEmbeddingLoss "
            "HuberLoss KLDivLoss L1Loss MSELoss MarginRankingLoss MultiLabelMarginLoss MultiLabelSoftMarginLoss "
            "MultiMarginLoss NLLLoss PoissonNLLLoss SmoothL1Loss SoftMarginLoss TripletMarginLoss "
            "TripletMarginWithDistanceLoss _Loss _WeightedLoss",
    "normalization": "CrossMapLRN2d GroupNorm LayerNorm LocalResponseNorm RMSNorm",
    "padding": "CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d ConstantPad3d ReflectionPad1d "
               "ReflectionPad2d ReflectionPad3d ReplicationPad1d ReplicationPad2d ReplicationPad3d ZeroPad1d ZeroPad2d "
               "ZeroPad3d _ConstantPadNd",
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "pooling": "AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d "
               "AdaptiveMaxPool3d AvgPool1d AvgPool2d AvgPool3d FractionalMaxPool2d FractionalMaxPool3d LPPool1d "
               "LPPool2d LPPool3d MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d "
               "_AdaptiveAvgPoolNd _AdaptiveMaxPoolNd _AvgPoolNd _LPPoolNd _MaxPoolNd",
    "rnn": "GRU GRUCell LSTM LSTMCell RNN RNNBase RNNCell RNNCellBase",
    "sparse": "Embedding EmbeddingBag",
    "transformer": "Transformer TransformerDecoder TransformerDecoderLayer TransformerEncoder TransformerEncoderLayer",
    "upsampling": "Upsample UpsamplingBilinear2d UpsamplingNearest2d",
}

# where gradkit keeps the private base classes that gk.nn does not export
_PRIVATE_HOMES = ("gradkit.nn.layers", "gradkit.nn.conv", "gradkit.nn.lazy", "gradkit.nn.loss",
                  "gradkit.nn.normalization", "gradkit.nn.padding", "gradkit.nn.extra_layers")


def _find(name: str) -> object:
    nn = sys.modules["gradkit.nn"]
    value = getattr(nn, name, None)
    if value is not None:
        return value
    for home in _PRIVATE_HOMES:
        value = getattr(importlib.import_module(home), name, None)
        if value is not None:
            return value
    raise ImportError(f"gradkit.nn.modules: no gradkit class for PyTorch's {name}")  # a wrong table entry


__all__: list[str] = []
for _sub, _names in _CONTENTS.items():
    _module = types.ModuleType(f"{__name__}.{_sub}", f"PyTorch's torch.nn.modules.{_sub}: gradkit's classes.")
    _public = []
    for _name in _names.split():
        _value = _find(_name)
        setattr(_module, _name, _value)
        globals()[_name] = _value
        if not _name.startswith("_"):
            _public.append(_name)
    _module.__all__ = _public
    sys.modules[_module.__name__] = _module
    globals()[_sub] = _module
    __all__ += _public
__all__ = sorted(set(__all__))
del _sub, _names, _module, _public, _name, _value

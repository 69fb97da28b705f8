"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells, with PyTorch's arguments,
equations, parameter names and shapes, initialisation and state-dict keys.

Per layer and direction, the input projection of every time step is one ``F.linear`` before the time loop;
the loop itself (and a cell's step) is one node, ``_recurrence.FusedRecurrence``: raw-array forward and
closed-form backward, falling back to the composed gradkit operations (``_recurrence.composed``) when the
backward pass is recorded, so gradients of every order work. No host reads and no branching on values: a
forward with fixed shapes can be captured (``gk.cuda.capture``).

``RNN``, ``LSTM`` and ``GRU`` also take a ``PackedSequence`` (``nn.utils.rnn``) and return one: the layers run on
its data as it is (each step on the sequences still running, so every sequence stops at its own length) and
only its ``batch_sizes`` are read on the host.

Under ``gk.autocast`` (either device type) a layer or cell computes in the autocast dtype, as PyTorch's cuDNN RNN
and cells on its CUDA lower-precision list: the input, the states and the weights are cast down once per call
(recorded casts, the weights' cached for the region, so float32 parameters get float32 gradients), and the
output and final states are float16. PyTorch 2.14's CPU autocast is not consistent here (its oneDNN LSTM fails on
float32 input, its GRU, LSTM and the LSTM/GRU cells cast only their products and return the state's dtype, the
input's when no state is given, its RNN and RNNCell return float16); gradkit does on "cpu" what PyTorch does on
"cuda".
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from gradkit import ops
from gradkit._args import flag, real, text
from gradkit.amp import autocast_mode as _autocast
from gradkit.autograd.function import record
from gradkit.creation import empty, zeros
from gradkit.errors import ArgumentTypeError, DeviceError, DTypeError, InvalidArgumentError, ShapeError, describe
from gradkit.nn import functional as F
from gradkit.nn import init
from gradkit.nn._recurrence import GATES as _GATES
from gradkit.nn._recurrence import recurrence, split_layers
from gradkit.nn.layers import _size
from gradkit.nn.module import Module
from gradkit.nn.parameter import Parameter
from gradkit.nn.utils_rnn import PackedSequence
from gradkit.nn.utils_rnn import _sizes as _packed_fields
from gradkit.ops._util import as_tensor
from gradkit.ops.indexing import _getitem_vjp
from gradkit.tensor import Tensor

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]

_NONLINEARITIES = ("tanh", "relu")


# ------------------------------------------------------------------ argument checks
def _nonlinearity(value: Any, layer: str) -> str:
    text(value, layer, "nonlinearity")
    if value not in _NONLINEARITIES:
        raise InvalidArgumentError(f"{layer}: unknown nonlinearity {value!r}; expected 'tanh' or 'relu'")
    return value


def _input(module: Module, x: Any, weight: Tensor, dims: tuple[int, int], what: str = "input",
           lower: Any = None) -> Tensor:
    """``x`` as a Tensor on ``weight``'s device with its dtype and ``dims`` dimensions (else an error); with
    ``lower`` (the dtype gk.autocast computes the layer in) a floating ``x`` cast to it, and then of that dtype."""
    layer = type(module).__name__
    if isinstance(x, PackedSequence):  # reached only by the cells: the layers unpack it first
        raise ArgumentTypeError(f"{layer}: {what} must be a Tensor, got a PackedSequence; a cell runs one time "
                                "step, RNN, LSTM and GRU take packed sequences")
    if not isinstance(x, Tensor):
        if isinstance(x, (tuple, list, str, bytes)) or x is None:
            raise ArgumentTypeError(f"{layer}: {what} must be a Tensor, got {describe(x)}")
        x = as_tensor(x, layer, weight._backend)
    if x.ndim not in dims:
        raise ShapeError(f"{layer}: expected {what} to be {dims[0]}-D or {dims[1]}-D, got a {x.ndim}-D tensor "
                         f"of shape {x.shape}")
    if x._backend is not weight._backend:
        raise DeviceError(f"{layer}: {what} is on {x.device}, the layer's parameters on {weight.device}; "
                          f"move one of them (x.to({weight.device!r}) or module.to({x.device!r}))")
    if lower is not None:
        (x,) = _autocast.cast("rnn", x)  # float64 stays float64 (refused below, as PyTorch's)
    if x.dtype != (weight.dtype if lower is None else lower):
        fix = f"convert the {what} (x.astype(gk.{weight.dtype}))"
        if x.dtype.kind == "f":
            fix += f" or the layer (module.to(dtype=gk.{x.dtype}))"
        where = "" if lower is None else f" (computed in {lower} under gk.autocast)"
        raise DTypeError(f"{layer}: {what} has dtype {x.dtype}, the layer's parameters {weight.dtype}{where}; {fix}")
    return x


def _lowered(params: tuple, reference: Tensor) -> tuple:
    """``(params, dtype)``: under gk.autocast for ``reference``'s device (a float32 or float16 parameter) the
    parameters cast to its dtype (recorded casts, cached for the region) and that dtype; else as they are and
    None."""
    if _autocast.active:
        lower = _autocast.lower_dtype(reference)
        if lower is not None:
            return _autocast.cast("rnn", *params), lower
    return params, None


def _check_state(layer: str, what: str, state: Tensor, expected: tuple, meaning: str) -> None:
    if state.shape != expected:
        raise ShapeError(f"{layer}: {what} has shape {state.shape}, expected {expected} ({meaning})")


def _batch_in(state: Tensor, order: Tensor) -> Tensor:
    """``state[:, order]``: a state's batch (axis 1) in another order, with no host read of ``order``."""
    if order._backend is not state._backend:
        raise DeviceError(f"PackedSequence: its indices are on {order.device}, the states on {state.device}")
    index = (slice(None), order._data)
    # order saved as the tensor too (its version checked): indices changed in place before backward are refused
    saved = (state.shape, index, order)
    return record("getitem", state._data[index], state._backend, (state,), (_batch_in_vjp,), saved)


def _batch_in_vjp(g: Tensor, shape: tuple, index: tuple, order: Tensor) -> Tensor:
    return _getitem_vjp(g, shape, index)


# ------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """What the cells share (PyTorch's base class and arguments): weight_ih (num_chunks * hidden_size,
    input_size), weight_hh (num_chunks * hidden_size, hidden_size), bias_ih and bias_hh (num_chunks *
    hidden_size,), all uniform in +-1/sqrt(hidden_size); ``num_chunks`` is the number of gates."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        layer = type(self).__name__
        self.input_size = _size(input_size, "input_size", layer)
        self.hidden_size = _size(hidden_size, "hidden_size", layer, 1)
        self.bias = flag(bias, layer, "bias")
        rows = _size(num_chunks, "num_chunks", layer, 1) * self.hidden_size
        self.weight_ih = Parameter(empty(rows, self.input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(empty(rows, self.hidden_size, dtype=dtype, device=device))
        if self.bias:
            self.bias_ih = Parameter(empty(rows, dtype=dtype, device=device))
            self.bias_hh = Parameter(empty(rows, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _params(self) -> tuple:
        """``((weight_ih, weight_hh, bias_ih, bias_hh), dtype)``: cast down under gk.autocast (see ``_lowered``)."""
        return _lowered((self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh), self.weight_ih)

    def _state(self, hx: Any, x: Tensor, batched: bool, what: str, lower: Any = None) -> Tensor:
        """The hidden (or cell) state ``hx`` as (N, hidden_size): zeros when None."""
        layer = type(self).__name__
        n = x.shape[0] if batched else 1
        if hx is None:
            return zeros(n, self.hidden_size, dtype=x.dtype, device=x.device)
        h = _input(self, hx, self.weight_ih, (1, 2), what, lower)
        expected = (n, self.hidden_size) if batched else (self.hidden_size,)
        meaning = "batch, hidden_size" if batched else "hidden_size, for an unbatched input"
        _check_state(layer, what, h, expected, meaning)
        return h if batched else ops.unsqueeze(h, 0)

    def _project(self, input: Any, lower: Any = None) -> tuple[Tensor, bool]:  # noqa: A002
        layer = type(self).__name__
        x = _input(self, input, self.weight_ih, (1, 2), "input", lower)
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{layer}: input has shape {x.shape}, expected its last axis to be input_size="
                             f"{self.input_size}")
        return x, x.ndim == 2

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """One step of an Elman RNN: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` with act tanh or relu.

    ``forward(input, hx=None)``: input (N, input_size) or (input_size,), hx (N, hidden_size) or
    (hidden_size,) (zeros when None); returns h' of hx's shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        _nonlinearity(nonlinearity, "RNNCell")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Tensor:  # noqa: A002
        (w_ih, w_hh, b_ih, b_hh), lower = self._params()
        x, batched = self._project(input, lower)
        h = self._state(hx, x, batched, "hx", lower)
        xg = F.linear(x if batched else ops.unsqueeze(x, 0), w_ih, b_ih)
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        _, h, _ = recurrence(mode, xg, h, None, w_hh, b_hh, None)
        return h if batched else ops.squeeze(h, 0)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o in that order, as PyTorch): ``c' = f * c + i * g``,
    ``h' = o * tanh(c')``.

    ``forward(input, hx=None)``: hx is a pair (h, c) of (N, hidden_size) or (hidden_size,) tensors (zeros
    when None); returns (h', c').
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:  # noqa: A002
        (w_ih, w_hh, b_ih, b_hh), lower = self._params()
        x, batched = self._project(input, lower)
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise ArgumentTypeError(f"LSTMCell: hx must be a pair (h_0, c_0) of Tensors or None, got {describe(hx)}")
        h = self._state(hx[0], x, batched, "h_0", lower)
        c = self._state(hx[1], x, batched, "c_0", lower)
        xg = F.linear(x if batched else ops.unsqueeze(x, 0), w_ih, b_ih)
        _, h, c = recurrence("LSTM", xg, h, c, w_hh, b_hh, None)
        return (h, c) if batched else (ops.squeeze(h, 0), ops.squeeze(c, 0))


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n, as PyTorch): ``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))``,
    ``h' = (1 - z) * n + z * h``.

    ``forward(input, hx=None)``: as RNNCell's.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:  # noqa: A002
        (w_ih, w_hh, b_ih, b_hh), lower = self._params()
        x, batched = self._project(input, lower)
        h = self._state(hx, x, batched, "hx", lower)
        xg = F.linear(x if batched else ops.unsqueeze(x, 0), w_ih, b_ih)
        _, h, _ = recurrence("GRU", xg, h, None, w_hh, b_hh, None)
        return h if batched else ops.squeeze(h, 0)


# ------------------------------------------------------------------ multi-layer recurrent layers
class RNNBase(Module):
    """What RNN, LSTM and GRU share: the parameters of each layer k and direction (suffix "_reverse" for the
    backward one), in PyTorch's order: ``weight_ih_l{k}`` (gates * hidden_size, input_size for k = 0, else
    num_directions * hidden_size (proj_size with a projection)), ``weight_hh_l{k}`` (gates * hidden_size,
    hidden_size or proj_size), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (gates * hidden_size,) and, for an LSTM with
    ``proj_size > 0``, ``weight_hr_l{k}`` (proj_size, hidden_size); all uniform in +-1/sqrt(hidden_size).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        layer = type(self).__name__
        if mode not in _GATES:
            modes = ", ".join(map(repr, _GATES))
            raise InvalidArgumentError(f"{layer}: unknown mode {mode!r}; expected one of {modes}")
        self.mode = mode
        self.input_size = _size(input_size, "input_size", layer)
        self.hidden_size = _size(hidden_size, "hidden_size", layer, 1)
        self.num_layers = _size(num_layers, "num_layers", layer, 1)
        self.bias = flag(bias, layer, "bias")
        self.batch_first = flag(batch_first, layer, "batch_first")
        self.dropout = real(dropout, layer, "dropout")
        if not 0 <= self.dropout <= 1:
            raise InvalidArgumentError(f"{layer}: dropout must be a probability in [0, 1], got {dropout!r}")
        self.bidirectional = flag(bidirectional, layer, "bidirectional")
        self.proj_size = _size(proj_size, "proj_size", layer)
        if self.proj_size and mode != "LSTM":
            raise InvalidArgumentError(f"{layer}: proj_size is only supported by LSTM, got proj_size={proj_size}")
        if self.proj_size >= self.hidden_size:
            raise InvalidArgumentError(f"{layer}: proj_size ({proj_size}) must be smaller than hidden_size "
                                       f"({hidden_size})")
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                f"{layer}: dropout={self.dropout} applies between stacked layers only; with num_layers=1 it has "
                "no effect", UserWarning, stacklevel=3)
        rows = _GATES[mode] * self.hidden_size
        out = self.proj_size or self.hidden_size
        directions = 2 if self.bidirectional else 1
        self._flat_weights_names: list[str] = []
        for k in range(self.num_layers):
            width = self.input_size if k == 0 else out * directions
            for d in range(directions):
                suffix = f"_l{k}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (rows, width)), ("weight_hh", (rows, out))]
                if self.bias:
                    shapes += [("bias_ih", (rows,)), ("bias_hh", (rows,))]
                if self.proj_size:
                    shapes.append(("weight_hr", (self.proj_size, self.hidden_size)))
                for name, shape in shapes:
                    setattr(self, name + suffix, Parameter(empty(*shape, dtype=dtype, device=device)))
                    self._flat_weights_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """PyTorch's cuDNN weight packing: nothing to do in gradkit (kept so that PyTorch code runs)."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction, in order (PyTorch's ``all_weights``)."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i:i + per]] for i in range(0, len(names), per)]

    def _weights(self, k: int, d: int) -> tuple:
        """(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr) of layer ``k``, direction ``d`` (None: absent)."""
        suffix = f"_l{k}" + ("_reverse" if d else "")
        names = [n + suffix for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")]
        params = self.__dict__["_parameters"]
        if "parametrizations" not in self.__dict__["_modules"]:
            return tuple(params.get(name) for name in names)
        # a name not in the table may be parametrized (nn.utils.parametrize): the module's attribute computes it
        return tuple(params[name] if name in params else getattr(self, name, None) for name in names)

    def _reference_weight(self) -> Tensor:
        """A parameter with the layer's dtype and device, without computing a parametrized weight."""
        w = self.__dict__["_parameters"].get("weight_ih_l0")
        return w if w is not None else next(self.parameters())

    def _params(self) -> tuple[list, Any]:
        """``_weights`` of every layer and direction in order, and the dtype gk.autocast computes in: cast down
        under it, once per call (see ``_lowered``)."""
        directions = 2 if self.bidirectional else 1
        params = [self._weights(k, d) for k in range(self.num_layers) for d in range(directions)]
        if not _autocast.active:  # (one module read when autocast is off)
            return params, None
        flat, lower = _lowered(tuple(p for group in params for p in group), self._reference_weight())
        if lower is None:
            return params, None
        return [flat[i:i + 5] for i in range(0, len(flat), 5)], lower

    def _states(self, hx: Any, what: str, size: int, batch: int, batched: bool, x: Tensor,
                order: Tensor | None = None, lower: Any = None) -> list:
        """``hx`` (num_layers * num_directions, N, size) as one (N, size) tensor per layer and direction, its
        batch in ``order`` when given (a packed batch's ``sorted_indices``)."""
        layer = type(self).__name__
        count = self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            zero = zeros(batch, size, dtype=x.dtype, device=x.device)
            return [zero] * count
        h = _input(self, hx, self._reference_weight(), (2, 3), what, lower)
        expected = (count, batch, size) if batched else (count, size)
        meaning = "num_layers * num_directions, batch, " if batched else "num_layers * num_directions, "
        meaning += "proj_size" if size == self.proj_size else "hidden_size"
        _check_state(layer, what, h, expected, meaning)
        if not batched:
            h = ops.unsqueeze(h, 1)
        if order is not None:
            h = _batch_in(h, order)
        return list(split_layers(h))

    def forward(self, input: Any, hx: Any = None) -> tuple:  # noqa: A002
        """``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``); a PackedSequence input gives a PackedSequence
        output, and hx and h_n are in the original batch order, as PyTorch's."""
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        layer = type(self).__name__
        params, lower = self._params()
        x = _input(self, input, self._reference_weight(), (2, 3), "input", lower)
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{layer}: input has shape {x.shape}, expected its last axis to be input_size="
                             f"{self.input_size}")
        shape = x.shape
        batched = x.ndim == 3
        if not batched:
            x = ops.unsqueeze(x, 1)
        elif self.batch_first:
            x = ops.swapaxes(x, 0, 1)
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise ShapeError(f"{layer}: the input's sequence length is 0 (input of shape {shape}); "
                             "expected at least one time step")
        h0, c0 = self._initial(hx, batch, batched, x, None, lower)
        y, h_n, c_n = self._run(x, h0, c0, params)
        if not batched:
            y = ops.squeeze(y, 1)
            h_n = ops.squeeze(h_n, 1)
            c_n = ops.squeeze(c_n, 1) if c_n is not None else None
        elif self.batch_first:
            y = ops.swapaxes(y, 0, 1)
        return (y, (h_n, c_n)) if self.mode == "LSTM" else (y, h_n)

    def _initial(self, hx: Any, batch: int, batched: bool, x: Tensor, order: Tensor | None = None,
                 lower: Any = None) -> tuple:
        """The initial states (lists of (N, size) tensors per layer and direction; c0 all None but an LSTM's)."""
        layer = type(self).__name__
        out_size = self.proj_size or self.hidden_size
        if self.mode == "LSTM":
            if hx is None:
                hx = (None, None)
            elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ArgumentTypeError(f"LSTM: hx must be a pair (h_0, c_0) of Tensors or None, got {describe(hx)}")
            h0 = self._states(hx[0], "h_0", out_size, batch, batched, x, order, lower)
            return h0, self._states(hx[1], "c_0", self.hidden_size, batch, batched, x, order, lower)
        if isinstance(hx, (tuple, list)):
            raise ArgumentTypeError(f"{layer}: hx must be a Tensor or None, got {describe(hx)}")
        h0 = self._states(hx, "hx", out_size, batch, batched, x, order, lower)
        return h0, [None] * len(h0)

    def _forward_packed(self, packed: PackedSequence, hx: Any) -> tuple:
        """``forward`` on a PackedSequence: the layers on its data, states in the sorted order inside."""
        layer = type(self).__name__
        data, sizes, sorted_indices, unsorted_indices = _packed_fields(packed, layer)
        if data.ndim != 2:
            raise ShapeError(f"{layer}: a PackedSequence's data must be 2-D (steps of all sequences, input_size), "
                             f"got shape {data.shape}")
        params, lower = self._params()
        x = _input(self, data, self._reference_weight(), (2, 3), "PackedSequence's data", lower)
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{layer}: the PackedSequence's data has shape {x.shape}, expected its last axis to "
                             f"be input_size={self.input_size}")
        h0, c0 = self._initial(hx, sizes[0], True, x, sorted_indices, lower)
        y, h_n, c_n = self._run(x, h0, c0, params, sizes)
        if unsorted_indices is not None:
            h_n = _batch_in(h_n, unsorted_indices)
            c_n = None if c_n is None else _batch_in(c_n, unsorted_indices)
        out = PackedSequence(y, packed.batch_sizes, sorted_indices, unsorted_indices)
        return (out, (h_n, c_n)) if self.mode == "LSTM" else (out, h_n)

    def _run(self, x: Tensor, h0: list, c0: list, params: list, batch_sizes: tuple | None = None) -> tuple:
        """The layers over the (T, N, features) input ``x`` (or packed data with its ``batch_sizes``), with
        ``params`` (``_params``): output (T, N, D * out) (packed: (rows, D * out)), h_n and c_n (or None)."""
        directions = 2 if self.bidirectional else 1
        last_h, last_c = [], []
        for k in range(self.num_layers):
            if k and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
            outs = []
            for d in range(directions):
                j = k * directions + d
                w_ih, w_hh, b_ih, b_hh, w_hr = params[j]
                xg = F.linear(x, w_ih, b_ih)  # every step's input projection in one matmul
                y, h, c = recurrence(self.mode, xg, h0[j], c0[j], w_hh, b_hh, w_hr, bool(d), batch_sizes)
                outs.append(y)
                last_h.append(h)
                last_c.append(c)
            x = outs[0] if directions == 1 else ops.concatenate(outs, -1)
        h_n = ops.stack(last_h, 0)
        c_n = ops.stack(last_c, 0) if self.mode == "LSTM" else None
        return x, h_n, c_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """PyTorch's ``nn.RNN``: a stack of Elman RNN layers, ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T +
    b_hh)`` with act tanh or relu.

    ``forward(input, hx=None)``: input (T, N, input_size) ((N, T, input_size) with ``batch_first``) or
    unbatched (T, input_size); hx (num_layers * num_directions, N, hidden_size) (zeros when None). Returns
    ``(output, h_n)``: output (T, N, num_directions * hidden_size), the last layer's h_t for every t (both
    directions concatenated), and h_n the final state of every layer and direction, shaped as hx. In
    training mode, ``dropout`` is applied to every layer's output but the last. A PackedSequence input
    gives a PackedSequence output (each sequence stops at its length; hx and h_n in the original batch order).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        mode = "RNN_TANH" if _nonlinearity(nonlinearity, "RNN") == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """PyTorch's ``nn.LSTM`` (gates i, f, g, o): ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``, then
    ``h_t = h_t W_hr^T`` when ``proj_size > 0``.

    ``forward(input, hx=None)``: hx is a pair (h_0, c_0) with h_0 (num_layers * num_directions, N, proj_size
    or hidden_size) and c_0 (num_layers * num_directions, N, hidden_size), zeros when None. Returns
    ``(output, (h_n, c_n))``; otherwise as ``RNN`` (PackedSequence too).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """PyTorch's ``nn.GRU`` (gates r, z, n): ``n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))``,
    ``h_t = (1 - z) * n + z * h_{t-1}``; arguments, shapes and results as ``RNN``'s (PackedSequence too).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

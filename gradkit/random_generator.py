"""``gk.Generator``: PyTorch's ``torch.Generator`` on the CPU, and the ``generator=`` keyword of the random draws.

A ``gk.Generator`` is a ``numpy.random.Generator`` (over NumPy's PCG64, as gradkit's own CPU generator) with
torch's methods: ``manual_seed`` (returns the generator), ``seed``, ``initial_seed``, ``get_state`` /
``set_state``, ``clone_state`` and ``device``. Being a NumPy Generator, it also goes wherever gradkit takes one
(``gk.data``'s ``generator=``) and has NumPy's draws (``g.random(3)``).

The draws given ``generator=`` (``gk.rand``, ``gk.randperm``, ``Tensor.exponential_``, ``gk.nn.init.normal_``
...) come from it and leave gradkit's generators alone; they are the draws that gradkit's CPU generator gives
in the same state, so ``gk.rand(3, generator=gk.Generator().manual_seed(s))`` equals ``gk.manual_seed(s)``
then ``gk.rand(3)``. A CUDA generator is not available (gradkit's CUDA draws come from CuPy's generator on each
GPU, seeded with ``gk.cuda.manual_seed``), and a CPU generator with a CUDA tensor is a ``DeviceError``, as in
PyTorch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gradkit.backends import NUMPY, _pcg64_state, _pcg64_words, normalize_device
from gradkit.backends.devices import device as _device
from gradkit.backends.numpy_backend import HostDraws
from gradkit.errors import ArgumentTypeError, DeviceError, InvalidArgumentError, ShapeError

__all__ = ["Generator"]

#: The seed of a new ``gk.Generator()`` (PyTorch's ``default_rng_seed_val``: ``torch.Generator()`` starts there too).
DEFAULT_SEED = 67280421310721

_STATE_WORDS = 7  # PCG64's six words (as gk.get_rng_state()["cpu"]) and the initial seed
_MASK64 = (1 << 64) - 1


class Generator(np.random.Generator):
    """A random generator of its own, PyTorch's ``torch.Generator(device="cpu")``: pass it as ``generator=`` to
    the random draws to draw from it rather than from gradkit's generator (``gk.manual_seed``'s).

    A new one is seeded with ``DEFAULT_SEED`` (67280421310721, PyTorch's default), so it is repeatable without
    ``manual_seed``. It is a ``numpy.random.Generator`` (PCG64) too. Only ``device="cpu"``: a CUDA generator is
    a ``DeviceError`` (gradkit's CUDA draws come from CuPy's generator; seed it with ``gk.cuda.manual_seed``).
    """

    def __init__(self, device: Any = "cpu") -> None:
        name = normalize_device("cpu" if device is None else device, "Generator")
        if name != "cpu":
            raise DeviceError(
                f"Generator: only device='cpu' generators exist in gradkit, got {device!r}; the random draws on "
                f"{name} come from CuPy's generator of that GPU: seed it with gk.cuda.manual_seed(n) (or "
                "gk.manual_seed(n) for every device), and pass generator=None to draws on the GPU"
            )
        super().__init__(np.random.PCG64(DEFAULT_SEED))
        self._initial_seed = DEFAULT_SEED

    # ------------------------------------------------------------------------------------- torch's methods
    @property
    def device(self) -> _device:
        """``gk.device("cpu")``."""
        return _device("cpu")

    def manual_seed(self, seed: Any) -> Generator:
        """Reseed with ``seed`` (an int from -2**63 to 2**64 - 1; a negative one counts as ``seed + 2**64``, as in
        PyTorch) and return the generator, so ``g = gk.Generator().manual_seed(42)`` works. The draws then are
        those gradkit's CPU generator gives after ``gk.manual_seed(seed)``."""
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise ArgumentTypeError(f"manual_seed: expected an int seed, got {type(seed).__name__} {seed!r:.40}")
        seed = int(seed)
        if not -(2**63) <= seed <= _MASK64:
            raise InvalidArgumentError(f"manual_seed: expected an int from -2**63 to 2**64 - 1, got {seed}")
        seed &= _MASK64
        self.bit_generator.state = np.random.PCG64(seed).state
        self._initial_seed = seed
        return self

    def seed(self) -> int:
        """Reseed with a fresh non-deterministic 64-bit seed (from the OS) and return it."""
        value = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        """The seed last given to ``manual_seed`` (or made by ``seed``, or put back by ``set_state``)."""
        return self._initial_seed

    def get_state(self) -> Any:
        """The state, as a CPU ``uint8`` tensor of 56 bytes: PCG64's six 64-bit words (as in
        ``gk.get_rng_state()["cpu"]``) and the initial seed, little-endian. ``set_state`` puts it back (on
        this or another ``gk.Generator``); it is not PyTorch's state (5056 bytes of a Mersenne Twister)."""
        from gradkit.tensor import Tensor

        words = np.append(_pcg64_words(self.bit_generator.state).view(np.uint64), np.uint64(self._initial_seed))
        return Tensor._make(words.astype("<u8").view(np.uint8), NUMPY)

    def set_state(self, new_state: Any) -> Generator:
        """Put back a state from ``get_state`` (a ``uint8`` tensor or NumPy array of 56 bytes), or a CPU state
        of ``gk.get_rng_state()`` (six int64 words; the initial seed is then kept); returns the generator."""
        words = _state_words(new_state)
        self.bit_generator.state = _pcg64_state(words[:6])
        if len(words) == _STATE_WORDS:
            self._initial_seed = int(words[6])
        return self

    def clone_state(self) -> Generator:
        """A new generator in the same state (with the same initial seed): it draws what this one would."""
        other = Generator()
        other.set_state(self.get_state())
        return other

    # --------------------------------------------------------------------------------- Python protocols
    def __reduce__(self) -> tuple:
        # NumPy's would rebuild a plain numpy.random.Generator (without the class or the initial seed)
        return _rebuild, (self.get_state().numpy().copy(),)

    def __repr__(self) -> str:
        return f"gk.Generator(device='cpu', initial_seed={self._initial_seed})"

    __str__ = __repr__  # NumPy's Generator has its own ("Generator(PCG64)")


def _rebuild(state: np.ndarray) -> Generator:
    return Generator().set_state(state)


def _state_words(state: Any) -> np.ndarray:
    """``set_state``'s argument as uint64 words (seven, or six for a ``gk.get_rng_state()`` CPU state), checked."""
    from gradkit.tensor import Tensor

    op = "Generator.set_state"
    if isinstance(state, Tensor):
        if state.device.type != "cpu":
            raise DeviceError(f"{op}: the state must be a CPU tensor (what get_state gives), got one on {state.device}")
        array = state.numpy()
    elif isinstance(state, np.ndarray):
        array = state
    else:
        raise ArgumentTypeError(
            f"{op}: expected the uint8 tensor that get_state() gives, got {type(state).__name__} {state!r:.40}"
        )
    if array.dtype == np.uint8 and array.shape == (_STATE_WORDS * 8,):
        words = np.ascontiguousarray(array).view("<u8").astype(np.uint64)
    elif array.dtype in (np.int64, np.uint64) and array.shape == (6,):
        words = np.ascontiguousarray(array).view(np.uint64)
    else:
        raise ShapeError(
            f"{op}: expected {_STATE_WORDS * 8} uint8 bytes (what get_state gives) or the 6 int64 words of "
            f"gk.get_rng_state()['cpu'], got {array.dtype} of shape {array.shape}"
        )
    w = [int(v) for v in words]  # Python ints: NumPy 1.x compares uint64 with int in float64
    if w[4] > 1 or w[5] >= 2**32 or w[3] % 2 == 0:
        raise InvalidArgumentError(
            f"{op}: not a PCG64 state (the increment must be odd, has_uint32 0 or 1 and uinteger below 2**32)"
        )
    return words


# ------------------------------------------------------------------------------------- generator= keyword
def host_rng(generator: Any, backend: Any, op: str) -> np.random.Generator:
    """The NumPy Generator that ``generator=`` names (a ``gk.Generator`` or any ``numpy.random.Generator``) for a
    draw on ``backend``: a TypeError for anything else, a DeviceError when ``backend`` is not the CPU's."""
    if not isinstance(generator, np.random.Generator):
        raise ArgumentTypeError(
            f"{op}: generator must be None or a gk.Generator (or a numpy.random.Generator), got "
            f"{type(generator).__name__} {generator!r:.60}"
        )
    if backend is not NUMPY:
        raise DeviceError(
            f"{op}: expected a 'cuda' generator for a draw on {backend.device}, got a CPU generator (as PyTorch, "
            "which refuses it too); gradkit's draws on a GPU come from CuPy's generator there (seeded with "
            "gk.cuda.manual_seed): pass generator=None, or draw on the CPU with the generator and move the "
            "result with .to(device)"
        )
    return generator


def draws(generator: Any, backend: Any, op: str) -> Any:
    """What a draw on ``backend`` calls ``uniform`` / ``normal`` / ``integers`` / ``permutation`` on: the backend
    itself (its generator, ``gk.manual_seed``'s) when ``generator`` is None, else ``generator``'s draws."""
    if generator is None:
        return backend
    return HostDraws(host_rng(generator, backend, op))
